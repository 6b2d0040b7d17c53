package window

import (
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	tests := []struct {
		name    string
		windows []spec
		at      string
		n       int
		want    [][2]string
	}{
		{
			name:    "contract_example",
			windows: []spec{"Sat,Sun 02:00-04:00 UTC"},
			at:      "2026-03-29T00:30:00Z", n: 5,
			want: [][2]string{
				{"2026-03-29T02:00:00Z", "2026-03-29T04:00:00Z"},
				{"2026-04-04T02:00:00Z", "2026-04-04T04:00:00Z"},
				{"2026-04-05T02:00:00Z", "2026-04-05T04:00:00Z"},
				{"2026-04-11T02:00:00Z", "2026-04-11T04:00:00Z"},
				{"2026-04-12T02:00:00Z", "2026-04-12T04:00:00Z"},
			},
		},
		{
			name:    "overlapping_windows_merged",
			windows: []spec{"Sat 01:00-03:00 UTC", "Sat 02:00-05:00 UTC"},
			at:      "2026-03-27T12:00:00Z", n: 2,
			want: [][2]string{
				{"2026-03-28T01:00:00Z", "2026-03-28T05:00:00Z"},
				{"2026-04-04T01:00:00Z", "2026-04-04T05:00:00Z"},
			},
		},
		{
			name:    "nested_window_merged",
			windows: []spec{"Sat 01:00-05:00 UTC", "Sat 02:00-03:00 UTC", "Sun 02:00-03:00 UTC"},
			at:      "2026-03-27T12:00:00Z", n: 3,
			want: [][2]string{
				{"2026-03-28T01:00:00Z", "2026-03-28T05:00:00Z"},
				{"2026-03-29T02:00:00Z", "2026-03-29T03:00:00Z"},
				{"2026-04-04T01:00:00Z", "2026-04-04T05:00:00Z"},
			},
		},
		{
			name:    "touching_windows_merged",
			windows: []spec{"Sat 01:00-02:00 UTC", "Sat 02:00-03:00 UTC"},
			at:      "2026-03-27T12:00:00Z", n: 2,
			want: [][2]string{
				{"2026-03-28T01:00:00Z", "2026-03-28T03:00:00Z"},
				{"2026-04-04T01:00:00Z", "2026-04-04T03:00:00Z"},
			},
		},
		{
			name:    "overnight_and_morning_touch_every_day",
			windows: []spec{"* 22:00-02:00 UTC", "* 02:00-06:00 UTC"},
			at:      "2026-03-27T12:00:00Z", n: 2,
			want: [][2]string{
				{"2026-03-27T22:00:00Z", "2026-03-28T06:00:00Z"},
				{"2026-03-28T22:00:00Z", "2026-03-29T06:00:00Z"},
			},
		},
		{
			name:    "consecutive_days_of_one_window_touch",
			windows: []spec{"Sat,Sun 00:00-00:00 UTC"},
			at:      "2026-03-27T12:00:00Z", n: 2,
			want: [][2]string{
				{"2026-03-28T00:00:00Z", "2026-03-30T00:00:00Z"},
				{"2026-04-04T00:00:00Z", "2026-04-06T00:00:00Z"},
			},
		},
		{
			name:    "open_span_first",
			windows: []spec{"Sat 01:00-03:00 UTC", "Sat 02:00-05:00 UTC"},
			at:      "2026-03-28T04:00:00Z", n: 2,
			want: [][2]string{
				{"2026-03-28T01:00:00Z", "2026-03-28T05:00:00Z"},
				{"2026-04-04T01:00:00Z", "2026-04-04T05:00:00Z"},
			},
		},
		{
			name:    "open_span_reaches_back_through_closed_windows",
			windows: []spec{"Fri 23:00-00:00 UTC", "Sat 00:00-02:00 UTC", "Sat 01:00-03:00 UTC"},
			at:      "2026-03-28T02:30:00Z", n: 2,
			want: [][2]string{
				{"2026-03-27T23:00:00Z", "2026-03-28T03:00:00Z"},
				{"2026-04-03T23:00:00Z", "2026-04-04T03:00:00Z"},
			},
		},
		{
			name:    "closed_at_t_next_span_first",
			windows: []spec{"Sat 01:00-03:00 UTC", "Sat 02:00-05:00 UTC"},
			at:      "2026-03-28T05:00:00Z", n: 1,
			want: [][2]string{
				{"2026-04-04T01:00:00Z", "2026-04-04T05:00:00Z"},
			},
		},
		{
			name:    "sorted_by_start",
			windows: []spec{"Sun 10:00-11:00 UTC", "Sat 10:00-11:00 UTC"},
			at:      "2026-03-27T12:00:00Z", n: 4,
			want: [][2]string{
				{"2026-03-28T10:00:00Z", "2026-03-28T11:00:00Z"},
				{"2026-03-29T10:00:00Z", "2026-03-29T11:00:00Z"},
				{"2026-04-04T10:00:00Z", "2026-04-04T11:00:00Z"},
				{"2026-04-05T10:00:00Z", "2026-04-05T11:00:00Z"},
			},
		},
		{
			name:    "zones_touch_in_winter_overlap_in_summer",
			windows: []spec{"Sat 02:00-04:00 UTC", "Sat 05:00-06:00 Europe/Berlin"},
			at:      "2026-03-27T12:00:00Z", n: 2,
			want: [][2]string{
				{"2026-03-28T02:00:00Z", "2026-03-28T05:00:00Z"},
				{"2026-04-04T02:00:00Z", "2026-04-04T04:00:00Z"},
			},
		},
		{
			name:    "dst_spring_berlin_windows_merged_across_the_gap",
			windows: []spec{"Sun 01:00-02:30 Europe/Berlin", "Sun 03:00-04:00 Europe/Berlin"},
			at:      "2026-03-28T12:00:00+01:00", n: 2,
			want: [][2]string{
				{"2026-03-29T01:00:00+01:00", "2026-03-29T04:00:00+02:00"},
				{"2026-04-05T01:00:00+02:00", "2026-04-05T02:30:00+02:00"},
			},
		},
		{
			name:    "n_larger_than_one_week",
			windows: []spec{"Mon 02:00-03:00 UTC"},
			at:      "2026-03-29T00:00:00Z", n: 3,
			want: [][2]string{
				{"2026-03-30T02:00:00Z", "2026-03-30T03:00:00Z"},
				{"2026-04-06T02:00:00Z", "2026-04-06T03:00:00Z"},
				{"2026-04-13T02:00:00Z", "2026-04-13T03:00:00Z"},
			},
		},
		{
			name:    "weekly_and_monthly_kinds_merged",
			windows: []spec{"Sun 01:00-03:00 UTC", "wom=last-Sun 02:00-05:00 UTC", "dom=-1 04:00-06:00 UTC"},
			at:      "2026-05-30T12:00:00Z", n: 6,
			want: [][2]string{
				{"2026-05-31T01:00:00Z", "2026-05-31T06:00:00Z"},
				{"2026-06-07T01:00:00Z", "2026-06-07T03:00:00Z"},
				{"2026-06-14T01:00:00Z", "2026-06-14T03:00:00Z"},
				{"2026-06-21T01:00:00Z", "2026-06-21T03:00:00Z"},
				{"2026-06-28T01:00:00Z", "2026-06-28T05:00:00Z"},
				{"2026-06-30T04:00:00Z", "2026-06-30T06:00:00Z"},
			},
		},
		{
			name:    "weekly_and_monthly_kinds_open_span_first",
			windows: []spec{"Sun 01:00-03:00 UTC", "wom=last-Sun 02:00-05:00 UTC", "dom=-1 04:00-06:00 UTC"},
			at:      "2026-05-31T05:30:00Z", n: 2,
			want: [][2]string{
				{"2026-05-31T01:00:00Z", "2026-05-31T06:00:00Z"},
				{"2026-06-07T01:00:00Z", "2026-06-07T03:00:00Z"},
			},
		},
		{
			name:    "last_day_and_first_wednesday_touch_at_month_end",
			windows: []spec{"dom=-1 22:00-00:00 UTC", "wom=1st-Wed 00:00-02:00 UTC"},
			at:      "2026-06-30T00:00:00Z", n: 3,
			want: [][2]string{
				{"2026-06-30T22:00:00Z", "2026-07-01T02:00:00Z"},
				{"2026-07-31T22:00:00Z", "2026-08-01T00:00:00Z"},
				{"2026-08-05T00:00:00Z", "2026-08-05T02:00:00Z"},
			},
		},
		{
			name:    "dst_spring_berlin_monthly_kinds_merged_across_the_gap",
			windows: []spec{"wom=last-Sun 01:00-02:30 Europe/Berlin", "dom=29 03:00-04:00 Europe/Berlin"},
			at:      "2026-03-28T12:00:00+01:00", n: 3,
			want: [][2]string{
				{"2026-03-29T01:00:00+01:00", "2026-03-29T04:00:00+02:00"},
				{"2026-04-26T01:00:00+02:00", "2026-04-26T02:30:00+02:00"},
				{"2026-04-29T03:00:00+02:00", "2026-04-29T04:00:00+02:00"},
			},
		},
		{
			name:    "every_day_but_the_first_merged_into_a_month",
			windows: []spec{"dom=2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31 00:00-00:00 UTC"},
			at:      "2026-03-15T12:00:00Z", n: 3,
			want: [][2]string{
				{"2026-03-02T00:00:00Z", "2026-04-01T00:00:00Z"},
				{"2026-04-02T00:00:00Z", "2026-05-01T00:00:00Z"},
				{"2026-05-02T00:00:00Z", "2026-06-01T00:00:00Z"},
			},
		},
		{
			name:    "window_that_never_opens_ignored",
			windows: []spec{"Sat+wom=2nd-Tue 02:00-04:00 UTC", "dom=15 02:00-04:00 UTC"},
			at:      "2026-03-29T00:00:00Z", n: 2,
			want: [][2]string{
				{"2026-04-15T02:00:00Z", "2026-04-15T04:00:00Z"},
				{"2026-05-15T02:00:00Z", "2026-05-15T04:00:00Z"},
			},
		},
		{
			name: "empty_schedule", at: "2026-03-29T00:00:00Z", n: 5,
		},
		{
			name:    "n_zero",
			windows: []spec{"Mon 02:00-03:00 UTC"},
			at:      "2026-03-29T00:00:00Z", n: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := schedule(t, tc.windows...)
			now := at(t, tc.at)
			var want []Span
			for _, w := range tc.want {
				want = append(want, Span{Start: at(t, w[0]), End: at(t, w[1])})
			}
			got := s.Next(now, tc.n)
			same := len(got) == len(want)
			for i := 0; same && i < len(got); i++ {
				same = sameSpan(got[i], want[i])
			}
			if !same {
				t.Fatalf("Next(%s, %d) = %s; want %s", fmtTime(now), tc.n, fmtSpans(got), fmtSpans(want))
			}
			if len(want) == 0 && got != nil {
				t.Fatalf("Next(%s, %d) = %#v; want nil", fmtTime(now), tc.n, got)
			}
		})
	}
}

