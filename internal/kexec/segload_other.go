//go:build !(linux && (amd64 || arm64))

package kexec

import "syscall"

var segLoad = func(entry uint64, segs []Segment) error { return syscall.ENOSYS }
