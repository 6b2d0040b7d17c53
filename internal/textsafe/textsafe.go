// Package textsafe turns text that someone else wrote (a logind inhibitor's
// reason, a FleetLock server's answer, a journal entry) into one short line
// that is harmless on a terminal and in the journal; it is pure.
//
// Such text can carry escape sequences that rewrite root's terminal,
// newlines that forge extra log lines, Unicode bidirectional overrides that
// make a line read differently from what it contains (Trojan Source), and
// megabytes that flood the journal. Line removes all of that and keeps the
// rest readable.
package textsafe

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Ellipsis marks text that Line shortened.
const Ellipsis = "…"

// Line returns s as one line of printable text of at most max bytes:
//
//   - bytes that are not UTF-8 become U+FFFD;
//   - white space of any kind (tab, newline, carriage return, vertical tab,
//     form feed, NEL, no-break and other Unicode spaces, line and paragraph
//     separators) becomes one space, runs of it collapse, and none is kept at
//     either end;
//   - other control characters are dropped: C0 (ESC included), DEL and C1;
//   - Unicode bidirectional controls are dropped: the embeddings and
//     overrides U+202A–U+202E, the isolates U+2066–U+2069 and the marks
//     U+200E, U+200F and U+061C;
//   - when the result is longer than max bytes it is cut on a rune boundary
//     and ends in Ellipsis, the whole within max bytes (a max too small to
//     hold the marker gets the cut text alone); max <= 0 means no limit.
//
// Line is idempotent: Line(Line(s, n), n) == Line(s, n).
func Line(s string, max int) string {
	if clean(s, max) {
		return s
	}
	var b strings.Builder
	grow := len(s)
	if max > 0 && grow > max+utf8.UTFMax {
		grow = max + utf8.UTFMax
	}
	b.Grow(grow)
	space := false        // a space is pending: written only before the next rune
	over := false         // the text does not fit in max bytes
	for _, r := range s { // ranging over a string yields U+FFFD for bad bytes
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case dropped(r):
			continue
		}
		need := utf8.RuneLen(r)
		if space {
			need++
		}
		if max > 0 && b.Len()+need > max {
			over = true
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	if !over {
		return b.String()
	}
	return cut(b.String(), max)
}

// cut shortens t, which is clean and fits in max bytes but had more to
// come, so that it ends in Ellipsis within max bytes.
func cut(t string, max int) string {
	room := max - len(Ellipsis)
	if room < 0 {
		// No room for the marker: the cut text alone.
		return strings.TrimRight(t[:runeStart(t, max)], " ")
	}
	return strings.TrimRight(t[:runeStart(t, room)], " ") + Ellipsis
}

// runeStart returns the largest i <= n at which a rune of t starts (len(t)
// when n is beyond it).
func runeStart(t string, n int) int {
	if n >= len(t) {
		return len(t)
	}
	for n > 0 && !utf8.RuneStart(t[n]) {
		n--
	}
	return n
}

// dropped reports whether r is removed outright: a control character that
// is not white space, or a bidirectional control.
func dropped(r rune) bool {
	if unicode.IsControl(r) {
		return true
	}
	switch {
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
		return true
	case r == '\u200E', r == '\u200F', r == '\u061C':
		return true
	}
	return false
}

// clean reports whether Line(s, max) is s itself: the common case of text
// that is already fine costs no allocation.
func clean(s string, max int) bool {
	if max > 0 && len(s) > max {
		return false
	}
	prevSpace := true // no space at the start
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return false
			}
		}
		if r == ' ' {
			if prevSpace {
				return false
			}
			prevSpace = true
			continue
		}
		if unicode.IsSpace(r) || dropped(r) {
			return false
		}
		prevSpace = false
	}
	return s == "" || !prevSpace
}
