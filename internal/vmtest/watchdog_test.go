//go:build vm

package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
)

// wdTimeout is the trial's [watchdog] timeout (KExecWatchdogSec), the
// package's default. It must cover the kexec up to the new boot's systemd
// taking the watchdog over (systemd.watchdog_sec=): under TCG, purgatory's
// digest of the loaded segments and the kernel's start alone took more than
// 30 s (the shortest the configuration allows) in a CI rehearsal, and the
// i6300ESB reset the machine before the new kernel printed a line; a healthy
// boot was reset the same way.
const wdTimeout = config.DefaultWatchdogTimeout

// hangWait bounds the wait for a watchdog reset after the hanging kernel
// says it hangs: the i6300ESB's two stages together last the timeout,
// counted from systemd-shutdown's last ping, and TCG's virtual clock may lag
// behind the host's.
const hangWait = 2*wdTimeout + 2*time.Minute

var (
	// hangLine is what the hanging initramfs's /init prints.
	hangLine = regexp.MustCompile(`KU-HANG cmdline: (.*)`)
	// firmwareLine is SeaBIOS starting again (a reset, not a kexec).
	firmwareLine = regexp.MustCompile(`SeaBIOS`)
)

// TestWatchdogAcrossKexec (opt-in: KU_VM_WATCHDOG=1) checks the trial
// boot's hang protection on the BIOS+GRUB trixie guest with an emulated
// i6300ESB watchdog: the new kernel's initramfs hangs forever (no panic, no
// userspace), so only the hardware watchdog that systemd's KExecWatchdogSec
// left running can reset the machine into GRUB's one-shot entry of the old
// kernel.
//
//  1. As the guest boots (watchdog.stop_on_reboot unset, the driver's
//     default): status names the risk and the fix, [watchdog] require =
//     true refuses the switch; without require the switch happens, the
//     watchdog is stopped by the old kernel's reboot notifier at the kexec,
//     and the hang is not reset. The test power-cycles the guest; GRUB's
//     one-shot entry boots the old kernel.
//  2. With `options watchdog stop_on_reboot=0` (watchdog core is a module of
//     Debian's cloud kernel; the modules are reloaded) the risk is gone from
//     status, and the same hang is reset by the watchdog: SeaBIOS, GRUB's
//     one-shot entry, the old kernel, the trial recorded as failed through
//     the firmware, the build quarantined, nothing staged.
func TestWatchdogAcrossKexec(t *testing.T) {
	if os.Getenv("KU_VM_WATCHDOG") != "1" {
		t.Skip("opt-in: set KU_VM_WATCHDOG=1")
	}
	vm := productGuestWith(t, Options{Name: "watchdog", Clock: clockInWindow, Guest: TrixieGRUB, Watchdog: true}, closedConfig)
	oldK, _ := vm.Kernels()
	writeConfig(t, vm, "60-watchdog.toml", fmt.Sprintf("[watchdog]\ntimeout = %q\n", wdTimeout.String()))
	logWatchdogFacts(t, vm, "booted")
	if got := strings.TrimSpace(vm.Run(t, "cat /sys/module/watchdog/parameters/stop_on_reboot")); got != "-1" {
		t.Fatalf("stop_on_reboot as booted is %q; want -1 (the driver's default)", got)
	}
	if s := vm.Run(t, "kexec-upgrade status"); !strings.Contains(s, "watchdog.stop_on_reboot=0") {
		t.Errorf("status with the watchdog stopped at a kexec does not say to set watchdog.stop_on_reboot=0:\n%s", s)
	}
	if w := statusWatchdog(t, vm); !w.StoppedAtKexec || w.StopOnReboot != "-1" || !strings.Contains(w.Fix, "options watchdog stop_on_reboot=0") {
		t.Errorf("status --json trial with stop_on_reboot -1: %+v; want the watchdog stopped at the kexec and the fix", w)
	}
	newK := installNewKernel(t, vm)
	vm.CopyIn(t, hangingInitrd(t), "/boot/initrd.img-"+newK.Release)

	// [watchdog] require = true refuses the switch, with the fix.
	writeConfig(t, vm, "60-watchdog.toml", fmt.Sprintf("[watchdog]\nrequire = true\ntimeout = %q\n", wdTimeout.String()))
	waitRunEnded(t, vm)
	mark := vm.SerialMark()
	out, errOut, code, err := vm.Try("kexec-upgrade run --now")
	t.Logf("run --now under [watchdog] require = true: exit %d %v\n%s%s", code, err, out, errOut)
	for _, line := range vm.SerialSince(mark) {
		if kexecStarting.MatchString(line) {
			t.Fatalf("[watchdog] require = true did not refuse the switch: %q", line)
		}
	}
	if all := out + errOut; !strings.Contains(all, "require = true") || !strings.Contains(all, "watchdog.stop_on_reboot=0") {
		t.Errorf("run --now under [watchdog] require = true does not name the refusal and its fix")
	}
	writeConfig(t, vm, "60-watchdog.toml", fmt.Sprintf("[watchdog]\ntimeout = %q\n", wdTimeout.String()))
	waitRunEnded(t, vm)

	t.Run("default_stopped_at_kexec", func(t *testing.T) {
		reset, facts := hangOnce(t, vm, oldK, newK)
		t.Logf("stop_on_reboot=-1: %s", facts)
		if reset {
			t.Errorf("the watchdog reset the hang though the old kernel stops it at a kexec: the product's warning would be wrong")
		}
	})
	t.Run("stop_on_reboot_0_resets", func(t *testing.T) {
		vm.Run(t, "echo 'options watchdog stop_on_reboot=0' >/etc/modprobe.d/ku-watchdog.conf && modprobe -r i6300esb watchdog && modprobe i6300esb")
		logWatchdogFacts(t, vm, "modules reloaded")
		if got := strings.TrimSpace(vm.Run(t, "cat /sys/module/watchdog/parameters/stop_on_reboot")); got != "0" {
			t.Fatalf("stop_on_reboot after the reload is %q; want 0", got)
		}
		if s := vm.Run(t, "kexec-upgrade status"); strings.Contains(s, "stop_on_reboot") || !strings.Contains(s, "kept armed across the switch") {
			t.Errorf("status with stop_on_reboot 0: want the watchdog kept armed, no risk:\n%s", s)
		}
		if w := statusWatchdog(t, vm); w.StoppedAtKexec || w.StopOnReboot != "0" || w.Risk != "" {
			t.Errorf("status --json trial with stop_on_reboot 0: %+v; want no risk", w)
		}
		reset, facts := hangOnce(t, vm, oldK, newK)
		t.Logf("stop_on_reboot=0: %s", facts)
		if !reset {
			t.Fatalf("the watchdog did not reset the hanging kernel with stop_on_reboot=0")
		}
	})
}

