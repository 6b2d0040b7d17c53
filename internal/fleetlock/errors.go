package fleetlock

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kexec-upgrade/kexec-upgrade/internal/textsafe"
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

// MaxText bounds, in bytes, every text that comes from a server: the kind,
// value and Location of an answer, and the message of an error that quotes
// the server (they go to the state file, the journal and root's terminal).
const MaxText = 2048

// ServerError is returned when the FleetLock server answers with a status
// other than 200.
type ServerError struct {
	// Op is the operation: OpPreReboot or OpSteadyState.
	Op string `json:"op"`
	// Status is the HTTP status code of the answer.
	Status int `json:"status"`
	// Kind and Value are the "kind" and "value" of the server's JSON error
	// body, each one harmless line of at most MaxText bytes (see
	// textsafe.Line); both empty if the body was not such a JSON object.
	Kind  string `json:"kind,omitempty"`
	Value string `json:"value,omitempty"`
	// Body is a one-line, trimmed, length-limited copy of the response body
	// when it was not a JSON error object (e.g. a proxy's error page).
	Body string `json:"body,omitempty"`
	// Location is the Location header of a redirect answer, which is not
	// followed (see Client), made harmless like Kind and Value.
	Location string `json:"location,omitempty"`
}

// Error returns a one-line description that contains the server's kind and
// value, e.g. "fleetlock server refused pre-reboot: 500 Internal Server
// Error: failed_lock: all 1 semaphore slots currently locked". Control
// characters are removed and the whole is at most MaxText bytes, whoever
// filled the fields.
func (e *ServerError) Error() string {
	if e == nil {
		return "<nil>"
	}
	var b strings.Builder
	b.WriteString("fleetlock server refused ")
	b.WriteString(textsafe.Line(e.Op, 64))
	b.WriteString(": ")
	b.WriteString(statusLine(e.Status))
	kind, value := textsafe.Line(e.Kind, MaxText), textsafe.Line(e.Value, MaxText)
	switch {
	case kind != "" && value != "":
		b.WriteString(": " + kind + ": " + value)
	case kind != "":
		b.WriteString(": " + kind)
	case value != "":
		b.WriteString(": " + value)
	}
	if e.Location != "" {
		b.WriteString(": redirect to " + textsafe.Line(e.Location, MaxText) + " not followed (fix the configured URL)")
	}
	if kind == "" && value == "" {
		if e.Body != "" {
			b.WriteString(": body: " + textsafe.Line(e.Body, MaxText))
		} else if e.Location == "" {
			b.WriteString(": empty body")
		}
	}
	return textsafe.Line(b.String(), MaxText)
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
// It shows an admin's own input (a group, an id) exactly; text from a
// server goes through textsafe.Line instead.
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

// cleanError shows an error whose text may quote a server (a TLS
// certificate's names, a malformed status line) as one harmless line of at
// most MaxText bytes, and keeps the error itself for errors.Is and As.
type cleanError struct {
	err error
	msg string
}

func (e *cleanError) Error() string { return e.msg }
func (e *cleanError) Unwrap() error { return e.err }

// cleanErr returns err itself when its text is already harmless, else err
// wrapped in a cleanError.
func cleanErr(err error) error {
	msg := err.Error()
	if clean := textsafe.Line(msg, MaxText); clean != msg {
		return &cleanError{err: err, msg: clean}
	}
	return err
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
// UTF-8 (see textsafe.Line) of at most maxSummary bytes before its "…",
// which marks a body that was longer (or truncated is true).
func summarizeBody(body []byte, truncated bool) string {
	out := textsafe.Line(string(body), maxSummary+len(textsafe.Ellipsis))
	if truncated && !strings.HasSuffix(out, textsafe.Ellipsis) {
		out += textsafe.Ellipsis
	}
	return out
}
