package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
)

// Errors returned by ParseHeader and ParseBzImage (and shared with
// ParseArm64Image where they apply). They are wrapped with the sizes and
// offsets involved; test for them with errors.Is.
var (
	// ErrNotBzImage: the boot sector signature (0xAA55 at 0x1FE), the
	// "HdrS" magic at 0x202, the LOADED_HIGH flag or the payload is missing.
	ErrNotBzImage = errors.New("not a bzImage")
	// ErrOldProtocol: the boot protocol at 0x206 is older than 2.12, the
	// first one kexec_file_load accepts.
	ErrOldProtocol = errors.New("kernel boot protocol too old")
	// ErrTruncated: the file is shorter than its header says.
	ErrTruncated = errors.New("kernel image truncated")
	// ErrChecksum: the CRC32 stored before the end of the payload does not
	// match the image (only images that carry one: see Image.NoCRC); for
	// an arm64 image, its PE CheckSum or its gzip CRC32 does not match.
	ErrChecksum = errors.New("kernel image checksum mismatch")
	// ErrTrailingData: bytes follow the payload of an image that carries a
	// CRC32, and no certificate table claims them.
	ErrTrailingData = errors.New("kernel image has trailing data")
	// ErrBadSignatureTable: the PE certificate table is not where a signed
	// image keeps it (from the end of the payload to the end of the file) or
	// its entries are malformed.
	ErrBadSignatureTable = errors.New("kernel image has a malformed signature table")
	// ErrNoVersion: the kernel_version string is absent or malformed.
	ErrNoVersion = errors.New("kernel image has no usable version string")
)

// Offsets in the x86 boot sector and setup header (boot.rst).
const (
	offSetupSects  = 0x1F1
	offSysSize     = 0x1F4
	offBootFlag    = 0x1FE
	offHeaderMagic = 0x202
	offVersion     = 0x206
	offKernelVer   = 0x20E
	offLoadFlags   = 0x211
	offXLoadFlags  = 0x236
	offCmdlineSize = 0x238
	headerEnd      = 0x23C // end of the fields read here

	offPEPointer = 0x3C // e_lfanew of the MS-DOS stub

	sectorSize  = 512
	minProtocol = 0x020C

	loadedHigh          = 0x01 // loadflags: protected-mode code at 0x100000
	xlfKernel64         = 0x01 // xloadflags: 64-bit entry point at 0x200
	xlfCanBeLoadedAbove = 0x02 // xloadflags: may be loaded above 4 GiB
)

// MaxHeaderBytes is the largest value HeaderBytes returns: a setup area of
// 255+1 sectors.
const MaxHeaderBytes = 256 * sectorSize

