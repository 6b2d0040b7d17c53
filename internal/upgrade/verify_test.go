package upgrade_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

func TestJudgeSwitch(t *testing.T) {
	queued := fixedNow
	now := fixedNow.Add(3 * time.Minute)
	oldK := state.Kernel{Release: oldRelease, Build: oldBuild}
	newK := state.Kernel{Release: newRelease, Build: newBuild}
	staged := state.Staged{ID: "20260328T023000.000000000Z-" + newRelease, From: oldK, To: newK, OldBootID: oldBootID, StagedAt: queued, QueuedAt: queued}
	running := func(k state.Kernel, bootID string, loader int) host.Running {
		return host.Running{Release: k.Release, Build: k.Build, BootID: bootID, LoaderType: loader, Cmdline: newCmdline}
	}
	secs := func(s float64) *float64 { return &s }
	const (
		markedID    = "20260328T023000.000000000Z-" + newRelease
		grubCmdline = "BOOT_IMAGE=/boot/vmlinuz-" + newRelease + " root=/dev/vda1 ro console=ttyAMA0"
	)
	markedCmdline := "root=/dev/vda1 ro console=ttyAMA0 kexec_upgrade.attempt=" + markedID
	marked := staged
	marked.ID, marked.Cmdline = markedID, markedCmdline
	withCmdline := func(r host.Running, cmdline string) host.Running { r.Cmdline = cmdline; return r }

	tests := []struct {
		name      string
		staged    state.Staged
		running   host.Running
		userspace time.Time
		outcome   string
		kind      string
		duration  *float64
		// reason must contain each of these.
		reason []string
	}{
		{
			name: "verified_with_duration", staged: staged, running: running(newK, newBootID, host.LoaderKexec),
			userspace: queued.Add(2500 * time.Millisecond), outcome: state.OutcomeVerified, duration: secs(2.5),
		},
		{
			name: "verified_userspace_unknown", staged: staged, running: running(newK, newBootID, host.LoaderKexec),
			outcome: state.OutcomeVerified,
		},
		{
			name: "verified_userspace_before_queue", staged: staged, running: running(newK, newBootID, host.LoaderKexec),
			userspace: queued.Add(-time.Second), outcome: state.OutcomeVerified,
		},
		{
			name: "verified_boot_params_unreadable", staged: staged, running: running(newK, newBootID, -1),
			userspace: queued.Add(4 * time.Second), outcome: state.OutcomeVerified, duration: secs(4),
		},
		{
			name: "booted_old_kernel", staged: staged, running: running(oldK, newBootID, 0x72),
			outcome: state.OutcomeFailed, kind: state.FailOldKernel, reason: []string{oldRelease, newRelease},
		},
		{
			name:    "booted_old_build_of_a_rebuild",
			staged:  state.Staged{ID: "r", From: oldK, To: state.Kernel{Release: oldRelease, Build: newBuild}, OldBootID: oldBootID, QueuedAt: queued},
			running: running(oldK, newBootID, host.LoaderKexec),
			outcome: state.OutcomeFailed, kind: state.FailOldKernel, reason: []string{oldRelease},
		},
		{
			name: "booted_other_kernel", staged: staged,
			running: running(state.Kernel{Release: "6.1.0-49-cloud-amd64", Build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.170-1"}, newBootID, 0x72),
			outcome: state.OutcomeFailed, kind: state.FailOtherKernel, reason: []string{"6.1.0-49-cloud-amd64", newRelease, oldRelease},
		},
		{
			name: "firmware_reboot_into_new_kernel", staged: staged, running: running(newK, newBootID, 0x72),
			outcome: state.OutcomeFailed, kind: state.FailFirmwareReboot, reason: []string{"0x72", "0xd0", "firmware reboot"},
		},
		{
			name: "firmware_reboot_loader_zero", staged: staged, running: running(newK, newBootID, 0),
			outcome: state.OutcomeFailed, kind: state.FailFirmwareReboot, reason: []string{"0x00"},
		},
		{
			name: "same_boot_no_reboot", staged: staged, running: running(oldK, oldBootID, 0x72),
			outcome: state.OutcomeFailed, kind: state.FailNoReboot, reason: []string{oldBootID},
		},
		{
			// A reboot before the switch was queued says nothing about the
			// kernel: the run that staged it was interrupted.
			name:    "restarted_before_queued_old_kernel",
			staged:  func() state.Staged { s := staged; s.Phase = state.PhaseStaged; return s }(),
			running: running(oldK, newBootID, 0x72),
			outcome: state.OutcomeInterrupted, kind: state.FailKilled, reason: []string{"before the switch", newRelease},
		},
		{
			// A plain reboot while our kernel was staged is a kexec into it
			// (systemd does that): it is running, so it is verified.
			name:    "plain_reboot_kexeced_into_staged",
			staged:  func() state.Staged { s := staged; s.Phase = state.PhaseStaged; return s }(),
			running: running(newK, newBootID, host.LoaderKexec),
			outcome: state.OutcomeVerified,
		},
		{
			name: "forced_attempt_stays_forced", staged: func() state.Staged { s := staged; s.Forced = true; return s }(),
			running: running(newK, newBootID, host.LoaderKexec), outcome: state.OutcomeVerified,
		},
		// The attempt marker: staged with kexec_upgrade.attempt=<id> on the
		// loaded command line, it must be in /proc/cmdline after the boot.
		// arm64 has no boot_params (LoaderType -1): the marker is the proof.
		{
			name: "arm64_marker_present_verified", staged: marked,
			running:   withCmdline(running(newK, newBootID, -1), markedCmdline),
			userspace: queued.Add(3 * time.Second), outcome: state.OutcomeVerified, duration: secs(3),
		},
		{
			name: "arm64_marker_absent_firmware_reboot", staged: marked,
			running: withCmdline(running(newK, newBootID, -1), grubCmdline),
			outcome: state.OutcomeFailed, kind: state.FailFirmwareReboot,
			reason: []string{newRelease, "no kexec_upgrade.attempt= marker", "firmware reboot"},
		},
		{
			// A boot loader entry that copied an old /proc/cmdline carries
			// an older attempt's marker.
			name: "arm64_other_attempts_marker_firmware_reboot", staged: marked,
			running: withCmdline(running(newK, newBootID, -1), grubCmdline+" kexec_upgrade.attempt=20260101T000000.000000000Z-"+oldRelease),
			outcome: state.OutcomeFailed, kind: state.FailFirmwareReboot,
			reason: []string{"kexec_upgrade.attempt=20260101T000000.000000000Z-" + oldRelease, "not this attempt's " + markedID},
		},
		{
			name: "amd64_loader_byte_and_marker_agree_verified", staged: marked,
			running: withCmdline(running(newK, newBootID, host.LoaderKexec), markedCmdline), outcome: state.OutcomeVerified,
		},
		{
			// boot_params says kexec, the command line is not ours: some
			// other kexec (kexec-tools' own load, say).
			name: "amd64_loader_kexec_marker_absent_firmware_reboot", staged: marked,
			running: withCmdline(running(newK, newBootID, host.LoaderKexec), grubCmdline),
			outcome: state.OutcomeFailed, kind: state.FailFirmwareReboot,
			reason: []string{"no kexec_upgrade.attempt= marker", "0xd0", "other kexec"},
		},
		{
			name: "amd64_marker_present_loader_grub_firmware_reboot", staged: marked,
			running: withCmdline(running(newK, newBootID, 0x72), markedCmdline),
			outcome: state.OutcomeFailed, kind: state.FailFirmwareReboot,
			reason: []string{"0x72", "0xd0", "disagree", markedID},
		},
		{
			// A switch staged by a version without markers keeps the
			// loader byte alone: nothing to find on arm64 then.
			name: "staged_without_marker_arm64_verified", staged: staged,
			running: withCmdline(running(newK, newBootID, -1), grubCmdline), outcome: state.OutcomeVerified,
		},
		{
			name: "marker_on_the_old_kernel_is_still_the_old_kernel", staged: marked,
			running: withCmdline(running(oldK, newBootID, -1), markedCmdline),
			outcome: state.OutcomeFailed, kind: state.FailOldKernel, reason: []string{oldRelease},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := upgrade.JudgeSwitch(tc.staged, tc.running, now, tc.userspace)
			name := "JudgeSwitch(" + tc.name + ")"
			if a.Outcome != tc.outcome || a.Kind != tc.kind {
				t.Errorf("%s = %s/%s (%q); want %s/%s", name, a.Outcome, a.Kind, a.Reason, tc.outcome, tc.kind)
			}
			// An attempt is dated by when its switch was queued.
			if a.ID != tc.staged.ID || !a.At.Equal(tc.staged.QueuedAt) || a.From != tc.staged.From || a.To != tc.staged.To || a.Forced != tc.staged.Forced {
				t.Errorf("%s = %+v; want ID %s, At %v, %s → %s, forced %v", name, a, tc.staged.ID, tc.staged.QueuedAt, tc.staged.From, tc.staged.To, tc.staged.Forced)
			}
			switch {
			case tc.duration == nil && a.DurationSeconds != nil:
				t.Errorf("%s duration = %v s; want none", name, *a.DurationSeconds)
			case tc.duration != nil && (a.DurationSeconds == nil || *a.DurationSeconds != *tc.duration):
				t.Errorf("%s duration = %v; want %v s", name, a.DurationSeconds, *tc.duration)
			}
			if tc.outcome == state.OutcomeVerified && a.Reason != "" {
				t.Errorf("%s reason = %q; want none for a verified switch", name, a.Reason)
			}
			for _, want := range tc.reason {
				if !strings.Contains(a.Reason, want) {
					t.Errorf("%s reason = %q; want it to mention %q", name, a.Reason, want)
				}
			}
		})
	}
}

// switched runs a scheduled switch on a fresh rig and returns the rig
// with the staged state on disk, the kernel staged and the log cleared.
func switched(t *testing.T) (*rig, state.Staged) {
	t.Helper()
	r := newRig(t)
	out, _, err := r.run(context.Background(), false)
	if err != nil || !out.Switching {
		t.Fatalf("setup: Run() = Switching %v, %v; want a switch", out.Switching, err)
	}
	st := r.state()
	return r, *st.Staged
}

func TestRunVerifiesSwitch(t *testing.T) {
	r, staged := switched(t)
	switchEvents := r.journal()

	// kexec: a new boot of the new kernel, userspace up 2.25 s after the queue.
	r.boot(newRelease, newBuild, newBootID, host.LoaderKexec)
	r.now = fixedNow.Add(3 * time.Minute)
	r.userspace = fixedNow.Add(2250 * time.Millisecond)
	out, calls, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatalf("Run() after the switch error = %v", err)
	}
	checkCalls(t, "Run() after the switch", calls, []string{
		"bus connect", "bus boot-times", "bus close", "state attempt verified", "journal verified",
		"journal up-to-date", "state up-to-date",
	})
	v := out.Verified
	if v == nil || v.Outcome != state.OutcomeVerified || v.ID != staged.ID || v.DurationSeconds == nil || *v.DurationSeconds != 2.25 {
		t.Fatalf("Run().Verified = %+v; want verified %s in 2.25 s", v, staged.ID)
	}
	st := r.state()
	if st.Staged != nil {
		t.Errorf("state Staged = %+v; want it cleared", st.Staged)
	}
	if a, ok := st.LastAttempt(); !ok || a.ID != staged.ID || a.Outcome != state.OutcomeVerified {
		t.Errorf("state last attempt = %+v; want %s verified", a, staged.ID)
	}
	if len(st.Failed) != 0 {
		t.Errorf("state Failed = %+v; want none", st.Failed)
	}
	e := r.journal()[0]
	if e.Kind != systemd.EventVerified || e.Fields["ATTEMPT"] != staged.ID || e.Fields["OUTCOME"] != state.OutcomeVerified || e.Fields["DURATION"] != "2.250" || !strings.Contains(e.Message, "2.2s") && !strings.Contains(e.Message, "2.3s") {
		t.Errorf("journal verified = %+v; want ATTEMPT %s, DURATION 2.250", e, staged.ID)
	}

	// history: the journal's events and the state file agree on one attempt.
	h := upgrade.History(append(switchEvents, r.journal()...), st)
	if len(h) != 1 || h[0].ID != staged.ID || h[0].Outcome != state.OutcomeVerified || h[0].DurationSeconds == nil {
		t.Errorf("History() = %+v; want the one verified attempt", h)
	}

	// Verified once: the next run has nothing to do.
	_, calls, err = r.run(context.Background(), false)
	if err != nil {
		t.Fatalf("next Run() error = %v", err)
	}
	checkCalls(t, "next Run()", calls, nil)
}

