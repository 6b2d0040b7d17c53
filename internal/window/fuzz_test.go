package window

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// loadFuzzZones loads the zones the fuzz targets draw from: the ones the
// tests name, plus zones with odd changes: Samoa skipped a day (2011) and
// repeated one (1892), São Paulo changed at midnight, Dublin has negative
// DST, Casablanca suspends DST for Ramadan, Kathmandu and St. John's have odd
// offsets, and every zone had a local mean time with seconds before 1900.
func loadFuzzZones(f *testing.F) []*time.Location {
	names := []string{
		"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
		"Pacific/Apia", "America/Sao_Paulo", "Europe/Dublin", "Africa/Casablanca",
		"Asia/Kathmandu", "America/St_Johns",
	}
	zones := make([]*time.Location, len(names))
	for i, name := range names {
		zones[i] = load(f, name)
	}
	return zones
}

// fuzzFirst and fuzzRange keep fuzzed instants between 1850 and 2150, a
// range the zone database covers with transitions and rules.
const (
	fuzzFirst = -3786825600 // 1850-01-01T00:00:00Z
	fuzzRange = 300 * 36525 * secondsPerDay / 100
)

// fuzzInstant maps any integers to an instant in the fuzzed range.
func fuzzInstant(sec int64, nsec uint32) time.Time {
	return time.Unix(fuzzFirst+floorMod(sec, fuzzRange), int64(nsec%1e9))
}

// fuzzWindow builds a window from the low bits of x: 8 bits of days, 11 of
// start, 11 of end, 8 of zone; and from m its monthly dates: the low two
// bits choose none (a weekly window), MonthDays, MonthWeekdays or both (the
// weekdays, then the days from the bits above them) from the bits above the
// third; the third keeps the days of x, which narrow the monthly dates, and
// otherwise clears them, as the configuration does.
func fuzzWindow(zones []*time.Location, x, m uint64) Window {
	w := Window{
		Days:     Days(x),
		Start:    Clock(((x >> 8) & 0x7ff) % minutesPerDay),
		End:      Clock(((x >> 19) & 0x7ff) % minutesPerDay),
		Location: zones[int((x>>30)&0xff)%len(zones)],
	}
	payload := m >> 3
	switch m & 3 {
	case 1:
		w.MonthDays = MonthDays(payload)
	case 2:
		w.MonthWeekdays = MonthWeekdays(payload)
	case 3:
		w.MonthWeekdays = MonthWeekdays(payload)
		w.MonthDays = MonthDays(payload >> 42) // the last day, 1st..18th
	}
	if m&4 == 0 && (w.MonthDays != 0 || w.MonthWeekdays != 0) {
		w.Days = 0
	}
	return w
}

// fuzzMonthly packs what fuzzWindow reads from m: kind 1 MonthDays, 2
// MonthWeekdays (3 both, from one payload), and whether Days stay.
func fuzzMonthly(kind uint64, keepDays bool, payload uint64) uint64 {
	m := kind&3 | payload<<3
	if keepDays {
		m |= 4
	}
	return m
}

// describeWindow names a window in fuzz failures.
func describeWindow(w Window) string {
	s := w.Days.String()
	if w.MonthDays != 0 {
		s += " days_of_month " + w.MonthDays.String()
	}
	if w.MonthWeekdays&allMonthWeekdays != 0 {
		s += " weekdays_of_month " + w.MonthWeekdays.String()
	}
	return s + " " + w.Start.String() + "-" + w.End.String() + " " + w.loc().String()
}

