//go:build vm

package vmtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// bootView is status --json's boot facts.
type bootView struct {
	Firmware    string `json:"firmware"`
	SecureBoot  string `json:"secure_boot"`
	Lockdown    string `json:"lockdown"`
	Bootloader  string `json:"bootloader"`
	GrubDefault string `json:"grub_default"`
}

func statusBoot(t *testing.T, vm *VM) bootView {
	t.Helper()
	var s struct {
		Boot bootView `json:"boot"`
	}
	out := vm.Run(t, "kexec-upgrade status --json")
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("kexec-upgrade status --json printed %q: %v", out, err)
	}
	return s.Boot
}

// firmwareRows reports whether the GRUB guests' scenarios run (KU_VM_FIRMWARE=1).
func firmwareRows() bool { return os.Getenv("KU_VM_FIRMWARE") == "1" }

// secureBootRow reports whether the UEFI Secure Boot scenario runs (KU_VM_SECURE_BOOT=1).
func secureBootRow() bool { return os.Getenv("KU_VM_SECURE_BOOT") == "1" }

// requireFirmwareRows skips a GRUB guest's scenario unless KU_VM_FIRMWARE=1.
func requireFirmwareRows(t *testing.T) {
	t.Helper()
	if !firmwareRows() {
		t.Skip("set KU_VM_FIRMWARE=1 to run the BIOS + GRUB guest's scenarios")
	}
}

// metricsFile is where the package writes its metrics (node_exporter's
// textfile collector directory on Debian).
const metricsFile = "/var/lib/prometheus/node-exporter/kexec_upgrade.prom"

// TestGRUBGuest (issue 13): a trixie guest that boots like a cloud image —
// SeaBIOS, GRUB installed by Debian's grub-install on a partitioned disk,
// /boot on its own partition, root=UUID= and BOOT_IMAGE= from GRUB — on one
// boot sequence: status names the boot facts; with /boot unmounted the
// installed newer kernel is refused with a reason that names /boot and stays
// pending in status and metrics, nothing staged; mounted again, the switch
// happens by kexec and is verified with root=UUID= kept, and the trial's
// GRUB one-shot entry is cleared; a plain reboot afterwards comes up on the
// new kernel through the firmware and GRUB.
//
// It runs with KU_VM_FIRMWARE=1, as TestTrialBoot does: not yet part of
// `make test` (see README, "The VM suite").
func TestGRUBGuest(t *testing.T) {
	requireFirmwareRows(t)
	t.Parallel()
	vm := productGuestWith(t, Options{Name: "grub", Clock: clockInWindow, Guest: TrixieGRUB}, closedConfig)
	oldK, _ := vm.Kernels()
	rootUUID, bootUUID := vm.img.rootUUID, vm.img.bootUUID
	cmdline := vm.Run(t, "cat /proc/cmdline")
	if !strings.Contains(cmdline, "BOOT_IMAGE=/vmlinuz-"+oldK.Release) || !strings.Contains(cmdline, "root=UUID="+rootUUID) {
		t.Fatalf("/proc/cmdline %q: want GRUB's BOOT_IMAGE=/vmlinuz-%s and root=UUID=%s", strings.TrimSpace(cmdline), oldK.Release, rootUUID)
	}
	if got := strings.TrimSpace(vm.Run(t, "findmnt -n -o UUID /boot")); got != bootUUID {
		t.Fatalf("/boot is mounted from UUID %q; want its own partition %s", got, bootUUID)
	}
	b := statusBoot(t, vm)
	t.Logf("status boot facts: %+v", b)
	if b.Firmware != "bios" || b.Bootloader != "grub" {
		t.Errorf("status boot: firmware %q, bootloader %q; want bios and grub", b.Firmware, b.Bootloader)
	}

	// node_exporter's textfile directory: the package writes its metrics there when it exists.
	vm.Run(t, "install -d -m 0755 "+filepath.Dir(metricsFile))
	newK := installNewKernel(t, vm)
	// The kernel's postinst ran update-grub: GRUB's first entry is the new kernel.
	if first := vm.Run(t, "grep -m1 -o 'vmlinuz-[^ ]*' /boot/grub/grub.cfg"); !strings.Contains(first, newK.Release) {
		t.Errorf("GRUB's first entry boots %q; want vmlinuz-%s", strings.TrimSpace(first), newK.Release)
	}

	t.Run("boot_unmounted", func(t *testing.T) {
		vm.Run(t, "umount /boot")
		setWindow(t, vm, true)
		runOnce(t, vm)
		assertDecision(t, vm, "refuse", "image", systemd.EventRefused, "/boot/vmlinuz-"+newK.Release, "/boot")
		assertNothingStaged(t, vm)
		assertRunning(t, vm, oldK.Release)
		if s := status(t, vm); s.Target == nil || s.Target.Release != newK.Release || !s.Target.New {
			t.Errorf("status: target %+v; want %s pending", s.Target, newK.Release)
		}
		if m := vm.Run(t, "cat "+metricsFile); !strings.Contains(m, "kexec_upgrade_upgrade_pending 1") {
			t.Errorf("metrics: no kexec_upgrade_upgrade_pending 1:\n%s", m)
		}
		setWindow(t, vm, false)
		vm.Run(t, "mount /boot")
	})

	mark := vm.SerialMark()
	writeConfig(t, vm, "50-scenario.toml", scenarioConfig)
	switchAndVerify(t, vm, mark, newK)
	cmdline = vm.Run(t, "cat /proc/cmdline")
	if !strings.Contains(cmdline, "root=UUID="+rootUUID) || strings.Contains(cmdline, "BOOT_IMAGE=/vmlinuz-"+oldK.Release) {
		t.Errorf("after the switch /proc/cmdline %q: want root=UUID=%s kept and no BOOT_IMAGE= of the old kernel", strings.TrimSpace(cmdline), rootUUID)
	}

	// The trial ended healthy (issue 14): GRUB's one-shot entry of the old
	// kernel, set before the switch, is gone.
	if next := grubNextEntry(t, vm); next != "" {
		t.Errorf("after the verified switch GRUB's next_entry is %q; want it cleared", next)
	}

	// A plain reboot goes through SeaBIOS and GRUB, whose default is the new kernel.
	_, before := vm.LastBoot()
	mark = vm.SerialMark()
	vm.Try("systemctl reboot")
	rel, after := vm.WaitBootedSince(t, mark, BootTimeout)
	if rel != newK.Release || after == before {
		t.Errorf("after the reboot: %s (boot %s); want %s in a new boot (was %s)", rel, after, newK.Release, before)
	}
	if got := strings.TrimSpace(vm.Run(t, loaderTypeCmd)); got == "d0" {
		t.Errorf("boot_params type_of_loader after the reboot = 0x%s; want GRUB's, not 0xd0 (kexec)", got)
	}
	if cmdline = vm.Run(t, "cat /proc/cmdline"); !strings.Contains(cmdline, "BOOT_IMAGE=/vmlinuz-"+newK.Release) {
		t.Errorf("after the reboot /proc/cmdline %q: want GRUB's BOOT_IMAGE=/vmlinuz-%s", strings.TrimSpace(cmdline), newK.Release)
	}
	if a := history(t, vm); len(a) == 0 || a[len(a)-1].Outcome != "verified" {
		t.Errorf("history after the reboot: %+v; want the switch still the last attempt, verified", a)
	}
}
