// Package rebuild makes a "same-release rebuild" of a Debian kernel
// package for the end-to-end tests: a linux-image package with the same
// release ("uname -r") as a real one but a different build string
// ("uname -v") and a higher version, which the Debian archive never ships.
//
// The kernel is not rebuilt. One digit of the build string is changed in
// place: in the setup header's kernel_version, in any other uncompressed
// copy in the image, and in the LZ4-compressed payload, where only literal
// bytes of the compressed stream are changed so that its length (baked into
// the decompressor) stays the same. The decoded payload is then checked to
// differ from the original at exactly the intended bytes, and the image's
// CRC32 is recomputed. The sbsign signature is kept, and no longer matches:
// the image boots only without Secure Boot.
package rebuild

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// Errors returned by PatchImage, wrapped with details; test for them with
// errors.Is. Malformed compressed data is reported as ErrBadLZ4, a
// malformed image as one of the errors of package kernel.
var (
	// ErrNoPayload: the setup header's payload_offset and payload_length
	// do not describe an LZ4 legacy frame with its size trailer inside
	// the image.
	ErrNoPayload = errors.New("kernel image has no usable LZ4 payload")
	// ErrNoBuildString: the decompressed kernel or the uncompressed part
	// of the image does not contain the build string of kernel_version.
	ErrNoBuildString = errors.New("build string not found")
	// ErrNoCandidate: no digit of the build string can be changed by
	// patching literals of the compressed stream alone.
	ErrNoCandidate = errors.New("no character of the build string can be patched in place")
)

// Setup header fields (boot.rst) that package kernel does not read.
const (
	offPayloadOffset = 0x248 // relative to the protected-mode code
	offPayloadLength = 0x24C
	offPEPointer     = 0x3C
)

// payloadRange locates the compressed payload of a parsed image: the LZ4
// stream is image[start:end-4], image[end-4:end] the decompressed size.
func payloadRange(image []byte, im kernel.Image) (start, end, size int, err error) {
	setup := im.SetupSize()
	base := im.Base()
	if int64(len(image)) < setup || setup < offPayloadLength+4 {
		return 0, 0, 0, fmt.Errorf("%w: setup area of %d bytes", ErrNoPayload, setup)
	}
	off := int64(binary.LittleEndian.Uint32(image[offPayloadOffset:]))
	length := int64(binary.LittleEndian.Uint32(image[offPayloadLength:]))
	s, e := setup+off, setup+off+length
	// The image's own CRC32 occupies the last 4 bytes before base.
	if length < 8 || e > base-4 {
		return 0, 0, 0, fmt.Errorf("%w: payload_offset %d, payload_length %d, but the payload area ends at %d", ErrNoPayload, off, length, base-4-setup)
	}
	if m := binary.LittleEndian.Uint32(image[s:]); m != legacyMagic {
		return 0, 0, 0, fmt.Errorf("%w: payload at offset %d starts with 0x%08X, not the LZ4 legacy magic 0x%08X (another compression?)", ErrNoPayload, s, m, legacyMagic)
	}
	sz := int64(binary.LittleEndian.Uint32(image[e-4:]))
	return int(s), int(e), int(sz), nil
}

// candidate is a one-byte change of the build string: at index pos, old
// becomes new.
type candidate struct {
	pos      int
	old, new byte
}

