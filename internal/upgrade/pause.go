package upgrade

import (
	"fmt"
	"os"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/textsafe"
)

// maxPauseReason caps an admin's pause reason.
const maxPauseReason = 256

// SetPause pauses automatic switches until until (zero: until Resume),
// durably, under the run lock, and logs it. run --now still switches.
func SetPause(env Env, until time.Time, reason string) (state.Pause, error) {
	now := env.Now()
	if !until.IsZero() && !until.After(now) {
		return state.Pause{}, fmt.Errorf("pause until %s: that is not in the future", plan.FormatTime(until))
	}
	p := state.Pause{Since: now, Until: until, Reason: textsafe.Line(reason, maxPauseReason)}
	err := withState(env, func(st *state.State) {
		st.Pause = &p
		send(env, pauseEvent("set", p, "automatic switches paused "+describePause(p)))
	})
	return p, err
}

// Resume ends a pause; it reports whether there was one.
func Resume(env Env) (bool, error) {
	was := false
	err := withState(env, func(st *state.State) {
		if st.Pause == nil {
			return
		}
		was = true
		send(env, pauseEvent("cleared", *st.Pause, "automatic switches resumed by an admin"))
		st.Pause = nil
	})
	return was, err
}

// expirePause clears a pause that ran out and logs it; it reports whether
// the state changed.
func expirePause(env Env, st *state.State) bool {
	p := st.Pause
	if p == nil || p.Until.IsZero() || env.Now().Before(p.Until) {
		return false
	}
	send(env, pauseEvent("expired", *p, "the pause ended at "+plan.FormatTime(p.Until)+": automatic switches resume"))
	st.Pause = nil
	return true
}

// describePause says until when, and why.
func describePause(p state.Pause) string {
	s := "until `kexec-upgrade resume`"
	if !p.Until.IsZero() {
		s = "until " + plan.FormatTime(p.Until)
	}
	if p.Reason != "" {
		s += ": " + p.Reason
	}
	return s
}

func pauseEvent(what string, p state.Pause, msg string) systemd.Event {
	f := map[string]string{"PAUSE": what, "REASON": p.Reason, "PAUSE_SINCE": p.Since.UTC().Format(time.RFC3339)}
	if !p.Until.IsZero() {
		f["PAUSE_UNTIL"] = p.Until.UTC().Format(time.RFC3339)
	}
	return systemd.Event{Kind: systemd.EventPause, Message: msg, Fields: f}
}

// withState changes the state file under the run lock. A corrupt state
// file is an error: an admin's command must not silently replace it.
func withState(env Env, change func(*state.State)) error {
	unlock, err := lockWaiting(env.Root, adminLockWait, func() {
		fmt.Fprintln(os.Stderr, "kexec-upgrade: waiting for the run in progress to end…")
	})
	if err != nil {
		return err
	}
	defer unlock()
	st, err := state.Load(env.Root)
	if err != nil {
		return err
	}
	change(&st)
	return state.Save(env.Root, st)
}
