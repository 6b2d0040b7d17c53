package kernel

import (
	"errors"
	"testing"
)

func TestCheckInitrd(t *testing.T) {
	cases := []struct {
		name   string
		head   []byte
		size   int64
		format string
	}{
		{"early_microcode_cpio", []byte("07070100000001"), 30 << 20, "cpio (newc)"},
		{"cpio_with_crc", []byte("07070200"), 1 << 20, "cpio (newc with CRC)"},
		{"gzip", []byte{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0}, 1 << 20, "gzip"},
		{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0, 0}, 1 << 20, "zstd"},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00, 0, 4}, 1 << 20, "xz"},
		{"lz4_legacy", []byte{0x02, 0x21, 0x4c, 0x18, 0, 0, 0x80, 0}, 1 << 20, "lz4 (legacy)"},
		{"empty", nil, 0, ""},
		{"text", []byte("initrd 51"), 9, ""},
		{"zeros", make([]byte, 8), 4096, ""},
		{"elf", []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0}, 4096, ""},
		{"truncated_magic", []byte("0707"), 4, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			format, err := CheckInitrd(tc.head, tc.size)
			if tc.format == "" {
				if err == nil || !errors.Is(err, ErrInitrd) {
					t.Fatalf("CheckInitrd(% x, %d) = %q, %v; want ErrInitrd", tc.head, tc.size, format, err)
				}
				return
			}
			if err != nil || format != tc.format {
				t.Errorf("CheckInitrd(% x, %d) = %q, %v; want %q", tc.head, tc.size, format, err, tc.format)
			}
		})
	}
}

// FuzzCheckInitrd: never panics; accepts exactly the heads that start with
// a known magic, and its error is short enough for one journal line.
func FuzzCheckInitrd(f *testing.F) {
	f.Add([]byte("070701"), int64(100))
	f.Add([]byte{0x1f, 0x8b}, int64(2))
	f.Add([]byte{}, int64(0))
	f.Fuzz(func(t *testing.T, head []byte, size int64) {
		format, err := CheckInitrd(head, size)
		if (err == nil) == (format == "") {
			t.Fatalf("CheckInitrd = %q, %v: want exactly one of a format and an error", format, err)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Fatalf("error of %d bytes: %v", len(err.Error()), err)
		}
		if err == nil && size <= 0 {
			t.Fatalf("an empty file passed as %q", format)
		}
	})
}
