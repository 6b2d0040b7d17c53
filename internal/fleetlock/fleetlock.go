// Package fleetlock is a client for the FleetLock protocol, which
// coordinates reboots across a fleet: before rebooting, a machine takes a
// reboot slot of its group with POST {base}/v1/pre-reboot; once back in a
// steady state it releases the slot with POST {base}/v1/steady-state. Both
// requests carry the header "fleet-lock-protocol: true" and the JSON body
// {"client_params":{"id":"…","group":"…"}}; only HTTP 200 means success, and
// error answers carry a JSON body {"kind":"…","value":"…"}.
//
// Servers: coreos/airlock (etcd3 semaphore), poseidon/fleetlock (Kubernetes
// lease). They differ in codes and kinds (see package fleetlocktest), e.g. a
// busy slot is 500 "failed_lock" on airlock and 423 "lock_held" on poseidon,
// and poseidon refuses steady-state with 423 when another machine holds the
// lease even though the caller holds nothing. This client treats every
// non-200 answer alike (*ServerError, matching ErrRefused) and leaves the
// policy to the caller.
//
// Each call makes exactly one HTTP request, bounded by the client's timeout
// (connect, TLS, request and response body together); there are no retries:
// the caller retries on a later run. Redirects are not followed: a 3xx answer
// is returned as a *ServerError carrying the Location, because following a
// redirect of a POST can silently turn it into a GET without body, and the
// protocol header exists precisely to catch unintended redirection. HTTP
// proxies from the environment (HTTPS_PROXY, NO_PROXY, ...) are honoured.
//
// An https:// server is verified against the system's certificate pool
// (New), or against the CAs of a private PKI only, optionally presenting a
// client certificate (NewTLS with TLSConfig). Over plain http:// anyone on
// the path can grant or withhold reboot slots.
//
// Everything a server says (kind, value, body, Location, and errors that
// quote it) is kept as one harmless line of at most MaxText bytes, and no
// more than MaxResponseBytes of a body is read.
package fleetlock

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kexec-upgrade/kexec-upgrade/internal/textsafe"
)

// Operation names, as used in Answer.Op and ServerError.Op.
const (
	OpPreReboot   = "pre-reboot"
	OpSteadyState = "steady-state"
)

// Endpoint paths, appended to the normalised base URL.
const (
	PreRebootPath   = "/v1/pre-reboot"
	SteadyStatePath = "/v1/steady-state"
)

// ProtocolHeader is the request header that must be "true" on every call.
const ProtocolHeader = "fleet-lock-protocol"

// UserAgent is the User-Agent header sent with every request.
const UserAgent = "kexec-upgrade"

// DefaultGroup is the reboot group recommended by the protocol.
const DefaultGroup = "default"

// DefaultTimeout bounds each call (connect, TLS handshake, request, response
// body) when New is given a timeout <= 0.
const DefaultTimeout = 10 * time.Second

// MaxResponseBytes is how much of a response body is read; the rest is
// ignored.
const MaxResponseBytes = 64 << 10

// maxIDLen bounds the client id and group lengths.
const maxIDLen = 253

// groupRE is the group syntax of the FleetLock protocol specification.
var groupRE = regexp.MustCompile(`^[a-zA-Z0-9.-]+$`)

// Answer records the server's answer to the last call (or its absence), in a
// form suitable for a state file and for a status display.
type Answer struct {
	// Time is when the answer (or the failure) was observed.
	Time time.Time `json:"time"`
	// Op is OpPreReboot or OpSteadyState.
	Op string `json:"op"`
	// URL is the endpoint URL that was called.
	URL string `json:"url"`
	// Status is the HTTP status code; 0 when no answer came back.
	Status int `json:"status"`
	// Kind and Value are the server's JSON kind/value, if any, each one
	// harmless line of at most MaxText bytes.
	Kind  string `json:"kind,omitempty"`
	Value string `json:"value,omitempty"`
	// Body is a one-line, length-limited copy of a non-JSON response body
	// (e.g. poseidon's "obtained reboot lease").
	Body string `json:"body,omitempty"`
	// Error is the one-line error of the call, at most MaxText bytes;
	// empty on success.
	Error string `json:"error,omitempty"`
}

// String returns a one-line summary such as "pre-reboot: 200 OK" or the
// call's error, without control characters.
func (a Answer) String() string {
	if a.Error != "" {
		return textsafe.Line(a.Error, MaxText)
	}
	s := textsafe.Line(a.Op, 64) + ": " + statusLine(a.Status)
	switch {
	case a.Kind != "" || a.Value != "":
		s += ": " + textsafe.Line(a.Kind, MaxText) + ": " + textsafe.Line(a.Value, MaxText)
	case a.Body != "":
		s += ": " + textsafe.Line(a.Body, MaxText)
	}
	return s
}

// Client talks to one FleetLock server as one (group, id). Create it with
// New; it is safe for concurrent use.
type Client struct {
	base      string
	preURL    string
	steadyURL string
	group     string
	id        string
	timeout   time.Duration
	body      []byte
	hc        *http.Client
}

