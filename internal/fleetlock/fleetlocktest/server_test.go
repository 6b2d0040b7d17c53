package fleetlocktest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

const goodBody = `{"client_params":{"id":"me","group":"default"}}`

func body(id, group string) string {
	b, _ := json.Marshal(map[string]any{"client_params": map[string]string{"id": id, "group": group}})
	return string(b)
}

type request struct {
	method string // default POST
	path   string // default PreRebootPath
	header string // value of fleet-lock-protocol; "-" to omit; default "true"
	body   string // default goodBody
}

func (r request) do(t *testing.T, h http.Handler) *httptest.ResponseRecorder {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = PreRebootPath
	}
	if r.body == "" {
		r.body = goodBody
	}
	req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	switch r.header {
	case "":
		req.Header.Set("fleet-lock-protocol", "true")
	case "-":
	default:
		req.Header.Set("fleet-lock-protocol", r.header)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestServerAnswers(t *testing.T) {
	type holder struct{ group, id string }
	tests := []struct {
		name        string
		mode        Mode
		slots       int
		groups      []string
		hold        []holder
		req         request
		wantStatus  int
		wantKind    string
		wantValue   string
		wantText    string // success body
		wantHolders []string
	}{
		{name: "free slot", mode: Airlock, req: request{}, wantStatus: 200, wantHolders: []string{"me"}},
		{name: "free slot", mode: Poseidon, req: request{}, wantStatus: 200, wantText: "obtained reboot lease", wantHolders: []string{"me"}},
		{name: "re-entrant", mode: Airlock, hold: []holder{{"default", "me"}}, wantStatus: 200, wantHolders: []string{"me"}},
		{name: "re-entrant", mode: Poseidon, hold: []holder{{"default", "me"}}, wantStatus: 200, wantText: "retained reboot lease", wantHolders: []string{"me"}},
		{name: "busy", mode: Airlock, hold: []holder{{"default", "other"}}, wantStatus: 500, wantKind: "failed_lock",
			wantValue: "all 1 semaphore slots currently locked", wantHolders: []string{"other"}},
		{name: "busy", mode: Poseidon, hold: []holder{{"default", "other"}}, wantStatus: 423, wantKind: "lock_held",
			wantValue: "reboot lease lock unavailable, held by other", wantHolders: []string{"other"}},
		{name: "second slot", mode: Airlock, slots: 2, hold: []holder{{"default", "other"}}, wantStatus: 200, wantHolders: []string{"me", "other"}},
		{name: "busy other group", mode: Airlock, hold: []holder{{"workers", "other"}}, wantStatus: 200, wantHolders: []string{"me"}},
		{name: "missing header", mode: Airlock, req: request{header: "-"}, wantStatus: 400, wantKind: "invalid_client_identity",
			wantValue: "failed to validate client identity: wrong 'fleet-lock-protocol' header"},
		{name: "missing header", mode: Poseidon, req: request{header: "-"}, wantStatus: 400, wantKind: "missing_header",
			wantValue: "missing required header fleet-lock-protocol: true"},
		{name: "header not true", mode: Airlock, req: request{header: "TRUE"}, wantStatus: 400, wantKind: "invalid_client_identity",
			wantValue: "failed to validate client identity: wrong 'fleet-lock-protocol' header"},
		{name: "header not true", mode: Poseidon, req: request{header: "yes"}, wantStatus: 400, wantKind: "missing_header",
			wantValue: "missing required header fleet-lock-protocol: true"},
		{name: "bad body", mode: Airlock, req: request{body: "{"}, wantStatus: 400, wantKind: "invalid_client_identity",
			wantValue: "failed to validate client identity: unexpected EOF"},
		{name: "bad body", mode: Poseidon, req: request{body: "{"}, wantStatus: 400, wantKind: "decode_error", wantValue: "error decoding message"},
		{name: "empty group", mode: Airlock, req: request{body: body("me", "")}, wantStatus: 400, wantKind: "invalid_client_identity",
			wantValue: "failed to validate client identity: empty client group"},
		{name: "empty id", mode: Airlock, req: request{body: body("", "default")}, wantStatus: 400, wantKind: "invalid_client_identity",
			wantValue: "failed to validate client identity: empty client ID"},
		{name: "empty id", mode: Poseidon, req: request{body: body("", "default")}, wantStatus: 400, wantKind: "decode_error", wantValue: "error decoding message"},
		{name: "old node_uuid field", mode: Poseidon, req: request{body: `{"client_params":{"node_uuid":"me","group":"default"}}`},
			wantStatus: 400, wantKind: "decode_error", wantValue: "error decoding message"},
		{name: "unknown group", mode: Airlock, groups: []string{"default"}, req: request{body: body("me", "workers")}, wantStatus: 400,
			wantKind: "unknown_group", wantValue: `unknown group "workers"`},
		{name: "configured group", mode: Airlock, groups: []string{"default"}, req: request{}, wantStatus: 200, wantHolders: []string{"me"}},
		{name: "uppercase group", mode: Poseidon, req: request{body: body("me", "Workers")}, wantStatus: 500, wantKind: "internal_error",
			wantValue: "error getting reboot lease"},
		{name: "uppercase group", mode: Airlock, req: request{body: body("me", "Workers")}, wantStatus: 200},
		{name: "GET", mode: Poseidon, req: request{method: http.MethodGet}, wantStatus: 405, wantKind: "method_not_allowed", wantValue: "required method POST"},
		{name: "GET", mode: Airlock, req: request{method: http.MethodGet}, wantStatus: 200, wantHolders: []string{"me"}},
		{name: "unknown path", mode: Airlock, req: request{path: "/v1/other"}, wantStatus: 404, wantText: "404 page not found\n"},
		{name: "unknown path", mode: Poseidon, req: request{path: "/pre-reboot"}, wantStatus: 404, wantText: "404 page not found\n"},
		{name: "steady-state holder", mode: Airlock, hold: []holder{{"default", "me"}, {"default", "other"}}, slots: 2,
			req: request{path: SteadyStatePath}, wantStatus: 200, wantHolders: []string{"other"}},
		{name: "steady-state holder", mode: Poseidon, hold: []holder{{"default", "me"}},
			req: request{path: SteadyStatePath}, wantStatus: 200, wantText: "unlocked reboot lease for me"},
		{name: "steady-state free", mode: Airlock, req: request{path: SteadyStatePath}, wantStatus: 200},
		{name: "steady-state free", mode: Poseidon, req: request{path: SteadyStatePath}, wantStatus: 200, wantText: "reboot lease already unlocked"},
		{name: "steady-state held by other", mode: Airlock, hold: []holder{{"default", "other"}},
			req: request{path: SteadyStatePath}, wantStatus: 200, wantHolders: []string{"other"}},
		{name: "steady-state held by other", mode: Poseidon, hold: []holder{{"default", "other"}},
			req: request{path: SteadyStatePath}, wantStatus: 423, wantKind: "lock_held",
			wantValue: "reboot lease unlock unavailable, held by other", wantHolders: []string{"other"}},
		{name: "steady-state missing header", mode: Airlock, hold: []holder{{"default", "me"}}, req: request{path: SteadyStatePath, header: "-"},
			wantStatus: 400, wantKind: "invalid_client_identity",
			wantValue: "failed to validate client identity: wrong 'fleet-lock-protocol' header", wantHolders: []string{"me"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String()+"/"+tt.name, func(t *testing.T) {
			s := New(tt.mode, tt.slots)
			s.SetGroups(tt.groups...)
			for _, h := range tt.hold {
				s.Hold(h.group, h.id)
			}
			rec := tt.req.do(t, s)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", rec.Code, tt.wantStatus, rec.Body.String())
			}
			if tt.wantKind != "" {
				var e struct{ Kind, Value string }
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
					t.Fatalf("error body %q is not JSON: %v", rec.Body.String(), err)
				}
				if e.Kind != tt.wantKind || e.Value != tt.wantValue {
					t.Errorf("error body = %+v, want kind %q value %q", e, tt.wantKind, tt.wantValue)
				}
				wantCT := map[Mode]string{Airlock: "text/plain; charset=utf-8", Poseidon: "application/json"}[tt.mode]
				if ct := rec.Header().Get("Content-Type"); ct != wantCT {
					t.Errorf("Content-Type = %q, want %q", ct, wantCT)
				}
				if !strings.HasSuffix(rec.Body.String(), "}\n") {
					t.Errorf("error body %q does not end in a newline like the real server's", rec.Body.String())
				}
			} else if got := rec.Body.String(); got != tt.wantText {
				t.Errorf("body = %q, want %q", got, tt.wantText)
			}
			if tt.wantHolders != nil {
				if got := s.Holders("default"); !slices.Equal(got, tt.wantHolders) {
					t.Errorf("holders = %q, want %q", got, tt.wantHolders)
				}
			}
			c, err := s.LastCall()
			if err != nil {
				t.Fatal(err)
			}
			if c.Status != tt.wantStatus || c.Kind != tt.wantKind || c.Value != tt.wantValue {
				t.Errorf("recorded call = %+v", c)
			}
		})
	}
}

