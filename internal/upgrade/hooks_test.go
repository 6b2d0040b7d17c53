package upgrade_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock/fleetlocktest"
	"github.com/kexec-upgrade/kexec-upgrade/internal/hooks"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

// hook writes an executable hook script into a phase's directory.
func (r *rig) writeHook(dir, name, script string, mode os.FileMode) {
	r.t.Helper()
	path := filepath.Join(r.root, dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(script), mode); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		r.t.Fatal(err)
	}
}

func eventsOf(r *rig, kind string) []systemd.Event {
	var out []systemd.Event
	for _, e := range r.journal() {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// TestRunPreSwitchHook: a failing pre-switch hook postpones with check hook,
// naming the hook and its last line, gives the slot back, stages nothing;
// once it succeeds the switch goes on, and the hook saw the switch's
// variables.
func TestRunPreSwitchHook(t *testing.T) {
	r, srv, _ := fleetRig(t, fleetlocktest.Poseidon)
	flag := filepath.Join(r.root, "drained")
	r.writeHook(hooks.PreSwitchDir, "10-drain", `#!/bin/sh
echo "draining for $KEXEC_UPGRADE_FROM -> $KEXEC_UPGRADE_TO ($KEXEC_UPGRADE_ATTEMPT)"
if [ ! -e `+flag+` ]; then echo "lb: backend web-1 still has 12 sessions" >&2; exit 2; fi
`, 0o755)
	out, calls, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(out.ActErr, upgrade.ErrPostponed) || !strings.Contains(out.ActErr.Error(), "10-drain") || !strings.Contains(out.ActErr.Error(), "12 sessions") {
		t.Errorf("ActErr = %v; want postponed naming the hook and its last line", out.ActErr)
	}
	if hasCall(calls, "load /") || r.loaded {
		t.Errorf("calls %q: a kernel was staged after the pre-switch hook failed", calls)
	}
	st := r.state()
	if d := st.Decision; d == nil || d.Check != plan.CheckHook {
		t.Errorf("state decision = %+v; want postponed by %s", d, plan.CheckHook)
	}
	if fl := st.FleetLock; fl == nil || fl.Held || len(srv.Holders("web")) != 0 {
		t.Errorf("fleet slot = %+v, server holders %v; want given back", fl, srv.Holders("web"))
	}
	// status shows the hook's postponement, though the plan alone says switch.
	rep, err := upgrade.Assess(context.Background(), r.env(), false)
	if err != nil {
		t.Fatal(err)
	}
	if d := upgrade.ShownDecision(rep); d.Action != plan.Postpone || d.Check != plan.CheckHook || !strings.Contains(d.Reason, "12 sessions") {
		t.Errorf("shown decision = %s (%s) %q; want the hook's postponement", d.Action, d.Check, d.Reason)
	}
	ev := eventsOf(r, systemd.EventHook)
	if len(ev) != 1 || ev[0].Fields["HOOK_EXIT"] != "2" || !strings.Contains(ev[0].Fields["HOOK_OUTPUT"], "draining for "+oldRelease+" -> "+newRelease) {
		t.Errorf("hook events = %+v; want one with exit 2 and the hook's output", ev)
	}

	// The drain succeeds: the switch goes on.
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r.now = r.now.Add(5 * time.Minute)
	out, _, err = r.run(context.Background(), false)
	if err != nil || !out.Switching {
		t.Fatalf("Run after the drain = Switching %v, ActErr %v, %v; want a switch", out.Switching, out.ActErr, err)
	}
	if rep := r.state().Hooks; len(rep) != 1 || rep[0].Phase != upgrade.PhasePreSwitch || len(rep[0].Failed) != 0 || rep[0].Ran != 1 {
		t.Errorf("hook reports = %+v; want the pre-switch hooks passed", rep)
	}
}

// TestRunPreSwitchHookTimeout: a hook that hangs is killed at [hooks]
// timeout and postpones.
func TestRunPreSwitchHookTimeout(t *testing.T) {
	r := newRig(t)
	r.write("etc/kexec-upgrade/config.d/hooks.toml", "[hooks]\ntimeout = \"1s\"\n")
	r.writeHook(hooks.PreSwitchDir, "10-hang", "#!/bin/sh\necho waiting for the load balancer\nsleep 600\n", 0o755)
	out, calls, _ := r.run(context.Background(), false)
	if !errors.Is(out.ActErr, upgrade.ErrPostponed) || !strings.Contains(out.ActErr.Error(), "did not finish within 1s") || hasCall(calls, "load /") {
		t.Errorf("Run() ActErr = %v, calls %q; want postponed by the timeout, nothing loaded", out.ActErr, calls)
	}
}

// TestRunUnsafeHookRefuses: a hook others may change, or one that is not
// executable, stops every switch, even run --now, with the file named.
func TestRunUnsafeHookRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode os.FileMode
		want string
	}{
		{"world_writable", 0o777, "writable by group or others"},
		{"not_executable", 0o644, "not executable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.writeHook(hooks.PostSwitchDir, "50-notify", "#!/bin/sh\ntrue\n", tc.mode)
			out, calls, err := r.run(context.Background(), true)
			if err != nil {
				t.Fatal(err)
			}
			d := out.Report.Decision
			if d.Action != plan.Refuse || d.Check != plan.CheckHook || !strings.Contains(d.Reason, "50-notify") || !strings.Contains(d.Reason, tc.want) || hasCall(calls, "load /") {
				t.Errorf("decision = %s %s %q, calls %q; want refused by hook naming 50-notify and %q", d.Action, d.Check, d.Reason, calls, tc.want)
			}
		})
	}
}

