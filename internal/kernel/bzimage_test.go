package kernel

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel/kerneltest"
)

// Layout of kerneltest images with default options.
const (
	testSetup     = (kerneltest.SetupSects + 1) * 512
	testBase      = testSetup + kerneltest.DefaultPayloadSize
	testCertSize  = 1472
	testOptHeader = kerneltest.PEOffset + 24
)

// defaultImage is what ParseImage returns for a kerneltest image built
// with default options, size bytes long.
func defaultImage(size int64, signed bool) Image {
	checks := CheckSize | CheckCRC32
	if signed {
		checks |= CheckSignatureTable
	}
	return Image{
		Arch: ArchAMD64, Format: FormatBzImage, Checks: checks,
		Size: size, Protocol: 0x020F, SetupSects: kerneltest.SetupSects,
		PayloadSize: kerneltest.DefaultPayloadSize, Signed: signed, CmdlineMax: 2047,
		LoadFlags: 0x01, XLoadFlags: 0x7F,
		Version: kerneltest.DefaultRelease + " (" + kerneltest.DefaultBuilder + ") " + kerneltest.DefaultBuild,
		Release: kerneltest.DefaultRelease, Build: kerneltest.DefaultBuild,
	}
}

// noCRCImage is what ParseImage returns for a kerneltest image of
// NoCRCRelease built with default options otherwise.
func noCRCImage(size, tail int64, signed bool) Image {
	im := defaultImage(size, signed)
	im.Checks &^= CheckCRC32
	im.NoCRC, im.Tail = true, tail
	im.Version = kerneltest.NoCRCRelease + " (" + kerneltest.DefaultBuilder + ") " + kerneltest.NoCRCBuild
	im.Release, im.Build = kerneltest.NoCRCRelease, kerneltest.NoCRCBuild
	return im
}

// mutated returns a copy of img changed by edit.
func mutated(img []byte, edit func(b []byte)) []byte {
	b := append([]byte(nil), img...)
	edit(b)
	return b
}

