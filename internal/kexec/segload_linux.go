//go:build linux && (amd64 || arm64)

package kexec

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kexecArchAArch64 is KEXEC_ARCH_AARCH64 (include/uapi/linux/kexec.h).
const kexecArchAArch64 = 183 << 16

// kexecSegment is struct kexec_segment.
type kexecSegment struct {
	buf   unsafe.Pointer
	bufsz uintptr
	mem   uintptr
	memsz uintptr
}

// segLoad calls kexec_load(2) with the segments, or unloads with none; a
// variable so that tests can stand in for the kernel.
var segLoad = func(entry uint64, segs []Segment) error {
	ks := make([]kexecSegment, len(segs))
	for i, s := range segs {
		ks[i] = kexecSegment{bufsz: uintptr(len(s.Data)), mem: uintptr(s.Mem.Start), memsz: uintptr(s.Mem.Size())}
		if len(s.Data) > 0 {
			ks[i].buf = unsafe.Pointer(&s.Data[0])
		}
	}
	var p unsafe.Pointer
	if len(ks) > 0 {
		p = unsafe.Pointer(&ks[0])
	}
	// A load names its architecture, so that another kernel refuses it;
	// an unload is KEXEC_ARCH_DEFAULT.
	flags := uintptr(0)
	if len(ks) > 0 {
		flags = kexecArchAArch64
	}
	_, _, errno := unix.Syscall6(unix.SYS_KEXEC_LOAD, uintptr(entry), uintptr(len(ks)), uintptr(p), flags, 0, 0)
	runtime.KeepAlive(segs)
	runtime.KeepAlive(ks)
	if errno != 0 {
		return errno
	}
	return nil
}
