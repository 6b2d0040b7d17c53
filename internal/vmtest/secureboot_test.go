//go:build vm

package vmtest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/vmtest/rebuild"
)

// TestSecureBootGuest (issue 13): a trixie guest booted through OVMF with
// Secure Boot on (Microsoft's keys enrolled), shim, Debian's signed GRUB and
// kernel, so the kernel runs in lockdown (integrity) and kexec_file_load
// takes only kernels whose signature it can verify. On one boot sequence:
// status names the boot facts; a rebuild of the running kernel (its build
// string patched in the image's header), so no longer validly signed, is refused before any load with a reason that
// names Secure Boot and the image, nothing staged, and not retried; the newer
// signed Debian kernel switches by kexec as a trial (GRUB's one-shot entry
// set, then cleared) and is verified, still in lockdown.
func TestSecureBootGuest(t *testing.T) {
	t.Parallel()
	vm := productGuestWith(t, Options{Name: "secure-boot", Clock: clockInWindow, Guest: TrixieSecureBoot}, closedConfig)
	oldK, _ := vm.Kernels()
	if lockdown := vm.Run(t, "cat /sys/kernel/security/lockdown"); !strings.Contains(lockdown, "[integrity]") {
		t.Fatalf("lockdown %q; want [integrity] under Secure Boot (console: %s)", strings.TrimSpace(lockdown), vm.logDir)
	}
	b := statusBoot(t, vm)
	t.Logf("status boot facts: %+v", b)
	if b.Firmware != "uefi" || b.SecureBoot != "enabled" || b.Lockdown != "integrity" || b.Bootloader != "grub" {
		t.Errorf("status boot: %+v; want firmware uefi, Secure Boot enabled, lockdown integrity, bootloader grub", b)
	}

	t.Run("unsigned_rebuild_refused", func(t *testing.T) {
		// trixie's payload is zstd, which the rebuild cannot patch; a header-only
		// patch is enough for an image that must never be loaded.
		res, err := rebuild.RepackHeaderOnly(oldK.Deb, t.TempDir())
		if err != nil {
			t.Fatalf("repack %s: %v", oldK.Deb, err)
		}
		deb := "/root/" + filepath.Base(res.Path)
		vm.CopyIn(t, res.Path, deb)
		// INITRD=No: initramfs-tools' kernel hook keeps the running kernel's
		// initrd instead of building the same one again (minutes under TCG);
		// the refusal is about the image.
		vm.Run(t, "INITRD=No DEBIAN_FRONTEND=noninteractive dpkg -i "+deb+" >/dev/null")
		image := "/boot/vmlinuz-" + oldK.Release
		for run := 1; run <= 2; run++ {
			mark := vm.SerialMark()
			if run == 1 {
				setWindow(t, vm, true)
			}
			runOnce(t, vm)
			for _, line := range vm.SerialSince(mark) {
				if kexecStarting.MatchString(line) {
					t.Fatalf("run %d: the rebuild was switched to: %q", run, line)
				}
			}
			assertDecision(t, vm, "refuse", "image", systemd.EventRefused, image, "Secure Boot")
			assertNothingStaged(t, vm)
		}
		if evs := events(t, vm, systemd.EventStaged); len(evs) != 0 {
			t.Errorf("journal: %d staged events; want no load of the unsigned rebuild: %v", len(evs), evs)
		}
		setWindow(t, vm, false)
	})

	newK := installNewKernel(t, vm)
	// Signed GRUB on UEFI keeps its environment block in /boot/grub too: the
	// trial's firmware fallback is there, and a healthy trial clears it.
	if tr := statusTrial(t, vm); !tr.FallbackAvailable {
		t.Errorf("status trial on the UEFI guest: %+v; want the GRUB fallback available", tr)
	}
	mark := vm.SerialMark()
	writeConfig(t, vm, "50-scenario.toml", scenarioConfig)
	switchAndVerify(t, vm, mark, newK)
	if next := grubNextEntry(t, vm); next != "" {
		t.Errorf("after the verified switch GRUB's next_entry is %q; want it cleared", next)
	}
	if lockdown := vm.Run(t, "cat /sys/kernel/security/lockdown"); !strings.Contains(lockdown, "[integrity]") {
		t.Errorf("after the switch, lockdown %q; want [integrity] still", strings.TrimSpace(lockdown))
	}
	if b := statusBoot(t, vm); b.SecureBoot != "enabled" || b.Lockdown != "integrity" {
		t.Errorf("after the switch, status boot %+v; want Secure Boot enabled and lockdown integrity", b)
	}
}