func TestScheduleOpen(t *testing.T) {
	tests := []struct {
		name     string
		windows  []spec
		at       string
		want     [2]string
		wantOpen bool
	}{
		{
			name:    "merged_span_containing_t",
			windows: []spec{"Sat 01:00-03:00 UTC", "Sat 02:00-05:00 UTC"},
			at:      "2026-03-28T04:00:00Z",
			want:    [2]string{"2026-03-28T01:00:00Z", "2026-03-28T05:00:00Z"}, wantOpen: true,
		},
		{
			name:    "touching_span_at_the_join",
			windows: []spec{"Sat 01:00-02:00 UTC", "Sat 02:00-03:00 UTC"},
			at:      "2026-03-28T02:00:00Z",
			want:    [2]string{"2026-03-28T01:00:00Z", "2026-03-28T03:00:00Z"}, wantOpen: true,
		},
		{
			name:    "closed_between_windows",
			windows: []spec{"Sat 01:00-02:00 UTC", "Sat 03:00-04:00 UTC"},
			at:      "2026-03-28T02:30:00Z",
		},
		{
			name:    "closed_at_end",
			windows: []spec{"Sat,Sun 02:00-04:00 UTC"},
			at:      "2026-03-29T04:00:00Z",
		},
		{
			name: "empty_schedule",
			at:   "2026-03-29T03:00:00Z",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := schedule(t, tc.windows...)
			now := at(t, tc.at)
			got, ok := s.Open(now)
			if ok != tc.wantOpen {
				t.Fatalf("Open(%s) = %s, %v; want open %v", fmtTime(now), fmtSpan(got), ok, tc.wantOpen)
			}
			if !ok {
				if got != (Span{}) {
					t.Fatalf("Open(%s) = %s, false; want the zero Span", fmtTime(now), fmtSpan(got))
				}
				return
			}
			want := Span{Start: at(t, tc.want[0]), End: at(t, tc.want[1])}
			if !sameSpan(got, want) {
				t.Fatalf("Open(%s) = %s, true; want %s, true", fmtTime(now), fmtSpan(got), fmtSpan(want))
			}
			if !s.Contains(now) {
				t.Fatalf("Contains(%s) = false; want true", fmtTime(now))
			}
		})
	}
}

