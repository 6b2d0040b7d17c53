package upgrade_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel/kerneltest"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kexec"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

// stagedCalls are the calls of a run that stages 6.1.0-51 and checks the
// moment again: all of a switch up to the switch itself.
var stagedCalls = concat(
	probeCalls,
	preflightCalls, []string{load51, "loaded?", "state staged", "journal staged"},
	recheckCalls,
)

// switchCalls is the whole sequence of a switch from 6.1.0-50 to 6.1.0-51.
var switchCalls = concat(stagedCalls, []string{"state queued", "journal switching", "bus start kexec.target", "bus close"})

func TestRunSwitch(t *testing.T) {
	r := newRig(t)
	out, calls, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	checkCalls(t, "Run()", calls, switchCalls)
	if !out.Switching || out.ActErr != nil {
		t.Errorf("Run() = Switching %v, ActErr %v; want a switch", out.Switching, out.ActErr)
	}
	if d := out.Report.Decision; d.Action != plan.Switch || d.Cmdline != newCmdline || d.Forced {
		t.Errorf("Run() decision = %s %q (forced %v); want switch %q", d.Action, d.Cmdline, d.Forced, newCmdline)
	}
	if r.startCtxErr != nil {
		t.Errorf("StartKexec saw ctx.Err() = %v; want nil", r.startCtxErr)
	}

	st := r.state()
	s := st.Staged
	if s == nil {
		t.Fatalf("state after Run(): Staged = nil; want the staged kernel")
	}
	want := state.Staged{
		ID: s.ID, From: state.Kernel{Release: oldRelease, Build: oldBuild}, To: state.Kernel{Release: newRelease, Build: newBuild},
		Image: newImage, Initrd: newInitrd, Cmdline: markedCmdline, OldBootID: oldBootID, StagedAt: fixedNow, QueuedAt: fixedNow,
		Phase: state.PhaseQueued,
	}
	if !s.StagedAt.Equal(want.StagedAt) || !s.QueuedAt.Equal(want.QueuedAt) {
		t.Errorf("state Staged times = staged %v, queued %v; want both %v", s.StagedAt, s.QueuedAt, fixedNow)
	}
	s.StagedAt, s.QueuedAt, want.StagedAt, want.QueuedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if *s != want {
		t.Errorf("state Staged = %+v; want %+v", *s, want)
	}
	if !strings.HasSuffix(s.ID, "-"+newRelease) {
		t.Errorf("attempt ID = %q; want it to end in -%s", s.ID, newRelease)
	}
	if len(st.Failed) != 0 || len(st.Attempts) != 0 {
		t.Errorf("state after a switch: Failed %v, Attempts %v; want none (the outcome is known after the boot)", st.Failed, st.Attempts)
	}
	if st.Decision == nil || st.Decision.Action != string(plan.Switch) {
		t.Errorf("state Decision = %+v; want switch", st.Decision)
	}

	events := r.journal()
	if len(events) != 2 {
		t.Fatalf("journal = %d events; want staged and switching", len(events))
	}
	for _, e := range events {
		if e.Fields["ATTEMPT"] != s.ID || e.Fields["FROM"] != oldRelease || e.Fields["TO"] != newRelease || e.Fields["TO_BUILD"] != newBuild {
			t.Errorf("journal %s fields = %v; want ATTEMPT %s, FROM %s, TO %s (%s)", e.Kind, e.Fields, s.ID, oldRelease, newRelease, newBuild)
		}
		if _, forced := e.Fields["FORCED"]; forced {
			t.Errorf("journal %s has FORCED on a scheduled switch", e.Kind)
		}
	}
	if q := events[1].Fields["QUEUED_AT"]; q != fixedNow.Format(time.RFC3339Nano) {
		t.Errorf("journal switching QUEUED_AT = %q; want %q", q, fixedNow.Format(time.RFC3339Nano))
	}
	if got := strings.TrimSpace(string(r.read("sys/kernel/kexec_loaded"))); got != "1" {
		t.Errorf("/sys/kernel/kexec_loaded after the switch = %q; want 1 (left staged for systemd)", got)
	}
}

func TestRunInhibitorDelayDoesNotBlock(t *testing.T) {
	r := newRig(t)
	r.inhibitors = []systemd.Inhibitor{
		{What: "shutdown:sleep", Who: "ModemManager", Why: "ModemManager needs to reset devices", Mode: "delay", UID: 0, PID: 612},
		{What: "sleep", Who: "backup", Why: "backup running", Mode: "block", UID: 0, PID: 613},
	}
	out, calls, err := r.run(context.Background(), false)
	if err != nil || !out.Switching {
		t.Fatalf("Run() = Switching %v, %v; want a switch (a delay lock and a sleep lock do not block shutdown)", out.Switching, err)
	}
	checkCalls(t, "Run()", calls, switchCalls)
}

// decisionCase switches one thing off in the fixture and names the
// decision and journal line that must follow.
type decisionCase struct {
	name   string
	setup  func(r *rig)
	action plan.Action
	check  string
	// kind is the journal event; reason a text the reason must contain.
	kind, reason string
	wantErr      error
	// noProbe is true when Assess must not ask D-Bus and dpkg (nothing to do).
	noProbe bool
	// probe replaces probeCalls when the probe stops early.
	probe []string
}

