package metrics

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrUnsafeDir is wrapped by the errors of CheckDir and WriteTextfile when
// the textfile directory is one that kexec-upgrade refuses to write in: a
// symbolic link, or a directory (or parent) that users other than the owner
// could change.
var ErrUnsafeDir = errors.New("unsafe textfile directory")

// dirOpenFlags open the textfile directory itself: the last component must
// not be a symbolic link (ELOOP), and the result must be a directory.
const dirOpenFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// tempOpenFlags create the temporary file in the directory: a new file, never
// an existing one, never through a symbolic link.
const tempOpenFlags = unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC

// tempPrefix starts the temporary file's name. The name does not end in
// .prom, so node_exporter never reads a half-written file.
const tempPrefix = ".kexec_upgrade.prom.tmp-"

// owner is who owns a directory and its permission bits, as fstat reports
// them.
type owner struct {
	uid  uint32
	mode uint32
}

// judgeDirs is the pure rule for a textfile directory and its parent, for a
// writer running as euid (root in the service).
//
// The directory must belong to the writer and be writable by it alone: then
// nobody else can put a file, a symbolic link or a hard link in it, and the
// writes below, which go through the directory's descriptor, land in it and
// nowhere else. Its parent must not be writable by group or others, so that
// no other user than its owner can rename a different directory into its
// place. The parent's owner may be another user: Debian's
// prometheus-node-exporter gives /var/lib/prometheus to the prometheus user
// and ships node-exporter/ inside it as root's. That user can only swap in a
// directory of its own (refused by the first rule) or a symbolic link
// (refused by O_NOFOLLOW), and a directory of root's that it moves within
// /var/lib/prometheus is still one only root writes in.
func judgeDirs(dir, parent owner, euid uint32) error {
	switch {
	case dir.uid != euid:
		return fmt.Errorf("%w: owned by uid %d, not by uid %d", ErrUnsafeDir, dir.uid, euid)
	case dir.mode&0o022 != 0:
		return fmt.Errorf("%w: mode %04o is writable by group or others", ErrUnsafeDir, dir.mode&0o7777)
	case parent.mode&0o022 != 0:
		return fmt.Errorf("%w: its parent directory's mode %04o is writable by group or others", ErrUnsafeDir, parent.mode&0o7777)
	}
	return nil
}

// openDir opens dir without following a symbolic link in its last component,
// checks it and its parent with judgeDirs, and returns its descriptor. A
// missing directory is an error wrapping fs.ErrNotExist; it is never created.
func openDir(dir string) (int, error) {
	fd, err := unix.Open(dir, dirOpenFlags, 0)
	if err != nil {
		// O_DIRECTORY|O_NOFOLLOW answers ENOTDIR (or ELOOP) for a symbolic
		// link; lstat only tells which it was, the open already refused it.
		if errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			if fi, lerr := os.Lstat(dir); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
				return -1, fmt.Errorf("%w: it is a symbolic link", ErrUnsafeDir)
			}
		}
		return -1, fmt.Errorf("open: %w", err)
	}
	var d, p unix.Stat_t
	if err := unix.Fstat(fd, &d); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("fstat: %w", err)
	}
	// The parent of the directory that was opened, not of the path: the
	// directory may have been moved since.
	if err := unix.Fstatat(fd, "..", &p, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("fstat parent: %w", err)
	}
	if err := judgeDirs(owner{d.Uid, d.Mode}, owner{p.Uid, p.Mode}, uint32(os.Geteuid())); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// CheckDir tells whether WriteTextfile would write in dir, without writing:
// nil, an error wrapping fs.ErrNotExist when dir does not exist, one wrapping
// ErrUnsafeDir when it is refused (see WriteTextfile), or another error. An
// empty dir means DefaultDir.
func CheckDir(dir string) error {
	dir = cleanDir(dir)
	fd, err := openDir(dir)
	if err != nil {
		return fmt.Errorf("metrics directory %s: %w", dir, err)
	}
	unix.Close(fd)
	return nil
}

// WriteTextfile renders s and atomically replaces dir/FileName with it, and
// returns that path. An empty dir means DefaultDir.
//
// The directory is never created and its mode is never changed: a missing
// one is an error wrapping fs.ErrNotExist (no node_exporter, nothing to
// write). It is opened with O_DIRECTORY|O_NOFOLLOW, and refused with an error
// wrapping ErrUnsafeDir when it is a symbolic link, is not owned by the
// caller (root, in the service), is writable by group or others, or its
// parent is writable by group or others.
//
// Every file operation then goes through the directory's descriptor: a
// temporary file whose name does not end in .prom (so node_exporter never
// reads it) is created with O_CREAT|O_EXCL|O_NOFOLLOW, made mode 0644 whatever
// the umask, written and fsynced, renamed over FileName with renameat (which
// replaces a symbolic link there rather than following it), and the directory
// is fsynced. A reader sees the old file or the new one, never a partial
// one. On failure the temporary file is removed.
func WriteTextfile(dir string, s Snapshot) (path string, err error) {
	dir = cleanDir(dir)
	path = filepath.Join(dir, FileName)
	var buf bytes.Buffer
	if err := Render(&buf, s); err != nil {
		return "", fmt.Errorf("write metrics %s: %w", path, err)
	}
	dirfd, err := openDir(dir)
	if err != nil {
		return "", fmt.Errorf("write metrics %s: directory %s: %w", path, dir, err)
	}
	defer unix.Close(dirfd)
	if err := replaceAt(dirfd, buf.Bytes()); err != nil {
		return "", fmt.Errorf("write metrics %s: %w", path, err)
	}
	return path, nil
}

// replaceAt writes data to FileName in the directory dirfd through a
// temporary file, as WriteTextfile describes.
func replaceAt(dirfd int, data []byte) error {
	tmp, fd, err := createTemp(dirfd)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), tmp)
	closed, renamed := false, false
	defer func() {
		if !closed {
			f.Close()
		}
		if !renamed {
			unix.Unlinkat(dirfd, tmp, 0)
		}
	}()
	// The service's UMask=0077 would leave the file 0600; node_exporter
	// runs as prometheus and must read it.
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	closed = true
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := unix.Renameat(dirfd, tmp, dirfd, FileName); err != nil {
		return fmt.Errorf("rename %s to %s: %w", tmp, FileName, err)
	}
	renamed = true
	if err := unix.Fsync(dirfd); err != nil {
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}

// createTemp creates a new temporary file in dirfd and returns its name and
// descriptor; a name that exists already (EEXIST) is never reused.
func createTemp(dirfd int) (string, int, error) {
	var lastErr error
	for range 10 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", -1, fmt.Errorf("temporary file name: %w", err)
		}
		name := tempPrefix + hex.EncodeToString(b[:])
		fd, err := unix.Openat(dirfd, name, tempOpenFlags, 0o644)
		if err == nil {
			return name, fd, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return "", -1, fmt.Errorf("create %s: %w", name, err)
		}
		lastErr = err
	}
	return "", -1, fmt.Errorf("create a temporary file: %w", lastErr)
}

// cleanDir is dir without a trailing slash, which would make open follow a
// symbolic link in the last component; "" is DefaultDir.
func cleanDir(dir string) string {
	if dir == "" {
		return DefaultDir
	}
	return filepath.Clean(dir)
}
