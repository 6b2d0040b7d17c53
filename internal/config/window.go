package config

import (
	"fmt"
	"sort"

	"github.com/kexec-upgrade/kexec-upgrade/internal/window"
)

// dateKeys are the keys of a [[window]] that choose the dates it opens on,
// in the order their errors name them when they share a line. A window
// takes at most one of them: days together with days_of_month would read as
// "Saturdays that are the 1st" to one admin (systemd's OnCalendar) and as
// "Saturdays, and the 1st" to another (cron).
var dateKeys = []string{"days", "days_of_month", "weekdays_of_month"}

// oneDateKey records an error on every date key of window table t after the
// first one in the file: a window opens on weekdays, on days of the month or
// on weekdays of the month, never on a mix.
func (v *validator) oneDateKey(prefix string, t map[string]any) {
	var set []string
	for _, k := range dateKeys {
		if _, ok := t[k]; ok {
			set = append(set, k)
		}
	}
	if len(set) < 2 {
		return
	}
	sort.SliceStable(set, func(i, j int) bool { return v.line(prefix+set[i]) < v.line(prefix+set[j]) })
	for _, k := range set[1:] {
		v.add(prefix+k, fmt.Sprintf("cannot be combined with %s in one [[window]]; give each its own [[window]] table", set[0]))
	}
}

// dateList names, for its errors, what a list key of a [[window]] holds.
type dateList struct {
	notList string // ends "<value> is not a list of ..."
	empty   string // the whole error for an empty list
	notItem string // ends "<value> is not a ..." for an element of another type
}

// daysList is days: a non-empty list of weekdays such as ["Sat", "Sun"].
var daysList = dateList{
	notList: `days such as ["Sat", "Sun"]`,
	empty:   "is empty; omit days to mean every day",
	notItem: "day (Mon..Sun)",
}

// daysOfMonthList is days_of_month: a non-empty list of days 1..31 and -1
// for the last day of the month.
var daysOfMonthList = dateList{
	notList: "days of the month such as [1, 15, -1]",
	empty:   "is empty; give days of the month such as [1, 15, -1], or omit the key",
	notItem: "day of the month (1..31, or -1 for the last day)",
}

// weekdaysOfMonthList is weekdays_of_month: a non-empty list such as
// ["2nd Tue", "last Sun"].
var weekdaysOfMonthList = dateList{
	notList: `weekdays of the month such as ["2nd Tue", "last Sun"]`,
	empty:   `is empty; give weekdays of the month such as ["2nd Tue", "last Sun"], or omit the key`,
	notItem: `weekday of the month (1st..5th or last, then Mon..Sun, such as "2nd Tue" or "last Sun")`,
}

// dates parses the list val of key into a set of dates: every element must
// be an E that parse turns into the set's bits. It records an error for
// every bad element and reports whether there was none.
func dates[E any, S ~uint8 | ~uint32 | ~uint64](v *validator, key string, val any, l dateList, parse func(E) (S, error)) (S, bool) {
	list, ok := val.([]any)
	if !ok {
		v.add(key, fmt.Sprintf("%s is not a list of %s", describe(val), l.notList))
		return 0, false
	}
	if len(list) == 0 {
		v.add(key, l.empty)
		return 0, false
	}
	var set S
	ok = true
	for _, e := range list {
		x, isE := e.(E)
		if !isE {
			v.add(key, fmt.Sprintf("%s is not a %s", describe(e), l.notItem))
			ok = false
			continue
		}
		d, err := parse(x)
		if err != nil {
			v.add(key, err.Error())
			ok = false
			continue
		}
		set |= d
	}
	return set, ok
}

// weekdayBit parses a day of the week (Mon..Sun) into its bit of Days.
func weekdayBit(s string) (window.Days, error) {
	wd, err := window.ParseWeekday(s)
	if err != nil {
		return 0, err
	}
	return 1 << wd, nil
}
