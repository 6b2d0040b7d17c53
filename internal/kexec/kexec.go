// Package kexec stages and unstages a kernel with kexec_file_load(2), or on
// an arm64 kernel without it (every Debian arm64 kernel: CONFIG_KEXEC_FILE
// is off) with kexec_load(2) and segments it lays out itself: the Image,
// the initrd, the running device tree with /chosen rewritten and a
// trampoline that enters the Image with the device tree in x0
// (BuildArm64, a pure decision; arm64load.go). Its effects are those
// syscalls, reading /sys/kernel/kexec_loaded, /proc/iomem,
// /sys/firmware/fdt and the lockdown mode, and, for an image
// kexec_file_load cannot take as it is (an arm64 Image.gz or EFI zboot), a
// sealed memory file holding the unpacked Image.
package kexec

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// Reasons for load failures that callers must tell apart.
var (
	// ErrNotPermitted: no CAP_SYS_BOOT, kexec_load_disabled, lockdown or a seccomp filter.
	ErrNotPermitted = errors.New("kexec not permitted")
	// ErrRejectedImage: the kernel does not accept this image (format or signature).
	ErrRejectedImage = errors.New("kernel image rejected")
	// ErrBusy: transient; another load is under way or the file is being written.
	ErrBusy = errors.New("kexec busy")
	// ErrUnsupported: this kernel or architecture has no kexec_file_load.
	ErrUnsupported = errors.New("kexec_file_load not supported")
)

// LoadError is a failed kexec_file_load with the errno and what it means.
type LoadError struct {
	Errno  syscall.Errno
	Kind   error  // one of the Err* sentinels above
	Reason string // one line for the journal
}

func (e *LoadError) Error() string { return e.Reason }

// Unwrap lets errors.Is match both the sentinel and the errno.
func (e *LoadError) Unwrap() []error { return []error{e.Kind, e.Errno} }

// Lasting reports whether retrying the same image cannot help.
func (e *LoadError) Lasting() bool {
	return errors.Is(e.Kind, ErrRejectedImage) || errors.Is(e.Kind, ErrUnsupported)
}

// ExplainErrno is ExplainErrnoFor on the architecture this program runs
// on (kernel.NativeArch).
func ExplainErrno(errno syscall.Errno, image string) *LoadError {
	return ExplainErrnoFor(kernel.NativeArch, errno, image)
}

