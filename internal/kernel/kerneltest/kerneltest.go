// Package kerneltest is pure: it builds small synthetic kernel images for
// tests, laid out like signed Debian kernels but a few KiB long: x86
// bzImage files (EFI stub PE header at 0x40, protocol 2.15, CRC32 at the
// end of the payload or zeros there as in Linux 6.15 and later, sbsign's
// certificate table), and arm64 Image files (the arm64 header, the EFI
// stub's PE32+ header with .text and .data, the kernel's banner and
// uts_namespace record, sbsign's certificate table and PE CheckSum), also
// as Image.gz and EFI zboot.
package kerneltest

import (
	"encoding/binary"
	"hash/crc32"
)

// Defaults that BzImage uses for zero Options fields, taken from a Debian
// bookworm cloud kernel.
const (
	DefaultRelease     = "6.1.0-50-cloud-amd64"
	DefaultBuild       = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)"
	DefaultBuilder     = "debian-kernel@lists.debian.org"
	DefaultProtocol    = 0x020F
	DefaultPayloadSize = 2048
	// CmdlineSize is the cmdline_size written at 0x238, as in Debian's
	// kernels (COMMAND_LINE_SIZE 2048 less the NUL).
	CmdlineSize = 2047
	// SetupSects is the setup_sects written at 0x1F1: the setup area is
	// (SetupSects+1)*512 bytes.
	SetupSects = 7
	// VersionOffset is where the kernel_version string starts.
	VersionOffset = 0x800
	// PEOffset is where the PE header starts (e_lfanew), as in real images.
	PEOffset = 0x40
)

// NoCRCRelease and NoCRCBuild are a release without a CRC32 (Linux 6.15
// and later) and its build string, from a trixie-backports kernel.
const (
	NoCRCRelease = "7.3.4+deb13-cloud-amd64"
	NoCRCBuild   = "#1 SMP PREEMPT_DYNAMIC Debian 7.3.4-1~bpo13+1 (2026-11-15)"
)

// Options describe the image BzImage builds. Zero fields take the defaults
// above.
type Options struct {
	// Release and Build make the kernel_version string
	// "<Release> (<DefaultBuilder>) <Build>", cut to fit the setup area
	// (about 2 KiB).
	Release string
	Build   string
	// Signed appends an sbsign-style certificate table and records it in
	// the PE header, and sets a PE CheckSum as sbsign does.
	Signed bool
	// Protocol is the boot protocol version written at 0x206.
	Protocol uint16
	// PayloadSize is the size of the part after the setup area, rounded up
	// to 16 bytes (at least 16).
	PayloadSize int
	// CorruptCRC flips a bit of the stored CRC32.
	CorruptCRC bool
	// NoCRC leaves zeros where the CRC32 goes, as Linux 6.15 and later do;
	// give such an image a Release of 6.15 or later (NoCRCRelease).
	NoCRC bool
	// Tail appends that many bytes of data after the payload, before the
	// certificate table when Signed (which then starts there, rounded up
	// to 8 bytes), as Debian's Linux 6.17 and 6.18 images do.
	Tail int
	// Trailing appends that many bytes of garbage after the image (after
	// the certificate table when Signed), without recording them anywhere.
	Trailing int
	// Truncate, when positive and shorter than the image, cuts the image to
	// that many bytes.
	Truncate int
}

// Offsets of the PE fields that signing fills in.
const (
	optHeader   = PEOffset + 24
	peChecksum  = optHeader + 64
	certDirOffs = optHeader + 144
)

