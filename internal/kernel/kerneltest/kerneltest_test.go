package kerneltest

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestBzImageLayout(t *testing.T) {
	const setup = (SetupSects + 1) * 512
	tests := []struct {
		name     string
		opts     Options
		wantSize int
	}{
		{"default", Options{}, setup + DefaultPayloadSize},
		{"signed", Options{Signed: true}, setup + DefaultPayloadSize + 1472},
		{"payload_rounded_to_16", Options{PayloadSize: 17}, setup + 32},
		{"trailing", Options{Trailing: 5}, setup + DefaultPayloadSize + 5},
		{"truncated", Options{Signed: true, Truncate: 300}, 300},
		{"truncate_longer_than_image", Options{Truncate: 1 << 20}, setup + DefaultPayloadSize},
		{"tail", Options{Tail: 5}, setup + DefaultPayloadSize + 5},
		{"tail_before_signature_aligned", Options{Tail: 5, Signed: true}, setup + DefaultPayloadSize + 8 + 1472},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := BzImage(tt.opts)
			if len(img) != tt.wantSize {
				t.Errorf("len(BzImage(%+v)) = %d; want %d", tt.opts, len(img), tt.wantSize)
			}
			if !bytes.Equal(img, BzImage(tt.opts)) {
				t.Errorf("BzImage(%+v) differs between calls", tt.opts)
			}
		})
	}
}

func TestBzImageCRC(t *testing.T) {
	const base = (SetupSects+1)*512 + DefaultPayloadSize
	tests := []struct {
		name     string
		opts     Options
		wantZero bool
	}{
		{"stored", Options{}, false},
		{"zeros_without_crc", Options{NoCRC: true, Release: NoCRCRelease}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := BzImage(tt.opts)
			if got := binary.LittleEndian.Uint32(img[base-4:]) == 0; got != tt.wantZero {
				t.Errorf("BzImage(%+v) CRC field is zero = %t; want %t", tt.opts, got, tt.wantZero)
			}
		})
	}
}

func TestBzImageSignatureAfterTail(t *testing.T) {
	const base = (SetupSects+1)*512 + DefaultPayloadSize
	img := BzImage(Options{Signed: true, Tail: 13})
	if off := binary.LittleEndian.Uint32(img[certDirOffs:]); off != base+16 {
		t.Errorf("certificate table offset = %d; want %d (base + the tail rounded up to 8)", off, base+16)
	}
}

func TestBzImageVersionString(t *testing.T) {
	img := BzImage(Options{Release: "6.1.0-9-amd64", Build: "#1 SMP"})
	ptr := int(binary.LittleEndian.Uint16(img[0x20E:])) + 0x200
	end := bytes.IndexByte(img[ptr:], 0)
	got := string(img[ptr : ptr+end])
	if want := "6.1.0-9-amd64 (" + DefaultBuilder + ") #1 SMP"; got != want {
		t.Errorf("kernel_version of BzImage = %q; want %q", got, want)
	}
}
