package upgrade_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

// trialFakes is what the fake bus answers as a TrialBus, per rig.
type trialFake struct {
	watchdog time.Duration
	units    map[string]string
}

var (
	trialMu    sync.Mutex
	trialFakes = map[*rig]*trialFake{}
)

func trialOf(r *rig) *trialFake {
	trialMu.Lock()
	defer trialMu.Unlock()
	f := trialFakes[r]
	if f == nil {
		f = &trialFake{units: map[string]string{}}
		trialFakes[r] = f
	}
	return f
}

func (b fakeBus) KExecWatchdog(ctx context.Context) (time.Duration, error) {
	b.r.record("bus kexec-watchdog?")
	return trialOf(b.r).watchdog, nil
}

func (b fakeBus) RuntimeWatchdog(ctx context.Context) (time.Duration, error) {
	b.r.record("bus runtime-watchdog?")
	return 0, nil
}

func (b fakeBus) SetKExecWatchdog(ctx context.Context, d time.Duration) error {
	b.r.record("bus kexec-watchdog " + d.String())
	trialOf(b.r).watchdog = d
	return nil
}

func (b fakeBus) SetRuntimeWatchdog(ctx context.Context, d time.Duration) error {
	b.r.record("bus runtime-watchdog " + d.String())
	return nil
}

func (b fakeBus) UnitStates(ctx context.Context, units []string) (map[string]string, error) {
	b.r.record("bus unit-states")
	out := map[string]string{}
	for _, u := range units {
		if s, ok := trialOf(b.r).units[u]; ok {
			out[u] = s
		} else {
			out[u] = "inactive"
		}
	}
	return out, nil
}

const trialEntry = "gnulinux-advanced-a8c17a3d-83b5-4a90-8f42-1bac5514c1cf>gnulinux-" + oldRelease + "-advanced-a8c17a3d-83b5-4a90-8f42-1bac5514c1cf"

// trialRig is a rig on a GRUB machine (the trixie guest's grub.cfg for
// the running release) with a hardware watchdog and a health gate that
// needs app.service.
func trialRig(t *testing.T) *rig {
	r := newRig(t)
	cfg, err := os.ReadFile("../host/testdata/grubcfg/trixie-one-kernel.cfg")
	if err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile("../host/testdata/grubenv/trixie-fresh.grubenv")
	if err != nil {
		t.Fatal(err)
	}
	r.write("boot/grub/grub.cfg", strings.ReplaceAll(string(cfg), "6.12.117+deb13-cloud-amd64", oldRelease))
	r.writeBytes("boot/grub/grubenv", env)
	r.write("sys/class/watchdog/watchdog0/identity", "i6300ESB timer\n")
	r.write("etc/kexec-upgrade/config.toml", windowConfig+"\n[health]\nunits = [\"app.service\"]\ndeadline = \"5m\"\n")
	t.Cleanup(func() { trialMu.Lock(); delete(trialFakes, r); trialMu.Unlock() })
	return r
}

func nextEntry(t *testing.T, r *rig) string {
	t.Helper()
	env, err := host.ParseGrubEnv(r.read("boot/grub/grubenv"))
	if err != nil {
		t.Fatal(err)
	}
	return env[host.GrubNextEntry]
}

// trialSwitch switches the trial rig and checks the trial's setup.
func trialSwitch(t *testing.T) *rig {
	r := trialRig(t)
	out, calls, err := r.run(context.Background(), false)
	if err != nil || !out.Switching {
		t.Fatalf("Run() = %+v, %v; want a switch", out, err)
	}
	if !hasCall(calls, "bus kexec-watchdog 2m0s") {
		t.Errorf("KExecWatchdogSec not set to 2m: %q", calls)
	}
	if !strings.Contains(r.loadedCmdline, " panic=10 systemd.watchdog_sec=120 kexec_upgrade.attempt=") {
		t.Errorf("loaded command line %q; want panic=10 and systemd.watchdog_sec=120 before the marker", r.loadedCmdline)
	}
	if got := nextEntry(t, r); got != trialEntry {
		t.Errorf("grubenv next_entry = %q; want %q", got, trialEntry)
	}
	st := r.state()
	if st.Staged == nil || st.Staged.Trial == nil || st.Staged.Trial.Phase != state.TrialArmed || st.Staged.Trial.OldCmdline != newCmdline {
		t.Fatalf("state Staged = %+v; want an armed trial with the old command line", st.Staged)
	}
	r.boot(newRelease, newBuild, newBootID, host.LoaderKexec)
	r.now = fixedNow.Add(time.Minute)
	r.userspace = fixedNow.Add(30 * time.Second)
	return r
}

