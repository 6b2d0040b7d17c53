//go:build vm

package vmtest

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestColdBootKeepsOldKernel checks the harness's model of a failed switch: a firmware
// restart (QEMU reset) comes back on the image's old kernel, and its boot parameters do
// not carry kexec's loader id. It also checks that the guest's clock starts at
// Options.Clock and runs on across the reset.
func TestColdBootKeepsOldKernel(t *testing.T) {
	t.Parallel()
	clock := time.Date(2030, time.January, 5, 1, 55, 0, 0, time.UTC)
	vm := Start(t, Options{Name: "coldboot", Clock: clock})
	oldK, _ := vm.Kernels()
	_, firstBootID := vm.LastBoot()

	beforeReset := guestTime(t, vm)
	if beforeReset.Before(clock) || beforeReset.After(clock.Add(BootTimeout+time.Minute)) {
		t.Errorf("guest clock after the first boot = %s; want shortly after Options.Clock %s",
			beforeReset.Format(time.RFC3339), clock.Format(time.RFC3339))
	}

	vm.PowerCycle(t)
	rel, bootID := vm.WaitBooted(t, BootTimeout)

	if rel != oldK.Release {
		t.Errorf("KU-BOOTED after reset: release %s; want the old kernel %s", rel, oldK.Release)
	}
	if bootID == firstBootID {
		t.Errorf("boot_id after reset = %s; want a new one", bootID)
	}
	if got := strings.TrimSpace(vm.Run(t, "uname -r")); got != oldK.Release {
		t.Errorf("uname -r after reset = %s; want %s", got, oldK.Release)
	}
	loader := strings.TrimSpace(vm.Run(t, loaderTypeCmd))
	if loader == "d0" {
		t.Errorf("boot_params type_of_loader after reset = 0x%s; want anything but 0xd0", loader)
	}
	afterReset := guestTime(t, vm)
	if !afterReset.After(beforeReset) {
		t.Errorf("guest clock after reset = %s; want later than before it (%s)",
			afterReset.Format(time.RFC3339), beforeReset.Format(time.RFC3339))
	}
	t.Logf("after reset: %s, boot_id %s, type_of_loader 0x%s, guest clock %s",
		rel, bootID, loader, afterReset.Format(time.RFC3339))
}

// guestTime returns the guest's wall clock.
func guestTime(t *testing.T, vm *VM) time.Time {
	t.Helper()
	out := strings.TrimSpace(vm.Run(t, "date -u +%s"))
	sec, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		t.Fatalf("guest date -u +%%s = %q: %v", out, err)
	}
	return time.Unix(sec, 0).UTC()
}
