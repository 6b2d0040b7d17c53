// Package fleetlocktest provides an in-memory FleetLock server for tests.
//
// The server mimics, per Mode, the HTTP status codes, error kinds and request
// checks of the two common FleetLock implementations:
//
//   - Airlock (github.com/coreos/airlock, etcd3 semaphore): no method check;
//     a missing or wrong fleet-lock-protocol header, an undecodable body or an
//     empty id/group give 400 "invalid_client_identity"; a group that is not
//     configured gives 400 "unknown_group"; a full semaphore gives
//     500 "failed_lock" ("all N semaphore slots currently locked"). Errors are
//     written with net/http's http.Error (text/plain, JSON body plus a
//     newline); success is a bare 200 with an empty body. steady-state by a
//     client that holds nothing is a 200.
//   - Poseidon (github.com/poseidon/fleetlock, Kubernetes leases): non-POST
//     gives 405 "method_not_allowed"; a missing header gives
//     400 "missing_header"; an undecodable body or an empty id/group gives
//     400 "decode_error"; a group whose lease name "fleetlock-<group>" is not
//     a valid Kubernetes object name gives 500 "internal_error"; a lease held
//     by another id gives 423 "lock_held" for pre-reboot AND for steady-state
//     (steady-state by a non-holder is only a 200 when nobody holds the
//     lease). Errors are application/json; successes are 200 with a short
//     plain-text body ("obtained reboot lease", ...).
//
// The real Poseidon server has exactly one lease holder per group; this
// server honours the slots argument in both modes, so pass 1 for fidelity.
//
// Server is an http.Handler and can be used with httptest.NewServer, or be
// started on a real listener with Start. All methods are safe for concurrent
// use. For a server over TLS on a private CA, optionally requiring client
// certificates, start it with PKI.StartTLS.
package fleetlocktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Mode selects which real FleetLock server the test server imitates.
type Mode int

const (
	// Airlock imitates coreos/airlock (etcd3-backed counting semaphore).
	Airlock Mode = iota + 1
	// Poseidon imitates poseidon/fleetlock (Kubernetes lease per group).
	Poseidon
)

// String returns the mode name ("airlock", "poseidon").
func (m Mode) String() string {
	switch m {
	case Airlock:
		return "airlock"
	case Poseidon:
		return "poseidon"
	default:
		return fmt.Sprintf("Mode(%d)", int(m))
	}
}

// Operation names recorded in Call.Op.
const (
	OpPreReboot   = "pre-reboot"
	OpSteadyState = "steady-state"
)

// Endpoint paths served (relative to the server root).
const (
	PreRebootPath   = "/v1/pre-reboot"
	SteadyStatePath = "/v1/steady-state"
)

// maxRequestBody bounds how much of a request body is read.
const maxRequestBody = 1 << 20

// Call records one request the server received and what it answered.
type Call struct {
	// Time is when the request arrived.
	Time time.Time
	// Op is OpPreReboot, OpSteadyState, or the request path for any other path.
	Op string
	// Method is the HTTP method of the request.
	Method string
	// Header is the value of the fleet-lock-protocol request header.
	Header string
	// UserAgent and ContentType are the corresponding request headers.
	UserAgent, ContentType string
	// Body is the raw request body (at most 1 MiB).
	Body string
	// ID and Group are the client_params decoded from the body, if any.
	ID, Group string
	// Status is the HTTP status code the server answered.
	Status int
	// Kind and Value are the error kind/value answered (empty on success).
	Kind, Value string
	// Dropped is true when the connection was closed without an answer
	// (see SetDown); Status is then 0.
	Dropped bool
}

type failure struct {
	status      int
	kind, value string
	raw         bool
	body        string
}

// Server is an in-memory FleetLock server. Create it with New.
type Server struct {
	mode  Mode
	slots int

	mu      sync.Mutex
	holders map[string][]string // group -> sorted holder ids
	groups  map[string]bool     // configured groups (Airlock); nil: any group
	calls   []Call
	fails   []failure
	down    bool
	delay   time.Duration
	// delaySet is closed (and replaced) by every SetDelay, to wake the
	// requests that are being delayed so they wait for the new delay.
	delaySet chan struct{}
}

