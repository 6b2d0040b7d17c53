package window

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestHostFractionStableAndInRange(t *testing.T) {
	ids := []string{
		"0d7d1d5e5c2a4f0b9b0e8a7c6d5e4f30",
		"0d7d1d5e5c2a4f0b9b0e8a7c6d5e4f31",
		"ffffffffffffffffffffffffffffffff",
		"00000000000000000000000000000000",
		"x",
	}
	seen := map[float64]string{}
	for _, id := range ids {
		f := HostFraction(id)
		if f < 0 || f >= 1 {
			t.Errorf("HostFraction(%q) = %v, want [0, 1)", id, f)
		}
		if again := HostFraction(id); again != f {
			t.Errorf("HostFraction(%q) changed: %v then %v", id, f, again)
		}
		if other, dup := seen[f]; dup {
			t.Errorf("HostFraction(%q) == HostFraction(%q) = %v", id, other, f)
		}
		seen[f] = id
	}
	if f := HostFraction(""); f != 0 {
		t.Errorf("HostFraction(\"\") = %v, want 0", f)
	}
	// A pinned value: a change to the hash moves every host of every fleet.
	if got, want := Offset(HostFraction("0d7d1d5e5c2a4f0b9b0e8a7c6d5e4f30"), 30*time.Minute), pinnedOffset; got != want {
		t.Errorf("offset of machine-id 0d7d…4f30 in 30m = %v, want %v", got, want)
	}
}

// pinnedOffset is the 30-minute offset of machine-id
// 0d7d1d5e5c2a4f0b9b0e8a7c6d5e4f30; the plan package's tests use it too.
const pinnedOffset = 11*time.Minute + 29*time.Second

func TestHostFractionSpreadsEvenly(t *testing.T) {
	// 4000 hosts over 10 buckets: each bucket within 20% of its share.
	const hosts, buckets = 4000, 10
	var count [buckets]int
	for i := range hosts {
		count[int(HostFraction(fmt.Sprintf("%032x", i*7919))*buckets)]++
	}
	for b, n := range count {
		if n < hosts/buckets*8/10 || n > hosts/buckets*12/10 {
			t.Errorf("bucket %d holds %d of %d hosts: %v", b, n, hosts, count)
		}
	}
}

func TestOffset(t *testing.T) {
	tests := []struct {
		frac   float64
		spread time.Duration
		want   time.Duration
	}{
		{0, 30 * time.Minute, 0},
		{0.5, 30 * time.Minute, 15 * time.Minute},
		{0.25, 0, 0},
		{0.25, -time.Minute, 0},
		{0.9999999999, 30 * time.Minute, 30*time.Minute - time.Second},
		{0.5, 1500 * time.Millisecond, 0}, // truncated to a whole second
		{0.9, 1500 * time.Millisecond, time.Second},
		{1, time.Hour, 0},    // out of range: no delay rather than a late one
		{-0.5, time.Hour, 0}, // likewise
	}
	for _, tt := range tests {
		got := Offset(tt.frac, tt.spread)
		if got != tt.want {
			t.Errorf("Offset(%v, %v) = %v, want %v", tt.frac, tt.spread, got, tt.want)
		}
		if tt.spread > 0 && (got < 0 || got >= tt.spread) {
			t.Errorf("Offset(%v, %v) = %v, outside [0, spread)", tt.frac, tt.spread, got)
		}
	}
}

func TestOffsetNeverPastMargin(t *testing.T) {
	// Whatever the host, its slot starts within the spread and ends at the
	// margin; the config refuses spread+margin >= length, so a slot is never
	// empty on a day of normal length.
	w := spec("* 02:00-04:00 UTC").window(t)
	w.Spread, w.Margin = 90*time.Minute, 29*time.Minute
	sp := w.Next(at(t, "2030-01-05T00:00:00Z"))
	for i := range 2000 {
		frac := HostFraction(fmt.Sprintf("%032x", i))
		slot := w.Slot(sp, frac)
		if slot.Start.Before(sp.Start) || !slot.Start.Before(sp.Start.Add(w.Spread)) {
			t.Fatalf("host %d: slot starts %s, outside [opening, opening+spread)", i, fmtTime(slot.Start))
		}
		if !slot.End.Equal(sp.End.Add(-w.Margin)) || !slot.End.After(slot.Start) {
			t.Fatalf("host %d: slot %s, want end at %s", i, fmtSpan(slot), fmtTime(sp.End.Add(-w.Margin)))
		}
	}
}

