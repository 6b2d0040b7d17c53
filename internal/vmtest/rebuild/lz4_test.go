package rebuild

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// appendLen appends the length extension of n once its nibble is 15.
func appendLen(b []byte, n int) []byte {
	if n < 15 {
		return b
	}
	for n -= 15; n >= 255; n -= 255 {
		b = append(b, 255)
	}
	return append(b, byte(n))
}

// seq appends an LZ4 sequence: lits, then a match of mlen bytes (at least
// 4) at distance off. mlen 0 makes the last sequence of a block, without a
// match.
func seq(b, lits []byte, off, mlen int) []byte {
	ml := 0
	if mlen > 0 {
		ml = mlen - minMatch
	}
	b = append(b, byte(min(len(lits), 15))<<4|byte(min(ml, 15)))
	b = appendLen(b, len(lits))
	b = append(b, lits...)
	if mlen == 0 {
		return b
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(off))
	return appendLen(b, ml)
}

// provenance decodes a block and returns, for every output byte, the
// offset of the input literal it came from, or -1 for a match.
func provenance(src []byte) ([]byte, []int, error) {
	var runs [][3]int
	out, err := decodeBlock(nil, src, 1<<20, 0, func(o, i, n int) {
		runs = append(runs, [3]int{o, i, n})
	})
	prov := make([]int, len(out))
	for i := range prov {
		prov[i] = -1
	}
	for _, r := range runs {
		for k := range r[2] {
			prov[r[0]+k] = r[1] + k
		}
	}
	return out, prov, err
}

func TestDecodeBlockProvenance(t *testing.T) {
	long := bytes.Repeat([]byte("0123456789"), 30) // 300 literals: 15+255+30
	tests := []struct {
		name     string
		src      []byte
		want     string
		wantProv []int
	}{
		{
			name:     "literals_only",
			src:      seq(nil, []byte("hello"), 0, 0),
			want:     "hello",
			wantProv: []int{1, 2, 3, 4, 5},
		},
		{
			name:     "rle_offset_1",
			src:      seq(seq(nil, []byte("a"), 1, 6), []byte("Z"), 0, 0),
			want:     "aaaaaaaZ",
			wantProv: []int{1, -1, -1, -1, -1, -1, -1, 5},
		},
		{
			name:     "overlap_offset_2",
			src:      seq(seq(nil, []byte("ab"), 2, 7), []byte("c"), 0, 0),
			want:     "ababababac",
			wantProv: []int{1, 2, -1, -1, -1, -1, -1, -1, -1, 6},
		},
		{
			name: "non_overlapping_match_then_literals",
			src:  seq(seq(nil, []byte("wxyz-"), 5, 4), []byte("!"), 0, 0),
			want: "wxyz-wxyz!",
			wantProv: []int{
				1, 2, 3, 4, 5, -1, -1, -1, -1, 9,
			},
		},
		{
			name: "match_without_literals",
			src:  seq(seq(seq(nil, []byte("abcd"), 4, 4), nil, 8, 4), []byte("e"), 0, 0),
			want: "abcdabcdabcde",
			wantProv: []int{
				1, 2, 3, 4, -1, -1, -1, -1, -1, -1, -1, -1, 11,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, prov, err := provenance(tt.src)
			if err != nil {
				t.Fatalf("decodeBlock(% x): %v", tt.src, err)
			}
			if string(out) != tt.want {
				t.Errorf("decodeBlock(% x) = %q; want %q", tt.src, out, tt.want)
			}
			if !slices.Equal(prov, tt.wantProv) {
				t.Errorf("provenance = %v; want %v", prov, tt.wantProv)
			}
			for i, p := range prov {
				if p >= 0 && tt.src[p] != out[i] {
					t.Errorf("output byte %d is %q, its literal at %d is %q", i, out[i], p, tt.src[p])
				}
			}
		})
	}

	t.Run("long_lengths", func(t *testing.T) {
		src := seq(nil, long, 10, 4+15+255+7) // match extension 255, 7
		src = seq(src, []byte("end"), 0, 0)
		out, prov, err := provenance(src)
		if err != nil {
			t.Fatalf("decodeBlock: %v", err)
		}
		want := slices.Concat(long, bytes.Repeat([]byte("0123456789"), 29)[:281], []byte("end"))
		if !bytes.Equal(out, want) {
			t.Fatalf("decodeBlock = %q; want %q", out, want)
		}
		// token, 2 extension bytes, then the 300 literals
		if prov[0] != 3 || prov[299] != 302 || prov[300] != -1 || prov[580] != -1 || prov[581] < 0 {
			t.Errorf("provenance around the long runs: %v %v %v %v %v", prov[0], prov[299], prov[300], prov[580], prov[581])
		}
	})
}

