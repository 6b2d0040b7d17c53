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
	"time"
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

// TestTrialBoot (issue 14) on the BIOS + GRUB guest, one boot sequence:
//
//  1. A required unit runs only on the old kernel (ConditionKernelVersion=):
//     the new kernel comes up but fails the health gate at its deadline, is
//     rolled back by kexec to the old kernel with its old command line,
//     verified there; the build is quarantined and not tried again.
//  2. `run --now` tries that build again with an initrd that cannot mount the
//     root: the new kernel panics, panic= resets the machine, GRUB's one-shot
//     entry (set before the switch) boots the old kernel once; the trial is
//     recorded as failed through the firmware, the build quarantined, nothing
//     staged, no second attempt.
//
// It runs with KU_VM_FIRMWARE=1 (see TestGRUBGuest).
func TestTrialBoot(t *testing.T) {
	requireFirmwareRows(t)
	t.Parallel()
	vm := productGuestWith(t, Options{Name: "trial", Clock: clockInWindow, Guest: TrixieGRUB}, closedConfig)
	oldK, _ := vm.Kernels()
	vm.Run(t, `cat >/etc/systemd/system/ku-app.service <<'EOF'
[Unit]
Description=A workload that runs only on the old kernel
ConditionKernelVersion=`+oldK.Release+`

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true

[Install]
WantedBy=multi-user.target
EOF
systemctl daemon-reload && systemctl enable --now ku-app.service`)
	writeConfig(t, vm, "60-health.toml", "[health]\nunits = [\"ku-app.service\"]\ndeadline = \"2m\"\n")
	newK := installNewKernel(t, vm)
	if tr := statusTrial(t, vm); !tr.FallbackAvailable {
		t.Errorf("status trial: %+v; want the GRUB fallback available", tr)
	}

	t.Run("unhealthy_rolled_back", func(t *testing.T) {
		start := time.Now()
		mark := vm.SerialMark()
		writeConfig(t, vm, "50-scenario.toml", scenarioConfig)
		vm.WaitSerialSince(t, mark, kexecStarting, BootTimeout)
		switched := time.Now()
		if rel, _ := vm.WaitBootedSince(t, mark, BootTimeout); rel != newK.Release {
			t.Fatalf("after the switch: booted %s; want %s", rel, newK.Release)
		}
		up := time.Now()
		mark = vm.SerialMark()
		if next := grubNextEntry(t, vm); !strings.Contains(next, oldK.Release) {
			t.Errorf("during the trial GRUB's next_entry is %q; want the old kernel's entry (%s)", next, oldK.Release)
		}
		if tr := statusTrial(t, vm); !tr.InProgress {
			t.Errorf("status trial on the new kernel: %+v; want in progress", tr)
		}
		vm.WaitSerialSince(t, mark, kexecStarting, 2*time.Minute+verifyTimeout)
		detected := time.Now()
		if rel, _ := vm.WaitBootedSince(t, mark, BootTimeout); rel != oldK.Release {
			t.Fatalf("after the rollback: booted %s; want the old kernel %s", rel, oldK.Release)
		}
		back := time.Now()
		a := waitOutcome(t, vm)
		if a.Outcome != "rolled-back" || a.To.Release != newK.Release {
			t.Errorf("history: last attempt %s → %s %s; want rolled-back from %s", a.From.Release, a.To.Release, a.Outcome, newK.Release)
		}
		assertRunning(t, vm, oldK.Release)
		assertNothingStaged(t, vm)
		if got := strings.TrimSpace(vm.Run(t, loaderTypeCmd)); got != "d0" {
			t.Errorf("after the rollback boot_params type_of_loader = 0x%s; want 0xd0 (kexec)", got)
		}
		if tr := statusTrial(t, vm); len(tr.Quarantined) == 0 || tr.Quarantined[0].Kernel.Release != newK.Release {
			t.Errorf("status trial after the rollback: %+v; want %s quarantined", tr, newK.Release)
		}
		t.Logf("timeline: switch queued %v after the window opened, new kernel up %v later, rollback started %v later (gate deadline 2m), old kernel up %v later",
			switched.Sub(start).Round(time.Second), up.Sub(switched).Round(time.Second), detected.Sub(up).Round(time.Second), back.Sub(detected).Round(time.Second))
		t.Logf("history:\n%s", vm.Run(t, "kexec-upgrade history"))
		// Not tried again: the window is open and the build is newer, yet nothing switches.
		mark = vm.SerialMark()
		runOnce(t, vm)
		for _, line := range vm.SerialSince(mark) {
			if kexecStarting.MatchString(line) {
				t.Fatalf("the quarantined build was tried again: %q", line)
			}
		}
		if s := status(t, vm); s.Decision.Check != "failed-before" {
			t.Errorf("status after the rollback: %s (%s) %q; want refused at failed-before", s.Decision.Action, s.Decision.Check, s.Decision.Reason)
		}
	})

	t.Run("panic_firmware_fallback", func(t *testing.T) {
		initrd := "/boot/initrd.img-" + newK.Release
		vm.CopyIn(t, rootlessInitrd(t), initrd)
		start := time.Now()
		mark := vm.SerialMark()
		vm.Try("systemd-run --unit=ku-now kexec-upgrade run --now")
		vm.WaitSerialSince(t, mark, kexecStarting, BootTimeout)
		switched := time.Now()
		vm.WaitSerialSince(t, mark, kernelPanic, BootTimeout)
		panicked := time.Now()
		rel, _ := vm.WaitBootedSince(t, mark, BootTimeout)
		back := time.Now()
		if rel != oldK.Release {
			t.Fatalf("after the panic: booted %s; want the old kernel %s through GRUB's one-shot entry", rel, oldK.Release)
		}
		firmware := false
		for _, line := range vm.SerialSince(mark) {
			firmware = firmware || strings.Contains(line, "SeaBIOS")
		}
		if !firmware {
			t.Errorf("no firmware restart on the console after the panic")
		}
		if cmdline := vm.Run(t, "cat /proc/cmdline"); !strings.Contains(cmdline, "BOOT_IMAGE=/vmlinuz-"+oldK.Release) {
			t.Errorf("after the panic /proc/cmdline %q: want GRUB's entry of the old kernel", strings.TrimSpace(cmdline))
		}
		if next := grubNextEntry(t, vm); next != "" {
			t.Errorf("GRUB's next_entry is %q after it booted the fallback; want it consumed", next)
		}
		a := waitOutcome(t, vm)
		if !strings.HasPrefix(a.Outcome, "failed") || a.Kind != "trial-firmware-fallback" {
			t.Errorf("history: last attempt %s (%s); want failed, trial-firmware-fallback", a.Outcome, a.Kind)
		}
		assertNothingStaged(t, vm)
		t.Logf("timeline: switch queued %v after run --now, panic %v later, old kernel up through the firmware %v later",
			switched.Sub(start).Round(time.Second), panicked.Sub(switched).Round(time.Second), back.Sub(panicked).Round(time.Second))
		mark = vm.SerialMark()
		runOnce(t, vm)
		for _, line := range vm.SerialSince(mark) {
			if kexecStarting.MatchString(line) {
				t.Fatalf("the failed build was tried again: %q", line)
			}
		}
		if tr := statusTrial(t, vm); len(tr.Quarantined) == 0 {
			t.Errorf("status trial: %+v; want the build quarantined", tr)
		}
	})
}
