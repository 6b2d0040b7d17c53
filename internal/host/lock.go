package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// PackageManagerLocks are the files dpkg and apt lock while they work.
var PackageManagerLocks = []string{"/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"}

// LockHolder probes the package manager's locks without taking them (an
// F_OFD_GETLK query on a read-only descriptor) and describes the first one
// held, e.g. "/var/lib/dpkg/lock-frontend is held by apt-get (pid 4242)".
// It returns "" when every lock is free or absent.
func LockHolder(root string) (string, error) {
	for _, path := range PackageManagerLocks {
		holder, err := probeLock(root, path)
		if err != nil {
			return "", err
		}
		if holder != "" {
			return holder, nil
		}
	}
	return "", nil
}

func probeLock(root, path string) (string, error) {
	f, err := os.Open(filepath.Join(root, path))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("probe %s: %w", path, err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return "", fmt.Errorf("probe %s: %w", path, err)
	}
	if lk.Type == unix.F_UNLCK {
		return "", nil
	}
	if lk.Pid <= 0 {
		return fmt.Sprintf("%s is locked", path), nil
	}
	comm, err := os.ReadFile(filepath.Join(root, fmt.Sprintf("proc/%d/comm", lk.Pid)))
	if err != nil {
		return fmt.Sprintf("%s is held by pid %d", path, lk.Pid), nil
	}
	return fmt.Sprintf("%s is held by %s (pid %d)", path, strings.TrimSpace(string(comm)), lk.Pid), nil
}