// watchdogView is status --json's word on the watchdog.
type watchdogView struct {
	Watchdog       string `json:"watchdog"`
	Risk           string `json:"watchdog_risk"`
	StoppedAtKexec bool   `json:"watchdog_stopped_at_kexec"`
	StopOnReboot   string `json:"watchdog_stop_on_reboot"`
	Fix            string `json:"watchdog_fix"`
}

func statusWatchdog(t *testing.T, vm *VM) watchdogView {
	t.Helper()
	var s struct {
		Trial watchdogView `json:"trial"`
	}
	statusJSON(t, vm, &s)
	return s.Trial
}

// logWatchdogFacts logs the watchdog as the running kernel and systemd see it.
func logWatchdogFacts(t *testing.T, vm *VM, when string) {
	t.Helper()
	out := vm.Run(t, `cd /sys/class/watchdog/watchdog0 2>/dev/null && for f in identity state timeout timeleft bootstatus; do printf '%s=%s ' $f "$(cat $f 2>/dev/null)"; done
echo; echo "stop_on_reboot=$(cat /sys/module/watchdog/parameters/stop_on_reboot 2>&1)"
echo "KExecWatchdogUSec=$(systemctl show -P KExecWatchdogUSec) RuntimeWatchdogUSec=$(systemctl show -P RuntimeWatchdogUSec)"
echo "cmdline=$(cat /proc/cmdline)"; lsmod | grep -E '^(watchdog|i6300esb) ' || true`)
	t.Logf("watchdog facts (%s):\n%s", when, strings.TrimSpace(out))
}

