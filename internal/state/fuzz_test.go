package state

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzParse(f *testing.F) {
	full, err := Marshal(fullState())
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{
		full,
		full[:len(full)/3],
		[]byte(`{"version":1}`),
		[]byte(`{"version":1,"staged":{"to":{"release":"6.1.0-51-cloud-amd64"},"queued_at":"0001-01-01T00:00:00Z"}}`),
		[]byte(`{"version":1,"attempts":[{"at":"2026-03-28T02:30:00.123456789+01:00","duration_seconds":1e300}]}`),
		[]byte(`{"version":2}`),
		[]byte(`null`),
		[]byte(""),
		[]byte("\x00\x00\x00"),
		[]byte(`{"version":1,"failed":[{"kernel":{"release":"\ud800"}}],"images":[{"inode":18446744073709551615}]}`),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Parse(%q) error = %v; want it to wrap ErrCorrupt", data, err)
			}
			return
		}
		if s.Version != FormatVersion {
			t.Fatalf("Parse(%q).Version = %d; want %d", data, s.Version, FormatVersion)
		}
		// What Parse accepts, Marshal writes and Parse reads back the same.
		m, err := Marshal(s)
		if err != nil {
			t.Fatalf("Marshal(Parse(%q)) error: %v", data, err)
		}
		s2, err := Parse(m)
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(%q))) error: %v\nfile:\n%s", data, err, m)
		}
		m2, err := Marshal(s2)
		if err != nil {
			t.Fatalf("Marshal of the re-parsed state: %v", err)
		}
		if !bytes.Equal(m, m2) {
			t.Fatalf("Parse(Marshal(s)) differs from s for input %q:\n%s\nvs\n%s", data, m, m2)
		}
		// A torn write leaves a prefix of the file: it is corrupt unless it
		// holds the whole document (at most the final newline is missing).
		for _, n := range cuts(len(m)) {
			prefix := m[:n]
			p, err := Parse(prefix)
			whole := bytes.Equal(bytes.TrimSpace(prefix), bytes.TrimSpace(m))
			switch {
			case whole && err != nil:
				t.Fatalf("Parse(whole file less its newline) error: %v", err)
			case whole:
				if pm, _ := Marshal(p); !bytes.Equal(pm, m) {
					t.Fatalf("Parse(whole file less its newline) = %s; want %s", pm, m)
				}
			case !errors.Is(err, ErrCorrupt):
				t.Fatalf("Parse(first %d of %d bytes) error = %v; want ErrCorrupt\nprefix: %q", n, len(m), err, prefix)
			}
		}
	})
}

// cuts returns the prefix lengths to try for a file of n bytes: all of them
// for a small file, 64 spread over a large one, and the last few always.
func cuts(n int) []int {
	if n <= 2048 {
		out := make([]int, n+1)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []int
	for i := 0; i < 64; i++ {
		out = append(out, i*n/64)
	}
	return append(out, n-2, n-1, n)
}