func decisionCases() []decisionCase {
	return []decisionCase{
		// Refusals: lasting problems with the target.
		{name: "package_unpacked", setup: func(r *rig) { r.setPackage51("install ok unpacked") },
			action: plan.Refuse, check: plan.CheckPackage, kind: systemd.EventRefused, reason: "not fully installed"},
		{name: "package_pending_in_updates", setup: func(r *rig) {
			r.write("var/lib/dpkg/updates/0001", "Package: linux-image-6.1.0-51-cloud-amd64\nStatus: install ok half-configured\nArchitecture: amd64\nVersion: 6.1.177-1\n")
		}, action: plan.Refuse, check: plan.CheckPackage, kind: systemd.EventRefused, reason: "pending dpkg changes"},
		{name: "image_bad_crc", setup: func(r *rig) {
			r.writeImage(newRelease, kerneltest.Options{Release: newRelease, Build: newBuild, Signed: true, CorruptCRC: true})
		}, action: plan.Refuse, check: plan.CheckImage, kind: systemd.EventRefused, reason: newImage},
		{name: "image_truncated", setup: func(r *rig) {
			r.writeImage(newRelease, kerneltest.Options{Release: newRelease, Build: newBuild, Truncate: 3000})
		}, action: plan.Refuse, check: plan.CheckImage, kind: systemd.EventRefused, reason: newImage},
		{name: "image_of_another_release", setup: func(r *rig) {
			r.writeImage(newRelease, kerneltest.Options{Release: "6.1.0-52-cloud-amd64", Build: newBuild, Signed: true})
		}, action: plan.Refuse, check: plan.CheckImage, kind: systemd.EventRefused, reason: "says it is 6.1.0-52-cloud-amd64"},
		{name: "initrd_missing", setup: func(r *rig) { r.remove("boot/initrd.img-" + newRelease) },
			action: plan.Refuse, check: plan.CheckInitrd, kind: systemd.EventRefused, reason: "update-initramfs -c -k " + newRelease},
		{name: "initrd_being_written", setup: func(r *rig) { r.write("boot/initrd.img-"+newRelease+".new", "half") },
			action: plan.Refuse, check: plan.CheckInitrd, kind: systemd.EventRefused, reason: newInitrd + ".new"},
		{name: "failed_before", setup: func(r *rig) {
			r.saveState(state.State{Version: state.FormatVersion, Failed: []state.Failure{{
				Kernel: state.Kernel{Release: newRelease, Build: newBuild}, Kind: state.FailOldKernel,
				Reason: "the old kernel came back", At: fixedNow.Add(-24 * time.Hour)}}})
		}, action: plan.Refuse, check: plan.CheckFailedBefore, kind: systemd.EventRefused, reason: "booted-old-kernel"},
		{name: "kexec_load_disabled", setup: func(r *rig) { r.write("proc/sys/kernel/kexec_load_disabled", "1\n") },
			action: plan.Refuse, check: plan.CheckKexecAllowed, kind: systemd.EventRefused, reason: "kexec_load_disabled"},
		{name: "no_cap_sys_boot", setup: func(r *rig) {
			r.write("proc/self/status", "Name:\tkexec-upgrade\nCapEff:\t0000000000000000\n")
		}, action: plan.Refuse, check: plan.CheckKexecAllowed, kind: systemd.EventRefused, reason: "CAP_SYS_BOOT"},
		{name: "lockdown_unsigned_image", setup: func(r *rig) {
			r.write("sys/kernel/security/lockdown", "none [integrity] confidentiality\n")
			r.writeImage(newRelease, kerneltest.Options{Release: newRelease, Build: newBuild})
		}, action: plan.Refuse, check: plan.CheckKexecAllowed, kind: systemd.EventRefused, reason: "not signed"},
		{name: "cmdline_too_long", setup: func(r *rig) {
			r.write("etc/kexec-upgrade/config.toml", windowConfig+"\n[kernel]\ncmdline_append = \"dyndbg="+strings.Repeat("x", 2100)+"\"\n")
		}, action: plan.Refuse, check: plan.CheckCmdline, kind: systemd.EventRefused, reason: "limit"},
		{name: "config_invalid", setup: func(r *rig) {
			r.write("etc/kexec-upgrade/config.toml", "[[window]]\nstart = \"02:00\"\nend = \"25:00\"\n")
		}, action: plan.Refuse, check: plan.CheckConfig, kind: systemd.EventConfigError, reason: `/etc/kexec-upgrade/config.toml:3: window.end: "25:00"`,
			wantErr: upgrade.ErrConfig, noProbe: true},
		{name: "config_writable_by_others", setup: func(r *rig) {
			if err := os.Chmod(filepath.Join(r.root, "etc/kexec-upgrade/config.toml"), 0o666); err != nil {
				r.t.Fatal(err)
			}
		}, action: plan.Refuse, check: plan.CheckConfig, kind: systemd.EventConfigError, reason: "writable by group or others",
			wantErr: upgrade.ErrConfig, noProbe: true},

		// Postponements: the moment is wrong.
		{name: "window_closed", setup: func(r *rig) { r.now = time.Date(2026, 3, 28, 5, 0, 0, 0, time.UTC) },
			action: plan.Postpone, check: plan.CheckWindow, kind: systemd.EventPostponed, reason: "next opens Sat 2026-04-04 02:00"},
		{name: "disabled", setup: func(r *rig) { r.write("etc/kexec-upgrade/config.toml", "enabled = false\n"+windowConfig) },
			action: plan.Postpone, check: plan.CheckEnabled, kind: systemd.EventPostponed, reason: "enabled = false"},
		{name: "no_window", setup: func(r *rig) { r.write("etc/kexec-upgrade/config.toml", "min_uptime = \"1m\"\n") },
			action: plan.Postpone, check: plan.CheckWindow, kind: systemd.EventPostponed, reason: "no maintenance window"},
		{name: "no_config_file", setup: func(r *rig) { r.remove("etc/kexec-upgrade/config.toml") },
			action: plan.Postpone, check: plan.CheckWindow, kind: systemd.EventPostponed, reason: "no maintenance window"},
		{name: "system_stopping", setup: func(r *rig) { r.systemState = "stopping" },
			action: plan.Postpone, check: plan.CheckSystemState, kind: systemd.EventPostponed, reason: "the system is stopping"},
		{name: "system_state_unknown", setup: func(r *rig) { r.systemStateErr = errBoom },
			action: plan.Postpone, check: plan.CheckSystemState, kind: systemd.EventPostponed, reason: "boom"},
		{name: "bus_unreachable", setup: func(r *rig) { r.connectErr = errors.New("connect to the system D-Bus: no such file or directory") },
			action: plan.Postpone, check: plan.CheckSystemState, kind: systemd.EventPostponed, reason: "connect to the system D-Bus",
			probe: []string{"dpkg-lock", "bus connect"}},
		{name: "dpkg_busy", setup: func(r *rig) { r.lockHolder = "/var/lib/dpkg/lock-frontend is held by apt-get (pid 4242)" },
			action: plan.Postpone, check: plan.CheckDpkgLock, kind: systemd.EventPostponed, reason: "apt-get (pid 4242)"},
		{name: "dpkg_probe_fails", setup: func(r *rig) { r.lockErr = errBoom },
			action: plan.Postpone, check: plan.CheckDpkgLock, kind: systemd.EventPostponed, reason: "boom"},
		{name: "inhibitor_block", setup: func(r *rig) {
			r.inhibitors = []systemd.Inhibitor{{What: "shutdown", Who: "db", Why: "backup running", Mode: "block", UID: 0, PID: 777}}
		}, action: plan.Postpone, check: plan.CheckInhibitor, kind: systemd.EventPostponed, reason: `"db" (backup running, pid 777`},
		{name: "inhibitors_unreadable", setup: func(r *rig) { r.inhibitorsErr = errBoom },
			action: plan.Postpone, check: plan.CheckInhibitor, kind: systemd.EventPostponed, reason: "boom"},
		{name: "min_uptime", setup: func(r *rig) { r.write("proc/uptime", "120.00 200.00\n") },
			action: plan.Postpone, check: plan.CheckUptime, kind: systemd.EventPostponed, reason: "less than min_uptime 10m0s"},
	}
}

