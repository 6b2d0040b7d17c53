package kerneltest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
)

// Defaults that Arm64Image uses for zero Arm64Options fields, taken from a
// Debian trixie cloud kernel.
const (
	DefaultArm64Release = "6.12.118+deb13-cloud-arm64"
	DefaultArm64Build   = "#1 SMP Debian 6.12.118-1 (2026-11-20)"
	// Arm64Compiler is the compiler part of the banner, with the nested
	// parentheses real banners have.
	Arm64Compiler = "aarch64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0, GNU ld (GNU Binutils for Debian) 2.44"
	// Arm64HeadersSize is where the first section starts (SizeOfHeaders).
	Arm64HeadersSize = 0x1000
	// Arm64SectionSize is the default raw size of .text and of .data.
	Arm64SectionSize = 0x1000
	// Arm64BSS is how much image_size exceeds the file's sections.
	Arm64BSS = 0x1000
	// Arm64CertSize is the size of the certificate table Signed appends.
	Arm64CertSize = 1472
	// Arm64PEOffset is e_lfanew, as in real images.
	Arm64PEOffset = 0x40
	// Arm64Checksum is the offset of the PE CheckSum field.
	Arm64Checksum = Arm64PEOffset + 24 + 64
	// Arm64CertDir is the offset of the certificate table entry.
	Arm64CertDir = Arm64PEOffset + 24 + 144
)

// Arm64Options describe the image Arm64Image builds. Zero fields take the
// defaults above.
type Arm64Options struct {
	// Release and Build make the banner
	// "Linux version <Release> (<DefaultBuilder>) (<Arm64Compiler>) <Build>\n"
	// and the uts_namespace record.
	Release string
	Build   string
	// Signed appends an sbsign-style certificate table after the last
	// section, records it in the PE header and sets the PE CheckSum.
	Signed bool
	// NoChecksum leaves the PE CheckSum zero, even when Signed.
	NoChecksum bool
	// PlaceholderBanner puts init/version.o's banner and uts record, with
	// the temporary build number ("# SMP ..." for "#1 SMP ..."), before the
	// real ones, as Debian's images have them.
	PlaceholderBanner bool
	// NoUTS leaves out the uts_namespace record.
	NoUTS bool
	// NoPE builds an Image without the EFI stub's PE header.
	NoPE bool
	// TextSize and DataSize are the raw sizes of .text and .data, rounded
	// up to 512 bytes (the FileAlignment); Arm64SectionSize by default.
	TextSize, DataSize int
	// Trailing appends that many bytes after the image, recorded nowhere.
	Trailing int
	// Truncate, when positive and shorter than the image, cuts it.
	Truncate int
}

// Arm64Image returns a small arm64 Image laid out like Debian's: the arm64
// header and the EFI stub's MS-DOS and PE32+ headers in the first
// Arm64HeadersSize bytes, then .text and .data (which holds the banner and
// the uts_namespace record), then, when signed, the certificate table.
func Arm64Image(opts Arm64Options) []byte {
	if opts.Release == "" {
		opts.Release = DefaultArm64Release
	}
	if opts.Build == "" {
		opts.Build = DefaultArm64Build
	}
	text := roundUp(opts.TextSize, Arm64SectionSize)
	data := roundUp(opts.DataSize, Arm64SectionSize)
	rawEnd := Arm64HeadersSize + text + data
	img := make([]byte, rawEnd)
	le := binary.LittleEndian

	// Filler, so that no two regions look alike.
	x := uint32(88172645)
	for i := Arm64HeadersSize; i < rawEnd; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		img[i] = byte(x) | 0x80 // never a NUL or printable: no stray strings
	}

	// arm64 Image header (booting.rst).
	copy(img, "MZ@\xfa")                              // code0: "MZ" as an instruction
	le.PutUint64(img[0x08:], 0)                       // text_offset
	le.PutUint64(img[0x10:], uint64(rawEnd+Arm64BSS)) // image_size
	le.PutUint64(img[0x18:], 0xA)                     // flags: LE, 4K pages, anywhere
	copy(img[0x38:], "ARM\x64")                       // magic
	le.PutUint32(img[0x3C:], Arm64PEOffset)           // e_lfanew
	if opts.NoPE {
		clear(img[:2])
		le.PutUint32(img[0x3C:], 0)
	} else {
		writeArm64PE(img, text, data, rawEnd)
	}

	// .data: the banners and the uts_namespace records.
	at := Arm64HeadersSize + text + 64
	if opts.PlaceholderBanner {
		// UTS_VERSION with an empty build number: "#1 SMP" → "# SMP".
		n := 1
		for n < len(opts.Build) && opts.Build[n] >= '0' && opts.Build[n] <= '9' {
			n++
		}
		placeholder := "#" + opts.Build[n:]
		at = putBanner(img, at, opts.Release, placeholder, opts.NoUTS)
	}
	putBanner(img, at, opts.Release, opts.Build, opts.NoUTS)

	if opts.Signed && !opts.NoPE {
		img = appendArm64Signature(img, rawEnd)
	}
	if !opts.NoChecksum && opts.Signed && !opts.NoPE {
		le.PutUint32(img[Arm64Checksum:], PEChecksum(img, Arm64Checksum))
	}
	for i := 0; i < opts.Trailing; i++ {
		img = append(img, byte(0xA5^i))
	}
	if opts.Truncate > 0 && opts.Truncate < len(img) {
		img = img[:opts.Truncate]
	}
	return img
}

