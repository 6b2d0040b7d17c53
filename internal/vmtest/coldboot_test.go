//go:build vm

package vmtest

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// assertColdBoot checks the harness's model of a failed switch after a
// firmware restart (QEMU reset): the guest is back on the image's old kernel
// in a new boot whose boot parameters do not carry kexec's loader id, and its
// clock, started at Options.Clock, ran on across the reset.
func assertColdBoot(t *testing.T, vm *VM, oldK KernelInfo, firstBootID, bootID string, beforeReset time.Time) {
	t.Helper()
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
		oldK.Release, bootID, loader, afterReset.Format(time.RFC3339))
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