func TestRunRefusesAndPostpones(t *testing.T) {
	for _, tc := range decisionCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			tc.setup(r)
			ctx := context.Background()

			out, calls, err := r.run(ctx, false)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Run() error = %v; want %v", err, tc.wantErr)
			}
			d := out.Report.Decision
			if d.Action != tc.action || d.Check != tc.check || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("Run() decision = %s %s %q; want %s %s containing %q", d.Action, d.Check, d.Reason, tc.action, tc.check, tc.reason)
			}
			probe := probeCalls
			switch {
			case tc.noProbe:
				probe = nil
			case tc.probe != nil:
				probe = tc.probe
			}
			want := append([]string(nil), probe...)
			want = append(want, "journal "+tc.kind+" check="+tc.check)
			armed, _ := plan.NextRun(d, out.Report.Inputs)
			if !armed.IsZero() {
				want = append(want, "bus connect", "bus arm "+armed.UTC().Format(time.RFC3339), "bus close")
			}
			want = append(want, "state "+string(tc.action)+" "+tc.check)
			checkCalls(t, "first Run()", calls, want)
			events := r.journal()
			if len(events) != 1 {
				t.Fatalf("first Run() journal = %d events; want 1", len(events))
			}
			e := events[0]
			if e.Fields["CHECK"] != tc.check || !strings.Contains(e.Fields["REASON"], tc.reason) || e.Fields["FROM"] != oldRelease {
				t.Errorf("journal %s fields = %v; want CHECK %s, REASON containing %q, FROM %s", e.Kind, e.Fields, tc.check, tc.reason, oldRelease)
			}
			if tc.kind != systemd.EventConfigError && e.Fields["TO"] != newRelease {
				t.Errorf("journal %s TO = %q; want %s", e.Kind, e.Fields["TO"], newRelease)
			}
			if tc.check == plan.CheckWindow && tc.reason != "no maintenance window" && e.Fields["RETRY_AT"] != "2026-04-04T02:00:00Z" {
				t.Errorf("journal %s RETRY_AT = %q; want 2026-04-04T02:00:00Z", e.Kind, e.Fields["RETRY_AT"])
			}
			if out.Switching || r.loaded {
				t.Errorf("Run() staged a kernel on a %s decision", tc.action)
			}

			// Every 5 minutes the timer runs again: the same decision is
			// not logged again, and nothing is loaded.
			r.now = r.now.Add(5 * time.Minute)
			out, calls, err = r.run(ctx, false)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("second Run() error = %v; want %v", err, tc.wantErr)
			}
			want = append([]string(nil), probe...)
			// The armed run moves only when its time does (dpkg busy: 20s
			// after each look), and costs no D-Bus call otherwise.
			if again, _ := plan.NextRun(out.Report.Decision, out.Report.Inputs); !again.Equal(armed) {
				want = append(want, "bus connect", "bus disarm", "bus arm "+again.UTC().Format(time.RFC3339), "bus close", "state "+string(tc.action)+" "+tc.check)
			}
			checkCalls(t, "second Run()", calls, want)
		})
	}
}

func TestRunUpToDate(t *testing.T) {
	r := newRig(t)
	r.boot(newRelease, newBuild, newBootID, 0xD0)
	out, calls, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	if d := out.Report.Decision; d.Action != plan.UpToDate {
		t.Errorf("Run() decision = %s %q; want up-to-date", d.Action, d.Reason)
	}
	// Nothing new: neither D-Bus nor dpkg is asked.
	checkCalls(t, "first Run()", calls, []string{"journal up-to-date", "state up-to-date"})
	_, calls, err = r.run(context.Background(), false)
	if err != nil {
		t.Fatalf("second Run() error = %v", err)
	}
	checkCalls(t, "second Run()", calls, nil)
}

