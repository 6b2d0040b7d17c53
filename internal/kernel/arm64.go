package kernel

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Errors of the arm64 image checks, besides the shared ErrTruncated,
// ErrChecksum, ErrTrailingData, ErrBadSignatureTable, ErrBadPE and
// ErrNoVersion.
var (
	// ErrNotArm64Image: no arm64 Image header ("ARM\x64" at 0x38), or one
	// that Linux's arm64 kexec_file_load refuses (image_size 0, big-endian).
	ErrNotArm64Image = errors.New("not an arm64 Image")
	// ErrNoLength: an arm64 Image without the EFI stub's PE header: nothing
	// in it records the length of the file, so a truncated copy, which
	// kexec_file_load accepts and the machine then dies in, could not be
	// told apart.
	ErrNoLength = errors.New("kernel image does not record its length")
	// ErrUnsupportedCompression: an EFI zboot image whose payload is
	// compressed with something other than gzip.
	ErrUnsupportedCompression = errors.New("kernel image compression not supported")
	// ErrTooLarge: a packed image unpacks to more than MaxUnpackedSize.
	ErrTooLarge = errors.New("kernel image unpacks too large")
)

// Layout of the arm64 Image header (Documentation/arch/arm64/booting.rst).
const (
	arm64OffTextOffset = 0x08
	arm64OffImageSize  = 0x10
	arm64OffFlags      = 0x18
	arm64OffMagic      = 0x38
	arm64HeaderSize    = 0x40
	arm64Magic         = "ARM\x64"

	arm64FlagBE       = 1 << 0
	arm64FlagPageMask = 3 << 1

	// Arm64CommandLineSize is COMMAND_LINE_SIZE on arm64
	// (arch/arm64/include/uapi/asm/setup.h): the longest command line the
	// kernel keeps, with its NUL. arm64 images have no header field for it.
	Arm64CommandLineSize = 2048
)

// EFI zboot container (drivers/firmware/efi/libstub/zboot-header.S): an
// "MZ" PE whose payload is the compressed Image.
const (
	zbootOffType    = 4
	zbootOffPayload = 8
	zbootOffSize    = 12
	zbootOffComp    = 24
	zbootCompLen    = 32 // .asciz COMP_TYPE up to .org 0x38
	zbootType       = "zimg"
)

// MaxUnpackedSize caps what a packed image (Image.gz, EFI zboot) may unpack
// to: far above any arm64 Image (Debian's are 27-42 MB), far below what
// would hurt to hold in memory.
const MaxUnpackedSize = 256 << 20

// Arm64Header holds the fields of an arm64 Image header.
type Arm64Header struct {
	// TextOffset is the load offset from a 2 MiB aligned base (0 since
	// Linux 5.8).
	TextOffset uint64
	// ImageSize is the effective size of the kernel in memory, BSS
	// included; kexec_file_load refuses 0.
	ImageSize uint64
	// Flags: bit 0 big-endian, bits 1-2 page size, bit 3 placement.
	Flags uint64
}

// PageSize is the kernel's page size from Flags: 4096, 16384 or 65536, or
// 0 when the image does not say.
func (h Arm64Header) PageSize() int {
	switch (h.Flags & arm64FlagPageMask) >> 1 {
	case 1:
		return 4 << 10
	case 2:
		return 16 << 10
	case 3:
		return 64 << 10
	}
	return 0
}

// ParseArm64Image checks an arm64 kernel image file before it is handed to
// kexec_file_load, which takes only the raw Image: a raw Image (Debian's
// vmlinuz, wrapped as a signed PE), an Image.gz, or an EFI zboot
// container with a gzip payload; the last two are unpacked and the Image
// inside is checked. An Image must carry the EFI stub's PE header, and the
// file must end exactly where its last section does, or where the PE
// certificate table that starts there ends; a non-zero PE CheckSum must
// match. The release and build string come from the kernel's banner
// ("Linux version ..."), confirmed by its uts_namespace record.
func ParseArm64Image(data []byte) (Image, error) {
	im, _, err := parseArm64File(data)
	return im, err
}

