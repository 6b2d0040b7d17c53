package upgrade

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
)

// Size caps: far above any Debian image (bzImages are about 8 MB, arm64
// signed Images 30-42 MB, initrds tens of MB), far below what would hurt
// to read into memory.
const (
	maxImageSize  = 256 << 20
	maxInitrdSize = 2 << 30
)

// Errors of the boot files that the switch step tells apart.
var (
	// errBootFileChanged: a file changed between its check and its use
	// (dpkg is replacing it); the next run checks the new one.
	errBootFileChanged = errors.New("changed while kexec-upgrade was using it")
	// errBootFileKind: not a regular file, or absurdly large.
	errBootFileKind = errors.New("not a usable file")
	// errImageInvalid: the image fails its format or integrity checks.
	errImageInvalid = errors.New("invalid kernel image")
)

// invalidImageError marks a check failure of the image's bytes.
type invalidImageError struct{ error }

func (e invalidImageError) Is(target error) bool { return target == errImageInvalid }
func (e invalidImageError) Unwrap() error        { return e.error }

// fileID is what fstat says about one open file, to notice a change.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime unix.Timespec
}

func idOf(st *unix.Stat_t) fileID {
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim}
}

// bootFiles are the target's kernel image and initrd, opened once: every
// check reads these descriptors, and the same descriptors are loaded, so
// what is loaded is exactly what was checked.
type bootFiles struct {
	image, initrd     *os.File
	imageID, initrdID fileID
	// paths are the host paths, for messages and for the lstat that tells
	// whether dpkg replaced a file meanwhile.
	imagePath, initrdPath string
	root                  string
	// parsed is what the image says about itself; initrdFormat names the
	// initrd's format.
	parsed       kernel.Image
	initrdFormat string
}

// openBootFiles opens the target's image and initrd (O_NOFOLLOW, so a link
// planted in /boot is refused), checks that both are regular files of a
// sane size, reads the whole image through its descriptor and checks it, and
// checks that the initrd is in a format Linux can unpack. The release and
// build inside the image must be the ones planned.
func openBootFiles(root string, t plan.Target) (*bootFiles, error) {
	b := &bootFiles{root: root, imagePath: t.Files.Image, initrdPath: t.Files.Initrd}
	var err error
	if b.image, b.imageID, err = openRegular(root, t.Files.Image, "kernel image", maxImageSize); err != nil {
		return nil, err
	}
	if b.initrd, b.initrdID, err = openRegular(root, t.Files.Initrd, "initrd", maxInitrdSize); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.checkImage(t); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.checkInitrd(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// Close closes both files.
func (b *bootFiles) Close() {
	if b.image != nil {
		b.image.Close()
	}
	if b.initrd != nil {
		b.initrd.Close()
	}
}

func openRegular(root, path, what string, maxSize int64) (*os.File, fileID, error) {
	full := filepath.Join(root, path)
	fd, err := unix.Open(full, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fileID{}, fmt.Errorf("%s %s is a symbolic link: %w", what, path, errBootFileKind)
	}
	if err != nil {
		return nil, fileID{}, fmt.Errorf("open %s %s: %w", what, path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, fileID{}, fmt.Errorf("fstat %s %s: %w", what, path, err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		err = fmt.Errorf("%s %s is not a regular file (mode %#o): %w", what, path, st.Mode, errBootFileKind)
	case st.Size > maxSize:
		err = fmt.Errorf("%s %s is %d bytes, more than the %d this tool accepts: %w", what, path, st.Size, maxSize, errBootFileKind)
	}
	if err != nil {
		f.Close()
		return nil, fileID{}, err
	}
	return f, idOf(&st), nil
}

// checkImage reads the image through its descriptor and checks it.
func (b *bootFiles) checkImage(t plan.Target) error {
	data := make([]byte, b.imageID.size)
	if _, err := io.ReadFull(io.NewSectionReader(b.image, 0, b.imageID.size), data); err != nil {
		return fmt.Errorf("read kernel image %s: %w (%w)", b.imagePath, err, errBootFileChanged)
	}
	img, err := verifiedImage(data, t.Candidate)
	if err != nil {
		return invalidImageError{fmt.Errorf("kernel image %s fails its check: %w", b.imagePath, err)}
	}
	if img.Release != t.Release || img.Build != t.Build {
		return fmt.Errorf("kernel image %s is now %s %s, not the %s %s that was planned: %w", b.imagePath, img.Release, img.Build, t.Release, t.Build, errBootFileChanged)
	}
	b.parsed = img
	return nil
}

// checkInitrd reads the initrd's first bytes through its descriptor.
func (b *bootFiles) checkInitrd() error {
	format, err := initrdFormat(b.initrd, b.initrdPath, b.initrdID.size)
	b.initrdFormat = format
	return err
}

// initrdFormat names the format of an open initrd of size bytes.
func initrdFormat(f *os.File, path string, size int64) (string, error) {
	head := make([]byte, kernel.InitrdHeadSize)
	n, err := f.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read initrd %s: %w", path, err)
	}
	format, err := kernel.CheckInitrd(head[:n], size)
	if err != nil {
		return "", fmt.Errorf("initrd %s: %w", path, err)
	}
	return format, nil
}

// inspectInitrd checks the initrd at path the way the switch will (a
// regular file, not a link, of a format Linux can unpack), for the plan.
func inspectInitrd(root, path string) (string, error) {
	f, id, err := openRegular(root, path, "initrd", maxInitrdSize)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return initrdFormat(f, path, id.size)
}

// changed reports, after the load, whether either file changed since it
// was opened: written in place (fstat of the descriptor) or replaced at
// its path (lstat of the path). Either way the next run checks again.
func (b *bootFiles) changed() error {
	for _, f := range []struct {
		file *os.File
		id   fileID
		path string
	}{{b.image, b.imageID, b.imagePath}, {b.initrd, b.initrdID, b.initrdPath}} {
		var st unix.Stat_t
		if err := unix.Fstat(int(f.file.Fd()), &st); err != nil {
			return fmt.Errorf("fstat %s: %w", f.path, err)
		}
		if idOf(&st) != f.id {
			return fmt.Errorf("%s was written to while it was loaded: %w", f.path, errBootFileChanged)
		}
		if err := unix.Lstat(filepath.Join(b.root, f.path), &st); err != nil || idOf(&st) != f.id {
			return fmt.Errorf("%s was replaced while it was loaded: %w", f.path, errBootFileChanged)
		}
	}
	return nil
}
