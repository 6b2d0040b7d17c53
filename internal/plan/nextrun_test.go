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
		{"window_closed_arms_early_for_the_opening", inputs(withNow(midweek)), opening.Add(-EarlyStart)},
		{"opening_within_the_lead_arms_the_opening", inputs(withNow(opening.Add(-EarlyStart / 2))), opening},
		{"opening_exactly_the_lead_away_arms_the_opening", inputs(withNow(opening.Add(-EarlyStart))), opening},
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

// opening is when the window of inputs() opens after midweek.
var opening = time.Date(2026, 3, 28, 1, 0, 0, 0, time.UTC)

func TestWaitForOpening(t *testing.T) {
	tests := []struct {
		name string
		in   Inputs
		want time.Time // zero: no wait
	}{
		{"days_before_the_opening_no_wait", inputs(withNow(midweek)), time.Time{}},
		{"just_over_the_lead_no_wait", inputs(withNow(opening.Add(-EarlyStart - time.Millisecond))), time.Time{}},
		{"exactly_the_lead_waits", inputs(withNow(opening.Add(-EarlyStart))), opening},
		{"a_second_before_waits", inputs(withNow(opening.Add(-time.Second))), opening},
		{"at_the_opening_switches_no_wait", inputs(withNow(opening)), time.Time{}},
		{"in_the_window_no_wait", inputs(), time.Time{}},
		{"dpkg_busy_before_the_opening_still_waits", inputs(withNow(opening.Add(-time.Second)), withLock("dpkg (pid 7)")), opening},
		{"up_to_date_no_wait", inputs(withNow(opening.Add(-time.Second)), func(in *Inputs) { in.Facts.Running.Release = rel51; in.Facts.Running.Build = build51 }), time.Time{}},
		{"refused_no_wait", inputs(withNow(opening.Add(-time.Second)), func(in *Inputs) { in.FailedBefore = &Failure{Kind: "load"} }), time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Plan(tc.in)
			got, ok := WaitForOpening(d, tc.in.Now)
			if !got.Equal(tc.want) || ok == tc.want.IsZero() {
				t.Errorf("WaitForOpening(%s %s %q at %v) = %v %v; want %v", d.Action, d.Check, d.Reason, tc.in.Now, got, ok, tc.want)
			}
		})
	}
}

func withLock(holder string) func(*Inputs) { return func(in *Inputs) { in.LockHolder = holder } }