func TestParseImage(t *testing.T) {
	unsigned := kerneltest.BzImage(kerneltest.Options{})
	signed := kerneltest.BzImage(kerneltest.Options{Signed: true})
	tests := []struct {
		name    string
		data    []byte
		want    Image  // checked when wantErr is nil
		wantErr error  // errors.Is target
		wantMsg string // exact error text when not empty
	}{
		{
			name: "unsigned",
			data: unsigned,
			want: defaultImage(testBase, false),
		},
		{
			name: "signed",
			data: signed,
			want: defaultImage(testBase+testCertSize, true),
		},
		{
			name: "no_crc_unsigned",
			data: kerneltest.BzImage(kerneltest.Options{NoCRC: true, Release: kerneltest.NoCRCRelease, Build: kerneltest.NoCRCBuild}),
			want: noCRCImage(testBase, 0, false),
		},
		{
			name: "no_crc_signed",
			data: kerneltest.BzImage(kerneltest.Options{NoCRC: true, Signed: true, Release: kerneltest.NoCRCRelease, Build: kerneltest.NoCRCBuild}),
			want: noCRCImage(testBase+testCertSize, 0, true),
		},
		{
			// A byte of a ≥ 6.15 image flipped: nothing in the image can
			// tell; dpkg's md5sums must (host.Digest).
			name: "no_crc_payload_byte_flipped_passes",
			data: mutated(kerneltest.BzImage(kerneltest.Options{NoCRC: true, Signed: true, Release: kerneltest.NoCRCRelease, Build: kerneltest.NoCRCBuild}),
				func(b []byte) { b[testSetup+10] ^= 0x40 }),
			want: noCRCImage(testBase+testCertSize, 0, true),
		},
		{
			name: "no_crc_field_not_zero_passes",
			data: mutated(kerneltest.BzImage(kerneltest.Options{NoCRC: true, Release: kerneltest.NoCRCRelease, Build: kerneltest.NoCRCBuild}),
				func(b []byte) { b[testBase-1] = 0x5A }),
			want: noCRCImage(testBase, 0, false),
		},
		{
			name: "no_crc_signed_with_tail_like_6_18",
			data: kerneltest.BzImage(kerneltest.Options{NoCRC: true, Signed: true, Tail: 100, Release: kerneltest.NoCRCRelease, Build: kerneltest.NoCRCBuild}),
			want: noCRCImage(testBase+104+testCertSize, 104, true),
		},
		{
			name: "no_crc_unsigned_with_tail_has_no_size_check",
			data: kerneltest.BzImage(kerneltest.Options{NoCRC: true, Tail: 100, Release: kerneltest.NoCRCRelease, Build: kerneltest.NoCRCBuild}),
			want: func() Image {
				im := noCRCImage(testBase+100, 100, false)
				im.Checks = 0
				return im
			}(),
		},
		{
			name:    "no_crc_signed_tail_cut",
			data:    kerneltest.BzImage(kerneltest.Options{NoCRC: true, Signed: true, Tail: 100, Truncate: testBase + 50, Release: kerneltest.NoCRCRelease, Build: kerneltest.NoCRCBuild}),
			wantErr: ErrTruncated,
			wantMsg: "kernel image truncated: 6194 bytes, certificate table ends at 7720",
		},
		{
			name:    "no_crc_truncated_in_payload",
			data:    kerneltest.BzImage(kerneltest.Options{NoCRC: true, Signed: true, Truncate: testBase - 1, Release: kerneltest.NoCRCRelease, Build: kerneltest.NoCRCBuild}),
			wantErr: ErrTruncated,
			wantMsg: "kernel image truncated: 6143 bytes, header says 6144",
		},
		{
			name: "no_crc_table_misaligned_after_tail",
			data: mutated(kerneltest.BzImage(kerneltest.Options{NoCRC: true, Signed: true, Tail: 100, Release: kerneltest.NoCRCRelease, Build: kerneltest.NoCRCBuild}),
				func(b []byte) { binary.LittleEndian.PutUint32(b[testOptHeader+144:], testBase+103) }),
			wantErr: ErrBadSignatureTable,
			wantMsg: "kernel image has a malformed signature table: certificate table at offset 6247, payload ends at 6144",
		},
		{
			name:    "crc_release_with_zero_crc",
			data:    kerneltest.BzImage(kerneltest.Options{NoCRC: true, Release: "6.12.118+deb13-cloud-amd64"}),
			wantErr: ErrChecksum,
			wantMsg: "kernel image checksum mismatch: stored 0x00000000 at offset 6140, computed 0xcde0b749",
		},
		{
			name:    "crc_release_with_tail",
			data:    kerneltest.BzImage(kerneltest.Options{Tail: 100}),
			wantErr: ErrTrailingData,
		},
		{
			name:    "crc_release_signed_with_tail",
			data:    kerneltest.BzImage(kerneltest.Options{Signed: true, Tail: 100}),
			wantErr: ErrBadSignatureTable,
			wantMsg: "kernel image has a malformed signature table: certificate table at offset 6248, payload ends at 6144",
		},
		{
			name: "certificate_table_empty",
			data: mutated(kerneltest.BzImage(kerneltest.Options{}), func(b []byte) {
				binary.LittleEndian.PutUint32(b[testOptHeader+144:], testBase)
			}),
			wantErr: ErrBadSignatureTable,
			wantMsg: "kernel image has a malformed signature table: certificate table at offset 6144 is empty",
		},
		{
			name: "other_release_and_protocol",
			data: kerneltest.BzImage(kerneltest.Options{Release: "6.8.0-50-generic", Build: "#50-Ubuntu SMP PREEMPT_DYNAMIC Sat Nov  9 17:58:29 UTC 2024", Protocol: 0x020C, PayloadSize: 100}),
			want: Image{
				Arch: ArchAMD64, Format: FormatBzImage, Checks: CheckSize | CheckCRC32,
				Size: testSetup + 112, Protocol: 0x020C, SetupSects: kerneltest.SetupSects,
				PayloadSize: 112, CmdlineMax: 2047, LoadFlags: 0x01, XLoadFlags: 0x7F,
				Version: "6.8.0-50-generic (" + kerneltest.DefaultBuilder + ") #50-Ubuntu SMP PREEMPT_DYNAMIC Sat Nov  9 17:58:29 UTC 2024",
				Release: "6.8.0-50-generic", Build: "#50-Ubuntu SMP PREEMPT_DYNAMIC Sat Nov  9 17:58:29 UTC 2024",
			},
		},
		{
			name: "signed_with_pe_checksum_changed",
			data: mutated(signed, func(b []byte) { binary.LittleEndian.PutUint32(b[testOptHeader+64:], 0xDEADBEEF) }),
			want: defaultImage(testBase+testCertSize, true),
		},
		{
			name: "signature_removed_like_sbattach",
			data: mutated(signed[:testBase], func(b []byte) { clear(b[testOptHeader+144 : testOptHeader+152]) }),
			want: defaultImage(testBase, false),
		},
		{
			name:    "truncated_in_payload",
			data:    kerneltest.BzImage(kerneltest.Options{Signed: true, Truncate: 5000}),
			wantErr: ErrTruncated,
			wantMsg: "kernel image truncated: 5000 bytes, header says 6144",
		},
		{
			name:    "truncated_in_setup_area",
			data:    kerneltest.BzImage(kerneltest.Options{Truncate: 1000}),
			wantErr: ErrTruncated,
			wantMsg: "kernel image truncated: 1000 bytes, setup area is 4096",
		},
		{
			name:    "truncated_in_signature",
			data:    kerneltest.BzImage(kerneltest.Options{Signed: true, Truncate: testBase + 100}),
			wantErr: ErrTruncated,
			wantMsg: "kernel image truncated: 6244 bytes, certificate table ends at 7616",
		},
		{
			name:    "signature_cut_off_at_base",
			data:    signed[:testBase],
			wantErr: ErrTruncated,
		},
		{
			name:    "corrupt_crc",
			data:    kerneltest.BzImage(kerneltest.Options{CorruptCRC: true}),
			wantErr: ErrChecksum,
		},
		{
			name:    "payload_byte_flipped",
			data:    mutated(signed, func(b []byte) { b[testSetup+10] ^= 0x40 }),
			wantErr: ErrChecksum,
		},
		{
			name:    "setup_byte_flipped",
			data:    mutated(unsigned, func(b []byte) { b[0x300] ^= 1 }),
			wantErr: ErrChecksum,
		},
		{
			name:    "unsigned_trailing_data",
			data:    kerneltest.BzImage(kerneltest.Options{Trailing: 10}),
			wantErr: ErrTrailingData,
			wantMsg: "kernel image has trailing data: 10 bytes after the payload ends at 6144, and no certificate table",
		},
		{
			name:    "signed_trailing_data",
			data:    kerneltest.BzImage(kerneltest.Options{Signed: true, Trailing: 8}),
			wantErr: ErrBadSignatureTable,
			wantMsg: "kernel image has a malformed signature table: certificate table ends at 7616, file at 7624",
		},
		{
			name: "certificate_table_elsewhere",
			data: mutated(signed, func(b []byte) {
				binary.LittleEndian.PutUint32(b[testOptHeader+144:], testBase+8)
				binary.LittleEndian.PutUint32(b[testOptHeader+148:], testCertSize-8)
			}),
			wantErr: ErrBadSignatureTable,
		},
		{
			name:    "certificate_bad_revision",
			data:    mutated(signed, func(b []byte) { b[testBase+5] = 0x03 }),
			wantErr: ErrBadSignatureTable,
		},
		{
			name:    "certificate_type_zero",
			data:    mutated(signed, func(b []byte) { b[testBase+6] = 0 }),
			wantErr: ErrBadSignatureTable,
		},
		{
			name:    "certificate_length_past_table",
			data:    mutated(signed, func(b []byte) { binary.LittleEndian.PutUint32(b[testBase:], testCertSize+1) }),
			wantErr: ErrBadSignatureTable,
		},
		{
			name: "certificate_empty_second_entry",
			data: mutated(signed, func(b []byte) {
				binary.LittleEndian.PutUint32(b[testBase:], testCertSize-9)
				clear(b[testBase+testCertSize-8:])
			}),
			wantErr: ErrBadSignatureTable,
			wantMsg: "kernel image has a malformed signature table: entry at offset 7608 has length 0, table ends at 7616",
		},
		{
			name: "certificate_padding_past_table",
			data: mutated(signed[:testBase+testCertSize-2], func(b []byte) {
				binary.LittleEndian.PutUint32(b[testOptHeader+148:], testCertSize-2)
				binary.LittleEndian.PutUint32(b[testBase:], testCertSize-3)
			}),
			wantErr: ErrBadSignatureTable,
			wantMsg: "kernel image has a malformed signature table: padding of entry at offset 7613 runs past the table end 7614",
		},
		{
			name: "certificate_stray_bytes",
			data: mutated(signed[:testBase+testCertSize-2], func(b []byte) {
				binary.LittleEndian.PutUint32(b[testOptHeader+148:], testCertSize-2)
				binary.LittleEndian.PutUint32(b[testBase:], testCertSize-11)
			}),
			wantErr: ErrBadSignatureTable,
			wantMsg: "kernel image has a malformed signature table: 6 stray bytes at offset 7608",
		},
		{
			name: "certificate_unpadded_last_entry",
			data: mutated(signed[:testBase+testCertSize-2], func(b []byte) {
				binary.LittleEndian.PutUint32(b[testOptHeader+148:], testCertSize-2)
				binary.LittleEndian.PutUint32(b[testBase:], testCertSize-2)
			}),
			want: defaultImage(testBase+testCertSize-2, true),
		},
		{
			name:    "old_protocol",
			data:    kerneltest.BzImage(kerneltest.Options{Protocol: 0x020B}),
			wantErr: ErrOldProtocol,
			wantMsg: "kernel boot protocol too old: protocol 2.11 at 0x206, need 2.12 or later",
		},
		{
			name:    "no_hdrs_magic",
			data:    mutated(unsigned, func(b []byte) { copy(b[0x202:], "HdrX") }),
			wantErr: ErrNotBzImage,
			wantMsg: `not a bzImage: no "HdrS" at 0x202 (found "HdrX")`,
		},
		{
			name:    "no_boot_flag",
			data:    mutated(unsigned, func(b []byte) { b[0x1FE] = 0 }),
			wantErr: ErrNotBzImage,
		},
		{
			name:    "zimage",
			data:    mutated(unsigned, func(b []byte) { b[0x211] = 0 }),
			wantErr: ErrNotBzImage,
		},
		{
			name:    "no_payload",
			data:    mutated(unsigned, func(b []byte) { clear(b[0x1F4:0x1F8]) }),
			wantErr: ErrNotBzImage,
		},
		{
			name:    "tiny_file",
			data:    []byte("MZ"),
			wantErr: ErrNotBzImage,
			wantMsg: "not a bzImage: 2 bytes, too short for a boot header (572 bytes)",
		},
		{
			name:    "no_version_pointer",
			data:    mutated(unsigned, func(b []byte) { clear(b[0x20E:0x210]) }),
			wantErr: ErrNoVersion,
		},
		{
			name:    "version_pointer_past_setup",
			data:    mutated(unsigned, func(b []byte) { binary.LittleEndian.PutUint16(b[0x20E:], testSetup) }),
			wantErr: ErrNoVersion,
		},
		{
			name: "version_without_nul",
			data: mutated(unsigned, func(b []byte) {
				copy(b[testSetup-4:testSetup], "abcd")
				binary.LittleEndian.PutUint16(b[0x20E:], testSetup-4-0x200)
			}),
			wantErr: ErrNoVersion,
		},
		{
			name:    "version_malformed",
			data:    mutated(unsigned, func(b []byte) { copy(b[kerneltest.VersionOffset:], "6.1.0\x00") }),
			wantErr: ErrNoVersion,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseImage(tt.data)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseImage(%d bytes) error = %v; want %v", len(tt.data), err, tt.wantErr)
				}
				if tt.wantMsg != "" && err.Error() != tt.wantMsg {
					t.Errorf("ParseImage(%d bytes) error = %q; want %q", len(tt.data), err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseImage(%d bytes) error = %v; want nil", len(tt.data), err)
			}
			if got != tt.want {
				t.Errorf("ParseImage(%d bytes) = %+v; want %+v", len(tt.data), got, tt.want)
			}
			if !got.Kernel64() {
				t.Errorf("ParseImage(%d bytes).Kernel64() = false; want true", len(tt.data))
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	signed := kerneltest.BzImage(kerneltest.Options{Signed: true, Release: "6.1.0-51-cloud-amd64"})
	tests := []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{"setup_area_only", signed[:HeaderBytes(signed)], nil},
		{"whole_file", signed, nil},
		{"truncated_payload_reads_fine", signed[:testSetup+1], nil},
		{"one_byte_short", signed[:HeaderBytes(signed)-1], ErrTruncated},
		{"first_sector_only", signed[:512], ErrNotBzImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseHeader(tt.data)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ParseHeader(%d bytes) error = %v; want %v", len(tt.data), err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got.Release != "6.1.0-51-cloud-amd64" || got.Build != kerneltest.DefaultBuild {
				t.Errorf("ParseHeader(%d bytes) = release %q build %q; want %q, %q", len(tt.data), got.Release, got.Build, "6.1.0-51-cloud-amd64", kerneltest.DefaultBuild)
			}
			if got.Size != 0 || got.Signed {
				t.Errorf("ParseHeader(%d bytes) = Size %d, Signed %v; want 0, false", len(tt.data), got.Size, got.Signed)
			}
			if got.Base() != testBase {
				t.Errorf("ParseHeader(%d bytes).Base() = %d; want %d", len(tt.data), got.Base(), testBase)
			}
		})
	}
}