// opensOnDate is an oracle for opensOn, computed with the time package:
// whether the window opens on the date of t in t's location.
func opensOnDate(w Window, t time.Time) bool {
	if !w.Days.Has(t.Weekday()) {
		return false
	}
	mw := w.MonthWeekdays & allMonthWeekdays
	if w.MonthDays == 0 && mw == 0 {
		return true
	}
	y, m, d := t.Date()
	last := time.Date(y, m+1, 0, 12, 0, 0, 0, time.UTC).Day()
	if w.MonthDays&(1<<d) != 0 || w.MonthDays&1 != 0 && d == last {
		return true
	}
	for n := 1; n <= 5; n++ {
		if (d-1)/7+1 == n && mw&(1<<(7*(n-1)+int(t.Weekday()))) != 0 {
			return true
		}
	}
	return d+7 > last && mw&(1<<(35+int(t.Weekday()))) != 0
}

// opensWithin reports whether the oracle finds an opening date among the
// days dates from the date of t on, in loc.
func opensWithin(w Window, t time.Time, loc *time.Location, days int) bool {
	y, m, d := t.In(loc).Date()
	for i := range days {
		if opensOnDate(w, time.Date(y, m, d+i, 12, 0, 0, 0, time.UTC)) {
			return true
		}
	}
	return false
}

// atZoneChange reports whether t is the first instant of an offset of loc.
func atZoneChange(t time.Time, loc *time.Location) bool {
	start, _ := t.In(loc).ZoneBounds()
	return start.Equal(t)
}

// wallClock returns the wall clock of t in loc as a Clock, and whether t is
// on a whole minute there.
func wallClock(t time.Time, loc *time.Location) (Clock, bool) {
	l := t.In(loc)
	return Clock(l.Hour()*60 + l.Minute()), l.Second() == 0 && l.Nanosecond() == 0
}

