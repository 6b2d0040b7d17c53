//go:build linux && (amd64 || arm64)

package kexec

import "golang.org/x/sys/unix"

const unloadFlag = unix.KEXEC_FILE_UNLOAD

func fileLoad(kernelFd, initrdFd int, cmdline string, flags int) error {
	return unix.KexecFileLoad(kernelFd, initrdFd, cmdline, flags)
}