func TestTrialHealthy(t *testing.T) {
	r := trialSwitch(t)
	trialOf(r).units["app.service"] = "activating"
	out, calls, err := r.run(context.Background(), false)
	if err != nil || out.Verified == nil || out.Verified.Outcome != state.OutcomeTrial || out.Switching {
		t.Fatalf("Run() in the trial = %+v, %v; want the gate waiting", out.Verified, err)
	}
	if !hasCall(calls, "bus arm 2026-03-28T02:32:00Z") {
		t.Errorf("no run armed a minute later: %q", calls)
	}
	if st := r.state(); !st.InTrial() || !strings.Contains(st.Staged.Trial.Waiting, "app.service is activating") {
		t.Fatalf("state = %+v; want the trial waiting on app.service", st.Staged)
	} else if m := upgrade.MetricsSnapshot(upgrade.Report{}, st); !m.TrialInProgress {
		t.Error("metrics: trial_in_progress is 0 during the trial")
	}
	if nextEntry(t, r) != trialEntry {
		t.Error("next_entry cleared before the gate passed")
	}

	trialOf(r).units["app.service"] = "active"
	r.now = fixedNow.Add(2 * time.Minute)
	out, calls, err = r.run(context.Background(), false)
	if err != nil || out.Verified == nil || out.Verified.Outcome != state.OutcomeVerified {
		t.Fatalf("Run() after the unit started = %+v, %v; want verified", out.Verified, err)
	}
	if !hasCall(calls, "bus runtime-watchdog 0s") || !hasCall(calls, "bus kexec-watchdog 0s") {
		t.Errorf("the watchdog was not disarmed at the trial's end: %q", calls)
	}
	if got := nextEntry(t, r); got != "" {
		t.Errorf("next_entry = %q after the gate passed; want it cleared", got)
	}
	st := r.state()
	a, _ := st.LastAttempt()
	if st.Staged != nil || a.Outcome != state.OutcomeVerified || a.Trial == nil || a.Trial.HealthyAt.IsZero() || a.DurationSeconds == nil {
		t.Errorf("state = staged %+v, last %+v; want verified with the trial's timeline and the outage", st.Staged, a)
	}
	// Userspace up 30 s after fixedNow, the gate passed at 2 min: a trial's
	// userspace phase ends at its gate.
	if a.Phases == nil || a.Phases.UserspaceSeconds == nil || *a.Phases.UserspaceSeconds != 90 {
		t.Errorf("phases %s; want userspace 90s (userspace up → the gate passed)", upgrade.DescribePhases(a.Phases))
	}
}

