package window

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// spreadDomain separates the spread hash from any other use of the machine
// identity: the same /etc/machine-id must not yield related numbers elsewhere.
const spreadDomain = "kexec-upgrade spread v1\x00"

// maxSlotSpans bounds the spans of one window Slots examines. A span yields
// no slot only when daylight saving time shortens it below its spread plus
// margin, which happens at most twice a year, so a handful of spans always
// reaches a usable one.
const maxSlotSpans = 16

// HostFraction maps a machine identity (the contents of /etc/machine-id) to
// a number in [0, 1) that is stable for that machine and spread evenly over
// machines. An empty identity maps to 0: such a host switches at the opening.
func HostFraction(machineID string) float64 {
	if machineID == "" {
		return 0
	}
	sum := sha256.Sum256([]byte(spreadDomain + machineID))
	// 53 bits: every value is exact in a float64 and below 1.
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
}

// Offset is the delay of a host with fraction frac after a window opens: frac
// of spread, truncated to whole seconds, so always within [0, spread) for a
// spread of a second or more, and 0 for no spread.
func Offset(frac float64, spread time.Duration) time.Duration {
	if spread <= 0 || frac <= 0 {
		return 0
	}
	if frac >= 1 {
		frac = 0
	}
	off := time.Duration(frac * float64(spread)).Truncate(time.Second)
	if off >= spread {
		off = 0
	}
	return off
}

// Slot returns the part of the window's span sp in which a host with
// fraction frac may start a switch: from its offset into the spread after
// the opening, to the margin before the closing. The slot is empty (End not
// after Start) when the span is too short for both, as a daylight saving
// change can make it.
func (w Window) Slot(sp Span, frac float64) Span {
	start := sp.Start.Add(Offset(frac, w.Spread))
	end := sp.End.Add(-w.Margin)
	if end.Before(start) {
		end = start
	}
	return Span{Start: start, End: end}
}

// Slots is where a host with fraction frac stands at t: the slot that
// contains t when one does (Open is true; with overlapping windows, the one
// that stays open longest), and the first slot that opens after t. Next is
// zero for an empty schedule. Window is the span of the window that Next (or
// Current, while open) belongs to, for messages.
type Slots struct {
	Open    bool
	Current Span // valid when Open
	Next    Span // the first slot starting after t
	Window  Span // the window span around Current when Open, else around Next
	// Of is the window that Window is a span of, for its spread and margin.
	Of Window
}

// Slots computes the slots of s at t for a host with fraction frac.
func (s Schedule) Slots(t time.Time, frac float64) Slots {
	var out Slots
	var nextWindow Span
	var nextOf Window
	for _, w := range s {
		sp := w.Next(t)
		for range maxSlotSpans {
			if sp.empty() {
				break
			}
			slot := w.Slot(sp, frac)
			if slot.End.After(slot.Start) && slot.End.After(t) {
				if slot.Contains(t) {
					if !out.Open || slot.End.After(out.Current.End) {
						out.Open, out.Current, out.Window, out.Of = true, slot, sp, w
					}
					// The window's next slot can still be the
					// earliest one after t.
					sp = w.Next(sp.End)
					continue
				}
				if out.Next.Start.IsZero() || slot.Start.Before(out.Next.Start) {
					out.Next, nextWindow, nextOf = slot, sp, w
				}
				break
			}
			sp = w.Next(sp.End)
		}
	}
	if !out.Open {
		out.Window, out.Of = nextWindow, nextOf
	}
	return out
}
