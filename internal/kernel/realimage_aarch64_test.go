package kernel_test

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// checkArm64Image parses a real arm64 image and checks what it says against
// its package. Measured on Debian's bookworm (6.1), trixie (6.12) and
// trixie-backports (7.3) cloud kernels: each vmlinuz is an uncompressed
// Image wrapped as PE by the EFI stub (text_offset 0, flags 0xA: little
// endian, 4 KiB pages, placed anywhere), signed by sbsign with a 1472-byte
// certificate table right after the last section and a PE CheckSum over
// the whole file; SizeOfImage equals image_size. The same Image gzip'd
// parses as an Image.gz whose unpacked bytes are the file itself.
func checkArm64Image(t *testing.T, p realPackage, data []byte) kernel.Image {
	t.Helper()
	im, err := kernel.ParseImageFor(kernel.ArchARM64, data)
	if err != nil {
		t.Fatalf("ParseImageFor(arm64, %s %s): %v", p.pkg, p.version, err)
	}
	wantChecks := kernel.CheckSize | kernel.CheckSignatureTable | kernel.CheckPEChecksum
	switch {
	case im.Arch != kernel.ArchARM64 || im.Format != kernel.FormatImage || im.Size != int64(len(data)):
		t.Errorf("ParseImageFor(arm64, %s) = %s %s of %d bytes; want an arm64 Image of %d", p.pkg, im.Arch, im.Format, im.Size, len(data))
	case im.Release != p.release:
		t.Errorf("ParseImageFor(arm64, %s).Release = %q; want %q", p.pkg, im.Release, p.release)
	case !strings.HasPrefix(im.Build, "#1 SMP ") || !strings.Contains(im.Build, " Debian "+p.version+" "):
		t.Errorf("ParseImageFor(arm64, %s).Build = %q; want \"#1 SMP ...\" naming Debian %s", p.pkg, im.Build, p.version)
	case !im.Signed || im.Checks != wantChecks:
		t.Errorf("ParseImageFor(arm64, %s) = signed %t, checks %s; want signed, %s", p.pkg, im.Signed, im.Checks, wantChecks)
	case im.Arm64.TextOffset != 0 || im.Arm64.Flags != 0xA || im.Arm64.PageSize() != 4096 || im.Arm64.ImageSize < uint64(len(data)):
		t.Errorf("ParseImageFor(arm64, %s).Arm64 = %+v; want text_offset 0, flags 0xA, an image_size above the file's %d bytes", p.pkg, im.Arm64, len(data))
	case im.CmdlineMax != 2047:
		t.Errorf("ParseImageFor(arm64, %s).CmdlineMax = %d; want 2047 (COMMAND_LINE_SIZE 2048 less the NUL)", p.pkg, im.CmdlineMax)
	}
	if auto, err := kernel.ParseImage(data); err != nil || auto != im {
		t.Errorf("ParseImage(%s) = %+v, %v; want what ParseImageFor(arm64) says", p.pkg, auto, err)
	}
	if _, err := kernel.ParseImageFor(kernel.ArchAMD64, data); !errors.Is(err, kernel.ErrWrongArch) {
		t.Errorf("ParseImageFor(amd64, %s) error = %v; want ErrWrongArch", p.pkg, err)
	}
	if _, loadable, err := kernel.LoadableImage(kernel.ArchARM64, data); err != nil || !bytes.Equal(loadable, data) {
		t.Errorf("LoadableImage(arm64, %s) = %d bytes, %v; want the file itself", p.pkg, len(loadable), err)
	}

	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if _, err := zw.Write(data); err != nil || zw.Close() != nil {
		t.Fatalf("gzip %s: %v", p.pkg, err)
	}
	packed, unpacked, err := kernel.LoadableImage(kernel.ArchARM64, gz.Bytes())
	if err != nil || packed.Format != kernel.FormatImageGz || packed.Release != im.Release || packed.Build != im.Build ||
		!packed.Signed || !bytes.Equal(unpacked, data) {
		t.Errorf("LoadableImage(arm64, %s gzip'd) = %s %q %q signed %t, %d bytes, %v; want Image.gz of the same kernel unpacking to the file",
			p.pkg, packed.Format, packed.Release, packed.Build, packed.Signed, len(unpacked), err)
	}
	t.Logf("%s: %s; %d bytes, image_size %d, page %d, signed %t; checks %s; %s; gzip'd %d bytes",
		p.pkg, im.Version, im.Size, im.Arm64.ImageSize, im.Arm64.PageSize(), im.Signed, im.Checks, im.CRCStatus(), gz.Len())
	return im
}

// checkArm64Damage refuses copies of a real arm64 image cut short or with
// one byte flipped: the exact size rule catches every cut, and the PE
// CheckSum every flipped byte, before the MD5 does.
func checkArm64Damage(t *testing.T, p realPackage, data []byte, im kernel.Image, digest host.Digest) {
	t.Helper()
	flip := func(at int) []byte {
		b := slices.Clone(data)
		b[at] ^= 0x10
		return b
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{"cut_by_one_byte", data[:len(data)-1], kernel.ErrTruncated},
		{"cut_to_300000_bytes", data[:300000], kernel.ErrTruncated},
		{"cut_before_the_signature", data[:len(data)-1472], kernel.ErrTruncated},
		{"cut_in_the_data_section", data[:len(data)-1472-4096], kernel.ErrTruncated},
		{"text_byte_flipped", flip(len(data) / 3), kernel.ErrChecksum},
		{"banner_byte_flipped", flip(bytes.Index(data, []byte("Linux version "+im.Version)) + 20), kernel.ErrChecksum},
		{"signature_byte_flipped", flip(len(data) - 100), kernel.ErrChecksum},
		{"one_byte_appended", append(slices.Clone(data), 0), kernel.ErrBadSignatureTable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := kernel.ParseImageFor(kernel.ArchARM64, tt.data); !errors.Is(err, tt.wantErr) {
				t.Errorf("ParseImageFor(arm64, %s, %s) error = %v; want %v", p.pkg, tt.name, err, tt.wantErr)
			}
			if err := digest.Verify(md5.Sum(tt.data)); !errors.Is(err, host.ErrDigestMismatch) {
				t.Errorf("Verify(%s, %s) = %v; want ErrDigestMismatch", p.pkg, tt.name, err)
			}
		})
	}
}