func TestRunLogsChangedDecision(t *testing.T) {
	inhibitor := func(who string) []systemd.Inhibitor {
		return []systemd.Inhibitor{{What: "shutdown", Who: who, Why: "backup running", Mode: "block", PID: 777}}
	}
	tests := []struct {
		name string
		// steps change the rig before each run; logged says whether that
		// run must write a journal line.
		steps  []func(r *rig)
		logged []bool
	}{
		{
			name: "inhibitor_by_someone_else",
			steps: []func(r *rig){
				func(r *rig) { r.inhibitors = inhibitor("db") },
				func(r *rig) {},
				func(r *rig) { r.inhibitors = inhibitor("backup-agent") },
			},
			logged: []bool{true, false, true},
		},
		{
			name: "dpkg_holder_changes",
			steps: []func(r *rig){
				func(r *rig) { r.lockHolder = "/var/lib/dpkg/lock-frontend is held by apt-get (pid 4242)" },
				func(r *rig) { r.lockHolder = "/var/lib/dpkg/lock-frontend is held by unattended-upgr (pid 5150)" },
				func(r *rig) {},
			},
			logged: []bool{true, true, false},
		},
		{
			name: "window_next_opening_moves",
			steps: []func(r *rig){
				func(r *rig) { r.now = time.Date(2026, 3, 28, 5, 0, 0, 0, time.UTC) },
				func(r *rig) { r.now = time.Date(2026, 4, 2, 5, 0, 0, 0, time.UTC) },
				func(r *rig) { r.now = time.Date(2026, 4, 4, 5, 0, 0, 0, time.UTC) },
			},
			logged: []bool{true, false, true},
		},
		{
			name: "uptime_grows",
			steps: []func(r *rig){
				func(r *rig) { r.write("proc/uptime", "60.00 100.00\n") },
				func(r *rig) { r.write("proc/uptime", "360.00 700.00\n") },
				func(r *rig) { r.write("proc/uptime", "540.00 900.00\n") },
			},
			logged: []bool{true, false, false},
		},
		{
			name: "other_check",
			steps: []func(r *rig){
				func(r *rig) { r.now = time.Date(2026, 3, 28, 5, 0, 0, 0, time.UTC) },
				func(r *rig) { r.now = fixedNow.Add(7 * 24 * time.Hour); r.inhibitors = inhibitor("db") },
				func(r *rig) { r.now = r.now.Add(5 * time.Minute) },
			},
			logged: []bool{true, true, false},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			for i, step := range tc.steps {
				step(r)
				out, calls, err := r.run(context.Background(), false)
				if err != nil {
					t.Fatalf("run %d: Run() error = %v", i+1, err)
				}
				if hasCall(calls, "load /") {
					t.Fatalf("run %d: Run() loaded a kernel: %q", i+1, calls)
				}
				n := len(r.journal())
				if want := map[bool]int{true: 1, false: 0}[tc.logged[i]]; n != want {
					t.Errorf("run %d (%s %s %q): journal = %d events; want %d", i+1, out.Report.Decision.Action, out.Report.Decision.Check, out.Report.Decision.Reason, n, want)
				}
			}
		})
	}
}

func TestRunInhibitorAppearsAfterLoad(t *testing.T) {
	r := newRig(t)
	r.hook = onCall(load51, 1, func() {
		r.inhibitors = []systemd.Inhibitor{{What: "shutdown:sleep", Who: "db", Why: "backup started", Mode: "block", UID: 0, PID: 888}}
	})
	out, calls, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	checkCalls(t, "Run()", calls, concat(
		stagedCalls,
		[]string{"unload", "state postpone inhibitor", "journal postponed check=inhibitor", "bus close"},
	))
	if out.Switching || !errors.Is(out.ActErr, upgrade.ErrPostponed) || !strings.Contains(out.ActErr.Error(), `"db"`) {
		t.Errorf("Run() = Switching %v, ActErr %v; want postponed naming db", out.Switching, out.ActErr)
	}
	if r.loaded {
		t.Errorf("a kernel is still staged after the postponement")
	}
	st := r.state()
	if st.Staged != nil || len(st.Failed) != 0 || len(st.Attempts) != 0 {
		t.Errorf("state = Staged %v, Failed %v, Attempts %v; want none of them", st.Staged, st.Failed, st.Attempts)
	}
	// The postponement is remembered: the next run, still inhibited, is quiet.
	_, calls, _ = r.run(context.Background(), false)
	checkCalls(t, "next Run()", calls, probeCalls)
}

func TestRunStartKexecFails(t *testing.T) {
	r := newRig(t)
	r.startErr = errors.New(`start kexec.target: Transaction for kexec.target/start is destructive (poweroff.target has 'start' job queued)`)
	for try := 1; try <= state.MaxTries; try++ {
		r.now = fixedNow.Add(time.Duration(try) * time.Minute)
		out, calls, err := r.run(context.Background(), false)
		if err != nil {
			t.Fatalf("Run() %d error = %v", try, err)
		}
		checkCalls(t, fmt.Sprintf("Run() %d", try), calls, concat(
			stagedCalls,
			[]string{"state queued", "journal switching", "bus start kexec.target", "bus kexec-queued?", "unload",
				"state attempt load-failed start", "journal failed kind=start", "bus close"},
		))
		if out.Switching || out.ActErr == nil || !strings.Contains(out.ActErr.Error(), "destructive") || errors.Is(out.ActErr, upgrade.ErrPostponed) {
			t.Errorf("Run() %d = Switching %v, ActErr %v; want the start failure", try, out.Switching, out.ActErr)
		}
		st := r.state()
		if st.Staged != nil || r.loaded {
			t.Errorf("after Run() %d: state Staged = %+v, kernel loaded %v; want neither", try, st.Staged, r.loaded)
		}
		_, marked := st.FailedBefore(state.Kernel{Release: newRelease, Build: newBuild})
		if left, _, _ := st.TriesLeft(state.Kernel{Release: newRelease, Build: newBuild}); marked != (try == state.MaxTries) || left != state.MaxTries-try {
			t.Errorf("after Run() %d: marked %v, %d tries left; want marked %v, %d left", try, marked, left, try == state.MaxTries, state.MaxTries-try)
		}
		a, ok := st.LastAttempt()
		if !ok || a.Outcome != state.OutcomeLoadFailed || a.Kind != state.FailStart || a.To.Release != newRelease {
			t.Errorf("last attempt = %+v, %v; want load-failed/start to %s", a, ok, newRelease)
		}
	}
	// Marked: the next run refuses without loading; run --now retries.
	r.startErr = nil
	out, _, err := r.run(context.Background(), false)
	if err != nil || out.Switching || out.Report.Decision.Check != plan.CheckFailedBefore {
		t.Errorf("next Run() = Switching %v, %s, %v; want refused by failed-before", out.Switching, out.Report.Decision.Check, err)
	}
	out, _, err = r.run(context.Background(), true)
	if err != nil || !out.Switching {
		t.Errorf("Run(--now) = Switching %v, %v; want a switch", out.Switching, err)
	}
}

