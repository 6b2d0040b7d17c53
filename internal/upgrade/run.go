package upgrade

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kexec"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// ErrSwitchUnderWay is returned when a queued switch is still in progress.
var ErrSwitchUnderWay = errors.New("a switch is under way (the system is stopping for kexec)")

// ErrConfig is returned (wrapped) when the run stopped on a bad configuration.
var ErrConfig = errors.New("invalid configuration")

// ErrPostponed matches an ActErr that postponed the switch (a moment's
// check failed again just before it) rather than failing it.
var ErrPostponed = errors.New("postponed")

type postponedError struct{ reason string }

func (e postponedError) Error() string        { return e.reason }
func (e postponedError) Is(target error) bool { return target == ErrPostponed }

// Outcome is what Run did, for the command's output.
type Outcome struct {
	Report Report
	// Verified is the attempt recorded by the verification step, if any.
	Verified *state.Attempt
	// Switching is true when kexec.target was queued.
	Switching bool
	// ActErr is why a planned switch did not start.
	ActErr error
}

// Run is one timer tick: take the lock, verify a previous switch, plan, record
// the decision if it changed, act on a switch, and write the metrics.
func Run(ctx context.Context, env Env, force bool) (Outcome, error) {
	out, err := run(ctx, env, force)
	if !out.Report.Now.IsZero() {
		writeMetrics(env, out.Report)
	}
	return out, err
}

func run(ctx context.Context, env Env, force bool) (Outcome, error) {
	var out Outcome
	unlock, err := lock(env.Root)
	if err != nil {
		return out, err
	}
	defer unlock()

	// Verification comes first and does not depend on the configuration.
	st, stErr := state.Load(env.Root)
	if stErr != nil && force {
		if _, err := state.MoveAside(env.Root); err != nil {
			return out, err
		}
		st, stErr = state.State{Version: state.FormatVersion}, nil
	}
	if stErr == nil && st.Staged != nil {
		attempt, err := verify(ctx, env, &st)
		if err != nil {
			return out, err
		}
		out.Verified = attempt
	}

	r, err := Assess(ctx, env, force)
	if err != nil {
		return out, err
	}
	out.Report = r
	if r.StateErr == nil {
		st = mergeCache(st, r)
		// A slot held since before this boot is given back first (a failed
		// switch keeps it, to stop the fleet's rollout).
		releaseSlot(ctx, env, &st)
	}
	d := r.Decision
	if d.Action != plan.Switch {
		// Without a readable state there is nothing to deduplicate against:
		// a corrupt state file is logged every run until an admin fixes it.
		if r.StateErr != nil || decisionChanged(st.Decision, d) {
			send(env, decisionEvent(r))
			st.Decision = &state.Decision{Action: string(d.Action), Check: d.Check, Reason: d.Reason, Target: targetKernel(d), At: r.Now}
		}
		if r.StateErr == nil {
			if err := state.Save(env.Root, st); err != nil {
				return out, err
			}
		}
		if r.ConfigErr != nil {
			return out, fmt.Errorf("%w: %s", ErrConfig, firstError(r.ConfigErr))
		}
		return out, nil
	}
	last := st.Decision
	st.Decision = &state.Decision{Action: string(d.Action), Target: targetKernel(d), At: r.Now}
	if d.Forced {
		st.ClearFailure(targetKernel(d)) // the admin's explicit retry
	}
	out.ActErr = act(ctx, env, &st, r, last)
	out.Switching = out.ActErr == nil
	return out, nil
}

func mergeCache(st state.State, r Report) state.State {
	if r.ImageCheck != nil {
		st.CacheImage(*r.ImageCheck)
	}
	return st
}

func targetKernel(d plan.Decision) state.Kernel {
	if d.Target == nil {
		return state.Kernel{}
	}
	return state.Kernel{Release: d.Target.Release, Build: d.Target.Build}
}

// decisionChanged tells whether a decision differs from the last one logged
// in a way worth a journal line: another action, check or target, or (for
// a closed window) another opening.
func decisionChanged(last *state.Decision, d plan.Decision) bool {
	if last == nil {
		return true
	}
	if last.Action != string(d.Action) || last.Check != d.Check || last.Target != targetKernel(d) {
		return true
	}
	switch d.Check {
	case plan.CheckUptime:
		return false // the uptime in the reason grows every run
	default:
		return last.Reason != d.Reason
	}
}