// TestRunPostSwitchHook: post-switch hooks run after the new kernel is
// verified; a failing one is reported, the switch stays verified.
func TestRunPostSwitchHook(t *testing.T) {
	r, _ := switched(t)
	r.writeHook(hooks.PostSwitchDir, "10-ok", "#!/bin/sh\necho \"now on $KEXEC_UPGRADE_TO\"\n", 0o755)
	r.writeHook(hooks.PostSwitchDir, "20-webhook", "#!/bin/sh\necho 'curl: (7) Failed to connect' >&2\nexit 7\n", 0o755)
	r.boot(newRelease, newBuild, newBootID, 0xD0)
	r.now = fixedNow.Add(3 * time.Minute)
	out, _, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if v := out.Verified; v == nil || v.Outcome != state.OutcomeVerified {
		t.Fatalf("Verified = %+v; want verified despite the failing hook", v)
	}
	ev := eventsOf(r, systemd.EventHook)
	if len(ev) != 2 || ev[0].Fields["HOOK_OUTPUT"] != "now on "+newRelease || ev[1].Fields["HOOK_EXIT"] != "7" {
		t.Errorf("hook events = %+v; want 10-ok's output and 20-webhook's exit 7", ev)
	}
	rep := r.state().Hooks
	if len(rep) != 1 || rep[0].Phase != upgrade.PhasePostSwitch || rep[0].Ran != 2 || len(rep[0].Failed) != 1 || !strings.Contains(rep[0].Failed[0], "Failed to connect") {
		t.Errorf("hook reports = %+v; want post-switch: 2 ran, 20-webhook failed with its last line", rep)
	}
}