// TestRunStartKexecMaybeQueued: a StartUnit call that fails (a timeout on
// a loaded system) while systemd did queue the job, or while that cannot be
// known, is not a failure: the record stays queued, the kernel staged.
func TestRunStartKexecMaybeQueued(t *testing.T) {
	tests := []struct {
		name      string
		queued    bool
		queuedErr error
	}{
		{name: "job_exists", queued: true},
		{name: "cannot_tell", queuedErr: errors.New("read systemd's SystemState: connection closed")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.startErr = errors.New("start kexec.target: context deadline exceeded")
			r.queued, r.queuedErr = tc.queued, tc.queuedErr
			out, calls, err := r.run(context.Background(), false)
			if err != nil {
				t.Fatalf("Run() error = %v", err)
			}
			checkCalls(t, "Run()", calls, concat(
				stagedCalls,
				[]string{"state queued", "journal switching", "bus start kexec.target", "bus kexec-queued?", "journal switching", "bus close"},
			))
			if !out.Switching || out.ActErr != nil {
				t.Errorf("Run() = Switching %v, ActErr %v; want the switch taken as under way", out.Switching, out.ActErr)
			}
			st := r.state()
			if st.Staged == nil || st.Staged.CurrentPhase() != state.PhaseQueued || !r.loaded || len(st.Failed) != 0 || len(st.Attempts) != 0 {
				t.Errorf("state = staged %+v, loaded %v, failed %v, attempts %v; want queued, still loaded, nothing recorded", st.Staged, r.loaded, st.Failed, st.Attempts)
			}
		})
	}
}

func TestRunLoadFails(t *testing.T) {
	loadCalls := concat(preflightCalls, []string{load51, "unload"})
	tests := []struct {
		name  string
		errno syscall.Errno
		kind  string
		// marked: the build is marked at once; else the try is counted.
		marked bool
	}{
		{name: "enoexec_marks_the_build", errno: syscall.ENOEXEC, kind: state.FailLoad, marked: true},
		{name: "ekeyrejected_marks_the_build", errno: syscall.EKEYREJECTED, kind: state.FailLoad, marked: true},
		{name: "ebusy_counts", errno: syscall.EBUSY, kind: state.FailLoad},
		{name: "etxtbsy_counts", errno: syscall.ETXTBSY, kind: state.FailLoad},
		{name: "eperm_counts", errno: syscall.EPERM, kind: state.FailPermission},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.loadErr = kexec.ExplainErrno(tc.errno, newImage)
			out, calls, err := r.run(context.Background(), false)
			if err != nil {
				t.Fatalf("Run() error = %v", err)
			}
			checkCalls(t, "Run()", calls, concat(probeCalls, loadCalls, []string{"state attempt load-failed " + tc.kind, "journal failed kind=" + tc.kind}))
			if out.Switching || out.ActErr == nil || !strings.Contains(out.ActErr.Error(), newImage) || errors.Is(out.ActErr, upgrade.ErrPostponed) {
				t.Errorf("Run() = Switching %v, ActErr %v; want the load failure naming %s", out.Switching, out.ActErr, newImage)
			}
			st := r.state()
			if a, ok := st.LastAttempt(); !ok || a.Outcome != state.OutcomeLoadFailed || a.Kind != tc.kind || !strings.Contains(a.Reason, newImage) {
				t.Errorf("last attempt = %+v (%v); want load-failed/%s naming %s", a, ok, tc.kind, newImage)
			}
			k := state.Kernel{Release: newRelease, Build: newBuild}
			if _, marked := st.FailedBefore(k); marked != tc.marked {
				t.Errorf("build marked failed = %v; want %v", marked, tc.marked)
			}
			if left, _, _ := st.TriesLeft(k); !tc.marked && left != state.MaxTries-1 {
				t.Errorf("tries left = %d; want %d", left, state.MaxTries-1)
			}

			r.loadErr = nil
			out, calls, err = r.run(context.Background(), false)
			if err != nil {
				t.Fatalf("next Run() error = %v", err)
			}
			if !tc.marked {
				if !out.Switching {
					t.Errorf("next Run() decision = %s %s %q; want a switch", out.Report.Decision.Action, out.Report.Decision.Check, out.Report.Decision.Reason)
				}
				return
			}
			checkCalls(t, "next Run()", calls, concat(probeCalls, []string{"journal refused check=failed-before", "state refuse failed-before"}))
			if d := out.Report.Decision; d.Check != plan.CheckFailedBefore || !strings.Contains(d.Reason, "run --now") {
				t.Errorf("next Run() decision = %s %s %q; want refused by failed-before pointing at run --now", d.Action, d.Check, d.Reason)
			}
		})
	}
}

// TestRunPassingFailureTriedThreeTimes: the same passing failure on the
// same build is tried MaxTries times, then the build is marked; the tries
// never take the fleet slot when the kernel refuses kexec outright.
func TestRunPassingFailureTriedThreeTimes(t *testing.T) {
	r := newRig(t)
	r.permittedErr = kexec.ExplainErrno(syscall.EPERM, "(permission probe)")
	for try := 1; try <= state.MaxTries; try++ {
		r.now = fixedNow.Add(time.Duration(try) * time.Minute)
		out, calls, err := r.run(context.Background(), false)
		if err != nil {
			t.Fatalf("Run() %d error = %v", try, err)
		}
		checkCalls(t, fmt.Sprintf("Run() %d", try), calls, concat(probeCalls, []string{"loaded?", "permitted?", "state attempt load-failed permission", "journal failed kind=permission"}))
		if out.Switching || out.ActErr == nil || !strings.Contains(out.ActErr.Error(), "EPERM") {
			t.Errorf("Run() %d = Switching %v, ActErr %v; want the EPERM", try, out.Switching, out.ActErr)
		}
	}
	st := r.state()
	f, marked := st.FailedBefore(state.Kernel{Release: newRelease, Build: newBuild})
	if !marked || f.Kind != state.FailPermission || !strings.Contains(f.Reason, "3 times") {
		t.Fatalf("after %d tries: failure %+v, marked %v; want marked permission, naming the 3 tries", state.MaxTries, f, marked)
	}
	if n := len(st.Attempts); n != state.MaxTries {
		t.Errorf("attempts recorded = %d; want %d (history is not flooded)", n, state.MaxTries)
	}
	out, calls, _ := r.run(context.Background(), false)
	if out.Report.Decision.Check != plan.CheckFailedBefore || hasCall(calls, "permitted?") {
		t.Errorf("Run() after the tries = %s, calls %v; want refused by failed-before without probing", out.Report.Decision.Check, calls)
	}
}

