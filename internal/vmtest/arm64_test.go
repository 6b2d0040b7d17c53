//go:build vm

package vmtest

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kexec"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// arm64VerifyTimeout bounds the wait for the verification after the switch: the timer
// fires a minute after boot, and emulated arm64 runs several times slower than x86.
const arm64VerifyTimeout = 12 * time.Minute

// arm64BootTimeout bounds each boot of the arm64 guest. With -cpu max less LPA2 and
// QARMA (Guest.cpu) it boots in about 1.5 min alone; the first runs, under QARMA pointer
// authentication with four guests on the machine's two cores, took up to 7 min 15 s.
const arm64BootTimeout = 20 * time.Minute

// builtARM64Deb returns the package `make deb ARCH=arm64` built (the newest in dist/),
// or $KU_DEB_ARM64.
func builtARM64Deb(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KU_DEB_ARM64"); p != "" {
		return p
	}
	matches, _ := filepath.Glob("../../dist/kexec-upgrade_*_arm64.deb")
	if len(matches) == 0 {
		t.Fatalf("no dist/kexec-upgrade_*_arm64.deb: run `make deb ARCH=arm64` first (make vm-test does)")
	}
	sort.Slice(matches, func(i, j int) bool { return modTime(matches[i]).After(modTime(matches[j])) })
	return matches[0]
}

