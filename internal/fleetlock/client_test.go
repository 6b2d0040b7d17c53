package fleetlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock/fleetlocktest"
)

var modes = []fleetlocktest.Mode{fleetlocktest.Airlock, fleetlocktest.Poseidon}

const (
	me    = "7a3f0c9e51d24b8e9c1f2a6b3d4e5f60"
	other = "0b1c2d3e4f5a4b6c8d7e9f0a1b2c3d4e"
	grp   = "workers"
)

func newTestClient(t *testing.T, url string, timeout time.Duration) *Client {
	t.Helper()
	c, err := New(url, grp, me, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// hangLimit bounds every wait in this package's tests that could otherwise
// block for good: a client call (which the client bounds itself, here by at
// most DefaultTimeout), closing a test server (which waits for its running
// handlers), running systemd-id128. It is far above what any of them takes,
// even with -race on a loaded machine, so reaching it means a hang: the test
// then fails at once with a dump of every goroutine, instead of running into
// go test's timeout, whose dump may be cut.
const hangLimit = 30 * time.Second

// returnsWithin runs f and reports whether it returned within hangLimit. If
// not, it reports an error with a dump of all goroutines and returns false
// while f goes on running.
func returnsWithin(t *testing.T, what string, f func()) bool {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	timer := time.NewTimer(hangLimit)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		t.Errorf("%s has not returned after %v; goroutines:\n%s", what, hangLimit, goroutines())
		return false
	}
}

// goroutines returns the stacks of all goroutines.
func goroutines() []byte {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) || len(buf) >= 64<<20 {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// bounded calls call(ctx) (a client's PreReboot or SteadyState) and fails
// the test at once if it has not returned within hangLimit. The client bounds
// every call by its own timeout; this only turns a regression of that bound
// into a quick failure with evidence instead of a hang.
func bounded(t *testing.T, call func(context.Context) (Answer, error), ctx context.Context) (Answer, error) {
	t.Helper()
	var ans Answer
	var err error
	if !returnsWithin(t, "client call", func() { ans, err = call(ctx) }) {
		t.FailNow()
	}
	return ans, err
}

// startServer serves h on an httptest.Server that closeServer closes when the
// test ends, after the cleanups registered later (t.Cleanup runs them last
// registered first): a blocking handler must return once a release channel
// that such a cleanup closes is closed.
func startServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(func() { closeServer(t, hs) })
	return hs
}

// closeServer closes hs without hanging the test. httptest.Server.Close waits
// for every running handler, so one handler blocked forever makes it hang
// forever. Closing the client connections first makes r.Context() of a
// handler done, but only if the handler has read the whole request body
// (before that, net/http does not watch the connection). A Close still
// running after hangLimit is reported with a goroutine dump and abandoned.
func closeServer(t *testing.T, hs *httptest.Server) {
	t.Helper()
	hs.CloseClientConnections()
	returnsWithin(t, "closing the test server at "+hs.URL, hs.Close)
}

// want describes an expected outcome per mode.
type want struct {
	status      int    // 0: unreachable
	kind, value string // of a refusal
	body        string // Answer.Body / ServerError.Body
}

func TestClientAgainstServers(t *testing.T) {
	tests := []struct {
		name        string
		slots       int
		setup       func(s *fleetlocktest.Server)
		op          string
		want        map[fleetlocktest.Mode]want
		wantHolders []string
	}{
		{
			name: "pre-reboot slot free",
			op:   OpPreReboot,
			want: map[fleetlocktest.Mode]want{
				fleetlocktest.Airlock:  {status: 200},
				fleetlocktest.Poseidon: {status: 200, body: "obtained reboot lease"},
			},
			wantHolders: []string{me},
		},
		{
			name:  "pre-reboot slot busy",
			setup: func(s *fleetlocktest.Server) { s.Hold(grp, other) },
			op:    OpPreReboot,
			want: map[fleetlocktest.Mode]want{
				fleetlocktest.Airlock:  {status: 500, kind: "failed_lock", value: "all 1 semaphore slots currently locked"},
				fleetlocktest.Poseidon: {status: 423, kind: "lock_held", value: "reboot lease lock unavailable, held by " + other},
			},
			wantHolders: []string{other},
		},
		{
			name:  "pre-reboot second of two slots",
			slots: 2,
			setup: func(s *fleetlocktest.Server) { s.Hold(grp, other) },
			op:    OpPreReboot,
			want: map[fleetlocktest.Mode]want{
				fleetlocktest.Airlock:  {status: 200},
				fleetlocktest.Poseidon: {status: 200, body: "obtained reboot lease"},
			},
			wantHolders: []string{other, me},
		},
		{
			name:  "pre-reboot other group busy",
			setup: func(s *fleetlocktest.Server) { s.Hold("default", other) },
			op:    OpPreReboot,
			want: map[fleetlocktest.Mode]want{
				fleetlocktest.Airlock:  {status: 200},
				fleetlocktest.Poseidon: {status: 200, body: "obtained reboot lease"},
			},
			wantHolders: []string{me},
		},
		{
			name:  "pre-reboot re-entrant",
			setup: func(s *fleetlocktest.Server) { s.Hold(grp, me) },
			op:    OpPreReboot,
			want: map[fleetlocktest.Mode]want{
				fleetlocktest.Airlock:  {status: 200},
				fleetlocktest.Poseidon: {status: 200, body: "retained reboot lease"},
			},
			wantHolders: []string{me},
		},
		{
			name:  "steady-state after holding",
			setup: func(s *fleetlocktest.Server) { s.Hold(grp, me) },
			op:    OpSteadyState,
			want: map[fleetlocktest.Mode]want{
				fleetlocktest.Airlock:  {status: 200},
				fleetlocktest.Poseidon: {status: 200, body: "unlocked reboot lease for " + me},
			},
			wantHolders: []string{},
		},
		{
			name: "steady-state holding nothing, slot free",
			op:   OpSteadyState,
			want: map[fleetlocktest.Mode]want{
				fleetlocktest.Airlock:  {status: 200},
				fleetlocktest.Poseidon: {status: 200, body: "reboot lease already unlocked"},
			},
			wantHolders: []string{},
		},
		{
			name:  "steady-state holding nothing, slot held by other",
			setup: func(s *fleetlocktest.Server) { s.Hold(grp, other) },
			op:    OpSteadyState,
			want: map[fleetlocktest.Mode]want{
				fleetlocktest.Airlock:  {status: 200},
				fleetlocktest.Poseidon: {status: 423, kind: "lock_held", value: "reboot lease unlock unavailable, held by " + other},
			},
			wantHolders: []string{other},
		},
		{
			name: "500 with JSON body",
			setup: func(s *fleetlocktest.Server) {
				s.FailNext(500, "failed_sem_init", "failed to initialize semaphore manager: context deadline exceeded")
			},
			op: OpPreReboot,
			want: map[fleetlocktest.Mode]want{
				fleetlocktest.Airlock:  {status: 500, kind: "failed_sem_init", value: "failed to initialize semaphore manager: context deadline exceeded"},
				fleetlocktest.Poseidon: {status: 500, kind: "failed_sem_init", value: "failed to initialize semaphore manager: context deadline exceeded"},
			},
			wantHolders: []string{},
		},
		{
			name: "500 with JSON body on steady-state",
			setup: func(s *fleetlocktest.Server) {
				s.Hold(grp, me)
				s.FailNext(500, "internal_error", "error uncordoning node")
			},
			op: OpSteadyState,
			want: map[fleetlocktest.Mode]want{
				fleetlocktest.Airlock:  {status: 500, kind: "internal_error", value: "error uncordoning node"},
				fleetlocktest.Poseidon: {status: 500, kind: "internal_error", value: "error uncordoning node"},
			},
			wantHolders: []string{me},
		},
		{
			name:  "502 with non-JSON body",
			setup: func(s *fleetlocktest.Server) { s.FailNextRaw(502, "<html>\r\n<h1>502 Bad Gateway</h1>\r\n</html>\r\n") },
			op:    OpPreReboot,
			want: map[fleetlocktest.Mode]want{
				fleetlocktest.Airlock:  {status: 502, body: "<html> <h1>502 Bad Gateway</h1> </html>"},
				fleetlocktest.Poseidon: {status: 502, body: "<html> <h1>502 Bad Gateway</h1> </html>"},
			},
			wantHolders: []string{},
		},
		{
			name:  "500 with empty body",
			setup: func(s *fleetlocktest.Server) { s.FailNextRaw(500, "") },
			op:    OpPreReboot,
			want: map[fleetlocktest.Mode]want{
				fleetlocktest.Airlock:  {status: 500},
				fleetlocktest.Poseidon: {status: 500},
			},
			wantHolders: []string{},
		},
		{
			name:  "unknown group (airlock configured groups)",
			setup: func(s *fleetlocktest.Server) { s.SetGroups("default") },
			op:    OpPreReboot,
			want: map[fleetlocktest.Mode]want{
				fleetlocktest.Airlock:  {status: 400, kind: "unknown_group", value: `unknown group "workers"`},
				fleetlocktest.Poseidon: {status: 200, body: "obtained reboot lease"},
			},
		},
		{
			name:  "server down (connection dropped)",
			setup: func(s *fleetlocktest.Server) { s.SetDown(true) },
			op:    OpPreReboot,
			want: map[fleetlocktest.Mode]want{
				fleetlocktest.Airlock:  {status: 0},
				fleetlocktest.Poseidon: {status: 0},
			},
			wantHolders: []string{},
		},
	}
	for _, tt := range tests {
		for _, mode := range modes {
			t.Run(mode.String()+"/"+tt.name, func(t *testing.T) {
				s := fleetlocktest.New(mode, max(tt.slots, 1))
				if tt.setup != nil {
					tt.setup(s)
				}
				hs := startServer(t, s)
				c := newTestClient(t, hs.URL+"/", 2*time.Second)
				call := c.PreReboot
				if tt.op == OpSteadyState {
					call = c.SteadyState
				}
				w := tt.want[mode]
				start := time.Now()
				ans, err := bounded(t, call, context.Background())
				checkAnswer(t, ans, err, tt.op, hs.URL, w)
				if d := time.Since(start); d > time.Second {
					t.Errorf("call took %v", d)
				}
				if tt.wantHolders != nil {
					got := s.Holders(grp)
					if !sameSet(got, tt.wantHolders) {
						t.Errorf("holders = %q, want %q", got, tt.wantHolders)
					}
				}
			})
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func checkAnswer(t *testing.T, ans Answer, err error, op, base string, w want) {
	t.Helper()
	if ans.Op != op || ans.URL != base+"/v1/"+op || ans.Time.IsZero() {
		t.Errorf("answer op/url/time = %q %q %v", ans.Op, ans.URL, ans.Time)
	}
	if ans.Status != w.status || ans.Kind != w.kind || ans.Value != w.value || ans.Body != w.body {
		t.Errorf("answer = %+v, want %+v", ans, w)
	}
	switch {
	case w.status == 200:
		if err != nil || !(ans.Status == http.StatusOK && ans.Error == "") || ans.Error != "" {
			t.Fatalf("err = %v, answer %+v; want success", err, ans)
		}
	case w.status == 0:
		if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrRefused) {
			t.Fatalf("err = %v; want ErrUnreachable only", err)
		}
		if (ans.Status == http.StatusOK && ans.Error == "") || ans.Error != err.Error() {
			t.Errorf("answer = %+v for err %v", ans, err)
		}
	default:
		var se *ServerError
		if !errors.As(err, &se) || !errors.Is(err, ErrRefused) || errors.Is(err, ErrUnreachable) {
			t.Fatalf("err = %#v; want a *ServerError", err)
		}
		if se.Op != op || se.Status != w.status || se.Kind != w.kind || se.Value != w.value || se.Body != w.body {
			t.Errorf("ServerError = %+v, want %+v", se, w)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, op) || !strings.Contains(msg, fmt.Sprint(w.status)) ||
			!strings.Contains(msg, w.kind) || !strings.Contains(msg, w.value) || !strings.Contains(msg, w.body) {
			t.Errorf("error %q misses op, status, kind, value or body", msg)
		}
		if (ans.Status == http.StatusOK && ans.Error == "") || ans.Error != msg {
			t.Errorf("answer = %+v for err %v", ans, err)
		}
	}
	if s := ans.String(); strings.Contains(s, "\n") || s == "" {
		t.Errorf("Answer.String() = %q", s)
	}
}

func TestRequestWireFormat(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			s := fleetlocktest.New(mode, 1)
			hs := startServer(t, s)
			c := newTestClient(t, hs.URL, 0)
			if c.timeout != DefaultTimeout {
				t.Errorf("Timeout() = %v, want %v", c.timeout, DefaultTimeout)
			}
			if _, err := bounded(t, c.PreReboot, context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := bounded(t, c.SteadyState, context.Background()); err != nil {
				t.Fatal(err)
			}
			calls := s.Calls()
			if len(calls) != 2 {
				t.Fatalf("%d calls, want 2", len(calls))
			}
			wantBody := `{"client_params":{"id":"` + me + `","group":"` + grp + `"}}`
			for i, op := range []string{OpPreReboot, OpSteadyState} {
				got := calls[i]
				if got.Op != op || got.Method != "POST" || got.Header != "true" || got.UserAgent != UserAgent ||
					got.ContentType != "application/json" || got.Body != wantBody || got.ID != me || got.Group != grp {
					t.Errorf("call %d = %+v", i, got)
				}
			}
		})
	}
}

func TestBasePathPrefix(t *testing.T) {
	s := fleetlocktest.New(fleetlocktest.Poseidon, 1)
	mux := http.NewServeMux()
	mux.Handle("/lock/", http.StripPrefix("/lock", s))
	hs := startServer(t, mux)
	for _, base := range []string{hs.URL + "/lock", hs.URL + "/lock/", hs.URL + "/lock//"} {
		c := newTestClient(t, base, time.Second)
		if c.base != hs.URL+"/lock" {
			t.Errorf("BaseURL() = %q", c.base)
		}
		if ans, err := bounded(t, c.PreReboot, context.Background()); err != nil || ans.URL != hs.URL+"/lock/v1/pre-reboot" {
			t.Errorf("PreReboot via %q = %+v, %v", base, ans, err)
		}
	}
	// Pointing at the server root instead of the prefix is a 404, not a success.
	c := newTestClient(t, hs.URL, time.Second)
	_, err := bounded(t, c.PreReboot, context.Background())
	var se *ServerError
	if !errors.As(err, &se) || se.Status != 404 {
		t.Errorf("PreReboot at the wrong base = %v; want a 404 ServerError", err)
	}
}

func TestUnreachable(t *testing.T) {
	// A closed listener: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	// The hung handlers return when the client goes away (they read the
	// request body, so net/http notices it) or at the latest when the test
	// ends: the cleanups that release them run before the servers are closed.
	sleeper := hungServer(t, nil)
	hungBody := hungServer(t, func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"kind":"x",`))
	})
	delayed := fleetlocktest.New(fleetlocktest.Airlock, 1)
	delayed.SetDelay(10 * time.Second)
	delayedSrv := startServer(t, delayed)
	t.Cleanup(func() { delayed.SetDelay(0) })

	const timeout = 300 * time.Millisecond
	tests := []struct {
		name              string
		url               string
		wantInErr         string
		wantRefusedStatus int // the hung body still yields the status line
	}{
		{name: "closed listener", url: "http://" + addr, wantInErr: "connection refused"},
		{name: "hung handler", url: sleeper.URL, wantInErr: "no answer within 300ms"},
		{name: "delayed test server", url: delayedSrv.URL, wantInErr: "no answer within 300ms"},
		{name: "unresolvable host", url: "http://fleetlock.invalid", wantInErr: "fleetlock.invalid"},
		{name: "hung body after 500", url: hungBody.URL, wantRefusedStatus: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, tt.url, timeout)
			start := time.Now()
			ans, err := bounded(t, c.PreReboot, context.Background())
			elapsed := time.Since(start)
			if elapsed > timeout+time.Second {
				t.Errorf("call took %v with a %v timeout", elapsed, timeout)
			}
			if tt.wantRefusedStatus != 0 {
				var se *ServerError
				if !errors.As(err, &se) || se.Status != tt.wantRefusedStatus || !strings.Contains(se.Body, "reading body failed") {
					t.Fatalf("err = %v; want a %d ServerError noting the body read failure", err, tt.wantRefusedStatus)
				}
				return
			}
			if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v; want ErrUnreachable", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "fleetlock server unreachable: pre-reboot ") || !strings.Contains(msg, tt.wantInErr) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, tt.wantInErr)
			}
			if ans.Status != 0 || ans.Error != msg || ans.Time.IsZero() || (ans.Status == http.StatusOK && ans.Error == "") {
				t.Errorf("answer = %+v", ans)
			}
		})
	}
}

// hungServer starts a test server whose handler reads the request, calls
// start (if not nil) to begin an answer, sends what it wrote, and then hangs
// until the client goes away or the test ends, whichever comes first.
func hungServer(t *testing.T, start func(w http.ResponseWriter)) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	hs := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the whole body makes net/http watch the connection, so
		// that r.Context() is done when the client goes away.
		_, _ = io.Copy(io.Discard, r.Body)
		if start != nil {
			start(w)
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	// Registered after startServer's cleanup, so run before it.
	t.Cleanup(func() { close(release) })
	return hs
}

func TestSuccessWithHungBodyIsSuccess(t *testing.T) {
	hs := hungServer(t, func(w http.ResponseWriter) {
		_, _ = w.Write([]byte("obtained"))
	})
	c := newTestClient(t, hs.URL, 300*time.Millisecond)
	start := time.Now()
	ans, err := bounded(t, c.PreReboot, context.Background())
	if err != nil || !(ans.Status == http.StatusOK && ans.Error == "") || ans.Body != "obtained" {
		t.Fatalf("PreReboot = %+v, %v; want success", ans, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestCallerCancellation(t *testing.T) {
	s := fleetlocktest.New(fleetlocktest.Poseidon, 1)
	s.SetDelay(10 * time.Second)
	hs := startServer(t, s)
	t.Cleanup(func() { s.SetDelay(0) }) // runs before the server is closed
	c := newTestClient(t, hs.URL, 5*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	ans, err := bounded(t, c.PreReboot, ctx)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) || errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v; want context.Canceled only", err)
	}
	if ans.Error == "" || time.Since(start) > 2*time.Second {
		t.Errorf("answer %+v after %v", ans, time.Since(start))
	}
	// An already cancelled context fails at once; a nil context is tolerated.
	if _, err := bounded(t, c.SteadyState, ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("SteadyState(cancelled) = %v", err)
	}
	s.SetDelay(0)
	var nilCtx context.Context // a nil context must not panic
	if _, err := bounded(t, c.SteadyState, nilCtx); err != nil {
		t.Errorf("SteadyState(nil) = %v", err)
	}
	var nilClient *Client
	if _, err := bounded(t, nilClient.PreReboot, context.Background()); err == nil {
		t.Error("nil client succeeded")
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	s := fleetlocktest.New(fleetlocktest.Airlock, 1)
	target := startServer(t, s)
	for _, code := range []int{301, 302, 307, 308} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			redir := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+r.URL.Path, code)
			}))
			c := newTestClient(t, redir.URL, time.Second)
			_, err := bounded(t, c.PreReboot, context.Background())
			var se *ServerError
			if !errors.As(err, &se) || se.Status != code || se.Location != target.URL+"/v1/pre-reboot" {
				t.Fatalf("err = %#v; want a %d ServerError with the Location", err, code)
			}
			if !strings.Contains(err.Error(), "not followed") {
				t.Errorf("error %q does not say the redirect was not followed", err)
			}
			if n := len(s.Calls()); n != 0 {
				t.Errorf("redirect target got %d calls", n)
			}
		})
	}
}

func TestOnly200IsSuccess(t *testing.T) {
	for _, code := range []int{201, 202, 204, 299, 404, 409, 423, 503, 599} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			hs := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(code)
			}))
			c := newTestClient(t, hs.URL, time.Second)
			ans, err := bounded(t, c.PreReboot, context.Background())
			var se *ServerError
			if !errors.As(err, &se) || se.Status != code || ans.Status != code || (ans.Status == http.StatusOK && ans.Error == "") {
				t.Fatalf("status %d: answer %+v, err %v; want a ServerError", code, ans, err)
			}
		})
	}
}

func TestOversizedBodies(t *testing.T) {
	big := strings.Repeat("x", 3*MaxResponseBytes)
	tests := []struct {
		name string
		body string
	}{
		{name: "huge text", body: big},
		{name: "huge JSON value", body: `{"kind":"k","value":"` + big + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(500)
				_, _ = w.Write([]byte(tt.body))
			}))
			c := newTestClient(t, hs.URL, 2*time.Second)
			_, err := bounded(t, c.PreReboot, context.Background())
			var se *ServerError
			if !errors.As(err, &se) || se.Kind != "" || len(se.Body) > maxSummary+len("…") || !strings.HasSuffix(se.Body, "…") {
				t.Fatalf("err = %v; want a truncated body", err)
			}
			if len(err.Error()) > 1024 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}
}

