package window

import (
	"testing"
	"time"
)

func TestParseClock(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Clock
		wantErr string
	}{
		{name: "midnight", in: "00:00", want: 0},
		{name: "two_am", in: "02:00", want: 120},
		{name: "last_minute", in: "23:59", want: 1439},
		{name: "half_past", in: "02:30", want: 150},
		{name: "hour_24", in: "24:00", wantErr: `"24:00" is not a time of day (HH:MM)`},
		{name: "hour_25", in: "25:00", wantErr: `"25:00" is not a time of day (HH:MM)`},
		{name: "minute_60", in: "23:60", wantErr: `"23:60" is not a time of day (HH:MM)`},
		{name: "one_digit_hour", in: "2:00", wantErr: `"2:00" is not a time of day (HH:MM)`},
		{name: "one_digit_minute", in: "02:0", wantErr: `"02:0" is not a time of day (HH:MM)`},
		{name: "seconds", in: "02:00:00", wantErr: `"02:00:00" is not a time of day (HH:MM)`},
		{name: "dash", in: "02-00", wantErr: `"02-00" is not a time of day (HH:MM)`},
		{name: "sign", in: "+2:00", wantErr: `"+2:00" is not a time of day (HH:MM)`},
		{name: "leading_space", in: " 2:00", wantErr: `" 2:00" is not a time of day (HH:MM)`},
		{name: "trailing_space", in: "02:00 ", wantErr: `"02:00 " is not a time of day (HH:MM)`},
		{name: "letter", in: "0a:00", wantErr: `"0a:00" is not a time of day (HH:MM)`},
		{name: "non_ascii_digits", in: "٠٢:٠٠", wantErr: `"٠٢:٠٠" is not a time of day (HH:MM)`},
		{name: "empty", in: "", wantErr: `"" is not a time of day (HH:MM)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseClock(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("ParseClock(%q) = %v, %v; want error %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseClock(%q) = %v, %v; want %v, nil", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestClockString(t *testing.T) {
	tests := []struct {
		name string
		in   Clock
		want string
	}{
		{name: "midnight", in: 0, want: "00:00"},
		{name: "two_am", in: 120, want: "02:00"},
		{name: "last_minute", in: 1439, want: "23:59"},
		{name: "wraps_past_a_day", in: 1440 + 61, want: "01:01"},
		{name: "negative_wraps_back", in: -1, want: "23:59"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Fatalf("Clock(%d).String() = %q; want %q", int(tc.in), got, tc.want)
			}
		})
	}
}

func TestParseWeekday(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Weekday
		wantErr string
	}{
		{name: "mon", in: "Mon", want: time.Monday},
		{name: "sun", in: "Sun", want: time.Sunday},
		{name: "sat", in: "Sat", want: time.Saturday},
		{name: "lower_case_short", in: "tue", want: time.Tuesday},
		{name: "full_name", in: "Wednesday", want: time.Wednesday},
		{name: "full_name_upper_case", in: "THURSDAY", want: time.Thursday},
		{name: "full_name_mixed_case", in: "fRiDaY", want: time.Friday},
		{name: "two_letters", in: "Mo", wantErr: `"Mo" is not a day (Mon..Sun)`},
		{name: "number", in: "1", wantErr: `"1" is not a day (Mon..Sun)`},
		{name: "padded", in: " Mon", wantErr: `" Mon" is not a day (Mon..Sun)`},
		{name: "german", in: "Montag", wantErr: `"Montag" is not a day (Mon..Sun)`},
		{name: "empty", in: "", wantErr: `"" is not a day (Mon..Sun)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseWeekday(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("ParseWeekday(%q) = %v, %v; want error %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseWeekday(%q) = %v, %v; want %v, nil", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestDays(t *testing.T) {
	tests := []struct {
		name   string
		in     Days
		want   string
		has    []time.Weekday
		hasNot []time.Weekday
	}{
		{
			name: "weekend", in: 1<<time.Saturday | 1<<time.Sunday, want: "Sat,Sun",
			has:    []time.Weekday{time.Saturday, time.Sunday},
			hasNot: []time.Weekday{time.Monday, time.Friday},
		},
		{
			name: "monday_first_sunday_last", in: 1<<time.Sunday | 1<<time.Monday | 1<<time.Wednesday, want: "Mon,Wed,Sun",
			has:    []time.Weekday{time.Sunday, time.Monday, time.Wednesday},
			hasNot: []time.Weekday{time.Tuesday, time.Saturday},
		},
		{
			name: "empty_is_every_day", in: 0, want: "every day",
			has: []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday},
		},
		{
			name: "all_seven", in: 0x7f, want: "every day",
			has: []time.Weekday{time.Sunday, time.Saturday},
		},
		{
			name: "high_bit_ignored", in: 0x80 | 1<<time.Tuesday, want: "Tue",
			has:    []time.Weekday{time.Tuesday},
			hasNot: []time.Weekday{time.Monday},
		},
		{
			name: "only_high_bit_is_every_day", in: 0x80, want: "every day",
			has: []time.Weekday{time.Monday},
		},
		{
			name: "not_a_weekday", in: 0, want: "every day",
			hasNot: []time.Weekday{-1, 7},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.String(); got != tc.want {
				t.Errorf("Days(%#x).String() = %q; want %q", uint8(tc.in), got, tc.want)
			}
			for _, w := range tc.has {
				if !tc.in.Has(w) {
					t.Errorf("Days(%#x).Has(%d) = false; want true", uint8(tc.in), int(w))
				}
			}
			for _, w := range tc.hasNot {
				if tc.in.Has(w) {
					t.Errorf("Days(%#x).Has(%d) = true; want false", uint8(tc.in), int(w))
				}
			}
		})
	}
}
