package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
)

// Arch is a CPU architecture whose kernel images this package checks,
// named as Go and Debian name it.
type Arch string

// The architectures with a kernel image format here.
const (
	// ArchAMD64: x86-64, whose kexec_file_load takes a bzImage.
	ArchAMD64 Arch = "amd64"
	// ArchARM64: arm64, whose kexec_file_load takes a raw Image.
	ArchARM64 Arch = "arm64"
)

// NativeArch is the architecture this program was built for: the kernels
// it runs on, and so the only images it can switch to.
const NativeArch = Arch(runtime.GOARCH)

// Format is how a kernel image file is laid out.
type Format string

// The image formats ParseImage tells apart.
const (
	// FormatBzImage: an x86 bzImage (Documentation/arch/x86/boot.rst).
	FormatBzImage Format = "bzImage"
	// FormatImage: a raw arm64 Image, as Debian ships it (wrapped as PE by
	// the EFI stub, signed).
	FormatImage Format = "Image"
	// FormatImageGz: an arm64 Image compressed with gzip.
	FormatImageGz Format = "Image.gz"
	// FormatZboot: an EFI zboot container (CONFIG_EFI_ZBOOT) holding a
	// compressed arm64 Image.
	FormatZboot Format = "EFI zboot"
)

// Packed reports whether kexec_file_load cannot take the file as it is:
// the Image must be unpacked from it first.
func (f Format) Packed() bool {
	return f == FormatImageGz || f == FormatZboot
}

// ErrWrongArch: the image is a kernel for another architecture than the
// one asked for.
var ErrWrongArch = errors.New("kernel image is for another architecture")

// ErrUnsupportedArch: no image format is known for the architecture.
var ErrUnsupportedArch = errors.New("no kernel image format for this architecture")

// DetectFormat tells an image's format by its magic numbers alone, without
// checking anything else: the bzImage boot sector (0xAA55 at 0x1FE, "HdrS"
// at 0x202), the EFI zboot header ("MZ", "zimg" at 4), the arm64 Image
// magic ("ARM\x64" at 0x38) or the gzip magic. ok is false for anything
// else.
func DetectFormat(data []byte) (f Format, ok bool) {
	f = detectFormat(data)
	return f, f != ""
}

func detectFormat(data []byte) Format {
	switch {
	case len(data) >= offHeaderMagic+4 && binary.LittleEndian.Uint16(data[offBootFlag:]) == 0xAA55 &&
		string(data[offHeaderMagic:offHeaderMagic+4]) == "HdrS":
		return FormatBzImage
	case len(data) >= arm64HeaderSize && string(data[:2]) == "MZ" && string(data[zbootOffType:zbootOffType+4]) == zbootType:
		return FormatZboot
	case len(data) >= arm64HeaderSize && string(data[arm64OffMagic:arm64OffMagic+4]) == arm64Magic:
		return FormatImage
	case len(data) >= 3 && data[0] == 0x1F && data[1] == 0x8B && data[2] == 8:
		return FormatImageGz
	}
	return ""
}

// Arch is the architecture whose kernels come in this format.
func (f Format) Arch() Arch {
	switch f {
	case FormatBzImage:
		return ArchAMD64
	case FormatImage, FormatImageGz, FormatZboot:
		return ArchARM64
	}
	return ""
}

// ParseImage checks a whole kernel image file before it is handed to
// kexec_file_load, in the format its magic numbers name (DetectFormat): a
// bzImage as ParseBzImage does, an arm64 image as ParseArm64Image does.
// Data in no known format gets ParseBzImage's answer (ErrNotBzImage). It
// does not ask which architecture the machine has: Image.Arch says which
// the image is for, and ParseImageFor refuses one for another.
func ParseImage(data []byte) (Image, error) {
	switch f := detectFormat(data); f.Arch() {
	case ArchARM64:
		return ParseArm64Image(data)
	default:
		return ParseBzImage(data)
	}
}

// ParseImageFor checks a kernel image file for a machine of arch: in that
// architecture's format, and refused with ErrWrongArch when its magic
// numbers say it is a kernel for another one. ParseImageFor(NativeArch, …)
// is what this machine can switch to.
func ParseImageFor(arch Arch, data []byte) (Image, error) {
	im, _, err := LoadableImage(arch, data)
	return im, err
}

// LoadableImage is ParseImageFor that also returns the bytes
// kexec_file_load must be given: data itself, or for a packed format
// (Format.Packed) the Image unpacked from it, which the caller stages from
// a sealed memory file.
func LoadableImage(arch Arch, data []byte) (Image, []byte, error) {
	f := detectFormat(data)
	switch arch {
	case ArchAMD64:
		if f == FormatImage || f == FormatZboot {
			return Image{}, nil, fmt.Errorf("%w: an arm64 %s, and this machine is %s", ErrWrongArch, f, arch)
		}
		im, err := ParseBzImage(data)
		if err != nil {
			return Image{}, nil, err
		}
		return im, data, nil
	case ArchARM64:
		if f == FormatBzImage {
			return Image{}, nil, fmt.Errorf("%w: an x86 bzImage, and this machine is %s", ErrWrongArch, arch)
		}
		return parseArm64File(data)
	}
	return Image{}, nil, fmt.Errorf("%w: %q", ErrUnsupportedArch, arch)
}