func FuzzWindowNext(f *testing.F) {
	zones := loadFuzzZones(f)
	seed := func(w Window, m uint64, zone int, t string) {
		x := uint64(w.Days) | uint64(w.Start)<<8 | uint64(w.End)<<19 | uint64(zone)<<30
		u := at(f, t)
		f.Add(x, m, u.Unix()-fuzzFirst, uint32(u.Nanosecond()), int64(3600))
	}
	const (
		lastSunday  = uint64(1) << (35 + time.Sunday)
		secondTue   = uint64(1) << (7 + time.Tuesday)
		fifthFriday = uint64(1) << (28 + time.Friday)
	)
	seed(Window{Days: 1<<time.Saturday | 1<<time.Sunday, Start: 120, End: 240}, 0, 0, "2026-03-29T00:30:00Z")
	seed(Window{Start: 150, End: 210}, 0, 1, "2026-03-29T00:00:00+01:00")
	seed(Window{Start: 150, End: 210}, 0, 1, "2026-10-25T00:00:00+02:00")
	seed(Window{Start: 60, End: 150}, 0, 1, "2026-10-25T02:15:00+01:00")
	seed(Window{Start: 150, End: 240}, 0, 2, "2026-03-08T00:00:00-05:00")
	seed(Window{Start: 135, End: 180}, 0, 3, "2026-10-04T00:00:00+10:30")
	seed(Window{Start: 105, End: 135}, 0, 3, "2026-04-05T01:40:00+10:30")
	seed(Window{Days: 1 << time.Friday, Start: 600, End: 600}, 0, 4, "2011-12-29T12:00:00-10:00")
	seed(Window{Start: 1410, End: 30}, 0, 5, "2018-11-03T23:45:00-03:00")
	seed(Window{Days: 1 << time.Monday, Start: 0, End: 0}, 0, 1, "1893-03-31T12:00:00Z")
	seed(Window{Start: 120, End: 240}, fuzzMonthly(1, false, 1<<31), 0, "2026-04-01T00:00:00Z")
	seed(Window{Start: 120, End: 240}, fuzzMonthly(1, false, 1<<29), 0, "2027-02-01T00:00:00Z")
	seed(Window{Start: 1380, End: 60}, fuzzMonthly(1, false, 1), 0, "2026-03-01T00:30:00Z")
	seed(Window{Start: 150, End: 210}, fuzzMonthly(2, false, lastSunday), 1, "2026-03-29T00:00:00+01:00")
	seed(Window{Start: 120, End: 180}, fuzzMonthly(2, false, lastSunday), 1, "2026-10-25T00:00:00+02:00")
	seed(Window{Start: 150, End: 240}, fuzzMonthly(2, false, secondTue<<5), 2, "2026-03-08T00:00:00-05:00")
	seed(Window{Start: 120, End: 240}, fuzzMonthly(2, false, fifthFriday), 0, "2026-02-01T00:00:00Z")
	seed(Window{Start: 1320, End: 60}, fuzzMonthly(2, false, secondTue), 4, "2011-12-29T12:00:00-10:00")
	seed(Window{Days: 1 << time.Wednesday, Start: 120, End: 240}, fuzzMonthly(1, true, 1<<31), 0, "2026-01-01T00:00:00Z")
	seed(Window{Days: 1 << time.Saturday, Start: 120, End: 240}, fuzzMonthly(2, true, secondTue), 0, "2026-01-01T00:00:00Z")
	seed(Window{Start: 0, End: 0}, fuzzMonthly(3, false, 1<<(42+2)|lastSunday), 5, "2018-11-04T00:30:00-02:00")
	f.Fuzz(func(t *testing.T, x, m uint64, sec int64, nsec uint32, delta int64) {
		w := fuzzWindow(zones, x, m)
		loc := w.Location
		now := fuzzInstant(sec, nsec)
		name := describeWindow(w)

		s := w.Next(now)
		if s == (Span{}) {
			// Only a window without any opening date has no span: its
			// Days exclude the weekdays of all its MonthWeekdays.
			if w.MonthDays != 0 || opensWithin(w, now, loc, 20*7) {
				t.Fatalf("%s: Next(%s) = the zero Span; want a span", name, fmtTimeIn(now, loc))
			}
			if w.Contains(now) {
				t.Fatalf("%s: Contains(%s) = true; want false as Next has no span", name, fmtTimeIn(now, loc))
			}
			return
		}
		if !s.End.After(s.Start) {
			t.Fatalf("%s: Next(%s) = %s; want End after Start", name, fmtTimeIn(now, loc), fmtSpan(s))
		}
		if d := s.End.Sub(s.Start); d > 50*time.Hour {
			t.Fatalf("%s: Next(%s) = %s; want at most 50 hours, got %v", name, fmtTimeIn(now, loc), fmtSpan(s), d)
		}
		if !s.Contains(now) && !s.Start.After(now) {
			t.Fatalf("%s: Next(%s) = %s; want a span containing or after it", name, fmtTimeIn(now, loc), fmtSpan(s))
		}
		if got := w.Contains(now); got != s.Contains(now) {
			t.Fatalf("%s: Contains(%s) = %v; want %v as Next = %s", name, fmtTimeIn(now, loc), got, !got, fmtSpan(s))
		}
		if !w.Contains(s.Start) || !w.Contains(s.End.Add(-time.Nanosecond)) {
			t.Fatalf("%s: Contains is false inside Next(%s) = %s", name, fmtTimeIn(now, loc), fmtSpan(s))
		}
		if w.Contains(s.End) {
			if next := w.Next(s.End); !next.Start.Equal(s.End) {
				t.Fatalf("%s: Contains(%s) = true at the end of Next(%s) = %s; want a span starting there, Next = %s",
					name, fmtTimeIn(s.End, loc), fmtTimeIn(now, loc), fmtSpan(s), fmtSpan(next))
			}
		}
		if before := s.Start.Add(-time.Nanosecond); s.Start.After(now) && w.Contains(before) {
			t.Fatalf("%s: Contains(%s) = true between %s and Next = %s", name, fmtTimeIn(before, loc), fmtTimeIn(now, loc), fmtSpan(s))
		}

		// The span opens at Start on one of the window's dates, or at a
		// zone change that skipped Start; it closes at End or at such a
		// change.
		if c, whole := wallClock(s.Start, loc); !(whole && c == w.Start) && !atZoneChange(s.Start, loc) {
			t.Fatalf("%s: Next(%s) = %s opens at neither %s nor a zone change", name, fmtTimeIn(now, loc), fmtSpan(s), w.Start)
		} else if whole && c == w.Start && !opensOnDate(w, s.Start.In(loc)) {
			t.Fatalf("%s: Next(%s) = %s opens on a date that is not one of the window's", name, fmtTimeIn(now, loc), fmtSpan(s))
		}
		if c, whole := wallClock(s.End, loc); !(whole && c == w.End) && !atZoneChange(s.End, loc) {
			t.Fatalf("%s: Next(%s) = %s closes at neither %s nor a zone change", name, fmtTimeIn(now, loc), fmtSpan(s), w.End)
		}

		// Later instants never get an earlier span.
		later := now.Add(time.Duration(delta%(30*secondsPerDay)) * time.Second)
		if later.After(now) {
			if s2 := w.Next(later); s2.Start.Before(s.Start) {
				t.Fatalf("%s: Next(%s) = %s starts before Next(%s) = %s", name,
					fmtTimeIn(later, loc), fmtSpan(s2), fmtTimeIn(now, loc), fmtSpan(s))
			}
		}
	})
}

