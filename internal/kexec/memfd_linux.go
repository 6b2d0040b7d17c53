package kexec

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// memfdSeals are the seals SealedMemfd adds: no write, no size change, and
// no further change to the seals.
const memfdSeals = unix.F_SEAL_WRITE | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

// SealedMemfd returns a memory file (memfd_create) holding data, sealed so
// that nobody, this process included, can change it any more: what
// kexec_file_load reads from it is what was written. The name shows in
// /proc/PID/fd as "memfd:NAME". Close the file when done.
func SealedMemfd(name string, data []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create %q: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), "memfd:"+name)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("write memfd %q: %w", name, err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, memfdSeals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal memfd %q: %w", name, err)
	}
	return f, nil
}