func decisionEvent(r Report) systemd.Event {
	d := r.Decision
	e := systemd.Event{Message: d.Reason, Fields: map[string]string{"REASON": d.Reason, "CHECK": d.Check}}
	addKernels(e.Fields, r.Facts.Running, d.Target)
	switch {
	case r.ConfigErr != nil:
		e.Kind = systemd.EventConfigError
		e.Message = "configuration is invalid: " + r.ConfigErr.Error()
		e.Fields["REASON"] = r.ConfigErr.Error()
	case d.Action == plan.Postpone:
		e.Kind = systemd.EventPostponed
		e.Message = "postponed: " + d.Reason
		if !d.RetryAt.IsZero() {
			e.Fields["RETRY_AT"] = d.RetryAt.UTC().Format(time.RFC3339)
		}
	case d.Action == plan.Refuse:
		e.Kind = systemd.EventRefused
		e.Message = "refused: " + d.Reason
	default:
		e.Kind = systemd.EventUpToDate
		e.Message = "up to date: " + d.Reason
	}
	return e
}

func addKernels(f map[string]string, running host.Running, t *plan.Target) {
	f["FROM"] = running.Release
	f["FROM_BUILD"] = running.Build
	if t != nil {
		f["TO"] = t.Release
		f["TO_BUILD"] = t.Build
	}
}

// send writes an event; a journal that cannot be written must not stop an
// upgrade decision, so the error goes to stderr (which also lands in the
// journal through the unit's stderr when journald is back).
func send(env Env, e systemd.Event) {
	if err := env.Journal.Send(e); err != nil {
		fmt.Fprintf(os.Stderr, "kexec-upgrade: %v (event %s: %s)\n", err, e.Kind, e.Message)
	}
}