// ExplainErrnoFor maps kexec_file_load's errnos on arch to a sentinel and a
// reason naming the image (see kexec_file_load(2), kernel/kexec_file.c and
// the architecture's image loader). Where the architectures differ: x86
// answers ENOEXEC to an image that is not a bzImage and EINVAL to a command
// line that leaves no room for the 30 bytes kexec keeps free; arm64
// (arch/arm64/kernel/kexec_image.c) answers EINVAL to anything but a raw
// Image (no "ARM\x64" magic, image_size 0, an endianness or page size this
// kernel cannot run), and ENOEXEC only when no loader is built in. Both
// are lasting: the same image will be refused again. ENOSYS means the
// running kernel lacks CONFIG_KEXEC_FILE, which Debian's arm64 kernels do.
func ExplainErrnoFor(arch kernel.Arch, errno syscall.Errno, image string) *LoadError {
	e := &LoadError{Errno: errno}
	switch {
	case arch == kernel.ArchARM64 && errno == syscall.EINVAL:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load: %s is not an arm64 Image this kernel can load (EINVAL: arm64 refuses an image without the \"ARM\\x64\" header, with image_size 0, or with an endianness or page size this kernel cannot run), or the arguments are malformed", image)
		return e
	case arch == kernel.ArchARM64 && errno == syscall.ENOEXEC:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load: no image loader of this arm64 kernel takes %s (ENOEXEC)", image)
		return e
	case arch == kernel.ArchARM64 && errno == syscall.ENOSYS:
		e.Kind, e.Reason = ErrUnsupported, fmt.Sprintf("kexec_file_load %s: this kernel is built without CONFIG_KEXEC_FILE (ENOSYS), as every Debian arm64 kernel (6.1, 6.12, 7.3) is: it cannot switch kernels with kexec_file_load", image)
		return e
	}
	switch errno {
	case syscall.EPERM:
		e.Kind, e.Reason = ErrNotPermitted, fmt.Sprintf("kexec_file_load %s: operation not permitted (EPERM): no CAP_SYS_BOOT, kernel.kexec_load_disabled=1, kernel lockdown, or a seccomp filter without @reboot", image)
	case syscall.ENOEXEC:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load: %s is not a kernel image this kernel can load (ENOEXEC: not a bzImage it takes)", image)
	case syscall.EKEYREJECTED:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load: the signature of %s was rejected under Secure Boot/lockdown (EKEYREJECTED): its digest does not match the image, or it does not verify with the key that made it", image)
	case syscall.ENOKEY:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load: the signature of %s was rejected under Secure Boot/lockdown (ENOKEY): no key the kernel trusts made it", image)
	case syscall.ELIBBAD, syscall.EBADMSG:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load: the signature of %s was rejected under Secure Boot/lockdown (%s): it is malformed", image, errnoName(errno))
	case syscall.ENODATA:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load: %s is not signed and the kernel requires a signature (ENODATA)", image)
	case syscall.EBUSY:
		e.Kind, e.Reason = ErrBusy, fmt.Sprintf("kexec_file_load %s: another kexec load is in progress (EBUSY)", image)
	case syscall.ETXTBSY:
		e.Kind, e.Reason = ErrBusy, fmt.Sprintf("kexec_file_load: %s is open for writing (ETXTBSY): the package manager is still writing it", image)
	case syscall.ENOSYS:
		e.Kind, e.Reason = ErrUnsupported, fmt.Sprintf("kexec_file_load %s: not supported by this kernel (ENOSYS: built without CONFIG_KEXEC_FILE)", image)
	case syscall.ENOMEM:
		e.Kind, e.Reason = ErrBusy, fmt.Sprintf("kexec_file_load: not enough memory to stage %s (ENOMEM)", image)
	case syscall.EINVAL:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load: the kernel rejected the arguments for %s (EINVAL): command line too long (x86 keeps 30 bytes of cmdline_size free) or image malformed", image)
	default:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load %s: %s (%s)", image, errno.Error(), errnoName(errno))
	}
	return e
}

func errnoName(e syscall.Errno) string {
	switch e {
	case syscall.ELIBBAD:
		return "ELIBBAD"
	case syscall.EBADMSG:
		return "EBADMSG"
	}
	return fmt.Sprintf("errno %d", int(e))
}

// Loader stages kernels with the real syscall. Root is the directory the
// host's files are under ("/" on a host).
type Loader struct {
	Root string
	// Arch is the architecture whose image formats and errnos apply;
	// kernel.NativeArch when empty.
	Arch kernel.Arch
	// SegmentLoad lets an arm64 kernel without kexec_file_load be staged
	// through kexec_load. Off by default: on an emulated trixie arm64
	// guest that path made the kernel oops in trans_pgd_create_copy
	// (machine_kexec_post_load), so until it is proven a Debian arm64
	// kernel is refused with the ENOSYS reason instead (fail safe).
	SegmentLoad bool
}

// SegmentLoadEnv is the environment variable that turns Loader.SegmentLoad
// on ("1"): an experimental opt-in for arm64 kernels without
// CONFIG_KEXEC_FILE, set in a drop-in of the service.
const SegmentLoadEnv = "KEXEC_UPGRADE_EXPERIMENTAL_KEXEC_LOAD"

func (l Loader) arch() kernel.Arch {
	if l.Arch == "" {
		return kernel.NativeArch
	}
	return l.Arch
}

// Load stages the kernel and initrd read from the given open files with
// cmdline: the kernel reads the very descriptors the caller checked, so
// what is loaded is what was checked, whatever happens to the paths. An
// image the kernel cannot take as it is (kernel.Format.Packed: an arm64
// Image.gz or EFI zboot) is read through its descriptor, checked and
// unpacked again, and the Image is staged from a sealed memory file.
//
// On arm64 with SegmentLoad, a kernel that answers kexec_file_load with
// ENOSYS (no CONFIG_KEXEC_FILE) gets the same descriptors through
// kexec_load instead: the kernel's own answer decides, so a kernel that
// has kexec_file_load (and can check signatures under lockdown) keeps it,
// and no configuration file has to be found and trusted. Under lockdown
// kexec_load is refused before it is tried.
func (l Loader) Load(image, initrd *os.File, cmdline string) error {
	err := l.fileLoad(image, initrd, cmdline)
	if l.SegmentLoad && l.arch() == kernel.ArchARM64 && errors.Is(err, syscall.ENOSYS) {
		return l.segmentLoad(image, initrd, cmdline)
	}
	return err
}

