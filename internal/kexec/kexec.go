// Package kexec stages and unstages a kernel with kexec_file_load(2); its
// effects are those syscalls and reading /sys/kernel/kexec_loaded.
package kexec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// ExplainErrno maps kexec_file_load's errnos to a sentinel and a reason
// naming the image (see kexec_file_load(2) and kernel/kexec_file.c).
func ExplainErrno(errno syscall.Errno, image string) *LoadError {
	e := &LoadError{Errno: errno}
	switch errno {
	case syscall.EPERM:
		e.Kind, e.Reason = ErrNotPermitted, fmt.Sprintf("kexec_file_load %s: operation not permitted (EPERM): no CAP_SYS_BOOT, kernel.kexec_load_disabled=1, kernel lockdown, or a seccomp filter without @reboot", image)
	case syscall.ENOEXEC:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load: %s is not a kernel image this kernel can load (ENOEXEC)", image)
	case syscall.EKEYREJECTED:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load: the signature of %s was rejected (EKEYREJECTED): Secure Boot/lockdown does not trust it", image)
	case syscall.ENOKEY:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load: no trusted key for the signature of %s (ENOKEY)", image)
	case syscall.ELIBBAD, syscall.EBADMSG:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load: the signature of %s is malformed (%s)", image, errnoName(errno))
	case syscall.ENODATA:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load: %s is not signed and the kernel requires a signature (ENODATA)", image)
	case syscall.EBUSY:
		e.Kind, e.Reason = ErrBusy, fmt.Sprintf("kexec_file_load %s: another kexec load is in progress (EBUSY)", image)
	case syscall.ETXTBSY:
		e.Kind, e.Reason = ErrBusy, fmt.Sprintf("kexec_file_load: %s is open for writing (ETXTBSY): the package manager is still writing it", image)
	case syscall.ENOSYS:
		e.Kind, e.Reason = ErrUnsupported, fmt.Sprintf("kexec_file_load %s: not supported by this kernel (ENOSYS)", image)
	case syscall.ENOMEM:
		e.Kind, e.Reason = ErrBusy, fmt.Sprintf("kexec_file_load: not enough memory to stage %s (ENOMEM)", image)
	case syscall.EINVAL:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_file_load: the kernel rejected the arguments for %s (EINVAL): command line too long or image malformed", image)
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
}

// Load stages the kernel and initrd read from the given open files with
// cmdline: the kernel reads the very descriptors the caller checked, so
// what is loaded is what was checked, whatever happens to the paths.
func (l Loader) Load(kernel, initrd *os.File, cmdline string) error {
	if err := fileLoad(int(kernel.Fd()), int(initrd.Fd()), cmdline, 0); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return ExplainErrno(errno, kernel.Name())
		}
		return fmt.Errorf("kexec_file_load %s: %w", kernel.Name(), err)
	}
	return nil
}

// Permitted asks the kernel whether this process may use kexec_file_load
// at all, without reading an image: an unload with nothing staged passes
// the same capability, kexec_load_disabled and seccomp checks as a load.
// Call it only when nothing is staged (it would unload a staged kernel).
func (l Loader) Permitted() error {
	if err := fileLoad(-1, -1, "", unloadFlag); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return ExplainErrno(errno, "(permission probe)")
		}
		return fmt.Errorf("kexec_file_load permission probe: %w", err)
	}
	return nil
}

// Unload removes a staged kernel, so a plain reboot is a plain reboot again.
func (l Loader) Unload() error {
	if err := fileLoad(-1, -1, "", unloadFlag); err != nil {
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