func firstError(err error) string {
	s := err.Error()
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// verify compares the running kernel with the staged one and records the
// outcome. A switch still under way in this boot is left alone.
func verify(ctx context.Context, env Env, st *state.State) (*state.Attempt, error) {
	staged := *st.Staged
	running, err := host.ReadRunning(env.Root)
	if err != nil {
		return nil, err
	}
	var userspace time.Time
	if running.BootID == staged.OldBootID {
		// Same boot: either the system is stopping for the switch right now,
		// or the switch never happened. Ask systemd; when in doubt, wait.
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
		userspace, _ = bus.UserspaceStarted(ctx)
		bus.Close()
	}
	v := Verify(staged, running, env.Now(), userspace)
	if v.Outcome != state.OutcomeVerified {
		if loaded, _ := env.Loader.Loaded(); loaded && v.Kind == state.FailNoReboot {
			if err := env.Loader.Unload(); err != nil {
				v.Reason += "; unloading the staged kernel failed: " + err.Error()
			}
		}
		st.MarkFailed(v)
	}
	st.AddAttempt(v)
	st.Staged = nil
	if err := state.Save(env.Root, *st); err != nil {
		return nil, err
	}
	e := systemd.Event{Kind: systemd.EventVerified, Fields: attemptFields(v)}
	if v.Outcome == state.OutcomeVerified {
		e.Message = fmt.Sprintf("verified: now running %s, switched from %s", v.To, v.From)
		if v.DurationSeconds != nil {
			e.Message += fmt.Sprintf(" in %.1fs", *v.DurationSeconds)
		}
	} else {
		e.Kind = systemd.EventFailed
		e.Message = fmt.Sprintf("switch to %s failed (%s): %s", v.To.Release, v.Kind, v.Reason)
	}
	send(env, e)
	return &v, nil
}

// Verify decides the outcome of a staged switch from the running kernel; it
// is pure. userspace is when this boot's systemd started (zero if unknown).
func Verify(staged state.Staged, running host.Running, now, userspace time.Time) state.Attempt {
	// An attempt is dated by when the switch started, not when it was verified.
	at := staged.QueuedAt
	if at.IsZero() {
		at = staged.StagedAt
	}
	if at.IsZero() {
		at = now
	}
	a := state.Attempt{ID: staged.ID, At: at, From: staged.From, To: staged.To, Forced: staged.Forced}
	runningKernel := state.Kernel{Release: running.Release, Build: running.Build}
	switch {
	case running.BootID == staged.OldBootID:
		a.Outcome, a.Kind = state.OutcomeFailed, state.FailNoReboot
		a.Reason = "the system did not restart after kexec.target was queued (still boot " + running.BootID + ")"
	case runningKernel == staged.To && running.LoaderType >= 0 && running.LoaderType != host.LoaderKexec:
		a.Outcome, a.Kind = state.OutcomeFailed, state.FailFirmwareReboot
		a.Reason = fmt.Sprintf("%s is running, but it came up through a firmware reboot (boot loader type 0x%02x, not 0x%02x): the kexec itself failed", running.Release, running.LoaderType, host.LoaderKexec)
	case runningKernel == staged.To:
		a.Outcome = state.OutcomeVerified
		if !staged.QueuedAt.IsZero() && !userspace.IsZero() && userspace.After(staged.QueuedAt) {
			secs := userspace.Sub(staged.QueuedAt).Seconds()
			a.DurationSeconds = &secs
		}
	case runningKernel == staged.From:
		a.Outcome, a.Kind = state.OutcomeFailed, state.FailOldKernel
		a.Reason = fmt.Sprintf("the old kernel %s came back up instead of %s", running.Release, staged.To.Release)
	default:
		a.Outcome, a.Kind = state.OutcomeFailed, state.FailOtherKernel
		a.Reason = fmt.Sprintf("%s (%s) is running, neither the staged %s nor the old %s", running.Release, running.Build, staged.To.Release, staged.From.Release)
	}
	return a
}

func attemptFields(a state.Attempt) map[string]string {
	f := map[string]string{
		"ATTEMPT": a.ID, "OUTCOME": a.Outcome, "KIND": a.Kind, "REASON": a.Reason,
		"FROM": a.From.Release, "FROM_BUILD": a.From.Build, "TO": a.To.Release, "TO_BUILD": a.To.Build,
		"AT": a.At.UTC().Format(time.RFC3339Nano),
	}
	if a.DurationSeconds != nil {
		f["DURATION"] = strconv.FormatFloat(*a.DurationSeconds, 'f', 3, 64)
	}
	if a.Forced {
		f["FORCED"] = "1"
	}
	return f
}

// act stages the planned kernel and queues kexec.target. Anything that goes
// wrong after the load unloads the kernel again: a staged kernel nobody will
// use would turn the admin's next plain reboot into a kexec. last is the
// decision logged before this run, so that a postponement repeated every run
// (the load busy, the image unreadable) is logged once.
func act(ctx context.Context, env Env, st *state.State, r Report, last *state.Decision) error {
	d := r.Decision
	t := d.Target
	now := env.Now()
	attempt := state.Attempt{
		ID: now.UTC().Format("20060102T150405.000000000Z") + "-" + t.Release, At: now, Forced: d.Forced,
		From: state.Kernel{Release: r.Facts.Running.Release, Build: r.Facts.Running.Build},
		To:   state.Kernel{Release: t.Release, Build: t.Build},
	}
	// tookSlot is set once the FleetLock server gave a slot: a switch that
	// does not start gives it back at once.
	tookSlot := false
	giveBack := func() {
		if tookSlot {
			releaseSlot(ctx, env, st)
		}
	}
	// fail records a failed attempt; lasting failures also mark the build.
	fail := func(kind, reason string, lasting bool) error {
		attempt.Outcome, attempt.Kind, attempt.Reason = state.OutcomeLoadFailed, kind, reason
		st.AddAttempt(attempt)
		if lasting {
			st.MarkFailed(attempt)
		}
		st.Staged = nil
		giveBack()
		st.Decision = &state.Decision{Action: "failed", Check: kind, Reason: reason, Target: attempt.To, At: now}
		if err := state.Save(env.Root, *st); err != nil {
			reason += "; " + err.Error()
		}
		send(env, systemd.Event{Kind: systemd.EventFailed, Message: fmt.Sprintf("switch to %s not started: %s", t.Release, reason), Fields: attemptFields(attempt)})
		return errors.New(reason)
	}
	// staged is set once the journal says a kernel was staged: from then on
	// a postponement is always logged, to say why no switch followed.
	staged := false
	postpone := func(check, reason string) error {
		st.Staged = nil
		giveBack()
		logIt := staged || decisionChanged(last, plan.Decision{Action: plan.Postpone, Check: check, Reason: reason, Target: t})
		if logIt {
			st.Decision = &state.Decision{Action: string(plan.Postpone), Check: check, Reason: reason, Target: attempt.To, At: now}
		} else {
			st.Decision = last
		}
		if err := state.Save(env.Root, *st); err != nil {
			reason += "; " + err.Error()
		}
		if logIt {
			send(env, systemd.Event{Kind: systemd.EventPostponed, Message: "postponed: " + reason,
				Fields: map[string]string{"CHECK": check, "REASON": reason, "FROM": attempt.From.Release, "TO": t.Release, "TO_BUILD": t.Build}})
		}
		return postponedError{reason}
	}

	// Re-check the image right before loading: dpkg may have replaced it.
	data, err := host.ReadImage(env.Root, t.Files.Image)
	if err != nil {
		return postpone(plan.CheckImage, err.Error())
	}
	img, err := kernel.ParseImage(data)
	if err != nil {
		return fail(plan.CheckImage, fmt.Sprintf("kernel image %s fails its check: %v", t.Files.Image, err), true)
	}
	if img.Release != t.Release || img.Build != t.Build {
		return postpone(plan.CheckImage, fmt.Sprintf("%s changed since it was checked (now %s %s)", t.Files.Image, img.Release, img.Build))
	}
	if fl := r.Config.FleetLock; fl.URL != "" {
		id, err := ResolveFleetIdentity(fl, r.Facts)
		if err != nil {
			return postpone(CheckFleetLock, err.Error())
		}
		if reason, err := takeSlot(ctx, env, st, id); err != nil {
			return postpone(CheckFleetLock, reason)
		}
		tookSlot = true
	}
	if ctx.Err() != nil {
		return postpone(plan.CheckSystemState, "kexec-upgrade was asked to stop before loading")
	}
	if err := env.Loader.Load(t.Files.Image, t.Files.Initrd, d.Cmdline); err != nil {
		unloadErr := env.Loader.Unload() // a failed load leaves an earlier image staged
		reason := err.Error()
		if unloadErr != nil {
			reason += "; unload: " + unloadErr.Error()
		}
		var le *kexec.LoadError
		if errors.As(err, &le) && errors.Is(le.Kind, kexec.ErrBusy) {
			return postpone(plan.CheckKexecAllowed, reason)
		}
		lasting := errors.As(err, &le) && le.Lasting()
		return fail(state.FailLoad, reason, lasting)
	}
	if loaded, err := env.Loader.Loaded(); err != nil || !loaded {
		reason := "the kernel reports nothing staged after kexec_file_load succeeded (/sys/kernel/kexec_loaded is not 1)"
		if err != nil {
			reason = err.Error()
		}
		env.Loader.Unload()
		return fail(state.FailLoad, reason, false)
	}
	st.Staged = &state.Staged{
		ID: attempt.ID, From: attempt.From, To: attempt.To, Image: t.Files.Image, Initrd: t.Files.Initrd,
		Cmdline: d.Cmdline, OldBootID: r.Facts.Running.BootID, StagedAt: now, Forced: d.Forced,
	}
	send(env, systemd.Event{Kind: systemd.EventStaged, Message: fmt.Sprintf("staged %s with command line %q", t.Release, d.Cmdline), Fields: attemptFields(attempt)})
	staged = true

	// The moment's checks again, just before the point of no return.
	unloadAnd := func(check, reason string) error {
		if err := env.Loader.Unload(); err != nil {
			reason += "; unload: " + err.Error()
		}
		return postpone(check, reason)
	}
	bus, err := env.Connect(ctx)
	if err != nil {
		return unloadAnd(plan.CheckSystemState, err.Error())
	}
	defer bus.Close()
	in := plan.Inputs{Now: env.Now(), Config: r.Config, Facts: r.Facts, Target: t, Force: d.Forced}
	in.SystemState, in.SystemStateErr = bus.SystemState(ctx)
	in.Inhibitors, in.InhibitorsErr = bus.Inhibitors(ctx)
	in.LockHolder, in.LockErr = env.LockHolder()
	if again := plan.Plan(in); again.Action != plan.Switch {
		return unloadAnd(again.Check, again.Reason)
	}
	if ctx.Err() != nil {
		return unloadAnd(plan.CheckSystemState, "kexec-upgrade was asked to stop before the switch")
	}
	queued := env.Now()
	st.Staged.QueuedAt = queued
	if err := state.Save(env.Root, *st); err != nil {
		return unloadAnd(plan.CheckState, err.Error())
	}
	switching := attemptFields(attempt)
	switching["QUEUED_AT"] = queued.UTC().Format(time.RFC3339Nano)
	send(env, systemd.Event{Kind: systemd.EventSwitching, Message: fmt.Sprintf("switching from %s to %s: starting kexec.target", attempt.From, attempt.To), Fields: switching})
	// Once systemd has the job, the SIGTERM that follows is the switch
	// happening: the call must not be cut short by our own cancellation.
	if err := bus.StartKexec(context.WithoutCancel(ctx)); err != nil {
		if uerr := env.Loader.Unload(); uerr != nil {
			err = fmt.Errorf("%w; unload: %v", err, uerr)
		}
		// Not the kernel's fault, but retrying would stage and unload it
		// every run of the window: mark it, run --now retries.
		return fail(state.FailStart, err.Error(), true)
	}
	return nil
}