// candidates lists the digits of build in the order they are tried: the
// last digit of the Debian revision (the last word not in parentheses, as
// "6.1.192-2" in "... Debian 6.1.192-2 (2025-01-02)"), the build count
// after '#', then every other digit from the end. A digit becomes 9, or 8
// if it is 9.
func candidates(build string) []candidate {
	var order []int
	lastVersionDigit := -1
	for i := 0; i < len(build); {
		for i < len(build) && build[i] == ' ' {
			i++
		}
		j := i
		for j < len(build) && build[j] != ' ' {
			j++
		}
		if j > i && build[i] != '(' {
			for k := j - 1; k >= i; k-- {
				if isDigit(build[k]) {
					lastVersionDigit = k
					break
				}
			}
		}
		i = j
	}
	if lastVersionDigit >= 0 {
		order = append(order, lastVersionDigit)
	}
	if h := bytes.IndexByte([]byte(build), '#'); h >= 0 {
		k := h + 1
		for k < len(build) && isDigit(build[k]) {
			k++
		}
		if k > h+1 {
			order = append(order, k-1)
		}
	}
	for k := len(build) - 1; k >= 0; k-- {
		if isDigit(build[k]) {
			order = append(order, k)
		}
	}
	seen := make(map[int]bool)
	var out []candidate
	for _, k := range order {
		if seen[k] {
			continue
		}
		seen[k] = true
		c := candidate{pos: k, old: build[k], new: '9'}
		if c.old == '9' {
			c.new = '8'
		}
		out = append(out, c)
	}
	return out
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// findAll returns the offsets of the non-overlapping occurrences of sep in
// s, in order.
func findAll(s, sep []byte) []int {
	var at []int
	for i := 0; len(sep) > 0 && i <= len(s)-len(sep); {
		j := bytes.Index(s[i:], sep)
		if j < 0 {
			break
		}
		at = append(at, i+j)
		i += j + len(sep)
	}
	return at
}

// literalSources decodes stream and maps each output position of the
// sorted targets to the offset in stream of the literal it was decoded
// from, or -1 when a match copied it.
func literalSources(stream []byte, size int, targets []int) ([]int, error) {
	src := make([]int, len(targets))
	for i := range src {
		src[i] = -1
	}
	_, err := decodeLegacy(stream, size, func(out, in, n int) {
		for j := sort.SearchInts(targets, out); j < len(targets) && targets[j] < out+n; j++ {
			src[j] = in + targets[j] - out
		}
	})
	if err != nil {
		return nil, err
	}
	return src, nil
}

// checkDiff verifies that got equals orig except at the sorted positions
// targets, where it holds want.
func checkDiff(orig, got []byte, targets []int, want byte) error {
	if len(got) != len(orig) {
		return fmt.Errorf("patched payload decodes to %d bytes, original to %d", len(got), len(orig))
	}
	prev := 0
	for _, t := range targets {
		if err := sameBytes(orig, got, prev, t); err != nil {
			return err
		}
		if got[t] != want {
			return fmt.Errorf("decoded byte %d is %q, want %q", t, got[t], want)
		}
		prev = t + 1
	}
	return sameBytes(orig, got, prev, len(orig))
}

// sameBytes reports the first byte in [from, to) where got differs from
// orig.
func sameBytes(orig, got []byte, from, to int) error {
	if bytes.Equal(orig[from:to], got[from:to]) {
		return nil
	}
	for k := from; k < to; k++ {
		if orig[k] != got[k] {
			return fmt.Errorf("decoded byte %d changed from 0x%02X to 0x%02X, outside the build strings", k, orig[k], got[k])
		}
	}
	return nil
}

// patchStream applies c to the compressed stream: it patches the literals
// that the occurrences of the build string (at occ in the decoded orig)
// were decoded from, decodes the result and checks that exactly the
// intended bytes changed. src maps each byte of each occurrence, in order,
// to its literal in stream (or -1), as literalSources returns.
func patchStream(stream, orig []byte, occ, src []int, buildLen int, c candidate) ([]byte, error) {
	targets := make([]int, len(occ))
	var lits []int
	copied := 0
	for j, o := range occ {
		targets[j] = o + c.pos
		if s := src[j*buildLen+c.pos]; s >= 0 {
			lits = append(lits, s)
		} else {
			copied++
		}
	}
	if len(lits) == 0 {
		return nil, fmt.Errorf("all %d occurrences are copied by matches", len(occ))
	}
	patched := bytes.Clone(stream)
	for _, s := range lits {
		patched[s] = c.new
	}
	got, err := decodeLegacy(patched, len(orig), nil)
	if err != nil {
		return nil, fmt.Errorf("decode patched stream: %w", err)
	}
	if err := checkDiff(orig, got, targets, c.new); err != nil {
		return nil, fmt.Errorf("%d of %d occurrences from literals: %w", len(lits), len(occ), err)
	}
	return patched, nil
}

// PatchImage returns a copy of a signed or unsigned x86 bzImage with an
// LZ4 payload whose build string ("uname -v") differs in one digit, and the
// old and new build strings. The release, the length of every part and
// the signature table are unchanged; the CRC32 is recomputed. It changes
// the digit in kernel_version, in every other uncompressed copy of the
// build string before the end of the payload (the KASLR seed string of
// the decompressor), and in every copy in the decompressed kernel
// (linux_banner, init_uts_ns), by patching literal bytes of the compressed
// stream; it verifies that the patched payload decodes to the original
// with exactly those bytes changed, and that kernel.ParseImage accepts the
// result. It does not modify image.
func PatchImage(image []byte) (patched []byte, oldBuild, newBuild string, err error) {
	im, err := kernel.ParseImage(image)
	if err != nil {
		return nil, "", "", fmt.Errorf("patch kernel image: %w", err)
	}
	start, end, size, err := payloadRange(image, im)
	if err != nil {
		return nil, "", "", fmt.Errorf("patch kernel image: %w", err)
	}
	stream := image[start : end-4]
	orig, err := decodeLegacy(stream, size, nil)
	if err != nil {
		return nil, "", "", fmt.Errorf("patch kernel image: decode payload at offset %d: %w", start, err)
	}
	oldBuild = im.Build
	old := []byte(oldBuild)
	occ := findAll(orig, old)
	if len(occ) == 0 {
		return nil, "", "", fmt.Errorf("patch kernel image: %w: %q is not in the %d-byte decompressed kernel", ErrNoBuildString, oldBuild, len(orig))
	}
	targets := make([]int, 0, len(occ)*len(old))
	for _, o := range occ {
		for k := range old {
			targets = append(targets, o+k)
		}
	}
	src, err := literalSources(stream, size, targets)
	if err != nil {
		return nil, "", "", fmt.Errorf("patch kernel image: trace payload: %w", err)
	}

	var tried []error
	for _, c := range candidates(oldBuild) {
		newStream, err := patchStream(stream, orig, occ, src, len(old), c)
		if err != nil {
			tried = append(tried, fmt.Errorf("%q at %d -> %q: %w", c.old, c.pos, c.new, err))
			continue
		}
		nb := []byte(oldBuild)
		nb[c.pos] = c.new
		newBuild = string(nb)
		out, err := finishImage(image, im, start, end, newStream, old, c)
		if err != nil {
			return nil, "", "", fmt.Errorf("patch kernel image: %w", err)
		}
		return out, oldBuild, newBuild, nil
	}
	if len(tried) == 0 {
		return nil, "", "", fmt.Errorf("patch kernel image: %w: build string %q has no digit", ErrNoCandidate, oldBuild)
	}
	return nil, "", "", fmt.Errorf("patch kernel image: %w: %q: %w", ErrNoCandidate, oldBuild, errors.Join(tried...))
}

// PatchHeader changes one digit of image's build string in the uncompressed
// copies only (the setup header's kernel_version and the decompressor's
// strings), leaving the compressed kernel as it is, and recomputes the
// CRC32. Readers of the image's header see a new build of the same release;
// booted, it still reports the old build string. For kernels whose payload
// PatchImage cannot patch (trixie's zstd) when the image is never booted: a
// signed image that no longer matches its Authenticode signature.
func PatchHeader(image []byte) (patched []byte, oldBuild, newBuild string, err error) {
	im, err := kernel.ParseImage(image)
	if err != nil {
		return nil, "", "", fmt.Errorf("patch kernel header: %w", err)
	}
	setup := im.SetupSize()
	off := int64(binary.LittleEndian.Uint32(image[offPayloadOffset:]))
	length := int64(binary.LittleEndian.Uint32(image[offPayloadLength:]))
	start, end := int(setup+off), int(setup+off+length)
	stream := image[start : end-4]
	oldBuild = im.Build
	cs := candidates(oldBuild)
	if len(cs) == 0 {
		return nil, "", "", fmt.Errorf("patch kernel header: %w: build string %q has no digit", ErrNoCandidate, oldBuild)
	}
	c := cs[0]
	out, err := finishImage(image, im, start, end, stream, []byte(oldBuild), c)
	if err != nil {
		return nil, "", "", fmt.Errorf("patch kernel header: %w", err)
	}
	nb := []byte(oldBuild)
	nb[c.pos] = c.new
	return out, oldBuild, string(nb), nil
}

// finishImage builds the patched image: the new stream in place of the old
// one, c applied to every uncompressed copy of the build string outside
// the payload, a new CRC32; and checks it with kernel.ParseImage.
func finishImage(image []byte, im kernel.Image, start, end int, stream, old []byte, c candidate) ([]byte, error) {
	out := bytes.Clone(image)
	copy(out[start:end-4], stream)
	base := int(im.Base())
	patchedCopies := 0
	for _, o := range findAll(out[:base], old) {
		if o < end && o+len(old) > start {
			continue // inside the compressed stream: bytes that happen to match
		}
		out[o+c.pos] = c.new
		patchedCopies++
	}
	if patchedCopies == 0 {
		return nil, fmt.Errorf("%w: %q is not in the uncompressed part of the image", ErrNoBuildString, old)
	}
	setup := int(im.SetupSize())
	crc := imageCRC(out[:base-4], setup)
	binary.LittleEndian.PutUint32(out[base-4:], crc)

	got, err := kernel.ParseImage(out)
	if err != nil {
		return nil, fmt.Errorf("patched image does not parse: %w", err)
	}
	want := []byte(im.Build)
	want[c.pos] = c.new
	if got.Build != string(want) || got.Release != im.Release {
		return nil, fmt.Errorf("patched image has release %q and build %q, want %q and %q", got.Release, got.Build, im.Release, want)
	}
	return out, nil
}

// imageCRC computes the CRC32 that arch/x86/boot/tools/build.c stores in
// the last 4 bytes of an image: CRC-32 (IEEE) seeded with all ones, not
// inverted at the end, over data (everything before those 4 bytes), with
// the PE CheckSum and certificate table entry that signing fills in
// counted as zero. The PE header lies in the first setup bytes.
func imageCRC(data []byte, setup int) uint32 {
	head := bytes.Clone(data[:setup])
	for _, h := range peHoles(head) {
		clear(head[h[0]:h[1]])
	}
	crc := crc32.Update(0, crc32.IEEETable, head)
	crc = crc32.Update(crc, crc32.IEEETable, data[setup:])
	return ^crc
}

// peHoles returns the byte ranges of the PE CheckSum and of the
// certificate table data-directory entry in a setup area, as package
// kernel finds them: only fields inside the setup area count.
func peHoles(setup []byte) [][2]int {
	n := len(setup)
	if n < offPEPointer+4 || string(setup[:2]) != "MZ" {
		return nil
	}
	p64 := int64(binary.LittleEndian.Uint32(setup[offPEPointer:]))
	const coffSize = 24
	if p64+coffSize+2 > int64(n) {
		return nil
	}
	p := int(p64)
	if string(setup[p:p+4]) != "PE\x00\x00" {
		return nil
	}
	optSize := int(binary.LittleEndian.Uint16(setup[p+20:]))
	opt := p + coffSize
	var numRVAOff, certOff int
	switch binary.LittleEndian.Uint16(setup[opt:]) {
	case 0x20B: // PE32+
		numRVAOff, certOff = 108, 144
	case 0x10B: // PE32
		numRVAOff, certOff = 92, 128
	default:
		return nil
	}
	var holes [][2]int
	if optSize >= 68 && opt+68 <= n {
		holes = append(holes, [2]int{opt + 64, opt + 68})
	}
	if optSize >= certOff+8 && opt+certOff+8 <= n &&
		binary.LittleEndian.Uint32(setup[opt+numRVAOff:]) > 4 {
		holes = append(holes, [2]int{opt + certOff, opt + certOff + 8})
	}
	return holes
}