func roundUp(n, def int) int {
	if n <= 0 {
		n = def
	}
	return (n + 511) &^ 511
}

// writeArm64PE writes the PE32+ header of arm64's efi-header.S: two
// sections, .text and .data, and six data directory entries.
func writeArm64PE(img []byte, text, data, rawEnd int) {
	le := binary.LittleEndian
	p := Arm64PEOffset
	copy(img[p:], "PE\x00\x00")
	le.PutUint16(img[p+4:], 0xAA64) // Machine: arm64
	le.PutUint16(img[p+6:], 2)      // NumberOfSections
	le.PutUint16(img[p+20:], 160)   // SizeOfOptionalHeader
	le.PutUint16(img[p+22:], 0x0206)
	opt := p + 24
	le.PutUint16(img[opt:], 0x20B) // PE32+
	le.PutUint32(img[opt+32:], 0x10000)
	le.PutUint32(img[opt+36:], 0x200)
	le.PutUint32(img[opt+56:], uint32(rawEnd+Arm64BSS)) // SizeOfImage
	le.PutUint32(img[opt+60:], Arm64HeadersSize)        // SizeOfHeaders
	le.PutUint16(img[opt+68:], 10)                      // Subsystem: EFI application
	le.PutUint32(img[opt+108:], 6)                      // NumberOfRvaAndSizes
	sec := opt + 160
	section := func(s int, name string, va, raw, ptr int) {
		copy(img[s:], name)
		le.PutUint32(img[s+8:], uint32(raw))
		le.PutUint32(img[s+12:], uint32(va))
		le.PutUint32(img[s+16:], uint32(raw))
		le.PutUint32(img[s+20:], uint32(ptr))
	}
	section(sec, ".text", Arm64HeadersSize, text, Arm64HeadersSize)
	section(sec+40, ".data", Arm64HeadersSize+text, data, Arm64HeadersSize+text)
}

// putBanner writes a banner and, unless noUTS, a uts_namespace record
// after it at offset at, and returns where the next one may go.
func putBanner(img []byte, at int, release, build string, noUTS bool) int {
	banner := "Linux version " + release + " (" + DefaultBuilder + ") (" + Arm64Compiler + ") " + build + "\n\x00"
	copy(img[at:], banner)
	at = (at + len(banner) + 7) &^ 7
	if !noUTS {
		const field = 65
		rec := make([]byte, 6*field)
		copy(rec[0:], "Linux")
		copy(rec[field:], "(none)")
		copy(rec[2*field:], release)
		copy(rec[3*field:], build)
		copy(rec[4*field:], "aarch64")
		copy(rec[5*field:], "(none)")
		copy(img[at:], rec)
		at += len(rec)
	}
	return (at + 7) &^ 7
}