func TestScheduleContains(t *testing.T) {
	s := schedule(t, "Sat 23:00-01:00 Europe/Berlin", "Wed 02:00-02:30 America/New_York")
	tests := []struct {
		name string
		at   string
		want bool
	}{
		{name: "saturday_night", at: "2026-03-28T23:30:00+01:00", want: true},
		{name: "sunday_after_midnight", at: "2026-03-29T00:59:59+01:00", want: true},
		{name: "sunday_one_am_end_exclusive", at: "2026-03-29T01:00:00+01:00", want: false},
		{name: "new_york_window", at: "2026-04-01T02:15:00-04:00", want: true},
		{name: "new_york_window_end", at: "2026-04-01T02:30:00-04:00", want: false},
		{name: "tuesday_noon", at: "2026-03-31T12:00:00Z", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := at(t, tc.at)
			if got := s.Contains(now); got != tc.want {
				t.Fatalf("Contains(%s) = %v; want %v", fmtTime(now), got, tc.want)
			}
		})
	}
}

// TestScheduleNextAlwaysOpen checks that a schedule without a gap yields one
// span around t that reaches at least mergeLimit either way, instead of
// merging forever.
func TestScheduleNextAlwaysOpen(t *testing.T) {
	tests := []struct {
		name    string
		windows []spec
	}{
		{name: "twenty_four_hours_every_day", windows: []spec{"* 00:00-00:00 Europe/Berlin"}},
		{name: "two_halves", windows: []spec{"* 00:00-12:00 UTC", "* 12:00-00:00 UTC"}},
		{name: "every_day_of_the_month", windows: []spec{"dom=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,-1 00:00-00:00 UTC", "dom=29,30 00:00-00:00 UTC"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := schedule(t, tc.windows...)
			now := at(t, "2026-03-29T12:34:56Z")
			got := s.Next(now, 5)
			if len(got) != 1 || !got[0].Contains(now) ||
				now.Sub(got[0].Start) < mergeLimit || got[0].End.Sub(now) < mergeLimit {
				t.Fatalf("Next(%s, 5) = %s; want one span from mergeLimit before to mergeLimit after", fmtTime(now), fmtSpans(got))
			}
			if open, ok := s.Open(now); !ok || !sameSpan(open, got[0]) {
				t.Fatalf("Open(%s) = %s, %v; want %s, true", fmtTime(now), fmtSpan(open), ok, fmtSpan(got[0]))
			}
		})
	}
}

