package upgrade

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// LockPath is the run lock, relative to the root directory.
const LockPath = "run/kexec-upgrade.lock"

// lockOpenFlags open the run lock: created when missing (a run from a shell
// before systemd-tmpfiles made it), never through a symbolic link, not
// inherited by anything the run starts.
const lockOpenFlags = os.O_RDWR | os.O_CREATE | unix.O_NOFOLLOW | unix.O_CLOEXEC

// ErrBusy is returned when another run holds the lock.
var ErrBusy = errors.New("another kexec-upgrade run is in progress")

// lock takes /run/kexec-upgrade.lock (flock, released when the process dies).
// The service cannot create the file (its /run is read-only):
// systemd-tmpfiles does, from /usr/lib/tmpfiles.d/kexec-upgrade.conf.
func lock(root string) (func(), error) {
	path := filepath.Join(root, LockPath)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("run lock: %w", err)
	}
	f, err := os.OpenFile(path, lockOpenFlags, 0o600)
	switch {
	case errors.Is(err, unix.EROFS):
		return nil, fmt.Errorf("run lock: %w (systemd-tmpfiles --create kexec-upgrade.conf makes it)", err)
	case errors.Is(err, unix.ELOOP):
		return nil, fmt.Errorf("run lock: refusing a symbolic link: %w", err)
	case err != nil:
		return nil, fmt.Errorf("run lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrBusy
		}
		return nil, fmt.Errorf("run lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// adminLockWait bounds how long an admin's command (pause, resume) waits for
// a run in progress to release the lock: a run takes seconds, or a few
// minutes when a hook or the FleetLock server is slow, and a script that
// pauses a host must not fail because a timer's run happened to be going.
var adminLockWait = 3 * time.Minute

// adminLockPoll is how often the admin's command tries the lock again.
var adminLockPoll = 200 * time.Millisecond

// lockWaiting takes the run lock like lock, waiting up to wait for a run in
// progress to release it; waiting is called once, when it first has to wait.
func lockWaiting(root string, wait time.Duration, waiting func()) (func(), error) {
	deadline := time.Now().Add(wait)
	for first := true; ; first = false {
		unlock, err := lock(root)
		if !errors.Is(err, ErrBusy) {
			return unlock, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w (waited %v for it to end; see systemctl status kexec-upgrade.service)", err, wait)
		}
		if first && waiting != nil {
			waiting()
		}
		time.Sleep(adminLockPoll)
	}
}
