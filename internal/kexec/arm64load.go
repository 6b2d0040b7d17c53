package kexec

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// Segment is one kexec_load segment: Data copied to Mem.Start, the rest
// of Mem (page aligned) cleared.
type Segment struct {
	Data []byte
	Mem  Range
}

// Arm64Boot is what kexec_load is given for an arm64 kernel: the
// segments in ascending address order, the entry point (the trampoline),
// and the layout they follow.
type Arm64Boot struct {
	Segments []Segment
	Entry    uint64
	Layout   Arm64Layout
}

// BuildArm64 decides the kexec_load segments of an arm64 boot, without
// effects: the Image (whose header is h), the initrd, the running
// kernel's device tree fdtBlob with /chosen rewritten (SetChosen, with
// cmdline and the initrd's place), and the trampoline that enters the
// Image with x0 pointing at that device tree. ram is where the parts may
// go (ParseIomem), or nil for the device tree's memory nodes (FDT.Memory);
// the device tree's own reserved memory is kept out of it either way.
// seed fills fresh kaslr-seed and rng-seed values.
func BuildArm64(ram []Range, fdtBlob []byte, image []byte, h kernel.Arm64Header, initrd []byte, cmdline string, seed func([]byte) error) (Arm64Boot, error) {
	f, err := ParseFDT(fdtBlob)
	if err != nil {
		return Arm64Boot{}, err
	}
	reserved, err := f.ReservedMemory()
	if err != nil {
		return Arm64Boot{}, err
	}
	if ram == nil {
		if ram, err = f.Memory(); err != nil {
			return Arm64Boot{}, fmt.Errorf("memory for the new kernel: /proc/iomem hides its addresses from this process (no CAP_SYS_ADMIN) and %w", err)
		}
	}
	ram = Subtract(ram, reserved)
	// The device tree's size does not depend on where the initrd lands
	// (64-bit cells either way): size it with a stand-in first.
	if err := f.SetChosen(Chosen{Bootargs: cmdline, Initrd: Range{0, uint64(len(initrd))}, Seed: seed}); err != nil {
		return Arm64Boot{}, err
	}
	dtbLen := len(f.Bytes())
	l, err := PlanArm64(ram, h, len(initrd), dtbLen)
	if err != nil {
		return Arm64Boot{}, err
	}
	if uint64(len(image)) > l.Kernel.Size() {
		return Arm64Boot{}, fmt.Errorf("%w: %d bytes, more than the %d bytes image_size gives it", kernel.ErrTrailingData, len(image), l.Kernel.Size())
	}
	if err := f.SetChosen(Chosen{Bootargs: cmdline, Initrd: l.Initrd, Seed: seed}); err != nil {
		return Arm64Boot{}, err
	}
	dtb := f.Bytes()
	if len(dtb) != dtbLen {
		return Arm64Boot{}, fmt.Errorf("device tree changed size from %d to %d bytes once the initrd was placed", dtbLen, len(dtb))
	}
	b := Arm64Boot{Entry: l.Entry, Layout: l}
	b.Segments = append(b.Segments, Segment{Data: image, Mem: l.Kernel})
	if len(initrd) > 0 {
		b.Segments = append(b.Segments, Segment{Data: initrd, Mem: pageRange(l.Initrd)})
	}
	b.Segments = append(b.Segments,
		Segment{Data: dtb, Mem: pageRange(l.DTB)},
		Segment{Data: Trampoline(l.DTB.Start, l.Kernel.Start), Mem: pageRange(l.Trampoline)})
	return b, nil
}

func pageRange(r Range) Range { return Range{r.Start, alignUp(r.End, pageSize)} }

// lockdownMode returns the active mode of /sys/kernel/security/lockdown
// under root ("none" when the file is missing: no lockdown LSM).
func lockdownMode(root string) string {
	data, err := os.ReadFile(filepath.Join(root, "sys/kernel/security/lockdown"))
	if err != nil {
		return "none"
	}
	s := string(data)
	if i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']'); i >= 0 && j > i {
		return s[i+1 : j]
	}
	return "none"
}

