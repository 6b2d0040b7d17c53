//go:build vm

package vmtest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock"
	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock/fleetlocktest"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// TestGRUBGuestTrialBoot (issues 13 and 14) runs on the trixie guest that
// boots like a cloud image — SeaBIOS, GRUB installed by Debian's grub-install
// on a partitioned disk, /boot on its own partition, root=UUID= and
// BOOT_IMAGE= from GRUB — one boot sequence for every scenario of that guest:
//
//  1. status names the boot facts (BIOS, GRUB, its default entry); with /boot
//     unmounted the installed newer kernel is refused with a reason that
//     names /boot and stays pending in status and metrics.
//  2. A required unit runs only on the old kernel (ConditionKernelVersion=):
//     the new kernel comes up, fails the health gate at its deadline, is
//     rolled back by kexec to the old kernel, verified there; the build is
//     quarantined and not tried again.
//  3. `run --now` tries that build again with an initrd that cannot mount
//     the root: the new kernel panics, panic= resets the machine, GRUB's
//     one-shot entry (set before the switch) boots the old kernel once; the
//     trial is recorded as failed through the firmware, nothing staged, no
//     second attempt.
//  4. The guest has a hardware watchdog (QEMU's i6300ESB). As booted, the
//     kernel would stop it at the kexec (watchdog.stop_on_reboot=-1): status
//     names the risk and the fix, and [watchdog] require = true refuses.
//     With stop_on_reboot=0 (modprobe.d, modules reloaded) `run --now` tries
//     the build with an initrd whose /init hangs: the watchdog, kept running
//     across the kexec, resets the machine and GRUB's one-shot entry boots
//     the old kernel; failed through the firmware, quarantined.
//  5. With the good initrd back and the unit allowed on every kernel, `run
//     --now` switches by kexec with the watchdog armed, root=UUID= kept, the
//     gate passes, the outcome is verified and GRUB's one-shot entry is gone;
//     a plain reboot then comes up on the new kernel through the firmware
//     and GRUB.
//
// The guest takes a FleetLock slot for each switch: a failed trial keeps it
// held (the fleet's rollout stops) and status says how to release it; the
// verified switch gives it back.
func TestGRUBGuestTrialBoot(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t)
	vm := productGuestWith(t, Options{Name: "grub-trial", Clock: clockInWindow, Guest: TrixieGRUB, HostNet: true, Watchdog: true}, closedConfig)
	fleet.join(t, vm)
	oldK, _ := vm.Kernels()
	assertGRUBBootFacts(t, vm, oldK)
	installOldKernelOnlyApp(t, vm, oldK)
	// node_exporter's textfile directory: the package writes its metrics there when it exists.
	vm.Run(t, "install -d -m 0755 "+filepath.Dir(metricsFile))
	newK := installNewKernel(t, vm)
	// The kernel's postinst ran update-grub: GRUB's first entry is the new kernel.
	if first := vm.Run(t, "grep -m1 -o 'vmlinuz-[^ ]*' /boot/grub/grub.cfg"); !strings.Contains(first, newK.Release) {
		t.Errorf("GRUB's first entry boots %q; want vmlinuz-%s", strings.TrimSpace(first), newK.Release)
	}
	if tr := statusTrial(t, vm); !tr.FallbackAvailable {
		t.Errorf("status trial: %+v; want the GRUB fallback available", tr)
	}
	t.Run("boot_unmounted", func(t *testing.T) { bootUnmountedRefused(t, vm, oldK, newK) })
	t.Run("unhealthy_rolled_back", func(t *testing.T) {
		unhealthyRolledBack(t, vm, oldK, newK)
		fleet.assertKeptHeld(t, vm, newK)
	})
	t.Run("panic_firmware_fallback", func(t *testing.T) {
		panicFirmwareFallback(t, vm, oldK, newK)
		fleet.assertKeptHeld(t, vm, newK)
	})
	t.Run("hang_watchdog_reset", func(t *testing.T) {
		hangWatchdogReset(t, vm, oldK, newK)
		fleet.assertKeptHeld(t, vm, newK)
	})
	t.Run("healthy_switch_then_reboot", func(t *testing.T) {
		healthySwitchThenReboot(t, vm, oldK, newK)
		if h := fleet.srv.Holders("default"); len(h) != 0 {
			t.Errorf("after the verified switch the FleetLock server's holders are %v; want the slot given back", h)
		}
	})
}

// trialFleet is a FleetLock server on the host and the id a guest presents.
type trialFleet struct {
	srv *fleetlocktest.Server
	url string
	id  string
}

