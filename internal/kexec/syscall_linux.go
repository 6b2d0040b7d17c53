//go:build linux && (amd64 || arm64)

package kexec

import "golang.org/x/sys/unix"

const unloadFlag = unix.KEXEC_FILE_UNLOAD

// fileLoad calls kexec_file_load(2); a variable so that tests can stand
// in for the kernel.
var fileLoad = func(kernelFd, initrdFd int, cmdline string, flags int) error {
	return unix.KexecFileLoad(kernelFd, initrdFd, cmdline, flags)
}