// parseArm64File is ParseArm64Image that also returns the Image to load:
// data itself for a raw Image, the unpacked Image otherwise.
func parseArm64File(data []byte) (Image, []byte, error) {
	switch detectFormat(data) {
	case FormatZboot:
		return parseZboot(data)
	case FormatImageGz:
		unpacked, err := gunzipAll(data)
		if err != nil {
			return Image{}, nil, err
		}
		im, err := parseArm64Raw(unpacked)
		if err != nil {
			return Image{}, nil, fmt.Errorf("the Image unpacked from gzip: %w", err)
		}
		im.Format, im.Size, im.Unpacked = FormatImageGz, int64(len(data)), int64(len(unpacked))
		im.Checks |= CheckGzipCRC
		return im, unpacked, nil
	}
	im, err := parseArm64Raw(data)
	return im, data, err
}

// parseArm64Raw checks a raw arm64 Image.
func parseArm64Raw(data []byte) (Image, error) {
	if len(data) < arm64HeaderSize {
		return Image{}, fmt.Errorf("%w: %d bytes, too short for an arm64 header (%d bytes)", ErrNotArm64Image, len(data), arm64HeaderSize)
	}
	if magic := data[arm64OffMagic : arm64OffMagic+4]; string(magic) != arm64Magic {
		return Image{}, fmt.Errorf("%w: no \"ARM\\x64\" at 0x%X (found %q)", ErrNotArm64Image, arm64OffMagic, magic)
	}
	im := Image{
		Arch: ArchARM64, Format: FormatImage, Size: int64(len(data)),
		CmdlineMax: Arm64CommandLineSize - 1,
		Arm64: Arm64Header{
			TextOffset: binary.LittleEndian.Uint64(data[arm64OffTextOffset:]),
			ImageSize:  binary.LittleEndian.Uint64(data[arm64OffImageSize:]),
			Flags:      binary.LittleEndian.Uint64(data[arm64OffFlags:]),
		},
	}
	h := im.Arm64
	switch {
	case h.ImageSize == 0:
		return Image{}, fmt.Errorf("%w: image_size at 0x%X is 0 (a kernel before 3.17; kexec_file_load refuses it)", ErrNotArm64Image, arm64OffImageSize)
	case h.Flags&arm64FlagBE != 0:
		return Image{}, fmt.Errorf("%w: flags 0x%X at 0x%X say big-endian", ErrNotArm64Image, h.Flags, arm64OffFlags)
	case h.ImageSize > MaxUnpackedSize || h.TextOffset > MaxUnpackedSize:
		return Image{}, fmt.Errorf("%w: image_size %d, text_offset %d", ErrNotArm64Image, h.ImageSize, h.TextOffset)
	}
	if string(data[:2]) != "MZ" {
		return Image{}, fmt.Errorf("%w: an arm64 Image without the EFI stub's PE header (no \"MZ\" at 0)", ErrNoLength)
	}
	pe, err := parsePE(data)
	if err != nil {
		return Image{}, err
	}
	if pe.machine != peMachineArm64 {
		return Image{}, fmt.Errorf("%w: PE machine 0x%04X, want 0x%04X (arm64)", ErrBadPE, pe.machine, peMachineArm64)
	}
	if uint64(pe.sizeOfImage) != h.ImageSize {
		return Image{}, fmt.Errorf("%w: SizeOfImage %d, but image_size at 0x%X is %d", ErrBadPE, pe.sizeOfImage, arm64OffImageSize, h.ImageSize)
	}
	table, err := pe.certTableOf(data)
	if err != nil {
		return Image{}, err
	}
	// kexec_file_load loads the whole file into a segment of
	// image_size+text_offset bytes and refuses a file that does not fit.
	if memsz := h.ImageSize + h.TextOffset; uint64(len(data)) > memsz {
		return Image{}, fmt.Errorf("%w: %d bytes, more than the %d that image_size and text_offset give the kernel in memory", ErrTrailingData, len(data), memsz)
	}
	im.Checks |= CheckSize
	if im.Signed = table.size > 0; im.Signed {
		im.Checks |= CheckSignatureTable
	}
	if ok, err := pe.checkPEChecksum(data); err != nil {
		return Image{}, err
	} else if ok {
		im.Checks |= CheckPEChecksum
	}
	im.Version, im.Release, im.Build, err = bannerVersion(data[:pe.rawEnd])
	if err != nil {
		return Image{}, err
	}
	return im, nil
}