func TestSlotShortenedByDST(t *testing.T) {
	// 01:30-03:30 on the spring-forward night in Berlin lasts one hour: a
	// spread of 50m and a margin of 15m leave nothing for a late host.
	w := spec("* 01:30-03:30 Europe/Berlin").window(t)
	w.Spread, w.Margin = 50*time.Minute, 15*time.Minute
	sp := w.Next(at(t, "2026-03-29T00:00:00+01:00"))
	if got := sp.End.Sub(sp.Start); got != time.Hour {
		t.Fatalf("span %s lasts %v, want 1h", fmtSpan(sp), got)
	}
	if slot := w.Slot(sp, 0.99); slot.End.After(slot.Start) {
		t.Errorf("late host got slot %s in a shortened window", fmtSpan(slot))
	}
	if slot := w.Slot(sp, 0); !slot.End.After(slot.Start) {
		t.Errorf("early host got an empty slot %s", fmtSpan(slot))
	}
	// Slots skips the empty night and finds the next one.
	s := Schedule{w}
	got := s.Slots(at(t, "2026-03-29T00:00:00+01:00"), 0.99)
	if got.Open || !got.Next.Start.Equal(at(t, "2026-03-30T02:19:30+02:00")) {
		t.Errorf("Slots = %+v, want the next night's slot at 02:19:30", got)
	}
}

