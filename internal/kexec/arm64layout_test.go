package kexec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// qemuVirtIomem is the arm64 guest's /proc/iomem shape on QEMU's virt
// machine with 1 GiB: the running kernel, its device tree and initrd
// reserved inside System RAM.
const qemuVirtIomem = `00000000-03ffffff : 0.flash
04000000-07ffffff : 0.flash
09000000-09000fff : pl011@9000000
  09000000-09000fff : 9000000.pl011 pl011@9000000
09010000-09010fff : pl031@9010000
  09010000-09010fff : rtc-pl031
10000000-3efeffff : pcie@10000000
3f000000-3fffffff : PCI ECAM
40000000-7fffffff : System RAM
  40000000-400fffff : reserved
  40210000-41a3ffff : Kernel code
  41a40000-41f8ffff : reserved
  41f90000-4243ffff : Kernel data
  48000000-480fffff : reserved
  7bc00000-7fdfffff : reserved
  7fe00000-7fffffff : reserved
4010000000-401fffffff : PCI ECAM
8000000000-ffffffffff : pcie@10000000
`

// uefiIomem has RAM split by firmware: nomap regions are top-level
// "reserved", and two System RAM ranges.
const uefiIomem = `40000000-4000ffff : System RAM
40010000-4001ffff : reserved
40020000-bfffffff : System RAM
  40080000-4170ffff : Kernel code
  b8000000-b9ffffff : reserved
100000000-13fffffff : System RAM
`

func TestParseIomem(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Range
		wantErr string
	}{
		{"qemu_virt", qemuVirtIomem, []Range{{0x40100000, 0x41a40000}, {0x41f90000, 0x48000000}, {0x48100000, 0x7bc00000}}, ""},
		{"uefi", uefiIomem, []Range{{0x40000000, 0x40010000}, {0x40020000, 0xb8000000}, {0xba000000, 0xc0000000}, {0x100000000, 0x140000000}}, ""},
		{"unprivileged_zeros", "00000000-00000000 : System RAM\n", nil, "CAP_SYS_ADMIN"},
		{"no_ram", "09000000-09000fff : pl011@9000000\n", nil, "no System RAM"},
		{"garbage", "40000000-7fffffff System RAM\n", nil, "is not"},
		{"reversed", "7fffffff-40000000 : System RAM\n", nil, "bad range"},
		{"not_hex", "4000000g-7fffffff : System RAM\n", nil, "bad range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIomem(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v\nwant %v", formatRanges(got), formatRanges(tt.want))
			}
		})
	}
}

// FuzzParseIomem: never panics; what it returns is sorted, disjoint,
// non-empty ranges.
func FuzzParseIomem(f *testing.F) {
	f.Add(qemuVirtIomem)
	f.Add(uefiIomem)
	if b, err := os.ReadFile("testdata/guest-trixie-arm64.iomem"); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, in string) {
		rs, err := ParseIomem(in)
		if err != nil {
			return
		}
		for i, r := range rs {
			if r.End <= r.Start {
				t.Fatalf("empty range %v", r)
			}
			if i > 0 && rs[i-1].End > r.Start {
				t.Fatalf("ranges %v and %v overlap or are out of order", rs[i-1], r)
			}
		}
	})
}

// debianHeader is the header of Debian's trixie 6.12.118 cloud arm64
// Image: text_offset 0, image_size 31981568, flags 0xa (4K pages,
// placement anywhere).
var debianHeader = kernel.Arm64Header{TextOffset: 0, ImageSize: 31981568, Flags: 0xa}