func TestHeaderBytes(t *testing.T) {
	withSetupSects := func(n byte) []byte {
		b := make([]byte, 512)
		b[0x1F1] = n
		return b
	}
	tests := []struct {
		name string
		data []byte
		want int
	}{
		{"empty", nil, 512},
		{"short_of_setup_sects", make([]byte, 0x1F1), 512},
		{"zero_means_four", withSetupSects(0), 5 * 512},
		{"debian_39", withSetupSects(39), 40 * 512},
		{"maximum", withSetupSects(255), MaxHeaderBytes},
		{"kerneltest_image", kerneltest.BzImage(kerneltest.Options{}), testSetup},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HeaderBytes(tt.data); got != tt.want {
				t.Errorf("HeaderBytes(%d bytes) = %d; want %d", len(tt.data), got, tt.want)
			}
		})
	}
}

func TestSplitVersion(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		wantRelease string
		wantBuild   string
		wantErr     bool
	}{
		{"debian", "6.1.0-50-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)",
			"6.1.0-50-cloud-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)", false},
		{"ubuntu_double_space_kept", "6.8.0-50-generic (buildd@lcy02-amd64-025) #50-Ubuntu SMP PREEMPT_DYNAMIC Sat Nov  9 17:58:29 UTC 2024",
			"6.8.0-50-generic", "#50-Ubuntu SMP PREEMPT_DYNAMIC Sat Nov  9 17:58:29 UTC 2024", false},
		{"empty_builder_user", "6.12.0 (@host) #1 SMP", "6.12.0", "#1 SMP", false},
		{"parentheses_in_build", "6.1.0 (a@b) #1 (x) (y) ", "6.1.0", "#1 (x) (y) ", false},
		{"empty", "", "", "", true},
		{"release_only", "6.1.0-50-cloud-amd64", "", "", true},
		{"no_build", "6.1.0 (a@b) ", "", "", true},
		{"no_closing_parenthesis", "6.1.0 (a@b #1 SMP", "", "", true},
		{"no_release", " (a@b) #1 SMP", "", "", true},
		{"space_in_release", "6.1 .0 (a@b) #1 SMP", "", "", true},
		{"control_byte_in_build", "6.1.0 (a@b) #1\nSMP", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release, build, err := SplitVersion(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrNoVersion) {
					t.Errorf("SplitVersion(%q) = %q, %q, %v; want ErrNoVersion", tt.in, release, build, err)
				}
				return
			}
			if err != nil || release != tt.wantRelease || build != tt.wantBuild {
				t.Errorf("SplitVersion(%q) = %q, %q, %v; want %q, %q, nil", tt.in, release, build, err, tt.wantRelease, tt.wantBuild)
			}
		})
	}
}