// TestHostileAnswers: whatever a server (or something posing as one)
// answers, what the client keeps and reports is one harmless line of at
// most MaxText bytes; a body is read no further than MaxResponseBytes.
func TestHostileAnswers(t *testing.T) {
	escapes := strings.Repeat(`\u001b[2J\u001b[H\u001b]0;pwned\u0007\r\nkexec-upgrade: switched\u202e\n`, 400)
	if n := 2 * len(escapes); n >= MaxResponseBytes-100 {
		t.Fatalf("the JSON answer is %d bytes; want it within MaxResponseBytes, so that it is parsed", n)
	}
	rawEscapes := strings.Repeat("\x1b[2J\x1b[H\x1b]0;pwned\x07\r\nkexec-upgrade: switched\u202e\n", 1500)
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		// want is the status the client sees; 0 for none (unreachable).
		want int
	}{
		{name: "json_kind_and_value_of_escapes", status: 423, want: 423, body: `{"kind":"\u001b[31mlock_held` + escapes + `","value":"` + escapes + `"}`},
		{name: "json_answer_just_under_the_read_limit", status: 500, want: 500, body: `{"kind":"k","value":"` + strings.Repeat(`\u001b`, (MaxResponseBytes-40)/6) + `x"}`},
		{name: "raw_body_of_escapes", status: 502, want: 502, body: rawEscapes},
		{name: "success_with_escapes", status: 200, want: 200, body: rawEscapes},
		{name: "body_far_beyond_the_read_limit", status: 500, want: 500, body: strings.Repeat("\x1b[5m\n", 4*MaxResponseBytes)},
		{name: "redirect_to_bidi_and_a_long_location", status: 307, want: 307, header: map[string]string{"Location": "https://x/\u202e" + strings.Repeat("é\u2066", 3000)}},
		// net/http refuses the header and quotes it in its error.
		{name: "header_of_escapes", status: 307, want: 0, header: map[string]string{"Location": "https://x/\x1b[8m" + strings.Repeat("\x1b[1A", 2000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header()[k] = []string{v}
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			c := newTestClient(t, hs.URL, 5*time.Second)
			ans, err := bounded(t, c.PreReboot, context.Background())
			if ans.Status != tt.want {
				t.Fatalf("answer status %d, err %.200q; want status %d", ans.Status, err, tt.want)
			}
			texts := map[string]string{"Kind": ans.Kind, "Value": ans.Value, "Body": ans.Body, "Error": ans.Error, "String()": ans.String()}
			if err != nil {
				texts["err.Error()"] = err.Error()
				var se *ServerError
				switch {
				case errors.As(err, &se):
					texts["Location"] = se.Location
				case tt.want != 0 || !errors.Is(err, ErrUnreachable):
					t.Fatalf("err = %T %.200q; want a *ServerError, or ErrUnreachable without an answer", err, err)
				}
			}
			for name, v := range texts {
				if len(v) > MaxText || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool {
					return unicode.IsControl(r) || r == '\u202e'
				}) {
					t.Errorf("%s = %d bytes %.200q; want one line of at most %d bytes without control characters", name, len(v), v, MaxText)
				}
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name, url, group, id string
		wantErr              string
	}{
		{name: "ok", url: "https://h/lock/", group: "default", id: me},
		{name: "group with dots and dashes", url: "https://h", group: "Site-1.rack-2", id: "node-1.example.com"},
		{name: "bad url", url: "ftp://h", group: "default", id: me, wantErr: "scheme"},
		{name: "empty group", url: "https://h", group: "", id: me, wantErr: "group is empty"},
		{name: "group with space", url: "https://h", group: "my group", id: me, wantErr: "want 1 to 253"},
		{name: "group with slash", url: "https://h", group: "a/b", id: me, wantErr: "want 1 to 253"},
		{name: "group too long", url: "https://h", group: strings.Repeat("g", 254), id: me, wantErr: "want 1 to 253"},
		{name: "empty id", url: "https://h", group: "default", id: "", wantErr: "id is empty"},
		{name: "id with newline", url: "https://h", group: "default", id: "a\nb", wantErr: "printable"},
		{name: "id invalid UTF-8", url: "https://h", group: "default", id: "a\xffb", wantErr: "printable"},
		{name: "id too long", url: "https://h", group: "default", id: strings.Repeat("i", 254), wantErr: "printable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.url, tt.group, tt.id, time.Second)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("New = %v; want one-line error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.group != tt.group || c.id != tt.id || c.timeout != time.Second {
				t.Errorf("client = %q %q %v", c.group, c.id, c.timeout)
			}
		})
	}
}

func TestServerErrorMessage(t *testing.T) {
	tests := []struct {
		err  *ServerError
		want string
	}{
		{&ServerError{Op: OpPreReboot, Status: 409, Kind: "failed_lock", Value: "semaphore is full (held by 7a3f…)"},
			"fleetlock server refused pre-reboot: 409 Conflict: failed_lock: semaphore is full (held by 7a3f…)"},
		{&ServerError{Op: OpPreReboot, Status: 423, Kind: "lock_held", Value: "reboot lease lock unavailable, held by x"},
			"fleetlock server refused pre-reboot: 423 Locked: lock_held: reboot lease lock unavailable, held by x"},
		{&ServerError{Op: OpSteadyState, Status: 466, Kind: "failure_foo", Value: "failed to perform foo"},
			"fleetlock server refused steady-state: 466: failure_foo: failed to perform foo"},
		{&ServerError{Op: OpPreReboot, Status: 500, Kind: "only_kind"},
			"fleetlock server refused pre-reboot: 500 Internal Server Error: only_kind"},
		{&ServerError{Op: OpPreReboot, Status: 500, Value: "only value"},
			"fleetlock server refused pre-reboot: 500 Internal Server Error: only value"},
		{&ServerError{Op: OpPreReboot, Status: 502, Body: "<h1>Bad Gateway</h1>"},
			"fleetlock server refused pre-reboot: 502 Bad Gateway: body: <h1>Bad Gateway</h1>"},
		{&ServerError{Op: OpPreReboot, Status: 503},
			"fleetlock server refused pre-reboot: 503 Service Unavailable: empty body"},
		{&ServerError{Op: OpPreReboot, Status: 500, Kind: "k", Value: "line1\nline2"},
			"fleetlock server refused pre-reboot: 500 Internal Server Error: k: line1 line2"},
		{&ServerError{Op: OpPreReboot, Status: 500, Kind: "\x1b[31mk", Value: "v\u202e\r\nforged"},
			"fleetlock server refused pre-reboot: 500 Internal Server Error: [31mk: v forged"},
		{&ServerError{Op: OpPreReboot, Status: 307, Location: "https://new/v1/pre-reboot"},
			"fleetlock server refused pre-reboot: 307 Temporary Redirect: redirect to https://new/v1/pre-reboot not followed (fix the configured URL)"},
		{nil, "<nil>"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() =\n%q, want\n%q", got, tt.want)
		}
	}
	long := &ServerError{Op: OpPreReboot, Status: 500, Kind: "k", Value: strings.Repeat("é", 4000)}
	if msg := long.Error(); len(msg) > MaxText || !strings.HasSuffix(msg, "…") {
		t.Errorf("long value rendered in %d bytes", len(msg))
	}
	if !errors.Is(fmt.Errorf("wrapped: %w", error(&ServerError{Op: OpPreReboot, Status: 500})), ErrRefused) {
		t.Error("wrapped ServerError does not match ErrRefused")
	}
}

func TestAnswerJSON(t *testing.T) {
	a := Answer{Time: time.Date(2026, 3, 28, 2, 30, 0, 0, time.UTC), Op: OpPreReboot, URL: "https://h/v1/pre-reboot",
		Status: 423, Kind: "lock_held", Value: "held by x", Error: "fleetlock server refused pre-reboot: 423 Locked: lock_held: held by x"}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2026-03-28T02:30:00Z","op":"pre-reboot","url":"https://h/v1/pre-reboot","status":423,"kind":"lock_held","value":"held by x","error":"fleetlock server refused pre-reboot: 423 Locked: lock_held: held by x"}`
	if string(b) != want {
		t.Errorf("JSON =\n%s, want\n%s", b, want)
	}
	var back Answer
	if err := json.Unmarshal(b, &back); err != nil || back != a {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	ok := Answer{Op: OpSteadyState, Status: 200, Body: "steady-state confirmed"}
	if got := ok.String(); got != "steady-state: 200 OK: steady-state confirmed" {
		t.Errorf("String() = %q", got)
	}
	if got := a.String(); got != a.Error {
		t.Errorf("String() = %q", got)
	}
}
