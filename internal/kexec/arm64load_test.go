package kexec

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel/kerneltest"
)

// fakeKernel stands in for kexec_file_load and kexec_load.
type fakeKernel struct {
	fileErr  error // what kexec_file_load answers
	segCalls [][]Segment
	entries  []uint64
	segErr   error
}

func (k *fakeKernel) install(t *testing.T) {
	oldFile, oldSeg := fileLoad, segLoad
	t.Cleanup(func() { fileLoad, segLoad = oldFile, oldSeg })
	fileLoad = func(int, int, string, int) error { return k.fileErr }
	segLoad = func(entry uint64, segs []Segment) error {
		k.segCalls = append(k.segCalls, segs)
		k.entries = append(k.entries, entry)
		return k.segErr
	}
}

// arm64Root is a root with an arm64 Image, an initrd, the QEMU virt device
// tree and /proc/iomem as the service reads it (no addresses).
func arm64Root(t *testing.T) (root string, image, initrd *os.File) {
	t.Helper()
	root = t.TempDir()
	write := func(name string, data []byte) {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("boot/vmlinuz-6.12.118+deb13-cloud-arm64", kerneltest.Arm64Image(kerneltest.Arm64Options{Release: "6.12.118+deb13-cloud-arm64", Build: "#1 SMP Debian 6.12.118-1", Signed: true}))
	write("boot/initrd.img-6.12.118+deb13-cloud-arm64", bytes.Repeat([]byte("07070100"), 1000))
	write("sys/firmware/fdt", readDTB(t, "qemu-virt.dtb"))
	write("proc/iomem", []byte("00000000-00000000 : System RAM\n  00000000-00000000 : Kernel code\n"))
	open := func(name string) *os.File {
		f, err := os.Open(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	return root, open("boot/vmlinuz-6.12.118+deb13-cloud-arm64"), open("boot/initrd.img-6.12.118+deb13-cloud-arm64")
}

func TestLoadArm64FallsBackToKexecLoad(t *testing.T) {
	const cmdline = "root=/dev/vda kexec_upgrade.attempt=x-6.12.118+deb13-cloud-arm64"
	tests := []struct {
		name      string
		arch      kernel.Arch
		fileErr   error
		lockdown  string
		segErr    error
		off       bool // SegmentLoad not set
		wantSeg   bool
		wantKind  error
		wantInErr string
	}{
		{name: "enosys_uses_kexec_load", arch: kernel.ArchARM64, fileErr: syscall.ENOSYS, wantSeg: true},
		{name: "enosys_refused_without_opt_in", arch: kernel.ArchARM64, fileErr: syscall.ENOSYS, off: true, wantKind: ErrUnsupported, wantInErr: "CONFIG_KEXEC_FILE"},
		{name: "kexec_file_load_works", arch: kernel.ArchARM64, fileErr: nil},
		{name: "einval_is_not_retried", arch: kernel.ArchARM64, fileErr: syscall.EINVAL, wantKind: ErrRejectedImage},
		{name: "amd64_enosys_is_final", arch: kernel.ArchAMD64, fileErr: syscall.ENOSYS, wantKind: ErrUnsupported},
		{name: "lockdown_refused_before_loading", arch: kernel.ArchARM64, fileErr: syscall.ENOSYS, lockdown: "none [integrity] confidentiality\n", wantKind: ErrNotPermitted, wantInErr: "lockdown (integrity)"},
		{name: "kexec_load_eperm", arch: kernel.ArchARM64, fileErr: syscall.ENOSYS, segErr: syscall.EPERM, wantSeg: true, wantKind: ErrNotPermitted, wantInErr: "kexec_load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, image, initrd := arm64Root(t)
			if tt.lockdown != "" {
				p := filepath.Join(root, "sys/kernel/security/lockdown")
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(tt.lockdown), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			k := &fakeKernel{fileErr: tt.fileErr, segErr: tt.segErr}
			k.install(t)
			err := Loader{Root: root, Arch: tt.arch, SegmentLoad: !tt.off}.Load(image, initrd, cmdline)
			if tt.wantKind == nil && err != nil {
				t.Fatalf("Load: %v", err)
			}
			if tt.wantKind != nil && (!errors.Is(err, tt.wantKind) || !strings.Contains(errString(err), tt.wantInErr)) {
				t.Fatalf("Load: %v; want %v naming %q", err, tt.wantKind, tt.wantInErr)
			}
			if got := len(k.segCalls) > 0; got != tt.wantSeg {
				t.Fatalf("kexec_load called: %v; want %v", got, tt.wantSeg)
			}
			if !tt.wantSeg {
				return
			}
			segs := k.segCalls[0]
			data, _ := os.ReadFile(image.Name())
			rd, _ := os.ReadFile(initrd.Name())
			boot := Arm64Boot{Segments: segs, Entry: k.entries[0]}
			if len(segs) == 4 {
				boot.Layout.Kernel = segs[0].Mem
			}
			checkBootFiles(t, boot, data, rd, cmdline)
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// checkBootFiles is checkBoot for a boot whose Image and initrd were read
// from files: the same bytes, not the same slices.
func checkBootFiles(t *testing.T, boot Arm64Boot, image, initrd []byte, cmdline string) {
	t.Helper()
	if len(boot.Segments) != 4 || !bytes.Equal(boot.Segments[0].Data, image) || !bytes.Equal(boot.Segments[1].Data, initrd) {
		t.Fatalf("segments: %d, want the Image and the initrd first", len(boot.Segments))
	}
	boot.Segments[0].Data, boot.Segments[1].Data = image, initrd
	checkBoot(t, boot, ram1G, image, initrd, cmdline)
}
