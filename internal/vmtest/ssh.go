//go:build vm

package vmtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sshExitDropped is ssh's exit code when the connection failed or dropped (for example
// because the guest switched kernels under the session).
const sshExitDropped = 255

// sshArgs returns the ssh arguments that log in as root, ignoring every user or host
// configuration and host key (each image has its own host keys).
func (vm *VM) sshArgs() []string {
	return []string{
		"-F", "/dev/null",
		"-i", vm.img.key,
		"-p", strconv.Itoa(vm.sshPort),
		"-o", "IdentitiesOnly=yes",
		"-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null",
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR",
		"-o", "ConnectTimeout=20",
		"-o", "ServerAliveInterval=5",
		"-o", "ServerAliveCountMax=6",
		"root@127.0.0.1",
	}
}

// Try runs cmd in the guest as root through ssh (the guest's /bin/sh interprets it).
// err is non-nil only when ssh could not be run or the command exceeded its 10 minutes;
// code 255 means ssh failed to connect or the connection dropped.
func (vm *VM) Try(cmd string) (stdout, stderr string, code int, err error) {
	return vm.run(cmd, nil)
}

// Run runs cmd like Try and returns its stdout; a non-zero exit fails the test with the
// command's output.
func (vm *VM) Run(t *testing.T, cmd string) string {
	t.Helper()
	stdout, stderr, code, err := vm.Try(cmd)
	if err != nil || code != 0 {
		t.Fatalf("VM %s: %q: exit %d, %v\nstdout:\n%s\nstderr:\n%s\nlogs: %s", vm.name, cmd, code, err, stdout, stderr, vm.logDir)
	}
	return stdout
}

// CopyIn copies the host file local to the guest path remote (mode 0644), through ssh.
func (vm *VM) CopyIn(t *testing.T, local, remote string) {
	t.Helper()
	f, err := os.Open(local)
	if err != nil {
		t.Fatalf("VM %s: copy in: %v", vm.name, err)
	}
	defer f.Close()
	cmd := "cat >" + shellQuote(remote)
	stdout, stderr, code, err := vm.run(cmd, f)
	if err != nil || code != 0 {
		t.Fatalf("VM %s: copy %s to %s: exit %d, %v\nstdout:\n%s\nstderr:\n%s\nlogs: %s", vm.name, local, remote, code, err, stdout, stderr, vm.logDir)
	}
}

func (vm *VM) run(cmd string, stdin io.Reader) (string, string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, "ssh", append(vm.sshArgs(), cmd)...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr, c.Stdin = &stdout, &stderr, stdin
	// ssh keeps the connection open while a backgrounded guest process holds its output;
	// WaitDelay bounds how long Wait waits for those pipes after ssh itself exited.
	c.WaitDelay = 5 * time.Second
	start := time.Now()
	err := c.Run()
	elapsed := time.Since(start)
	code := 0
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		code = -1
		err = fmt.Errorf("ssh %q: timed out after %v", cmd, commandTimeout)
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
		err = nil
	default:
		code = -1
		err = fmt.Errorf("ssh %q: %w", cmd, err)
	}
	vm.logCommand(cmd, stdout.String(), stderr.String(), code, elapsed, err)
	return stdout.String(), stderr.String(), code, err
}

// logCommand appends one command and its result to commands.log.
func (vm *VM) logCommand(cmd, stdout, stderr string, code int, elapsed time.Duration, err error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%s $ %s\n", time.Now().Format("15:04:05.000"), cmd)
	if stdout != "" {
		fmt.Fprintf(&b, "%s\n", strings.TrimRight(stdout, "\n"))
	}
	if stderr != "" {
		fmt.Fprintf(&b, "[stderr] %s\n", strings.TrimRight(stderr, "\n"))
	}
	fmt.Fprintf(&b, "[exit %d after %v", code, elapsed.Round(time.Millisecond))
	if err != nil {
		fmt.Fprintf(&b, ", %v", err)
	}
	b.WriteString("]\n\n")
	// The log is a diagnostic; a failed write must not fail the command.
	_, _ = vm.cmdLog.WriteString(b.String())
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