func FuzzParseBzImage(f *testing.F) {
	f.Add(kerneltest.BzImage(kerneltest.Options{}))
	f.Add(kerneltest.BzImage(kerneltest.Options{Signed: true, PayloadSize: 64}))
	f.Add(kerneltest.BzImage(kerneltest.Options{Signed: true, Truncate: 4200}))
	f.Add(kerneltest.BzImage(kerneltest.Options{CorruptCRC: true, PayloadSize: 16}))
	f.Add(kerneltest.BzImage(kerneltest.Options{Trailing: 3, PayloadSize: 32}))
	f.Add(kerneltest.BzImage(kerneltest.Options{NoCRC: true, Release: kerneltest.NoCRCRelease, PayloadSize: 32}))
	f.Add(kerneltest.BzImage(kerneltest.Options{NoCRC: true, Signed: true, Tail: 40, Release: "6.18.15+deb13-cloud-amd64", PayloadSize: 48}))
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParseBzImage(t, data)
		// Most mutations break the CRC; check the image with it repaired too,
		// so that the checks after it see many inputs.
		if fixed, ok := withValidCRC(data); ok {
			checkParseBzImage(t, fixed)
		}
	})
}

// checkParseBzImage checks the properties of ParseBzImage on data: it fails
// only with the sentinel errors, and an image it accepts has the file's
// size, reads the same through ParseHeader, and is not accepted once cut
// by a byte.
func checkParseBzImage(t *testing.T, data []byte) {
	t.Helper()
	im, err := ParseBzImage(data)
	if err != nil {
		for _, sentinel := range []error{ErrNotBzImage, ErrOldProtocol, ErrTruncated, ErrChecksum, ErrTrailingData, ErrBadSignatureTable, ErrNoVersion} {
			if errors.Is(err, sentinel) {
				return
			}
		}
		t.Fatalf("ParseBzImage(%d bytes) error = %v; want one of the sentinel errors", len(data), err)
	}
	if im.Size != int64(len(data)) || im.Arch != ArchAMD64 || im.Format != FormatBzImage {
		t.Fatalf("ParseBzImage(%d bytes) = size %d, %s %s; want %d, an amd64 bzImage", len(data), im.Size, im.Arch, im.Format, len(data))
	}
	end := im.Base() + im.Tail // where the payload and its tail end
	if im.Size < end || im.Signed != (im.Size > end) {
		t.Fatalf("ParseBzImage(%d bytes) = Signed %v, Base %d, Tail %d; want Signed exactly when the file is longer than Base+Tail", len(data), im.Signed, im.Base(), im.Tail)
	}
	if im.Tail < 0 || im.Tail > 0 && !im.NoCRC || im.NoCRC == CarriesCRC(im.Release) {
		t.Fatalf("ParseBzImage(%d bytes) = Tail %d, NoCRC %t for release %q; want a tail only without a CRC, and NoCRC = !CarriesCRC", len(data), im.Tail, im.NoCRC, im.Release)
	}
	wantChecks := Checks(0)
	if !im.NoCRC {
		wantChecks |= CheckCRC32
	}
	if im.Signed {
		wantChecks |= CheckSignatureTable
	}
	if im.Signed || im.Tail == 0 {
		wantChecks |= CheckSize
	}
	if im.Checks != wantChecks {
		t.Fatalf("ParseBzImage(%d bytes).Checks = %s; want %s", len(data), im.Checks, wantChecks)
	}
	n := HeaderBytes(data)
	if n > len(data) || n > MaxHeaderBytes {
		t.Fatalf("HeaderBytes(%d bytes) = %d; want at most the data and %d", len(data), n, MaxHeaderBytes)
	}
	hdr, err := ParseHeader(data[:n])
	if err != nil {
		t.Fatalf("ParseBzImage(%d bytes) succeeded but ParseHeader(first %d bytes) error = %v", len(data), n, err)
	}
	if hdr.Release != im.Release || hdr.Build != im.Build || hdr.Version != im.Version || hdr.Base() != im.Base() {
		t.Fatalf("ParseHeader(first %d bytes) = %q, %q, base %d; ParseBzImage = %q, %q, base %d", n, hdr.Release, hdr.Build, hdr.Base(), im.Release, im.Build, im.Base())
	}
	cut, err := ParseBzImage(data[:len(data)-1])
	switch {
	case !im.Signed && im.Tail > 0:
		// Nothing records the length of an unsigned image's tail.
		if err != nil || cut.Tail != im.Tail-1 {
			t.Fatalf("ParseBzImage of an unsigned image with a %d-byte tail cut by one byte = tail %d, %v; want tail %d, nil", im.Tail, cut.Tail, err, im.Tail-1)
		}
	case err == nil:
		t.Fatalf("ParseBzImage accepts %d bytes and the same cut by one byte", len(data))
	}
}