// parseZboot checks an EFI zboot container and the Image in its payload.
// The container must pass the size, certificate table and PE CheckSum
// checks too; Image.Checks lists those of the Image, which is what is
// loaded, and the gzip CRC32.
func parseZboot(data []byte) (Image, []byte, error) {
	pe, err := parsePE(data)
	if err != nil {
		return Image{}, nil, fmt.Errorf("EFI zboot container: %w", err)
	}
	if pe.machine != peMachineArm64 {
		return Image{}, nil, fmt.Errorf("%w: EFI zboot container for PE machine 0x%04X, not arm64 (0x%04X)", ErrWrongArch, pe.machine, peMachineArm64)
	}
	table, err := pe.certTableOf(data)
	if err != nil {
		return Image{}, nil, fmt.Errorf("EFI zboot container: %w", err)
	}
	if _, err := pe.checkPEChecksum(data); err != nil {
		return Image{}, nil, fmt.Errorf("EFI zboot container: %w", err)
	}
	comp := data[zbootOffComp : zbootOffComp+zbootCompLen]
	if i := bytes.IndexByte(comp, 0); i >= 0 {
		comp = comp[:i]
	}
	if string(comp) != "gzip" {
		return Image{}, nil, fmt.Errorf("%w: EFI zboot payload compressed with %q; only gzip is unpacked", ErrUnsupportedCompression, comp)
	}
	off := int64(binary.LittleEndian.Uint32(data[zbootOffPayload:]))
	size := int64(binary.LittleEndian.Uint32(data[zbootOffSize:]))
	if off < int64(pe.sizeOfHeaders) || off+size > pe.rawEnd || size == 0 {
		return Image{}, nil, fmt.Errorf("%w: EFI zboot payload of %d bytes at %d, outside the sections (%d to %d)", ErrBadPE, size, off, pe.sizeOfHeaders, pe.rawEnd)
	}
	unpacked, err := gunzipAll(data[off : off+size])
	if err != nil {
		return Image{}, nil, fmt.Errorf("EFI zboot payload: %w", err)
	}
	im, err := parseArm64Raw(unpacked)
	if err != nil {
		return Image{}, nil, fmt.Errorf("the Image unpacked from EFI zboot: %w", err)
	}
	im.Format, im.Size, im.Unpacked = FormatZboot, int64(len(data)), int64(len(unpacked))
	im.ContainerSigned = table.size > 0
	im.Checks |= CheckGzipCRC
	return im, unpacked, nil
}

// gunzipAll unpacks one gzip member that must fill data exactly, checking
// its CRC32 and length, into at most MaxUnpackedSize bytes.
func gunzipAll(data []byte) ([]byte, error) {
	r := bytes.NewReader(data)
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%w: gzip header: %v", ErrNotArm64Image, err)
	}
	zr.Multistream(false)
	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(zr, MaxUnpackedSize+1))
	switch {
	case n > MaxUnpackedSize:
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxUnpackedSize)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("%w: gzip stream of %d bytes ends early", ErrTruncated, len(data))
	case errors.Is(err, gzip.ErrChecksum):
		return nil, fmt.Errorf("%w: gzip CRC32 or length", ErrChecksum)
	case err != nil:
		return nil, fmt.Errorf("%w: gzip stream: %v", ErrChecksum, err)
	}
	if r.Len() > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the gzip stream", ErrTrailingData, r.Len())
	}
	return out.Bytes(), nil
}

// bannerPrefix opens the kernel's banner, linux_banner in init/version.c:
// "Linux version <release> (<builder>) (<compiler>) <uts version>\n".
const bannerPrefix = "Linux version "

// maxBanner bounds a banner's length: release, builder and compiler are
// short, UTS_VERSION is at most 64 bytes.
const maxBanner = 1024

