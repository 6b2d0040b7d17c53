package upgrade

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// LockPath is the run lock, relative to the root directory.
const LockPath = "run/kexec-upgrade.lock"

// ErrBusy is returned when another run holds the lock.
var ErrBusy = errors.New("another kexec-upgrade run is in progress")

// lock takes /run/kexec-upgrade.lock (flock, released when the process dies).
func lock(root string) (func(), error) {
	path := filepath.Join(root, LockPath)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("run lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
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
