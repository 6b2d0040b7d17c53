package upgrade

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
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
	out, err := runLocked(ctx, env, force)
	if !out.Report.Now.IsZero() {
		writeMetrics(env, out.Report)
	}
	return out, err
}

// runLocked is Run without the metrics: the steps under the run lock.
func runLocked(ctx context.Context, env Env, force bool) (Outcome, error) {
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
		attempt, err := settlePreviousSwitch(ctx, env, &st)
		if err != nil {
			return out, err
		}
		out.Verified = attempt
	}

	if stErr == nil && expirePause(env, &st) {
		if err := state.Save(env.Root, st); err != nil {
			return out, err
		}
	}

	r, err := Assess(ctx, env, force)
	if err != nil {
		return out, err
	}
	if r, err = assessAtOpening(ctx, env, force, r); err != nil {
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
	if d.Notice != nil && r.StateErr == nil {
		sendNotice(ctx, env, &st, d)
	}
	if d.Action != plan.Switch || st.InTrial() {
		// A trial's health gate decides before anything else switches.
		// Without a readable state there is nothing to deduplicate against:
		// a corrupt state file is logged every run until an admin fixes it.
		if r.StateErr != nil || decisionChanged(st.Decision, d) {
			send(env, decisionEvent(r))
			st.Decision = &state.Decision{Action: string(d.Action), Check: d.Check, Reason: d.Reason, Target: targetKernel(d), At: r.Now}
		}
		if r.StateErr == nil {
			armNextRun(ctx, env, &st, r)
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

// assessAtOpening waits for a window (or this host's turn) that opens at
// most plan.EarlyStart after r was made, and assesses the host again then:
// the run armed EarlyStart early has started and read the host by the
// opening, and decides at it. Otherwise, or when the wait is cut short (the
// service is stopped), it returns r.
func assessAtOpening(ctx context.Context, env Env, force bool, r Report) (Report, error) {
	until, ok := plan.WaitForOpening(r.Decision, r.Now)
	if !ok || env.WaitUntil == nil || !env.WaitUntil(ctx, until) {
		return r, nil
	}
	return Assess(ctx, env, force)
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
