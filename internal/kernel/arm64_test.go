package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel/kerneltest"
)

// Layout of kerneltest arm64 images with default options.
const (
	arm64RawEnd = kerneltest.Arm64HeadersSize + 2*kerneltest.Arm64SectionSize
	arm64Signed = arm64RawEnd + kerneltest.Arm64CertSize
)

// arm64Image is what ParseArm64Image returns for a kerneltest arm64 image
// built with default options, size bytes long.
func arm64Image(size int64, signed bool) Image {
	checks := CheckSize
	if signed {
		checks |= CheckSignatureTable | CheckPEChecksum
	}
	return Image{
		Arch: ArchARM64, Format: FormatImage, Size: size, Signed: signed, CmdlineMax: 2047, Checks: checks,
		Version: kerneltest.DefaultArm64Release + " (" + kerneltest.DefaultBuilder + ") (" + kerneltest.Arm64Compiler + ") " + kerneltest.DefaultArm64Build,
		Release: kerneltest.DefaultArm64Release, Build: kerneltest.DefaultArm64Build,
		Arm64: Arm64Header{ImageSize: arm64RawEnd + kerneltest.Arm64BSS, Flags: 0xA},
	}
}

func TestParseArm64Image(t *testing.T) {
	unsigned := kerneltest.Arm64Image(kerneltest.Arm64Options{})
	signed := kerneltest.Arm64Image(kerneltest.Arm64Options{Signed: true})
	le := binary.LittleEndian
	tests := []struct {
		name    string
		data    []byte
		want    Image  // checked when wantErr is nil
		wantErr error  // errors.Is target
		wantMsg string // a part of the error text when not empty
	}{
		{name: "unsigned", data: unsigned, want: arm64Image(arm64RawEnd, false)},
		{name: "signed", data: signed, want: arm64Image(arm64Signed, true)},
		{
			name: "signed_without_pe_checksum",
			data: kerneltest.Arm64Image(kerneltest.Arm64Options{Signed: true, NoChecksum: true}),
			want: func() Image { im := arm64Image(arm64Signed, true); im.Checks &^= CheckPEChecksum; return im }(),
		},
		{
			// Debian's images: init/version.o's banner ("# SMP") comes first.
			name: "placeholder_banner_first_like_debian",
			data: kerneltest.Arm64Image(kerneltest.Arm64Options{Signed: true, PlaceholderBanner: true}),
			want: arm64Image(arm64Signed, true),
		},
		{
			name: "16k_pages_and_text_offset",
			data: func() []byte {
				b := kerneltest.Arm64Image(kerneltest.Arm64Options{})
				le.PutUint64(b[0x18:], 0xC) // 16K pages
				le.PutUint64(b[0x08:], 0x80000)
				return b
			}(),
			want: func() Image {
				im := arm64Image(arm64RawEnd, false)
				im.Arm64.Flags, im.Arm64.TextOffset = 0xC, 0x80000
				return im
			}(),
		},
		{name: "cut_by_one_byte", data: signed[:len(signed)-1], wantErr: ErrTruncated, wantMsg: "13759 bytes, certificate table ends at 13760"},
		{name: "cut_in_the_signature", data: signed[:arm64RawEnd+8], wantErr: ErrTruncated},
		{name: "unsigned_cut_by_one_byte", data: unsigned[:len(unsigned)-1], wantErr: ErrTruncated, wantMsg: "12287 bytes, the sections end at 12288"},
		{name: "cut_to_300000_of_a_larger_one", data: kerneltest.Arm64Image(kerneltest.Arm64Options{TextSize: 400000, Truncate: 300000}), wantErr: ErrTruncated},
		{name: "unsigned_with_trailing_data", data: kerneltest.Arm64Image(kerneltest.Arm64Options{Trailing: 3}), wantErr: ErrTrailingData},
		{name: "signed_with_trailing_data", data: kerneltest.Arm64Image(kerneltest.Arm64Options{Signed: true, Trailing: 8}), wantErr: ErrBadSignatureTable},
		{
			name:    "text_byte_flipped",
			data:    mutated(signed, func(b []byte) { b[kerneltest.Arm64HeadersSize+100] ^= 0x10 }),
			wantErr: ErrChecksum, wantMsg: "PE CheckSum",
		},
		{
			name:    "signature_byte_flipped",
			data:    mutated(signed, func(b []byte) { b[arm64RawEnd+200] ^= 0x01 }),
			wantErr: ErrChecksum,
		},
		{name: "no_magic", data: mutated(unsigned, func(b []byte) { b[0x39] = 'X' }), wantErr: ErrNotArm64Image, wantMsg: `no "ARM\x64" at 0x38`},
		{name: "too_short", data: unsigned[:0x3C], wantErr: ErrNotArm64Image},
		{name: "image_size_zero", data: mutated(unsigned, func(b []byte) { clear(b[0x10:0x18]) }), wantErr: ErrNotArm64Image, wantMsg: "image_size"},
		{name: "big_endian", data: mutated(unsigned, func(b []byte) { b[0x18] |= 1 }), wantErr: ErrNotArm64Image, wantMsg: "big-endian"},
		{name: "no_pe_header", data: kerneltest.Arm64Image(kerneltest.Arm64Options{NoPE: true}), wantErr: ErrNoLength},
		{name: "pe_pointer_outside", data: mutated(unsigned, func(b []byte) { le.PutUint32(b[0x3C:], 0xFFFF0) }), wantErr: ErrBadPE},
		{name: "pe_magic_wrong", data: mutated(unsigned, func(b []byte) { b[0x41] = 'X' }), wantErr: ErrBadPE},
		{name: "pe_machine_x86", data: mutated(unsigned, func(b []byte) { le.PutUint16(b[0x44:], 0x8664) }), wantErr: ErrBadPE, wantMsg: "machine 0x8664"},
		{name: "pe32_not_plus", data: mutated(unsigned, func(b []byte) { le.PutUint16(b[0x58:], 0x10B) }), wantErr: ErrBadPE},
		{name: "size_of_image_differs", data: mutated(unsigned, func(b []byte) { le.PutUint32(b[0x58+56:], 0x5000) }), wantErr: ErrBadPE, wantMsg: "SizeOfImage"},
		{
			// A file larger than image_size+text_offset does not fit the
			// kernel segment kexec_file_load makes.
			name: "file_larger_than_image_size",
			data: mutated(signed, func(b []byte) {
				le.PutUint64(b[0x10:], arm64RawEnd+8)
				le.PutUint32(b[0x58+56:], arm64RawEnd+8)
				le.PutUint32(b[kerneltest.Arm64Checksum:], kerneltest.PEChecksum(b, kerneltest.Arm64Checksum))
			}),
			wantErr: ErrTrailingData, wantMsg: "image_size",
		},
		{name: "section_inside_headers", data: mutated(unsigned, func(b []byte) { le.PutUint32(b[0x58+160+20:], 0x200) }), wantErr: ErrBadPE},
		{name: "no_banner", data: mutated(unsigned, func(b []byte) { replaceAll(b, "Linux version ", "Linux Version ") }), wantErr: ErrNoVersion},
		{name: "no_uts_record", data: kerneltest.Arm64Image(kerneltest.Arm64Options{NoUTS: true}), wantErr: ErrNoVersion, wantMsg: "uts_namespace"},
		{
			name:    "uts_record_disagrees",
			data:    mutated(unsigned, func(b []byte) { replaceLast(b, "#1 SMP", "#2 SMP") }),
			wantErr: ErrNoVersion,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArm64Image(tt.data)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseArm64Image(%d bytes) error = %v; want %v", len(tt.data), err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("ParseArm64Image(%d bytes) error = %q; want it to contain %q", len(tt.data), err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseArm64Image(%d bytes) error = %v; want nil", len(tt.data), err)
			}
			if got != tt.want {
				t.Errorf("ParseArm64Image(%d bytes) = %+v; want %+v", len(tt.data), got, tt.want)
			}
		})
	}
}

