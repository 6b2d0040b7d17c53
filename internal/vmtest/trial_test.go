//go:build vm

package vmtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// trialView is status --json's trial boot.
type trialView struct {
	InProgress        bool   `json:"in_progress"`
	Phase             string `json:"phase"`
	FallbackAvailable bool   `json:"fallback_available"`
	FallbackEntry     string `json:"fallback_entry"`
	Fallback          string `json:"fallback"`
	Quarantined       []struct {
		Kernel struct {
			Release string `json:"release"`
		} `json:"kernel"`
		Kind   string `json:"kind"`
		Reason string `json:"reason"`
	} `json:"quarantined"`
}

func statusTrial(t *testing.T, vm *VM) trialView {
	t.Helper()
	var s struct {
		Trial trialView `json:"trial"`
	}
	statusJSON(t, vm, &s)
	return s.Trial
}

// grubNextEntry is GRUB's one-shot entry in the guest's environment block ("" if unset).
func grubNextEntry(t *testing.T, vm *VM) string {
	t.Helper()
	for _, line := range strings.Split(vm.Run(t, "grub-editenv /boot/grub/grubenv list"), "\n") {
		if v, ok := strings.CutPrefix(line, "next_entry="); ok {
			return v
		}
	}
	return ""
}

// cpioFile is one file of an initramfs.
type cpioFile struct {
	name string
	mode uint32
	data []byte
}

// writeInitrd writes files as an initramfs (an uncompressed newc cpio
// archive) to a new file in a test directory, whose path it returns.
func writeInitrd(t *testing.T, files ...cpioFile) string {
	t.Helper()
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	for _, f := range append(files, cpioFile{name: "TRAILER!!!"}) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			1, f.mode, 0, 0, 1, 0, len(f.data), 0, 0, 0, 0, len(f.name)+1, 0)
		b.WriteString(f.name + "\x00")
		pad()
		b.Write(f.data)
		pad()
	}
	path := filepath.Join(t.TempDir(), "initrd.img")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatalf("write the initrd: %v", err)
	}
	return path
}

// rootlessInitrd writes an initramfs that holds one file and no /init: the
// kernel falls back to mounting root= itself, cannot (virtio_blk is a module
// of the cloud kernel) and panics.
func rootlessInitrd(t *testing.T) string {
	t.Helper()
	return writeInitrd(t, cpioFile{name: "no-init-here", mode: 0o100644, data: []byte("this initramfs cannot mount the root file system\n")})
}

var kernelPanic = regexp.MustCompile(`Kernel panic`)