func FuzzScheduleNext(f *testing.F) {
	zones := loadFuzzZones(f)
	const (
		satSun = uint64(1<<time.Saturday | 1<<time.Sunday)
		sat    = uint64(1 << time.Saturday)
		utc    = uint64(0) << 30
		berlin = uint64(1) << 30
	)
	clk := func(c int) uint64 { return uint64(c) }
	u := at(f, "2026-03-29T00:30:00Z").Unix() - fuzzFirst
	none := uint64(0)
	lastSunday := fuzzMonthly(2, false, 1<<(35+time.Sunday))
	lastDay := fuzzMonthly(1, false, 1)
	firstWed := fuzzMonthly(2, false, 1<<time.Wednesday)
	never := fuzzMonthly(2, true, 1<<(7+time.Tuesday))
	f.Add(uint8(1), satSun|clk(120)<<8|clk(240)<<19|utc, uint64(0), uint64(0), none, none, none, uint8(5), u, uint32(0), uint64(12345))
	f.Add(uint8(2), sat|clk(60)<<8|clk(180)<<19|utc, sat|clk(120)<<8|clk(300)<<19|utc, uint64(0), none, none, none, uint8(3), u, uint32(0), uint64(99))
	f.Add(uint8(2), sat|clk(60)<<8|clk(120)<<19|utc, sat|clk(120)<<8|clk(180)<<19|utc, uint64(0), none, none, none, uint8(3), u, uint32(0), uint64(7))
	f.Add(uint8(3), clk(0)<<8|clk(0)<<19|berlin, sat|clk(120)<<8|clk(300)<<19|utc, uint64(0), none, none, none, uint8(3), u, uint32(5), uint64(1))
	f.Add(uint8(3), clk(1320)<<8|clk(120)<<19|berlin, clk(120)<<8|clk(360)<<19|utc, sat|clk(300)<<8|clk(360)<<19|berlin, none, none, none, uint8(4), u, uint32(0), uint64(3))
	f.Add(uint8(3), clk(60)<<8|clk(180)<<19|utc, clk(120)<<8|clk(300)<<19|utc, clk(240)<<8|clk(360)<<19|utc, none, lastSunday, lastDay, uint8(6), u, uint32(0), uint64(11))
	f.Add(uint8(2), clk(1320)<<8|clk(0)<<19|utc, clk(0)<<8|clk(120)<<19|utc, uint64(0), lastDay, firstWed, none, uint8(3), u, uint32(0), uint64(5))
	f.Add(uint8(2), clk(60)<<8|clk(150)<<19|berlin, clk(180)<<8|clk(240)<<19|berlin, uint64(0), lastSunday, fuzzMonthly(1, false, 1<<29), none, uint8(3), u, uint32(0), uint64(17))
	f.Add(uint8(2), sat|clk(120)<<8|clk(240)<<19|utc, clk(120)<<8|clk(240)<<19|utc, uint64(0), never, fuzzMonthly(1, false, 1<<15), none, uint8(2), u, uint32(0), uint64(2))
	f.Add(uint8(1), sat|clk(120)<<8|clk(240)<<19|utc, uint64(0), uint64(0), never, none, none, uint8(2), u, uint32(0), uint64(2))
	f.Fuzz(func(t *testing.T, count uint8, a, b, c, ma, mb, mc uint64, n uint8, sec int64, nsec uint32, probe uint64) {
		var s Schedule
		ms := []uint64{ma, mb, mc}
		for i, x := range []uint64{a, b, c}[:int(count%3)+1] {
			s = append(s, fuzzWindow(zones, x, ms[i]))
		}
		now := fuzzInstant(sec, nsec)
		want := int(n%6) + 1
		spans := s.Next(now, want)
		if len(spans) == 0 {
			// Only windows that never open make a schedule without spans.
			for _, w := range s {
				if sp := w.Next(now); sp != (Span{}) {
					t.Fatalf("Next(%s, %d) = no spans; want some as window %s has %s", fmtTime(now), want, describeWindow(w), fmtSpan(sp))
				}
			}
			if s.Contains(now) {
				t.Fatalf("Contains(%s) = true; want false as Next has no spans", fmtTime(now))
			}
			return
		}
		if len(spans) > want {
			t.Fatalf("Next(%s, %d) = %s; want 1 to %d spans", fmtTime(now), want, fmtSpans(spans), want)
		}
		if !spans[0].Contains(now) && !spans[0].Start.After(now) {
			t.Fatalf("Next(%s, %d) = %s; want the first span to contain or follow it", fmtTime(now), want, fmtSpans(spans))
		}
		if got := s.Contains(now); got != spans[0].Contains(now) {
			t.Fatalf("Contains(%s) = %v; want %v as Next = %s", fmtTime(now), got, !got, fmtSpans(spans))
		}
		open, ok := s.Open(now)
		if ok != spans[0].Contains(now) || (ok && !sameSpan(open, spans[0])) {
			t.Fatalf("Open(%s) = %s, %v; want the first span of Next = %s if it contains it", fmtTime(now), fmtSpan(open), ok, fmtSpans(spans))
		}
		last := spans[len(spans)-1]
		// Merging stops at two weeks past now for a span containing it,
		// else past the span's start.
		capped := last.Contains(now) && last.End.Sub(now) >= mergeLimit || last.End.Sub(last.Start) >= mergeLimit
		if len(spans) < want && !capped {
			t.Fatalf("Next(%s, %d) = %s; want %d spans or a last one of two weeks", fmtTime(now), want, fmtSpans(spans), want)
		}
		for i, sp := range spans {
			if !sp.End.After(sp.Start) {
				t.Fatalf("Next(%s, %d) = %s: span %d is empty", fmtTime(now), want, fmtSpans(spans), i)
			}
			if i > 0 && !spans[i-1].End.Before(sp.Start) {
				t.Fatalf("Next(%s, %d) = %s: spans %d and %d overlap or touch", fmtTime(now), want, fmtSpans(spans), i-1, i)
			}
			inside := sp.Start.Add(time.Duration(probe % uint64(sp.End.Sub(sp.Start))))
			for _, u := range []time.Time{sp.Start, inside, sp.End.Add(-time.Nanosecond)} {
				if !s.Contains(u) {
					t.Fatalf("Next(%s, %d) = %s: Contains(%s) = false inside span %d", fmtTime(now), want, fmtSpans(spans), fmtTime(u), i)
				}
			}
			if (i > 0 || sp.Start.After(now)) && s.Contains(sp.Start.Add(-time.Nanosecond)) {
				t.Fatalf("Next(%s, %d) = %s: Contains is true just before span %d", fmtTime(now), want, fmtSpans(spans), i)
			}
			if i < len(spans)-1 || !capped {
				if s.Contains(sp.End) {
					t.Fatalf("Next(%s, %d) = %s: Contains is true at the end of span %d", fmtTime(now), want, fmtSpans(spans), i)
				}
			}
			if i > 0 {
				gap := sp.Start.Sub(spans[i-1].End)
				if u := spans[i-1].End.Add(time.Duration(probe % uint64(gap))); s.Contains(u) {
					t.Fatalf("Next(%s, %d) = %s: Contains(%s) = true between spans %d and %d", fmtTime(now), want, fmtSpans(spans), fmtTime(u), i-1, i)
				}
			}
		}
		if !spans[0].Contains(now) {
			if gap := spans[0].Start.Sub(now); gap > 0 {
				if u := now.Add(time.Duration(probe % uint64(gap))); s.Contains(u) {
					t.Fatalf("Next(%s, %d) = %s: Contains(%s) = true before the first span", fmtTime(now), want, fmtSpans(spans), fmtTime(u))
				}
			}
		}
	})
}

