//go:build !linux

package kexec

import (
	"fmt"
	"os"
	"syscall"
)

// SealedMemfd needs Linux's memfd_create: elsewhere it fails with ENOSYS.
func SealedMemfd(name string, data []byte) (*os.File, error) {
	return nil, fmt.Errorf("memfd %q: %w", name, syscall.ENOSYS)
}
