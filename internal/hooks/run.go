package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/textsafe"
)

// DefaultTimeout bounds one hook when the configuration sets none.
const DefaultTimeout = 5 * time.Minute

// maxOutput is how much of a hook's output is kept.
const maxOutput = 64 << 10

// Vars are the environment a hook gets besides PATH and LANG.
type Vars struct {
	From, To, FromBuild, ToBuild, Attempt string
	// Phase is "pre-switch" or "post-switch".
	Phase string
}

func (v Vars) environ() []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8",
		"KEXEC_UPGRADE_FROM=" + v.From,
		"KEXEC_UPGRADE_TO=" + v.To,
		"KEXEC_UPGRADE_FROM_BUILD=" + v.FromBuild,
		"KEXEC_UPGRADE_TO_BUILD=" + v.ToBuild,
		"KEXEC_UPGRADE_ATTEMPT=" + v.Attempt,
		"KEXEC_UPGRADE_PHASE=" + v.Phase,
	}
}

// Result is how one hook ended.
type Result struct {
	Hook     Hook
	ExitCode int // -1 when it did not exit by itself
	TimedOut bool
	// Err is why it failed (a non-zero exit, a timeout, a start error);
	// nil when it succeeded.
	Err error
	// Output is its stdout and stderr together (at most 64 KiB);
	// Truncated says more was cut.
	Output    string
	Truncated bool
	Duration  time.Duration
}

// LastLine is the last non-empty line of the output, made harmless for
// one line of the journal or status.
func (r Result) LastLine() string {
	lines := strings.Split(strings.TrimRight(r.Output, "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return textsafe.Line(l, 256)
		}
	}
	return ""
}

// Runner runs hooks under a root directory ("/" on a host).
type Runner struct {
	Root    string
	Timeout time.Duration
}

// RunAll runs the hooks in order. With stopOnFailure (pre-switch) it stops
// at the first failure, as run-parts --exit-on-error does.
func (r Runner) RunAll(ctx context.Context, hooks []Hook, v Vars, stopOnFailure bool) []Result {
	var results []Result
	for _, h := range hooks {
		res := r.run(ctx, h, v)
		results = append(results, res)
		if res.Err != nil && stopOnFailure {
			break
		}
	}
	return results
}

// run runs one hook in its own process group, killed whole at the timeout.
func (r Runner) run(ctx context.Context, h Hook, v Vars) Result {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(r.Root, h.Path))
	cmd.Dir = "/"
	cmd.Env = v.environ()
	var out cappedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A child that keeps the output open must not hold the run forever.
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	res := Result{Hook: h, ExitCode: -1, Duration: time.Since(start)}
	res.Output, res.Truncated = out.contents()
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.TimedOut = true
		res.Err = fmt.Errorf("hook %s did not finish within %s and was killed", h.Path, timeout)
	case errors.As(err, &exitErr):
		res.Err = fmt.Errorf("hook %s failed (%s)", h.Path, exitErr.ProcessState)
	default:
		res.Err = fmt.Errorf("hook %s could not run: %w", h.Path, err)
	}
	return res
}

// cappedBuffer keeps the first maxOutput bytes written to it.
type cappedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	truncated bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := maxOutput - c.buf.Len(); room < len(p) {
		c.buf.Write(p[:max(room, 0)])
		c.truncated = true
		return len(p), nil
	}
	return c.buf.Write(p)
}

func (c *cappedBuffer) contents() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String(), c.truncated
}

// Host finds and runs hooks on a host: Root is "/" there, Owner 0.
type Host struct {
	Root  string
	Owner int
}

// Scan lists one hook directory (PreSwitchDir or PostSwitchDir).
func (h Host) Scan(dir string) (Scan, error) { return ScanDir(h.Root, dir, h.Owner) }

// Run runs hooks in order, each bounded by timeout.
func (h Host) Run(ctx context.Context, hs []Hook, v Vars, stopOnFailure bool, timeout time.Duration) []Result {
	return Runner{Root: h.Root, Timeout: timeout}.RunAll(ctx, hs, v, stopOnFailure)
}
