package kexec

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel/kerneltest"
)

func TestExplainErrnoFor(t *testing.T) {
	const image = "/boot/vmlinuz-6.12.118+deb13-cloud-arm64"
	tests := []struct {
		name    string
		arch    kernel.Arch
		errno   syscall.Errno
		kind    error
		mention []string
	}{
		// arm64's loader answers EINVAL to anything but a raw Image.
		{"arm64_einval_not_an_image", kernel.ArchARM64, syscall.EINVAL, ErrRejectedImage, []string{"EINVAL", "not an arm64 Image", "image_size"}},
		{"arm64_enoexec_no_loader", kernel.ArchARM64, syscall.ENOEXEC, ErrRejectedImage, []string{"ENOEXEC", "arm64"}},
		{"amd64_enoexec_not_a_bzimage", kernel.ArchAMD64, syscall.ENOEXEC, ErrRejectedImage, []string{"ENOEXEC", "bzImage"}},
		{"amd64_einval_cmdline", kernel.ArchAMD64, syscall.EINVAL, ErrRejectedImage, []string{"EINVAL", "30 bytes"}},
		// Debian builds its arm64 kernels without CONFIG_KEXEC_FILE.
		{"arm64_enosys_no_kexec_file", kernel.ArchARM64, syscall.ENOSYS, ErrUnsupported, []string{"ENOSYS", "CONFIG_KEXEC_FILE", "Debian arm64"}},
		{"amd64_enosys", kernel.ArchAMD64, syscall.ENOSYS, ErrUnsupported, []string{"ENOSYS", "CONFIG_KEXEC_FILE"}},
		// The rest is the same on both.
		{"arm64_eperm", kernel.ArchARM64, syscall.EPERM, ErrNotPermitted, []string{"EPERM", "CAP_SYS_BOOT"}},
		{"arm64_enodata_unsigned_under_lockdown", kernel.ArchARM64, syscall.ENODATA, ErrRejectedImage, []string{"ENODATA", "not signed"}},
		{"arm64_ekeyrejected", kernel.ArchARM64, syscall.EKEYREJECTED, ErrRejectedImage, []string{"EKEYREJECTED"}},
		{"arm64_ebusy", kernel.ArchARM64, syscall.EBUSY, ErrBusy, []string{"EBUSY"}},
		{"arm64_etxtbsy", kernel.ArchARM64, syscall.ETXTBSY, ErrBusy, []string{"ETXTBSY"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			le := ExplainErrnoFor(tc.arch, tc.errno, image)
			if !errors.Is(le, tc.kind) || !errors.Is(le, tc.errno) || le.Errno != tc.errno {
				t.Errorf("ExplainErrnoFor(%s, %v) = kind %v, errno %v; want %v, %v", tc.arch, tc.errno, le.Kind, le.Errno, tc.kind, tc.errno)
			}
			if want := errors.Is(tc.kind, ErrRejectedImage) || errors.Is(tc.kind, ErrUnsupported); le.Lasting() != want {
				t.Errorf("ExplainErrnoFor(%s, %v).Lasting() = %t; want %t", tc.arch, tc.errno, le.Lasting(), want)
			}
			for _, m := range append(tc.mention, image) {
				if !strings.Contains(le.Reason, m) {
					t.Errorf("ExplainErrnoFor(%s, %v) = %q; want it to mention %q", tc.arch, tc.errno, le.Reason, m)
				}
			}
		})
	}
	if got, want := ExplainErrno(syscall.EINVAL, image).Reason, ExplainErrnoFor(kernel.NativeArch, syscall.EINVAL, image).Reason; got != want {
		t.Errorf("ExplainErrno(EINVAL) = %q; want ExplainErrnoFor(NativeArch %s) %q", got, kernel.NativeArch, want)
	}
}