func TestTrialRollback(t *testing.T) {
	r := trialSwitch(t)
	trialOf(r).units["app.service"] = "failed"
	out, calls, err := r.run(context.Background(), false)
	if err != nil || out.Verified == nil || out.Verified.Outcome != state.OutcomeTrial {
		t.Fatalf("Run() with app.service failed = %+v, %v; want a rollback under way", out.Verified, err)
	}
	wantLoad := "load /boot/vmlinuz-" + oldRelease + " /boot/initrd.img-" + oldRelease + " " + newCmdline + " systemd.watchdog_sec=120 kexec_upgrade.attempt=NOW-" + oldRelease
	if !hasCall(calls, wantLoad) || !hasCall(calls, "bus start "+systemd.KexecTarget) {
		t.Fatalf("rollback calls = %q; want %q and the start of kexec.target", calls, wantLoad)
	}
	st := r.state()
	if st.Staged == nil || st.Staged.Trial.Phase != state.TrialRollingBack || st.Staged.Trial.Rollback == nil {
		t.Fatalf("state Staged = %+v; want rolling back", st.Staged)
	}

	r.boot(oldRelease, oldBuild, "c0ffee00-0000-4000-8000-000000000003", host.LoaderKexec)
	r.now = fixedNow.Add(3 * time.Minute)
	r.userspace = fixedNow.Add(time.Minute + 12*time.Second) // the rollback was queued at +1m
	out, _, err = r.run(context.Background(), false)
	if err != nil || out.Verified == nil || out.Verified.Outcome != state.OutcomeRolledBack {
		t.Fatalf("Run() on the old kernel = %+v, %v; want rolled-back", out.Verified, err)
	}
	st = r.state()
	if _, quarantined := st.FailedBefore(state.Kernel{Release: newRelease, Build: newBuild}); !quarantined || st.Staged != nil {
		t.Errorf("state Failed = %+v, Staged = %+v; want the new build quarantined", st.Failed, st.Staged)
	}
	if got := nextEntry(t, r); got != "" {
		t.Errorf("next_entry = %q after the rollback; want it cleared", got)
	}
	if a, _ := st.LastAttempt(); !strings.HasSuffix(a.Reason, "; outages: the switch 30s, the rollback 12s") || len(upgrade.TrialTimeline(a.Trial)) != 5 {
		t.Errorf("rolled-back attempt: %q, timeline %q; want both outages and five moments", a.Reason, upgrade.TrialTimeline(a.Trial))
	}
	if m := upgrade.MetricsSnapshot(upgrade.Report{}, st); m.TrialInProgress || m.RollbacksTotal != 1 || m.QuarantinedBuilds != 1 {
		t.Errorf("metrics after the rollback: %+v; want 1 rollback, 1 quarantined build, no trial", m)
	}
	if !upgrade.HoldsAfterFailure(st) {
		t.Error("a rolled-back trial would give the fleet slot back")
	}
	var rolled bool
	for _, e := range r.journal() {
		rolled = rolled || e.Kind == systemd.EventRolledBack && strings.Contains(e.Message, "the required unit app.service failed")
	}
	if !rolled {
		t.Errorf("journal = %+v; want a rolled-back event naming the unit", r.journal())
	}
}

func TestTrialFirmwareFallback(t *testing.T) {
	r := trialSwitch(t)
	// The new kernel hung; the watchdog reset the machine and GRUB booted
	// the old kernel once (and cleared next_entry itself).
	r.boot(oldRelease, oldBuild, "c0ffee00-0000-4000-8000-000000000004", loaderGrub)
	out, _, err := r.run(context.Background(), false)
	if err != nil || out.Verified == nil || out.Verified.Outcome != state.OutcomeFailed || out.Verified.Kind != state.FailTrialFirmware {
		t.Fatalf("Run() back on the old kernel = %+v, %v; want failed %s", out.Verified, err, state.FailTrialFirmware)
	}
	st := r.state()
	if _, quarantined := st.FailedBefore(state.Kernel{Release: newRelease, Build: newBuild}); !quarantined {
		t.Errorf("state Failed = %+v; want the new build quarantined", st.Failed)
	}
	if got := nextEntry(t, r); got != "" {
		t.Errorf("next_entry = %q; want it cleared", got)
	}
	if out, _, _ := r.run(context.Background(), false); out.Switching {
		t.Error("the quarantined build was tried again")
	}
	if _, err := os.Stat(filepath.Join(r.root, "sys/kernel/kexec_loaded")); err != nil || r.loaded {
		t.Error("a kernel stays staged")
	}
}

func TestTrialWatchdogRequired(t *testing.T) {
	r := trialRig(t)
	if err := os.RemoveAll(filepath.Join(r.root, "sys/class/watchdog")); err != nil {
		t.Fatal(err)
	}
	r.write("etc/kexec-upgrade/config.toml", windowConfig+"\n[watchdog]\nrequire = true\n")
	out, calls, err := r.run(context.Background(), false)
	if out.Switching || err != nil || !errors.Is(out.ActErr, upgrade.ErrPostponed) || !strings.Contains(out.ActErr.Error(), "no hardware watchdog") {
		t.Fatalf("Run() = %+v, %v; want the switch postponed for want of a watchdog", out, err)
	}
	if hasCall(calls, "load ") || r.state().Decision.Check != upgrade.CheckWatchdog {
		t.Errorf("calls %q, decision %+v; want no load and check %s", calls, r.state().Decision, upgrade.CheckWatchdog)
	}
	if got := nextEntry(t, r); got != "" {
		t.Errorf("next_entry = %q; want untouched", got)
	}
}
