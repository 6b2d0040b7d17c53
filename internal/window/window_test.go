package window

import (
	"testing"
	"time"
)

func TestWindowNext(t *testing.T) {
	tests := []nextCase{
		{
			name:   "contract_example",
			window: "Sat,Sun 02:00-04:00 UTC", at: "2026-03-29T00:30:00Z",
			wantStart: "2026-03-29T02:00:00Z", wantEnd: "2026-03-29T04:00:00Z",
		},
		{
			name:   "start_inclusive",
			window: "Sat,Sun 02:00-04:00 UTC", at: "2026-03-29T02:00:00Z",
			wantStart: "2026-03-29T02:00:00Z", wantEnd: "2026-03-29T04:00:00Z", wantContains: true,
		},
		{
			name:   "last_nanosecond_inside",
			window: "Sat,Sun 02:00-04:00 UTC", at: "2026-03-29T03:59:59.999999999Z",
			wantStart: "2026-03-29T02:00:00Z", wantEnd: "2026-03-29T04:00:00Z", wantContains: true,
		},
		{
			name:   "end_exclusive",
			window: "Sat,Sun 02:00-04:00 UTC", at: "2026-03-29T04:00:00Z",
			wantStart: "2026-04-04T02:00:00Z", wantEnd: "2026-04-04T04:00:00Z",
		},
		{
			name:   "overnight_after_midnight",
			window: "Sat 23:00-01:00 UTC", at: "2026-03-29T00:30:00Z",
			wantStart: "2026-03-28T23:00:00Z", wantEnd: "2026-03-29T01:00:00Z", wantContains: true,
		},
		{
			name:   "overnight_before_midnight",
			window: "Sat 23:00-01:00 UTC", at: "2026-03-28T23:30:00Z",
			wantStart: "2026-03-28T23:00:00Z", wantEnd: "2026-03-29T01:00:00Z", wantContains: true,
		},
		{
			name:   "overnight_belongs_to_opening_day",
			window: "Sun 23:00-01:00 UTC", at: "2026-03-29T00:30:00Z",
			wantStart: "2026-03-29T23:00:00Z", wantEnd: "2026-03-30T01:00:00Z",
		},
		{
			name:   "sunday_monday_wrap",
			window: "Sun 22:00-02:00 UTC", at: "2026-03-30T01:00:00Z",
			wantStart: "2026-03-29T22:00:00Z", wantEnd: "2026-03-30T02:00:00Z", wantContains: true,
		},
		{
			name:   "sunday_to_monday_window",
			window: "Mon 02:00-04:00 UTC", at: "2026-03-29T12:00:00Z",
			wantStart: "2026-03-30T02:00:00Z", wantEnd: "2026-03-30T04:00:00Z",
		},
		{
			name:   "same_day_next_week",
			window: "Sun 02:00-04:00 UTC", at: "2026-03-29T05:00:00Z",
			wantStart: "2026-04-05T02:00:00Z", wantEnd: "2026-04-05T04:00:00Z",
		},
		{
			name:   "no_days_is_every_day",
			window: "* 02:00-04:00 UTC", at: "2026-04-01T05:00:00Z",
			wantStart: "2026-04-02T02:00:00Z", wantEnd: "2026-04-02T04:00:00Z",
		},
		{
			name:   "twenty_four_hours",
			window: "Mon 06:00-06:00 UTC", at: "2026-03-31T05:59:00Z",
			wantStart: "2026-03-30T06:00:00Z", wantEnd: "2026-03-31T06:00:00Z", wantContains: true,
		},
		{
			name:   "twenty_four_hours_end_exclusive",
			window: "Mon 06:00-06:00 UTC", at: "2026-03-31T06:00:00Z",
			wantStart: "2026-04-06T06:00:00Z", wantEnd: "2026-04-07T06:00:00Z",
		},
		{
			name:   "twenty_four_hours_every_day_next_day",
			window: "* 00:00-00:00 UTC", at: "2026-03-31T00:00:00Z",
			wantStart: "2026-03-31T00:00:00Z", wantEnd: "2026-04-01T00:00:00Z", wantContains: true,
		},
		{
			name:   "zone_offset_applies",
			window: "Sat 02:00-04:00 America/New_York", at: "2026-01-03T07:30:00Z",
			wantStart: "2026-01-03T02:00:00-05:00", wantEnd: "2026-01-03T04:00:00-05:00", wantContains: true,
		},
		{
			name:   "weekday_in_zone_not_utc",
			window: "Sun 00:00-01:00 Europe/Berlin", at: "2026-01-03T23:30:00Z",
			wantStart: "2026-01-04T00:00:00+01:00", wantEnd: "2026-01-04T01:00:00+01:00", wantContains: true,
		},
		{
			name:   "dst_spring_berlin_start_in_gap",
			window: "* 02:30-03:30 Europe/Berlin", at: "2026-03-29T00:00:00+01:00",
			wantStart: "2026-03-29T03:00:00+02:00", wantEnd: "2026-03-29T03:30:00+02:00",
		},
		{
			name:   "dst_spring_berlin_start_in_gap_inside",
			window: "* 02:30-03:30 Europe/Berlin", at: "2026-03-29T03:10:00+02:00",
			wantStart: "2026-03-29T03:00:00+02:00", wantEnd: "2026-03-29T03:30:00+02:00", wantContains: true,
		},
		{
			name:   "dst_spring_berlin_opens_at_the_change",
			window: "* 02:30-03:30 Europe/Berlin", at: "2026-03-29T01:59:59+01:00",
			wantStart: "2026-03-29T03:00:00+02:00", wantEnd: "2026-03-29T03:30:00+02:00",
		},
		{
			name:   "dst_spring_berlin_window_in_gap_skipped",
			window: "* 02:00-03:00 Europe/Berlin", at: "2026-03-29T00:00:00+01:00",
			wantStart: "2026-03-30T02:00:00+02:00", wantEnd: "2026-03-30T03:00:00+02:00",
		},
		{
			name:   "dst_spring_berlin_end_in_gap",
			window: "* 01:30-02:30 Europe/Berlin", at: "2026-03-29T01:45:00+01:00",
			wantStart: "2026-03-29T01:30:00+01:00", wantEnd: "2026-03-29T03:00:00+02:00", wantContains: true,
		},
		{
			name:   "dst_spring_berlin_overnight_into_gap",
			window: "Sat 23:00-02:30 Europe/Berlin", at: "2026-03-29T01:59:00+01:00",
			wantStart: "2026-03-28T23:00:00+01:00", wantEnd: "2026-03-29T03:00:00+02:00", wantContains: true,
		},
		{
			name:   "dst_spring_berlin_overnight_into_gap_end_exclusive",
			window: "Sat 23:00-02:30 Europe/Berlin", at: "2026-03-29T03:00:00+02:00",
			wantStart: "2026-04-04T23:00:00+02:00", wantEnd: "2026-04-05T02:30:00+02:00",
		},
		{
			name:   "dst_spring_new_york_start_in_gap",
			window: "* 02:30-04:00 America/New_York", at: "2026-03-08T00:00:00-05:00",
			wantStart: "2026-03-08T03:00:00-04:00", wantEnd: "2026-03-08T04:00:00-04:00",
		},
		{
			name:   "dst_spring_lord_howe_half_hour_gap",
			window: "* 02:15-03:00 Australia/Lord_Howe", at: "2026-10-04T00:00:00+10:30",
			wantStart: "2026-10-04T02:30:00+11:00", wantEnd: "2026-10-04T03:00:00+11:00",
		},
		{
			name:   "dst_fall_berlin_start_in_repeated_hour",
			window: "* 02:30-03:30 Europe/Berlin", at: "2026-10-25T00:00:00+02:00",
			wantStart: "2026-10-25T02:30:00+02:00", wantEnd: "2026-10-25T03:30:00+01:00",
		},
		{
			name:   "dst_fall_berlin_second_occurrence_inside",
			window: "* 02:30-03:30 Europe/Berlin", at: "2026-10-25T02:15:00+01:00",
			wantStart: "2026-10-25T02:30:00+02:00", wantEnd: "2026-10-25T03:30:00+01:00", wantContains: true,
		},
		{
			name:   "dst_fall_berlin_end_in_repeated_hour",
			window: "* 01:00-02:30 Europe/Berlin", at: "2026-10-25T02:15:00+02:00",
			wantStart: "2026-10-25T01:00:00+02:00", wantEnd: "2026-10-25T02:30:00+02:00", wantContains: true,
		},
		{
			name:   "dst_fall_berlin_end_in_repeated_hour_second_occurrence_outside",
			window: "* 01:00-02:30 Europe/Berlin", at: "2026-10-25T02:15:00+01:00",
			wantStart: "2026-10-26T01:00:00+01:00", wantEnd: "2026-10-26T02:30:00+01:00",
		},
		{
			name:   "dst_fall_new_york_end_after_repeated_hour",
			window: "* 01:30-02:00 America/New_York", at: "2026-11-01T01:45:00-05:00",
			wantStart: "2026-11-01T01:30:00-04:00", wantEnd: "2026-11-01T02:00:00-05:00", wantContains: true,
		},
		{
			name:   "dst_fall_lord_howe_half_hour_repeat",
			window: "* 01:45-02:15 Australia/Lord_Howe", at: "2026-04-05T01:40:00+10:30",
			wantStart: "2026-04-05T01:45:00+11:00", wantEnd: "2026-04-05T02:15:00+10:30", wantContains: true,
		},
		{
			name:   "twenty_four_hours_on_spring_forward_day",
			window: "Sun 00:00-00:00 Europe/Berlin", at: "2026-03-29T12:00:00+02:00",
			wantStart: "2026-03-29T00:00:00+01:00", wantEnd: "2026-03-30T00:00:00+02:00", wantContains: true,
		},
		{
			name:   "twenty_four_hours_on_fall_back_day",
			window: "Sun 00:00-00:00 Europe/Berlin", at: "2026-10-25T12:00:00+01:00",
			wantStart: "2026-10-25T00:00:00+02:00", wantEnd: "2026-10-26T00:00:00+01:00", wantContains: true,
		},
	}
	checkNext(t, tests)
}