// A literal the decoder reports is exactly the input byte a patch must
// change; a match copying it carries the change along, which is what
// PatchImage's full verification catches.
func TestPatchedLiteralPropagatesThroughMatch(t *testing.T) {
	src := seq(seq(nil, []byte("ab"), 2, 6), []byte("."), 0, 0)
	out, prov, err := provenance(src)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "abababab." {
		t.Fatalf("decoded %q", out)
	}
	patched := bytes.Clone(src)
	patched[prov[0]] = 'X'
	got, err := decodeBlock(nil, patched, 1<<10, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "XbXbXbXb." {
		t.Errorf("patched block decodes to %q; want %q", got, "XbXbXbXb.")
	}
	if err := checkDiff(out, got, []int{0}, 'X'); err == nil {
		t.Errorf("checkDiff accepted a change copied by a match to byte 2")
	}
	if err := checkDiff(out, got, []int{0, 2, 4, 6}, 'X'); err != nil {
		t.Errorf("checkDiff with every changed byte intended: %v", err)
	}
}

func TestDecodeBlockErrors(t *testing.T) {
	tests := []struct {
		name  string
		src   []byte
		limit int
	}{
		{"empty", nil, 100},
		{"offset_zero", seq(seq(nil, []byte("abcd"), 0, 4), []byte("x"), 0, 0), 100},
		{"offset_before_start", seq(seq(nil, []byte("abcd"), 5, 4), []byte("x"), 0, 0), 100},
		{"ends_with_match", seq(nil, []byte("abcd"), 4, 4), 100},
		{"truncated_literals", []byte{0x50, 'a', 'b'}, 100},
		{"truncated_literal_extension", []byte{0xF0, 255, 255}, 100},
		{"truncated_offset", []byte{0x10, 'a', 1}, 100},
		{"truncated_match_extension", []byte{0x1F, 'a', 1, 0, 255}, 100},
		{"literals_over_limit", seq(nil, []byte("abcdefgh"), 0, 0), 7},
		{"match_over_limit", seq(seq(nil, []byte("a"), 1, 1000), []byte("x"), 0, 0), 500},
		{"huge_match_extension", append(append([]byte{0x1F, 'a', 1, 0}, bytes.Repeat([]byte{255}, 1000)...), 0), 1 << 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := decodeBlock(nil, tt.src, tt.limit, 0, nil)
			if !errors.Is(err, ErrBadLZ4) {
				t.Errorf("decodeBlock(% x) error = %v; want ErrBadLZ4", tt.src, err)
			}
			if len(out) > tt.limit {
				t.Errorf("decodeBlock(% x) returned %d bytes, limit %d", tt.src, len(out), tt.limit)
			}
		})
	}
}

// legacyFrame builds an LZ4 legacy frame from blocks.
func legacyFrame(blocks ...[]byte) []byte {
	f := binary.LittleEndian.AppendUint32(nil, legacyMagic)
	for _, b := range blocks {
		f = binary.LittleEndian.AppendUint32(f, uint32(len(b)))
		f = append(f, b...)
	}
	return f
}