func TestSealedMemfd(t *testing.T) {
	data := bytes.Repeat([]byte("kernel"), 10000)
	f, err := SealedMemfd("test image", data)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("SealedMemfd content = %d bytes, %v; want the %d bytes written", len(got), err, len(data))
	}
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil || seals&memfdSeals != memfdSeals {
		t.Errorf("F_GET_SEALS = 0x%x, %v; want 0x%x set", seals, err, memfdSeals)
	}
	if _, err := f.WriteAt([]byte("X"), 0); !errors.Is(err, syscall.EPERM) {
		t.Errorf("WriteAt on the sealed memfd = %v; want EPERM", err)
	}
	if err := f.Truncate(10); !errors.Is(err, syscall.EPERM) {
		t.Errorf("Truncate of the sealed memfd = %v; want EPERM", err)
	}
	if _, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
		t.Errorf("a writable shared mapping of the sealed memfd succeeded; want it refused")
	}
	if !strings.Contains(f.Name(), "test image") {
		t.Errorf("SealedMemfd name = %q; want it to name the image", f.Name())
	}
}

// TestSealedMemfdNoWriters: kexec_file_load reads its image with
// kernel_read_file, which fails with ETXTBSY while the file has writers
// (deny_write_access); execve makes the same check. A sealed memfd must
// pass it: a copy of a program in one runs.
func TestSealedMemfdNoWriters(t *testing.T) {
	prog, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatalf("read /bin/true: %v", err)
	}
	f, err := SealedMemfd("true", prog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("/proc/self/fd/3")
	cmd.ExtraFiles = []*os.File{f}
	err = cmd.Run()
	if errors.Is(err, syscall.EACCES) {
		// vm.memfd_noexec = 2 forbids executing any memfd: that is not
		// the check this test is after.
		t.Skipf("executing a memfd is forbidden here (vm.memfd_noexec): %v", err)
	}
	if err != nil {
		t.Fatalf("running a program from the sealed memfd: %v; want it to run (no ETXTBSY)", err)
	}
}

func TestLoadable(t *testing.T) {
	raw := kerneltest.Arm64Image(kerneltest.Arm64Options{Signed: true})
	tests := []struct {
		name     string
		arch     kernel.Arch
		data     []byte
		want     []byte // nil: the file itself
		wantErr  error
		wantSame bool
	}{
		{"arm64_raw_image_as_it_is", kernel.ArchARM64, raw, nil, nil, true},
		{"bzimage_as_it_is", kernel.ArchAMD64, kerneltest.BzImage(kerneltest.Options{}), nil, nil, true},
		{"image_gz_unpacked", kernel.ArchARM64, kerneltest.Gzip(raw), raw, nil, false},
		{"zboot_unpacked", kernel.ArchARM64, kerneltest.Zboot(raw, kerneltest.ZbootOptions{Signed: true}), raw, nil, false},
		{"damaged_image_gz_refused", kernel.ArchARM64, kerneltest.Gzip(raw[:len(raw)-1]), nil, kernel.ErrTruncated, false},
		{"image_gz_on_amd64_refused", kernel.ArchAMD64, kerneltest.Gzip(raw), nil, kernel.ErrNotBzImage, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vmlinuz")
			if err := os.WriteFile(path, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			image, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer image.Close()
			got, err := Loader{Arch: tc.arch}.loadable(image)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("loadable(%s) error = %v; want %v", tc.name, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if (got == image) != tc.wantSame {
				t.Fatalf("loadable(%s) = %s; want the image itself: %t", tc.name, got.Name(), tc.wantSame)
			}
			if got == image {
				return
			}
			defer got.Close()
			content, err := io.ReadAll(io.NewSectionReader(got, 0, 1<<30))
			if err != nil || !bytes.Equal(content, tc.want) {
				t.Errorf("loadable(%s) holds %d bytes, %v; want the %d-byte Image", tc.name, len(content), err, len(tc.want))
			}
			if !strings.HasPrefix(got.Name(), "memfd:vmlinuz unpacked from ") {
				t.Errorf("loadable(%s) = %q; want a memfd named after the image", tc.name, got.Name())
			}
		})
	}
}
