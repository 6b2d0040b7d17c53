package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// windowsOf is the windows part of summary: "[...]".
func windowsOf(c Config) string {
	s := summary(c)
	return s[strings.Index(s, "windows=")+len("windows="):]
}

func TestParse_monthlyWindows(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want string
	}{
		{
			name: "days_of_month_with_last_day",
			toml: "[[window]]\ndays_of_month = [1, 15, -1]\nstart = \"02:00\"\nend = \"04:00\"\ntime_zone = \"UTC\"\n",
			want: "[days_of_month 1,15,-1 02:00-04:00 UTC]",
		},
		{
			name: "days_of_month_sorted_and_deduplicated",
			toml: "[[window]]\ndays_of_month = [31, -1, 29, 31]\nstart = \"02:00\"\nend = \"04:00\"\n",
			want: "[days_of_month 29,31,-1 02:00-04:00 Europe/Berlin]",
		},
		{
			name: "weekdays_of_month_issue_example",
			toml: "[[window]]\nweekdays_of_month = [\"2nd Tue\", \"last Sun\"]\nstart = \"22:00\"\nend = \"01:00\"\n",
			want: "[weekdays_of_month 2nd Tue,last Sun 22:00-01:00 Europe/Berlin]",
		},
		{
			name: "weekdays_of_month_in_words",
			toml: "[[window]]\nweekdays_of_month = [\"first Monday\", \"FIFTH fri\"]\nstart = \"02:00\"\nend = \"03:00\"\n",
			want: "[weekdays_of_month 1st Mon,5th Fri 02:00-03:00 Europe/Berlin]",
		},
		{
			name: "weekly_and_monthly_windows_side_by_side",
			toml: "[[window]]\ndays = [\"Sat\"]\nstart = \"02:00\"\nend = \"04:00\"\n\n[[window]]\ndays_of_month = [-1]\nstart = \"23:00\"\nend = \"01:00\"\n\n[[window]]\nweekdays_of_month = [\"last Sun\"]\nstart = \"02:30\"\nend = \"03:30\"\n",
			want: "[Sat 02:00-04:00 Europe/Berlin; days_of_month -1 23:00-01:00 Europe/Berlin; weekdays_of_month last Sun 02:30-03:30 Europe/Berlin]",
		},
		{
			name: "multi_line_list",
			toml: "[[window]]\ndays_of_month = [\n  1,  # first\n  15,\n]\nstart = \"02:00\"\nend = \"04:00\"\n",
			want: "[days_of_month 1,15 02:00-04:00 Europe/Berlin]",
		},
		{
			name: "inline_table",
			toml: "window = [{weekdays_of_month = [\"3rd Wed\"], start = \"01:00\", end = \"02:00\"}]\n",
			want: "[weekdays_of_month 3rd Wed 01:00-02:00 Europe/Berlin]",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(mainName, []byte(tc.toml), berlin(t))
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tc.toml, err)
			}
			if got := windowsOf(c); got != tc.want {
				t.Errorf("Parse(%q) windows = %s; want %s", tc.toml, got, tc.want)
			}
			for i, w := range c.Windows {
				if w.Days != 0 && (w.MonthDays != 0 || w.MonthWeekdays != 0) {
					t.Errorf("Parse(%q).Windows[%d] has weekly and monthly days; want one kind", tc.toml, i)
				}
			}
		})
	}
}

