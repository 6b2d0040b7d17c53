package upgrade

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLock(t *testing.T) {
	t.Run("creates_a_missing_file_0600", func(t *testing.T) {
		root := t.TempDir()
		unlock, err := lock(root)
		if err != nil {
			t.Fatalf("lock: %v", err)
		}
		defer unlock()
		fi, err := os.Lstat(filepath.Join(root, LockPath))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			t.Errorf("lock file = %v, %v; want a regular file, mode 0600", fi.Mode(), err)
		}
	})
	t.Run("uses_the_file_tmpfiles_made", func(t *testing.T) {
		root := t.TempDir()
		path := filepath.Join(root, LockPath)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		unlock, err := lock(root)
		if err != nil {
			t.Fatalf("lock: %v", err)
		}
		unlock()
	})
	t.Run("second_holder_is_busy", func(t *testing.T) {
		root := t.TempDir()
		unlock, err := lock(root)
		if err != nil {
			t.Fatalf("lock: %v", err)
		}
		defer unlock()
		if _, err := lock(root); !errors.Is(err, ErrBusy) {
			t.Errorf("second lock = %v; want ErrBusy", err)
		}
	})
	t.Run("never_through_a_symbolic_link", func(t *testing.T) {
		root := t.TempDir()
		path := filepath.Join(root, LockPath)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(root, "etc", "shadow")
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
		if _, err := lock(root); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("lock through a symbolic link = %v; want it refused", err)
		}
		if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the link's target was created (lstat: %v)", err)
		}
	})
}

func TestLockWaiting(t *testing.T) {
	t.Run("takes_the_lock_once_the_run_ends", func(t *testing.T) {
		root := t.TempDir()
		unlockRun, err := lock(root)
		if err != nil {
			t.Fatalf("lock: %v", err)
		}
		waited := make(chan struct{})
		got := make(chan error, 1)
		go func() {
			unlock, err := lockWaiting(root, time.Hour, func() { close(waited) })
			if err == nil {
				unlock()
			}
			got <- err
		}()
		<-waited // the admin's command found the run's lock held
		unlockRun()
		if err := <-got; err != nil {
			t.Errorf("lockWaiting after the run ended = %v; want the lock", err)
		}
	})
	t.Run("gives_up_after_the_bound", func(t *testing.T) {
		root := t.TempDir()
		unlockRun, err := lock(root)
		if err != nil {
			t.Fatalf("lock: %v", err)
		}
		defer unlockRun()
		calls := 0
		_, err = lockWaiting(root, 0, func() { calls++ })
		if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "systemctl status kexec-upgrade.service") {
			t.Errorf("lockWaiting while held = %v; want ErrBusy naming where to look", err)
		}
		if calls != 0 {
			t.Errorf("waiting called %d times with no time to wait; want 0", calls)
		}
	})
	t.Run("idle_lock_at_once", func(t *testing.T) {
		unlock, err := lockWaiting(t.TempDir(), 0, func() { t.Error("waited for an idle lock") })
		if err != nil {
			t.Fatalf("lockWaiting = %v", err)
		}
		unlock()
	})
}