// TestRunForeignKernelStaged: a kernel someone else staged is never
// replaced or unloaded; the switch waits.
func TestRunForeignKernelStaged(t *testing.T) {
	r := newRig(t)
	r.setLoaded(true)
	out, calls, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	checkCalls(t, "Run()", calls, concat(probeCalls, []string{"loaded?", "state postpone kexec-allowed", "journal postponed check=kexec-allowed"}))
	if !errors.Is(out.ActErr, upgrade.ErrPostponed) || !strings.Contains(out.ActErr.Error(), "did not stage") || !r.loaded {
		t.Errorf("Run() ActErr = %v, still loaded %v; want postponed naming the foreign kernel, left loaded", out.ActErr, r.loaded)
	}
}

func TestRunImageReplacedBeforeLoad(t *testing.T) {
	tests := []struct {
		name    string
		opts    kerneltest.Options
		calls   []string
		marked  bool
		postpon bool
	}{
		{
			name:    "rebuilt",
			opts:    kerneltest.Options{Release: newRelease, Build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.177-2 (2026-08-09)", Signed: true},
			calls:   []string{"state postpone image", "journal postponed check=image"},
			postpon: true,
		},
		{
			name:   "corrupted",
			opts:   kerneltest.Options{Release: newRelease, Build: newBuild, Signed: true, Truncate: 4000},
			calls:  []string{"state attempt load-failed image", "journal failed kind=image"},
			marked: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			// dpkg replaces the image between the check and the load.
			r.hook = onCall("bus close", 1, func() { r.writeImage(newRelease, tc.opts) })
			out, calls, err := r.run(context.Background(), false)
			if err != nil {
				t.Fatalf("Run() error = %v", err)
			}
			checkCalls(t, "Run()", calls, concat(probeCalls, tc.calls))
			if out.Switching || errors.Is(out.ActErr, upgrade.ErrPostponed) != tc.postpon {
				t.Errorf("Run() = Switching %v, ActErr %v; want postponed %v", out.Switching, out.ActErr, tc.postpon)
			}
			st := r.state()
			if _, marked := st.FailedBefore(state.Kernel{Release: newRelease, Build: newBuild}); marked != tc.marked {
				t.Errorf("build marked failed = %v; want %v", marked, tc.marked)
			}
		})
	}
}

