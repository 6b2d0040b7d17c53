package plan

import (
	"fmt"
	"time"
)

// BusyRetry is how soon a run looks again while the package manager holds
// its lock and a new kernel waits: the kernel's own installation is the
// usual holder, and the switch should follow it within seconds.
const BusyRetry = 20 * time.Second

// NextRun says when a run should look again after decision d, and why; zero
// when nothing will change by itself (the packaged timer keeps looking every
// five minutes anyway). It is pure.
func NextRun(d Decision, in Inputs) (time.Time, string) {
	if !d.New || d.Action == UpToDate {
		return time.Time{}, ""
	}
	if in.LockHolder != "" && in.LockErr == nil {
		return in.Now.Add(BusyRetry), "the package manager is busy (" + in.LockHolder + ")"
	}
	if d.Action == Postpone && d.RetryAt.After(in.Now) {
		return d.RetryAt, fmt.Sprintf("%s may pass then", d.Check)
	}
	return time.Time{}, ""
}
