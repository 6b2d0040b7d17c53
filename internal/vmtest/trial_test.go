//go:build vm

package vmtest

import (
	"bytes"
	"encoding/json"
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
	out := vm.Run(t, "kexec-upgrade status --json")
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("kexec-upgrade status --json printed %q: %v", out, err)
	}
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

// rootlessInitrd writes an initramfs (an uncompressed newc cpio archive) that
// holds one file and no /init: the kernel falls back to mounting root= itself,
// cannot (virtio_blk is a module of the cloud kernel) and panics.
func rootlessInitrd(t *testing.T) string {
	t.Helper()
	var b bytes.Buffer
	entry := func(name string, mode uint32, data []byte) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		b.WriteString(name + "\x00")
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.Write(data)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	entry("no-init-here", 0o100644, []byte("this initramfs cannot mount the root file system\n"))
	entry("TRAILER!!!", 0, nil)
	path := filepath.Join(t.TempDir(), "initrd.img")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatalf("write the rootless initrd: %v", err)
	}
	return path
}

var kernelPanic = regexp.MustCompile(`Kernel panic`)