func TestRunVerifyFailed(t *testing.T) {
	tests := []struct {
		name    string
		release string
		build   string
		loader  byte
		kind    string
		// after is what the same run then logs about the target.
		after []string
	}{
		{
			name: "booted_old_kernel", release: oldRelease, build: oldBuild, loader: 0x72, kind: state.FailOldKernel,
			after: concat(probeCalls, []string{"journal refused check=failed-before", "state refuse failed-before"}),
		},
		{
			name: "booted_other_kernel", release: "6.1.0-49-cloud-amd64", build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.170-1 (2026-05-01)", loader: 0x72, kind: state.FailOtherKernel,
			after: concat(probeCalls, []string{"journal refused check=failed-before", "state refuse failed-before"}),
		},
		{
			// The new kernel runs, but a firmware reboot brought it up: the
			// kexec path is broken for it, so it is marked all the same.
			name: "firmware_reboot", release: newRelease, build: newBuild, loader: 0x72, kind: state.FailFirmwareReboot,
			after: []string{"journal up-to-date", "state up-to-date"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, staged := switched(t)
			r.boot(tc.release, tc.build, newBootID, tc.loader)
			r.now = fixedNow.Add(4 * time.Minute)
			r.userspace = fixedNow.Add(90 * time.Second)
			out, calls, err := r.run(context.Background(), false)
			if err != nil {
				t.Fatalf("Run() after the boot error = %v", err)
			}
			checkCalls(t, "Run() after the boot", calls, concat(
				[]string{"bus connect", "bus boot-times", "bus close", "loaded?", "state attempt failed " + tc.kind, "journal failed kind=" + tc.kind},
				tc.after,
			))
			if v := out.Verified; v == nil || v.Outcome != state.OutcomeFailed || v.Kind != tc.kind || v.ID != staged.ID {
				t.Errorf("Run().Verified = %+v; want failed/%s", v, tc.kind)
			}
			st := r.state()
			f, marked := st.FailedBefore(staged.To)
			if !marked || f.Kind != tc.kind {
				t.Errorf("state FailedBefore(%s) = %+v, %v; want marked %s", staged.To, f, marked, tc.kind)
			}
			if st.Staged != nil {
				t.Errorf("state Staged = %+v; want it cleared", st.Staged)
			}
			if e := r.journal()[0]; e.Kind != systemd.EventFailed || e.Fields["ATTEMPT"] != staged.ID || e.Fields["KIND"] != tc.kind {
				t.Errorf("journal = %+v; want failed %s for %s", e, tc.kind, staged.ID)
			}
			// A failed build is never retried automatically.
			r.now = r.now.Add(5 * time.Minute)
			_, calls, err = r.run(context.Background(), false)
			if err != nil {
				t.Fatalf("next Run() error = %v", err)
			}
			if hasCall(calls, "load /") || hasCall(calls, "journal") {
				t.Errorf("next Run() calls = %q; want no load and no new journal line", calls)
			}
		})
	}
}

