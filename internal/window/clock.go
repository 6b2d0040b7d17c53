package window

import (
	"fmt"
	"strings"
	"time"
)

// minutesPerDay is the number of distinct Clock values.
const minutesPerDay = 24 * 60

// Clock is a wall-clock time of day in minutes since midnight, 0..1439.
// Values outside that range are taken modulo 1440.
type Clock int

// norm returns c in 0..1439.
func (c Clock) norm() Clock {
	c %= minutesPerDay
	if c < 0 {
		c += minutesPerDay
	}
	return c
}

// ParseClock parses "HH:MM", 00:00 through 23:59, with exactly two ASCII
// digits on each side of the colon.
func ParseClock(s string) (Clock, error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, clockError(s)
	}
	h, ok1 := twoDigits(s[0:2])
	m, ok2 := twoDigits(s[3:5])
	if !ok1 || !ok2 || h > 23 || m > 59 {
		return 0, clockError(s)
	}
	return Clock(h*60 + m), nil
}

// clockError is the error for a string that is not an HH:MM time of day.
func clockError(s string) error {
	return fmt.Errorf("%q is not a time of day (HH:MM)", s)
}

// twoDigits parses exactly two ASCII digits.
func twoDigits(s string) (int, bool) {
	if len(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// String formats c as "HH:MM", for example "02:00".
func (c Clock) String() string {
	c = c.norm()
	return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60)
}

// shortNames holds the three-letter English weekday names in time.Weekday order.
const shortNames = "SunMonTueWedThuFriSat"

// shortName returns the three-letter English name of w, which must be a weekday.
func shortName(w time.Weekday) string {
	return shortNames[3*w : 3*w+3]
}

// ParseWeekday parses a weekday: "Mon" through "Sun" or a full English name
// such as "Saturday", in any letter case.
func ParseWeekday(s string) (time.Weekday, error) {
	for w := time.Sunday; w <= time.Saturday; w++ {
		if strings.EqualFold(s, shortName(w)) || strings.EqualFold(s, w.String()) {
			return w, nil
		}
	}
	return 0, fmt.Errorf("%q is not a day (Mon..Sun)", s)
}

// Days is a set of weekdays as a bit mask (1<<time.Weekday); the zero value
// means every day. Bits above Saturday are ignored, so a set holding none of
// the seven weekday bits also means every day.
type Days uint8

// allDays has the bit of every weekday set.
const allDays Days = 1<<7 - 1

// Has reports whether w is in the set. It is false for a value of w that is
// not a weekday.
func (d Days) Has(w time.Weekday) bool {
	if w < time.Sunday || w > time.Saturday {
		return false
	}
	if d&allDays == 0 {
		return true
	}
	return d&(1<<w) != 0
}

// String lists the days Monday first, as "Sat,Sun", or returns "every day"
// for the empty set and for the set of all seven days.
func (d Days) String() string {
	d &= allDays
	if d == 0 || d == allDays {
		return "every day"
	}
	var b strings.Builder
	for i := range 7 {
		w := time.Weekday((i + 1) % 7) // Monday first, Sunday last
		if d&(1<<w) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(shortName(w))
	}
	return b.String()
}
