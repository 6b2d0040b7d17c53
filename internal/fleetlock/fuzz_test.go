package fleetlock

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestParseErrorBody(t *testing.T) {
	tests := []struct {
		body        string
		kind, value string
		ok          bool
	}{
		{`{"kind":"failed_lock","value":"all 1 semaphore slots currently locked"}` + "\n", "failed_lock", "all 1 semaphore slots currently locked", true},
		{"\n{\n  \"kind\": \"failure_foo\",\n  \"value\": \"failed to perform foo\"\n}\n", "failure_foo", "failed to perform foo", true},
		{`{"value":"v","kind":"k","extra":[1,2]}`, "k", "v", true},
		{`{"kind":"k"}`, "k", "", true},
		{`{"value":"v"}`, "", "v", true},
		{`{"kind":"","value":""}`, "", "", false},
		{`{}`, "", "", false},
		{`null`, "", "", false},
		{`[]`, "", "", false},
		{`"kind"`, "", "", false},
		{`{"kind":1,"value":"v"}`, "", "", false},
		{`{"kind":"k","value":null}`, "k", "", true},
		{`{"kind":"k","value":"v"} trailing`, "", "", false},
		{`{"kind":"k","value":"v"}{"kind":"k2"}`, "", "", false},
		{`{"kind":"k\u00e9\n","value":"\ud83d\ude00"}`, "k\u00e9\n", "\U0001F600", true},
		{`<html>500</html>`, "", "", false},
		{``, "", "", false},
		{`{"kind":"k","value":"v"`, "", "", false},
	}
	for _, tt := range tests {
		kind, value, ok := parseErrorBody([]byte(tt.body))
		if kind != tt.kind || value != tt.value || ok != tt.ok {
			t.Errorf("parseErrorBody(%q) = %q, %q, %v; want %q, %q, %v", tt.body, kind, value, ok, tt.kind, tt.value, tt.ok)
		}
	}
}

func TestSummarizeBody(t *testing.T) {
	tests := []struct {
		body      string
		truncated bool
		want      string
	}{
		{"", false, ""},
		{"  \r\n\t ", false, ""},
		{"obtained reboot lease", false, "obtained reboot lease"},
		{"<html>\r\n  <b>502</b>\r\n</html>\r\n", false, "<html> <b>502</b> </html>"},
		{"a\x00b\x1bc", false, "abc"},
		{"bad \xff utf8", false, "bad \uFFFD utf8"},
		{"cut", true, "cut…"},
		{strings.Repeat("ab ", 400), false, strings.TrimSpace(strings.Repeat("ab ", 171)) + "…"},
	}
	for _, tt := range tests {
		if got := summarizeBody([]byte(tt.body), tt.truncated); got != tt.want {
			t.Errorf("summarizeBody(%q, %v) = %q, want %q", tt.body, tt.truncated, got, tt.want)
		}
	}
}

func FuzzParseErrorBody(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"failed_lock","value":"all 1 semaphore slots currently locked"}` + "\n",
		`{"kind":"lock_held","value":"reboot lease lock unavailable, held by x"}`,
		`{"kind":"k"}`, `{"value":1}`, `null`, `{}`, `[{"kind":"k"}]`, "<html>502</html>",
		`{"kind":"\ud800","value":"\u0000"}`, "{\"kind\":\"\xff\"}", "",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		kind, value, ok := parseErrorBody(body)
		if !ok {
			if kind != "" || value != "" {
				t.Fatalf("parseErrorBody(%q) = %q, %q, false", body, kind, value)
			}
		} else {
			if kind == "" && value == "" {
				t.Fatalf("parseErrorBody(%q) ok with empty kind and value", body)
			}
			// What was parsed re-encodes and parses back the same.
			re, err := json.Marshal(map[string]string{"kind": kind, "value": value})
			if err != nil {
				t.Fatal(err)
			}
			k2, v2, ok2 := parseErrorBody(re)
			if !ok2 || k2 != kind || v2 != value {
				t.Fatalf("round trip of %q: %q, %q, %v", re, k2, v2, ok2)
			}
		}
		// Any (valid UTF-8) kind/value pair a server sends round-trips.
		if s := string(body); utf8.ValidString(s) && s != "" {
			enc, err := json.Marshal(map[string]string{"kind": "k", "value": s})
			if err != nil {
				t.Fatal(err)
			}
			k3, v3, ok3 := parseErrorBody(enc)
			if !ok3 || k3 != "k" || v3 != s {
				t.Fatalf("sensible body %s parsed as %q, %q, %v", enc, k3, v3, ok3)
			}
		}
		// The raw-body fallback is one bounded line of valid UTF-8.
		sum := summarizeBody(body, false)
		if len(sum) > maxSummary+len("…") || !utf8.ValidString(sum) || strings.ContainsFunc(sum, func(r rune) bool {
			return unicode.IsControl(r) || (unicode.IsSpace(r) && r != ' ')
		}) {
			t.Fatalf("summarizeBody(%q) = %q", body, sum)
		}
		// And so is the error built from whatever came back.
		// Whatever the server sent, even placed verbatim in the fields, the
		// error is one harmless line of at most MaxText bytes.
		msg := (&ServerError{Op: OpPreReboot, Status: 500, Kind: kind, Value: value, Body: sum, Location: string(body)}).Error()
		if len(msg) > MaxText || !utf8.ValidString(msg) || strings.ContainsFunc(msg, func(r rune) bool {
			return unicode.IsControl(r) || (unicode.IsSpace(r) && r != ' ') || r == '\u202e'
		}) {
			t.Fatalf("Error() = %q", msg)
		}
	})
}
