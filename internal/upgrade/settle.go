package upgrade

import (
	"context"
	"fmt"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// settlePreviousSwitch finishes what an earlier run left in the state
// file, before anything else is decided:
//   - a switch that was never queued, in this same boot: that run died
//     (killed, out of memory, stop timeout) between writing its intent and
//     queuing the switch. Whatever it staged is unloaded, so the admin's
//     next plain reboot is not a kexec outside any window;
//   - a switch queued in this same boot: either the system is stopping for
//     it right now (left alone), or it did not happen;
//   - anything else: a boot happened, and JudgeSwitch tells how it went.
func settlePreviousSwitch(ctx context.Context, env Env, st *state.State) (*state.Attempt, error) {
	staged := *st.Staged
	running, err := host.ReadRunning(env.Root)
	if err != nil {
		return nil, err
	}
	if staged.Trial != nil && staged.Trial.Phase != state.TrialArmed {
		return settleTrial(ctx, env, st, staged, running)
	}
	sameBoot := running.BootID == staged.OldBootID
	if sameBoot && staged.CurrentPhase() != state.PhaseQueued {
		return undoInterruptedSwitch(env, st, staged)
	}
	var boot systemd.BootTimes
	if sameBoot {
		// Either the system is stopping for the switch right now, or the
		// switch never happened. Ask systemd; when in doubt, wait.
		bus, err := env.Connect(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: cannot ask systemd (%v)", ErrSwitchUnderWay, err)
		}
		s, err := bus.SystemState(ctx)
		bus.Close()
		if err != nil || s == "stopping" {
			return nil, ErrSwitchUnderWay
		}
	} else if bus, err := env.Connect(ctx); err == nil {
		boot, _ = bus.BootTimes(ctx)
		bus.Close()
	}
	v := JudgeSwitch(staged, running, env.Now(), boot.Userspace)
	if v.Outcome == state.OutcomeVerified && !staged.QueuedAt.IsZero() {
		p := OutagePhases(staged.QueuedAt, boot)
		addSlowestUnits(ctx, env, &p)
		v.Phases = &p
	}
	if staged.Trial != nil {
		return settleTrialBoot(ctx, env, st, staged, running, v, boot)
	}
	a, err := recordJudgement(env, st, v)
	if err != nil || a.Outcome != state.OutcomeVerified {
		return a, err
	}
	return a, runPostSwitchHooks(ctx, env, st, *a)
}

// runPostSwitchHooks runs the post-switch hooks once the new kernel is
// verified. Their failures are reported (journal, status) and never undo
// the switch.
func runPostSwitchHooks(ctx context.Context, env Env, st *state.State, a state.Attempt) error {
	cfg, err := config.Load(env.Root, env.Config)
	if err != nil {
		cfg = config.Default() // the hooks still run, with the default timeout
	}
	if _, err := runHooks(ctx, env, st, PhasePostSwitch, a, cfg.Hooks.Timeout); err != nil {
		st.SetHookReport(state.HookReport{Phase: PhasePostSwitch, Attempt: a.ID, At: env.Now(), Failed: []string{err.Error()}})
		send(env, systemd.Event{Kind: systemd.EventHook, Message: "post-switch hooks not run: " + err.Error(),
			Fields: map[string]string{"HOOK_PHASE": PhasePostSwitch, "REASON": err.Error(), "ATTEMPT": a.ID}})
	}
	return state.Save(env.Root, *st)
}

// undoInterruptedSwitch unloads what an interrupted run of this boot may
// have staged and records the attempt as interrupted. The record is kept
// when the unload fails, so the next run tries again and status shows it.
func undoInterruptedSwitch(env Env, st *state.State, staged state.Staged) (*state.Attempt, error) {
	a := attemptOf(staged, env.Now())
	a.Outcome, a.Kind = state.OutcomeInterrupted, state.FailKilled
	loaded, err := env.Loader.Loaded()
	if err != nil {
		return nil, fmt.Errorf("undo the interrupted switch to %s: %w", staged.To.Release, err)
	}
	if loaded {
		if err := env.Loader.Unload(); err != nil {
			return nil, fmt.Errorf("undo the interrupted switch to %s: %w", staged.To.Release, err)
		}
		a.Reason = fmt.Sprintf("unloaded the kernel %s that attempt %s staged in this boot and never switched to (the run was interrupted, phase %s)", staged.To.Release, staged.ID, staged.CurrentPhase())
	} else {
		a.Reason = fmt.Sprintf("attempt %s for %s was interrupted in this boot before the switch (phase %s); nothing was staged", staged.ID, staged.To.Release, staged.CurrentPhase())
	}
	undoTrialSetup(env, &staged)
	st.AddAttempt(a)
	st.CountTry(a)
	st.Staged = nil
	if err := state.Save(env.Root, *st); err != nil {
		return nil, err
	}
	send(env, systemd.Event{Kind: systemd.EventUnstaged, Message: a.Reason, Fields: attemptFields(a)})
	return &a, nil
}

// recordJudgement applies a boot's judgement to the state and the journal.
func recordJudgement(env Env, st *state.State, v state.Attempt) (*state.Attempt, error) {
	switch v.Outcome {
	case state.OutcomeVerified:
		st.ClearFailure(v.To)
	case state.OutcomeInterrupted:
		st.CountTry(v)
	default:
		if loaded, _ := env.Loader.Loaded(); loaded && v.Kind == state.FailNoReboot {
			if err := env.Loader.Unload(); err != nil {
				v.Reason += "; unloading the staged kernel failed: " + err.Error()
			}
		}
		// Also a switch that did not go down (an admin cancelled the job):
		// the next try is the admin's run --now.
		st.MarkFailed(v)
	}
	st.AddAttempt(v)
	st.Staged = nil
	if err := state.Save(env.Root, *st); err != nil {
		return nil, err
	}
	send(env, judgementEvent(v))
	return &v, nil
}

func judgementEvent(v state.Attempt) systemd.Event {
	e := systemd.Event{Kind: systemd.EventVerified, Fields: attemptFields(v)}
	switch v.Outcome {
	case state.OutcomeVerified:
		e.Message = fmt.Sprintf("verified: now running %s, switched from %s", v.To, v.From)
		if v.DurationSeconds != nil {
			e.Message += fmt.Sprintf(" in %.1fs", *v.DurationSeconds)
		}
		if d := DescribePhases(v.Phases); d != "" {
			e.Message += " (" + d + ")"
			e.Fields["PHASES"] = d
		}
	case state.OutcomeInterrupted:
		e.Kind, e.Message = systemd.EventUnstaged, v.Reason
	case state.OutcomeRolledBack:
		e.Kind, e.Message = systemd.EventRolledBack, "rolled back: "+v.Reason
	default:
		e.Kind = systemd.EventFailed
		e.Message = fmt.Sprintf("switch to %s failed (%s): %s", v.To.Release, v.Kind, v.Reason)
	}
	return e
}

// attemptOf starts the attempt record of a staged switch, dated by when
// the switch started rather than when it was judged.
func attemptOf(staged state.Staged, now time.Time) state.Attempt {
	at := staged.QueuedAt
	if at.IsZero() {
		at = staged.StagedAt
	}
	if at.IsZero() {
		at = now
	}
	return state.Attempt{ID: staged.ID, At: at, From: staged.From, To: staged.To, Forced: staged.Forced}
}

// JudgeSwitch decides, after a boot or in the boot that queued it, how a
// staged switch ended; it is pure. userspace is when this boot's systemd
// started (zero if unknown). The staged kernel running counts as verified
// only when it came up through this attempt's kexec (notOurKexec): its
// command line carries the attempt marker that was loaded, and on x86 the
// boot loader type says kexec.
func JudgeSwitch(staged state.Staged, running host.Running, now, userspace time.Time) state.Attempt {
	a := attemptOf(staged, now)
	runningKernel := state.Kernel{Release: running.Release, Build: running.Build}
	queued := staged.CurrentPhase() == state.PhaseQueued
	switch {
	case running.BootID == staged.OldBootID:
		a.Outcome, a.Kind = state.OutcomeFailed, state.FailNoReboot
		a.Reason = "the system did not restart after kexec.target was queued (still boot " + running.BootID + ")"
	case runningKernel == staged.To && notOurKexec(staged, running) != "":
		a.Outcome, a.Kind = state.OutcomeFailed, state.FailFirmwareReboot
		a.Reason = notOurKexec(staged, running)
	case runningKernel == staged.To:
		a.Outcome = state.OutcomeVerified
		if !staged.QueuedAt.IsZero() && !userspace.IsZero() && userspace.After(staged.QueuedAt) {
			secs := userspace.Sub(staged.QueuedAt).Seconds()
			a.DurationSeconds = &secs
		}
	case !queued:
		// The system restarted before the switch was asked for: the
		// kernel was never tried, so this says nothing about it.
		a.Outcome, a.Kind = state.OutcomeInterrupted, state.FailKilled
		a.Reason = fmt.Sprintf("the system restarted (now %s) before the switch to %s was queued: attempt %s was interrupted", running.Release, staged.To.Release, staged.ID)
	case runningKernel == staged.From:
		a.Outcome, a.Kind = state.OutcomeFailed, state.FailOldKernel
		a.Reason = fmt.Sprintf("the old kernel %s came back up instead of %s", running.Release, staged.To.Release)
	default:
		a.Outcome, a.Kind = state.OutcomeFailed, state.FailOtherKernel
		a.Reason = fmt.Sprintf("%s (%s) is running, neither the staged %s nor the old %s", running.Release, running.Build, staged.To.Release, staged.From.Release)
	}
	return a
}

// notOurKexec says why the staged kernel, found running, did not come up
// through this attempt's kexec, or "" when it did. Two proofs, where they
// exist: the boot loader type in boot_params (x86 only: 0xD0 after a
// kexec; LoaderType -1 elsewhere), and the attempt marker
// (kexec_upgrade.attempt=) of the command line that was loaded, which a
// firmware reboot's boot loader line lacks. Both must agree. A switch
// staged without a marker (by an older version) has the loader type alone.
func notOurKexec(staged state.Staged, running host.Running) string {
	loaderKnown := running.LoaderType >= 0
	viaKexec := running.LoaderType == host.LoaderKexec
	want, marked := kernel.AttemptOf(staged.Cmdline)
	got, found := kernel.AttemptOf(running.Cmdline)
	switch {
	case !marked && loaderKnown && !viaKexec:
		return fmt.Sprintf("%s is running, but it came up through a firmware reboot (boot loader type 0x%02x, not 0x%02x): the kexec itself failed", running.Release, running.LoaderType, host.LoaderKexec)
	case marked && found && got == want && loaderKnown && !viaKexec:
		return fmt.Sprintf("%s is running with this attempt's %s=%s, but the boot loader type is 0x%02x, not 0x%02x: the proofs disagree, so it counts as a firmware reboot", running.Release, kernel.AttemptParam, want, running.LoaderType, host.LoaderKexec)
	case !marked || found && got == want:
		return ""
	}
	what := "has no " + kernel.AttemptParam + "= marker"
	if found {
		what = fmt.Sprintf("carries %s=%s, not this attempt's %s", kernel.AttemptParam, got, want)
	}
	if loaderKnown && viaKexec {
		return fmt.Sprintf("%s is running, but its command line %s while the boot loader type says kexec (0x%02x): it came up through some other kexec, not attempt %s", running.Release, what, host.LoaderKexec, want)
	}
	return fmt.Sprintf("%s is running, but its command line %s: it came up through a firmware reboot (the boot loader's command line), so the kexec itself failed", running.Release, what)
}
