package upgrade

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// trialConfig is the configuration the trial is judged with; the defaults
// when it is invalid (the gate still checks systemd's state and deadline).
func trialConfig(env Env) config.Config {
	cfg, err := config.Load(env.Root, env.Config)
	if err != nil {
		return config.Default()
	}
	return cfg
}

// bootUp is when this boot's userspace started, or now when unknown.
func bootUp(boot systemd.BootTimes, now time.Time) time.Time {
	if boot.Userspace.IsZero() {
		return now
	}
	return boot.Userspace
}

// settleTrialBoot handles the first look after a switch that had a trial
// (phase armed): the new kernel up through this attempt's kexec starts
// the health gate; the old kernel back up through the firmware is a failed
// trial; anything else ends as JudgeSwitch said, with the trial's setup
// taken back.
func settleTrialBoot(ctx context.Context, env Env, st *state.State, staged state.Staged, running host.Running, v state.Attempt, boot systemd.BootTimes) (*state.Attempt, error) {
	t := *staged.Trial
	t.SwitchedAt = staged.QueuedAt
	now := env.Now()
	switch {
	case v.Outcome == state.OutcomeVerified:
		cfg := trialConfig(env)
		t.Phase, t.NewBootID, t.UpAt = state.TrialWaiting, running.BootID, bootUp(boot, now)
		t.Deadline = t.UpAt.Add(cfg.Health.Deadline)
		sw := v
		t.Switch = &sw
		st.Staged.Trial = &t
		if err := state.Save(env.Root, *st); err != nil {
			return nil, err
		}
		send(env, trialEvent(v, "up", fmt.Sprintf("trial boot: %s is up; the health gate decides by %s", v.To.Release, t.Deadline.UTC().Format(time.RFC3339))))
		return judgeTrial(ctx, env, st, cfg)
	case v.Outcome == state.OutcomeFailed && v.Kind == state.FailOldKernel:
		t.BackAt = bootUp(boot, now)
		v.Kind = state.FailTrialFirmware
		via := "the firmware"
		if t.FallbackEntry != "" {
			via = "the firmware and GRUB's one-shot entry " + t.FallbackEntry
		}
		v.Reason = fmt.Sprintf("%s never reached a healthy state: the machine came back on %s through %s (%s)", staged.To.Release, staged.From.Release, via, v.Reason)
	case v.Kind == state.FailNoReboot:
		undoTrialSetup(env, &staged)
	}
	clearFallback(env, &t)
	v.Trial = &t
	return recordJudgement(env, st, v)
}

// settleTrial continues a trial the new kernel has reached: the gate in
// the same boot, a restart during the trial, or a rollback's outcome.
func settleTrial(ctx context.Context, env Env, st *state.State, staged state.Staged, running host.Running) (*state.Attempt, error) {
	t := staged.Trial
	if t.Phase == state.TrialRollingBack {
		return settleRollback(ctx, env, st, staged, running)
	}
	if running.BootID == t.NewBootID {
		return judgeTrial(ctx, env, st, trialConfig(env))
	}
	// The machine restarted before the gate passed: a watchdog or panic
	// reset, or an admin's reboot. Either way the build did not prove
	// itself.
	now := env.Now()
	a := attemptOf(staged, now)
	tt := *t
	tt.BackAt = now
	a.Outcome = state.OutcomeFailed
	if running.Release == staged.From.Release && running.Build == staged.From.Build {
		a.Kind = state.FailTrialFirmware
		a.Reason = fmt.Sprintf("%s was up (since %s) but the machine restarted before its health gate passed (%s) and came back on %s through the firmware",
			staged.To.Release, t.UpAt.UTC().Format(time.RFC3339), orNone(t.Waiting), staged.From.Release)
	} else {
		a.Kind = state.FailTrialRestarted
		a.Reason = fmt.Sprintf("the machine restarted during the trial of %s (health gate: %s); now %s is running", staged.To.Release, orNone(t.Waiting), running.Release)
	}
	clearFallback(env, &tt)
	a.Trial = &tt
	return recordJudgement(env, st, a)
}