// Image describes a kernel image as read from its header and, for
// ParseImage, checked against the whole file. The fields from Protocol to
// Tail and the methods SetupSize, Base and Kernel64 describe a bzImage
// only; Arm64, Unpacked and ContainerSigned an arm64 image only.
type Image struct {
	// Arch is the architecture the kernel is for.
	Arch Arch
	// Format is how the file is laid out.
	Format Format
	// Size is the length of the file in bytes; 0 from ParseHeader, which
	// sees only the setup area.
	Size int64
	// Protocol is the boot protocol version at 0x206, e.g. 0x020F for 2.15.
	Protocol uint16
	// SetupSects is the number of 512-byte setup sectors after the boot
	// sector (0x1F1, where 0 means 4).
	SetupSects int
	// PayloadSize is the size of the protected-mode part that follows the
	// setup area: syssize (0x1F4) times 16. Base adds the setup area.
	PayloadSize int64
	// Signed reports a valid PE certificate table from Base (a bzImage) or
	// the end of the last PE section (an arm64 Image) to the end of the
	// file; false from ParseHeader. For a packed arm64 image it is the
	// unpacked Image's: that is what kexec_file_load sees and, under
	// lockdown, verifies.
	Signed bool
	// CmdlineMax is the longest command line the kernel takes, without the
	// terminating NUL: cmdline_size at 0x238 of a bzImage (x86
	// kexec_file_load keeps 30 bytes of it in reserve: see
	// CheckCmdlineLength), COMMAND_LINE_SIZE less the NUL (2047) for arm64,
	// whose header has no such field (see CheckCmdlineFor).
	CmdlineMax int
	// LoadFlags is loadflags at 0x211.
	LoadFlags uint8
	// XLoadFlags is xloadflags at 0x236.
	XLoadFlags uint16
	// Version is the raw kernel_version string.
	Version string
	// Release is the "uname -r" part of Version: "6.1.0-50-cloud-amd64".
	Release string
	// Build is the "uname -v" part of Version:
	// "#1 SMP PREEMPT_DYNAMIC Debian 6.1.123-1 (2025-01-02)".
	Build string
	// NoCRC reports an image of Linux 6.15 or later, going by the release in
	// its version string: those have zeros where the build tool's CRC32 was
	// (upstream dropped the tool), so ParseImage checks no CRC for them.
	// Every other image, including one whose release does not start with
	// a version number, must carry a matching CRC32.
	NoCRC bool
	// Tail is the length of the data between the end of the payload (Base)
	// and the certificate table, or the end of an unsigned file, that no
	// header field describes. Debian's Linux 6.17 and 6.18 images carry
	// the decompressor's .modinfo strings there, padded (442048 bytes in
	// 6.17.13, 438464 in 6.18.15; 6.16, 6.19 and 7.x have none); it is
	// loaded but never used. Only NoCRC images may have a tail; 0 from
	// ParseHeader.
	Tail int64
	// Checks are the integrity checks ParseImage ran and passed; 0 from
	// ParseHeader.
	Checks Checks
	// Arm64 is the arm64 Image header (of the unpacked Image for a packed
	// format).
	Arm64 Arm64Header
	// Unpacked is the size of the Image unpacked from an Image.gz or EFI
	// zboot file, which is what kexec_file_load is given; 0 for formats
	// loaded as they are.
	Unpacked int64
	// ContainerSigned reports an EFI zboot container with a PE certificate
	// table: the firmware can verify it, but kexec_file_load is given the
	// unpacked Image, whose own signature (Signed) is what counts.
	ContainerSigned bool
}

// Checks is a set of the integrity checks ParseImage runs on an image.
type Checks uint8

// The integrity checks, in the order Names lists them.
const (
	// CheckSize: the file ends exactly where its headers say: after the
	// setup area and the payload, or for a signed image after the
	// certificate table that the PE header places. An unsigned image with
	// a Tail has no such check: nothing records its length.
	CheckSize Checks = 1 << iota
	// CheckCRC32: the CRC32 before the end of the payload matches.
	CheckCRC32
	// CheckSignatureTable: the PE certificate table of a signed image is
	// well formed (its signature is the kernel's to check).
	CheckSignatureTable
	// CheckPEChecksum: the PE CheckSum (which sbsign fills in when it
	// signs) matches the whole file: every byte counts, so any single
	// flipped byte fails it. Checked on arm64 images, where it is not zero.
	CheckPEChecksum
	// CheckGzipCRC: the gzip stream of an Image.gz or EFI zboot payload
	// unpacked with a matching CRC32 and length.
	CheckGzipCRC
)

var checkNames = [...]string{"size", "crc32", "signature-table", "pe-checksum", "gzip-crc32"}