// BzImage returns a small bzImage built from opts.
func BzImage(opts Options) []byte {
	if opts.Release == "" {
		opts.Release = DefaultRelease
	}
	if opts.Build == "" {
		opts.Build = DefaultBuild
	}
	if opts.Protocol == 0 {
		opts.Protocol = DefaultProtocol
	}
	if opts.PayloadSize <= 0 {
		opts.PayloadSize = DefaultPayloadSize
	}
	payload := (opts.PayloadSize + 15) &^ 15
	setup := (SetupSects + 1) * 512
	base := setup + payload

	img := make([]byte, base)
	le := binary.LittleEndian

	// MS-DOS stub and PE header of the EFI stub.
	copy(img, "MZ")
	le.PutUint32(img[0x3C:], PEOffset)
	copy(img[PEOffset:], "PE\x00\x00")
	le.PutUint16(img[PEOffset+4:], 0x8664) // Machine: x86-64
	le.PutUint16(img[PEOffset+6:], 0)      // NumberOfSections
	le.PutUint16(img[PEOffset+20:], 160)   // SizeOfOptionalHeader
	le.PutUint16(img[PEOffset+22:], 0x0206)
	le.PutUint16(img[optHeader:], 0x20B) // PE32+
	le.PutUint32(img[optHeader+56:], uint32(base))
	le.PutUint32(img[optHeader+60:], uint32(setup))
	le.PutUint32(img[optHeader+108:], 6) // NumberOfRvaAndSizes

	// Setup header (boot.rst).
	img[0x1F1] = SetupSects
	le.PutUint32(img[0x1F4:], uint32(payload/16))
	le.PutUint16(img[0x1FE:], 0xAA55)
	img[0x200], img[0x201] = 0xEB, 0x6A
	copy(img[0x202:], "HdrS")
	le.PutUint16(img[0x206:], opts.Protocol)
	le.PutUint16(img[0x20E:], VersionOffset-0x200)
	img[0x211] = 0x01                 // loadflags: LOADED_HIGH
	le.PutUint16(img[0x236:], 0x007F) // xloadflags as in Debian's kernels
	le.PutUint32(img[0x238:], CmdlineSize)

	version := opts.Release + " (" + DefaultBuilder + ") " + opts.Build
	if VersionOffset+len(version)+1 > setup {
		version = version[:setup-VersionOffset-1]
	}
	copy(img[VersionOffset:], version)

	// Payload: deterministic filler.
	x := uint32(2463534242)
	for i := setup; i < base-4; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		img[i] = byte(x)
	}

	// build.c: CRC32 seeded with all ones, no final inversion, over
	// everything before it, written before signing touches the PE header.
	crc := ^crc32.ChecksumIEEE(img[:base-4])
	if opts.CorruptCRC {
		crc ^= 1
	}
	if opts.NoCRC {
		crc = 0
	}
	le.PutUint32(img[base-4:], crc)

	if opts.Tail > 0 {
		tail := opts.Tail
		if opts.Signed {
			tail = (tail + 7) &^ 7
		}
		for i := 0; i < tail; i++ {
			img = append(img, "misc.license=GPL\x00"[i%17])
		}
	}
	if opts.Signed {
		img = appendSignature(img, len(img))
	}
	for i := 0; i < opts.Trailing; i++ {
		img = append(img, byte(0xA5^i))
	}
	if opts.Truncate > 0 && opts.Truncate < len(img) {
		img = img[:opts.Truncate]
	}
	return img
}

// appendSignature adds what sbsign adds at offset at (the end of the
// image): a WIN_CERTIFICATE holding a (fake) PKCS#7 blob, padded to 8
// bytes, its place in the certificate table entry, and a PE CheckSum.
func appendSignature(img []byte, at int) []byte {
	le := binary.LittleEndian
	const sigLen = 1461 // dwLength 1469, padded to 1472 (Debian's tables are 1472 bytes)
	cert := make([]byte, (8+sigLen+7)&^7)
	le.PutUint32(cert[0:], 8+sigLen)
	le.PutUint16(cert[4:], 0x0200) // WIN_CERT_REVISION_2_0
	le.PutUint16(cert[6:], 0x0002) // WIN_CERT_TYPE_PKCS_SIGNED_DATA
	cert[8], cert[9] = 0x30, 0x82  // DER SEQUENCE, two length bytes
	binary.BigEndian.PutUint16(cert[10:], sigLen-4)
	for i := 12; i < 8+sigLen; i++ {
		cert[i] = byte(i * 7)
	}
	le.PutUint32(img[certDirOffs:], uint32(at))
	le.PutUint32(img[certDirOffs+4:], uint32(len(cert)))
	le.PutUint32(img[peChecksum:], uint32(at+len(cert))^0x00D80000)
	return append(img, cert...)
}
