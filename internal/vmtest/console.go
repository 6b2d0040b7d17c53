//go:build vm

package vmtest

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// ansiEscape matches the terminal control sequences systemd and the kernel write to the
// console (colours, cursor moves), which are removed from parsed lines.
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]`)

// console records a guest's serial console: the raw bytes go to a log file, and complete
// lines, cleaned of carriage returns and escape sequences, are kept for matching.
type console struct {
	mu      sync.Mutex
	lines   []string
	partial []byte
	// changed is closed and replaced whenever a line is added: a broadcast to waiters.
	changed chan struct{}
	// closed is closed when the serial stream ends (QEMU exited).
	closed chan struct{}
}

// newConsole starts copying r (QEMU's serial output) into logFile and the line buffer.
func newConsole(r io.Reader, logFile *os.File) *console {
	c := &console{changed: make(chan struct{}), closed: make(chan struct{})}
	go c.read(r, logFile)
	return c
}

func (c *console) read(r io.Reader, logFile *os.File) {
	defer close(c.closed)
	defer logFile.Close()
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			// The log is a diagnostic: a failed write must not stop the parsing.
			_, _ = logFile.Write(buf[:n])
			c.add(buf[:n])
		}
		if err != nil {
			c.flush()
			return
		}
	}
}

func (c *console) add(data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partial = append(c.partial, data...)
	added := false
	for {
		i := strings.IndexByte(string(c.partial), '\n')
		if i < 0 {
			break
		}
		c.lines = append(c.lines, cleanLine(string(c.partial[:i])))
		c.partial = c.partial[i+1:]
		added = true
	}
	if added {
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

// flush turns an unterminated last line into a line when the stream ends.
func (c *console) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.partial) > 0 {
		c.lines = append(c.lines, cleanLine(string(c.partial)))
		c.partial = nil
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

func cleanLine(s string) string {
	s = ansiEscape.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "\r", "")
	return strings.Map(func(r rune) rune {
		if r < ' ' && r != '\t' {
			return -1
		}
		return r
	}, s)
}

// mark returns the number of complete lines so far.
func (c *console) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

// since returns a copy of the lines from index mark on.
func (c *console) since(mark int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if mark < 0 {
		mark = 0
	}
	if mark >= len(c.lines) {
		return nil
	}
	return append([]string(nil), c.lines[mark:]...)
}

// tail returns the last n lines, with the unterminated line in progress if there is one.
func (c *console) tail(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	lines := c.lines
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := append([]string(nil), lines...)
	if len(c.partial) > 0 {
		out = append(out, cleanLine(string(c.partial))+" (no newline yet)")
	}
	return out
}

// waitResult is what wait found.
type waitResult int

const (
	waitMatched waitResult = iota
	waitTimeout
	waitClosed
)

// String names the result for failure messages.
func (r waitResult) String() string {
	switch r {
	case waitMatched:
		return "matched"
	case waitTimeout:
		return "timeout"
	case waitClosed:
		return "closed"
	}
	return fmt.Sprintf("waitResult(%d)", int(r))
}

// wait waits until a line with index >= from matches re, the deadline passes, or the
// stream ends. It returns the index and text of the matching line.
func (c *console) wait(from int, re *regexp.Regexp, deadline time.Time) (int, string, waitResult) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	next := from
	for {
		c.mu.Lock()
		for ; next < len(c.lines); next++ {
			if re.MatchString(c.lines[next]) {
				line := c.lines[next]
				c.mu.Unlock()
				return next, line, waitMatched
			}
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-c.closed:
			// Lines added by the final flush are scanned once more before giving up.
			c.mu.Lock()
			for ; next < len(c.lines); next++ {
				if re.MatchString(c.lines[next]) {
					line := c.lines[next]
					c.mu.Unlock()
					return next, line, waitMatched
				}
			}
			c.mu.Unlock()
			return 0, "", waitClosed
		case <-timer.C:
			return 0, "", waitTimeout
		}
	}
}
