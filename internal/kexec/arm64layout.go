package kexec

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// ErrNoRoom: no "System RAM" range holds the kernel, initrd, device tree
// and trampoline together.
var ErrNoRoom = errors.New("no room in memory for the new kernel")

// ErrIomemHidden: /proc/iomem shows every address as 0, as it does to a
// reader without CAP_SYS_ADMIN (the service runs with CAP_SYS_BOOT alone).
var ErrIomemHidden = errors.New("/proc/iomem hides its addresses")

// Placement constants of the arm64 layout (Documentation/arch/arm64/booting.rst).
const (
	arm64KernelAlign = 2 << 20 // the Image's base: 2 MiB aligned
	arm64DTBAlign    = 2 << 20 // the dtb is mapped in 2 MiB blocks: a region of its own
	pageSize         = 4096    // kexec_load wants page-aligned segments
)

// ParseIomem returns the memory the next kernel may be placed in, read
// from /proc/iomem: the top-level "System RAM" ranges less the "reserved"
// ranges within them (firmware's, on a UEFI machine), sorted. Other
// children ("Kernel code", "Kernel data") are the running kernel's, which
// kexec replaces. Addresses read as 0 (a reader without CAP_SYS_ADMIN)
// are an error.
func ParseIomem(data string) ([]Range, error) {
	var ram, reserved []Range
	sc := bufio.NewScanner(strings.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		depth := len(line) - len(strings.TrimLeft(line, " "))
		span, name, ok := strings.Cut(strings.TrimSpace(line), " : ")
		if !ok {
			return nil, fmt.Errorf("/proc/iomem line %d: %q is not \"START-END : NAME\"", n, line)
		}
		lo, hi, ok := strings.Cut(span, "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end < start || end == ^uint64(0) {
			return nil, fmt.Errorf("/proc/iomem line %d: bad range %q", n, span)
		}
		r := Range{start, end + 1}
		switch {
		case depth == 0 && name == "System RAM":
			ram = append(ram, r)
		case depth > 0 && name == "reserved":
			reserved = append(reserved, r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /proc/iomem: %w", err)
	}
	if len(ram) == 0 {
		return nil, errors.New("/proc/iomem lists no System RAM")
	}
	for _, r := range ram {
		if r.Start == 0 && r.End == 1 {
			return nil, fmt.Errorf("%w: every address reads 0 (reading them needs CAP_SYS_ADMIN)", ErrIomemHidden)
		}
	}
	// The kernel never lists overlapping top-level resources: a file that
	// does is not /proc/iomem, and no layout is built from it.
	slices.SortFunc(ram, func(a, b Range) int { return cmp.Compare(a.Start, b.Start) })
	for i := 1; i < len(ram); i++ {
		if ram[i].Start < ram[i-1].End {
			return nil, fmt.Errorf("/proc/iomem: System RAM %x-%x overlaps %x-%x", ram[i].Start, ram[i].End-1, ram[i-1].Start, ram[i-1].End-1)
		}
	}
	return Subtract(ram, reserved), nil
}

// Subtract returns the parts of ranges outside every range of holes,
// sorted by start.
func Subtract(ranges, holes []Range) []Range {
	out := slices.Clone(ranges)
	for _, h := range holes {
		var next []Range
		for _, r := range out {
			if h.End <= r.Start || h.Start >= r.End {
				next = append(next, r)
				continue
			}
			if r.Start < h.Start {
				next = append(next, Range{r.Start, h.Start})
			}
			if h.End < r.End {
				next = append(next, Range{h.End, r.End})
			}
		}
		out = next
	}
	slices.SortFunc(out, func(a, b Range) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	return out
}

// Arm64Layout is where kexec_load places each part of an arm64 boot, in
// physical memory: the Image at Kernel (its 2 MiB aligned base plus
// text_offset), then the initrd, the device tree 2 MiB aligned, and the
// trampoline, all in one range of RAM; Entry is the trampoline's address.
type Arm64Layout struct {
	Kernel, Initrd, DTB, Trampoline Range
	Entry                           uint64
}

// PlanArm64 chooses the layout for an Image with header h, an initrd of
// initrdLen bytes and a device tree of dtbLen bytes in ram (ParseIomem's
// ranges less the device tree's reserved memory). The Image's base is the
// lowest 2 MiB aligned address that leaves room for everything after it
// in the same range: booting.rst asks for a base as close to the start of
// RAM as possible, since memory below it is not in the linear map.
// Every range it returns is page aligned; the Kernel range spans
// image_size, BSS included, which the kernel clears itself.
func PlanArm64(ram []Range, h kernel.Arm64Header, initrdLen, dtbLen int) (Arm64Layout, error) {
	if h.ImageSize == 0 {
		return Arm64Layout{}, fmt.Errorf("%w: image_size 0", kernel.ErrNotArm64Image)
	}
	if h.TextOffset%pageSize != 0 {
		return Arm64Layout{}, fmt.Errorf("%w: text_offset 0x%x is not page aligned", kernel.ErrNotArm64Image, h.TextOffset)
	}
	if dtbLen <= 0 || dtbLen > fdtMaxSize {
		return Arm64Layout{}, fmt.Errorf("%w: a device tree of %d bytes (at most %d)", ErrBadFDT, dtbLen, fdtMaxSize)
	}
	if initrdLen < 0 {
		return Arm64Layout{}, fmt.Errorf("initrd of %d bytes", initrdLen)
	}
	for _, r := range ram {
		base := alignUp(r.Start, arm64KernelAlign)
		if base < r.Start || base >= r.End {
			continue
		}
		var l Arm64Layout
		l.Kernel = Range{base + h.TextOffset, alignUp(base+h.TextOffset+h.ImageSize, pageSize)}
		l.Initrd = Range{l.Kernel.End, l.Kernel.End + uint64(initrdLen)}
		dtb := alignUp(alignUp(l.Initrd.End, pageSize), arm64DTBAlign)
		l.DTB = Range{dtb, dtb + uint64(dtbLen)}
		tramp := alignUp(l.DTB.End, pageSize)
		l.Trampoline = Range{tramp, tramp + uint64(4*len(trampolineCode)+16)}
		l.Entry = tramp
		if end := alignUp(l.Trampoline.End, pageSize); end > r.End || end < base {
			continue
		}
		return l, nil
	}
	return Arm64Layout{}, fmt.Errorf("%w: %d bytes of Image (image_size %d), %d of initrd and %d of device tree fit in no System RAM range (%s)",
		ErrNoRoom, h.ImageSize, h.ImageSize, initrdLen, dtbLen, formatRanges(ram))
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

func formatRanges(rs []Range) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("0x%x-0x%x", r.Start, r.End-1))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// trampolineCode is the entry point of an arm64 kexec_load boot, in place
// of kexec-tools' purgatory: arm64 passes the device tree in x0 only for
// kexec_file_load, so these instructions load it, clear x1-x3 as
// booting.rst requires, and branch to the Image. The two addresses
// follow the code as 64-bit literals (8-byte aligned: the MMU is off, so
// every access is to Device memory and must be aligned).
//
//	0x00  ldr x0, 0x18      // 0x580000c0: the device tree's address
//	0x04  mov x1, xzr       // 0xaa1f03e1
//	0x08  mov x2, xzr       // 0xaa1f03e2
//	0x0c  mov x3, xzr       // 0xaa1f03e3
//	0x10  ldr x4, 0x20      // 0x58000084: the Image's address
//	0x14  br  x4            // 0xd61f0080
//	0x18  .quad dtb
//	0x20  .quad kernel
var trampolineCode = [...]uint32{0x580000c0, 0xaa1f03e1, 0xaa1f03e2, 0xaa1f03e3, 0x58000084, 0xd61f0080}

// Trampoline returns the trampoline's bytes for a device tree at dtb and
// an Image at kernel.
func Trampoline(dtb, kernelAddr uint64) []byte {
	var b []byte
	for _, ins := range trampolineCode {
		b = binary.LittleEndian.AppendUint32(b, ins)
	}
	b = binary.LittleEndian.AppendUint64(b, dtb)
	return binary.LittleEndian.AppendUint64(b, kernelAddr)
}
