package plan

import (
	"fmt"
	"time"
)

// BusyRetry is how soon a run looks again while dpkg or apt holds their
// locks: the package manager usually lets go within seconds, and a kernel
// installed inside an open window should switch soon after it does.
const BusyRetry = 20 * time.Second

// EarlyStart is how long before a window (or this host's slot) opens the
// run armed for it starts: time for systemd to start it and for it to read
// the host, so that it decides at the opening and not seconds after. The
// run waits for the opening (WaitForOpening) and decides again then.
const EarlyStart = 10 * time.Second

// NextRun says when a run should look again after decision d, and why; zero
// when nothing will change by itself (the packaged timer keeps looking every
// five minutes anyway). A window's opening is looked at EarlyStart before
// it, unless that moment has passed. It is pure.
func NextRun(d Decision, in Inputs) (time.Time, string) {
	if !d.New || d.Action == UpToDate {
		return time.Time{}, ""
	}
	if in.LockHolder != "" && in.LockErr == nil {
		return in.Now.Add(BusyRetry), "the package manager is busy (" + in.LockHolder + ")"
	}
	if d.Action != Postpone || !d.RetryAt.After(in.Now) {
		return time.Time{}, ""
	}
	if early := d.RetryAt.Add(-EarlyStart); d.Check == CheckWindow && early.After(in.Now) {
		return early, fmt.Sprintf("the window (or this host's turn) opens %s later; the run starts early and waits for it", EarlyStart)
	}
	return d.RetryAt, fmt.Sprintf("%s may pass then", d.Check)
}

// WaitForOpening says whether a run that decided d at now should wait for
// the window to open and decide again then, and until when: when the
// window (or slot) keeps it from switching and opens at most EarlyStart
// later. It is pure.
func WaitForOpening(d Decision, now time.Time) (time.Time, bool) {
	if !d.New || d.Action != Postpone || d.Check != CheckWindow {
		return time.Time{}, false
	}
	if !d.RetryAt.After(now) || d.RetryAt.Sub(now) > EarlyStart {
		return time.Time{}, false
	}
	return d.RetryAt, true
}
