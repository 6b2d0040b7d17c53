package upgrade_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

// windowOpens is when windowConfig's window opens on fixedNow's day.
var windowOpens = time.Date(2026, 3, 28, 2, 0, 0, 0, time.UTC)

// TestRunWaitsForTheOpening: a run started less than plan.EarlyStart
// before the window opens (the run armed early for it) waits for the
// opening, decides again then and switches at it; when the wait is cut
// short it postpones as any run outside the window does, and arms the
// opening itself.
func TestRunWaitsForTheOpening(t *testing.T) {
	tests := []struct {
		name      string
		before    time.Duration // how long before the opening the run starts
		waitEnds  bool          // false: the service is stopped during the wait
		wantWait  bool
		wantSwich bool
	}{
		{"started_early_switches_at_the_opening", plan.EarlyStart - time.Second, true, true, true},
		{"wait_cut_short_postpones", time.Second, false, true, false},
		{"too_early_does_not_wait", plan.EarlyStart + time.Second, true, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.now = windowOpens.Add(-tc.before)
			env := r.env()
			var waited []time.Time
			env.WaitUntil = func(_ context.Context, until time.Time) bool {
				waited = append(waited, until)
				if tc.waitEnds {
					r.now = until
				}
				return tc.waitEnds
			}
			r.resetLog()
			out, err := upgrade.Run(context.Background(), env, false)
			calls := r.takeCalls()
			if err != nil {
				t.Fatalf("Run() error = %v", err)
			}
			if got := len(waited) == 1 && waited[0].Equal(windowOpens); got != tc.wantWait || len(waited) > 1 {
				t.Errorf("Run() waited until %v; want a wait for %v: %v", waited, windowOpens, tc.wantWait)
			}
			if out.Switching != tc.wantSwich {
				t.Fatalf("Run() = Switching %v (%s %s %q, ActErr %v); want %v", out.Switching, out.Report.Decision.Action, out.Report.Decision.Check, out.Report.Decision.Reason, out.ActErr, tc.wantSwich)
			}
			if tc.wantSwich {
				// The switch is decided at the opening: the attempt's time is
				// the opening's, and the calls end as any switch's.
				if at := r.state().Staged.StagedAt; !at.Equal(windowOpens) {
					t.Errorf("staged at %v; want the opening %v", at, windowOpens)
				}
				if len(calls) < len(switchCalls) || strings.Join(calls[len(calls)-len(switchCalls):], "\n") != strings.Join(switchCalls, "\n") {
					t.Errorf("Run() calls = %q; want them to end with a switch's %q", calls, switchCalls)
				}
				return
			}
			if d := out.Report.Decision; d.Action != plan.Postpone || d.Check != plan.CheckWindow {
				t.Errorf("Run() decision = %s %s; want postponed by the window", d.Action, d.Check)
			}
			armed := r.state().Armed
			wantArm := windowOpens.Add(-plan.EarlyStart)
			if !wantArm.After(r.now) {
				wantArm = windowOpens
			}
			if armed == nil || !armed.At.Equal(wantArm) {
				t.Errorf("armed run = %+v; want one at %v", armed, wantArm)
			}
		})
	}
}