// benchSchedule is a realistic schedule: weekend nights in Berlin and a
// weekday slot in UTC.
func benchSchedule(b *testing.B) (Schedule, time.Time) {
	s := schedule(b, "Sat,Sun 02:00-04:00 Europe/Berlin", "Tue,Thu 22:00-01:00 UTC")
	return s, at(b, "2026-03-25T12:00:00Z")
}

func BenchmarkScheduleContains(b *testing.B) {
	s, now := benchSchedule(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Contains(now.Add(time.Duration(i%1000) * time.Hour))
	}
}

func BenchmarkScheduleNext(b *testing.B) {
	s, now := benchSchedule(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Next(now.Add(time.Duration(i%1000)*time.Hour), 5)
	}
}

// BenchmarkScheduleNextMonthly is a schedule of monthly windows: a patch
// night on the second Tuesday and a late slot on the last day of the month.
func BenchmarkScheduleNextMonthly(b *testing.B) {
	s := schedule(b, "wom=2nd-Tue 22:00-01:00 Europe/Berlin", "dom=-1 02:00-04:00 UTC")
	now := at(b, "2026-03-25T12:00:00Z")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Next(now.Add(time.Duration(i%1000)*time.Hour), 5)
	}
}

// BenchmarkScheduleNextAlwaysOpen is the worst case of merging: a schedule
// that never closes merges mergeLimit of spans either way.
func BenchmarkScheduleNextAlwaysOpen(b *testing.B) {
	s := schedule(b, "* 00:00-00:00 Europe/Berlin")
	now := at(b, "2026-03-25T12:00:00Z")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Next(now.Add(time.Duration(i%1000)*time.Hour), 5)
	}
}