func startFleet(t *testing.T) *trialFleet {
	t.Helper()
	srv := fleetlocktest.New(fleetlocktest.Poseidon, 1)
	base, stop, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("start the FleetLock server: %v", err)
	}
	t.Cleanup(stop)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return &trialFleet{srv: srv, url: fmt.Sprintf("http://10.0.2.2:%s/", u.Port())}
}

// join points the guest at the server and learns its id.
func (f *trialFleet) join(t *testing.T, vm *VM) {
	t.Helper()
	writeConfig(t, vm, "40-fleet.toml", fmt.Sprintf("[fleet_lock]\nurl = %q\n", f.url))
	id, err := fleetlock.MachineID([]byte(vm.Run(t, "cat /etc/machine-id")))
	if err != nil {
		t.Fatalf("the guest's machine-id: %v", err)
	}
	f.id = id
}

// assertKeptHeld checks that a failed trial kept the guest's slot on the
// server and that status says why and how to release it.
func (f *trialFleet) assertKeptHeld(t *testing.T, vm *VM, newK KernelInfo) {
	t.Helper()
	if h := f.srv.Holders("default"); !slices.Contains(h, f.id) {
		t.Errorf("after the failed trial the FleetLock server's holders are %v; want the guest's %s kept", h, f.id)
	}
	var s struct {
		FleetLock struct {
			Held     bool   `json:"held"`
			KeptHeld string `json:"kept_held"`
		} `json:"fleet_lock"`
	}
	statusJSON(t, vm, &s)
	if !s.FleetLock.Held || !strings.Contains(s.FleetLock.KeptHeld, newK.Release) || !strings.Contains(s.FleetLock.KeptHeld, "release it") {
		t.Errorf("status fleet_lock: %+v; want held, saying why (%s failed) and how to release it", s.FleetLock, newK.Release)
	}
}

// assertGRUBBootFacts checks that the guest booted through GRUB from its own
// /boot partition and that status says so.
func assertGRUBBootFacts(t *testing.T, vm *VM, oldK KernelInfo) {
	t.Helper()
	cmdline := vm.Run(t, "cat /proc/cmdline")
	if !strings.Contains(cmdline, "BOOT_IMAGE=/vmlinuz-"+oldK.Release) || !strings.Contains(cmdline, "root=UUID="+vm.img.rootUUID) {
		t.Fatalf("/proc/cmdline %q: want GRUB's BOOT_IMAGE=/vmlinuz-%s and root=UUID=%s", strings.TrimSpace(cmdline), oldK.Release, vm.img.rootUUID)
	}
	if got := strings.TrimSpace(vm.Run(t, "findmnt -n -o UUID /boot")); got != vm.img.bootUUID {
		t.Fatalf("/boot is mounted from UUID %q; want its own partition %s", got, vm.img.bootUUID)
	}
	b := statusBoot(t, vm)
	t.Logf("status boot facts: %+v", b)
	if b.Firmware != "bios" || b.Bootloader != "grub" || b.GrubDefault == "" {
		t.Errorf("status boot: firmware %q, bootloader %q, default %q; want bios, grub and its default entry", b.Firmware, b.Bootloader, b.GrubDefault)
	}
}

// gateDeadline is the health gate's deadline after boot. The required unit
// skipped by its condition fails the gate at once, before the deadline.
const gateDeadline = 2 * time.Minute

// installOldKernelOnlyApp installs a workload unit that starts only on the
// old kernel, and a health gate that requires it.
func installOldKernelOnlyApp(t *testing.T, vm *VM, oldK KernelInfo) {
	t.Helper()
	writeAppUnit(t, vm, "ConditionKernelVersion="+oldK.Release)
	writeConfig(t, vm, "60-health.toml", fmt.Sprintf("[health]\nunits = [\"ku-app.service\"]\ndeadline = %q\n", gateDeadline.String()))
}

// writeAppUnit (re)writes ku-app.service with the [Unit] line extra and starts it.
func writeAppUnit(t *testing.T, vm *VM, extra string) {
	t.Helper()
	vm.Run(t, `cat >/etc/systemd/system/ku-app.service <<'EOF'
[Unit]
Description=The workload the health gate requires
`+extra+`

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true

[Install]
WantedBy=multi-user.target
EOF
systemctl daemon-reload && systemctl enable ku-app.service && systemctl restart ku-app.service`)
}

func bootUnmountedRefused(t *testing.T, vm *VM, oldK, newK KernelInfo) {
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
}