func TestRunDryRun(t *testing.T) {
	r := newRig(t)
	r.resetLog()
	rep, err := upgrade.Assess(context.Background(), r.env(), false)
	if err != nil {
		t.Fatalf("Assess() error = %v", err)
	}
	checkCalls(t, "Assess()", r.takeCalls(), probeCalls)
	if d := rep.Decision; d.Action != plan.Switch || d.Target == nil || d.Target.Release != newRelease || d.Cmdline != newCmdline {
		t.Errorf("Assess() decision = %s %q; want switch to %s", d.Action, d.Reason, newRelease)
	}
	var checks []string
	for _, s := range rep.Decision.Steps {
		if s.Result != plan.Pass && s.Result != plan.Skip {
			t.Errorf("Assess() step %s = %s (%s); want pass", s.Check, s.Result, s.Detail)
		}
		checks = append(checks, s.Check)
	}
	for _, c := range []string{plan.CheckConfig, plan.CheckTarget, plan.CheckImage, plan.CheckInitrd, plan.CheckFailedBefore, plan.CheckKexecAllowed, plan.CheckCmdline, plan.CheckWindow, plan.CheckSystemState, plan.CheckDpkgLock, plan.CheckInhibitor, plan.CheckUptime} {
		if !strings.Contains(" "+strings.Join(checks, " ")+" ", " "+c+" ") {
			t.Errorf("Assess() trace %v lacks the %s check", checks, c)
		}
	}
	if len(rep.NextWindows) != 5 || !rep.NextWindows[0].Contains(fixedNow) {
		t.Errorf("Assess() NextWindows = %v; want 5, the open one first", rep.NextWindows)
	}
	if rep.ImageCheck == nil || rep.ImageCheck.Build != newBuild || !rep.ImageCheck.Signed {
		t.Errorf("Assess() ImageCheck = %+v; want the checked signed image", rep.ImageCheck)
	}
	if _, err := os.Stat(filepath.Join(r.root, state.Path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file after Assess(): %v; want none written", err)
	}
	if _, err := os.Stat(filepath.Join(r.root, upgrade.LockPath)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run lock after Assess(): %v; want none taken", err)
	}
	if n := len(r.journal()); n != 0 {
		t.Errorf("Assess() journal = %d events; want none", n)
	}
}

func TestAssessWarnings(t *testing.T) {
	r := newRig(t)
	r.write("etc/init.d/kexec", "#!/bin/sh\n")
	r.write("sys/kernel/kexec_loaded", "1\n")
	rep, err := upgrade.Assess(context.Background(), r.env(), false)
	if err != nil {
		t.Fatalf("Assess() error = %v", err)
	}
	joined := strings.Join(rep.Warnings, "\n")
	for _, want := range []string{"/etc/init.d/kexec", "kexec-upgrade did not stage"} {
		if !strings.Contains(joined, want) {
			t.Errorf("Assess() warnings = %q; want one mentioning %q", rep.Warnings, want)
		}
	}
}

func TestRunNow(t *testing.T) {
	r := newRig(t)
	r.now = time.Date(2026, 3, 31, 14, 0, 0, 0, time.UTC) // Tuesday: the window is closed
	r.write("proc/uptime", "30.00 50.00\n")               // and min_uptime not reached
	failure := state.Failure{Kernel: state.Kernel{Release: newRelease, Build: newBuild}, Kind: state.FailFirmwareReboot, Reason: "came up through a firmware reboot", At: fixedNow}
	r.saveState(state.State{Version: state.FormatVersion, Failed: []state.Failure{failure}})

	out, calls, err := r.run(context.Background(), true)
	if err != nil {
		t.Fatalf("Run(--now) error = %v", err)
	}
	checkCalls(t, "Run(--now)", calls, concat(
		probeCalls,
		preflightCalls, []string{load51, "loaded?", "state staged", "journal staged forced"},
		recheckCalls,
		[]string{"state queued", "journal switching forced", "bus start kexec.target", "bus close"},
	))
	if !out.Switching || !out.Report.Decision.Forced || !strings.Contains(out.Report.Decision.Reason, "forced") {
		t.Errorf("Run(--now) = Switching %v, decision %+v; want a forced switch", out.Switching, out.Report.Decision)
	}
	st := r.state()
	if len(st.Failed) != 0 {
		t.Errorf("state Failed after run --now = %+v; want the failure cleared", st.Failed)
	}
	if st.Staged == nil || !st.Staged.Forced {
		t.Errorf("state Staged = %+v; want it marked forced", st.Staged)
	}
	events := r.journal()
	if len(events) != 2 || events[1].Kind != systemd.EventSwitching || events[1].Fields["FORCED"] != "1" {
		t.Errorf("journal = %+v; want a switching event with FORCED=1", events)
	}
}

func TestRunNowKeepsSafetyChecks(t *testing.T) {
	r := newRig(t)
	r.now = time.Date(2026, 3, 31, 14, 0, 0, 0, time.UTC)
	r.inhibitors = []systemd.Inhibitor{{What: "shutdown", Who: "db", Why: "backup running", Mode: "block", PID: 777}}
	out, calls, err := r.run(context.Background(), true)
	if err != nil {
		t.Fatalf("Run(--now) error = %v", err)
	}
	checkCalls(t, "Run(--now)", calls, concat(probeCalls, []string{"journal postponed check=inhibitor", "state postpone inhibitor"}))
	if d := out.Report.Decision; d.Action != plan.Postpone || d.Check != plan.CheckInhibitor {
		t.Errorf("Run(--now) decision = %s %s; want postponed by the inhibitor", d.Action, d.Check)
	}
}

func TestRunCorruptState(t *testing.T) {
	corrupt := []byte(`{"version":1,"staged":{"id":"20260321T023000.000000000Z-6.1.0-51-cloud-amd64","to":{"release":"6.1.0-51-cl`)

	t.Run("refused", func(t *testing.T) {
		r := newRig(t)
		r.writeBytes(state.Path, corrupt)
		before, err := os.Stat(filepath.Join(r.root, state.Path))
		if err != nil {
			t.Fatal(err)
		}
		out, calls, err := r.run(context.Background(), false)
		if err != nil {
			t.Fatalf("Run() error = %v", err)
		}
		checkCalls(t, "Run()", calls, concat(probeCalls, []string{"journal refused check=state"}))
		d := out.Report.Decision
		if d.Action != plan.Refuse || d.Check != plan.CheckState || !strings.Contains(d.Reason, "run --now") {
			t.Errorf("Run() decision = %s %s %q; want refused by the state check", d.Action, d.Check, d.Reason)
		}
		if !errors.Is(out.Report.StateErr, state.ErrCorrupt) {
			t.Errorf("Report.StateErr = %v; want ErrCorrupt", out.Report.StateErr)
		}
		after, err := os.Stat(filepath.Join(r.root, state.Path))
		if err != nil || !os.SameFile(before, after) || string(r.read(state.Path)) != string(corrupt) {
			t.Errorf("state file changed by Run(); want it untouched for the admin")
		}
		if r.loaded {
			t.Errorf("Run() staged a kernel on a corrupt state file")
		}
	})

	t.Run("moved_aside_by_run_now", func(t *testing.T) {
		r := newRig(t)
		r.writeBytes(state.Path, corrupt)
		out, calls, err := r.run(context.Background(), true)
		if err != nil {
			t.Fatalf("Run(--now) error = %v", err)
		}
		checkCalls(t, "Run(--now)", calls, concat(
			[]string{"state missing"},
			probeCalls,
			preflightCalls, []string{load51, "loaded?", "state staged", "journal staged forced"},
			recheckCalls,
			[]string{"state queued", "journal switching forced", "bus start kexec.target", "bus close"},
		))
		if !out.Switching {
			t.Errorf("Run(--now) Switching = false (ActErr %v); want a switch", out.ActErr)
		}
		if got := r.read(state.Path + ".corrupt"); string(got) != string(corrupt) {
			t.Errorf("state.json.corrupt = %q; want the corrupt file as it was", got)
		}
		if st := r.state(); st.Staged == nil {
			t.Errorf("new state Staged = nil; want the staged kernel")
		}
	})
}

func TestRunLock(t *testing.T) {
	r := newRig(t)
	inLoad := make(chan struct{})
	release := make(chan struct{})
	r.hook = onCall(load51, 1, func() {
		close(inLoad)
		<-release
	})
	var wg sync.WaitGroup
	var first upgrade.Outcome
	var firstErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		first, firstErr = upgrade.Run(context.Background(), r.env(), false)
	}()
	<-inLoad
	_, err := upgrade.Run(context.Background(), r.env(), false)
	close(release)
	wg.Wait()
	if !errors.Is(err, upgrade.ErrBusy) {
		t.Errorf("concurrent Run() error = %v; want ErrBusy", err)
	}
	if err == nil || err.Error() != "another kexec-upgrade run is in progress" {
		t.Errorf("concurrent Run() error text = %v; want the documented message", err)
	}
	if firstErr != nil || !first.Switching {
		t.Errorf("first Run() = Switching %v, %v; want a switch", first.Switching, firstErr)
	}
	if calls := r.takeCalls(); strings.Count(strings.Join(calls, "\n"), "load ") != 1 {
		t.Errorf("calls = %q; want exactly one load", calls)
	}
	// The lock is released when a run ends.
	if _, _, err := r.run(context.Background(), false); errors.Is(err, upgrade.ErrBusy) {
		t.Errorf("Run() after the first ended = %v; want the lock free", err)
	}
}

