//go:build vm

package vmtest

import (
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// kexecStarting is the kernel's last line before it jumps to a kexec-loaded kernel.
var kexecStarting = regexp.MustCompile(`kexec_core: Starting new kernel`)

// loaderTypeCmd prints byte 0x210 of the boot parameters (type_of_loader) as two hex
// digits: 0xd0 after a kexec (kexec-tools and kexec_file_load both set it), QEMU's own
// loader id otherwise.
const loaderTypeCmd = "od -An -tx1 -j 528 -N 1 /sys/kernel/boot_params/data"

// switchByHand switches kernels the way an admin would by hand with kexec-tools
// (`make bench` compares kexec-upgrade with it), checks that the new kernel came up by
// kexec, and returns how long the guest's HTTP service was away.
func switchByHand(t *testing.T, vm *VM) (gap time.Duration, answered int) {
	t.Helper()
	oldK, newK := vm.Kernels()
	if rel, _ := vm.LastBoot(); rel != oldK.Release {
		t.Fatalf("first boot: release %s; want the image's old kernel %s", rel, oldK.Release)
	}
	_, oldBootID := vm.LastBoot()

	installStart := time.Now()
	vm.Run(t, "mkdir -p /root/debs")
	for _, deb := range append([]string{newK.Deb}, vm.KexecToolsDebs()...) {
		vm.CopyIn(t, deb, path.Join("/root/debs", filepath.Base(deb)))
	}
	// kexec-tools must not take over reboots: this scenario kexecs explicitly.
	vm.Run(t, "echo 'kexec-tools kexec-tools/load_kexec boolean false' | debconf-set-selections")
	vm.Run(t, "DEBIAN_FRONTEND=noninteractive dpkg -i /root/debs/*.deb")
	vm.Run(t, "test -f /boot/vmlinuz-"+newK.Release+" && test -f /boot/initrd.img-"+newK.Release)
	t.Logf("installing %s and kexec-tools took %v", newK.Package, time.Since(installStart).Round(time.Second))

	probe := vm.StartProbe()
	mark := vm.SerialMark()
	switchStart := time.Now()
	cmd := "kexec -s -l /boot/vmlinuz-" + newK.Release + " --initrd=/boot/initrd.img-" + newK.Release +
		" --reuse-cmdline && systemctl kexec"
	// The session usually drops (exit 255) as sshd stops; any other failure is real.
	if stdout, stderr, code, err := vm.Try(cmd); err != nil || (code != 0 && code != sshExitDropped) {
		probe.Stop()
		t.Fatalf("%q: exit %d, %v\nstdout:\n%s\nstderr:\n%s", cmd, code, err, stdout, stderr)
	}
	vm.WaitSerialSince(t, mark, kexecStarting, BootTimeout)
	shutdown := time.Since(switchStart)
	rel, bootID := vm.WaitBootedSince(t, mark, BootTimeout)
	total := time.Since(switchStart)
	gap, answered = probe.Stop()

	if rel != newK.Release {
		t.Errorf("KU-BOOTED after kexec: release %s; want %s", rel, newK.Release)
	}
	if bootID == oldBootID {
		t.Errorf("boot_id after kexec = %s; want a new one", bootID)
	}
	if got := strings.TrimSpace(vm.Run(t, "uname -r")); got != newK.Release {
		t.Errorf("uname -r after kexec = %s; want %s", got, newK.Release)
	}
	if got := strings.TrimSpace(vm.Run(t, loaderTypeCmd)); got != "d0" {
		t.Errorf("boot_params type_of_loader after kexec = 0x%s; want 0xd0", got)
	}
	if answered == 0 {
		t.Errorf("HTTP probe: no request answered")
	}
	t.Logf("kexec %s -> %s: %v to 'Starting new kernel', %v to KU-BOOTED; HTTP probe: longest gap %v, %d answered",
		oldK.Release, newK.Release, shutdown.Round(100*time.Millisecond), total.Round(100*time.Millisecond),
		gap.Round(10*time.Millisecond), answered)
	return gap, answered
}