func TestRunVerifySameBoot(t *testing.T) {
	t.Run("switch_under_way", func(t *testing.T) {
		r, _ := switched(t)
		r.systemState = "stopping"
		before := r.read(state.Path)
		_, calls, err := r.run(context.Background(), false)
		if !errors.Is(err, upgrade.ErrSwitchUnderWay) {
			t.Fatalf("Run() while stopping error = %v; want ErrSwitchUnderWay", err)
		}
		checkCalls(t, "Run() while stopping", calls, []string{"bus connect", "bus system-state", "bus close"})
		if after := r.read(state.Path); string(after) != string(before) {
			t.Errorf("state file changed while the switch is under way:\n%s\nwant\n%s", after, before)
		}
		if !r.loaded {
			t.Errorf("the staged kernel was unloaded while the switch is under way")
		}
	})

	t.Run("bus_unreachable", func(t *testing.T) {
		r, _ := switched(t)
		r.connectErr = errors.New("connect to the system D-Bus: connection refused")
		before := r.read(state.Path)
		_, calls, err := r.run(context.Background(), false)
		if !errors.Is(err, upgrade.ErrSwitchUnderWay) {
			t.Fatalf("Run() without D-Bus error = %v; want ErrSwitchUnderWay (when in doubt, wait)", err)
		}
		checkCalls(t, "Run() without D-Bus", calls, []string{"bus connect"})
		if after := r.read(state.Path); string(after) != string(before) {
			t.Errorf("state file changed without an answer from systemd")
		}
	})

	t.Run("no_reboot_happened", func(t *testing.T) {
		r, staged := switched(t)
		r.now = fixedNow.Add(10 * time.Minute)
		out, calls, err := r.run(context.Background(), false)
		if err != nil {
			t.Fatalf("Run() error = %v", err)
		}
		checkCalls(t, "Run()", calls, concat(
			[]string{"bus connect", "bus system-state", "bus close", "loaded?", "unload",
				"state attempt failed no-reboot", "journal failed kind=no-reboot"},
			probeCalls,
			[]string{"journal refused check=failed-before", "state refuse failed-before"},
		))
		if v := out.Verified; v == nil || v.Kind != state.FailNoReboot || v.ID != staged.ID {
			t.Errorf("Run().Verified = %+v; want failed/no-reboot", v)
		}
		if r.loaded {
			t.Errorf("the kernel is still staged; want it unloaded so a plain reboot stays plain")
		}
		if d := out.Report.Decision; d.Action != plan.Refuse || d.Check != plan.CheckFailedBefore {
			t.Errorf("Run() decision = %s %s; want refused by failed-before", d.Action, d.Check)
		}
	})
}