func TestParse_monthlyWindowErrors(t *testing.T) {
	tests := []parseErrorCase{
		{
			name: "sixth_weekday",
			toml: "[[window]]\nstart = \"22:00\"\nweekdays_of_month = [\"2nd Tue\", \"6th Tue\"]\nend = \"01:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:3: window.weekdays_of_month: "6th Tue" is not a weekday of the month (1st..5th or last, then Mon..Sun, such as "2nd Tue" or "last Sun")`},
		},
		{
			name: "weekday_without_ordinal",
			toml: "[[window]]\nweekdays_of_month = [\"Tue\", 2]\nstart = \"22:00\"\nend = \"01:00\"\n",
			want: []string{
				`/etc/kexec-upgrade/config.toml:2: window.weekdays_of_month: "Tue" is not a weekday of the month (1st..5th or last, then Mon..Sun, such as "2nd Tue" or "last Sun")`,
				`/etc/kexec-upgrade/config.toml:2: window.weekdays_of_month: 2 is not a weekday of the month (1st..5th or last, then Mon..Sun, such as "2nd Tue" or "last Sun")`,
			},
		},
		{
			name: "weekdays_of_month_not_a_list",
			toml: "[[window]]\nweekdays_of_month = \"last Sun\"\nstart = \"22:00\"\nend = \"01:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:2: window.weekdays_of_month: "last Sun" is not a list of weekdays of the month such as ["2nd Tue", "last Sun"]`},
		},
		{
			name: "weekdays_of_month_empty",
			toml: "[[window]]\nweekdays_of_month = []\nstart = \"22:00\"\nend = \"01:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:2: window.weekdays_of_month: is empty; give weekdays of the month such as ["2nd Tue", "last Sun"], or omit the key`},
		},
		{
			name: "day_32_zero_and_minus_two",
			toml: "[[window]]\ndays_of_month = [1, 32, 0, -2]\nstart = \"02:00\"\nend = \"04:00\"\n",
			want: []string{
				`/etc/kexec-upgrade/config.toml:2: window.days_of_month: 32 is not a day of the month (1..31, or -1 for the last day)`,
				`/etc/kexec-upgrade/config.toml:2: window.days_of_month: 0 is not a day of the month (1..31, or -1 for the last day)`,
				`/etc/kexec-upgrade/config.toml:2: window.days_of_month: -2 is not a day of the month (1..31, or -1 for the last day)`,
			},
		},
		{
			name: "days_of_month_as_strings_and_floats",
			toml: "[[window]]\ndays_of_month = [\"1\", \"last\", 1.5]\nstart = \"02:00\"\nend = \"04:00\"\n",
			want: []string{
				`/etc/kexec-upgrade/config.toml:2: window.days_of_month: "1" is not a day of the month (1..31, or -1 for the last day)`,
				`/etc/kexec-upgrade/config.toml:2: window.days_of_month: "last" is not a day of the month (1..31, or -1 for the last day)`,
				`/etc/kexec-upgrade/config.toml:2: window.days_of_month: 1.5 is not a day of the month (1..31, or -1 for the last day)`,
			},
		},
		{
			name: "days_of_month_not_a_list",
			toml: "[[window]]\ndays_of_month = 15\nstart = \"02:00\"\nend = \"04:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:2: window.days_of_month: 15 is not a list of days of the month such as [1, 15, -1]`},
		},
		{
			name: "days_of_month_empty",
			toml: "[[window]]\ndays_of_month = []\nstart = \"02:00\"\nend = \"04:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:2: window.days_of_month: is empty; give days of the month such as [1, 15, -1], or omit the key`},
		},
		{
			name: "days_and_days_of_month",
			toml: "[[window]]\ndays = [\"Sat\"]\ndays_of_month = [1, 2, 3, 4, 5, 6, 7]\nstart = \"02:00\"\nend = \"04:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:3: window.days_of_month: cannot be combined with days in one [[window]]; give each its own [[window]] table`},
		},
		{
			name: "later_key_named_whatever_its_name",
			toml: "[[window]]\nweekdays_of_month = [\"1st Sat\"]\nstart = \"02:00\"\nend = \"04:00\"\ndays = [\"Sat\"]\n",
			want: []string{`/etc/kexec-upgrade/config.toml:5: window.days: cannot be combined with weekdays_of_month in one [[window]]; give each its own [[window]] table`},
		},
		{
			name: "all_three_date_keys",
			toml: "[[window]]\nstart = \"02:00\"\nend = \"04:00\"\ndays_of_month = [-1]\nweekdays_of_month = [\"last Sun\"]\ndays = [\"Sun\"]\n",
			want: []string{
				`/etc/kexec-upgrade/config.toml:5: window.weekdays_of_month: cannot be combined with days_of_month in one [[window]]; give each its own [[window]] table`,
				`/etc/kexec-upgrade/config.toml:6: window.days: cannot be combined with days_of_month in one [[window]]; give each its own [[window]] table`,
			},
		},
		{
			name: "combined_in_an_inline_table",
			toml: "window = [{days = [\"Sat\"], days_of_month = [1], start = \"01:00\", end = \"02:00\"}]\n",
			want: []string{`/etc/kexec-upgrade/config.toml:1: window.days_of_month: cannot be combined with days in one [[window]]; give each its own [[window]] table`},
		},
		{
			name: "combined_in_the_second_window",
			toml: "[[window]]\ndays_of_month = [1]\nstart = \"01:00\"\nend = \"02:00\"\n[[window]]\nweekdays_of_month = [\"2nd Tue\"]\ndays_of_month = [15]\nstart = \"01:00\"\nend = \"02:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:7: window.days_of_month: cannot be combined with weekdays_of_month in one [[window]]; give each its own [[window]] table`},
		},
		{
			name: "spread_and_margin_too_long_for_a_monthly_window",
			toml: "[[window]]\nweekdays_of_month = [\"last Sun\"]\nstart = \"02:00\"\nend = \"03:00\"\nspread = \"50m\"\nmargin = \"10m\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:1: window: spread 50m plus margin 10m leave no time to switch in this 1h window; shorten spread or margin`},
		},
	}
	checkParseErrors(t, berlin(t), tests)
}