// replaceAll replaces every old in b with new, of the same length.
func replaceAll(b []byte, old, new string) {
	copy(b, bytes.ReplaceAll(b, []byte(old), []byte(new)))
}

// replaceLast replaces the last old in b with new, of the same length.
func replaceLast(b []byte, old, new string) {
	if i := bytes.LastIndex(b, []byte(old)); i >= 0 {
		copy(b[i:], new)
	}
}

func TestParseArm64Packed(t *testing.T) {
	signed := kerneltest.Arm64Image(kerneltest.Arm64Options{Signed: true})
	unsigned := kerneltest.Arm64Image(kerneltest.Arm64Options{})
	gz := kerneltest.Gzip(signed)
	zboot := kerneltest.Zboot(unsigned, kerneltest.ZbootOptions{Signed: true})
	le := binary.LittleEndian
	tests := []struct {
		name                  string
		data                  []byte
		wantFormat            Format
		wantSigned, wantOuter bool
		wantUnpacked          []byte
		wantErr               error
		wantMsg               string
	}{
		{name: "image_gz_of_a_signed_image", data: gz, wantFormat: FormatImageGz, wantSigned: true, wantUnpacked: signed},
		{name: "image_gz_of_an_unsigned_image", data: kerneltest.Gzip(unsigned), wantFormat: FormatImageGz, wantUnpacked: unsigned},
		{
			// The usual zboot: the container is signed, the Image inside is
			// not, and kexec_file_load sees only the Image.
			name: "zboot_signed_container", data: zboot, wantFormat: FormatZboot, wantOuter: true, wantUnpacked: unsigned,
		},
		{name: "zboot_unsigned", data: kerneltest.Zboot(unsigned, kerneltest.ZbootOptions{}), wantFormat: FormatZboot, wantUnpacked: unsigned},
		{name: "zboot_of_a_signed_image", data: kerneltest.Zboot(signed, kerneltest.ZbootOptions{}), wantFormat: FormatZboot, wantSigned: true, wantUnpacked: signed},
		{name: "image_gz_cut", data: gz[:len(gz)-1], wantErr: ErrTruncated},
		{name: "image_gz_cut_in_the_stream", data: gz[:len(gz)/2], wantErr: ErrTruncated},
		{name: "image_gz_crc_flipped", data: mutated(gz, func(b []byte) { b[len(b)-6] ^= 1 }), wantErr: ErrChecksum},
		{name: "image_gz_trailing_data", data: append(bytes.Clone(gz), 0, 0), wantErr: ErrTrailingData},
		{name: "image_gz_of_a_truncated_image", data: kerneltest.Gzip(signed[:len(signed)-1]), wantErr: ErrTruncated, wantMsg: "unpacked from gzip"},
		{name: "image_gz_of_garbage", data: kerneltest.Gzip([]byte("not a kernel")), wantErr: ErrNotArm64Image},
		{name: "zboot_cut", data: zboot[:len(zboot)-1], wantErr: ErrTruncated, wantMsg: "EFI zboot container"},
		{name: "zboot_byte_flipped", data: mutated(zboot, func(b []byte) { b[kerneltest.Arm64HeadersSize+0x300] ^= 4 }), wantErr: ErrChecksum},
		{name: "zboot_zstd", data: kerneltest.Zboot(unsigned, kerneltest.ZbootOptions{Compression: "zstd"}), wantErr: ErrUnsupportedCompression, wantMsg: `"zstd"`},
		{name: "zboot_riscv", data: kerneltest.Zboot(unsigned, kerneltest.ZbootOptions{Machine: 0x5064}), wantErr: ErrWrongArch},
		{
			name:    "zboot_payload_outside",
			data:    mutated(kerneltest.Zboot(unsigned, kerneltest.ZbootOptions{}), func(b []byte) { le.PutUint32(b[12:], 1<<20) }),
			wantErr: ErrBadPE, wantMsg: "payload",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im, unpacked, err := LoadableImage(ArchARM64, tt.data)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("LoadableImage(arm64, %d bytes) error = %v; want %v with %q", len(tt.data), err, tt.wantErr, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadableImage(arm64, %d bytes) error = %v; want nil", len(tt.data), err)
			}
			if im.Format != tt.wantFormat || !im.Format.Packed() || im.Signed != tt.wantSigned || im.ContainerSigned != tt.wantOuter {
				t.Errorf("LoadableImage(arm64, %d bytes) = %s, signed %t, container signed %t; want %s, %t, %t",
					len(tt.data), im.Format, im.Signed, im.ContainerSigned, tt.wantFormat, tt.wantSigned, tt.wantOuter)
			}
			if !bytes.Equal(unpacked, tt.wantUnpacked) || im.Unpacked != int64(len(tt.wantUnpacked)) || im.Size != int64(len(tt.data)) {
				t.Errorf("LoadableImage(arm64, %d bytes) = %d unpacked bytes (Unpacked %d, Size %d); want the %d-byte Image",
					len(tt.data), len(unpacked), im.Unpacked, im.Size, len(tt.wantUnpacked))
			}
			if im.Checks&CheckGzipCRC == 0 || im.Release != kerneltest.DefaultArm64Release || im.Build != kerneltest.DefaultArm64Build {
				t.Errorf("LoadableImage(arm64, %d bytes) = checks %s, %q %q; want gzip-crc32 checked and the default release", len(tt.data), im.Checks, im.Release, im.Build)
			}
		})
	}
}

