package kernel

import (
	"slices"
	"strings"
)

// CompareReleases compares two kernel release strings (as printed by
// "uname -r" and used in /boot file names) the way Debian's
// "linux-version compare" does, and returns -1, 0 or +1.
//
// A release is cut into components: runs of digits, and runs of other
// characters that may start with a hyphen but contain no other hyphen.
// Components are compared in turn: "-rc" and "-trunk" (pre-releases) sort
// before anything, even the end of the string; the end of the string sorts
// before anything else; two digit runs compare as numbers; everything else
// compares bytewise, so "." sorts after "-" and 6.1.0.1 > 6.1.0-1.
// Thus 6.1-rc7 < 6.1 < 6.1.0-9-amd64 < 6.1.0-10-amd64.
//
// This is not dpkg's order: a tilde has no special meaning in a release, and
// linux-version sorts 1.0 before 1.0~x. Use VersionCompare for package
// versions. Releases that differ only in leading zeros of a number compare
// equal, as they do for linux-version.
func CompareReleases(a, b string) int {
	i, j := 0, 0
	for {
		var left, right string
		hasLeft, hasRight := i < len(a), j < len(b)
		if hasLeft {
			left, i = releaseComponent(a, i)
		}
		if hasRight {
			right, j = releaseComponent(b, j)
		}
		leftPre := hasLeft && isPreRelease(left)
		rightPre := hasRight && isPreRelease(right)
		if leftPre || rightPre {
			if !rightPre {
				return -1
			}
			if !leftPre {
				return 1
			}
		}
		if !hasLeft || !hasRight {
			switch {
			case hasRight:
				return -1
			case hasLeft:
				return 1
			default:
				return 0
			}
		}
		var c int
		if isDigit(left[0]) && isDigit(right[0]) {
			c = compareNumbers(left, right)
		} else {
			c = strings.Compare(left, right)
		}
		if c != 0 {
			return c
		}
	}
}

// SortReleases sorts kernel releases in ascending CompareReleases order,
// like "linux-version sort". Releases that compare equal keep their order.
func SortReleases(rs []string) {
	slices.SortStableFunc(rs, CompareReleases)
}

// releaseComponent returns the component of s that starts at i (i < len(s))
// and the index just past it: a run of digits, or an optional hyphen
// followed by characters that are neither hyphens nor digits.
func releaseComponent(s string, i int) (string, int) {
	j := i
	if isDigit(s[j]) {
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		return s[i:j], j
	}
	if s[j] == '-' {
		j++
	}
	for j < len(s) && s[j] != '-' && !isDigit(s[j]) {
		j++
	}
	return s[i:j], j
}

func isPreRelease(c string) bool {
	return c == "-rc" || c == "-trunk"
}

func isDigit(c byte) bool {
	return '0' <= c && c <= '9'
}

func isAlpha(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// compareNumbers compares two runs of ASCII digits by numeric value, exactly
// and without overflow.
func compareNumbers(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// VersionCompare compares two Debian package versions
// ([epoch:]upstream[-revision]) like "dpkg --compare-versions" and returns
// -1, 0 or +1: epochs compare as numbers, then upstream versions and
// revisions compare by dpkg's rules (a tilde sorts before everything, even
// the end of the string; letters sort before other characters; digit runs
// compare as numbers). So 1.0~rc1 < 1.0 < 1.0-1 < 1.0a < 1.0+b1 < 1:0.1.
//
// Strings dpkg would reject are still ordered, never rejected: a prefix
// before the first colon counts as an epoch only when it is all digits.
func VersionCompare(a, b string) int {
	aEpoch, aUpstream, aRevision := splitVersion(a)
	bEpoch, bUpstream, bRevision := splitVersion(b)
	if c := compareNumbers(aEpoch, bEpoch); c != 0 {
		return c
	}
	if c := verrevcmp(aUpstream, bUpstream); c != 0 {
		return c
	}
	return verrevcmp(aRevision, bRevision)
}

// splitVersion splits a Debian version into epoch (digits, "0" when absent),
// upstream version and revision (after the last hyphen, "" when absent).
func splitVersion(v string) (epoch, upstream, revision string) {
	epoch = "0"
	if i := strings.IndexByte(v, ':'); i > 0 && allDigits(v[:i]) {
		epoch, v = v[:i], v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// verrevcmp compares an upstream version or a revision by dpkg's rules:
// alternately a non-digit part, compared character by character with
// versionOrder, and a digit part, compared numerically.
func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isDigit(a[i]) || j < len(b) && !isDigit(b[j]) {
			ac, bc := versionOrder(a, i), versionOrder(b, j)
			if ac != bc {
				if ac < bc {
					return -1
				}
				return 1
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		firstDiff := 0
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			if firstDiff < 0 {
				return -1
			}
			return 1
		}
	}
	return 0
}

// versionOrder is the weight of s[i] in a non-digit part: the end of the
// string and digits weigh 0, a tilde -1, letters their code, and every
// other byte its code plus 256, so letters sort before punctuation.
func versionOrder(s string, i int) int {
	if i >= len(s) {
		return 0
	}
	c := s[i]
	switch {
	case isDigit(c):
		return 0
	case isAlpha(c):
		return int(c)
	case c == '~':
		return -1
	default:
		return int(c) + 256
	}
}