// fileLoad stages with kexec_file_load.
func (l Loader) fileLoad(image, initrd *os.File, cmdline string) error {
	staged, err := l.loadable(image)
	if err != nil {
		return err
	}
	if staged != image {
		defer staged.Close()
	}
	if err := fileLoad(int(staged.Fd()), int(initrd.Fd()), cmdline, 0); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return ExplainErrnoFor(l.arch(), errno, image.Name())
		}
		return fmt.Errorf("kexec_file_load %s: %w", image.Name(), err)
	}
	return nil
}

// loadable returns the file to hand to kexec_file_load: image itself, or a
// sealed memory file with the Image unpacked from it.
func (l Loader) loadable(image *os.File) (*os.File, error) {
	head := make([]byte, 64)
	n, err := image.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read kernel image %s: %w", image.Name(), err)
	}
	if f, _ := kernel.DetectFormat(head[:n]); !f.Packed() {
		return image, nil
	}
	st, err := image.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat kernel image %s: %w", image.Name(), err)
	}
	if st.Size() > kernel.MaxUnpackedSize {
		return nil, fmt.Errorf("kernel image %s is %d bytes, more than %d: %w", image.Name(), st.Size(), kernel.MaxUnpackedSize, kernel.ErrTooLarge)
	}
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(io.NewSectionReader(image, 0, st.Size()), data); err != nil {
		return nil, fmt.Errorf("read kernel image %s: %w", image.Name(), err)
	}
	im, unpacked, err := kernel.LoadableImage(l.arch(), data)
	if err != nil {
		return nil, fmt.Errorf("unpack kernel image %s: %w", image.Name(), err)
	}
	f, err := SealedMemfd(filepath.Base(image.Name())+" unpacked from "+string(im.Format), unpacked)
	if err != nil {
		return nil, fmt.Errorf("kernel image %s: %w", image.Name(), err)
	}
	return f, nil
}

// Permitted asks the kernel whether this process may use kexec_file_load
// at all, without reading an image: an unload with nothing staged passes
// the same capability, kexec_load_disabled and seccomp checks as a load.
// On arm64 without kexec_file_load the probe is kexec_load's unload,
// after the lockdown check Load makes. Call it only when nothing is
// staged (it would unload a staged kernel).
func (l Loader) Permitted() error {
	err := fileLoad(-1, -1, "", unloadFlag)
	if err == nil {
		return nil
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return fmt.Errorf("kexec_file_load permission probe: %w", err)
	}
	if l.arch() != kernel.ArchARM64 || errno != syscall.ENOSYS {
		return ExplainErrnoFor(l.arch(), errno, "(permission probe)")
	}
	if mode := lockdownMode(l.Root); mode != "none" {
		return errLockdown(mode)
	}
	if err := segLoad(0, nil); err != nil {
		if errors.As(err, &errno) {
			return ExplainSegmentErrno(errno, "(permission probe)")
		}
		return fmt.Errorf("kexec_load permission probe: %w", err)
	}
	return nil
}

// Unload removes a staged kernel, so a plain reboot is a plain reboot
// again: with kexec_file_load's unload, or kexec_load's where the kernel
// has only that (arm64).
func (l Loader) Unload() error {
	err := fileLoad(-1, -1, "", unloadFlag)
	if l.arch() == kernel.ArchARM64 && errors.Is(err, syscall.ENOSYS) {
		err = segLoad(0, nil)
		if err != nil {
			return fmt.Errorf("kexec_load unload: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("kexec_file_load unload: %w", err)
	}
	return nil
}

// Loaded reads /sys/kernel/kexec_loaded.
func (l Loader) Loaded() (bool, error) {
	data, err := os.ReadFile(filepath.Join(l.Root, "sys/kernel/kexec_loaded"))
	if err != nil {
		return false, fmt.Errorf("read /sys/kernel/kexec_loaded: %w", err)
	}
	return strings.TrimSpace(string(data)) == "1", nil
}
