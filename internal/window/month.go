package window

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MonthDays is a set of days of the month as a bit mask: bit d for day d,
// 1..31, and bit 0 for the last day of the month, whichever that is. The zero
// value is the empty set. A day that a month lacks (the 31st of April) is
// not in that month.
type MonthDays uint32

// lastDayBit is the bit of the last day of the month in MonthDays.
const lastDayBit MonthDays = 1

// MonthDay returns the set holding day n of the month: 1..31, or -1 for the
// last day of the month.
func MonthDay(n int64) (MonthDays, error) {
	switch {
	case n == -1:
		return lastDayBit, nil
	case n >= 1 && n <= 31:
		return 1 << n, nil
	}
	return 0, fmt.Errorf("%d is not a day of the month (1..31, or -1 for the last day)", n)
}

// Has reports whether day, 1-based, of a month with daysInMonth days is in
// the set.
func (m MonthDays) Has(day, daysInMonth int) bool {
	if day < 1 || day > daysInMonth || day > 31 {
		return false
	}
	return m&(1<<day) != 0 || m&lastDayBit != 0 && day == daysInMonth
}

// String lists the days in ascending order, the last day as -1 at the end:
// "1,15,-1". The empty set is "".
func (m MonthDays) String() string {
	var b strings.Builder
	for d := 1; d <= 31; d++ {
		if m&(1<<d) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(d))
		}
	}
	if m&lastDayBit != 0 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString("-1")
	}
	return b.String()
}

// MonthWeekdays is a set of weekdays of the month, such as the second
// Tuesday and the last Sunday, as a bit mask: bit 7*(n-1)+w for the n-th
// weekday w (n = 1..5, w a time.Weekday), and bit 35+w for the last weekday
// w of the month. The zero value is the empty set; bits above 41 are
// ignored. A month lacks a fifth weekday w unless it has 29 or more days
// and w falls on one of its last days.
type MonthWeekdays uint64

// Ordinals of MonthWeekdays: the first to fifth weekday of a month, and the
// last one.
const (
	lastOrdinal = 6 // the ordinal of "last" in MonthWeekdays
	ordinals    = 6 // 1st..5th and last
)

// allMonthWeekdays has every bit of MonthWeekdays that means something.
const allMonthWeekdays MonthWeekdays = 1<<(7*ordinals) - 1

// ordinalNames are the spellings of the ordinals ParseMonthWeekday reads, by
// ordinal (1..6); the first spelling is the one String writes.
var ordinalNames = [ordinals + 1][]string{
	1:           {"1st", "first"},
	2:           {"2nd", "second"},
	3:           {"3rd", "third"},
	4:           {"4th", "fourth"},
	5:           {"5th", "fifth"},
	lastOrdinal: {"last"},
}

// MonthWeekday returns the set holding the n-th weekday w of the month, n in
// 1..5, or the last weekday w for n = -1.
func MonthWeekday(n int, w time.Weekday) (MonthWeekdays, error) {
	if w < time.Sunday || w > time.Saturday {
		return 0, fmt.Errorf("%d is not a weekday", int(w))
	}
	switch {
	case n == -1:
		return 1 << (7*(lastOrdinal-1) + int(w)), nil
	case n >= 1 && n <= 5:
		return 1 << (7*(n-1) + int(w)), nil
	}
	return 0, fmt.Errorf("%d is not an ordinal of a weekday in a month (1..5, or -1 for the last)", n)
}

// ParseMonthWeekday parses a weekday of the month: an ordinal ("1st" to
// "5th", "first" to "fifth", or "last"), spaces, and a day as ParseWeekday
// reads it, in any letter case: "2nd Tue", "last Sunday".
func ParseMonthWeekday(s string) (MonthWeekdays, error) {
	fields := strings.Fields(s)
	if len(fields) == 2 {
		if n := parseOrdinal(fields[0]); n != 0 {
			if w, err := ParseWeekday(fields[1]); err == nil {
				if n == lastOrdinal {
					n = -1
				}
				return MonthWeekday(n, w)
			}
		}
	}
	return 0, fmt.Errorf("%q is not a weekday of the month (1st..5th or last, then Mon..Sun, such as \"2nd Tue\" or \"last Sun\")", s)
}

// parseOrdinal returns the ordinal (1..6, 6 for last) that s spells, or 0.
func parseOrdinal(s string) int {
	for n := 1; n <= ordinals; n++ {
		for _, name := range ordinalNames[n] {
			if strings.EqualFold(s, name) {
				return n
			}
		}
	}
	return 0
}

// Has reports whether day, 1-based, of a month with daysInMonth days, a
// weekday w, is in the set.
func (m MonthWeekdays) Has(w time.Weekday, day, daysInMonth int) bool {
	if w < time.Sunday || w > time.Saturday || day < 1 || day > daysInMonth {
		return false
	}
	n := (day - 1) / 7 // 0-based ordinal from the start
	if n < 5 && m&(1<<(7*n+int(w))) != 0 {
		return true
	}
	return day+7 > daysInMonth && m&(1<<(7*(lastOrdinal-1)+int(w))) != 0
}

// weekdays returns the set of weekdays that appear in m.
func (m MonthWeekdays) weekdays() Days {
	var d Days
	for n := range ordinals {
		d |= Days((m >> (7 * n)) & MonthWeekdays(allDays))
	}
	return d
}

// String lists the weekdays of the month by ordinal, then Monday first:
// "2nd Tue,last Sun". The empty set is "".
func (m MonthWeekdays) String() string {
	var b strings.Builder
	for n := 1; n <= ordinals; n++ {
		for i := range 7 {
			w := time.Weekday((i + 1) % 7) // Monday first, Sunday last
			if m&(1<<(7*(n-1)+int(w))) == 0 {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(ordinalNames[n][0])
			b.WriteByte(' ')
			b.WriteString(shortName(w))
		}
	}
	return b.String()
}

// civil returns the proleptic Gregorian date of a day counted since
// 1970-01-01 (H. Hinnant's days_from_civil, inverted).
func civil(day int64) (year int64, month, dayOfMonth int) {
	z := day + 719468 // days since 0000-03-01
	era := floorDiv(z, 146097)
	doe := z - era*146097                                  // 0..146096
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // 0..399
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // 0..365, from March 1
	mp := (5*doy + 2) / 153                                // 0..11, March first
	dayOfMonth = int(doy - (153*mp+2)/5 + 1)
	month = int(mp) + 3
	if month > 12 {
		month -= 12
	}
	year = yoe + era*400
	if month <= 2 {
		year++
	}
	return year, month, dayOfMonth
}

// daysIn returns the number of days in a month of the proleptic Gregorian
// calendar.
func daysIn(year int64, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
