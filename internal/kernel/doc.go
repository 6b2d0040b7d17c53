// Package kernel is pure: it orders kernel releases and Debian package
// versions, validates x86 bzImage files given as bytes, and edits kernel
// command lines, without doing any I/O of its own.
//
// Release ordering follows Debian's "linux-version sort" (package
// linux-base), package versions follow dpkg. Image validation follows the
// x86 boot protocol (Documentation/arch/x86/boot.rst) and the layout written
// by arch/x86/boot/tools/build.c (whose CRC32 Linux 6.15 and later no longer
// carry), plus the PE certificate table that sbsign appends when Debian
// signs an image. Command lines are split the way the
// kernel's next_arg() splits them.
package kernel
