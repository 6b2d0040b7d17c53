package kerneltest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"testing"
)

func TestArm64ImageLayout(t *testing.T) {
	const raw = Arm64HeadersSize + 2*Arm64SectionSize
	tests := []struct {
		name     string
		opts     Arm64Options
		wantSize int
		// wantBanners is how many "Linux version " banners the image has.
		wantBanners int
	}{
		{"default", Arm64Options{}, raw, 1},
		{"signed", Arm64Options{Signed: true}, raw + Arm64CertSize, 1},
		{"sections_rounded_to_512", Arm64Options{TextSize: 513, DataSize: 4000}, Arm64HeadersSize + 1024 + 4096, 1},
		{"placeholder_banner", Arm64Options{PlaceholderBanner: true}, raw, 2},
		{"trailing", Arm64Options{Trailing: 3}, raw + 3, 1},
		{"truncated", Arm64Options{Signed: true, Truncate: 5000}, 5000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := Arm64Image(tt.opts)
			if len(img) != tt.wantSize {
				t.Errorf("len(Arm64Image(%+v)) = %d; want %d", tt.opts, len(img), tt.wantSize)
			}
			if !bytes.Equal(img, Arm64Image(tt.opts)) {
				t.Errorf("Arm64Image(%+v) differs between calls", tt.opts)
			}
			if n := bytes.Count(img, []byte("Linux version ")); n != tt.wantBanners {
				t.Errorf("Arm64Image(%+v) has %d banners; want %d", tt.opts, n, tt.wantBanners)
			}
			if string(img[0x38:0x3C]) != "ARM\x64" {
				t.Errorf("Arm64Image(%+v) has %q at 0x38; want the arm64 magic", tt.opts, img[0x38:0x3C])
			}
		})
	}
}

func TestArm64ImageSignature(t *testing.T) {
	img := Arm64Image(Arm64Options{Signed: true})
	le := binary.LittleEndian
	const raw = Arm64HeadersSize + 2*Arm64SectionSize
	if off, size := le.Uint32(img[Arm64CertDir:]), le.Uint32(img[Arm64CertDir+4:]); off != raw || size != Arm64CertSize {
		t.Errorf("certificate table entry = %d, %d; want %d, %d", off, size, raw, Arm64CertSize)
	}
	if got, want := le.Uint32(img[Arm64Checksum:]), PEChecksum(img, Arm64Checksum); got == 0 || got != want {
		t.Errorf("PE CheckSum = 0x%08x; want 0x%08x", got, want)
	}
	if got := le.Uint32(Arm64Image(Arm64Options{Signed: true, NoChecksum: true})[Arm64Checksum:]); got != 0 {
		t.Errorf("PE CheckSum with NoChecksum = 0x%08x; want 0", got)
	}
}

func TestZboot(t *testing.T) {
	image := Arm64Image(Arm64Options{})
	z := Zboot(image, ZbootOptions{Signed: true})
	le := binary.LittleEndian
	if string(z[:2]) != "MZ" || string(z[4:8]) != "zimg" || string(z[24:28]) != "gzip" || le.Uint32(z[0x38:]) != 0x818223CD {
		t.Fatalf("Zboot header = %q; want MZ, zimg, gzip, LINUX_PE_MAGIC", z[:0x3C])
	}
	off, size := le.Uint32(z[8:]), le.Uint32(z[12:])
	zr, err := gzip.NewReader(bytes.NewReader(z[off : off+size]))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, image) {
		t.Errorf("Zboot payload unpacks to %d bytes, %v; want the %d-byte Image", len(got), err, len(image))
	}
}