// withValidCRC returns a copy of data with the CRC32 that build.c would
// store, when the header says where it goes.
func withValidCRC(data []byte) ([]byte, bool) {
	im, err := ParseHeader(data)
	if err != nil || im.Base() > int64(len(data)) {
		return nil, false
	}
	base := int(im.Base())
	fixed := append([]byte(nil), data...)
	zeroed := append([]byte(nil), data[:base-4]...)
	pe := findPE(data, int(im.SetupSize()))
	if pe.checksum >= 0 {
		clear(zeroed[pe.checksum : pe.checksum+4])
	}
	if pe.certDir >= 0 {
		clear(zeroed[pe.certDir : pe.certDir+8])
	}
	binary.LittleEndian.PutUint32(fixed[base-4:], ^crc32.ChecksumIEEE(zeroed))
	return fixed, true
}

func TestCarriesCRC(t *testing.T) {
	tests := []struct {
		release string
		want    bool
	}{
		{"6.1.0-57-cloud-amd64", true},
		{"6.12.118+deb13-cloud-amd64", true},
		{"6.12.95+deb12-cloud-amd64", true},
		{"6.14.11", true},
		{"6.15", false},
		{"6.15-rc1", false},
		{"6.15.0-1-amd64", false},
		{"6.18.15+deb13-cloud-amd64", false},
		{"6.19.14+deb13-cloud-amd64", false},
		{"7.3.4+deb13-cloud-amd64", false},
		{"7.2.12+deb14-cloud-amd64", false},
		{"10.0", false},
		{"5.10.0-33-amd64", true},
		{"6.8.0-50-generic", true},
		{"06.15", false},
		// Not "MAJOR.MINOR": the stricter rule.
		{"", true},
		{"7", true},
		{"7.", true},
		{"v7.3", true},
		{"7.x", true},
		{"9999999.1", true},
	}
	for _, tt := range tests {
		t.Run(strings.NewReplacer(".", "_", "+", "_", "-", "_").Replace(tt.release), func(t *testing.T) {
			if got := CarriesCRC(tt.release); got != tt.want {
				t.Errorf("CarriesCRC(%q) = %t; want %t", tt.release, got, tt.want)
			}
		})
	}
}

