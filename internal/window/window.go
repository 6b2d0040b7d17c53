package window

import "time"

// secondsPerDay is the length of a calendar day in wall-clock seconds.
const secondsPerDay = 24 * 60 * 60

// maxDates bounds the dates Window.Next examines. The longest wait for an
// opening date is 7 days for a weekly window, 119 for a monthly one (a
// fifth weekday) and 609 for one whose Days narrow its MonthDays (a
// Wednesday that is the 31st). A date yields no span only when the window
// lies wholly inside an hour its zone skips that very day; no zone skips
// hours on two opening dates in a row, and two of the longest waits fit in
// four years.
const maxDates = 4 * 366

// maxSegments bounds the zone offsets earliest walks through. Its search
// starts two days before the target, and no time zone changes its offset
// more than a few times in a few days.
const maxSegments = 32

// Window is a wall-clock interval from Start to End, in Location (nil: UTC),
// on the dates it opens on. End <= Start means the window crosses midnight;
// End == Start means it lasts 24 hours. A window belongs to the date it
// opens on; the package documentation gives the exact rules, daylight saving
// time included.
//
// A date is an opening date when its weekday is in Days (none: every day)
// and, unless MonthDays and MonthWeekdays are both empty, it is one of the
// days of its month that they list: a weekly window sets only Days, a
// monthly one only MonthDays or MonthWeekdays (the configuration file
// allows one of the three per window). A window whose Days exclude every
// weekday of its MonthWeekdays, with no MonthDays, never opens.
//
// Spread and Margin narrow where a host may start a switch inside each span
// (see [Window.Slot]): a fleet's hosts start at stable offsets spread over
// Spread after the opening, and none starts within Margin of the closing.
type Window struct {
	Days          Days
	MonthDays     MonthDays
	MonthWeekdays MonthWeekdays
	Start, End    Clock
	Location      *time.Location
	Spread        time.Duration
	Margin        time.Duration
}

// Length is the nominal length of the window: End - Start on the wall clock,
// 24 hours when they are equal. Daylight saving changes make a span an hour
// shorter or longer than this.
func (w Window) Length() time.Duration {
	d := time.Duration(int(w.End.norm())-int(w.Start.norm())) * time.Minute
	if d <= 0 {
		d += 24 * time.Hour
	}
	return d
}

// Span is the half-open interval of instants [Start, End).
type Span struct {
	Start, End time.Time
}

// Contains reports whether Start <= t < End.
func (s Span) Contains(t time.Time) bool {
	return !t.Before(s.Start) && t.Before(s.End)
}

// loc returns the window's Location, UTC when it is nil.
func (w Window) loc() *time.Location {
	if w.Location == nil {
		return time.UTC
	}
	return w.Location
}

// Contains reports whether the window is open at t.
func (w Window) Contains(t time.Time) bool {
	return w.Next(t).Contains(t)
}

// Next returns the span of the window that contains t, or else the first one
// that opens after t. The span's times are in the window's Location. It is
// the zero Span only for a window that never opens (see [Window]).
func (w Window) Next(t time.Time) Span {
	if w.never() {
		return Span{}
	}
	loc := w.loc()
	tu := t.Unix() // floor: a span boundary, a whole second, is <= t exactly when it is <= tu
	_, off := t.In(loc).Zone()
	today := floorDiv(tu+int64(off), secondsPerDay)
	// Spans of consecutive dates do not overlap and their openings do not
	// decrease, so the first span of a date from yesterday on that ends
	// after t is the answer. Earlier dates need no look: the span of date
	// today-2 closes at the first instant after its opening whose wall clock
	// reaches (today-1, End) at the latest, and t, after that opening and
	// with its wall clock already on today, is no earlier than that.
	for d := today - 1; d < today-1+maxDates; d++ {
		if !w.opensOn(d) {
			continue
		}
		opening, closing := w.spanOn(loc, d, off)
		if closing > opening && closing > tu {
			return Span{Start: time.Unix(opening, 0).In(loc), End: time.Unix(closing, 0).In(loc)}
		}
	}
	return Span{}
}

// opensOn reports whether day, counted in days since 1970-01-01 in the
// window's Location, is an opening date of the window.
func (w Window) opensOn(day int64) bool {
	wd := weekdayOf(day)
	if !w.Days.Has(wd) {
		return false
	}
	md, mw := w.MonthDays, w.MonthWeekdays&allMonthWeekdays
	if md == 0 && mw == 0 {
		return true
	}
	y, m, d := civil(day)
	n := daysIn(y, m)
	return md.Has(d, n) || mw.Has(wd, d, n)
}

// never reports whether the window has no opening date at all: its Days
// exclude every weekday of its MonthWeekdays, and it has no MonthDays. Every
// other window opens within maxDates of any date.
func (w Window) never() bool {
	mw := w.MonthWeekdays & allMonthWeekdays
	if w.MonthDays != 0 || mw == 0 {
		return false
	}
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		if w.Days.Has(wd) && mw.weekdays().Has(wd) {
			return false
		}
	}
	return true
}

// spanOn returns the opening and closing instants, in Unix seconds, of the
// window for the date day, counted in days since 1970-01-01 in loc, whatever
// its weekday. closing == opening means the window does not open that day
// (it lies wholly inside a skipped hour). off is the offset of loc near that
// date, in seconds: it only bounds the search.
func (w Window) spanOn(loc *time.Location, day int64, off int) (opening, closing int64) {
	start := int64(w.Start.norm()) * 60
	end := int64(w.End.norm()) * 60
	if end <= start {
		end += secondsPerDay
	}
	base := day * secondsPerDay
	// Two days before the target at a nearby offset is before any instant
	// whose wall clock reaches it: no zone changes its offset by that much.
	from := base + start - int64(off) - 2*secondsPerDay
	opening = earliest(loc, base+start, from)
	closing = earliest(loc, base+end, opening)
	return opening, closing
}

// earliest returns the earliest instant u >= from, in Unix seconds, whose wall
// clock in loc is at or after wall, a wall-clock time given as the Unix
// seconds of the same date and time in UTC. It walks the zone's offsets from
// from onwards: within one offset the wall clock grows with the instant, so
// the answer in a segment is its first instant when the wall clock already
// reaches wall there (a skipped hour), else wall minus the offset when that
// lies inside the segment.
func earliest(loc *time.Location, wall, from int64) int64 {
	u := from
	for range maxSegments {
		t := time.Unix(u, 0).In(loc)
		_, off := t.Zone()
		if u+int64(off) >= wall {
			return u
		}
		at := wall - int64(off)
		_, segEnd := t.ZoneBounds()
		if segEnd.IsZero() || at < segEnd.Unix() {
			return at
		}
		u = segEnd.Unix()
	}
	return u
}

// weekdayOf returns the weekday of a date counted in days since 1970-01-01,
// a Thursday.
func weekdayOf(day int64) time.Weekday {
	return time.Weekday(floorMod(day+int64(time.Thursday), 7))
}

// floorDiv divides rounding towards negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// floorMod returns the remainder of floorDiv, with the sign of b.
func floorMod(a, b int64) int64 {
	return a - floorDiv(a, b)*b
}
