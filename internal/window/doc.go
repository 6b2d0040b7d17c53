// Package window is pure: it computes weekly and monthly maintenance windows
// from instants the caller passes in and never reads the clock.
//
// A [Window] is a wall-clock interval, such as 02:00-04:00, in a time zone,
// on a set of weekdays ([Days]), of days of the month ([MonthDays]: the 1st,
// the 15th, the last day) or of weekdays of the month ([MonthWeekdays]: the
// second Tuesday, the last Sunday). A [Schedule] is a list of windows; the
// host may switch while any one of them is open.
//
// # Semantics
//
// A window belongs to the date it opens on, in the window's Location. With
// days = Sat and 23:00-01:00, the window is open from Saturday 23:00 to Sunday
// 01:00; Sunday 00:30 is inside only because the Saturday before opened it.
// Likewise a window on the last day of the month from 23:00 to 01:00 runs
// into the first hour of the next month. End <= Start means the window
// crosses midnight; End == Start means 24 hours. An empty set of days means
// every day. A day that a month lacks (the 31st in April, the 29th of
// February in 2027, a fifth Monday) opens nothing in that month; the last day
// and the last weekday exist in every month.
//
// For an opening date D the span of the window is [opening, closing):
//
//   - opening is the earliest instant whose wall clock in Location is at or
//     after (D, Start);
//   - closing is the earliest instant at or after the opening whose wall clock
//     is at or after (D, End), or (D+1, End) when End <= Start.
//
// Daylight saving time follows from these two rules:
//
//   - a start in the hour skipped by a spring-forward change (02:30 on the day
//     the clocks jump from 02:00 to 03:00) opens at the change, 03:00 local;
//   - a window lying wholly inside a skipped hour (02:15-02:45 on that day)
//     has closing == opening: it does not open that day;
//   - a start in the hour repeated by a fall-back change opens at its first
//     occurrence, and an end in it closes at its first occurrence after the
//     opening. So 01:00-02:30 on the day Europe/Berlin falls back from 03:00
//     CEST to 02:00 CET closes at 02:30 CEST, and the second 02:15 (CET) that
//     morning is outside it; 02:30-03:30 that day lasts two hours;
//   - a 24-hour window lasts 23 or 25 hours on such days.
//
// The instants are computed from the zone's transitions (time.Time.ZoneBounds)
// and never from time.Date, whose choice inside gaps and overlaps is
// unspecified.
//
// Spans of one window for consecutive dates never overlap: openings do not
// decrease with the date, and a closing target is never later than the next
// date's opening target. They may touch (a 24-hour window on two consecutive
// days). [Schedule.Next] reports the union of all windows: spans that overlap
// or touch are merged. A schedule that never closes (a 24-hour window every
// day) would merge into one endless span; merging stops once a span reaches
// 62 days past t (or past its own start), and such a span is the last one
// returned.
package window
