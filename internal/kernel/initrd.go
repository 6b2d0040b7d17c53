package kernel

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrInitrd is returned (wrapped) for an initrd that cannot be one.
var ErrInitrd = errors.New("not an initramfs")

// InitrdHeadSize is how many leading bytes CheckInitrd needs.
const InitrdHeadSize = 8

// initrdMagics are the formats Linux unpacks an initramfs from (see
// init/initramfs.c and lib/decompress.c): a newc cpio archive, which
// initramfs-tools and dracut put first for early microcode, or a compressed
// one.
var initrdMagics = []struct {
	name  string
	magic []byte
}{
	{"cpio (newc)", []byte("070701")},
	{"cpio (newc with CRC)", []byte("070702")},
	{"gzip", []byte{0x1f, 0x8b}},
	{"gzip (old)", []byte{0x1f, 0x9e}},
	{"bzip2", []byte("BZh")},
	{"lzma", []byte{0x5d, 0x00, 0x00}},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{"lzo", []byte{0x89, 'L', 'Z', 'O', 0x00}},
	{"lz4 (legacy)", []byte{0x02, 0x21, 0x4c, 0x18}},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}},
}

// CheckInitrd tells whether an initrd of size bytes starting with head
// (at least InitrdHeadSize bytes, fewer only for a shorter file) is in a
// format Linux can unpack, and names the format. It is pure.
func CheckInitrd(head []byte, size int64) (format string, err error) {
	if size <= 0 {
		return "", fmt.Errorf("%w: the file is empty", ErrInitrd)
	}
	for _, m := range initrdMagics {
		if bytes.HasPrefix(head, m.magic) && size >= int64(len(m.magic)) {
			return m.name, nil
		}
	}
	shown := head
	if len(shown) > InitrdHeadSize {
		shown = shown[:InitrdHeadSize]
	}
	return "", fmt.Errorf("%w: it starts with % x, which is neither a cpio archive nor a compressed one Linux can unpack", ErrInitrd, shown)
}
