package window

import "time"

// mergeLimit stops merging spans of a schedule that never closes. A schedule
// of weekly windows with a gap anywhere in its week has merged spans of a
// week at most, and one with a gap in every month or every other month (all
// days but the 1st, all but the 30th) spans of two months at most, so a
// span reaching 62 days past its anchor means "open around the clock", or
// closed so rarely (monthly windows together covering every date but the
// fifth Mondays) that the difference does not matter.
const mergeLimit = 62 * 24 * time.Hour

// Schedule is a set of windows; it is open while any one of them is open.
type Schedule []Window

// Contains reports whether any window of s is open at t.
func (s Schedule) Contains(t time.Time) bool {
	for _, w := range s {
		if w.Contains(t) {
			return true
		}
	}
	return false
}

// Open returns the merged span of s that contains t, and whether there is one.
func (s Schedule) Open(t time.Time) (Span, bool) {
	if !s.Contains(t) {
		return Span{}, false
	}
	spans := s.Next(t, 1)
	if len(spans) == 0 || !spans[0].Contains(t) {
		return Span{}, false
	}
	return spans[0], true
}

// Next returns up to n spans of the union of the windows of s: spans that
// overlap or touch are merged into one. A span containing t comes first, then
// the spans opening after t in order. It returns nil for an empty schedule or
// n <= 0. A schedule that never closes yields fewer than n spans: merging
// stops once a span reaches 62 days past t (or past its own start, for a
// later span), and that span is the last one.
func (s Schedule) Next(t time.Time, n int) []Span {
	if len(s) == 0 || n <= 0 {
		return nil
	}
	// heads[i] is the first span of window i not yet merged; every head
	// ends after t.
	var buf [8]Span
	heads := buf[:0]
	for _, w := range s {
		heads = append(heads, w.Next(t))
	}
	out := make([]Span, 0, min(n, 16))
	for len(out) < n {
		cur, anchor, ok := Span{}, t, false
		if len(out) == 0 {
			// The span containing t starts at the earliest head that
			// contains t, or before it.
			for _, h := range heads {
				if h.Contains(t) && (!ok || h.Start.Before(cur.Start)) {
					cur, ok = h, true
				}
			}
			if ok {
				cur.Start = s.reachBack(cur.Start, t)
			}
		}
		if !ok {
			for _, h := range heads {
				if !h.empty() && (!ok || h.Start.Before(cur.Start)) {
					cur, ok = h, true
				}
			}
			if !ok {
				break
			}
			anchor = cur.Start
		}
		capped := s.absorb(heads, &cur, anchor)
		out = append(out, cur)
		if capped {
			break
		}
	}
	return out
}

// empty reports whether s holds no instant; Window.Next returns such a span
// only for a window that never opens.
func (s Span) empty() bool {
	return !s.End.After(s.Start)
}

// absorb merges into cur every head that overlaps or touches it, advancing
// each merged head to the next span of its window, until no head does or cur
// reaches mergeLimit past anchor. It reports whether it stopped at the limit.
func (s Schedule) absorb(heads []Span, cur *Span, anchor time.Time) bool {
	for changed := true; changed; {
		changed = false
		for i := range heads {
			for !heads[i].empty() && !heads[i].Start.After(cur.End) {
				if heads[i].End.After(cur.End) {
					cur.End = heads[i].End
				}
				heads[i] = s[i].Next(heads[i].End)
				changed = true
				if cur.End.Sub(anchor) >= mergeLimit {
					return true
				}
			}
		}
	}
	return false
}

// reachBack returns the start of the merged span that contains t and starts
// at or before start: it follows spans that contain the instant just before
// the current start (and so overlap or touch it) back until none does or the
// start lies mergeLimit before t.
func (s Schedule) reachBack(start, t time.Time) time.Time {
	for t.Sub(start) < mergeLimit {
		before := start.Add(-time.Nanosecond)
		earlier := start
		for _, w := range s {
			if sp := w.Next(before); sp.Contains(before) && sp.Start.Before(earlier) {
				earlier = sp.Start
			}
		}
		if !earlier.Before(start) {
			break
		}
		start = earlier
	}
	return start
}