// New returns a server imitating mode with a semaphore of capacity slots per
// group (slots < 1 is treated as 1). Any group is accepted until SetGroups is
// called.
func New(mode Mode, slots int) *Server {
	if slots < 1 {
		slots = 1
	}
	if mode != Poseidon {
		mode = Airlock
	}
	return &Server{mode: mode, slots: slots, holders: map[string][]string{}, delaySet: make(chan struct{})}
}

// Mode returns the mode the server imitates.
func (s *Server) Mode() Mode { return s.mode }

// SetGroups restricts the groups an Airlock-mode server knows, like airlock's
// configured lock groups; requests for other groups get 400 "unknown_group".
// Without arguments any group is accepted again. Poseidon mode ignores it.
func (s *Server) SetGroups(groups ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(groups) == 0 {
		s.groups = nil
		return
	}
	s.groups = map[string]bool{}
	for _, g := range groups {
		s.groups[g] = true
	}
}

// Hold makes id a holder of a slot in group, as if another client had taken
// it. It ignores the capacity, so tests can also build over-full states.
func (s *Server) Hold(group, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addHolderLocked(group, id)
}

// Release removes id from the holders of group, if present.
func (s *Server) Release(group, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeHolderLocked(group, id)
}

// Holders returns the sorted ids currently holding a slot in group.
func (s *Server) Holders(group string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.holders[group])
}

// Calls returns a copy of every request received so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// FailNext makes the next request (to any path) be answered with status and a
// JSON body {"kind":kind,"value":value}, encoded the way the mode's real
// server encodes errors, without touching the lock state. Calls queue up.
func (s *Server) FailNext(status int, kind, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = append(s.fails, failure{status: status, kind: kind, value: value})
}

// FailNextRaw makes the next request be answered with status and the given
// body verbatim as text/plain (e.g. a proxy's HTML error page). Calls queue up.
func (s *Server) FailNextRaw(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = append(s.fails, failure{status: status, raw: true, body: body})
}

// SetDown makes the server drop every connection without answering while
// down is true, so clients see the server as unreachable.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// SetDelay makes the server wait d before handling each request (0: no
// wait), to imitate a hung server. The wait ends early if the client goes
// away. The new delay also applies to the requests already waiting, counted
// from their arrival: SetDelay(0) answers them at once, so a test can release
// a hung server before closing it (httptest.Server.Close waits for every
// handler) without relying on the server noticing the client's disconnection.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
	if s.delaySet != nil {
		close(s.delaySet)
	}
	s.delaySet = make(chan struct{})
}

// wait delays a request that arrived at start as SetDelay says, until the
// delay is over, the client goes away (done), or the delay is set to one that
// is already over.
func (s *Server) wait(start time.Time, done <-chan struct{}) {
	for {
		s.mu.Lock()
		left := time.Until(start.Add(s.delay))
		changed := s.delaySet
		s.mu.Unlock()
		if left <= 0 {
			return
		}
		t := time.NewTimer(left)
		select {
		case <-t.C:
			return
		case <-done:
			t.Stop()
			return
		case <-changed:
			t.Stop()
		}
	}
}

