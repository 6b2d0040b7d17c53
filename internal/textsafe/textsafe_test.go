package textsafe

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{name: "empty", in: "", max: 10, want: ""},
		{name: "plain_text_unchanged", in: "backup running", max: 256, want: "backup running"},
		{name: "no_limit", in: strings.Repeat("x", 5000), max: 0, want: strings.Repeat("x", 5000)},
		{name: "ansi_escape_dropped", in: "\x1b[2J\x1b[31mred\x1b[0m", max: 64, want: "[2J[31mred[0m"},
		{name: "osc_title_sequence", in: "a\x1b]0;pwned\x07b", max: 64, want: "a]0;pwnedb"},
		{name: "newlines_become_one_space", in: "line1\nline2\r\n\r\nline3", max: 64, want: "line1 line2 line3"},
		{name: "tabs_and_runs_collapse", in: "a\t\t b \v\f c", max: 64, want: "a b c"},
		{name: "leading_and_trailing_space_trimmed", in: " \n\t x y \n ", max: 64, want: "x y"},
		{name: "only_space", in: " \t\r\n ", max: 64, want: ""},
		{name: "nul_and_del_dropped", in: "a\x00b\x7fc", max: 64, want: "abc"},
		{name: "c1_controls_dropped", in: "a\u0080b\u009bc\u009fd", max: 64, want: "abcd"},
		{name: "nel_is_space", in: "a\u0085b", max: 64, want: "a b"},
		{name: "unicode_spaces", in: "a\u00a0\u2003\u2028\u2029\u3000b", max: 64, want: "a b"},
		{name: "invalid_utf8_replaced", in: "bad\xff\xfeend", max: 64, want: "bad\ufffd\ufffdend"},
		{name: "truncated_rune_replaced", in: "caf\xc3", max: 64, want: "caf\ufffd"},
		{name: "replacement_char_kept", in: "a\ufffdb", max: 64, want: "a\ufffdb"},
		{name: "bidi_overrides_dropped", in: "access\u202e\u2066 level\u2069\u202c", max: 64, want: "access level"},
		{name: "bidi_embeddings_and_marks_dropped", in: "\u202aa\u202bb\u202dc\u200ed\u200fe\u061cf", max: 64, want: "abcdef"},
		{name: "other_unicode_kept", in: "Grüße, 日本, 😀", max: 64, want: "Grüße, 日本, 😀"},
		{name: "cut_with_marker", in: "abcdefghij", max: 8, want: "abcde…"},
		{name: "exact_fit_not_cut", in: "abcdefgh", max: 8, want: "abcdefgh"},
		{name: "fits_after_cleaning", in: "a \n\n\n b", max: 3, want: "a b"},
		{name: "cut_on_rune_boundary", in: "ééééé", max: 8, want: "éé…"},
		{name: "cut_drops_space_before_marker", in: "abcd efgh", max: 8, want: "abcd…"},
		{name: "cut_four_byte_rune", in: "😀😀😀", max: 9, want: "😀…"},
		{name: "max_too_small_for_marker", in: "abcdef", max: 2, want: "ab"},
		{name: "max_too_small_for_rune", in: "😀x", max: 2, want: ""},
		{name: "marker_only", in: "😀😀", max: 4, want: "…"},
		{name: "escape_flood_capped", in: strings.Repeat("\x1b[1A\x1b[2K\n", 10000) + "why", max: 256, want: strings.Repeat("[1A[2K ", 37)[:253] + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Line(tc.in, tc.max)
			if got != tc.want {
				t.Errorf("Line(%q, %d) = %q; want %q", short(tc.in), tc.max, got, tc.want)
			}
			checkLine(t, tc.in, tc.max, got)
		})
	}
}

// TestLineCleanInputNotCopied: text that is already fine is returned as is.
func TestLineCleanInputNotCopied(t *testing.T) {
	in := strings.Repeat("fine text ", 20) + "end"
	allocs := testing.AllocsPerRun(100, func() { _ = Line(in, 256) })
	if allocs != 0 {
		t.Errorf("Line(clean text) allocates %v times; want 0", allocs)
	}
}

func FuzzLine(f *testing.F) {
	for _, s := range []string{
		"", "plain", "\x1b[31mred\x1b[0m\n", " \t a  b \r\n", "\xff\xfe", "\u202eabc\u2066", "ééé", "😀😀😀",
		"a\u0085b\u00a0c", "\x00\x7f\u0080\u009f", strings.Repeat("ab ", 100),
	} {
		for _, max := range []int{0, 1, 3, 4, 8, 256} {
			f.Add(s, max)
		}
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max > 1<<20 || max < -1 {
			max %= 1 << 20
		}
		got := Line(s, max)
		checkLine(t, s, max, got)
	})
}

// checkLine checks the properties every result of Line has.
func checkLine(t *testing.T, in string, max int, got string) {
	t.Helper()
	if !utf8.ValidString(got) {
		t.Fatalf("Line(%q, %d) = %q: not valid UTF-8", short(in), max, got)
	}
	for _, r := range got {
		if unicode.IsControl(r) || (unicode.IsSpace(r) && r != ' ') || dropped(r) {
			t.Fatalf("Line(%q, %d) = %q: contains %U", short(in), max, got, r)
		}
	}
	if strings.Contains(got, "  ") || strings.HasPrefix(got, " ") || strings.HasSuffix(got, " ") {
		t.Fatalf("Line(%q, %d) = %q: space runs or space at an end", short(in), max, got)
	}
	if max > 0 && len(got) > max {
		t.Fatalf("Line(%q, %d) = %q: %d bytes, more than %d", short(in), max, got, len(got), max)
	}
	if again := Line(got, max); again != got {
		t.Fatalf("Line(Line(%q, %d)) = %q; want %q (idempotent)", short(in), max, again, got)
	}
	// Nothing is cut when everything fits.
	if full := Line(in, 0); max <= 0 || len(full) <= max {
		if got != full {
			t.Fatalf("Line(%q, %d) = %q; want %q: the cleaned text fits", short(in), max, got, full)
		}
	} else if !strings.HasPrefix(full, strings.TrimSuffix(got, Ellipsis)) {
		// A cut keeps a prefix of the cleaned text.
		t.Fatalf("Line(%q, %d) = %q; want a prefix of %q", short(in), max, got, short(full))
	} else if max >= len(Ellipsis) && !strings.HasSuffix(got, Ellipsis) {
		t.Fatalf("Line(%q, %d) = %q; want the cut marked with %q", short(in), max, got, Ellipsis)
	}
}

func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