func unhealthyRolledBack(t *testing.T, vm *VM, oldK, newK KernelInfo) {
	start := time.Now()
	mark := vm.SerialMark()
	writeConfig(t, vm, "50-scenario.toml", scenarioConfig)
	vm.WaitSerialSince(t, mark, kexecStarting, BootTimeout)
	switched := time.Now()
	if rel, _ := vm.WaitBootedSince(t, mark, BootTimeout); rel != newK.Release {
		t.Fatalf("after the switch: booted %s; want %s", rel, newK.Release)
	}
	up := time.Now()
	// The gate fails at the first run after boot, which can come before
	// ssh answers: the rollback is looked for from the boot line on.
	mark = vm.BootMark()
	observeTrialInProgress(t, vm, oldK)
	vm.WaitSerialSince(t, mark, kexecStarting, gateDeadline+verifyTimeout)
	detected := time.Now()
	if rel, _ := vm.WaitBootedSince(t, mark, BootTimeout); rel != oldK.Release {
		t.Fatalf("after the rollback: booted %s; want the old kernel %s", rel, oldK.Release)
	}
	back := time.Now()
	a := waitOutcome(t, vm)
	if a.Outcome != "rolled-back" || a.To.Release != newK.Release {
		t.Errorf("history: last attempt %s → %s %s; want rolled-back from %s", a.From.Release, a.To.Release, a.Outcome, newK.Release)
	}
	if a.Trial == nil || !strings.Contains(a.Trial.FallbackEntry, oldK.Release) {
		t.Errorf("history: the trial's GRUB fallback entry %+v; want the old kernel's entry (%s)", a.Trial, oldK.Release)
	}
	assertRunning(t, vm, oldK.Release)
	assertNothingStaged(t, vm)
	if got := strings.TrimSpace(vm.Run(t, loaderTypeCmd)); got != "d0" {
		t.Errorf("after the rollback boot_params type_of_loader = 0x%s; want 0xd0 (kexec)", got)
	}
	if tr := statusTrial(t, vm); len(tr.Quarantined) == 0 || tr.Quarantined[0].Kernel.Release != newK.Release {
		t.Errorf("status trial after the rollback: %+v; want %s quarantined", tr, newK.Release)
	}
	t.Logf("timeline: switch queued %v after the window opened, new kernel up %v later, rollback started %v later (gate deadline %v after boot), old kernel up %v later",
		switched.Sub(start).Round(time.Second), up.Sub(switched).Round(time.Second), detected.Sub(up).Round(time.Second), gateDeadline, back.Sub(detected).Round(time.Second))
	t.Logf("history:\n%s", vm.Run(t, "kexec-upgrade history"))
	// Not tried again: the window is open and the build is newer, yet nothing switches.
	assertNotTriedAgain(t, vm)
	if s := status(t, vm); s.Decision.Check != "failed-before" {
		t.Errorf("status after the rollback: %s (%s) %q; want refused at failed-before", s.Decision.Action, s.Decision.Check, s.Decision.Reason)
	}
}

// observeTrialInProgress looks at the trial from the new kernel: GRUB's
// one-shot entry names the old kernel and status says a trial is in
// progress. The gate fails as soon as the timer's first run after boot
// sees the required unit skipped, so the rollback may take the guest down
// under the look: what it cannot see is not judged (history records the
// fallback entry, which the caller checks).
func observeTrialInProgress(t *testing.T, vm *VM, oldK KernelInfo) {
	t.Helper()
	out, _, code, err := vm.Try("grub-editenv /boot/grub/grubenv list; kexec-upgrade status --json")
	if err != nil || code != 0 {
		t.Logf("the trial in progress was not seen (exit %d, %v): the rollback began first", code, err)
		return
	}
	env, js, _ := strings.Cut(out, "{")
	if !strings.Contains(env, "next_entry=") || !strings.Contains(env, oldK.Release) {
		t.Errorf("during the trial GRUB's environment block is %q; want next_entry naming the old kernel (%s)", strings.TrimSpace(env), oldK.Release)
	}
	var s struct {
		Trial trialView `json:"trial"`
	}
	if err := json.Unmarshal([]byte("{"+js), &s); err != nil {
		t.Errorf("kexec-upgrade status --json during the trial printed %q: %v", "{"+js, err)
	} else if !s.Trial.InProgress {
		t.Errorf("status trial on the new kernel: %+v; want in progress", s.Trial)
	}
}

