//go:build vm

package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// defaultMaxVMs is how many guests may run at once: one per core of the 2-core machine.
const defaultMaxVMs = 2

// acquireSlot blocks until one of KU_VM_MAX slots is free and returns its release
// function. Slots are file locks under the cache directory, so the limit holds across
// parallel tests and across test processes, and a crashed process frees its slot.
// A first waiter (a scenario that holds its slot 8 minutes or more) takes the next free
// slot before the others, so that it does not start last and become the suite's
// tail while the other slot idles.
func acquireSlot(t *testing.T, first bool) func() {
	t.Helper()
	max := defaultMaxVMs
	if s := os.Getenv("KU_VM_MAX"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("KU_VM_MAX=%q: want a positive number", s)
		}
		max = n
	}
	dir := filepath.Join(cacheDir(), "slots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create VM slot directory: %v", err)
	}
	queue, err := joinQueue(filepath.Join(dir, "first.lock"), first)
	if err != nil {
		t.Fatalf("VM slot queue: %v", err)
	}
	defer queue.Close()
	start := time.Now()
	logged := false
	for {
		for i := 0; i < max && (first || !firstWaiting(queue)); i++ {
			release, err := tryLock(filepath.Join(dir, fmt.Sprintf("slot-%d.lock", i)))
			if err != nil {
				t.Fatalf("VM slot %d: %v", i, err)
			}
			if release != nil {
				if logged {
					t.Logf("got a VM slot after %v", time.Since(start).Round(time.Second))
				}
				return release
			}
		}
		if !logged {
			t.Logf("waiting for one of %d VM slots", max)
			logged = true
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// joinQueue opens the queue's lock file; a first waiter holds a shared lock
// on it while it waits, which firstWaiting sees from any process.
func joinQueue(path string, first bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if first {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
	}
	return f, nil
}

// firstWaiting reports whether a first waiter holds the queue: an exclusive
// lock on it cannot be taken then.
func firstWaiting(queue *os.File) bool {
	if err := syscall.Flock(int(queue.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	syscall.Flock(int(queue.Fd()), syscall.LOCK_UN)
	return false
}

// tryLock takes an exclusive flock on path without blocking. It returns nil, nil when
// another holder has it.
func tryLock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, nil
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// cacheDir is where build-image.sh keeps images: $KU_VM_CACHE or its default.
func cacheDir() string {
	if d := os.Getenv("KU_VM_CACHE"); d != "" {
		return d
	}
	return "/var/tmp/kexec-upgrade-vm"
}