// Names lists the checks in the set by their names, "size", "crc32",
// "signature-table", "pe-checksum" and "gzip-crc32", in that order.
func (c Checks) Names() []string {
	var names []string
	for i, name := range checkNames {
		if c&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return names
}

// String joins Names with ", ", or says "none".
func (c Checks) String() string {
	if names := c.Names(); len(names) > 0 {
		return strings.Join(names, ", ")
	}
	return "none"
}

// CRCAbsentNote is how CRCStatus describes an image without a CRC32.
const CRCAbsentNote = "crc: absent (Linux ≥ 6.15 has none)"

// CRCStatus says in one phrase what became of the CRC32 check, for status
// output: "crc32: matches", CRCAbsentNote, or "crc32: not checked" for a
// header that ParseHeader read; for an arm64 image, which has no build
// tool CRC32, whether its PE CheckSum matched.
func (im Image) CRCStatus() string {
	switch {
	case im.Arch == ArchARM64 && im.Checks&CheckPEChecksum != 0:
		return "crc: none in the arm64 format; PE checksum matches"
	case im.Arch == ArchARM64:
		return "crc: none in the arm64 format; no PE checksum"
	case im.Checks&CheckCRC32 != 0:
		return "crc32: matches"
	case im.NoCRC:
		return CRCAbsentNote
	default:
		return "crc32: not checked"
	}
}

// crcDroppedIn is the first Linux version without the build tool's CRC32.
var crcDroppedIn = [2]int{6, 15}

// CarriesCRC reports whether a kernel of this release stores the build
// tool's CRC32: every release before Linux 6.15, and every release that does
// not start with "MAJOR.MINOR" (so an unknown kernel is held to the stricter
// rule). "7.3.4+deb13-cloud-amd64" has none, "6.12.118+deb13-cloud-amd64" has one.
func CarriesCRC(release string) bool {
	major, rest, ok := leadingNumber(release)
	if !ok || !strings.HasPrefix(rest, ".") {
		return true
	}
	minor, _, ok := leadingNumber(rest[1:])
	if !ok {
		return true
	}
	if major != crcDroppedIn[0] {
		return major < crcDroppedIn[0]
	}
	return minor < crcDroppedIn[1]
}

// leadingNumber reads the decimal number s starts with (at most 6 digits:
// no kernel version number is longer) and returns the rest of s.
func leadingNumber(s string) (n int, rest string, ok bool) {
	i := 0
	for i < len(s) && i < 6 && isDigit(s[i]) {
		n = n*10 + int(s[i]-'0')
		i++
	}
	if i == 0 || i < len(s) && isDigit(s[i]) {
		return 0, s, false
	}
	return n, s[i:], true
}

// SetupSize is the size of the real-mode part: the boot sector and the
// setup sectors, (SetupSects+1)*512 bytes.
func (im Image) SetupSize() int64 {
	return int64(im.SetupSects+1) * sectorSize
}

// Base is the length of the image proper, SetupSize plus PayloadSize: the
// whole file when unsigned, the offset of the certificate table when signed.
func (im Image) Base() int64 {
	return im.SetupSize() + im.PayloadSize
}

// Kernel64 reports whether the image has the 64-bit entry point and may be
// loaded above 4 GiB (XLF_KERNEL_64 and XLF_CAN_BE_LOADED_ABOVE_4G), which
// x86-64 kexec_file_load requires.
func (im Image) Kernel64() bool {
	const want = xlfKernel64 | xlfCanBeLoadedAbove
	return im.XLoadFlags&want == want
}

// HeaderBytes reports how many leading bytes of an image ParseHeader needs:
// the setup area, (setup_sects+1)*512 bytes, at most MaxHeaderBytes. data is
// any prefix of the file; while it is too short to hold setup_sects (0x1F1)
// the answer is 512, so a caller reads the first sector, asks again and
// reads the rest. A caller may instead read min(MaxHeaderBytes, file size)
// bytes at once: ParseHeader ignores what follows the setup area.
func HeaderBytes(data []byte) int {
	if len(data) <= offSetupSects {
		return sectorSize
	}
	return setupSize(data[offSetupSects])
}

func setupSize(setupSects byte) int {
	n := int(setupSects)
	if n == 0 {
		n = 4
	}
	return (n + 1) * sectorSize
}

// ParseHeader reads the boot header and the version string from the start
// of a bzImage: data must hold at least HeaderBytes(data) bytes and may hold
// the whole file. It does not check the file size, the checksum or the
// signature: use ParseImage for that before loading an image.
func ParseHeader(data []byte) (Image, error) {
	if len(data) < headerEnd {
		return Image{}, fmt.Errorf("%w: %d bytes, too short for a boot header (%d bytes)", ErrNotBzImage, len(data), headerEnd)
	}
	if flag := binary.LittleEndian.Uint16(data[offBootFlag:]); flag != 0xAA55 {
		return Image{}, fmt.Errorf("%w: boot flag at 0x%X is 0x%04X, want 0xAA55", ErrNotBzImage, offBootFlag, flag)
	}
	if magic := data[offHeaderMagic : offHeaderMagic+4]; string(magic) != "HdrS" {
		return Image{}, fmt.Errorf("%w: no \"HdrS\" at 0x%X (found %q)", ErrNotBzImage, offHeaderMagic, magic)
	}
	im := Image{
		Arch:        ArchAMD64,
		Format:      FormatBzImage,
		Protocol:    binary.LittleEndian.Uint16(data[offVersion:]),
		SetupSects:  int(data[offSetupSects]),
		PayloadSize: int64(binary.LittleEndian.Uint32(data[offSysSize:])) * 16,
		CmdlineMax:  int(binary.LittleEndian.Uint32(data[offCmdlineSize:])),
		LoadFlags:   data[offLoadFlags],
		XLoadFlags:  binary.LittleEndian.Uint16(data[offXLoadFlags:]),
	}
	if im.SetupSects == 0 {
		im.SetupSects = 4
	}
	if im.Protocol < minProtocol {
		return Image{}, fmt.Errorf("%w: protocol %s at 0x%X, need %s or later", ErrOldProtocol, protocolString(im.Protocol), offVersion, protocolString(minProtocol))
	}
	if im.LoadFlags&loadedHigh == 0 {
		return Image{}, fmt.Errorf("%w: loadflags 0x%02X at 0x%X lack LOADED_HIGH (a zImage)", ErrNotBzImage, im.LoadFlags, offLoadFlags)
	}
	if im.PayloadSize == 0 {
		return Image{}, fmt.Errorf("%w: syssize at 0x%X is 0, no payload", ErrNotBzImage, offSysSize)
	}
	setup := int(im.SetupSize())
	if len(data) < setup {
		return Image{}, fmt.Errorf("%w: %d bytes, setup area is %d", ErrTruncated, len(data), setup)
	}
	ptr := int(binary.LittleEndian.Uint16(data[offKernelVer:]))
	if ptr == 0 {
		return Image{}, fmt.Errorf("%w: kernel_version pointer at 0x%X is 0", ErrNoVersion, offKernelVer)
	}
	start := ptr + 0x200
	if start >= setup {
		return Image{}, fmt.Errorf("%w: kernel_version at 0x%X is past the setup area (%d bytes)", ErrNoVersion, start, setup)
	}
	end := bytes.IndexByte(data[start:setup], 0)
	if end < 0 {
		return Image{}, fmt.Errorf("%w: kernel_version at 0x%X has no NUL before the end of the setup area (%d bytes)", ErrNoVersion, start, setup)
	}
	im.Version = string(data[start : start+end])
	release, build, err := SplitVersion(im.Version)
	if err != nil {
		return Image{}, fmt.Errorf("kernel_version at 0x%X: %w", start, err)
	}
	im.Release, im.Build = release, build
	im.NoCRC = !CarriesCRC(release)
	return im, nil
}

func protocolString(p uint16) string {
	return fmt.Sprintf("%d.%02d", p>>8, p&0xFF)
}

// ParseBzImage checks a whole bzImage file before it is handed to
// kexec_file_load: the header as ParseHeader does, that the file holds the
// setup area and the payload the header announces, the CRC32 that build.c
// stores in the last 4 bytes of the payload (where the image carries one:
// see CarriesCRC), and that anything after the payload is a well-formed PE
// certificate table running to the end of the file (an image signed with
// sbsign). An image without a CRC may have a Tail between the payload and
// the table (or the end of an unsigned file). Image.Checks lists what was
// checked.
func ParseBzImage(data []byte) (Image, error) {
	im, err := ParseHeader(data)
	if err != nil {
		return Image{}, err
	}
	im.Size = int64(len(data))
	base := im.Base()
	if im.Size < base {
		return Image{}, fmt.Errorf("%w: %d bytes, header says %d", ErrTruncated, im.Size, base)
	}
	pe := findPE(data, int(im.SetupSize()))
	if !im.NoCRC {
		if err := checkCRC(data[:base], pe); err != nil {
			return Image{}, err
		}
		im.Checks |= CheckCRC32
	}
	table, err := checkSignatureTable(data, base, pe, im.NoCRC)
	if err != nil {
		return Image{}, err
	}
	im.Signed = table.size > 0
	if im.Signed {
		im.Checks |= CheckSignatureTable
		im.Tail = table.offset - base
	} else {
		im.Tail = im.Size - base
	}
	if im.Signed || im.Tail == 0 {
		im.Checks |= CheckSize
	}
	return im, nil
}

// peLayout locates the two PE header fields that signing changes: the
// CheckSum and the certificate table entry of the data directory. An
// offset of -1 means the image has no such field.
type peLayout struct {
	checksum int
	certDir  int
}

// findPE reads the PE header that an EFI-stub kernel keeps in its setup
// area. Fields outside the setup area are ignored: build.c never puts them
// there, and the CRC must not be computed with holes in the payload.
func findPE(data []byte, setup int) peLayout {
	none := peLayout{checksum: -1, certDir: -1}
	if string(data[:2]) != "MZ" {
		return none
	}
	pe := int64(binary.LittleEndian.Uint32(data[offPEPointer:]))
	const coffSize = 24 // "PE\0\0" and the COFF file header
	if pe+coffSize+2 > int64(setup) {
		return none
	}
	p := int(pe)
	if string(data[p:p+4]) != "PE\x00\x00" {
		return none
	}
	optSize := int(binary.LittleEndian.Uint16(data[p+20:]))
	opt := p + coffSize
	var numRVAOff, certOff int
	switch binary.LittleEndian.Uint16(data[opt:]) {
	case 0x20B: // PE32+
		numRVAOff, certOff = 108, 144
	case 0x10B: // PE32
		numRVAOff, certOff = 92, 128
	default:
		return none
	}
	layout := none
	if optSize >= 68 && opt+68 <= setup {
		layout.checksum = opt + 64
	}
	if optSize >= certOff+8 && opt+certOff+8 <= setup &&
		binary.LittleEndian.Uint32(data[opt+numRVAOff:]) > 4 {
		layout.certDir = opt + certOff
	}
	return layout
}

// checkCRC verifies the CRC32 in the last 4 bytes of image (the payload
// without a signature). build.c computes it over everything before those 4
// bytes with the standard CRC-32 polynomial, seeded with 0xffffffff and not
// inverted at the end; signing changes the PE CheckSum and the certificate
// table entry afterwards, so they count as zero.
func checkCRC(image []byte, pe peLayout) error {
	end := len(image) - 4
	var holes [][2]int
	if pe.checksum >= 0 {
		holes = append(holes, [2]int{pe.checksum, pe.checksum + 4})
	}
	if pe.certDir >= 0 {
		holes = append(holes, [2]int{pe.certDir, pe.certDir + 8})
	}
	var zeros [8]byte
	crc, pos := uint32(0), 0
	for _, h := range holes { // checksum precedes the data directory
		if h[1] > end || h[0] < pos {
			continue
		}
		crc = crc32.Update(crc, crc32.IEEETable, image[pos:h[0]])
		crc = crc32.Update(crc, crc32.IEEETable, zeros[:h[1]-h[0]])
		pos = h[1]
	}
	crc = crc32.Update(crc, crc32.IEEETable, image[pos:end])
	computed := ^crc
	stored := binary.LittleEndian.Uint32(image[end:])
	if computed != stored {
		return fmt.Errorf("%w: stored 0x%08x at offset %d, computed 0x%08x", ErrChecksum, stored, end, computed)
	}
	return nil
}

// certTable is where a signed image keeps its PE certificate table; the
// zero value means none.
type certTable struct {
	offset, size int64
}

// checkSignatureTable accepts data that ends at base, or a certificate
// table that starts at base and runs to the end of the file, and returns
// the table. sbsign pads each entry to 8 bytes; base is a multiple of 16,
// so the table needs no padding before it. With tail set (an image without
// a CRC), data may follow base: up to the table, or to the end of an
// unsigned file.
func checkSignatureTable(data []byte, base int64, pe peLayout, tail bool) (certTable, error) {
	size := int64(len(data))
	var t certTable
	if pe.certDir >= 0 {
		t.offset = int64(binary.LittleEndian.Uint32(data[pe.certDir:]))
		t.size = int64(binary.LittleEndian.Uint32(data[pe.certDir+4:]))
	}
	if t.offset == 0 && t.size == 0 {
		if size > base && !tail {
			return certTable{}, fmt.Errorf("%w: %d bytes after the payload ends at %d, and no certificate table", ErrTrailingData, size-base, base)
		}
		return certTable{}, nil
	}
	switch {
	case t.size == 0:
		return certTable{}, fmt.Errorf("%w: certificate table at offset %d is empty", ErrBadSignatureTable, t.offset)
	case t.offset == base:
	case tail && t.offset > base && t.offset%8 == 0:
		// The PE format keeps the table 8-byte aligned.
	default:
		return certTable{}, fmt.Errorf("%w: certificate table at offset %d, payload ends at %d", ErrBadSignatureTable, t.offset, base)
	}
	tableEnd := t.offset + t.size
	if tableEnd > size {
		return certTable{}, fmt.Errorf("%w: %d bytes, certificate table ends at %d", ErrTruncated, size, tableEnd)
	}
	if tableEnd < size {
		return certTable{}, fmt.Errorf("%w: certificate table ends at %d, file at %d", ErrBadSignatureTable, tableEnd, size)
	}
	for p := t.offset; p < tableEnd; {
		if tableEnd-p < 8 {
			return certTable{}, fmt.Errorf("%w: %d stray bytes at offset %d", ErrBadSignatureTable, tableEnd-p, p)
		}
		length := int64(binary.LittleEndian.Uint32(data[p:]))
		revision := binary.LittleEndian.Uint16(data[p+4:])
		certType := binary.LittleEndian.Uint16(data[p+6:])
		switch {
		case length <= 8 || length > tableEnd-p:
			return certTable{}, fmt.Errorf("%w: entry at offset %d has length %d, table ends at %d", ErrBadSignatureTable, p, length, tableEnd)
		case revision != 0x0100 && revision != 0x0200:
			return certTable{}, fmt.Errorf("%w: entry at offset %d has revision 0x%04X", ErrBadSignatureTable, p, revision)
		case !knownCertType(certType):
			return certTable{}, fmt.Errorf("%w: entry at offset %d has certificate type %d", ErrBadSignatureTable, p, certType)
		}
		next := p + length
		if next == tableEnd {
			break
		}
		p = (next + 7) &^ 7
		if p > tableEnd {
			return certTable{}, fmt.Errorf("%w: padding of entry at offset %d runs past the table end %d", ErrBadSignatureTable, next, tableEnd)
		}
	}
	return t, nil
}

// knownCertType reports the WIN_CERTIFICATE types of the PE and UEFI
// specifications: X.509, PKCS#7 signed data (what sbsign writes), reserved,
// terminal-server stack, and the UEFI PKCS1_15 and GUID types.
func knownCertType(t uint16) bool {
	switch t {
	case 0x0001, 0x0002, 0x0003, 0x0004, 0x0EF0, 0x0EF1:
		return true
	}
	return false
}

// SplitVersion splits a kernel_version string,
// "<release> (<user>@<host>) <uname -v>", into the release ("uname -r") and
// the build string ("uname -v"), which is returned unchanged: it may hold
// parentheses and runs of spaces.
func SplitVersion(s string) (release, build string, err error) {
	open := strings.Index(s, " (")
	if open < 0 {
		return "", "", fmt.Errorf("%w: %q has no \" (\" after the release", ErrNoVersion, s)
	}
	release = s[:open]
	if release == "" {
		return "", "", fmt.Errorf("%w: %q starts without a release", ErrNoVersion, s)
	}
	for i := 0; i < len(release); i++ {
		if c := release[i]; c <= ' ' || c >= 0x7F {
			return "", "", fmt.Errorf("%w: release %q has byte 0x%02X at %d", ErrNoVersion, release, c, i)
		}
	}
	rest := s[open+2:]
	closeAt := strings.Index(rest, ") ")
	if closeAt < 0 {
		return "", "", fmt.Errorf("%w: %q has no \") \" after the builder", ErrNoVersion, s)
	}
	build = rest[closeAt+2:]
	if strings.TrimSpace(build) == "" {
		return "", "", fmt.Errorf("%w: %q has no build string after the builder", ErrNoVersion, s)
	}
	for i := 0; i < len(build); i++ {
		if c := build[i]; c < ' ' || c == 0x7F {
			return "", "", fmt.Errorf("%w: build string %q has control byte 0x%02X at %d", ErrNoVersion, build, c, i)
		}
	}
	return release, build, nil
}
