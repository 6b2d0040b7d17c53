package fleetlock

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrUnreachable is wrapped by every error that means no answer came back
// from the FleetLock server: connection refused, DNS failure, TLS failure,
// timeout, connection dropped. Test it with errors.Is.
var ErrUnreachable = errors.New("fleetlock server unreachable")

// ErrRefused is matched (errors.Is) by every *ServerError: the server
// answered, but not with 200. For pre-reboot it means the reboot slot was not
// granted (slot busy, or the server failed or rejected the request); it is
// never returned when the server could not be reached (see ErrUnreachable).
var ErrRefused = errors.New("fleetlock server refused the request")

// maxSummary bounds the raw body kept in ServerError.Body and Answer.Body.
const maxSummary = 512

// maxShownValue bounds how much of a server's kind or value Error() prints;
// the ServerError fields themselves are never shortened.
const maxShownValue = 2048

// ServerError is returned when the FleetLock server answers with a status
// other than 200.
type ServerError struct {
	// Op is the operation: OpPreReboot or OpSteadyState.
	Op string `json:"op"`
	// Status is the HTTP status code of the answer.
	Status int `json:"status"`
	// Kind and Value are the "kind" and "value" of the server's JSON error
	// body, verbatim; both empty if the body was not such a JSON object.
	Kind  string `json:"kind,omitempty"`
	Value string `json:"value,omitempty"`
	// Body is a one-line, trimmed, length-limited copy of the response body
	// when it was not a JSON error object (e.g. a proxy's error page).
	Body string `json:"body,omitempty"`
	// Location is the Location header of a redirect answer, which is not
	// followed (see Client).
	Location string `json:"location,omitempty"`
}

// Error returns a one-line description that contains the server's kind and
// value verbatim (quoted only if they contain control characters), e.g.
// "fleetlock server refused pre-reboot: 500 Internal Server Error: failed_lock: all 1 semaphore slots currently locked".
func (e *ServerError) Error() string {
	if e == nil {
		return "<nil>"
	}
	var b strings.Builder
	b.WriteString("fleetlock server refused ")
	b.WriteString(oneLine(e.Op, 64))
	b.WriteString(": ")
	b.WriteString(statusLine(e.Status))
	switch {
	case e.Kind != "" && e.Value != "":
		b.WriteString(": " + oneLine(e.Kind, maxShownValue) + ": " + oneLine(e.Value, maxShownValue))
	case e.Kind != "":
		b.WriteString(": " + oneLine(e.Kind, maxShownValue))
	case e.Value != "":
		b.WriteString(": " + oneLine(e.Value, maxShownValue))
	}
	if e.Location != "" {
		b.WriteString(": redirect to " + oneLine(e.Location, maxShownValue) + " not followed (fix the configured URL)")
	}
	if e.Kind == "" && e.Value == "" {
		if e.Body != "" {
			b.WriteString(": body: " + oneLine(e.Body, maxShownValue))
		} else if e.Location == "" {
			b.WriteString(": empty body")
		}
	}
	return b.String()
}

// Is reports whether target is ErrRefused.
func (e *ServerError) Is(target error) bool { return target == ErrRefused }

// statusLine renders "423 Locked", or just the number for unknown codes.
func statusLine(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// oneLine returns s as is if it is printable on one line, else Go-quoted; it
// cuts s to at most max bytes (on a rune boundary) and marks the cut with "…".
func oneLine(s string, max int) string {
	cut := false
	if len(s) > max {
		i := max
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s, cut = s[:i], true
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
		s = strconv.Quote(s)
	}
	if cut {
		s += "…"
	}
	return s
}

// parseErrorBody extracts kind and value from a FleetLock JSON error body
// ({"kind":"…","value":"…"}, white space around it allowed, other members
// ignored). ok is false when the body is not a JSON object whose kind and
// value members (when present) are strings, or when both are empty.
func parseErrorBody(body []byte) (kind, value string, ok bool) {
	var e struct {
		Kind  *string `json:"kind"`
		Value *string `json:"value"`
	}
	trimmed := strings.TrimSpace(string(body))
	if !strings.HasPrefix(trimmed, "{") {
		return "", "", false
	}
	if err := json.Unmarshal([]byte(trimmed), &e); err != nil {
		return "", "", false
	}
	if e.Kind != nil {
		kind = *e.Kind
	}
	if e.Value != nil {
		value = *e.Value
	}
	if kind == "" && value == "" {
		return "", "", false
	}
	return kind, value, true
}

// summarizeBody turns a raw response body into one short line of valid
// UTF-8: white space runs (newlines included) become one space, other control
// characters are dropped, and the result is cut to maxSummary bytes with
// "…" appended when the body was longer (or truncated is true).
func summarizeBody(body []byte, truncated bool) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			continue
		}
		sep := space && b.Len() > 0
		space = false
		need := utf8.RuneLen(r)
		if sep {
			need++
		}
		if b.Len()+need > maxSummary {
			truncated = true
			break
		}
		if sep {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	out := b.String()
	if truncated {
		out += "…"
	}
	return out
}