func orNone(s string) string {
	if s == "" {
		return "not yet judged"
	}
	return s
}

// judgeTrial runs the health gate in the new kernel's boot.
func judgeTrial(ctx context.Context, env Env, st *state.State, cfg config.Config) (*state.Attempt, error) {
	t := st.Staged.Trial
	in := HealthInputs{Config: cfg.Health, BootedAt: t.UpAt}
	bus, err := env.Connect(ctx)
	if err != nil {
		bus = nil
		in.SystemStateErr, in.UnitsErr = err, err
	} else {
		defer bus.Close()
		in.SystemState, in.SystemStateErr = bus.SystemState(ctx)
		if len(cfg.Health.Units) > 0 {
			if tb, ok := bus.(TrialBus); ok {
				in.Units, in.UnitsErr = tb.UnitStates(ctx, cfg.Health.Units)
			} else {
				in.UnitsErr = errors.New("units cannot be asked over this connection")
			}
		}
	}
	if len(cfg.Health.Command) > 0 {
		in.Command = runHealthCommand(ctx, cfg.Health.Command, cfg.Hooks.Timeout)
	}
	now := env.Now()
	v := JudgeHealth(in, now)
	switch v.State {
	case HealthHealthy:
		return trialHealthy(ctx, env, st)
	case HealthUnhealthy:
		return rollBack(ctx, env, st, bus, v.Reason)
	}
	changed := t.Waiting != v.Reason
	t.Waiting = v.Reason
	if err := state.Save(env.Root, *st); err != nil {
		return nil, err
	}
	a := attemptOf(*st.Staged, now)
	a.Outcome, a.Reason, a.Trial = state.OutcomeTrial, v.Reason, t
	if changed {
		send(env, trialEvent(a, "waiting", fmt.Sprintf("trial boot of %s: health gate waiting: %s", a.To.Release, v.Reason)))
	}
	if bus != nil {
		at := TrialNextCheck(*t, now)
		if err := bus.ArmRun(ctx, fmt.Sprintf("kexec-upgrade-trial-%d", at.Unix()), at); err != nil {
			fmt.Fprintf(os.Stderr, "kexec-upgrade: the health gate is checked again at the next timer run: %v\n", err)
		}
	}
	return &a, nil
}

// trialHealthy ends a trial whose gate passed: the one-shot entry is
// cleared and the switch recorded as verified, then post-switch hooks run.
func trialHealthy(ctx context.Context, env Env, st *state.State) (*state.Attempt, error) {
	t := *st.Staged.Trial
	t.HealthyAt, t.Waiting = env.Now(), ""
	clearFallback(env, &t)
	disarmWatchdog(ctx, env, &t)
	a := attemptOf(*st.Staged, env.Now())
	a.Outcome = state.OutcomeVerified
	if t.Switch != nil {
		a = *t.Switch
	}
	if a.Phases != nil {
		p := WithGateReady(*a.Phases, t.UpAt, t.HealthyAt)
		a.Phases = &p
	}
	t.Switch = nil
	a.Trial = &t
	send(env, trialEvent(a, "healthy", fmt.Sprintf("trial boot of %s: healthy after %s; GRUB's one-shot entry cleared", a.To.Release, t.HealthyAt.Sub(t.UpAt).Round(time.Second))))
	rec, err := recordJudgement(env, st, a)
	if err != nil {
		return rec, err
	}
	return rec, runPostSwitchHooks(ctx, env, st, *rec)
}