// assertNotTriedAgain starts a run and fails if it starts a switch.
func assertNotTriedAgain(t *testing.T, vm *VM) {
	t.Helper()
	mark := vm.SerialMark()
	runOnce(t, vm)
	for _, line := range vm.SerialSince(mark) {
		if kexecStarting.MatchString(line) {
			t.Fatalf("the failed build was tried again: %q", line)
		}
	}
}

func panicFirmwareFallback(t *testing.T, vm *VM, oldK, newK KernelInfo) {
	initrd := "/boot/initrd.img-" + newK.Release
	vm.Run(t, "cp -a "+initrd+" /root/initrd.good")
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
	assertNotTriedAgain(t, vm)
	if tr := statusTrial(t, vm); len(tr.Quarantined) == 0 {
		t.Errorf("status trial: %+v; want the build quarantined", tr)
	}
}

func healthySwitchThenReboot(t *testing.T, vm *VM, oldK, newK KernelInfo) {
	vm.Run(t, "cp -a /root/initrd.good /boot/initrd.img-"+newK.Release)
	writeAppUnit(t, vm, "")
	mark := vm.SerialMark()
	start := time.Now()
	switchAndVerifyBy(t, vm, mark, newK, "systemd-run --unit=ku-now-healthy kexec-upgrade run --now")
	t.Logf("timeline: run --now to the verified switch %v (gate: ku-app.service active)", time.Since(start).Round(time.Second))
	cmdline := vm.Run(t, "cat /proc/cmdline")
	if !strings.Contains(cmdline, "root=UUID="+vm.img.rootUUID) || strings.Contains(cmdline, "BOOT_IMAGE=/vmlinuz-"+oldK.Release) {
		t.Errorf("after the switch /proc/cmdline %q: want root=UUID=%s kept and no BOOT_IMAGE= of the old kernel", strings.TrimSpace(cmdline), vm.img.rootUUID)
	}
	// The trial ended healthy: GRUB's one-shot entry of the old kernel, set
	// before the switch, is gone, and the build is no longer quarantined.
	if next := grubNextEntry(t, vm); next != "" {
		t.Errorf("after the verified switch GRUB's next_entry is %q; want it cleared", next)
	}
	if tr := statusTrial(t, vm); tr.InProgress || len(tr.Quarantined) != 0 {
		t.Errorf("status trial after the verified switch: %+v; want no trial and nothing quarantined", tr)
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
	t.Logf("history:\n%s", vm.Run(t, "kexec-upgrade history"))
}

// hangWatchdogReset is step 4 of TestGRUBGuestTrialBoot.
func hangWatchdogReset(t *testing.T, vm *VM, oldK, newK KernelInfo) {
	if w := statusWatchdog(t, vm); !w.StoppedAtKexec || w.StopOnReboot != "-1" || !strings.Contains(w.Fix, "stop_on_reboot=0") {
		t.Errorf("status --json trial as booted: %+v; want the watchdog stopped at the kexec, and the fix", w)
	}
	vm.CopyIn(t, hangingInitrd(t), "/boot/initrd.img-"+newK.Release)
	writeConfig(t, vm, "60-watchdog.toml", fmt.Sprintf("[watchdog]\nrequire = true\ntimeout = %q\n", wdTimeout.String()))
	waitRunEnded(t, vm)
	mark := vm.SerialMark()
	out, errOut, _, _ := vm.Try("kexec-upgrade run --now")
	for _, line := range vm.SerialSince(mark) {
		if kexecStarting.MatchString(line) {
			t.Fatalf("[watchdog] require = true with the watchdog stopped at the kexec: switched anyway: %q", line)
		}
	}
	if all := out + errOut; !strings.Contains(all, "require = true") || !strings.Contains(all, "watchdog.stop_on_reboot=0") {
		t.Errorf("run --now under [watchdog] require = true does not name the refusal and its fix:\n%s%s", out, errOut)
	}
	vm.Run(t, "echo 'options watchdog stop_on_reboot=0' >/etc/modprobe.d/ku-watchdog.conf && modprobe -r i6300esb watchdog && modprobe i6300esb")
	if w := statusWatchdog(t, vm); w.StoppedAtKexec || w.StopOnReboot != "0" || w.Risk != "" {
		t.Errorf("status --json trial with stop_on_reboot 0: %+v; want no risk", w)
	}
	reset, facts := hangOnce(t, vm, oldK, newK)
	t.Logf("timeline: %s", facts)
	if !reset {
		t.Errorf("the watchdog did not reset the hanging kernel with stop_on_reboot=0")
	}
	// The healthy trial next runs with the watchdog still required and armed.
	waitRunEnded(t, vm)
}