func TestSplitBanner(t *testing.T) {
	tests := []struct {
		name           string
		banner         string
		release, build string
		ok             bool
	}{
		{"debian_6_12", "6.12.118+deb13-cloud-arm64 (debian-kernel@lists.debian.org) (aarch64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0, GNU ld (GNU Binutils for Debian) 2.44) #1 SMP Debian 6.12.118-1 (2026-11-20)",
			"6.12.118+deb13-cloud-arm64", "#1 SMP Debian 6.12.118-1 (2026-11-20)", true},
		{"placeholder_build", "6.1.0-57-cloud-arm64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) # SMP Debian 6.1.192-3 (2026-11-26)",
			"6.1.0-57-cloud-arm64", "# SMP Debian 6.1.192-3 (2026-11-26)", true},
		{"old_style_gcc_version", "4.19.0-20-arm64 (debian-kernel@lists.debian.org) (gcc version 8.3.0 (Debian 8.3.0-6)) #1 SMP Debian 4.19.235-1 (2022-03-17)",
			"4.19.0-20-arm64", "#1 SMP Debian 4.19.235-1 (2022-03-17)", true},
		{"builder_only", "6.8.0 (root@host) #50-Ubuntu SMP Sat Nov  9 17:58:29 UTC 2024", "6.8.0", "#50-Ubuntu SMP Sat Nov  9 17:58:29 UTC 2024", true},
		{"format_string_of_proc_version", "%s (debian-kernel@lists.debian.org) (gcc) %s", "", "", false},
		{"unbalanced_group", "6.1.0 (a (b) #1 SMP", "", "", false},
		{"no_build", "6.1.0 (a) (b)", "", "", false},
		{"build_without_hash", "6.1.0 (a) 1 SMP", "", "", false},
		{"hash_alone", "6.1.0 (a) #", "", "", false},
		{"control_byte", "6.1.0 (a) #1\tSMP", "", "", false},
		{"four_groups", "6.1.0 (a) (b) (c) (d) #1", "", "", false},
		{"no_release", " (a) #1", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release, build, ok := splitBanner(tt.banner)
			if release != tt.release || build != tt.build || ok != tt.ok {
				t.Errorf("splitBanner(%q) = %q, %q, %t; want %q, %q, %t", tt.banner, release, build, ok, tt.release, tt.build, tt.ok)
			}
		})
	}
}