func FuzzParseClock(f *testing.F) {
	for _, s := range []string{"00:00", "02:00", "23:59", "24:00", "2:00", "ab:cd", "", "12:345"} {
		f.Add(s, 0)
	}
	f.Add("02:30", -1)
	f.Add("02:30", 1440*3+7)
	f.Fuzz(func(t *testing.T, s string, n int) {
		c, err := ParseClock(s)
		if err == nil {
			if c < 0 || c >= minutesPerDay {
				t.Fatalf("ParseClock(%q) = %d; want 0..1439", s, int(c))
			}
			if got := c.String(); got != s {
				t.Fatalf("ParseClock(%q).String() = %q; want %q", s, got, s)
			}
		} else if want := fmt.Sprintf("%q is not a time of day (HH:MM)", s); err.Error() != want {
			t.Fatalf("ParseClock(%q) error = %q; want %q", s, err, want)
		}
		// Every Clock, in range or not, prints as a time ParseClock reads
		// back to the same time of day.
		in := Clock(n)
		back, err := ParseClock(in.String())
		if err != nil || back != in.norm() {
			t.Fatalf("ParseClock(Clock(%d).String() = %q) = %d, %v; want %d, nil", n, in.String(), int(back), err, int(in.norm()))
		}
	})
}

func FuzzParseMonthWeekday(f *testing.F) {
	for _, s := range []string{"2nd Tue", "last Sun", "first monday", "FIFTH Fri", "6th Tue", "0th Mon", "2ndTue", " last  Sat ", "last", "", "3rd Caturday", "-1 Sun"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMonthWeekday(s)
		if err != nil {
			if want := fmt.Sprintf("%q is not a weekday of the month (1st..5th or last, then Mon..Sun, such as \"2nd Tue\" or \"last Sun\")", s); err.Error() != want {
				t.Fatalf("ParseMonthWeekday(%q) error = %q; want %q", s, err, want)
			}
			return
		}
		// Exactly one weekday of the month, which prints as something
		// ParseMonthWeekday reads back to it.
		if m == 0 || m&(m-1) != 0 || m&^allMonthWeekdays != 0 {
			t.Fatalf("ParseMonthWeekday(%q) = %#x; want one bit of 0..41", s, uint64(m))
		}
		back, err := ParseMonthWeekday(m.String())
		if err != nil || back != m {
			t.Fatalf("ParseMonthWeekday(%q) = %q, which reads back as %#x, %v; want %#x", s, m, uint64(back), err, uint64(m))
		}
		// Its weekday is the one named in s, in any spelling.
		fields := strings.Fields(s)
		w, err := ParseWeekday(fields[len(fields)-1])
		if err != nil || m.weekdays() != 1<<w {
			t.Fatalf("ParseMonthWeekday(%q) = %q; want a %v", s, m, w)
		}
	})
}