// NewTLS is New with the TLS settings for an https:// server (see
// TLSConfig): the CAs it is verified against and the client certificate
// presented. A nil tlsConfig means New's defaults; a non-nil one with an
// http:// URL is an error, as it would silently go unused.
func NewTLS(rawURL, group, id string, timeout time.Duration, tlsConfig *tls.Config) (*Client, error) {
	base, err := NormalizeBaseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("fleetlock URL %q: TLS settings (a CA or a client certificate) need an https:// URL", rawURL)
	}
	if err := ValidateGroup(group); err != nil {
		return nil, err
	}
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var params struct {
		ClientParams struct {
			ID    string `json:"id"`
			Group string `json:"group"`
		} `json:"client_params"`
	}
	params.ClientParams.ID, params.ClientParams.Group = id, group
	body, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("fleetlock: encoding request body: %w", err)
	}
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: -1}
	transport := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: MaxResponseBytes,
		ForceAttemptHTTP2:      true,
	}
	if tlsConfig != nil {
		transport.TLSClientConfig = tlsConfig.Clone()
	}
	return &Client{
		base:      base,
		preURL:    base + PreRebootPath,
		steadyURL: base + SteadyStatePath,
		group:     group,
		id:        id,
		timeout:   timeout,
		body:      body,
		hc: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}, nil
}

// ValidateGroup checks a reboot group name: non-empty, at most 253 bytes,
// letters, digits, '.' and '-' only (the protocol's ^[a-zA-Z0-9.-]+$).
// Note that poseidon/fleetlock stores a group in a Kubernetes object named
// "fleetlock-<group>", so there groups must also be lowercase.
func ValidateGroup(group string) error {
	if group == "" {
		return fmt.Errorf("fleetlock group is empty")
	}
	if len(group) > maxIDLen || !groupRE.MatchString(group) {
		return fmt.Errorf("fleetlock group %q: want 1 to %d characters out of a-z A-Z 0-9 . -", oneLine(group, 64), maxIDLen)
	}
	return nil
}

// ValidateID checks a client id: non-empty, at most 253 bytes of valid UTF-8
// without control characters.
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("fleetlock client id is empty")
	}
	if len(id) > maxIDLen || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl) {
		return fmt.Errorf("fleetlock client id %s: want 1 to %d bytes of printable UTF-8", oneLine(id, 64), maxIDLen)
	}
	return nil
}

// PreReboot asks the server for a reboot slot. A nil error means the slot is
// held (re-asking while holding it succeeds too). Otherwise the error matches
// ErrRefused (the server answered non-200: slot busy or request rejected; it
// is a *ServerError), ErrUnreachable (no answer), or the context's error if
// ctx was cancelled. The Answer describes the outcome in every case.
func (c *Client) PreReboot(ctx context.Context) (Answer, error) {
	if c == nil {
		return Answer{Op: OpPreReboot}, errors.New("fleetlock: nil client")
	}
	return c.do(ctx, OpPreReboot, c.preURL)
}

// SteadyState tells the server the machine is back in a steady state,
// releasing its slot if it holds one. Errors are as for PreReboot.
func (c *Client) SteadyState(ctx context.Context) (Answer, error) {
	if c == nil {
		return Answer{Op: OpSteadyState}, errors.New("fleetlock: nil client")
	}
	return c.do(ctx, OpSteadyState, c.steadyURL)
}

func (c *Client) do(ctx context.Context, op, endpoint string) (Answer, error) {
	ans := Answer{Op: op, URL: endpoint}
	fail := func(err error) (Answer, error) {
		err = cleanErr(err)
		ans.Time = time.Now()
		ans.Error = err.Error()
		return ans, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, endpoint, bytes.NewReader(c.body))
	if err != nil {
		return fail(fmt.Errorf("fleetlock %s: building request: %w", op, err))
	}
	req.Header.Set(ProtocolHeader, "true")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)

	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return fail(fmt.Errorf("fleetlock %s %s: %w", op, endpoint, ctx.Err()))
		}
		cause := err
		var ue *url.Error
		if errors.As(err, &ue) {
			cause = ue.Err
		}
		if (ue != nil && ue.Timeout()) || errors.Is(err, context.DeadlineExceeded) {
			return fail(fmt.Errorf("%w: %s %s: no answer within %s: %w", ErrUnreachable, op, endpoint, c.timeout, cause))
		}
		return fail(fmt.Errorf("%w: %s %s: %w", ErrUnreachable, op, endpoint, cause))
	}
	defer resp.Body.Close()
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	truncated := len(raw) > MaxResponseBytes
	if truncated {
		raw = raw[:MaxResponseBytes]
	}
	ans.Time = time.Now()
	ans.Status = resp.StatusCode
	if kind, value, ok := parseErrorBody(raw); ok && !truncated {
		// Whatever the server put there goes to the state, the journal and
		// root's terminal: one harmless line each.
		ans.Kind, ans.Value = textsafe.Line(kind, MaxText), textsafe.Line(value, MaxText)
	} else {
		ans.Body = summarizeBody(raw, truncated)
	}
	if resp.StatusCode == http.StatusOK {
		// The status line is the server's decision; a body that could not be
		// read completely does not change it.
		return ans, nil
	}
	if readErr != nil {
		note := "(reading body failed: " + readErr.Error() + ")"
		if ans.Body != "" {
			note = ans.Body + " " + note
		}
		ans.Body = summarizeBody([]byte(note), false)
	}
	serr := &ServerError{Op: op, Status: resp.StatusCode, Kind: ans.Kind, Value: ans.Value, Body: ans.Body}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		serr.Location = textsafe.Line(resp.Header.Get("Location"), MaxText)
	}
	return fail(serr)
}
