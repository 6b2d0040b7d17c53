//go:build vm

package vmtest

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestDemo is `make demo`: a guest switches kernels the way it would in
// production, and the story is printed for a person to read. It runs only
// when KU_DEMO=1 (the scenarios cover the same ground in `make test`).
func TestDemo(t *testing.T) {
	if os.Getenv("KU_DEMO") != "1" {
		t.Skip("set KU_DEMO=1 (make demo) to run the demo")
	}
	say := func(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }
	show := func(vm *VM, cmd string) {
		fmt.Printf("# %s\n%s", cmd, vm.Run(t, cmd))
	}
	g := Bookworm
	if name := os.Getenv("KU_DEMO_GUEST"); name != "" {
		var err error
		if g, err = ParseGuest(name); err != nil {
			t.Fatalf("KU_DEMO_GUEST: %v", err)
		}
	}
	say("booting a Debian %s VM under QEMU (software emulation: this takes a minute)", g)
	vm := productGuestWith(t, Options{Name: "demo", Clock: clockInWindow, Guest: g}, scenarioConfig)
	oldK, newK := vm.Kernels()
	say("kexec-upgrade is installed from the freshly built package; its configuration:")
	show(vm, "cat /etc/kexec-upgrade/config.d/50-scenario.toml")
	say("before: the VM runs %s", oldK.Release)
	show(vm, "uname -rv")
	say("an update installs %s (%s), as unattended-upgrades or an admin would", newK.Package, newK.Version)
	mark := vm.SerialMark()
	installNewKernel(t, vm)
	show(vm, "kexec-upgrade status")
	say("the timer's next run finds the window open; starting it now instead of waiting up to 5 minutes")
	probe := vm.StartProbe()
	start := time.Now()
	switchAndVerify(t, vm, mark, newK)
	gap, answered := probe.Stop()
	say("after: the VM runs %s, %s after the run started", newK.Release, time.Since(start).Round(time.Second))
	show(vm, "uname -rv")
	fmt.Printf("the guest's web service was unreachable for at most %v (%d requests answered around the switch)\n", gap.Round(10*time.Millisecond), answered)
	say("the kernel's console during the switch:")
	for _, line := range vm.SerialSince(mark) {
		if strings.Contains(line, "kexec_core") || strings.Contains(line, "Linux version") || strings.Contains(line, "KU-BOOTED") {
			fmt.Println("  " + line)
		}
	}
	say("the upgrade history:")
	show(vm, "kexec-upgrade history")
	say("its journal events, across both boots:")
	show(vm, "journalctl -o short-iso --no-pager SYSLOG_IDENTIFIER=kexec-upgrade")
}
