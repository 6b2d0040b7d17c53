package window

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// load loads an IANA time zone or fails the test.
func load(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		tb.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

// at parses an RFC 3339 instant (fractional seconds allowed) or fails the test.
// Test instants always carry their offset, so none depends on time.Date's
// choice inside a daylight saving gap or overlap.
func at(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("time.Parse(%q): %v", s, err)
	}
	return t
}

// nextCase is a window, an instant, the span Next returns at that instant
// and whether Contains holds there.
type nextCase struct {
	name         string
	window       spec
	at           string
	wantStart    string
	wantEnd      string
	wantContains bool
}

// checkNext runs Next and Contains for every case.
func checkNext(t *testing.T, tests []nextCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.window.window(t)
			now := at(t, tc.at)
			want := Span{Start: at(t, tc.wantStart), End: at(t, tc.wantEnd)}
			if got := w.Next(now); !sameSpan(got, want) {
				t.Errorf("%s: Next(%s) = %s; want %s", tc.window, fmtTimeIn(now, w.Location), fmtSpan(got), fmtSpan(want))
			}
			if got := w.Contains(now); got != tc.wantContains {
				t.Errorf("%s: Contains(%s) = %v; want %v", tc.window, fmtTimeIn(now, w.Location), got, tc.wantContains)
			}
		})
	}
}

// clock parses HH:MM or fails the test.
func clock(tb testing.TB, s string) Clock {
	tb.Helper()
	c, err := ParseClock(s)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// daysOf parses a comma-separated list of day names; "" is the empty set.
func daysOf(tb testing.TB, s string) Days {
	tb.Helper()
	var d Days
	if s == "" {
		return d
	}
	for _, name := range strings.Split(s, ",") {
		w, err := ParseWeekday(name)
		if err != nil {
			tb.Fatal(err)
		}
		d |= 1 << w
	}
	return d
}

// spec describes a window in test tables: "Sat,Sun 02:00-04:00 UTC";
// "* 02:00-04:00 UTC" is every day; "dom=1,15,-1 02:00-04:00 UTC" is on days
// of the month, "wom=2nd-Tue,last-Sun 22:00-01:00 UTC" on weekdays of the
// month, and "Wed+dom=31 ..." on the dates that are both.
type spec string

// window builds the Window a spec describes or fails the test.
func (s spec) window(tb testing.TB) Window {
	tb.Helper()
	f := strings.Fields(string(s))
	if len(f) != 3 {
		tb.Fatalf("bad spec %q", s)
	}
	startEnd := strings.Split(f[1], "-")
	if len(startEnd) != 2 {
		tb.Fatalf("bad spec %q", s)
	}
	w := Window{
		Start:    clock(tb, startEnd[0]),
		End:      clock(tb, startEnd[1]),
		Location: load(tb, f[2]),
	}
	if f[0] == "*" {
		return w
	}
	for _, part := range strings.Split(f[0], "+") {
		switch {
		case strings.HasPrefix(part, "dom="):
			for _, n := range strings.Split(strings.TrimPrefix(part, "dom="), ",") {
				d, err := strconv.ParseInt(n, 10, 64)
				if err != nil {
					tb.Fatalf("bad spec %q: %v", s, err)
				}
				md, err := MonthDay(d)
				if err != nil {
					tb.Fatalf("bad spec %q: %v", s, err)
				}
				w.MonthDays |= md
			}
		case strings.HasPrefix(part, "wom="):
			for _, name := range strings.Split(strings.TrimPrefix(part, "wom="), ",") {
				mw, err := ParseMonthWeekday(strings.ReplaceAll(name, "-", " "))
				if err != nil {
					tb.Fatalf("bad spec %q: %v", s, err)
				}
				w.MonthWeekdays |= mw
			}
		default:
			w.Days = daysOf(tb, part)
		}
	}
	return w
}

// schedule builds a Schedule from specs.
func schedule(tb testing.TB, specs ...spec) Schedule {
	tb.Helper()
	s := make(Schedule, 0, len(specs))
	for _, sp := range specs {
		s = append(s, sp.window(tb))
	}
	return s
}

// fmtTime formats an instant for failure messages: "Sat 2026-03-28T23:00:00+01:00".
func fmtTime(t time.Time) string {
	return t.Format("Mon 2006-01-02T15:04:05.999999999Z07:00")
}

// fmtTimeIn formats t in the zone of the window under test.
func fmtTimeIn(t time.Time, loc *time.Location) string {
	return fmtTime(t.In(loc))
}

// fmtSpan formats a span for failure messages.
func fmtSpan(s Span) string {
	return fmt.Sprintf("[%s, %s)", fmtTime(s.Start), fmtTime(s.End))
}

// fmtSpans formats a list of spans for failure messages.
func fmtSpans(spans []Span) string {
	parts := make([]string, len(spans))
	for i, s := range spans {
		parts[i] = fmtSpan(s)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// sameSpan reports whether two spans hold the same instants, whatever the
// locations of their times.
func sameSpan(a, b Span) bool {
	return a.Start.Equal(b.Start) && a.End.Equal(b.End)
}
