package plan

import (
	"testing"
	"time"
)

func TestNextRun(t *testing.T) {
	tests := []struct {
		name string
		in   Inputs
		want time.Time
	}{
		{"switch_now_arms_nothing", inputs(), time.Time{}},
		{"window_closed_arms_the_opening", inputs(withNow(midweek)), time.Date(2026, 3, 28, 1, 0, 0, 0, time.UTC)},
		{"dpkg_busy_looks_again_soon", inputs(withLock("apt-get (pid 4242)")), inWindow.Add(BusyRetry)},
		{"dpkg_busy_outside_the_window_too", inputs(withNow(midweek), withLock("dpkg (pid 7)")), midweek.Add(BusyRetry)},
		{"refused_arms_nothing", inputs(func(in *Inputs) { in.FailedBefore = &Failure{Kind: "load"} }), time.Time{}},
		{"up_to_date_arms_nothing", inputs(func(in *Inputs) { in.Facts.Running.Release = rel51; in.Facts.Running.Build = build51 }), time.Time{}},
		{"uptime_arms_its_end", inputs(withUptime(time.Minute)), inWindow.Add(4 * time.Minute)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Plan(tc.in)
			got, why := NextRun(d, tc.in)
			if !got.Equal(tc.want) || got.IsZero() != (why == "") {
				t.Errorf("NextRun(%s: %s %s) = %v %q; want %v", tc.name, d.Action, d.Check, got, why, tc.want)
			}
		})
	}
}

func withLock(holder string) func(*Inputs) { return func(in *Inputs) { in.LockHolder = holder } }