func TestFailNextAndCalls(t *testing.T) {
	for _, mode := range []Mode{Airlock, Poseidon} {
		t.Run(mode.String(), func(t *testing.T) {
			s := New(mode, 1)
			s.FailNext(500, "boom", "etcd is on fire")
			s.FailNextRaw(502, "<html>Bad Gateway</html>")
			rec := request{}.do(t, s)
			if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"kind":"boom"`) {
				t.Errorf("first answer = %d %q", rec.Code, rec.Body.String())
			}
			rec = request{}.do(t, s)
			if rec.Code != 502 || rec.Body.String() != "<html>Bad Gateway</html>" {
				t.Errorf("second answer = %d %q", rec.Code, rec.Body.String())
			}
			if h := s.Holders("default"); len(h) != 0 {
				t.Errorf("failed calls changed holders: %q", h)
			}
			rec = request{}.do(t, s)
			if rec.Code != 200 {
				t.Errorf("third answer = %d %q", rec.Code, rec.Body.String())
			}
			calls := s.Calls()
			if len(calls) != 3 {
				t.Fatalf("len(Calls()) = %d, want 3", len(calls))
			}
			want := []int{500, 502, 200}
			for i, c := range calls {
				if c.Status != want[i] || c.Op != OpPreReboot || c.ID != "me" || c.Group != "default" ||
					c.Header != "true" || c.Method != "POST" || c.Body != goodBody || c.Time.IsZero() {
					t.Errorf("call %d = %+v", i, c)
				}
			}
		})
	}
}

// hangLimit bounds the waits of these tests that could otherwise block for
// good; reaching it fails the test at once with a goroutine dump.
const hangLimit = 30 * time.Second

// within runs f and fails the test with a dump of all goroutines if f has
// not returned within hangLimit (f goes on running).
func within(t *testing.T, what string, f func()) {
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
	case <-timer.C:
		buf := make([]byte, 4<<20)
		t.Fatalf("%s has not returned after %v; goroutines:\n%s", what, hangLimit, buf[:runtime.Stack(buf, true)])
	}
}

func TestStartSetDownAndDelay(t *testing.T) {
	s := New(Poseidon, 1)
	base, stop, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer within(t, "stop", stop)
	post := func() (resp *http.Response, err error) {
		req, _ := http.NewRequest(http.MethodPost, base+PreRebootPath, strings.NewReader(goodBody))
		req.Header.Set("fleet-lock-protocol", "true")
		c := &http.Client{Timeout: 2 * time.Second}
		within(t, "POST", func() { resp, err = c.Do(req) })
		return resp, err
	}
	resp, err := post()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "obtained reboot lease" {
		t.Fatalf("answer = %d %q", resp.StatusCode, b)
	}

	s.SetDown(true)
	if resp, err := post(); err == nil {
		resp.Body.Close()
		t.Fatalf("down server answered %d", resp.StatusCode)
	}
	s.SetDown(false)
	if c, _ := s.LastCall(); !c.Dropped || c.Status != 0 {
		t.Errorf("dropped call recorded as %+v", c)
	}

	s.SetDelay(200 * time.Millisecond)
	start := time.Now()
	resp, err = post()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("delayed answer came after %v", d)
	}

	within(t, "stop", stop)
	within(t, "second stop", stop) // idempotent
	if resp, err := post(); err == nil {
		resp.Body.Close()
		t.Fatal("stopped server answered")
	}
}

func TestSetDelayReleasesWaitingRequests(t *testing.T) {
	s := New(Airlock, 1)
	arrived := make(chan struct{}, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		s.ServeHTTP(w, r)
	}))
	defer within(t, "closing the test server", hs.Close)
	const delay = time.Minute
	s.SetDelay(delay)
	defer s.SetDelay(0) // runs before the server is closed
	type result struct {
		status int
		err    error
	}
	answered := make(chan result, 1)
	start := time.Now()
	go func() {
		req, _ := http.NewRequest(http.MethodPost, hs.URL+PreRebootPath, strings.NewReader(goodBody))
		req.Header.Set("fleet-lock-protocol", "true")
		resp, err := (&http.Client{Timeout: 2 * delay}).Do(req)
		if err != nil {
			answered <- result{err: err}
			return
		}
		resp.Body.Close()
		answered <- result{status: resp.StatusCode}
	}()
	timeout := time.NewTimer(hangLimit)
	defer timeout.Stop()
	select {
	case <-arrived:
	case <-timeout.C:
		t.Fatalf("no request arrived within %v", hangLimit)
	}
	// Raising the delay does not answer a waiting request; setting one that
	// is over for it does.
	time.Sleep(50 * time.Millisecond)
	s.SetDelay(2 * delay)
	select {
	case r := <-answered:
		t.Fatalf("answered (%+v) after the delay was raised", r)
	case <-time.After(100 * time.Millisecond):
	}
	s.SetDelay(0)
	select {
	case r := <-answered:
		if r.err != nil || r.status != http.StatusOK {
			t.Fatalf("released request: status %d, error %v; want 200", r.status, r.err)
		}
		if d := time.Since(start); d >= delay {
			t.Errorf("released request answered after %v", d)
		}
	case <-timeout.C:
		t.Fatalf("request delayed by %v not answered within %v of SetDelay(0)", delay, hangLimit)
	}
	if h := s.Holders("default"); !slices.Equal(h, []string{"me"}) {
		t.Errorf("holders = %q, want [me]", h)
	}
}

func TestStartUnspecifiedAddress(t *testing.T) {
	s := New(Airlock, 1)
	base, stop, err := s.Start("0.0.0.0:0")
	if err != nil {
		t.Skipf("cannot listen on 0.0.0.0: %v", err)
	}
	defer stop()
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("base URL = %q, want http://127.0.0.1:PORT", base)
	}
	if _, _, err := s.Start("256.0.0.1:0"); err == nil {
		t.Error("Start on a bad address succeeded")
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Airlock: "airlock", Poseidon: "poseidon", 0: "Mode(0)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
	if New(0, 0).Mode() != Airlock {
		t.Error("New(0, 0) is not in Airlock mode")
	}
}
