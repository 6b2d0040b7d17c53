package window

import (
	"fmt"
	"testing"
	"time"
)

func TestMonthDay(t *testing.T) {
	tests := []struct {
		name    string
		in      int64
		want    MonthDays
		wantErr string
	}{
		{name: "first", in: 1, want: 1 << 1},
		{name: "fifteenth", in: 15, want: 1 << 15},
		{name: "thirty_first", in: 31, want: 1 << 31},
		{name: "last_day", in: -1, want: 1},
		{name: "zero", in: 0, wantErr: "0 is not a day of the month (1..31, or -1 for the last day)"},
		{name: "thirty_two", in: 32, wantErr: "32 is not a day of the month (1..31, or -1 for the last day)"},
		{name: "minus_two", in: -2, wantErr: "-2 is not a day of the month (1..31, or -1 for the last day)"},
		{name: "huge", in: 1 << 40, wantErr: "1099511627776 is not a day of the month (1..31, or -1 for the last day)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MonthDay(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("MonthDay(%d) = %#x, %v; want error %q", tc.in, uint32(got), err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("MonthDay(%d) = %#x, %v; want %#x, nil", tc.in, uint32(got), err, uint32(tc.want))
			}
		})
	}
}

func TestMonthDaysHas(t *testing.T) {
	tests := []struct {
		name        string
		set         string // as in a spec: "1,15,-1"
		day, inDays int
		want        bool
	}{
		{name: "listed_day", set: "1,15", day: 15, inDays: 30, want: true},
		{name: "unlisted_day", set: "1,15", day: 16, inDays: 30},
		{name: "thirty_first_of_a_31_day_month", set: "31", day: 31, inDays: 31, want: true},
		{name: "last_day_of_february", set: "-1", day: 28, inDays: 28, want: true},
		{name: "last_day_of_leap_february", set: "-1", day: 29, inDays: 29, want: true},
		{name: "28th_of_leap_february_not_last", set: "-1", day: 28, inDays: 29},
		{name: "last_day_of_a_31_day_month", set: "-1", day: 31, inDays: 31, want: true},
		{name: "day_past_the_month", set: "31", day: 31, inDays: 30},
		{name: "day_zero", set: "1,-1", day: 0, inDays: 0},
		{name: "empty_set", set: "", day: 1, inDays: 31},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m MonthDays
			if tc.set != "" {
				m = spec("dom=" + tc.set + " 00:00-01:00 UTC").window(t).MonthDays
			}
			if got := m.Has(tc.day, tc.inDays); got != tc.want {
				t.Fatalf("MonthDays(%s).Has(%d, %d) = %v; want %v", m, tc.day, tc.inDays, got, tc.want)
			}
		})
	}
}

func TestParseMonthWeekday(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // the set's String
		wantErr bool
	}{
		{name: "second_tuesday", in: "2nd Tue", want: "2nd Tue"},
		{name: "last_sunday", in: "last Sun", want: "last Sun"},
		{name: "first_monday", in: "1st Mon", want: "1st Mon"},
		{name: "fifth_friday", in: "5th Fri", want: "5th Fri"},
		{name: "third_and_fourth", in: "3rd Wed", want: "3rd Wed"},
		{name: "fourth_saturday", in: "4th Sat", want: "4th Sat"},
		{name: "words", in: "second Tuesday", want: "2nd Tue"},
		{name: "upper_case", in: "LAST SUNDAY", want: "last Sun"},
		{name: "fifth_as_word", in: "Fifth thu", want: "5th Thu"},
		{name: "spaces_around_and_between", in: "  last   Sat ", want: "last Sat"},
		{name: "sixth", in: "6th Tue", wantErr: true},
		{name: "zeroth", in: "0th Tue", wantErr: true},
		{name: "no_space", in: "2ndTue", wantErr: true},
		{name: "day_only", in: "Tue", wantErr: true},
		{name: "wrong_suffix", in: "2st Tue", wantErr: true},
		{name: "number_only", in: "2 Tue", wantErr: true},
		{name: "minus_one", in: "-1 Sun", wantErr: true},
		{name: "day_first", in: "Tue 2nd", wantErr: true},
		{name: "not_a_day", in: "last Caturday", wantErr: true},
		{name: "three_words", in: "last Sun of", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMonthWeekday(tc.in)
			if tc.wantErr {
				want := fmt.Sprintf(`%q is not a weekday of the month (1st..5th or last, then Mon..Sun, such as "2nd Tue" or "last Sun")`, tc.in)
				if err == nil || err.Error() != want {
					t.Fatalf("ParseMonthWeekday(%q) = %q, %v; want error %q", tc.in, got, err, want)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("ParseMonthWeekday(%q) = %q, %v; want %q, nil", tc.in, got, err, tc.want)
			}
			if back, err := ParseMonthWeekday(got.String()); err != nil || back != got {
				t.Fatalf("ParseMonthWeekday(%q) = %q, %v; want %q back", got.String(), back, err, got)
			}
		})
	}
}

