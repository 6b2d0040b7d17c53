package host

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// lockHelperEnv makes the test binary, run as a child, hold a POSIX write
// lock on the named file until its stdin closes: POSIX record locks belong
// to a process, so the holder apt or dpkg would be must be another process.
const lockHelperEnv = "KEXEC_UPGRADE_TEST_HOLD_LOCK"

func TestMain(m *testing.M) {
	if path := os.Getenv(lockHelperEnv); path != "" {
		os.Exit(holdLock(path))
	}
	os.Exit(m.Run())
}

// holdLock takes a write lock on path as apt does (fcntl F_SETLK), reports
// "locked" on stdout and waits for stdin to close.
func holdLock(path string) int {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// startHolder runs the test binary under the name comm to hold a lock on
// path, and returns its pid once the lock is taken. The holder exits when
// the test ends.
func startHolder(t *testing.T, path, comm string) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The kernel names a process after the file it executed: a link named
	// apt-get makes the child "apt-get" in /proc/<pid>/comm.
	link := filepath.Join(t.TempDir(), comm)
	if err := os.Symlink(exe, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link)
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("lock holder: %v", err)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("lock holder said %q, %v; want locked", line, err)
	}
	return cmd.Process.Pid
}

// lockRoot makes a root with dpkg's lock files, and with /proc linked to
// the real one when withProc is set.
func lockRoot(t *testing.T, withProc bool) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range PackageManagerLocks {
		if err := os.WriteFile(filepath.Join(root, p), nil, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if withProc {
		if err := os.Symlink("/proc", filepath.Join(root, "proc")); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestLockHolder(t *testing.T) {
	tests := []struct {
		name     string
		withProc bool
		held     map[string]string // lock path → holder's command name
		want     string            // %d is the pid of the first holder listed in order
		wantLock string
	}{
		{name: "free", withProc: true, want: ""},
		{name: "frontend_held_by_apt", withProc: true, held: map[string]string{"/var/lib/dpkg/lock-frontend": "apt-get"},
			want: "/var/lib/dpkg/lock-frontend is held by apt-get (pid %d)", wantLock: "/var/lib/dpkg/lock-frontend"},
		{name: "dpkg_lock_only", withProc: true, held: map[string]string{"/var/lib/dpkg/lock": "dpkg"},
			want: "/var/lib/dpkg/lock is held by dpkg (pid %d)", wantLock: "/var/lib/dpkg/lock"},
		{name: "both_held_frontend_named", withProc: true, held: map[string]string{"/var/lib/dpkg/lock-frontend": "apt", "/var/lib/dpkg/lock": "dpkg"},
			want: "/var/lib/dpkg/lock-frontend is held by apt (pid %d)", wantLock: "/var/lib/dpkg/lock-frontend"},
		{name: "holder_without_proc", withProc: false, held: map[string]string{"/var/lib/dpkg/lock": "unattended-upgr"},
			want: "/var/lib/dpkg/lock is held by pid %d", wantLock: "/var/lib/dpkg/lock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := lockRoot(t, tt.withProc)
			pids := make(map[string]int)
			for _, lock := range PackageManagerLocks {
				if comm, ok := tt.held[lock]; ok {
					pids[lock] = startHolder(t, filepath.Join(root, lock), comm)
				}
			}
			want := tt.want
			if tt.wantLock != "" {
				want = fmt.Sprintf(tt.want, pids[tt.wantLock])
			}
			got, err := LockHolder(root)
			if err != nil || got != want {
				t.Errorf("LockHolder(%s) = %q, %v; want %q", tt.name, got, err, want)
			}
		})
	}
}

func TestLockHolder_doesNotTakeTheLock(t *testing.T) {
	root := lockRoot(t, true)
	if _, err := LockHolder(root); err != nil {
		t.Fatal(err)
	}
	// Had the probe taken a lock, this process would still hold it and the
	// child could not lock the file.
	pid := startHolder(t, filepath.Join(root, "var/lib/dpkg/lock"), "dpkg")
	got, err := LockHolder(root)
	if want := fmt.Sprintf("/var/lib/dpkg/lock is held by dpkg (pid %d)", pid); err != nil || got != want {
		t.Errorf("LockHolder after a probe = %q, %v; want %q", got, err, want)
	}
}

func TestLockHolder_openFileDescriptionLock(t *testing.T) {
	// An OFD lock has no owning pid (F_OFD_GETLK reports -1); it conflicts
	// even with another description in this very process.
	root := lockRoot(t, true)
	f, err := os.OpenFile(filepath.Join(root, "var/lib/dpkg/lock-frontend"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	got, err := LockHolder(root)
	if want := "/var/lib/dpkg/lock-frontend is locked"; err != nil || got != want {
		t.Errorf("LockHolder(OFD lock) = %q, %v; want %q", got, err, want)
	}
}

func TestLockHolder_missingAndBrokenFiles(t *testing.T) {
	t.Run("no_lock_files", func(t *testing.T) {
		got, err := LockHolder(t.TempDir())
		if err != nil || got != "" {
			t.Errorf("LockHolder(no files) = %q, %v; want \"\", nil", got, err)
		}
	})
	t.Run("symlink_loop_is_an_error", func(t *testing.T) {
		root := lockRoot(t, false)
		p := filepath.Join(root, "var/lib/dpkg/lock-frontend")
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("lock-frontend", p); err != nil {
			t.Fatal(err)
		}
		_, err := LockHolder(root)
		if err == nil || !strings.HasPrefix(err.Error(), "probe /var/lib/dpkg/lock-frontend: ") || !errors.Is(err, unix.ELOOP) {
			t.Errorf("LockHolder(symlink loop) error = %v; want probe /var/lib/dpkg/lock-frontend: … ELOOP", err)
		}
	})
}