// errLockdown is the refusal of kexec_load under lockdown, before trying.
func errLockdown(mode string) *LoadError {
	return &LoadError{Errno: 0, Kind: ErrNotPermitted, Reason: fmt.Sprintf("kernel lockdown (%s) refuses kexec_load, the only way to switch kernels on this arm64 kernel (built without CONFIG_KEXEC_FILE, as Debian's are): not loading", mode)}
}

// segmentLoad stages an arm64 kernel with kexec_load(2): the path for a
// kernel without kexec_file_load. The Image, initrd, device tree
// (/sys/firmware/fdt) and memory map (/proc/iomem, or the device tree's
// memory nodes when it hides its addresses) are read under l.Root.
func (l Loader) segmentLoad(image, initrd *os.File, cmdline string) error {
	if mode := lockdownMode(l.Root); mode != "none" {
		return errLockdown(mode)
	}
	data, err := readAll(image, kernel.MaxUnpackedSize)
	if err != nil {
		return err
	}
	im, raw, err := kernel.LoadableImage(kernel.ArchARM64, data)
	if err != nil {
		return fmt.Errorf("kernel image %s: %w", image.Name(), err)
	}
	rd, err := readAll(initrd, 1<<30)
	if err != nil {
		return err
	}
	iomem, err := os.ReadFile(filepath.Join(l.Root, "proc/iomem"))
	if err != nil {
		return fmt.Errorf("read /proc/iomem: %w", err)
	}
	// Without CAP_SYS_ADMIN (the service has CAP_SYS_BOOT alone)
	// /proc/iomem shows no addresses: the device tree's memory nodes
	// describe the RAM then (BuildArm64 with nil).
	ram, err := ParseIomem(string(iomem))
	if err != nil && !errors.Is(err, ErrIomemHidden) {
		return err
	}
	fdt, err := os.ReadFile(filepath.Join(l.Root, "sys/firmware/fdt"))
	if err != nil {
		return fmt.Errorf("read the running device tree: %w", err)
	}
	boot, err := BuildArm64(ram, fdt, raw, im.Arm64, rd, cmdline, func(b []byte) error { _, err := rand.Read(b); return err })
	if err != nil {
		return fmt.Errorf("arm64 kexec_load layout for %s: %w", image.Name(), err)
	}
	if err := segLoad(boot.Entry, boot.Segments); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return ExplainSegmentErrno(errno, image.Name())
		}
		return fmt.Errorf("kexec_load %s: %w", image.Name(), err)
	}
	return nil
}

// readAll reads a whole file through its descriptor, at most limit bytes.
func readAll(f *os.File, limit int64) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than %d", f.Name(), st.Size(), limit)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return data, nil
}

// ExplainSegmentErrno maps kexec_load's errnos (kernel/kexec.c,
// kernel/kexec_core.c) to a sentinel and a reason naming the image.
func ExplainSegmentErrno(errno syscall.Errno, image string) *LoadError {
	e := &LoadError{Errno: errno}
	switch errno {
	case syscall.EPERM:
		e.Kind, e.Reason = ErrNotPermitted, fmt.Sprintf("kexec_load %s: operation not permitted (EPERM): no CAP_SYS_BOOT, kernel.kexec_load_disabled=1, kernel lockdown, or a seccomp filter without kexec_load", image)
	case syscall.EBUSY:
		e.Kind, e.Reason = ErrBusy, fmt.Sprintf("kexec_load %s: another kexec load is in progress (EBUSY)", image)
	case syscall.ENOMEM:
		e.Kind, e.Reason = ErrBusy, fmt.Sprintf("kexec_load: not enough memory to stage %s (ENOMEM)", image)
	case syscall.EADDRNOTAVAIL:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_load %s: a segment lies outside the memory this kernel lets kexec use (EADDRNOTAVAIL)", image)
	case syscall.EINVAL:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_load %s: the kernel refused the segments (EINVAL: unaligned, overlapping or too many)", image)
	case syscall.ENOSYS:
		e.Kind, e.Reason = ErrUnsupported, fmt.Sprintf("kexec_load %s: this kernel has neither kexec_file_load nor kexec_load (ENOSYS: built without CONFIG_KEXEC)", image)
	default:
		e.Kind, e.Reason = ErrRejectedImage, fmt.Sprintf("kexec_load %s: %s (%s)", image, errno.Error(), errnoName(errno))
	}
	return e
}
