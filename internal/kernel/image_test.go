package kernel

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel/kerneltest"
)

func TestDetectFormat(t *testing.T) {
	raw := kerneltest.Arm64Image(kerneltest.Arm64Options{})
	tests := []struct {
		name   string
		data   []byte
		want   Format
		arch   Arch
		packed bool
	}{
		{"bzimage", kerneltest.BzImage(kerneltest.Options{Signed: true}), FormatBzImage, ArchAMD64, false},
		{"arm64_image", raw, FormatImage, ArchARM64, false},
		{"arm64_image_without_pe", kerneltest.Arm64Image(kerneltest.Arm64Options{NoPE: true}), FormatImage, ArchARM64, false},
		{"image_gz", kerneltest.Gzip(raw), FormatImageGz, ArchARM64, true},
		{"zboot", kerneltest.Zboot(raw, kerneltest.ZbootOptions{}), FormatZboot, ArchARM64, true},
		{"cut_bzimage_header", kerneltest.BzImage(kerneltest.Options{})[:0x205], "", "", false},
		{"mz_alone", []byte("MZ"), "", "", false},
		{"zeros", make([]byte, 4096), "", "", false},
		{"empty", nil, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := DetectFormat(tt.data)
			if got != tt.want || ok != (tt.want != "") || got.Arch() != tt.arch || got.Packed() != tt.packed {
				t.Errorf("DetectFormat(%d bytes) = %q, %t (arch %q, packed %t); want %q (arch %q, packed %t)",
					len(tt.data), got, ok, got.Arch(), got.Packed(), tt.want, tt.arch, tt.packed)
			}
		})
	}
}

func TestParseImageFor(t *testing.T) {
	bz := kerneltest.BzImage(kerneltest.Options{Signed: true})
	arm := kerneltest.Arm64Image(kerneltest.Arm64Options{Signed: true})
	tests := []struct {
		name       string
		arch       Arch
		data       []byte
		wantFormat Format
		wantErr    error
	}{
		{"bzimage_on_amd64", ArchAMD64, bz, FormatBzImage, nil},
		{"image_on_arm64", ArchARM64, arm, FormatImage, nil},
		{"image_gz_on_arm64", ArchARM64, kerneltest.Gzip(arm), FormatImageGz, nil},
		{"zboot_on_arm64", ArchARM64, kerneltest.Zboot(arm, kerneltest.ZbootOptions{}), FormatZboot, nil},
		{"image_on_amd64", ArchAMD64, arm, "", ErrWrongArch},
		{"zboot_on_amd64", ArchAMD64, kerneltest.Zboot(arm, kerneltest.ZbootOptions{}), "", ErrWrongArch},
		// A gzip file is not a kernel amd64 can take, whatever it holds.
		{"image_gz_on_amd64", ArchAMD64, kerneltest.Gzip(arm), "", ErrNotBzImage},
		{"bzimage_on_arm64", ArchARM64, bz, "", ErrWrongArch},
		{"garbage_on_amd64", ArchAMD64, []byte("garbage"), "", ErrNotBzImage},
		{"garbage_on_arm64", ArchARM64, []byte("garbage"), "", ErrNotArm64Image},
		{"riscv", Arch("riscv64"), arm, "", ErrUnsupportedArch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im, err := ParseImageFor(tt.arch, tt.data)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseImageFor(%s, %d bytes) error = %v; want %v", tt.arch, len(tt.data), err, tt.wantErr)
			}
			if err == nil && (im.Format != tt.wantFormat || im.Arch != tt.arch) {
				t.Errorf("ParseImageFor(%s, %d bytes) = %s %s; want %s %s", tt.arch, len(tt.data), im.Arch, im.Format, tt.arch, tt.wantFormat)
			}
		})
	}
}

func TestNativeArch(t *testing.T) {
	// The package is built for the two architectures kexec-upgrade ships
	// for; a test run elsewhere only learns that the arch has no format.
	switch NativeArch {
	case ArchAMD64, ArchARM64:
		img := kerneltest.BzImage(kerneltest.Options{})
		if NativeArch == ArchARM64 {
			img = kerneltest.Arm64Image(kerneltest.Arm64Options{})
		}
		if _, err := ParseImageFor(NativeArch, img); err != nil {
			t.Errorf("ParseImageFor(NativeArch %s, its own format) error = %v", NativeArch, err)
		}
	default:
		if _, err := ParseImageFor(NativeArch, nil); !errors.Is(err, ErrUnsupportedArch) {
			t.Errorf("ParseImageFor(NativeArch %s) error = %v; want ErrUnsupportedArch", NativeArch, err)
		}
	}
}

func FuzzParseImage(f *testing.F) {
	arm := kerneltest.Arm64Image(kerneltest.Arm64Options{Signed: true})
	f.Add(kerneltest.BzImage(kerneltest.Options{}))
	f.Add(kerneltest.BzImage(kerneltest.Options{NoCRC: true, Signed: true, Release: kerneltest.NoCRCRelease}))
	f.Add(arm)
	f.Add(kerneltest.Gzip(arm))
	f.Add(kerneltest.Zboot(arm, kerneltest.ZbootOptions{}))
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, data []byte) {
		im, err := ParseImage(data)
		format, known := DetectFormat(data)
		if err != nil {
			if known && format.Arch() == ArchARM64 {
				if _, err2 := ParseArm64Image(data); err2 == nil || err2.Error() != err.Error() {
					t.Fatalf("ParseImage(%d bytes) error = %v; ParseArm64Image error = %v; want the same", len(data), err, err2)
				}
			} else if !errors.Is(err, ErrNotBzImage) && !errors.Is(err, ErrOldProtocol) && !errors.Is(err, ErrTruncated) &&
				!errors.Is(err, ErrChecksum) && !errors.Is(err, ErrTrailingData) && !errors.Is(err, ErrBadSignatureTable) && !errors.Is(err, ErrNoVersion) {
				t.Fatalf("ParseImage(%d bytes) error = %v; want one of ParseBzImage's errors", len(data), err)
			}
			return
		}
		// Accepted: the format its magic numbers name, and the image's
		// architecture accepts it while the other refuses it.
		if !known || im.Format != format || im.Arch != format.Arch() || im.Size != int64(len(data)) {
			t.Fatalf("ParseImage(%d bytes) = %s %s of %d bytes; DetectFormat = %q", len(data), im.Arch, im.Format, im.Size, format)
		}
		again, loadable, err := LoadableImage(im.Arch, data)
		if err != nil || again != im {
			t.Fatalf("LoadableImage(%s, %d bytes) = %+v, %v; want %+v", im.Arch, len(data), again, err, im)
		}
		if im.Format.Packed() == bytes.Equal(loadable, data) {
			t.Fatalf("LoadableImage(%s, %d bytes of %s) returned %d bytes; want the file itself exactly when it is not packed", im.Arch, len(data), im.Format, len(loadable))
		}
		other := ArchARM64
		if im.Arch == ArchARM64 {
			other = ArchAMD64
		}
		if _, err := ParseImageFor(other, data); err == nil {
			t.Fatalf("ParseImageFor(%s, a %s %s) succeeded; want it refused", other, im.Arch, im.Format)
		}
	})
}
