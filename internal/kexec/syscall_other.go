//go:build !(linux && (amd64 || arm64))

package kexec

import "syscall"

const unloadFlag = 1

var fileLoad = func(kernelFd, initrdFd int, cmdline string, flags int) error {
	return syscall.ENOSYS
}