func FuzzCarriesCRC(f *testing.F) {
	f.Add("7.3.4+deb13-cloud-amd64")
	f.Add("6.15-rc1")
	f.Add("0006.0015")
	f.Fuzz(func(t *testing.T, release string) {
		// Only a release at or after 6.15 in linux-version order goes
		// without a CRC, and what follows "MAJOR.MINOR" never matters.
		if !CarriesCRC(release) {
			if CompareReleases(release, "6.14.999999") <= 0 {
				t.Fatalf("CarriesCRC(%q) = false, but it sorts before 6.15", release)
			}
			if CarriesCRC(release + "-x") {
				t.Fatalf("CarriesCRC(%q) = false but CarriesCRC(%q) = true", release, release+"-x")
			}
		}
	})
}

func TestChecks(t *testing.T) {
	tests := []struct {
		name      string
		checks    Checks
		wantNames []string
		wantText  string
	}{
		{"none", 0, nil, "none"},
		{"crc_image", CheckSize | CheckCRC32, []string{"size", "crc32"}, "size, crc32"},
		{"signed_crc_image", CheckSignatureTable | CheckCRC32 | CheckSize, []string{"size", "crc32", "signature-table"}, "size, crc32, signature-table"},
		{"signed_without_crc", CheckSize | CheckSignatureTable, []string{"size", "signature-table"}, "size, signature-table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.checks.Names(); !slices.Equal(got, tt.wantNames) {
				t.Errorf("Checks(%d).Names() = %q; want %q", tt.checks, got, tt.wantNames)
			}
			if got := tt.checks.String(); got != tt.wantText {
				t.Errorf("Checks(%d).String() = %q; want %q", tt.checks, got, tt.wantText)
			}
		})
	}
}