// rollBack switches back by kexec to the last verified kernel (the
// attempt's from release, through the same image checks as a switch) with
// the command line it ran with. The intent is recorded before each
// effect; the next boot's run verifies the result (settleRollback).
func rollBack(ctx context.Context, env Env, st *state.State, bus Bus, reason string) (*state.Attempt, error) {
	staged := st.Staged
	t := staged.Trial
	now := env.Now()
	t.DetectedAt, t.Unhealthy, t.Phase = now, reason, state.TrialRollingBack
	id := plan.AttemptID(now, staged.From.Release)
	old := t.OldCmdline
	if t.WatchdogCmdline {
		old, _ = WithWatchdogSec(old, time.Duration(t.WatchdogSeconds*float64(time.Second)))
	}
	cmdline, err := kernel.WithAttempt(old, id)
	t.Rollback = &state.Rollback{ID: id, Cmdline: cmdline}
	if err := state.Save(env.Root, *st); err != nil {
		return nil, err
	}
	a := attemptOf(*staged, now)
	send(env, trialEvent(a, "unhealthy", fmt.Sprintf("trial boot of %s failed its health gate: %s; switching back to %s by kexec", staged.To.Release, reason, staged.From.Release)))
	if err != nil {
		return rollbackFailed(env, st, err.Error())
	}
	r := staged.From.Release
	target := plan.Target{Candidate: plan.Candidate{Release: r, Files: host.BootFiles{Image: "/boot/vmlinuz-" + r, Initrd: "/boot/initrd.img-" + r}}, Build: staged.From.Build}
	files, err := openBootFiles(env.Root, target)
	if err != nil {
		return rollbackFailed(env, st, err.Error())
	}
	defer files.Close()
	if err := env.Loader.Load(files.image, files.initrd, cmdline); err != nil {
		return rollbackFailed(env, st, err.Error())
	}
	if loaded, err := env.Loader.Loaded(); err != nil || !loaded {
		return rollbackFailed(env, st, "the kernel reports nothing staged after the load")
	}
	if bus == nil {
		if bus, err = env.Connect(ctx); err != nil {
			return rollbackFailed(env, st, err.Error())
		}
		defer bus.Close()
	}
	if t.Watchdog != "" {
		// The values to go back to are the first boot's, not this one's.
		prevK, prevR := t.PrevKExecWatchdogSeconds, t.PrevRuntimeWatchdogSeconds
		if err := armWatchdog(ctx, bus, t); err != nil {
			fmt.Fprintf(os.Stderr, "kexec-upgrade: the rollback runs without the watchdog: %v\n", err)
		}
		t.PrevKExecWatchdogSeconds, t.PrevRuntimeWatchdogSeconds = prevK, prevR
	}
	t.Rollback.QueuedAt = env.Now()
	if err := state.Save(env.Root, *st); err != nil {
		return rollbackFailed(env, st, err.Error())
	}
	wctx := context.WithoutCancel(ctx)
	if err := bus.StartKexec(wctx); err != nil {
		if queued, qerr := bus.KexecQueued(wctx); qerr != nil || !queued {
			return rollbackFailed(env, st, err.Error())
		}
	}
	a.Outcome, a.Reason, a.Trial = state.OutcomeTrial, "rolling back: "+reason, t
	return &a, nil
}

// rollbackFailed ends a trial whose rollback could not be done: the build
// is quarantined, whatever was staged is unloaded, and GRUB's one-shot
// entry stays, so the next firmware boot comes up on the old kernel.
func rollbackFailed(env Env, st *state.State, why string) (*state.Attempt, error) {
	staged := st.Staged
	t := *staged.Trial
	if t.Rollback != nil {
		t.Rollback.Error = why
	}
	if loaded, _ := env.Loader.Loaded(); loaded {
		if err := env.Loader.Unload(); err != nil {
			why += "; unload: " + err.Error()
		}
	}
	a := attemptOf(*staged, env.Now())
	a.Outcome, a.Kind, a.Trial = state.OutcomeFailed, state.FailRollback, &t
	a.Reason = fmt.Sprintf("%s failed its health gate (%s); switching back to %s by kexec failed: %s; a reboot comes up on %s",
		staged.To.Release, t.Unhealthy, staged.From.Release, why, fallbackTarget(t, staged.From.Release))
	return recordJudgement(env, st, a)
}

func fallbackTarget(t state.Trial, from string) string {
	if t.FallbackEntry != "" {
		return from + " (GRUB's one-shot entry)"
	}
	return "GRUB's default entry"
}

