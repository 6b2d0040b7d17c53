package upgrade

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