func TestMonthWeekday(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		w       time.Weekday
		want    string
		wantErr string
	}{
		{name: "first_sunday", n: 1, w: time.Sunday, want: "1st Sun"},
		{name: "fifth_saturday", n: 5, w: time.Saturday, want: "5th Sat"},
		{name: "last_monday", n: -1, w: time.Monday, want: "last Mon"},
		{name: "sixth", n: 6, w: time.Monday, wantErr: "6 is not an ordinal of a weekday in a month (1..5, or -1 for the last)"},
		{name: "zero", n: 0, w: time.Monday, wantErr: "0 is not an ordinal of a weekday in a month (1..5, or -1 for the last)"},
		{name: "not_a_weekday", n: 1, w: 7, wantErr: "7 is not a weekday"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MonthWeekday(tc.n, tc.w)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("MonthWeekday(%d, %d) = %q, %v; want error %q", tc.n, tc.w, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("MonthWeekday(%d, %d) = %q, %v; want %q", tc.n, tc.w, got, err, tc.want)
			}
		})
	}
}

func TestMonthWeekdaysHas(t *testing.T) {
	tests := []struct {
		name        string
		set         string // as in a spec: "2nd-Tue,last-Sun"
		w           time.Weekday
		day, inDays int
		want        bool
	}{
		{name: "second_tuesday_day_8", set: "2nd-Tue", w: time.Tuesday, day: 8, inDays: 31, want: true},
		{name: "second_tuesday_day_14", set: "2nd-Tue", w: time.Tuesday, day: 14, inDays: 31, want: true},
		{name: "first_tuesday_not_second", set: "2nd-Tue", w: time.Tuesday, day: 7, inDays: 31},
		{name: "third_tuesday_not_second", set: "2nd-Tue", w: time.Tuesday, day: 15, inDays: 31},
		{name: "other_weekday", set: "2nd-Tue", w: time.Wednesday, day: 9, inDays: 31},
		{name: "fifth_on_day_29", set: "5th-Tue", w: time.Tuesday, day: 29, inDays: 29, want: true},
		{name: "last_is_fifth", set: "last-Sun", w: time.Sunday, day: 31, inDays: 31, want: true},
		{name: "last_is_fourth", set: "last-Fri", w: time.Friday, day: 27, inDays: 28, want: true},
		{name: "fourth_not_last_in_long_month", set: "last-Fri", w: time.Friday, day: 24, inDays: 31},
		{name: "fourth_is_last_in_long_month", set: "last-Fri", w: time.Friday, day: 25, inDays: 31, want: true},
		{name: "day_past_the_month", set: "5th-Mon", w: time.Monday, day: 30, inDays: 29},
		{name: "not_a_weekday", set: "1st-Sun", w: 7, day: 1, inDays: 31},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := spec("wom=" + tc.set + " 00:00-01:00 UTC").window(t).MonthWeekdays
			if got := m.Has(tc.w, tc.day, tc.inDays); got != tc.want {
				t.Fatalf("MonthWeekdays(%s).Has(%s, %d, %d) = %v; want %v", m, tc.w, tc.day, tc.inDays, got, tc.want)
			}
		})
	}
}