// settleRollback verifies the switch back: the old kernel, a new boot, the
// rollback's attempt marker (and kexec's loader byte where it exists).
func settleRollback(ctx context.Context, env Env, st *state.State, staged state.Staged, running host.Running) (*state.Attempt, error) {
	t := *staged.Trial
	rb := t.Rollback
	if running.BootID == t.NewBootID {
		bus, err := env.Connect(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: cannot ask systemd (%v)", ErrSwitchUnderWay, err)
		}
		s, err := bus.SystemState(ctx)
		bus.Close()
		if err != nil || s == "stopping" {
			return nil, ErrSwitchUnderWay
		}
		return rollbackFailed(env, st, "the system did not restart after kexec.target was queued")
	}
	var boot systemd.BootTimes
	if bus, err := env.Connect(ctx); err == nil {
		boot, _ = bus.BootTimes(ctx)
		bus.Close()
	}
	now := env.Now()
	t.BackAt = bootUp(boot, now)
	a := attemptOf(staged, now)
	a.Trial = &t
	back := running.Release == staged.From.Release && running.Build == staged.From.Build
	why := ""
	if rb != nil {
		why = notOurKexec(state.Staged{Cmdline: rb.Cmdline}, running)
	}
	switch {
	case back && rb != nil && why == "":
		a.Outcome, a.Kind = state.OutcomeRolledBack, state.FailUnhealthy
		a.Reason = fmt.Sprintf("%s failed its health gate (%s); switched back by kexec to %s and verified it (boot %s)%s",
			staged.To.Release, t.Unhealthy, staged.From.Release, running.BootID, RoundTripOutage(t))
	case back:
		a.Outcome, a.Kind = state.OutcomeFailed, state.FailTrialFirmware
		a.Reason = fmt.Sprintf("%s failed its health gate (%s); the rollback kexec did not come up, the machine came back on %s through the firmware: %s",
			staged.To.Release, t.Unhealthy, staged.From.Release, why)
	default:
		a.Outcome, a.Kind = state.OutcomeFailed, state.FailRollback
		a.Reason = fmt.Sprintf("%s failed its health gate (%s); after the rollback %s is running, not %s", staged.To.Release, t.Unhealthy, running.Release, staged.From.Release)
	}
	clearFallback(env, &t)
	if a.Outcome == state.OutcomeRolledBack {
		disarmWatchdog(ctx, env, &t)
	}
	return recordJudgement(env, st, a)
}

// trialEvent is a journal entry of a trial's step.
func trialEvent(a state.Attempt, step, message string) systemd.Event {
	f := attemptFields(a)
	f["TRIAL"] = step
	return systemd.Event{Kind: systemd.EventTrial, Message: message, Fields: f}
}

// runHealthCommand runs [health] command (no shell) in its own process
// group, killed with it at the timeout, and keeps its last line of output.
func runHealthCommand(ctx context.Context, argv []string, timeout time.Duration) *CommandResult {
	if timeout <= 0 {
		timeout = config.DefaultHealthCommandTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	res := &CommandResult{Output: lastLine(out.String())}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		res.ExitCode, res.Err = -1, fmt.Sprintf("killed after %s", timeout)
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		res.ExitCode = exit.ExitCode()
	default:
		res.ExitCode, res.Err = -1, err.Error()
	}
	return res
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "?")
}

// RoundTripOutage says how long a rolled-back trial kept the machine down:
// kexec.target queued to the new kernel's userspace, and the rollback
// queued to the old kernel's; "" when neither is known. It is pure.
func RoundTripOutage(t state.Trial) string {
	var parts []string
	if !t.SwitchedAt.IsZero() && t.UpAt.After(t.SwitchedAt) {
		parts = append(parts, "the switch "+t.UpAt.Sub(t.SwitchedAt).Round(100*time.Millisecond).String())
	}
	if rb := t.Rollback; rb != nil && !rb.QueuedAt.IsZero() && t.BackAt.After(rb.QueuedAt) {
		parts = append(parts, "the rollback "+t.BackAt.Sub(rb.QueuedAt).Round(100*time.Millisecond).String())
	}
	if len(parts) == 0 {
		return ""
	}
	return "; outages: " + strings.Join(parts, ", ")
}
