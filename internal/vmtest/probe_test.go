//go:build vm

package vmtest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestProbeGap runs the probe against a loopback server that stops answering for a
// while, and checks that the longest gap covers the outage and no more than it plus a
// few probe intervals and one timeout.
func TestProbeGap(t *testing.T) {
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(probeBody))
	}))
	defer srv.Close()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	vm := &VM{name: "probe", logDir: t.TempDir()}
	if _, err := fmt.Sscan(port, &vm.httpPort); err != nil {
		t.Fatal(err)
	}

	// Up for 5 intervals, down for 10, up for 5: about 10 answers.
	outage := 10 * probeInterval
	p := vm.StartProbe()
	time.Sleep(5 * probeInterval)
	down.Store(true)
	time.Sleep(outage)
	down.Store(false)
	time.Sleep(5 * probeInterval)
	gap, answered := p.Stop()

	if gap < outage || gap > outage+probeTimeout {
		t.Errorf("Stop() longest gap = %v after a %v outage; want between %v and %v", gap, outage, outage, outage+probeTimeout)
	}
	if answered < 5 {
		t.Errorf("Stop() answered = %d in %v up at a %v interval; want at least 5", answered, 10*probeInterval, probeInterval)
	}
}
