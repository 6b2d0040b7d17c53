// Package kernel is pure: it orders kernel releases and Debian package
// versions, validates kernel image files given as bytes (x86 bzImage,
// arm64 Image, Image.gz and EFI zboot, which it unpacks), and edits kernel
// command lines, without doing any I/O of its own.
//
// Release ordering follows Debian's "linux-version sort" (package
// linux-base), package versions follow dpkg. Image validation follows the
// x86 boot protocol (Documentation/arch/x86/boot.rst) and the layout written
// by arch/x86/boot/tools/build.c (whose CRC32 Linux 6.15 and later no longer
// carry), plus the PE certificate table that sbsign appends when Debian
// signs an image. arm64 images follow Documentation/arch/arm64/booting.rst
// and the PE/COFF layout of the EFI stub, with the PE CheckSum sbsign
// writes. CheckAuthenticode compares the digest in a signed image's
// Authenticode signature with the image's, hashed as the kernel's
// verify_pefile_signature() hashes it. Command lines are split the way the
// kernel's next_arg() splits them.
package kernel