// TestARM64SwitchAndRefusal is the arm64 row, on one boot sequence of one emulated guest
// (trixie's two newest arm64 cloud kernels): the arm64 package is installed; a truncated
// copy of the new image is refused with a reason naming it and nothing is staged; with the
// image put back, the package's own units switch inside the window (kexec_load: Debian's
// arm64 kernels lack CONFIG_KEXEC_FILE), the timer's run after boot verifies the switch by
// the attempt's marker in /proc/cmdline, and history shows it.
func TestARM64SwitchAndRefusal(t *testing.T) {
	t.Parallel()
	scenario := time.Now()
	vm := Start(t, Options{Name: "arm64", Guest: TrixieARM64, Clock: clockInWindow, BootTimeout: arm64BootTimeout})
	booted := time.Since(scenario)
	oldK, _ := vm.Kernels()
	vm.CopyIn(t, builtARM64Deb(t), "/root/kexec-upgrade.deb")
	vm.Run(t, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/kexec-upgrade.deb >/dev/null")
	// Debian's arm64 kernels lack kexec_file_load; staging through kexec_load is an opt-in.
	vm.Run(t, "mkdir -p /etc/systemd/system/kexec-upgrade.service.d && printf '[Service]\nEnvironment="+kexec.SegmentLoadEnv+"=1\n' >/etc/systemd/system/kexec-upgrade.service.d/50-kexec-load.conf && systemctl daemon-reload")
	if got := strings.TrimSpace(vm.Run(t, "systemctl is-enabled kexec-upgrade.timer")); got != "enabled" {
		t.Fatalf("after installing the package, kexec-upgrade.timer is %q; want enabled", got)
	}
	if got := strings.TrimSpace(vm.Run(t, "grep -h '^SystemCallFilter=' /lib/systemd/system/kexec-upgrade.service | tail -n 1")); got != "SystemCallFilter=kexec_file_load kexec_load" {
		t.Errorf("the arm64 service's last SystemCallFilter= is %q; want kexec_load allowed too", got)
	}
	// Closed while the kernel installs and the image is damaged (see TestRefusals).
	writeConfig(t, vm, "50-scenario.toml", closedConfig)
	runOnce(t, vm)
	t.Logf("running %s: %s", oldK.Release, strings.TrimSpace(vm.Run(t, "grep -h 'CONFIG_KEXEC' /boot/config-$(uname -r)")))
	saveGuestFacts(t, vm)

	mark := vm.SerialMark()
	newK := installNewKernel(t, vm)
	assertTarget(t, vm, newK)
	image := "/boot/vmlinuz-" + newK.Release
	vm.Run(t, "cp "+image+" /root/vmlinuz.good")

	t.Run("truncated_refused", func(t *testing.T) {
		vm.Run(t, "truncate -s 300000 "+image)
		runMark := vm.SerialMark()
		setWindow(t, vm, true)
		runOnce(t, vm)
		for _, line := range vm.SerialSince(runMark) {
			if kexecStarting.MatchString(line) {
				t.Fatalf("the truncated image was loaded and switched to: %q", line)
			}
		}
		s := status(t, vm)
		if s.Decision.Action != "refuse" || !strings.Contains(s.Decision.Reason, "vmlinuz") || !strings.Contains(s.Decision.Reason, newK.Release) {
			t.Errorf("status: decision %s (%s): %q; want refuse naming the image of %s", s.Decision.Action, s.Decision.Check, s.Decision.Reason, newK.Release)
		}
		if s.Staged {
			t.Errorf("status: staged = true; want nothing staged")
		}
		assertNothingStaged(t, vm)
		assertRunning(t, vm, oldK.Release)
		t.Logf("refused (%s): %s", s.Decision.Check, s.Decision.Reason)
		setWindow(t, vm, false)
		vm.Run(t, "cat /root/vmlinuz.good > "+image+" && cmp /root/vmlinuz.good "+image)
	})
	if t.Failed() {
		return
	}
	if n := len(events(t, vm, systemd.EventStaged)); n != 0 {
		t.Fatalf("journal: %d staged events before the switch; want none", n)
	}

	// Open the window: the package's own units (the path unit sees the changed
	// configuration, the timer runs every 5 minutes) switch.
	_, oldBootID := vm.LastBoot()
	switchStart := time.Now()
	writeConfig(t, vm, "50-scenario.toml", scenarioConfig)
	vm.WaitSerialSince(t, mark, kexecStarting, arm64BootTimeout)
	rel, bootID := vm.WaitBootedSince(t, mark, arm64BootTimeout)
	if rel != newK.Release || bootID == oldBootID {
		t.Fatalf("after the switch: booted %s (boot %s); want %s in a new boot (was %s)", rel, bootID, newK.Release, oldBootID)
	}
	switched := time.Since(switchStart)
	a := waitOutcomeWithin(t, vm, arm64VerifyTimeout)
	if a.Outcome != "verified" || a.From.Release != oldK.Release || a.To.Release != newK.Release {
		t.Errorf("history: last attempt %s %s → %s; want verified %s → %s", a.Outcome, a.From.Release, a.To.Release, oldK.Release, newK.Release)
	}
	assertRunning(t, vm, newK.Release)
	cmdline := strings.TrimSpace(vm.Run(t, "cat /proc/cmdline"))
	if !strings.Contains(cmdline, "kexec_upgrade.attempt=") || !strings.HasSuffix(cmdline, "-"+newK.Release) {
		t.Errorf("/proc/cmdline %q: want the attempt's kexec_upgrade.attempt=…-%s marker last", cmdline, newK.Release)
	}
	assertNothingStaged(t, vm)
	if failed := strings.TrimSpace(vm.Run(t, "systemctl --failed --no-legend --plain")); failed != "" {
		t.Errorf("failed units after the switch:\n%s", failed)
	}
	t.Logf("history:\n%s", vm.Run(t, "kexec-upgrade history"))
	t.Logf("arm64 timings: boot %v, switch (window opened to new kernel booted) %v, scenario %v",
		booted.Round(time.Second), switched.Round(time.Second), time.Since(scenario).Round(time.Second))
}

// saveGuestFacts keeps the guest's device tree and memory map in the log directory: the
// inputs of the arm64 kexec_load layout (internal/kexec's testdata comes from here).
func saveGuestFacts(t *testing.T, vm *VM) {
	t.Helper()
	dtb, err := base64.StdEncoding.DecodeString(strings.TrimSpace(vm.Run(t, "base64 -w0 /sys/firmware/fdt")))
	if err != nil {
		t.Fatalf("decode /sys/firmware/fdt: %v", err)
	}
	if err := os.WriteFile(filepath.Join(vm.LogDir(), "fdt.dtb"), dtb, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(vm.LogDir(), "iomem"), []byte(vm.Run(t, "cat /proc/iomem")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitOutcomeWithin is waitOutcome with its own timeout.
func waitOutcomeWithin(t *testing.T, vm *VM, timeout time.Duration) attemptView {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if h := history(t, vm); len(h) > 0 && h[len(h)-1].Outcome != "pending" {
			return h[len(h)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verification within %v of boot; timer and journal:\n%s\n%s", timeout,
				vm.Run(t, "systemctl list-timers --all --no-pager kexec-upgrade.timer"),
				vm.Run(t, "journalctl -u kexec-upgrade --no-pager | tail -n 40"))
		}
		time.Sleep(5 * time.Second)
	}
}
