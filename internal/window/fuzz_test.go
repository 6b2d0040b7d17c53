package window

import (
	"fmt"
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
// start, 11 of end, 8 of zone.
func fuzzWindow(zones []*time.Location, x uint64) Window {
	return Window{
		Days:     Days(x),
		Start:    Clock(((x >> 8) & 0x7ff) % minutesPerDay),
		End:      Clock(((x >> 19) & 0x7ff) % minutesPerDay),
		Location: zones[int((x>>30)&0xff)%len(zones)],
	}
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
	seed := func(w Window, zone int, t string) {
		x := uint64(w.Days) | uint64(w.Start)<<8 | uint64(w.End)<<19 | uint64(zone)<<30
		u := at(f, t)
		f.Add(x, u.Unix()-fuzzFirst, uint32(u.Nanosecond()), int64(3600))
	}
	seed(Window{Days: 1<<time.Saturday | 1<<time.Sunday, Start: 120, End: 240}, 0, "2026-03-29T00:30:00Z")
	seed(Window{Start: 150, End: 210}, 1, "2026-03-29T00:00:00+01:00")
	seed(Window{Start: 150, End: 210}, 1, "2026-10-25T00:00:00+02:00")
	seed(Window{Start: 60, End: 150}, 1, "2026-10-25T02:15:00+01:00")
	seed(Window{Start: 150, End: 240}, 2, "2026-03-08T00:00:00-05:00")
	seed(Window{Start: 135, End: 180}, 3, "2026-10-04T00:00:00+10:30")
	seed(Window{Start: 105, End: 135}, 3, "2026-04-05T01:40:00+10:30")
	seed(Window{Days: 1 << time.Friday, Start: 600, End: 600}, 4, "2011-12-29T12:00:00-10:00")
	seed(Window{Start: 1410, End: 30}, 5, "2018-11-03T23:45:00-03:00")
	seed(Window{Days: 1 << time.Monday, Start: 0, End: 0}, 1, "1893-03-31T12:00:00Z")
	f.Fuzz(func(t *testing.T, x uint64, sec int64, nsec uint32, delta int64) {
		w := fuzzWindow(zones, x)
		loc := w.Location
		now := fuzzInstant(sec, nsec)
		name := w.Days.String() + " " + w.Start.String() + "-" + w.End.String() + " " + loc.String()

		s := w.Next(now)
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

		// The span opens at Start on a day in Days, or at a zone change
		// that skipped Start; it closes at End or at such a change.
		if c, whole := wallClock(s.Start, loc); !(whole && c == w.Start) && !atZoneChange(s.Start, loc) {
			t.Fatalf("%s: Next(%s) = %s opens at neither %s nor a zone change", name, fmtTimeIn(now, loc), fmtSpan(s), w.Start)
		} else if whole && c == w.Start && !w.Days.Has(s.Start.In(loc).Weekday()) {
			t.Fatalf("%s: Next(%s) = %s opens on a day not in %s", name, fmtTimeIn(now, loc), fmtSpan(s), w.Days)
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
	f.Add(uint8(1), satSun|clk(120)<<8|clk(240)<<19|utc, uint64(0), uint64(0), uint8(5), u, uint32(0), uint64(12345))
	f.Add(uint8(2), sat|clk(60)<<8|clk(180)<<19|utc, sat|clk(120)<<8|clk(300)<<19|utc, uint64(0), uint8(3), u, uint32(0), uint64(99))
	f.Add(uint8(2), sat|clk(60)<<8|clk(120)<<19|utc, sat|clk(120)<<8|clk(180)<<19|utc, uint64(0), uint8(3), u, uint32(0), uint64(7))
	f.Add(uint8(3), clk(0)<<8|clk(0)<<19|berlin, sat|clk(120)<<8|clk(300)<<19|utc, uint64(0), uint8(3), u, uint32(5), uint64(1))
	f.Add(uint8(3), clk(1320)<<8|clk(120)<<19|berlin, clk(120)<<8|clk(360)<<19|utc, sat|clk(300)<<8|clk(360)<<19|berlin, uint8(4), u, uint32(0), uint64(3))
	f.Fuzz(func(t *testing.T, count uint8, a, b, c uint64, n uint8, sec int64, nsec uint32, probe uint64) {
		var s Schedule
		for _, x := range []uint64{a, b, c}[:int(count%3)+1] {
			s = append(s, fuzzWindow(zones, x))
		}
		now := fuzzInstant(sec, nsec)
		want := int(n%6) + 1
		spans := s.Next(now, want)
		if len(spans) == 0 || len(spans) > want {
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