// Start serves s on a new TCP listener at addr (e.g. "127.0.0.1:0" or
// "0.0.0.0:0"). It returns the base URL to give clients (an unspecified
// listen address is reported as 127.0.0.1; a VM guest would use its gateway
// address with the same port) and a stop function that shuts the server down.
func (s *Server) Start(addr string) (baseURL string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("fleetlocktest: listening on %q: %w", addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	tcp, _ := ln.Addr().(*net.TCPAddr)
	host := ln.Addr().String()
	if tcp != nil && tcp.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if srv.Shutdown(ctx) != nil {
				_ = srv.Close()
			}
			<-done
		})
	}
	return "http://" + host, stop, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call := Call{
		Time:        time.Now(),
		Op:          r.URL.Path,
		Method:      r.Method,
		Header:      r.Header.Get("fleet-lock-protocol"),
		UserAgent:   r.Header.Get("User-Agent"),
		ContentType: r.Header.Get("Content-Type"),
	}
	switch r.URL.Path {
	case PreRebootPath:
		call.Op = OpPreReboot
	case SteadyStatePath:
		call.Op = OpSteadyState
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	call.Body = string(body)
	var params struct {
		ClientParams struct {
			ID    string `json:"id"`
			Group string `json:"group"`
		} `json:"client_params"`
	}
	if json.NewDecoder(bytes.NewReader(body)).Decode(&params) == nil {
		call.ID, call.Group = params.ClientParams.ID, params.ClientParams.Group
	}

	s.wait(call.Time, r.Context().Done())

	s.mu.Lock()
	if s.down {
		call.Dropped = true
		s.calls = append(s.calls, call)
		s.mu.Unlock()
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		// Cannot drop the connection (HTTP/2): abort the response instead.
		panic(http.ErrAbortHandler)
	}
	var rep reply
	if len(s.fails) > 0 {
		f := s.fails[0]
		s.fails = s.fails[1:]
		if f.raw {
			rep = reply{status: f.status, raw: f.body}
		} else {
			rep = reply{status: f.status, kind: f.kind, value: f.value}
		}
	} else if s.mode == Poseidon {
		rep = s.poseidonLocked(r, call.Op, body)
	} else {
		rep = s.airlockLocked(r, call.Op, body)
	}
	call.Status, call.Kind, call.Value = rep.status, rep.kind, rep.value
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	s.write(w, rep)
}

// reply is what the server answers: an error (kind/value), a raw text body,
// or a success with an optional text body.
type reply struct {
	status      int
	kind, value string
	raw         string
	text        string
}

func (s *Server) write(w http.ResponseWriter, rep reply) {
	h := w.Header()
	switch {
	case rep.raw != "":
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.raw)
	case rep.kind != "" || rep.value != "":
		js, _ := json.Marshal(map[string]string{"kind": rep.kind, "value": rep.value})
		if s.mode == Poseidon {
			// poseidon/fleetlock internal/encode.go: JSON encoder, trailing newline.
			h.Set("Content-Type", "application/json")
			h.Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(rep.status)
			_, _ = w.Write(append(js, '\n'))
			return
		}
		// coreos/airlock: http.Error(w, herr.ToJSON(), code).
		http.Error(w, string(js), rep.status)
	default:
		if rep.text != "" {
			h.Set("Content-Type", "text/plain; charset=utf-8")
		}
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.text)
	}
}

func notFound() reply {
	return reply{status: http.StatusNotFound, raw: "404 page not found\n"}
}