func TestDecodeLegacy(t *testing.T) {
	b1 := seq(seq(nil, []byte("abc"), 3, 6), []byte("!"), 0, 0) // abcabcabc!
	b2 := seq(nil, []byte("xyz"), 0, 0)
	frame := legacyFrame(b1, b2)
	// A second frame header between blocks is skipped.
	frame2 := slices.Concat(legacyFrame(b1), binary.LittleEndian.AppendUint32(nil, legacyMagic), frame[8+len(b1):])

	for name, f := range map[string][]byte{"two_blocks": frame, "concatenated": frame2} {
		t.Run(name, func(t *testing.T) {
			var runs [][3]int
			out, err := decodeLegacy(f, 13, func(o, i, n int) { runs = append(runs, [3]int{o, i, n}) })
			if err != nil {
				t.Fatalf("decodeLegacy: %v", err)
			}
			if string(out) != "abcabcabc!xyz" {
				t.Errorf("decodeLegacy = %q", out)
			}
			for _, r := range runs {
				if !bytes.Equal(out[r[0]:r[0]+r[2]], f[r[1]:r[1]+r[2]]) {
					t.Errorf("literal run %v does not match the stream", r)
				}
			}
			if len(runs) != 3 || runs[2][0] != 10 {
				t.Errorf("literal runs = %v; want 3, the last at output 10", runs)
			}
		})
	}

	crossBlock := legacyFrame(b1, seq(seq(nil, []byte("q"), 5, 4), []byte("z"), 0, 0))
	bad := map[string]struct {
		f    []byte
		size int
	}{
		"no_magic":           {[]byte{1, 2, 3, 4, 5}, 0},
		"short":              {[]byte{0x02, 0x21}, 0},
		"size_mismatch":      {frame, 12},
		"size_too_big":       {frame, 14},
		"impossible_size":    {frame, 1 << 30},
		"negative_size":      {frame, -1},
		"stray_bytes":        {append(bytes.Clone(frame), 1, 2), 13},
		"block_past_end":     {frame[:len(frame)-1], 13},
		"zero_block":         {append(bytes.Clone(frame), 0, 0, 0, 0), 13},
		"match_across_block": {crossBlock, 16},
	}
	for name, tt := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeLegacy(tt.f, tt.size, nil); !errors.Is(err, ErrBadLZ4) {
				t.Errorf("decodeLegacy error = %v; want ErrBadLZ4", err)
			}
		})
	}
}

func FuzzDecodeBlock(f *testing.F) {
	f.Add(seq(nil, []byte("hello"), 0, 0))
	f.Add(seq(seq(nil, []byte("ab"), 2, 40), []byte("c"), 0, 0))
	f.Add(seq(seq(nil, bytes.Repeat([]byte("x"), 300), 1, 600), []byte("c"), 0, 0))
	f.Add([]byte{0x1F, 'a', 1, 0, 255, 255, 255, 0})
	f.Add([]byte{0xF0, 255})
	f.Fuzz(func(t *testing.T, src []byte) {
		const limit = 1 << 16
		prefix := []byte("kept")
		var runs [][3]int
		out, err := decodeBlock(bytes.Clone(prefix), src, limit, 7, func(o, i, n int) {
			runs = append(runs, [3]int{o, i, n})
		})
		if err != nil && !errors.Is(err, ErrBadLZ4) {
			t.Fatalf("error %v is not ErrBadLZ4", err)
		}
		if !bytes.HasPrefix(out, prefix) {
			t.Fatalf("output lost the bytes before the block: %q", out[:min(len(out), 4)])
		}
		if len(out)-len(prefix) > limit || cap(out) > 2*limit+64 {
			t.Fatalf("output of %d bytes (capacity %d) exceeds the limit %d", len(out), cap(out), limit)
		}
		next := len(prefix)
		for _, r := range runs {
			o, i, n := r[0], r[1]-7, r[2]
			if o < next || n <= 0 || i < 0 || i+n > len(src) || o+n > len(out) {
				t.Fatalf("bad literal run %v (output %d bytes, input %d)", r, len(out), len(src))
			}
			if !bytes.Equal(out[o:o+n], src[i:i+n]) {
				t.Fatalf("literal run %v does not match the input", r)
			}
			next = o + n
		}
		if err == nil {
			again, err2 := decodeBlock(nil, src, limit, 0, nil)
			if err2 != nil || !bytes.Equal(again, out[len(prefix):]) {
				t.Fatalf("second decode differs: %v", err2)
			}
		}
	})
}