func TestRunCancelled(t *testing.T) {
	tests := []struct {
		name string
		// at: the call (and its occurrence) during which SIGTERM arrives.
		at    string
		nth   int
		calls []string
	}{
		{
			name: "before_load", at: "bus close", nth: 1,
			calls: concat(probeCalls, []string{"loaded?", "permitted?", "state postpone system-state", "journal postponed check=system-state"}),
		},
		{
			name: "right_after_load", at: load51, nth: 1,
			calls: concat(probeCalls, preflightCalls, []string{load51, "loaded?", "state staged", "journal staged", "bus connect", "unload",
				"state postpone system-state", "journal postponed check=system-state"}),
		},
		{
			name: "after_the_last_check", at: "dpkg-lock", nth: 2,
			calls: concat(stagedCalls, []string{"unload", "state postpone system-state", "journal postponed check=system-state", "bus close"}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r.hook = onCall(tc.at, tc.nth, cancel)
			out, calls, err := r.run(ctx, false)
			if err != nil {
				t.Fatalf("Run() error = %v", err)
			}
			checkCalls(t, "Run()", calls, tc.calls)
			if out.Switching || !errors.Is(out.ActErr, upgrade.ErrPostponed) {
				t.Errorf("Run() = Switching %v, ActErr %v; want postponed", out.Switching, out.ActErr)
			}
			if r.loaded || r.startCalls != 0 {
				t.Errorf("after a cancelled run: loaded %v, StartKexec calls %d; want nothing staged, no start", r.loaded, r.startCalls)
			}
			if st := r.state(); st.Staged != nil || len(st.Failed) != 0 {
				t.Errorf("state = Staged %+v, Failed %+v; want neither", st.Staged, st.Failed)
			}
		})
	}
}

// TestRunStartKexecNotCancelled: once the switch is decided, SIGTERM (the
// run's context cancelled) must not cut the StartUnit call short: that
// SIGTERM may be the switch itself.
func TestRunStartKexecNotCancelled(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.hook = onCall("journal switching", 1, cancel)
	out, calls, err := r.run(ctx, false)
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	checkCalls(t, "Run()", calls, switchCalls)
	if ctx.Err() == nil {
		t.Fatalf("the run's context was not cancelled; the test did not test anything")
	}
	if r.startCalls != 1 || r.startCtxErr != nil {
		t.Errorf("StartKexec calls %d, ctx.Err() %v; want one call with a live context", r.startCalls, r.startCtxErr)
	}
	if !out.Switching || !r.loaded {
		t.Errorf("Run() = Switching %v (ActErr %v), loaded %v; want the switch under way and the kernel staged", out.Switching, out.ActErr, r.loaded)
	}
}

func TestRunJournalUnwritable(t *testing.T) {
	r := newRig(t)
	r.sendErr = errors.New("journal: the journald socket is not available")
	out, calls, err := r.run(context.Background(), false)
	if err != nil || !out.Switching {
		t.Fatalf("Run() = Switching %v, %v; want a switch even without a journal", out.Switching, err)
	}
	checkCalls(t, "Run()", calls, switchCalls)
}

// the postponement that undoes it is always logged.
func TestRunRepeatedPostponementAfterStaging(t *testing.T) {
	r := newRig(t)
	block := []systemd.Inhibitor{{What: "shutdown", Who: "db", Why: "backup started", Mode: "block", PID: 888}}
	r.hook = func(call string) {
		if call == load51 {
			r.inhibitors = block
		}
	}
	want := concat(stagedCalls, []string{"unload", "state postpone inhibitor", "journal postponed check=inhibitor", "bus close"})
	for i := 1; i <= 2; i++ {
		r.inhibitors = nil
		_, calls, err := r.run(context.Background(), false)
		if err != nil {
			t.Fatalf("run %d: Run() error = %v", i, err)
		}
		checkCalls(t, fmt.Sprintf("Run() %d", i), calls, want)
		r.now = r.now.Add(5 * time.Minute)
	}
}

// TestRunImageCache: an idle run does not read the image again, and a
// file dpkg replaced is checked anew.
func TestRunImageCache(t *testing.T) {
	r := newRig(t)
	r.now = time.Date(2026, 3, 28, 5, 0, 0, 0, time.UTC) // window closed
	if _, _, err := r.run(context.Background(), false); err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	st := r.state()
	if len(st.Images) != 1 || st.Images[0].Path != newImage || st.Images[0].Build != newBuild || st.Images[0].Error != "" {
		t.Fatalf("state Images = %+v; want the checked %s", st.Images, newImage)
	}
	r.writeImage(newRelease, kerneltest.Options{Release: newRelease, Build: newBuild, Signed: true, CorruptCRC: true})
	out, _, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatalf("Run() after dpkg replaced the image error = %v", err)
	}
	if d := out.Report.Decision; d.Action != plan.Refuse || d.Check != plan.CheckImage {
		t.Errorf("Run() after the image was replaced = %s %s %q; want refused by the image check", d.Action, d.Check, d.Reason)
	}
	st = r.state()
	if len(st.Images) != 1 || st.Images[0].Error == "" {
		t.Errorf("state Images = %+v; want one entry with the new check's error", st.Images)
	}
}

// TestRunVerifyWithoutBus: a new boot is verified even when D-Bus is not
// up yet; only the switch's duration is unknown.
func TestRunVerifyWithoutBus(t *testing.T) {
	r := newRig(t)
	if out, _, err := r.run(context.Background(), false); err != nil || !out.Switching {
		t.Fatalf("setup: Run() = Switching %v, %v", out.Switching, err)
	}
	r.boot(newRelease, newBuild, newBootID, 0xD0)
	r.connectErr = errors.New("connect to the system D-Bus: no such file or directory")
	out, calls, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	checkCalls(t, "Run()", calls, []string{"bus connect", "state attempt verified", "journal verified", "journal up-to-date", "state up-to-date"})
	if v := out.Verified; v == nil || v.Outcome != state.OutcomeVerified || v.DurationSeconds != nil {
		t.Errorf("Run().Verified = %+v; want verified without a duration", v)
	}
}