// airlockLocked imitates coreos/airlock internal/server/{pre_reboot,steady_state,http_params}.go.
func (s *Server) airlockLocked(r *http.Request, op string, body []byte) reply {
	if op != OpPreReboot && op != OpSteadyState {
		return notFound()
	}
	invalid := func(msg string) reply {
		return reply{status: http.StatusBadRequest, kind: "invalid_client_identity",
			value: "failed to validate client identity: " + msg}
	}
	if r.Header.Get("fleet-lock-protocol") != "true" {
		return invalid("wrong 'fleet-lock-protocol' header")
	}
	var in struct {
		ClientParams struct {
			Group string `json:"group"`
			ID    string `json:"id"`
		} `json:"client_params"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&in); err != nil {
		return invalid(err.Error())
	}
	group, id := in.ClientParams.Group, in.ClientParams.ID
	if group == "" {
		return invalid("empty client group")
	}
	if id == "" {
		return invalid("empty client ID")
	}
	if s.groups != nil && !s.groups[group] {
		return reply{status: http.StatusBadRequest, kind: "unknown_group",
			value: fmt.Sprintf("unknown group %q", group)}
	}
	if op == OpSteadyState {
		s.removeHolderLocked(group, id)
		return reply{status: http.StatusOK}
	}
	if slices.Contains(s.holders[group], id) {
		return reply{status: http.StatusOK}
	}
	if len(s.holders[group]) >= s.slots {
		return reply{status: http.StatusInternalServerError, kind: "failed_lock",
			value: fmt.Sprintf("all %d semaphore slots currently locked", s.slots)}
	}
	s.addHolderLocked(group, id)
	return reply{status: http.StatusOK}
}

// k8sName matches a Kubernetes object name (RFC 1123 subdomain).
var k8sName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// poseidonLocked imitates poseidon/fleetlock internal/{handlers,decode,server,encode}.go.
func (s *Server) poseidonLocked(r *http.Request, op string, body []byte) reply {
	if op != OpPreReboot && op != OpSteadyState {
		return notFound()
	}
	if r.Method != http.MethodPost {
		return reply{status: http.StatusMethodNotAllowed, kind: "method_not_allowed", value: "required method POST"}
	}
	if r.Header.Get("fleet-lock-protocol") != "true" {
		return reply{status: http.StatusBadRequest, kind: "missing_header",
			value: "missing required header fleet-lock-protocol: true"}
	}
	var msg struct {
		ClientParams struct {
			ID    string `json:"id"`
			Group string `json:"group"`
		} `json:"client_params"`
	}
	decodeErr := reply{status: http.StatusBadRequest, kind: "decode_error", value: "error decoding message"}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&msg); err != nil {
		return decodeErr
	}
	id, group := msg.ClientParams.ID, msg.ClientParams.Group
	if id == "" || group == "" {
		return decodeErr
	}
	// The lease "fleetlock-<group>" cannot be created under an invalid name.
	if lease := "fleetlock-" + group; len(lease) > 253 || !k8sName.MatchString(lease) {
		return reply{status: http.StatusInternalServerError, kind: "internal_error", value: "error getting reboot lease"}
	}
	holders := s.holders[group]
	held := slices.Contains(holders, id)
	switch {
	case op == OpPreReboot && held:
		return reply{status: http.StatusOK, text: "retained reboot lease"}
	case op == OpPreReboot && len(holders) < s.slots:
		s.addHolderLocked(group, id)
		return reply{status: http.StatusOK, text: "obtained reboot lease"}
	case op == OpPreReboot:
		return reply{status: http.StatusLocked, kind: "lock_held",
			value: "reboot lease lock unavailable, held by " + strings.Join(holders, ",")}
	case held:
		s.removeHolderLocked(group, id)
		return reply{status: http.StatusOK, text: "unlocked reboot lease for " + id}
	case len(holders) == 0:
		return reply{status: http.StatusOK, text: "reboot lease already unlocked"}
	default:
		return reply{status: http.StatusLocked, kind: "lock_held",
			value: "reboot lease unlock unavailable, held by " + strings.Join(holders, ",")}
	}
}

func (s *Server) addHolderLocked(group, id string) {
	h := s.holders[group]
	i, found := slices.BinarySearch(h, id)
	if !found {
		s.holders[group] = slices.Insert(h, i, id)
	}
}

func (s *Server) removeHolderLocked(group, id string) {
	h := s.holders[group]
	if i, found := slices.BinarySearch(h, id); found {
		h = slices.Delete(h, i, i+1)
		if len(h) == 0 {
			delete(s.holders, group)
		} else {
			s.holders[group] = h
		}
	}
}

// ErrNoCalls is returned by LastCall when no request was received yet.
var ErrNoCalls = errors.New("fleetlocktest: no calls recorded")

// LastCall returns the most recent request received.
func (s *Server) LastCall() (Call, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) == 0 {
		return Call{}, ErrNoCalls
	}
	return s.calls[len(s.calls)-1], nil
}
