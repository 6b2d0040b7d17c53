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

// daysOfMonth parses days_of_month: a non-empty list of days 1..31 and -1
// for the last day of the month.
func (v *validator) daysOfMonth(key string, val any) (window.MonthDays, bool) {
	list, ok := val.([]any)
	if !ok {
		v.add(key, fmt.Sprintf("%s is not a list of days of the month such as [1, 15, -1]", describe(val)))
		return 0, false
	}
	if len(list) == 0 {
		v.add(key, "is empty; give days of the month such as [1, 15, -1], or omit the key")
		return 0, false
	}
	var days window.MonthDays
	ok = true
	for _, e := range list {
		n, isInt := e.(int64)
		if !isInt {
			v.add(key, fmt.Sprintf("%s is not a day of the month (1..31, or -1 for the last day)", describe(e)))
			ok = false
			continue
		}
		d, err := window.MonthDay(n)
		if err != nil {
			v.add(key, err.Error())
			ok = false
			continue
		}
		days |= d
	}
	return days, ok
}

// weekdaysOfMonth parses weekdays_of_month: a non-empty list such as
// ["2nd Tue", "last Sun"].
func (v *validator) weekdaysOfMonth(key string, val any) (window.MonthWeekdays, bool) {
	list, ok := val.([]any)
	if !ok {
		v.add(key, fmt.Sprintf("%s is not a list of weekdays of the month such as [\"2nd Tue\", \"last Sun\"]", describe(val)))
		return 0, false
	}
	if len(list) == 0 {
		v.add(key, "is empty; give weekdays of the month such as [\"2nd Tue\", \"last Sun\"], or omit the key")
		return 0, false
	}
	var days window.MonthWeekdays
	ok = true
	for _, e := range list {
		s, isString := e.(string)
		if !isString {
			v.add(key, fmt.Sprintf("%s is not a weekday of the month (1st..5th or last, then Mon..Sun, such as \"2nd Tue\" or \"last Sun\")", describe(e)))
			ok = false
			continue
		}
		d, err := window.ParseMonthWeekday(s)
		if err != nil {
			v.add(key, err.Error())
			ok = false
			continue
		}
		days |= d
	}
	return days, ok
}
