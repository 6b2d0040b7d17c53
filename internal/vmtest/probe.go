//go:build vm

package vmtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

const (
	// probeInterval is how often the probe sends a request. Each request costs the
	// guest a fork of busybox httpd, which TCG makes dear: at 20 ms the probe took
	// enough of the guest's CPU that a kernel package's dpkg -i ran past 10 minutes
	// (the kernel logged SYN flooding on port 8080), and it slowed every boot it
	// measured. 100 ms is still far finer than the outages measured.
	probeInterval = 100 * time.Millisecond
	// probeTimeout bounds one request; requests overlap, so a slow one does not delay
	// the next and the gap resolution stays at probeInterval.
	probeTimeout = time.Second
	// probeMaxInFlight bounds the requests open at once.
	probeMaxInFlight = 64
	// probeMaxDuration stops a forgotten probe by itself.
	probeMaxDuration = 30 * time.Minute
	// probeBody is what the guest's service answers (see build-image.sh).
	probeBody = "kexec-upgrade vm http ok\n"
)

// Probe polls a guest's HTTP service from the host and records when it answered.
type Probe struct {
	url     string
	logPath string
	cancel  context.CancelFunc
	done    chan struct{}

	mu       sync.Mutex
	answers  []time.Time
	failures int
}

// StartProbe starts sending a GET to the guest's HTTP service every 100 ms (each with a
// 1 s timeout, without connection reuse) until Stop, or 30 minutes at most.
func (vm *VM) StartProbe() *Probe {
	ctx, cancel := context.WithTimeout(context.Background(), probeMaxDuration)
	p := &Probe{
		url:     "http://" + vm.HTTPAddr() + "/index.html",
		logPath: filepath.Join(vm.logDir, "probe.log"),
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	go p.loop(ctx)
	return p
}

func (p *Probe) loop(ctx context.Context) {
	defer close(p.done)
	client := &http.Client{
		Timeout:   probeTimeout,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	defer wg.Wait()
	inFlight := make(chan struct{}, probeMaxInFlight)
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case inFlight <- struct{}{}:
		default:
			continue // all slots busy: the guest is not answering anyway
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inFlight }()
			ok := p.get(ctx, client)
			p.mu.Lock()
			defer p.mu.Unlock()
			if ok {
				p.answers = append(p.answers, time.Now())
			} else if ctx.Err() == nil {
				p.failures++
			}
		}()
	}
}

// get sends one request and reports whether the service answered with its page.
func (p *Probe) get(ctx context.Context, client *http.Client) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return err == nil && resp.StatusCode == http.StatusOK && string(body) == probeBody
}

// Stop ends the probe and returns the longest time between two answered requests and
// how many were answered. Stop it after the service is back, or the outage at the end
// is not counted. The gaps over 100 ms go to probe.log in the guest's log directory.
func (p *Probe) Stop() (longestGap time.Duration, answered int) {
	p.cancel()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	answers := append([]time.Time(nil), p.answers...)
	sort.Slice(answers, func(i, j int) bool { return answers[i].Before(answers[j]) })
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d answered, %d failed\n", p.url, len(answers), p.failures)
	for i := 1; i < len(answers); i++ {
		gap := answers[i].Sub(answers[i-1])
		if gap > longestGap {
			longestGap = gap
		}
		if gap > 100*time.Millisecond {
			fmt.Fprintf(&b, "gap %v from %s to %s\n", gap.Round(time.Millisecond),
				answers[i-1].Format("15:04:05.000"), answers[i].Format("15:04:05.000"))
		}
	}
	fmt.Fprintf(&b, "longest gap %v\n", longestGap.Round(time.Millisecond))
	// The log is a diagnostic: the figures are returned either way.
	if f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		_, _ = f.WriteString(b.String())
		f.Close()
	}
	return longestGap, len(answers)
}