// TestParse_monthlyWindowSpreadMargin checks that a monthly window takes
// its own spread and margin, or the global ones, as a weekly window does.
func TestParse_monthlyWindowSpreadMargin(t *testing.T) {
	toml := "spread = \"20m\"\n\n[[window]]\ndays_of_month = [1]\nstart = \"02:00\"\nend = \"04:00\"\n\n" +
		"[[window]]\nweekdays_of_month = [\"2nd Tue\"]\nstart = \"22:00\"\nend = \"01:00\"\nspread = \"30m\"\nmargin = \"15m\"\n"
	c, err := Parse(mainName, []byte(toml), time.UTC)
	if err != nil {
		t.Fatalf("Parse(%q) error: %v", toml, err)
	}
	type sm struct{ spread, margin time.Duration }
	var got []sm
	for _, w := range c.Windows {
		got = append(got, sm{w.Spread, w.Margin})
	}
	want := []sm{{20 * time.Minute, DefaultMargin}, {30 * time.Minute, 15 * time.Minute}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(%q) spread and margin of the windows = %+v; want %+v", toml, got, want)
	}
	// The second Tuesday of March 2026 is the 10th: its slot for a host
	// half-way through the spread starts 15 minutes after the opening.
	slots := c.Windows.Slots(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 0.5)
	wantStart := time.Date(2026, 3, 1, 2, 10, 0, 0, time.UTC)
	if !slots.Next.Start.Equal(wantStart) {
		t.Errorf("Slots(2026-03-01, 0.5).Next = %v; want the 1st's slot at %v", slots.Next, wantStart)
	}
	slots = c.Windows.Slots(time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), 0.5)
	wantSlot := [2]time.Time{time.Date(2026, 3, 10, 22, 15, 0, 0, time.UTC), time.Date(2026, 3, 11, 0, 45, 0, 0, time.UTC)}
	if !slots.Next.Start.Equal(wantSlot[0]) || !slots.Next.End.Equal(wantSlot[1]) {
		t.Errorf("Slots(2026-03-05, 0.5).Next = %v; want [%v, %v)", slots.Next, wantSlot[0], wantSlot[1])
	}
}