func TestMonthStrings(t *testing.T) {
	tests := []struct {
		name string
		got  fmt.Stringer
		want string
	}{
		{name: "days_ascending_last_at_the_end", got: spec("dom=-1,15,1 00:00-01:00 UTC").window(t).MonthDays, want: "1,15,-1"},
		{name: "thirty_first_and_last", got: spec("dom=31,-1 00:00-01:00 UTC").window(t).MonthDays, want: "31,-1"},
		{name: "no_days", got: MonthDays(0), want: ""},
		{name: "weekdays_by_ordinal_monday_first", got: spec("wom=last-Sun,2nd-Sun,2nd-Tue,1st-Sat 00:00-01:00 UTC").window(t).MonthWeekdays, want: "1st Sat,2nd Tue,2nd Sun,last Sun"},
		{name: "high_bits_ignored", got: MonthWeekdays(1<<63 | 1<<8), want: "2nd Mon"},
		{name: "no_weekdays", got: MonthWeekdays(0), want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if s := tc.got.String(); s != tc.want {
				t.Fatalf("String() = %q; want %q", s, tc.want)
			}
		})
	}
}

// TestCivilMatchesTime checks the date arithmetic against the time package
// for every day from 1582 to 2600, and a few far ones.
func TestCivilMatchesTime(t *testing.T) {
	check := func(day int64) {
		t.Helper()
		y, m, d := civil(day)
		ty, tm, td := time.Unix(day*secondsPerDay, 0).UTC().Date()
		if y != int64(ty) || m != int(tm) || d != td {
			t.Fatalf("civil(%d) = %d-%02d-%02d; want %d-%02d-%02d", day, y, m, d, ty, int(tm), td)
		}
		if n, want := daysIn(y, m), time.Date(ty, tm+1, 0, 0, 0, 0, 0, time.UTC).Day(); n != want {
			t.Fatalf("daysIn(%d, %d) = %d; want %d", y, m, n, want)
		}
	}
	first := time.Date(1582, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / secondsPerDay
	last := time.Date(2600, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / secondsPerDay
	for day := first; day < last; day++ {
		check(day)
	}
	for _, day := range []int64{-1, 0, 1, -719468, -719469, 1 << 30, -(1 << 30)} {
		check(day)
	}
}

// TestOpensOnMatchesCalendar compares the opening dates of monthly windows
// with dates the time package computes, day by day from 2000 to 2040.
func TestOpensOnMatchesCalendar(t *testing.T) {
	// lastOf is the last day of the month of date.
	lastOf := func(date time.Time) int {
		return time.Date(date.Year(), date.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	}
	tests := []struct {
		name   string
		window spec
		want   func(date time.Time) bool
	}{
		{name: "first_fifteenth_and_last", window: "dom=1,15,-1 02:00-04:00 UTC", want: func(d time.Time) bool {
			return d.Day() == 1 || d.Day() == 15 || d.Day() == lastOf(d)
		}},
		{name: "twenty_ninth", window: "dom=29 02:00-04:00 UTC", want: func(d time.Time) bool { return d.Day() == 29 }},
		{name: "thirty_first", window: "dom=31 02:00-04:00 UTC", want: func(d time.Time) bool { return d.Day() == 31 }},
		{name: "second_tuesday", window: "wom=2nd-Tue 02:00-04:00 UTC", want: func(d time.Time) bool {
			return d.Weekday() == time.Tuesday && d.Day() > 7 && d.Day() <= 14
		}},
		{name: "fifth_monday", window: "wom=5th-Mon 02:00-04:00 UTC", want: func(d time.Time) bool {
			return d.Weekday() == time.Monday && d.Day() > 28
		}},
		{name: "last_sunday", window: "wom=last-Sun 02:00-04:00 UTC", want: func(d time.Time) bool {
			return d.Weekday() == time.Sunday && d.AddDate(0, 0, 7).Month() != d.Month()
		}},
		{name: "both_monthly_kinds", window: "dom=1+wom=last-Fri 02:00-04:00 UTC", want: func(d time.Time) bool {
			return d.Day() == 1 || d.Weekday() == time.Friday && d.AddDate(0, 0, 7).Month() != d.Month()
		}},
		{name: "weekday_narrows_days", window: "Wed+dom=31 02:00-04:00 UTC", want: func(d time.Time) bool {
			return d.Weekday() == time.Wednesday && d.Day() == 31
		}},
		{name: "weekly", window: "Sat,Sun 02:00-04:00 UTC", want: func(d time.Time) bool {
			return d.Weekday() == time.Saturday || d.Weekday() == time.Sunday
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.window.window(t)
			for d := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2040; d = d.AddDate(0, 0, 1) {
				if got, want := w.opensOn(d.Unix()/secondsPerDay), tc.want(d); got != want {
					t.Fatalf("%s: opensOn(%s) = %v; want %v", tc.window, d.Format("Mon 2006-01-02"), got, want)
				}
			}
		})
	}
}

// TestMaxDatesCoversLongestWait checks over the whole 400-year cycle of
// the calendar that a single opening date of each kind, alone or narrowed
// by a weekday, never waits more than half of maxDates for its next
// occurrence, so that Next finds a span even when one date is lost to a
// skipped hour.
func TestMaxDatesCoversLongestWait(t *testing.T) {
	// A date matches a day of the month (d, or 0 for the last day), an
	// ordinal weekday (n-th, 0-based, or 5 for the last) and a weekday;
	// keys combine one of them with a weekday or with none (7).
	type key struct{ kind, value, weekday int }
	last := map[key]int64{}
	longest := map[key]int64{}
	seen := func(k key, day int64) {
		if p, ok := last[k]; ok && day-p > longest[k] {
			longest[k] = day - p
		}
		last[k] = day
	}
	first := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / secondsPerDay
	for day := first; day < first+146097+366; day++ {
		y, m, d := civil(day)
		n := daysIn(y, m)
		wd := int(weekdayOf(day))
		values := []key{{kind: 0, value: d}, {kind: 1, value: (d - 1) / 7}}
		if d == n {
			values = append(values, key{kind: 0, value: 0})
		}
		if d+7 > n {
			values = append(values, key{kind: 1, value: 5})
		}
		for _, k := range values {
			for _, w := range []int{wd, 7} {
				k.weekday = w
				seen(k, day)
			}
		}
	}
	var worst key
	for k, gap := range longest {
		if gap > longest[worst] {
			worst = k
		}
	}
	if got := longest[worst]; got != 609 || 2*got >= maxDates {
		t.Fatalf("longest wait %d days (%+v); want the 609 days of a Wednesday 31st, and twice it below maxDates %d", got, worst, maxDates)
	}
	var fifth int64
	for wd := range 7 {
		fifth = max(fifth, longest[key{kind: 1, value: 4, weekday: wd}])
	}
	if fifth != 119 {
		t.Errorf("longest wait for a fifth weekday = %d days; want 119", fifth)
	}
}

func TestMonthlyWindowNext(t *testing.T) {
	tests := []nextCase{
		{
			name:   "thirty_first_skips_a_30_day_month",
			window: "dom=31 02:00-04:00 UTC", at: "2026-04-01T00:00:00Z",
			wantStart: "2026-05-31T02:00:00Z", wantEnd: "2026-05-31T04:00:00Z",
		},
		{
			name:   "thirty_first_in_a_31_day_month",
			window: "dom=31 02:00-04:00 UTC", at: "2026-03-30T12:00:00Z",
			wantStart: "2026-03-31T02:00:00Z", wantEnd: "2026-03-31T04:00:00Z",
		},
		{
			name:   "thirtieth_skips_february",
			window: "dom=30 02:00-04:00 UTC", at: "2026-01-30T04:00:00Z",
			wantStart: "2026-03-30T02:00:00Z", wantEnd: "2026-03-30T04:00:00Z",
		},
		{
			name:   "feb_29_in_a_leap_year",
			window: "dom=29 02:00-04:00 UTC", at: "2028-02-01T00:00:00Z",
			wantStart: "2028-02-29T02:00:00Z", wantEnd: "2028-02-29T04:00:00Z",
		},
		{
			name:   "feb_29_in_a_non_leap_year_skipped",
			window: "dom=29 02:00-04:00 UTC", at: "2027-02-01T00:00:00Z",
			wantStart: "2027-03-29T02:00:00Z", wantEnd: "2027-03-29T04:00:00Z",
		},
		{
			name:   "feb_29_in_2100_not_a_leap_year",
			window: "dom=29 02:00-04:00 UTC", at: "2100-02-01T00:00:00Z",
			wantStart: "2100-03-29T02:00:00Z", wantEnd: "2100-03-29T04:00:00Z",
		},
		{
			name:   "last_day_in_february",
			window: "dom=-1 02:00-04:00 UTC", at: "2027-02-01T00:00:00Z",
			wantStart: "2027-02-28T02:00:00Z", wantEnd: "2027-02-28T04:00:00Z",
		},
		{
			name:   "last_day_in_leap_february",
			window: "dom=-1 02:00-04:00 UTC", at: "2028-02-28T12:00:00Z",
			wantStart: "2028-02-29T02:00:00Z", wantEnd: "2028-02-29T04:00:00Z",
		},
		{
			name:   "last_day_of_a_30_day_month",
			window: "dom=-1 02:00-04:00 UTC", at: "2026-04-29T12:00:00Z",
			wantStart: "2026-04-30T02:00:00Z", wantEnd: "2026-04-30T04:00:00Z",
		},
		{
			name:   "thirty_first_and_last_open_once",
			window: "dom=31,-1 02:00-04:00 UTC", at: "2026-01-31T04:00:00Z",
			wantStart: "2026-02-28T02:00:00Z", wantEnd: "2026-02-28T04:00:00Z",
		},
		{
			name:   "first_day_inside",
			window: "dom=1,15 02:00-04:00 UTC", at: "2026-07-01T03:59:59Z",
			wantStart: "2026-07-01T02:00:00Z", wantEnd: "2026-07-01T04:00:00Z", wantContains: true,
		},
		{
			name:   "first_day_end_exclusive",
			window: "dom=1,15 02:00-04:00 UTC", at: "2026-07-01T04:00:00Z",
			wantStart: "2026-07-15T02:00:00Z", wantEnd: "2026-07-15T04:00:00Z",
		},
		{
			name:   "fifth_weekday_that_months_lack",
			window: "wom=5th-Fri 02:00-04:00 UTC", at: "2026-02-01T00:00:00Z",
			wantStart: "2026-05-29T02:00:00Z", wantEnd: "2026-05-29T04:00:00Z",
		},
		{
			name:   "fifth_tuesday_on_leap_day",
			window: "wom=5th-Tue 02:00-04:00 UTC", at: "2028-02-01T00:00:00Z",
			wantStart: "2028-02-29T02:00:00Z", wantEnd: "2028-02-29T04:00:00Z",
		},
		{
			name:   "last_sunday_is_the_fifth",
			window: "wom=last-Sun 02:00-04:00 UTC", at: "2026-05-25T00:00:00Z",
			wantStart: "2026-05-31T02:00:00Z", wantEnd: "2026-05-31T04:00:00Z",
		},
		{
			name:   "last_friday_is_the_fourth",
			window: "wom=last-Fri 02:00-04:00 UTC", at: "2026-02-01T00:00:00Z",
			wantStart: "2026-02-27T02:00:00Z", wantEnd: "2026-02-27T04:00:00Z",
		},
		{
			name:   "second_tuesday",
			window: "wom=2nd-Tue 22:00-01:00 UTC", at: "2026-03-01T00:00:00Z",
			wantStart: "2026-03-10T22:00:00Z", wantEnd: "2026-03-11T01:00:00Z",
		},
		{
			name:   "second_tuesday_after_midnight_inside",
			window: "wom=2nd-Tue 22:00-01:00 UTC", at: "2026-03-11T00:59:00Z",
			wantStart: "2026-03-10T22:00:00Z", wantEnd: "2026-03-11T01:00:00Z", wantContains: true,
		},
		{
			name:   "first_wednesday_on_the_first",
			window: "wom=1st-Wed 02:00-04:00 UTC", at: "2026-03-31T12:00:00Z",
			wantStart: "2026-04-01T02:00:00Z", wantEnd: "2026-04-01T04:00:00Z",
		},
		{
			name:   "last_day_overnight_into_next_month",
			window: "dom=-1 23:00-01:00 UTC", at: "2026-03-01T00:30:00Z",
			wantStart: "2026-02-28T23:00:00Z", wantEnd: "2026-03-01T01:00:00Z", wantContains: true,
		},
		{
			name:   "last_day_overnight_belongs_to_opening_day",
			window: "dom=-1 23:00-01:00 UTC", at: "2026-03-01T23:30:00Z",
			wantStart: "2026-03-31T23:00:00Z", wantEnd: "2026-04-01T01:00:00Z",
		},
		{
			name:   "thirty_first_overnight_into_next_year",
			window: "dom=31 22:00-02:00 UTC", at: "2027-01-01T01:59:00Z",
			wantStart: "2026-12-31T22:00:00Z", wantEnd: "2027-01-01T02:00:00Z", wantContains: true,
		},
		{
			name:   "last_sunday_overnight_into_next_month",
			window: "wom=last-Sun 22:00-01:00 UTC", at: "2026-06-01T00:00:00Z",
			wantStart: "2026-05-31T22:00:00Z", wantEnd: "2026-06-01T01:00:00Z", wantContains: true,
		},
		{
			name:   "first_of_month_not_opened_by_day_before",
			window: "dom=1 22:00-01:00 UTC", at: "2026-06-01T00:30:00Z",
			wantStart: "2026-06-01T22:00:00Z", wantEnd: "2026-06-02T01:00:00Z",
		},
		{
			name:   "twenty_four_hours_on_the_last_day",
			window: "dom=-1 00:00-00:00 UTC", at: "2026-04-30T23:59:59Z",
			wantStart: "2026-04-30T00:00:00Z", wantEnd: "2026-05-01T00:00:00Z", wantContains: true,
		},
		{
			name:   "month_in_zone_not_utc",
			window: "dom=1 00:00-01:00 Europe/Berlin", at: "2026-03-31T22:30:00Z",
			wantStart: "2026-04-01T00:00:00+02:00", wantEnd: "2026-04-01T01:00:00+02:00", wantContains: true,
		},
		{
			name:   "dst_spring_berlin_last_sunday_start_in_gap",
			window: "wom=last-Sun 02:30-03:30 Europe/Berlin", at: "2026-03-29T00:00:00+01:00",
			wantStart: "2026-03-29T03:00:00+02:00", wantEnd: "2026-03-29T03:30:00+02:00",
		},
		{
			name:   "dst_spring_berlin_last_sunday_window_in_gap_skipped",
			window: "wom=last-Sun 02:00-03:00 Europe/Berlin", at: "2026-03-29T00:00:00+01:00",
			wantStart: "2026-04-26T02:00:00+02:00", wantEnd: "2026-04-26T03:00:00+02:00",
		},
		{
			name:   "dst_spring_berlin_day_of_month_end_in_gap",
			window: "dom=29 01:30-02:30 Europe/Berlin", at: "2026-03-29T01:45:00+01:00",
			wantStart: "2026-03-29T01:30:00+01:00", wantEnd: "2026-03-29T03:00:00+02:00", wantContains: true,
		},
		{
			name:   "dst_spring_berlin_overnight_across_the_change",
			window: "dom=28 23:00-04:00 Europe/Berlin", at: "2026-03-29T03:30:00+02:00",
			wantStart: "2026-03-28T23:00:00+01:00", wantEnd: "2026-03-29T04:00:00+02:00", wantContains: true,
		},
		{
			name:   "dst_fall_berlin_last_sunday_two_hours",
			window: "wom=last-Sun 02:30-03:30 Europe/Berlin", at: "2026-10-25T00:00:00+02:00",
			wantStart: "2026-10-25T02:30:00+02:00", wantEnd: "2026-10-25T03:30:00+01:00",
		},
		{
			name:   "dst_fall_berlin_second_occurrence_inside",
			window: "wom=last-Sun 02:30-03:30 Europe/Berlin", at: "2026-10-25T02:15:00+01:00",
			wantStart: "2026-10-25T02:30:00+02:00", wantEnd: "2026-10-25T03:30:00+01:00", wantContains: true,
		},
		{
			name:   "dst_fall_berlin_end_in_repeated_hour_second_occurrence_outside",
			window: "dom=25 01:00-02:30 Europe/Berlin", at: "2026-10-25T02:15:00+01:00",
			wantStart: "2026-11-25T01:00:00+01:00", wantEnd: "2026-11-25T02:30:00+01:00",
		},
		{
			name:   "dst_spring_new_york_second_sunday_start_in_gap",
			window: "wom=2nd-Sun 02:30-04:00 America/New_York", at: "2026-03-08T00:00:00-05:00",
			wantStart: "2026-03-08T03:00:00-04:00", wantEnd: "2026-03-08T04:00:00-04:00",
		},
		{
			name:   "dst_spring_new_york_window_in_gap_skipped",
			window: "wom=2nd-Sun 02:00-02:59 America/New_York", at: "2026-03-08T00:00:00-05:00",
			wantStart: "2026-04-12T02:00:00-04:00", wantEnd: "2026-04-12T02:59:00-04:00",
		},
		{
			name:   "dst_fall_new_york_first_sunday_end_after_repeated_hour",
			window: "wom=1st-Sun 01:30-02:00 America/New_York", at: "2026-11-01T01:45:00-05:00",
			wantStart: "2026-11-01T01:30:00-04:00", wantEnd: "2026-11-01T02:00:00-05:00", wantContains: true,
		},
		{
			name:   "dst_fall_new_york_twenty_four_hours_lasts_25",
			window: "dom=1 00:00-00:00 America/New_York", at: "2026-11-01T23:59:00-05:00",
			wantStart: "2026-11-01T00:00:00-04:00", wantEnd: "2026-11-02T00:00:00-05:00", wantContains: true,
		},
		{
			name:   "weekday_narrows_days_of_month",
			window: "Wed+dom=31 02:00-04:00 UTC", at: "2026-01-01T00:00:00Z",
			wantStart: "2027-03-31T02:00:00Z", wantEnd: "2027-03-31T04:00:00Z",
		},
		{
			name:   "both_monthly_kinds",
			window: "dom=1+wom=last-Fri 02:00-04:00 UTC", at: "2026-02-02T00:00:00Z",
			wantStart: "2026-02-27T02:00:00Z", wantEnd: "2026-02-27T04:00:00Z",
		},
	}
	checkNext(t, tests)
}

func TestWindowNeverOpens(t *testing.T) {
	tests := []struct {
		name   string
		window spec
		never  bool
	}{
		{name: "saturday_and_second_tuesday", window: "Sat+wom=2nd-Tue 02:00-04:00 UTC", never: true},
		{name: "weekdays_without_the_one_of_the_month", window: "Mon,Wed,Fri+wom=last-Sun,1st-Sat 02:00-04:00 UTC", never: true},
		{name: "one_weekday_matches", window: "Mon,Sun+wom=last-Sun,1st-Sat 02:00-04:00 UTC"},
		{name: "days_of_month_always_meet_a_weekday", window: "Wed+dom=31 02:00-04:00 UTC"},
		{name: "days_of_month_and_excluded_weekday_of_month", window: "Sat+dom=1+wom=2nd-Tue 02:00-04:00 UTC"},
		{name: "weekly", window: "Sat 02:00-04:00 UTC"},
		{name: "every_day", window: "* 02:00-04:00 UTC"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.window.window(t)
			now := at(t, "2026-03-29T00:30:00Z")
			got := w.Next(now)
			if tc.never {
				if got != (Span{}) || w.Contains(now) {
					t.Fatalf("%s: Next(%s) = %s, Contains = %v; want the zero Span, false", tc.window, fmtTime(now), fmtSpan(got), w.Contains(now))
				}
				if spans := (Schedule{w}).Next(now, 5); len(spans) != 0 {
					t.Fatalf("%s: Schedule.Next(%s, 5) = %s; want none", tc.window, fmtTime(now), fmtSpans(spans))
				}
				if sl := (Schedule{w}).Slots(now, 0.5); sl.Open || !sl.Next.Start.IsZero() {
					t.Fatalf("%s: Slots(%s) = %+v; want no slot", tc.window, fmtTime(now), sl)
				}
				return
			}
			if !got.End.After(got.Start) || got.Start.Before(now) && !got.Contains(now) {
				t.Fatalf("%s: Next(%s) = %s; want a span containing or after it", tc.window, fmtTime(now), fmtSpan(got))
			}
		})
	}
}