// TestRunVerifyRunNowRetries: an admin's run --now retries a failed build
// and clears its failure.
func TestRunVerifyRunNowRetries(t *testing.T) {
	r, _ := switched(t)
	r.boot(oldRelease, oldBuild, newBootID, 0x72)
	r.now = fixedNow.Add(5 * time.Minute)
	if _, _, err := r.run(context.Background(), false); err != nil {
		t.Fatalf("Run() after the failed boot error = %v", err)
	}
	r.write("proc/uptime", "20.00 30.00\n")
	out, calls, err := r.run(context.Background(), true)
	if err != nil || !out.Switching {
		t.Fatalf("Run(--now) = Switching %v (ActErr %v), %v; want a switch", out.Switching, out.ActErr, err)
	}
	if !hasCall(calls, load51) {
		t.Errorf("Run(--now) calls = %q; want a load", calls)
	}
	st := r.state()
	if _, marked := st.FailedBefore(state.Kernel{Release: newRelease, Build: newBuild}); marked {
		t.Errorf("the failure is still recorded after run --now")
	}
	if len(st.Attempts) != 1 || st.Attempts[0].Kind != state.FailOldKernel {
		t.Errorf("state Attempts = %+v; want the earlier failed attempt kept for history", st.Attempts)
	}
}