func TestArm64PageSize(t *testing.T) {
	for flags, want := range map[uint64]int{0x0: 0, 0x2: 4096, 0xA: 4096, 0x4: 16384, 0x6: 65536, 0xE: 65536} {
		if got := (Arm64Header{Flags: flags}).PageSize(); got != want {
			t.Errorf("Arm64Header{Flags: 0x%X}.PageSize() = %d; want %d", flags, got, want)
		}
	}
}

func FuzzParseArm64Image(f *testing.F) {
	f.Add(kerneltest.Arm64Image(kerneltest.Arm64Options{}))
	f.Add(kerneltest.Arm64Image(kerneltest.Arm64Options{Signed: true, PlaceholderBanner: true}))
	f.Add(kerneltest.Arm64Image(kerneltest.Arm64Options{Signed: true, NoChecksum: true}))
	f.Add(kerneltest.Arm64Image(kerneltest.Arm64Options{Signed: true, Truncate: 13000}))
	f.Add(kerneltest.Arm64Image(kerneltest.Arm64Options{NoPE: true}))
	f.Add(kerneltest.Gzip(kerneltest.Arm64Image(kerneltest.Arm64Options{})))
	f.Add(kerneltest.Zboot(kerneltest.Arm64Image(kerneltest.Arm64Options{}), kerneltest.ZbootOptions{Signed: true}))
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParseArm64(t, data)
		// Most mutations break the PE CheckSum; check the image with it
		// repaired too, so that the checks after it see many inputs.
		if fixed, ok := withValidPEChecksum(data); ok {
			checkParseArm64(t, fixed)
		}
	})
}

