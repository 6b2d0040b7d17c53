package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadPE: the PE/COFF header that an EFI-stub kernel carries (the arm64
// Image's, an EFI zboot container's) is malformed or points outside the
// file.
var ErrBadPE = errors.New("kernel image has a malformed PE header")

// PE/COFF constants (the PE format specification).
const (
	peMagic         = "PE\x00\x00"
	peCOFFSize      = 24 // "PE\0\0" and the COFF file header
	peOpt32Plus     = 0x20B
	peSectionSize   = 40
	peMaxSections   = 96 // the loader's limit
	peCertDirIndex  = 4  // IMAGE_DIRECTORY_ENTRY_SECURITY
	peOptDataDirOff = 112
	peOptChecksum   = 64
	peOptSizeImage  = 56
	peOptSizeHdrs   = 60
	peMachineArm64  = 0xAA64
	peMachineAMD64  = 0x8664
)

// peHeader is what the arm64 checks need of a PE32+ header.
type peHeader struct {
	offset  int // of "PE\0\0"
	machine uint16
	// sizeOfImage and sizeOfHeaders are the optional header's fields.
	sizeOfImage, sizeOfHeaders uint32
	// checksumOff is the offset of the CheckSum field in the file.
	checksumOff int
	// rawEnd is where the last section's raw data ends in the file: the
	// end of an unsigned image, the start of a signed one's certificate
	// table.
	rawEnd int64
	// certDir is the offset of the certificate table entry of the data
	// directory, -1 when the header has none.
	certDir int
}

// parsePE reads the PE32+ header that data's MS-DOS stub points to
// (e_lfanew at 0x3C) and its section table, and checks that every section's
// raw data lies after the headers and within the file.
func parsePE(data []byte) (peHeader, error) {
	if len(data) < 0x40 || string(data[:2]) != "MZ" {
		return peHeader{}, fmt.Errorf("%w: no \"MZ\" at 0", ErrBadPE)
	}
	off := int64(binary.LittleEndian.Uint32(data[offPEPointer:]))
	if off < 0x40 || off+peCOFFSize > int64(len(data)) {
		return peHeader{}, fmt.Errorf("%w: e_lfanew 0x%X at 0x%X is outside the file (%d bytes)", ErrBadPE, off, offPEPointer, len(data))
	}
	p := int(off)
	if string(data[p:p+4]) != peMagic {
		return peHeader{}, fmt.Errorf("%w: no \"PE\\0\\0\" at 0x%X", ErrBadPE, p)
	}
	h := peHeader{offset: p, machine: binary.LittleEndian.Uint16(data[p+4:]), certDir: -1}
	nsec := int(binary.LittleEndian.Uint16(data[p+6:]))
	optSize := int(binary.LittleEndian.Uint16(data[p+20:]))
	opt := p + peCOFFSize
	if nsec == 0 || nsec > peMaxSections {
		return peHeader{}, fmt.Errorf("%w: %d sections", ErrBadPE, nsec)
	}
	if optSize < peOptDataDirOff || opt+optSize+nsec*peSectionSize > len(data) {
		return peHeader{}, fmt.Errorf("%w: optional header of %d bytes and %d sections at 0x%X do not fit the file (%d bytes)", ErrBadPE, optSize, nsec, opt, len(data))
	}
	if magic := binary.LittleEndian.Uint16(data[opt:]); magic != peOpt32Plus {
		return peHeader{}, fmt.Errorf("%w: optional header magic 0x%X, want 0x%X (PE32+)", ErrBadPE, magic, peOpt32Plus)
	}
	h.sizeOfImage = binary.LittleEndian.Uint32(data[opt+peOptSizeImage:])
	h.sizeOfHeaders = binary.LittleEndian.Uint32(data[opt+peOptSizeHdrs:])
	h.checksumOff = opt + peOptChecksum
	nrva := int64(binary.LittleEndian.Uint32(data[opt+108:]))
	if cert := opt + peOptDataDirOff + peCertDirIndex*8; nrva > peCertDirIndex && cert+8 <= opt+optSize {
		h.certDir = cert
	}
	headersEnd := int64(opt + optSize + nsec*peSectionSize)
	if int64(h.sizeOfHeaders) < headersEnd {
		return peHeader{}, fmt.Errorf("%w: SizeOfHeaders %d, but the headers end at %d", ErrBadPE, h.sizeOfHeaders, headersEnd)
	}
	h.rawEnd = int64(h.sizeOfHeaders)
	for i := 0; i < nsec; i++ {
		s := opt + optSize + i*peSectionSize
		rawSize := int64(binary.LittleEndian.Uint32(data[s+16:]))
		rawPtr := int64(binary.LittleEndian.Uint32(data[s+20:]))
		if rawSize == 0 {
			continue
		}
		if rawPtr < int64(h.sizeOfHeaders) {
			return peHeader{}, fmt.Errorf("%w: section %d (%q) starts at %d, inside the headers (%d bytes)", ErrBadPE, i, sectionName(data[s:s+8]), rawPtr, h.sizeOfHeaders)
		}
		h.rawEnd = max(h.rawEnd, rawPtr+rawSize)
	}
	return h, nil
}

func sectionName(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// certTableOf checks the certificate table the PE header records: none
// (the image ends where its last section does), or one that starts there
// and runs to the end of the file (sbsign's layout), with well-formed
// entries.
func (h peHeader) certTableOf(data []byte) (certTable, error) {
	size := int64(len(data))
	if h.rawEnd > size {
		return certTable{}, fmt.Errorf("%w: %d bytes, the sections end at %d", ErrTruncated, size, h.rawEnd)
	}
	layout := peLayout{checksum: h.checksumOff, certDir: h.certDir}
	return checkSignatureTable(data, h.rawEnd, layout, false)
}

// peChecksum computes the PE CheckSum of data as the loader and sbsign do:
// the sum of its little-endian 16-bit words (a last odd byte padded with a
// zero) with the CheckSum field itself counted as zero, folded to 16 bits
// with end-around carries, plus the file's length.
func peChecksum(data []byte, checksumOff int) uint32 {
	var sum uint64
	n := len(data) &^ 7
	for i := 0; i < n; i += 8 {
		v := binary.LittleEndian.Uint64(data[i:])
		sum += v&0xFFFF + v>>16&0xFFFF + v>>32&0xFFFF + v>>48
	}
	for i := n; i < len(data); i++ {
		sum += uint64(data[i]) << (8 * (i & 1))
	}
	for i := checksumOff; i < checksumOff+4 && i < len(data); i++ {
		sum -= uint64(data[i]) << (8 * (i & 1))
	}
	for sum > 0xFFFF {
		sum = sum&0xFFFF + sum>>16
	}
	return uint32(sum) + uint32(len(data))
}

// checkPEChecksum compares the stored CheckSum with the computed one. A
// zero CheckSum means none was written (the linker leaves it zero; sbsign
// fills it in when it signs): it reports false, nil then.
func (h peHeader) checkPEChecksum(data []byte) (bool, error) {
	if h.checksumOff+4 > len(data) {
		return false, nil
	}
	stored := binary.LittleEndian.Uint32(data[h.checksumOff:])
	if stored == 0 {
		return false, nil
	}
	if computed := peChecksum(data, h.checksumOff); computed != stored {
		return false, fmt.Errorf("%w: PE CheckSum 0x%08x at 0x%X, computed 0x%08x over %d bytes", ErrChecksum, stored, h.checksumOff, computed, len(data))
	}
	return true, nil
}