// hangOnce switches to the new kernel with run --now, waits for its
// initramfs to say it hangs, then for a reset of the machine within
// hangWait; without one it power-cycles the guest. Either way GRUB's
// one-shot entry must boot the old kernel and the trial be recorded as
// failed through the firmware, nothing staged.
func hangOnce(t *testing.T, vm *VM, oldK, newK KernelInfo) (reset bool, facts string) {
	t.Helper()
	mark := vm.SerialMark()
	start := time.Now()
	vm.Try("systemd-run --unit=ku-now-" + fmt.Sprint(mark) + " kexec-upgrade run --now")
	vm.WaitSerialSince(t, mark, kexecStarting, BootTimeout)
	switched := time.Now()
	hangAt, hang := vm.waitSerialAt(t, mark, hangLine, BootTimeout)
	hung := time.Now()
	cmdline := hangLine.FindStringSubmatch(hang)[1]
	t.Logf("the new kernel hangs; its command line: %s", cmdline)
	if !strings.Contains(cmdline, "systemd.watchdog_sec=") {
		t.Errorf("the new kernel's command line %q has no systemd.watchdog_sec=: the trial did not arm the watchdog", cmdline)
	}
	_, _, res := vm.console.wait(hangAt+1, firmwareLine, time.Now().Add(hangWait))
	switch res {
	case waitMatched:
		reset = true
		facts = fmt.Sprintf("switch queued %v after run --now, kexec to the hang %v, watchdog reset %v after the hang",
			switched.Sub(start).Round(time.Second), hung.Sub(switched).Round(time.Second), time.Since(hung).Round(time.Second))
	case waitClosed:
		vm.fatalf(t, "QEMU exited (%s) while the new kernel hung", vm.exitStatus())
	default:
		facts = fmt.Sprintf("switch queued %v after run --now, kexec to the hang %v, no reset within %v of the hang (watchdog timeout %v): power-cycled",
			switched.Sub(start).Round(time.Second), hung.Sub(switched).Round(time.Second), hangWait, wdTimeout)
		vm.PowerCycle(t)
	}
	rel, _ := vm.WaitBootedSince(t, hangAt+1, BootTimeout)
	if rel != oldK.Release {
		t.Fatalf("after the hang: booted %s; want the old kernel %s through GRUB's one-shot entry", rel, oldK.Release)
	}
	if c := vm.Run(t, "cat /proc/cmdline"); !strings.Contains(c, "BOOT_IMAGE=/vmlinuz-"+oldK.Release) {
		t.Errorf("after the hang /proc/cmdline %q: want GRUB's entry of the old kernel", strings.TrimSpace(c))
	}
	if bs := strings.TrimSpace(vm.Run(t, "cat /sys/class/watchdog/watchdog0/bootstatus 2>&1 || true")); bs != "" {
		facts += "; bootstatus after: " + bs
	}
	a := waitOutcome(t, vm)
	if !strings.HasPrefix(a.Outcome, "failed") || a.Kind != "trial-firmware-fallback" || a.To.Release != newK.Release {
		t.Errorf("history: last attempt to %s %s (%s); want %s failed, trial-firmware-fallback", a.To.Release, a.Outcome, a.Kind, newK.Release)
	}
	assertNothingStaged(t, vm)
	if tr := statusTrial(t, vm); len(tr.Quarantined) == 0 || tr.Quarantined[0].Kernel.Release != newK.Release {
		t.Errorf("status trial after the hang: %+v; want %s quarantined", tr, newK.Release)
	}
	if next := grubNextEntry(t, vm); next != "" {
		t.Errorf("GRUB's next_entry is %q after it booted the fallback; want it consumed", next)
	}
	logWatchdogFacts(t, vm, "back on the old kernel")
	t.Logf("history:\n%s", vm.Run(t, "kexec-upgrade history | tail -n 4"))
	return reset, facts
}

// hangInit is the hanging initramfs's /init: it prints the kernel's command
// line and sleeps forever (never exits: the kernel would panic).
const hangInit = `package main

import (
	"os"
	"syscall"
	"time"
)

func main() {
	os.Mkdir("/proc", 0o555)
	syscall.Mount("proc", "/proc", "proc", 0, "")
	c, _ := os.ReadFile("/proc/cmdline")
	con, err := os.OpenFile("/dev/console", os.O_WRONLY, 0)
	if err != nil {
		con = os.Stdout
	}
	for {
		con.WriteString("KU-HANG cmdline: " + string(c))
		time.Sleep(time.Hour)
	}
}
`

// hangingInitrd builds an initramfs whose /init is a static program that
// hangs: the kernel boots, userspace never comes.
func hangingInitrd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{"go.mod": "module hang\n\ngo 1.21\n", "main.go": hangInit} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatalf("write the hanging /init's source: %v", err)
		}
	}
	bin := filepath.Join(dir, "init")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the hanging /init: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatalf("read the hanging /init: %v", err)
	}
	return writeInitrd(t, cpioFile{name: "init", mode: 0o100755, data: data})
}