// checkParseArm64 checks the properties of ParseArm64Image on data: it
// fails only with the sentinel errors; an image it accepts is an arm64 one
// of the file's size, whose release and build the banner and the
// uts_namespace record both hold, with the checks its layout calls for,
// that LoadableImage returns as it is or unpacked; and a raw Image is not
// accepted once cut by a byte or once a byte is appended.
func checkParseArm64(t *testing.T, data []byte) {
	t.Helper()
	im, err := ParseArm64Image(data)
	if err != nil {
		for _, sentinel := range []error{ErrNotArm64Image, ErrNoLength, ErrBadPE, ErrTruncated, ErrChecksum, ErrTrailingData,
			ErrBadSignatureTable, ErrNoVersion, ErrUnsupportedCompression, ErrTooLarge, ErrWrongArch} {
			if errors.Is(err, sentinel) {
				return
			}
		}
		t.Fatalf("ParseArm64Image(%d bytes) error = %v; want one of the sentinel errors", len(data), err)
	}
	if im.Arch != ArchARM64 || im.Size != int64(len(data)) || im.CmdlineMax != Arm64CommandLineSize-1 {
		t.Fatalf("ParseArm64Image(%d bytes) = %s, size %d, cmdline max %d; want arm64, %d, %d", len(data), im.Arch, im.Size, im.CmdlineMax, len(data), Arm64CommandLineSize-1)
	}
	if im.Release == "" || strings.ContainsAny(im.Release, " ()") || !strings.HasPrefix(im.Build, "#") ||
		!strings.HasPrefix(im.Version, im.Release+" (") || !strings.HasSuffix(im.Version, ") "+im.Build) {
		t.Fatalf("ParseArm64Image(%d bytes) = version %q, release %q, build %q; want the release to open the banner and the build to close it", len(data), im.Version, im.Release, im.Build)
	}
	full, loadable, err := LoadableImage(ArchARM64, data)
	if err != nil || full != im {
		t.Fatalf("LoadableImage(arm64, %d bytes) = %+v, %v; want %+v", len(data), full, err, im)
	}
	if !bytes.Contains(loadable, []byte("Linux version "+im.Version+"\n")) || !hasUTSRecord(loadable, im.Release, im.Build) {
		t.Fatalf("LoadableImage(arm64, %d bytes): the banner or uts record of %q is not in the %d bytes to load", len(data), im.Version, len(loadable))
	}
	if im.Checks&CheckSize == 0 || im.Signed != (im.Checks&CheckSignatureTable != 0) || im.Format.Packed() != (im.Checks&CheckGzipCRC != 0) {
		t.Fatalf("ParseArm64Image(%d bytes) = %s, signed %t, checks %s; want size checked, the signature table when signed, gzip-crc32 when packed", len(data), im.Format, im.Signed, im.Checks)
	}
	if im.Format.Packed() {
		if im.Unpacked != int64(len(loadable)) || bytes.Equal(loadable, data) {
			t.Fatalf("LoadableImage(arm64, %s of %d bytes) = %d bytes, Unpacked %d; want the unpacked Image", im.Format, len(data), len(loadable), im.Unpacked)
		}
		inner, err := ParseArm64Image(loadable)
		if err != nil || inner.Release != im.Release || inner.Signed != im.Signed {
			t.Fatalf("ParseArm64Image(the Image unpacked from %s) = %+v, %v; want it valid with the same release and signature", im.Format, inner, err)
		}
		return
	}
	if im.Format != FormatImage || im.Unpacked != 0 || !bytes.Equal(loadable, data) {
		t.Fatalf("LoadableImage(arm64, %d bytes) = %s, %d bytes, Unpacked %d; want the raw Image as it is", len(data), im.Format, len(loadable), im.Unpacked)
	}
	if _, err := ParseArm64Image(data[:len(data)-1]); err == nil {
		t.Fatalf("ParseArm64Image accepts %d bytes and the same cut by one byte", len(data))
	}
	if _, err := ParseArm64Image(append(bytes.Clone(data), 0)); err == nil {
		t.Fatalf("ParseArm64Image accepts %d bytes and the same with a byte appended", len(data))
	}
}