// TestPause: a pause postpones with check paused until it ends by itself,
// which is logged; run --now still switches; resume ends it at once.
func TestPause(t *testing.T) {
	r := newRig(t)
	p, err := upgrade.SetPause(r.env(), fixedNow.Add(time.Hour), "quarter-end \x1b[31mfreeze\x1b[0m")
	if err != nil || strings.ContainsRune(p.Reason, 0x1b) || !strings.Contains(p.Reason, "freeze") {
		t.Fatalf("SetPause = %+v, %v; want it set, the reason harmless", p, err)
	}
	if ev := eventsOf(r, systemd.EventPause); len(ev) != 1 || ev[0].Fields["PAUSE"] != "set" {
		t.Errorf("pause events = %+v; want one 'set'", ev)
	}
	out, _, err := r.run(context.Background(), false)
	if err != nil || out.Switching || out.Report.Decision.Check != plan.CheckPaused || !out.Report.Decision.RetryAt.Equal(fixedNow.Add(time.Hour)) {
		t.Fatalf("Run while paused = Switching %v, %s, retry %v, %v; want postponed by paused until the end", out.Switching, out.Report.Decision.Check, out.Report.Decision.RetryAt, err)
	}
	// The pause runs out: the next run logs it and switches.
	r.now = fixedNow.Add(61 * time.Minute)
	out, _, err = r.run(context.Background(), false)
	if err != nil || !out.Switching {
		t.Fatalf("Run after the pause = Switching %v (%s %q), %v; want a switch", out.Switching, out.Report.Decision.Check, out.Report.Decision.Reason, err)
	}
	if ev := eventsOf(r, systemd.EventPause); len(ev) != 1 || ev[0].Fields["PAUSE"] != "expired" {
		t.Errorf("pause events = %+v; want one 'expired'", ev)
	}
	if r.state().Pause != nil {
		t.Errorf("state still has the expired pause")
	}
}

func TestPauseResumeAndForce(t *testing.T) {
	r := newRig(t)
	if _, err := upgrade.SetPause(r.env(), time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := upgrade.SetPause(r.env(), fixedNow.Add(-time.Minute), ""); err == nil {
		t.Errorf("SetPause(in the past) = nil error; want one")
	}
	out, _, _ := r.run(context.Background(), false)
	if d := out.Report.Decision; d.Check != plan.CheckPaused || !strings.Contains(d.Reason, "kexec-upgrade resume") {
		t.Errorf("decision while paused without end = %s %q", d.Check, d.Reason)
	}
	out, _, err := r.run(context.Background(), true)
	if err != nil || !out.Switching {
		t.Errorf("Run(--now) while paused = Switching %v, %v; want a switch", out.Switching, err)
	}
	r2 := newRig(t)
	if _, err := upgrade.SetPause(r2.env(), time.Time{}, "x"); err != nil {
		t.Fatal(err)
	}
	if was, err := upgrade.Resume(r2.env()); !was || err != nil {
		t.Errorf("Resume = %v, %v; want true", was, err)
	}
	if was, _ := upgrade.Resume(r2.env()); was {
		t.Errorf("second Resume = true; want false")
	}
	out, _, _ = r2.run(context.Background(), false)
	if !out.Switching {
		t.Errorf("Run after resume = %s %q; want a switch", out.Report.Decision.Check, out.Report.Decision.Reason)
	}
}

// TestRunNotice: with notice = "5m" logged-in users are told first; the
// switch starts at the first run after the notice ran out.
func TestRunNotice(t *testing.T) {
	r := newRig(t)
	r.write("etc/kexec-upgrade/config.d/notice.toml", "notice = \"5m\"\n")
	out, calls, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if d := out.Report.Decision; d.Check != plan.CheckNotice || !d.RetryAt.Equal(fixedNow.Add(5*time.Minute)) || !hasCall(calls, "bus wall") || hasCall(calls, "load /") {
		t.Fatalf("first Run = %s %q retry %v, calls %q; want a notice sent and the switch postponed 5m", d.Check, d.Reason, d.RetryAt, calls)
	}
	if len(r.walls) != 1 || !strings.Contains(r.walls[0], newRelease) || !strings.Contains(r.walls[0], "02:35") {
		t.Errorf("notice = %q; want one naming %s and 02:35", r.walls, newRelease)
	}
	r.now = fixedNow.Add(2 * time.Minute)
	out, calls, _ = r.run(context.Background(), false)
	if out.Switching || hasCall(calls, "bus wall") || out.Report.Decision.Check != plan.CheckNotice {
		t.Errorf("Run during the notice = Switching %v, %s, calls %q; want waiting, no second notice", out.Switching, out.Report.Decision.Check, calls)
	}
	r.now = fixedNow.Add(5 * time.Minute)
	out, _, _ = r.run(context.Background(), false)
	if !out.Switching {
		t.Errorf("Run after the notice = %s %q; want the switch", out.Report.Decision.Check, out.Report.Decision.Reason)
	}
}