func TestScheduleSlots(t *testing.T) {
	sat := spec("Sat 02:00-04:00 UTC")
	tests := []struct {
		name           string
		specs          []spec
		spread, margin time.Duration
		frac           float64
		now            string
		open           bool
		current, next  string // "start/end" in RFC 3339, "" for none
		window         string
	}{
		{
			name: "no_spread_inside", specs: []spec{sat}, now: "2030-01-05T02:05:00Z",
			open: true, current: "2030-01-05T02:00:00Z/2030-01-05T04:00:00Z",
			next: "2030-01-12T02:00:00Z/2030-01-12T04:00:00Z", window: "2030-01-05T02:00:00Z/2030-01-05T04:00:00Z",
		},
		{
			name: "before_this_hosts_turn", specs: []spec{sat}, spread: 30 * time.Minute, frac: 0.5,
			now: "2030-01-05T02:05:00Z", next: "2030-01-05T02:15:00Z/2030-01-05T04:00:00Z",
			window: "2030-01-05T02:00:00Z/2030-01-05T04:00:00Z",
		},
		{
			name: "at_this_hosts_turn", specs: []spec{sat}, spread: 30 * time.Minute, margin: 10 * time.Minute, frac: 0.5,
			now: "2030-01-05T02:15:00Z", open: true, current: "2030-01-05T02:15:00Z/2030-01-05T03:50:00Z",
			next: "2030-01-12T02:15:00Z/2030-01-12T03:50:00Z", window: "2030-01-05T02:00:00Z/2030-01-05T04:00:00Z",
		},
		{
			name: "inside_the_margin", specs: []spec{sat}, margin: 10 * time.Minute,
			now: "2030-01-05T03:55:00Z", next: "2030-01-12T02:00:00Z/2030-01-12T03:50:00Z",
			window: "2030-01-12T02:00:00Z/2030-01-12T04:00:00Z",
		},
		{
			name: "overlapping_windows_the_longer_slot_wins", margin: 5 * time.Minute,
			specs: []spec{sat, "Sat 03:00-06:00 UTC"}, now: "2030-01-05T03:30:00Z", open: true,
			current: "2030-01-05T03:00:00Z/2030-01-05T05:55:00Z",
			next:    "2030-01-12T02:00:00Z/2030-01-12T03:55:00Z", window: "2030-01-05T03:00:00Z/2030-01-05T06:00:00Z",
		},
		{
			name: "margin_of_one_window_the_other_still_open", margin: 5 * time.Minute,
			specs: []spec{sat, "Sat 03:00-06:00 UTC"}, now: "2030-01-05T03:57:00Z", open: true,
			current: "2030-01-05T03:00:00Z/2030-01-05T05:55:00Z",
			next:    "2030-01-12T02:00:00Z/2030-01-12T03:55:00Z", window: "2030-01-05T03:00:00Z/2030-01-05T06:00:00Z",
		},
		{
			name: "monthly_before_this_hosts_turn", specs: []spec{"wom=2nd-Tue 22:00-01:00 UTC"},
			spread: 30 * time.Minute, margin: 10 * time.Minute, frac: 0.5, now: "2030-01-01T12:00:00Z",
			next: "2030-01-08T22:15:00Z/2030-01-09T00:50:00Z", window: "2030-01-08T22:00:00Z/2030-01-09T01:00:00Z",
		},
		{
			name: "monthly_open_across_midnight", specs: []spec{"wom=2nd-Tue 22:00-01:00 UTC"},
			spread: 30 * time.Minute, margin: 10 * time.Minute, frac: 0.5, now: "2030-01-09T00:10:00Z",
			open: true, current: "2030-01-08T22:15:00Z/2030-01-09T00:50:00Z",
			next: "2030-02-12T22:15:00Z/2030-02-13T00:50:00Z", window: "2030-01-08T22:00:00Z/2030-01-09T01:00:00Z",
		},
		{
			name: "monthly_inside_the_margin_at_a_month_end", specs: []spec{"dom=-1 23:00-01:00 UTC"},
			margin: 10 * time.Minute, now: "2030-02-01T00:55:00Z",
			next: "2030-02-28T23:00:00Z/2030-03-01T00:50:00Z", window: "2030-02-28T23:00:00Z/2030-03-01T01:00:00Z",
		},
		{
			name: "weekly_and_monthly_overlap_the_longer_slot_wins", margin: 5 * time.Minute,
			specs: []spec{sat, "dom=5 03:00-06:00 UTC"}, now: "2030-01-05T03:30:00Z", open: true,
			current: "2030-01-05T03:00:00Z/2030-01-05T05:55:00Z",
			next:    "2030-01-12T02:00:00Z/2030-01-12T03:55:00Z", window: "2030-01-05T03:00:00Z/2030-01-05T06:00:00Z",
		},
		{
			name: "monthly_slot_lost_to_dst_next_month", specs: []spec{"wom=last-Sun 01:30-03:30 Europe/Berlin"},
			spread: 50 * time.Minute, margin: 15 * time.Minute, frac: 0.99, now: "2026-03-29T00:00:00+01:00",
			next: "2026-04-26T02:19:30+02:00/2026-04-26T03:15:00+02:00", window: "2026-04-26T01:30:00+02:00/2026-04-26T03:30:00+02:00",
		},
		{name: "empty_schedule", now: "2030-01-05T02:05:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := schedule(t, tt.specs...)
			for i := range s {
				s[i].Spread, s[i].Margin = tt.spread, tt.margin
			}
			now := at(t, tt.now)
			got := s.Slots(now, tt.frac)
			if got.Open != tt.open {
				t.Errorf("Slots(%s, %v).Open = %v; want %v", fmtTime(now), tt.frac, got.Open, tt.open)
			}
			check := func(what string, sp Span, want string) {
				t.Helper()
				if want == "" {
					return
				}
				a, b, _ := strings.Cut(want, "/")
				if ws := (Span{Start: at(t, a), End: at(t, b)}); !sameSpan(sp, ws) {
					t.Errorf("Slots(%s, %v).%s = %s; want %s", fmtTime(now), tt.frac, what, fmtSpan(sp), fmtSpan(ws))
				}
			}
			if tt.open {
				check("Current", got.Current, tt.current)
			}
			check("Next", got.Next, tt.next)
			check("Window", got.Window, tt.window)
			if tt.next == "" && !got.Next.Start.IsZero() {
				t.Errorf("Slots(%s, %v).Next = %s; want none", fmtTime(now), tt.frac, fmtSpan(got.Next))
			}
		})
	}
}