func TestPlanArm64(t *testing.T) {
	virt, err := ParseIomem(qemuVirtIomem)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		ram       []Range
		h         kernel.Arm64Header
		initrd    int
		dtb       int
		want      Arm64Layout
		wantError error
	}{
		{
			name: "whole_ram", ram: []Range{{0x40000000, 0x80000000}}, h: debianHeader, initrd: 10<<20 + 1, dtb: 7627,
			want: Arm64Layout{Kernel: Range{0x40000000, 0x41e80000}, Initrd: Range{0x41e80000, 0x42880001},
				DTB: Range{0x42a00000, 0x42a01dcb}, Trampoline: Range{0x42a02000, 0x42a02028}, Entry: 0x42a02000},
		},
		{
			// The hole before the running kernel is too small; the next
			// one, up to the running initrd, holds everything.
			name: "qemu_virt_holes", ram: virt, h: debianHeader, initrd: 10<<20 + 1, dtb: 7627,
			want: Arm64Layout{Kernel: Range{0x42000000, 0x43e80000}, Initrd: Range{0x43e80000, 0x44880001},
				DTB: Range{0x44a00000, 0x44a01dcb}, Trampoline: Range{0x44a02000, 0x44a02028}, Entry: 0x44a02000},
		},
		{
			// A big initrd does not fit before 0x48000000: everything moves on.
			name: "qemu_virt_big_initrd", ram: virt, h: debianHeader, initrd: 80 << 20, dtb: 4096,
			want: Arm64Layout{Kernel: Range{0x48200000, 0x4a080000}, Initrd: Range{0x4a080000, 0x4f080000},
				DTB: Range{0x4f200000, 0x4f201000}, Trampoline: Range{0x4f201000, 0x4f201028}, Entry: 0x4f201000},
		},
		{
			name: "text_offset", ram: []Range{{0x80000000, 0x90000000}}, h: kernel.Arm64Header{TextOffset: 0x80000, ImageSize: 0x1000000}, initrd: 0, dtb: 100,
			want: Arm64Layout{Kernel: Range{0x80080000, 0x81080000}, Initrd: Range{0x81080000, 0x81080000},
				DTB: Range{0x81200000, 0x81200064}, Trampoline: Range{0x81201000, 0x81201028}, Entry: 0x81201000},
		},
		{name: "no_room", ram: []Range{{0x40000000, 0x41000000}}, h: debianHeader, initrd: 1, dtb: 100, wantError: ErrNoRoom},
		{name: "no_ram", ram: nil, h: debianHeader, initrd: 1, dtb: 100, wantError: ErrNoRoom},
		{name: "range_ends_at_top", ram: []Range{{0xffffffffffe00000, 0xffffffffffffffff}}, h: debianHeader, initrd: 1, dtb: 100, wantError: ErrNoRoom},
		{name: "image_size_zero", ram: virt, h: kernel.Arm64Header{}, initrd: 1, dtb: 100, wantError: kernel.ErrNotArm64Image},
		{name: "text_offset_unaligned", ram: virt, h: kernel.Arm64Header{TextOffset: 0x10, ImageSize: 1 << 20}, initrd: 1, dtb: 100, wantError: kernel.ErrNotArm64Image},
		{name: "dtb_too_big", ram: virt, h: debianHeader, initrd: 1, dtb: 3 << 20, wantError: ErrBadFDT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PlanArm64(tt.ram, tt.h, tt.initrd, tt.dtb)
			if tt.wantError != nil {
				if !errors.Is(err, tt.wantError) {
					t.Fatalf("err %v, want %v", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// execTrampoline decodes and runs the trampoline's instructions (only the
// four kinds it may hold) from address at, and returns the registers and
// the branch target.
func execTrampoline(t *testing.T, code []byte, at uint64) (x [32]uint64, target uint64) {
	t.Helper()
	for pc := 0; pc+4 <= len(code); pc += 4 {
		ins := binary.LittleEndian.Uint32(code[pc:])
		switch {
		case ins&0xff000000 == 0x58000000: // LDR (literal), 64-bit
			rt, imm19 := ins&31, (ins>>5)&0x7ffff
			off := pc + int(imm19)*4
			if off%8 != 0 || off+8 > len(code) {
				t.Fatalf("ldr at 0x%x reads 0x%x: unaligned or outside the trampoline", pc, off)
			}
			x[rt] = binary.LittleEndian.Uint64(code[off:])
		case ins&0xffe0ffe0 == 0xaa0003e0: // ORR Xd, XZR, Xm (MOV)
			rm, rd := (ins>>16)&31, ins&31
			if rm != 31 {
				t.Fatalf("mov x%d, x%d at 0x%x: want xzr", rd, rm, pc)
			}
			x[rd] = 0
		case ins&0xfffffc1f == 0xd61f0000: // BR Xn
			return x, x[(ins>>5)&31]
		default:
			t.Fatalf("instruction 0x%08x at 0x%x (address 0x%x) is not one the trampoline uses", ins, pc, at+uint64(pc))
		}
	}
	t.Fatal("the trampoline never branches")
	return
}

func TestTrampoline(t *testing.T) {
	const dtb, kern = 0x44a00000, 0x42000000
	code := Trampoline(dtb, kern)
	if len(code) != 0x28 {
		t.Fatalf("trampoline of %d bytes, want 40", len(code))
	}
	for _, x0 := range []uint64{dtb, 0x8000000000} {
		x, target := execTrampoline(t, Trampoline(x0, kern), 0x44a02000)
		if x[0] != x0 || x[1] != 0 || x[2] != 0 || x[3] != 0 {
			t.Fatalf("x0-x3 = 0x%x 0x%x 0x%x 0x%x, want 0x%x 0 0 0", x[0], x[1], x[2], x[3], x0)
		}
		if target != kern {
			t.Fatalf("branches to 0x%x, want the Image at 0x%x", target, uint64(kern))
		}
	}
}

func TestBuildArm64(t *testing.T) {
	seed := func(b []byte) error {
		for i := range b {
			b[i] = byte(i + 1)
		}
		return nil
	}
	image := bytes.Repeat([]byte{0x4d}, 30959552)
	initrd := bytes.Repeat([]byte{0x1f}, 5<<20+123)
	const cmdline = "root=/dev/vda rw console=ttyAMA0 kexec_upgrade.attempt=20261203T070000.000000000Z-6.12.118+deb13-cloud-arm64"
	for _, name := range realDTBs {
		t.Run(name, func(t *testing.T) {
			dtb := readDTB(t, name)
			ram, err := ParseIomem(qemuVirtIomem)
			if err != nil {
				t.Fatal(err)
			}
			boot, err := BuildArm64(ram, dtb, image, debianHeader, initrd, cmdline, seed)
			if err != nil {
				t.Fatal(err)
			}
			checkBoot(t, boot, ram, image, initrd, cmdline)
		})
	}
	t.Run("guest_iomem", func(t *testing.T) {
		// The arm64 VM guest's own /proc/iomem, read as root.
		b, err := os.ReadFile("testdata/guest-trixie-arm64.iomem")
		if err != nil {
			t.Fatal(err)
		}
		ram, err := ParseIomem(string(b))
		if err != nil {
			t.Fatal(err)
		}
		boot, err := BuildArm64(ram, readDTB(t, "guest-trixie-arm64.dtb.gz"), image, debianHeader, initrd, cmdline, seed)
		if err != nil {
			t.Fatal(err)
		}
		// The first hole that holds everything: from the end of the reserved
		// range after the running kernel's code to its initrd (the running
		// kernel's own pages are fair game: kexec moves them out of the way).
		if boot.Layout.Kernel.Start != 0x41e00000 {
			t.Fatalf("kernel at 0x%x, want 0x41e00000", boot.Layout.Kernel.Start)
		}
		checkBoot(t, boot, ram, image, initrd, cmdline)
	})
	t.Run("memreserve_kept_free", func(t *testing.T) {
		f, err := ParseFDT(readDTB(t, "qemu-virt.dtb"))
		if err != nil {
			t.Fatal(err)
		}
		f.Reserved = []Range{{0x40000000, 0x60000000}}
		ram := []Range{{0x40000000, 0x80000000}}
		boot, err := BuildArm64(ram, f.Bytes(), image, debianHeader, initrd, cmdline, seed)
		if err != nil {
			t.Fatal(err)
		}
		if boot.Layout.Kernel.Start != 0x60000000 {
			t.Fatalf("kernel at 0x%x, want 0x60000000 after the reservation", boot.Layout.Kernel.Start)
		}
		checkBoot(t, boot, Subtract(ram, f.Reserved), image, initrd, cmdline)
	})
	t.Run("ram_from_the_device_tree", func(t *testing.T) {
		// As the service sees it: /proc/iomem without addresses.
		if _, err := ParseIomem("00000000-00000000 : System RAM\n"); !errors.Is(err, ErrIomemHidden) {
			t.Fatalf("ParseIomem of hidden addresses: %v; want ErrIomemHidden", err)
		}
		boot, err := BuildArm64(nil, readDTB(t, "qemu-virt.dtb"), image, debianHeader, initrd, cmdline, seed)
		if err != nil {
			t.Fatal(err)
		}
		if boot.Layout.Kernel.Start != 0x40000000 {
			t.Fatalf("kernel at 0x%x, want the start of the device tree's memory, 0x40000000", boot.Layout.Kernel.Start)
		}
		checkBoot(t, boot, ram1G, image, initrd, cmdline)
	})
	t.Run("image_longer_than_image_size", func(t *testing.T) {
		_, err := BuildArm64([]Range{{0x40000000, 0x80000000}}, readDTB(t, "qemu-virt.dtb"), make([]byte, 2<<20), kernel.Arm64Header{ImageSize: 1 << 20}, nil, "x", seed)
		if !errors.Is(err, kernel.ErrTrailingData) {
			t.Fatalf("err %v, want ErrTrailingData", err)
		}
	})
	t.Run("bad_dtb", func(t *testing.T) {
		_, err := BuildArm64(ram1G, []byte("not a dtb"), image, debianHeader, initrd, "x", seed)
		if !errors.Is(err, ErrBadFDT) {
			t.Fatalf("err %v, want ErrBadFDT", err)
		}
	})
}

var ram1G = []Range{{0x40000000, 0x80000000}}

// checkBoot checks the properties every arm64 boot must have: page
// aligned, ascending, disjoint segments inside ram; the Image first and
// at the entry's branch target; the device tree carrying cmdline and the
// initrd segment's place; the trampoline passing that device tree.
func checkBoot(t *testing.T, boot Arm64Boot, ram []Range, image, initrd []byte, cmdline string) {
	t.Helper()
	if len(boot.Segments) != 4 {
		t.Fatalf("%d segments, want 4", len(boot.Segments))
	}
	for i, s := range boot.Segments {
		if s.Mem.Start%pageSize != 0 || s.Mem.End%pageSize != 0 || uint64(len(s.Data)) > s.Mem.Size() {
			t.Fatalf("segment %d at %v holds %d bytes: not page aligned or too small", i, s.Mem, len(s.Data))
		}
		if i > 0 && boot.Segments[i-1].Mem.End > s.Mem.Start {
			t.Fatalf("segments %d and %d overlap or are out of order", i-1, i)
		}
		inside := false
		for _, r := range ram {
			inside = inside || (r.Start <= s.Mem.Start && s.Mem.End <= r.End)
		}
		if !inside {
			t.Fatalf("segment %d at %v is outside the RAM %s", i, s.Mem, formatRanges(ram))
		}
	}
	kern, rd, dtbSeg, tramp := boot.Segments[0], boot.Segments[1], boot.Segments[2], boot.Segments[3]
	if &kern.Data[0] != &image[0] || &rd.Data[0] != &initrd[0] {
		t.Fatal("segments 0 and 1 are not the Image and the initrd")
	}
	if kern.Mem.Start%arm64KernelAlign != debianHeader.TextOffset || dtbSeg.Mem.Start%arm64DTBAlign != 0 {
		t.Fatalf("Image at 0x%x, device tree at 0x%x: not 2 MiB aligned", kern.Mem.Start, dtbSeg.Mem.Start)
	}
	f, err := ParseFDT(dtbSeg.Data)
	if err != nil {
		t.Fatalf("the device tree segment: %v", err)
	}
	ch := f.Root.Child("chosen")
	args, _ := ch.Prop("bootargs")
	start, _ := ch.Prop("linux,initrd-start")
	end, _ := ch.Prop("linux,initrd-end")
	if string(args) != cmdline+"\x00" || len(start) != 8 || len(end) != 8 ||
		binary.BigEndian.Uint64(start) != rd.Mem.Start || binary.BigEndian.Uint64(end) != rd.Mem.Start+uint64(len(initrd)) {
		t.Fatalf("/chosen: bootargs %q, initrd %x-%x; want %q and %x-%x", args, start, end, cmdline, rd.Mem.Start, rd.Mem.Start+uint64(len(initrd)))
	}
	if boot.Entry != tramp.Mem.Start {
		t.Fatalf("entry 0x%x, trampoline at 0x%x", boot.Entry, tramp.Mem.Start)
	}
	x, target := execTrampoline(t, tramp.Data, tramp.Mem.Start)
	if x[0] != dtbSeg.Mem.Start || target != kern.Mem.Start {
		t.Fatalf("trampoline passes x0=0x%x and enters 0x%x; want the device tree 0x%x and the Image 0x%x", x[0], target, dtbSeg.Mem.Start, kern.Mem.Start)
	}
}

// TestSegmentLoadLockdown: under lockdown kexec_load is refused before
// anything is read or loaded, with a reason naming lockdown.
func TestSegmentLoadLockdown(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(root+"/sys/kernel/security", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root+"/sys/kernel/security/lockdown", []byte("none [integrity] confidentiality\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Loader{Root: root, Arch: kernel.ArchARM64}.segmentLoad(nil, nil, "x")
	var le *LoadError
	if !errors.As(err, &le) || !errors.Is(err, ErrNotPermitted) || !strings.Contains(le.Reason, "lockdown (integrity)") {
		t.Fatalf("err %v, want ErrNotPermitted naming lockdown (integrity)", err)
	}
	for content, want := range map[string]string{"[none] integrity confidentiality\n": "none", "none integrity [confidentiality]\n": "confidentiality"} {
		if err := os.WriteFile(root+"/sys/kernel/security/lockdown", []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := lockdownMode(root); got != want {
			t.Fatalf("lockdownMode(%q) = %q, want %q", content, got, want)
		}
	}
	if got := lockdownMode(t.TempDir()); got != "none" {
		t.Fatalf("lockdownMode without the file = %q, want none", got)
	}
}

func TestExplainSegmentErrno(t *testing.T) {
	tests := []struct {
		errno   syscall.Errno
		kind    error
		mention string
	}{
		{syscall.EPERM, ErrNotPermitted, "lockdown"},
		{syscall.EBUSY, ErrBusy, "EBUSY"},
		{syscall.ENOMEM, ErrBusy, "ENOMEM"},
		{syscall.EADDRNOTAVAIL, ErrRejectedImage, "EADDRNOTAVAIL"},
		{syscall.EINVAL, ErrRejectedImage, "EINVAL"},
		{syscall.ENOSYS, ErrUnsupported, "CONFIG_KEXEC"},
		{syscall.EIO, ErrRejectedImage, "kexec_load"},
	}
	for _, tt := range tests {
		e := ExplainSegmentErrno(tt.errno, "/boot/vmlinuz-x")
		if !errors.Is(e, tt.kind) || !errors.Is(e, tt.errno) || !strings.Contains(e.Reason, tt.mention) || !strings.Contains(e.Reason, "/boot/vmlinuz-x") {
			t.Errorf("%v: %v (kind %v), want kind %v mentioning %q and the image", tt.errno, e, e.Kind, tt.kind, tt.mention)
		}
	}
}