// appendArm64Signature appends an sbsign-style certificate table at the end
// of the sections and records it.
func appendArm64Signature(img []byte, at int) []byte {
	le := binary.LittleEndian
	const sigLen = Arm64CertSize - 8 - 3 // dwLength padded to Arm64CertSize
	cert := make([]byte, Arm64CertSize)
	le.PutUint32(cert[0:], 8+sigLen)
	le.PutUint16(cert[4:], 0x0200) // WIN_CERT_REVISION_2_0
	le.PutUint16(cert[6:], 0x0002) // WIN_CERT_TYPE_PKCS_SIGNED_DATA
	cert[8], cert[9] = 0x30, 0x82
	for i := 10; i < 8+sigLen; i++ {
		cert[i] = byte(i * 13)
	}
	le.PutUint32(img[Arm64CertDir:], uint32(at))
	le.PutUint32(img[Arm64CertDir+4:], uint32(len(cert)))
	return append(img, cert...)
}

// PEChecksum is the PE CheckSum of img as sbsign computes it: the 16-bit
// ones'-complement-style sum of the file's little-endian words with the
// CheckSum field (4 bytes at at) counted as zero, plus the file's length.
// Written plainly, byte by byte, as a reference for the parser's fast one.
func PEChecksum(img []byte, at int) uint32 {
	var sum uint32
	for i := 0; i < len(img); i += 2 {
		var w uint32
		for j := 0; j < 2 && i+j < len(img); j++ {
			if i+j >= at && i+j < at+4 {
				continue
			}
			w |= uint32(img[i+j]) << (8 * j)
		}
		sum += w
		sum = sum&0xFFFF + sum>>16
	}
	sum = sum&0xFFFF + sum>>16
	return sum + uint32(len(img))
}

// Gzip compresses data as the kernel's build does (gzip -n -9): one
// member without a name or a time stamp.
func Gzip(data []byte) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression) // the level is valid
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// ZbootOptions describe the container Zboot builds.
type ZbootOptions struct {
	// Signed appends a certificate table to the container and sets its PE
	// CheckSum.
	Signed bool
	// Compression is the comp_type string; "gzip" by default. The payload
	// is gzip whatever it says.
	Compression string
	// Machine is the PE machine; arm64 (0xAA64) by default.
	Machine uint16
}

// Zboot wraps an Image in an EFI zboot container
// (drivers/firmware/efi/libstub/zboot-header.S): the "zimg" header with the
// payload's offset, size and compression, LINUX_PE_MAGIC at 0x38, and a PE
// header with one section holding the gzip'd Image.
func Zboot(image []byte, opts ZbootOptions) []byte {
	if opts.Compression == "" {
		opts.Compression = "gzip"
	}
	if opts.Machine == 0 {
		opts.Machine = 0xAA64
	}
	payload := Gzip(image)
	const payloadAt = Arm64HeadersSize + 0x200 // after some decompressor code
	rawEnd := payloadAt + (len(payload)+511)&^511
	img := make([]byte, rawEnd)
	le := binary.LittleEndian
	copy(img, "MZ")
	copy(img[4:], "zimg")
	le.PutUint32(img[8:], payloadAt)
	le.PutUint32(img[12:], uint32(len(payload)))
	copy(img[24:], opts.Compression)
	le.PutUint32(img[0x38:], 0x818223CD) // LINUX_PE_MAGIC
	le.PutUint32(img[0x3C:], Arm64PEOffset)
	copy(img[payloadAt:], payload)

	p := Arm64PEOffset
	copy(img[p:], "PE\x00\x00")
	le.PutUint16(img[p+4:], opts.Machine)
	le.PutUint16(img[p+6:], 1)
	le.PutUint16(img[p+20:], 160)
	le.PutUint16(img[p+22:], 0x0206)
	opt := p + 24
	le.PutUint16(img[opt:], 0x20B)
	le.PutUint32(img[opt+56:], uint32(rawEnd))
	le.PutUint32(img[opt+60:], Arm64HeadersSize)
	le.PutUint32(img[opt+108:], 6)
	sec := opt + 160
	copy(img[sec:], ".text")
	le.PutUint32(img[sec+8:], uint32(rawEnd-Arm64HeadersSize))
	le.PutUint32(img[sec+12:], Arm64HeadersSize)
	le.PutUint32(img[sec+16:], uint32(rawEnd-Arm64HeadersSize))
	le.PutUint32(img[sec+20:], Arm64HeadersSize)
	if opts.Signed {
		img = appendArm64Signature(img, rawEnd)
		le.PutUint32(img[Arm64Checksum:], PEChecksum(img, Arm64Checksum))
	}
	return img
}
