//go:build vm

package vmtest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// firmwareBenchGuests are the guests of issue 13's honest outage figure:
// a reboot there goes through the firmware and GRUB, as on a cloud VM.
var firmwareBenchGuests = []struct {
	label string
	guest Guest
}{
	{"BIOS + GRUB", TrixieGRUB},
	{"UEFI + Secure Boot", TrixieSecureBoot},
}

// firmwareMethod names a method's runs on one firmware guest.
func firmwareMethod(label, method string) string { return label + ": " + method }

// benchFirmwareGuest measures, on one guest that boots through firmware
// and GRUB, the outage an outside HTTP probe sees for kexec-upgrade,
// kexec-tools by hand and systemctl reboot, two of each:
//
//	old → new  kexec-upgrade (run --now)
//	new → old  reboot, GRUB's one-shot entry (grub-reboot) pointing at the old kernel
//	old → new  kexec-upgrade (run --now)
//	new → old  kexec-tools by hand
//	old → new  kexec-tools by hand
//	new → new  reboot, GRUB's default entry
func benchFirmwareGuest(t *testing.T, res *benchResults, label string, guest Guest) {
	name := "bench-fw-" + strings.ToLower(strings.Fields(label)[0])
	vm := productGuestWith(t, Options{Name: name, Clock: clockInWindow, Guest: guest}, closedConfig)
	oldK, newK := vm.Kernels()
	installByHandKit(t, vm)
	waitRunEnded(t, vm)
	for i := range 2 {
		benchDeadline(t)
		r := benchFirmwareKU(t, vm, newK)
		res.add(firmwareMethod(label, methodKU), r)
		if i == 0 {
			res.with(func(r *benchResults) { r.phases[name] = lastAttemptPhases(t, vm) })
			benchDeadline(t)
			res.add(firmwareMethod(label, methodReboot), benchFirmwareReboot(t, vm, oldK))
		}
	}
	for range 2 {
		benchDeadline(t)
		r := kexecByHand(t, vm, false, false)
		r.note = "kexec -s -l … --reuse-cmdline && systemctl kexec; " + r.note
		res.add(firmwareMethod(label, methodByHand), r)
	}
	benchDeadline(t)
	res.add(firmwareMethod(label, methodReboot), benchFirmwareReboot(t, vm, newK))
}

// benchFirmwareKU switches to newK with `kexec-upgrade run --now` and waits
// for the switch to be verified.
func benchFirmwareKU(t *testing.T, vm *VM, newK KernelInfo) benchRun {
	t.Helper()
	from, _ := vm.LastBoot()
	mark := vm.SerialMark()
	probe := vm.StartProbe()
	vm.Try(fmt.Sprintf("systemd-run --unit=ku-bench-%d kexec-upgrade run --now", mark))
	gap, answered := awaitProbedSwitch(t, vm, mark, probe, newK)
	t.Logf("kexec-upgrade %s → %s: gap %v, %d answered", from, newK.Release, gap.Round(10*time.Millisecond), answered)
	return benchRun{gap: gap, answered: answered, note: "run --now, " + from + " → " + newK.Release + ", trial with GRUB's one-shot entry"}
}

// benchFirmwareReboot reboots through the firmware and GRUB into to: GRUB's
// default entry when it is the running kernel's, else a one-shot entry.
func benchFirmwareReboot(t *testing.T, vm *VM, to KernelInfo) benchRun {
	t.Helper()
	from, _ := vm.LastBoot()
	how := "systemctl reboot (firmware, GRUB's default entry)"
	cmd := "systemctl reboot"
	if to.Release != from {
		how = "grub-reboot <" + to.Release + "> && systemctl reboot (firmware, GRUB's one-shot entry)"
		cmd = grubRebootCmd(to.Release) + " && systemctl reboot"
	}
	mark := vm.SerialMark()
	probe := vm.StartProbe()
	if stdout, stderr, code, err := vm.Try(cmd); err != nil || (code != 0 && code != sshExitDropped) {
		probe.Stop()
		t.Fatalf("%q: exit %d, %v\nstdout:\n%s\nstderr:\n%s", cmd, code, err, stdout, stderr)
	}
	rel, _ := vm.WaitBootedSince(t, mark, benchBootTimeout)
	gap, answered := probe.Stop()
	if rel != to.Release {
		t.Fatalf("after %s: booted %s; want %s", how, rel, to.Release)
	}
	if got := strings.TrimSpace(vm.Run(t, loaderTypeCmd)); got == "d0" {
		t.Errorf("boot_params type_of_loader after the reboot = 0x%s; want GRUB's, not kexec's", got)
	}
	t.Logf("reboot %s → %s: gap %v, %d answered", from, rel, gap.Round(10*time.Millisecond), answered)
	return benchRun{gap: gap, answered: answered, note: how + ", " + from + " → " + rel}
}

// grubRebootCmd is the shell command that makes GRUB boot release once:
// its entry in the "Advanced options" submenu, as "submenu>entry".
func grubRebootCmd(release string) string {
	return `sub=$(grep -o -m1 "gnulinux-advanced-[0-9a-f-]*" /boot/grub/grub.cfg) && ` +
		`ent=$(grep -o -m1 "gnulinux-` + release + `-advanced-[0-9a-f-]*" /boot/grub/grub.cfg) && ` +
		`test -n "$sub" && test -n "$ent" && grub-reboot "$sub>$ent"`
}
