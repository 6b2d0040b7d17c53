//go:build !(linux && (amd64 || arm64))

package kexec

import "syscall"

func segLoad(entry uint64, segs []Segment) error { return syscall.ENOSYS }
