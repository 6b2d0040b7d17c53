package rebuild

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadLZ4 reports LZ4 data that does not decode: a truncated sequence, a
// match offset of zero or reaching before the start of its block, or a
// block that decodes to more than the format allows.
var ErrBadLZ4 = errors.New("malformed LZ4 data")

const (
	// legacyMagic starts an LZ4 legacy frame (lz4 -l), which the kernel's
	// build writes as the bzImage payload with the decompressed size
	// appended.
	legacyMagic = 0x184C2102
	// legacyBlockSize is the most a legacy-frame block decodes to.
	legacyBlockSize = 8 << 20
	// minMatch is added to the match length stored in a token.
	minMatch = 4
	// maxRatio bounds how many output bytes one input byte can stand for
	// (a 255-byte length extension); used to refuse absurd size claims
	// before allocating.
	maxRatio = 256
)

// literalFunc is told about every run of literals a decoder emits: the n
// bytes at offset in of the compressed input became the n bytes at offset
// out of the output. Output bytes no literal run covers were copied by a
// match.
type literalFunc func(out, in, n int)

// decodeBlock decodes one LZ4 block, src, appending its output to dst; the
// block's matches reach back only into what it appends itself, as in the
// legacy frame, whose blocks are independent. It refuses to append more
// than limit bytes. lit, when not nil, is called for each literal run with
// offsets relative to dst and to src plus srcBase. A block ends with a
// sequence that has literals and no match, as the reference decoder
// requires.
func decodeBlock(dst, src []byte, limit, srcBase int, lit literalFunc) ([]byte, error) {
	start := len(dst)
	i := 0
	for {
		if i >= len(src) {
			if i == 0 {
				return dst, fmt.Errorf("%w: empty block at input offset %d", ErrBadLZ4, srcBase)
			}
			return dst, fmt.Errorf("%w: block of %d bytes ends with a match at input offset %d", ErrBadLZ4, len(src), srcBase+i)
		}
		token := src[i]
		i++

		n := int(token >> 4)
		var err error
		if n == 15 {
			if n, i, err = extendLength(src, i, n, srcBase); err != nil {
				return dst, err
			}
		}
		if n > len(src)-i {
			return dst, fmt.Errorf("%w: %d literals at input offset %d, only %d bytes left in the block", ErrBadLZ4, n, srcBase+i, len(src)-i)
		}
		if n > limit-(len(dst)-start) {
			return dst, fmt.Errorf("%w: %d literals at input offset %d overflow the block limit of %d bytes", ErrBadLZ4, n, srcBase+i, limit)
		}
		if n > 0 {
			if lit != nil {
				lit(len(dst), srcBase+i, n)
			}
			dst = append(dst, src[i:i+n]...)
			i += n
		}
		if i == len(src) {
			return dst, nil // last sequence: literals only
		}

		if len(src)-i < 2 {
			return dst, fmt.Errorf("%w: match offset at input offset %d is truncated", ErrBadLZ4, srcBase+i)
		}
		off := int(binary.LittleEndian.Uint16(src[i:]))
		if off == 0 {
			return dst, fmt.Errorf("%w: match offset 0 at input offset %d", ErrBadLZ4, srcBase+i)
		}
		if off > len(dst)-start {
			return dst, fmt.Errorf("%w: match offset %d at input offset %d reaches before the block start (%d bytes decoded)", ErrBadLZ4, off, srcBase+i, len(dst)-start)
		}
		i += 2

		m := int(token & 15)
		if m == 15 {
			if m, i, err = extendLength(src, i, m, srcBase); err != nil {
				return dst, err
			}
		}
		m += minMatch
		if m > limit-(len(dst)-start) {
			return dst, fmt.Errorf("%w: match of %d bytes at input offset %d overflows the block limit of %d bytes", ErrBadLZ4, m, srcBase+i, limit)
		}
		// Overlapping copy: each chunk of at most off bytes only reads
		// bytes that already exist.
		for m > 0 {
			k := min(m, off)
			from := len(dst) - off
			dst = append(dst, dst[from:from+k]...)
			m -= k
		}
	}
}

// extendLength adds the length extension bytes that follow a nibble of 15:
// each byte is added, and a byte of 255 means another follows. It returns
// the length and the offset after the extension.
func extendLength(src []byte, i, n, srcBase int) (int, int, error) {
	for {
		if i >= len(src) {
			return 0, i, fmt.Errorf("%w: length extension truncated at input offset %d", ErrBadLZ4, srcBase+i)
		}
		b := src[i]
		i++
		n += int(b)
		if b != 255 {
			return n, i, nil
		}
	}
}

// decodeLegacy decodes an LZ4 legacy frame: the magic, then blocks each
// preceded by its compressed size as a little-endian uint32, possibly
// another magic between blocks (concatenated frames). stream must not hold
// the decompressed-size trailer that the kernel build appends; size is that
// trailer, the expected output length, which must match. lit, when not
// nil, gets every literal run with offsets into the output and into
// stream.
func decodeLegacy(stream []byte, size int, lit literalFunc) ([]byte, error) {
	if len(stream) < 4 || binary.LittleEndian.Uint32(stream) != legacyMagic {
		return nil, fmt.Errorf("%w: no LZ4 legacy frame magic 0x%08X at the start of the payload", ErrBadLZ4, legacyMagic)
	}
	if size < 0 || size/maxRatio > len(stream) {
		return nil, fmt.Errorf("%w: decompressed size %d is impossible for %d compressed bytes", ErrBadLZ4, size, len(stream))
	}
	out := make([]byte, 0, size)
	for i := 4; i < len(stream); {
		if len(stream)-i < 4 {
			return nil, fmt.Errorf("%w: %d stray bytes at input offset %d, too short for a block size", ErrBadLZ4, len(stream)-i, i)
		}
		n := binary.LittleEndian.Uint32(stream[i:])
		i += 4
		if n == legacyMagic {
			continue
		}
		if n == 0 || int64(n) > int64(len(stream)-i) {
			return nil, fmt.Errorf("%w: block of %d bytes at input offset %d, %d bytes left", ErrBadLZ4, n, i-4, len(stream)-i)
		}
		var err error
		out, err = decodeBlock(out, stream[i:i+int(n)], legacyBlockSize, i, lit)
		if err != nil {
			return nil, err
		}
		if len(out) > size {
			return nil, fmt.Errorf("%w: decoded %d bytes by input offset %d, trailer says %d", ErrBadLZ4, len(out), i, size)
		}
		i += int(n)
	}
	if len(out) != size {
		return nil, fmt.Errorf("%w: decoded %d bytes, trailer says %d", ErrBadLZ4, len(out), size)
	}
	return out, nil
}