func TestWindowNilLocationIsUTC(t *testing.T) {
	w := Window{Days: 1 << time.Sunday, Start: 120, End: 240}
	now := at(t, "2026-03-29T00:30:00Z")
	want := Span{Start: at(t, "2026-03-29T02:00:00Z"), End: at(t, "2026-03-29T04:00:00Z")}
	if got := w.Next(now); !sameSpan(got, want) {
		t.Fatalf("Next(%s) = %s; want %s", fmtTime(now), fmtSpan(got), fmtSpan(want))
	}
}

// TestSpanOnMatchesScan checks the opening and closing instants on days with
// a daylight saving change against a minute-by-minute scan of the wall
// clock, for windows starting and ending at every quarter hour.
func TestSpanOnMatchesScan(t *testing.T) {
	tests := []struct {
		name string
		zone string
		date string // the opening date, in the zone
	}{
		{name: "berlin_spring_forward", zone: "Europe/Berlin", date: "2026-03-29"},
		{name: "berlin_fall_back", zone: "Europe/Berlin", date: "2026-10-25"},
		{name: "berlin_day_before_fall_back", zone: "Europe/Berlin", date: "2026-10-24"},
		{name: "new_york_spring_forward", zone: "America/New_York", date: "2026-03-08"},
		{name: "new_york_fall_back", zone: "America/New_York", date: "2026-11-01"},
		{name: "lord_howe_fall_back", zone: "Australia/Lord_Howe", date: "2026-04-05"},
		{name: "lord_howe_spring_forward", zone: "Australia/Lord_Howe", date: "2026-10-04"},
		{name: "utc_plain_day", zone: "UTC", date: "2026-03-29"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loc := load(t, tc.zone)
			date, err := time.Parse(time.DateOnly, tc.date)
			if err != nil {
				t.Fatal(err)
			}
			day := date.Unix() / secondsPerDay
			// walls[i] is the wall clock, as Unix seconds read as UTC, of the
			// instant first + i minutes.
			first := date.Unix() - 2*secondsPerDay
			walls := make([]int64, 5*24*60)
			for i := range walls {
				u := first + int64(i)*60
				_, off := time.Unix(u, 0).In(loc).Zone()
				walls[i] = u + int64(off)
			}
			scan := func(wall int64, from int) int {
				for i := from; i < len(walls); i++ {
					if walls[i] >= wall {
						return i
					}
				}
				t.Fatalf("scan found no instant reaching %s", time.Unix(wall, 0).UTC())
				return 0
			}
			_, off := date.In(loc).Zone()
			for start := Clock(0); start < minutesPerDay; start += 15 {
				for end := Clock(0); end < minutesPerDay; end += 15 {
					w := Window{Start: start, End: end, Location: loc}
					gotOpen, gotClose := w.spanOn(loc, day, off)
					endWall := date.Unix() + int64(end)*60
					if end <= start {
						endWall += secondsPerDay
					}
					o := scan(date.Unix()+int64(start)*60, 0)
					c := scan(endWall, o)
					wantOpen, wantClose := first+int64(o)*60, first+int64(c)*60
					if gotOpen != wantOpen || gotClose != wantClose {
						t.Fatalf("%s-%s on %s: spanOn = [%s, %s); want [%s, %s)", start, end, tc.date,
							fmtTimeIn(time.Unix(gotOpen, 0), loc), fmtTimeIn(time.Unix(gotClose, 0), loc),
							fmtTimeIn(time.Unix(wantOpen, 0), loc), fmtTimeIn(time.Unix(wantClose, 0), loc))
					}
				}
			}
		})
	}
}