func TestCRCStatus(t *testing.T) {
	withCRC, err := ParseImage(kerneltest.BzImage(kerneltest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	noCRC, err := ParseImage(kerneltest.BzImage(kerneltest.Options{NoCRC: true, Release: kerneltest.NoCRCRelease}))
	if err != nil {
		t.Fatal(err)
	}
	header, err := ParseHeader(kerneltest.BzImage(kerneltest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		im   Image
		want string
	}{
		{"crc_checked", withCRC, "crc32: matches"},
		{"linux_7_3", noCRC, "crc: absent (Linux ≥ 6.15 has none)"},
		{"header_only", header, "crc32: not checked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.im.CRCStatus(); got != tt.want {
				t.Errorf("CRCStatus(%s) = %q; want %q", tt.im.Release, got, tt.want)
			}
		})
	}
}

func FuzzSplitVersion(f *testing.F) {
	f.Add("6.1.0-50-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)")
	f.Add("6.8.0-50-generic (buildd@lcy02-amd64-025) #50-Ubuntu SMP PREEMPT_DYNAMIC Sat Nov  9 17:58:29 UTC 2024")
	f.Add("6.1.0 (a) (b) ) c")
	f.Fuzz(func(t *testing.T, s string) {
		release, build, err := SplitVersion(s)
		if err != nil {
			if !errors.Is(err, ErrNoVersion) {
				t.Fatalf("SplitVersion(%q) error = %v; want ErrNoVersion", s, err)
			}
			return
		}
		if release == "" || strings.ContainsAny(release, " \t\n") || strings.TrimSpace(build) == "" {
			t.Fatalf("SplitVersion(%q) = %q, %q; want a release without spaces and a build string", s, release, build)
		}
		if !strings.HasPrefix(s, release+" (") || !strings.HasSuffix(s, ") "+build) {
			t.Fatalf("SplitVersion(%q) = %q, %q; want the release to open it and the build to close it", s, release, build)
		}
		again := release + " (root@localhost) " + build
		r2, b2, err := SplitVersion(again)
		if err != nil || r2 != release || b2 != build {
			t.Fatalf("SplitVersion(%q) = %q, %q, %v; want %q, %q, nil", again, r2, b2, err, release, build)
		}
	})
}