// withValidPEChecksum returns a copy of a raw arm64 Image with the PE
// CheckSum that sbsign would store, when the header says where it goes.
func withValidPEChecksum(data []byte) ([]byte, bool) {
	pe, err := parsePE(data)
	if err != nil || detectFormat(data) != FormatImage {
		return nil, false
	}
	fixed := bytes.Clone(data)
	binary.LittleEndian.PutUint32(fixed[pe.checksumOff:], peChecksum(fixed, pe.checksumOff))
	return fixed, true
}

func TestPEChecksum(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		at   int
	}{
		{"signed_arm64_image", kerneltest.Arm64Image(kerneltest.Arm64Options{Signed: true}), kerneltest.Arm64Checksum},
		{"odd_length", append(kerneltest.Arm64Image(kerneltest.Arm64Options{}), 0x7F), kerneltest.Arm64Checksum},
		{"field_at_odd_offset", bytes.Repeat([]byte{0xFF, 0x01, 0x80}, 1001), 7},
		{"all_ones_folding", bytes.Repeat([]byte{0xFF}, 65538), 0},
		{"empty", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := peChecksum(tt.data, tt.at), kerneltest.PEChecksum(tt.data, tt.at); got != want {
				t.Errorf("peChecksum(%d bytes, %d) = 0x%08x; want 0x%08x (kerneltest.PEChecksum)", len(tt.data), tt.at, got, want)
			}
		})
	}
}

func FuzzPEChecksum(f *testing.F) {
	f.Add([]byte("MZ\x00\x01\x02"), 2)
	f.Add(bytes.Repeat([]byte{0xFF}, 70), 1)
	f.Fuzz(func(t *testing.T, data []byte, at int) {
		if at < 0 || at > len(data) {
			at = len(data)
		}
		sum := peChecksum(data, at)
		if want := kerneltest.PEChecksum(data, at); sum != want {
			t.Fatalf("peChecksum(%x, %d) = 0x%08x; want 0x%08x (kerneltest.PEChecksum)", data, at, sum, want)
		}
		// The CheckSum field does not count: changing it changes nothing.
		if at+4 <= len(data) {
			changed := bytes.Clone(data)
			changed[at] ^= 0xFF
			if peChecksum(changed, at) != sum {
				t.Fatalf("peChecksum(%x, %d) depends on the CheckSum field itself", data, at)
			}
		}
		// Any one byte flipped outside the field changes the sum.
		for i := range data {
			if i >= at && i < at+4 {
				continue
			}
			changed := bytes.Clone(data)
			changed[i] ^= 0x01
			if peChecksum(changed, at) == sum {
				t.Fatalf("peChecksum(%x, %d) misses a flipped bit at %d", data, at, i)
			}
			break
		}
	})
}
