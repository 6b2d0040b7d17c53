package plan

import (
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/window"
)

// spreadMachineID is a machine-id whose offset in a 30m spread is 11m29s
// (pinned in the window package's tests).
const spreadMachineID = "0d7d1d5e5c2a4f0b9b0e8a7c6d5e4f30"

// withSpread gives the weekend window a spread and a margin, and the host
// the machine-id above.
func withSpread(spread, margin time.Duration) func(*Inputs) {
	return func(in *Inputs) {
		w := weekendWindow()
		w.Spread, w.Margin = spread, margin
		in.Config.Windows = window.Schedule{w}
		in.Facts.MachineID = spreadMachineID
	}
}

func TestPlan_spreadAndMargin(t *testing.T) {
	opening := time.Date(2026, 3, 28, 1, 0, 0, 0, time.UTC) // Sat 02:00 CET
	tests := []struct {
		name    string
		now     time.Time
		spread  time.Duration
		margin  time.Duration
		action  Action
		detail  string
		retryAt time.Time
	}{
		{
			name: "before this host's turn", now: opening.Add(5 * time.Minute), spread: 30 * time.Minute, margin: 5 * time.Minute,
			action: Postpone, retryAt: opening.Add(11*time.Minute + 29*time.Second),
			detail: "maintenance window open, but this host's turn comes at Sat 2026-03-28 02:11 CET (01:11 UTC) (offset 11m29s into its 30m spread)",
		},
		{
			name: "at this host's turn", now: opening.Add(11*time.Minute + 29*time.Second), spread: 30 * time.Minute, margin: 5 * time.Minute,
			action: Switch,
			detail: "open until Sat 2026-03-28 04:00 CET (03:00 UTC); switches start until Sat 2026-03-28 03:55 CET (02:55 UTC)",
		},
		{
			name: "inside the margin", now: opening.Add(117 * time.Minute), spread: 30 * time.Minute, margin: 5 * time.Minute,
			action: Postpone, retryAt: time.Date(2026, 3, 29, 1, 11, 29, 0, time.UTC), // 02:00 is skipped that night: 03:11:29 CEST
			detail: "maintenance window closes at Sat 2026-03-28 04:00 CET (03:00 UTC): too close to start a switch (margin 5m); next opens Sun 2026-03-29 03:00 CEST (01:00 UTC), this host's turn comes at Sun 2026-03-29 03:11 CEST (01:11 UTC) (offset 11m29s into its 30m spread)",
		},
		{
			name: "closed, no spread", now: midweek, margin: 5 * time.Minute,
			action: Postpone, retryAt: opening,
			detail: "maintenance window closed; next opens Sat 2026-03-28 02:00 CET (01:00 UTC)",
		},
		{
			name: "closed, with spread", now: midweek, spread: 30 * time.Minute,
			action: Postpone, retryAt: opening.Add(11*time.Minute + 29*time.Second),
			detail: "maintenance window closed; next opens Sat 2026-03-28 02:00 CET (01:00 UTC), this host's turn comes at Sat 2026-03-28 02:11 CET (01:11 UTC) (offset 11m29s into its 30m spread)",
		},
		{
			name: "margin without spread", now: opening.Add(118 * time.Minute), margin: 5 * time.Minute,
			action: Postpone, retryAt: time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC),
			detail: "maintenance window closes at Sat 2026-03-28 04:00 CET (03:00 UTC): too close to start a switch (margin 5m); next opens Sun 2026-03-29 03:00 CEST (01:00 UTC)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Plan(inputs(withNow(tt.now), withSpread(tt.spread, tt.margin)))
			if d.Action != tt.action {
				t.Errorf("action = %s (%s), want %s", d.Action, d.Reason, tt.action)
			}
			if got := step(t, d, CheckWindow).Detail; got != tt.detail {
				t.Errorf("window step:\n got  %s\n want %s", got, tt.detail)
			}
			if !d.RetryAt.Equal(tt.retryAt) {
				t.Errorf("RetryAt = %v, want %v", d.RetryAt, tt.retryAt)
			}
		})
	}
}

func TestPlan_spreadIgnoredByRunNow(t *testing.T) {
	d := Plan(inputs(withNow(time.Date(2026, 3, 28, 1, 5, 0, 0, time.UTC)), withSpread(30*time.Minute, 5*time.Minute), func(in *Inputs) { in.Force = true }))
	if d.Action != Switch {
		t.Errorf("run --now before this host's turn = %s (%s), want switch", d.Action, d.Reason)
	}
}
