package upgrade

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRunHealthCommand(t *testing.T) {
	tests := []struct {
		name    string
		argv    []string
		timeout time.Duration
		exit    int
		err     string
		output  string
	}{
		{"success", []string{"/bin/sh", "-c", "echo all good"}, time.Minute, 0, "", "all good"},
		{"failure_last_line", []string{"/bin/sh", "-c", "echo one; echo db down >&2; exit 3"}, time.Minute, 3, "", "db down"},
		{"missing", []string{"/nonexistent/check"}, time.Minute, -1, "no such file", ""},
		// The sleep in the background keeps the pipe open: the whole
		// process group must be killed at the timeout.
		{"timeout_kills_the_group", []string{"/bin/sh", "-c", "sleep 30 & sleep 30"}, 300 * time.Millisecond, -1, "killed after 300ms", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := runHealthCommand(context.Background(), tc.argv, tc.timeout)
			if r.ExitCode != tc.exit || !strings.Contains(r.Err, tc.err) || (tc.err == "") != (r.Err == "") || r.Output != tc.output {
				t.Errorf("runHealthCommand = %+v; want exit %d, error %q, output %q", r, tc.exit, tc.err, tc.output)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %s: the process group was not killed", took)
			}
		})
	}
}