// bannerVersion finds the kernel's banner in an uncompressed image and
// returns it without "Linux version " and the newline, with its release
// and build string (uname -r, uname -v). A kernel may carry two banners:
// init/version.o's, built with a temporary build number ("# SMP ..."), and
// init/version-timestamp.o's with the real one ("#1 SMP ..."), which the
// linker prefers; the one whose build has a number wins. The choice must be
// confirmed by a uts_namespace record with the same release and version:
// that record is what uname(2) reports.
func bannerVersion(data []byte) (version, release, build string, err error) {
	type banner struct{ version, release, build string }
	var found []banner
	for i := 0; i < len(data); {
		j := bytes.Index(data[i:], []byte(bannerPrefix))
		if j < 0 {
			break
		}
		start := i + j + len(bannerPrefix)
		i = start
		end := bytes.IndexByte(data[start:min(len(data), start+maxBanner)], '\n')
		if end < 0 {
			continue
		}
		v := string(data[start : start+end])
		r, b, ok := splitBanner(v)
		if !ok || slices.Contains(found, banner{v, r, b}) {
			continue
		}
		found = append(found, banner{v, r, b})
	}
	if len(found) == 0 {
		return "", "", "", fmt.Errorf("%w: no %q banner in the image", ErrNoVersion, bannerPrefix)
	}
	var real []banner
	for _, b := range found {
		if !strings.HasPrefix(b.build, "# ") {
			real = append(real, b)
		}
	}
	if len(real) == 0 {
		real = found
	}
	if len(real) > 1 {
		return "", "", "", fmt.Errorf("%w: %d different banners: %q and %q", ErrNoVersion, len(real), real[0].version, real[1].version)
	}
	b := real[0]
	if !hasUTSRecord(data, b.release, b.build) {
		return "", "", "", fmt.Errorf("%w: banner %q has no uts_namespace record with the same release and version", ErrNoVersion, b.version)
	}
	return b.version, b.release, b.build, nil
}

// splitBanner splits the banner text after "Linux version " into the
// release and the build string: "<release> (<builder>) [(<compiler>) ]<build>",
// where the groups may hold parentheses of their own and the build starts
// with "#". All bytes must be printable.
func splitBanner(s string) (release, build string, ok bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7F {
			return "", "", false
		}
	}
	open := strings.Index(s, " (")
	if open <= 0 {
		return "", "", false
	}
	release = s[:open]
	if strings.ContainsAny(release, " ()") {
		return "", "", false
	}
	rest := s[open+1:]
	for groups := 0; strings.HasPrefix(rest, "("); groups++ {
		if groups == 3 {
			return "", "", false
		}
		end := closingParen(rest)
		if end < 0 || end+1 >= len(rest) || rest[end+1] != ' ' {
			return "", "", false
		}
		rest = rest[end+2:]
	}
	if !strings.HasPrefix(rest, "#") || strings.TrimSpace(rest) == "#" {
		return "", "", false
	}
	return release, rest, true
}

// closingParen returns the index of the parenthesis that closes the one s
// starts with, or -1.
func closingParen(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// utsField is the size of each string of struct new_utsname: sysname,
// nodename, release, version, machine, domainname.
const utsField = 65

// hasUTSRecord reports whether data holds a struct new_utsname (the
// kernel's init_uts_ns) with sysname "Linux" and this release and version.
func hasUTSRecord(data []byte, release, version string) bool {
	if len(release) >= utsField || len(version) >= utsField {
		return false
	}
	var needle [utsField]byte
	copy(needle[:], "Linux")
	for i := 0; ; {
		j := bytes.Index(data[i:], needle[:])
		if j < 0 {
			return false
		}
		p := i + j
		i = p + 1
		if p+4*utsField > len(data) {
			return false
		}
		if utsString(data[p+2*utsField:p+3*utsField]) == release && utsString(data[p+3*utsField:p+4*utsField]) == version {
			return true
		}
	}
}

// utsString is a NUL-padded field's string, or "" when the field has no
// NUL or bytes after it.
func utsString(field []byte) string {
	n := bytes.IndexByte(field, 0)
	if n < 0 {
		return ""
	}
	for _, c := range field[n:] {
		if c != 0 {
			return ""
		}
	}
	return string(field[:n])
}
