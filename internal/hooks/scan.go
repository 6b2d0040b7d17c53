// Package hooks finds and runs the admin's hook programs in
// /etc/kexec-upgrade/hooks/pre-switch.d and post-switch.d. Scan only reads
// the directories; Run executes the hooks.
//
// Names follow run-parts(8): a hook is a file whose name consists of ASCII
// letters, digits, underscores and hyphens only (so "drain.sh" and
// "x.dpkg-old" are not hooks), run in the C locale's name order. Unlike
// run-parts, a hook that kexec-upgrade must not run is an error, never
// skipped: a file that is not executable, not a regular file, not owned by
// root, or writable by group or others, and a directory that is not owned by
// root or is writable by others.
package hooks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
)

// The hook directories, relative to the root directory.
const (
	PreSwitchDir  = "etc/kexec-upgrade/hooks/pre-switch.d"
	PostSwitchDir = "etc/kexec-upgrade/hooks/post-switch.d"
)

// ErrUnsafe is wrapped by every reason a hook must not run.
var ErrUnsafe = errors.New("hook refused")

// validName is run-parts' default name rule.
var validName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Hook is one program to run.
type Hook struct {
	// Name is the file name; Path the absolute host path.
	Name, Path string
}

// Scan is what one hook directory holds.
type Scan struct {
	Dir   string // absolute host path
	Hooks []Hook
	// Ignored are names run-parts would not run either ("drain.sh"), so an
	// admin can be told why a file did not run.
	Ignored []string
	// Problems are hooks (or the directory) that must not run; any problem
	// stops a switch.
	Problems []error
}

// ScanDir lists the hooks in dir (relative to root). A missing directory
// has no hooks. owner is the uid that must own hooks and the directory
// (0 on a host).
func ScanDir(root, dir string, owner int) (Scan, error) {
	s := Scan{Dir: "/" + dir}
	full := filepath.Join(root, dir)
	fi, err := os.Lstat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("hooks: %w", err)
	}
	if p := unsafeReason(fi, owner, true); p != "" {
		s.Problems = append(s.Problems, fmt.Errorf("%w: directory %s %s", ErrUnsafe, s.Dir, p))
		return s, nil
	}
	entries, err := os.ReadDir(full)
	if err != nil {
		return s, fmt.Errorf("hooks: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names) // byte order, as run-parts in the C locale
	for _, name := range names {
		path := filepath.Join(s.Dir, name)
		if !validName.MatchString(name) {
			s.Ignored = append(s.Ignored, name)
			continue
		}
		// A link is followed (run-parts does), and the file it reaches
		// must pass the same rules.
		fi, err := os.Stat(filepath.Join(root, path))
		if err != nil {
			s.Problems = append(s.Problems, fmt.Errorf("%w: %s: %v", ErrUnsafe, path, err))
			continue
		}
		if p := unsafeReason(fi, owner, false); p != "" {
			s.Problems = append(s.Problems, fmt.Errorf("%w: %s %s", ErrUnsafe, path, p))
			continue
		}
		s.Hooks = append(s.Hooks, Hook{Name: name, Path: path})
	}
	return s, nil
}

// unsafeReason says why a file (or the directory) must not be trusted, ""
// when it may.
func unsafeReason(fi fs.FileInfo, owner int, dir bool) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case dir && !fi.IsDir():
		return "is not a directory"
	case !dir && !fi.Mode().IsRegular():
		return fmt.Sprintf("is not a regular file (%s)", fi.Mode().Type())
	case !ok:
		return "has no owner information"
	case int(st.Uid) != owner:
		return fmt.Sprintf("is owned by uid %d, not %d (root): only root's hooks run", st.Uid, owner)
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Sprintf("is writable by group or others (mode %04o): chmod go-w", fi.Mode().Perm())
	case !dir && fi.Mode().Perm()&0o100 == 0:
		return fmt.Sprintf("is not executable (mode %04o): chmod +x it, or remove it", fi.Mode().Perm())
	}
	return ""
}
