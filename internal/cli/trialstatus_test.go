package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

func TestTrialStatus(t *testing.T) {
	const release = "6.12.117+deb13-cloud-amd64"
	root := t.TempDir()
	put := func(rel, src string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755)
		if err := os.WriteFile(filepath.Join(root, rel), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 3, 28, 2, 31, 0, 0, time.UTC)
	r := upgrade.Report{Config: config.Default(), Facts: host.Facts{Running: host.Running{Release: release, Cmdline: "root=/dev/vda1 ro"}}}
	r.State.Failed = []state.Failure{{Kernel: state.Kernel{Release: "6.12.118+deb13-cloud-amd64", Build: "#1"}, Kind: state.FailTrialFirmware, Reason: "never healthy", At: at}}

	j := trialStatus(root, r)
	if j.FallbackAvailable || !strings.Contains(j.Fallback, "GRUB is not the boot loader") || !strings.Contains(j.WatchdogRisk, "no hardware watchdog") || len(j.Quarantined) != 1 {
		t.Errorf("without GRUB or watchdog: %+v", j)
	}

	r.Config.Watchdog.Require = true
	if j := trialStatus(root, r); !strings.HasPrefix(j.WatchdogRisk, "switches are refused (check watchdog): this machine has no hardware watchdog") {
		t.Errorf("[watchdog] require without a device: %q", j.WatchdogRisk)
	}
	put("boot/grub/grub.cfg", "../host/testdata/grubcfg/trixie-one-kernel.cfg")
	put("boot/grub/grubenv", "../host/testdata/grubenv/trixie-fresh.grubenv")
	os.MkdirAll(filepath.Join(root, "sys/class/watchdog/watchdog0"), 0o755)
	stopOnReboot := filepath.Join(root, "sys/module/watchdog/parameters/stop_on_reboot")
	os.MkdirAll(filepath.Dir(stopOnReboot), 0o755)
	os.WriteFile(filepath.Join(root, "sys/module/watchdog/initstate"), []byte("live\n"), 0o644)
	// As Debian's kernels boot: the driver decides, and i6300esb stops
	// its watchdog at a reboot or kexec.
	os.WriteFile(stopOnReboot, []byte("-1\n"), 0o644)
	if j := trialStatus(root, r); !strings.HasPrefix(j.WatchdogRisk, "switches are refused (check watchdog): /dev/watchdog0 would be stopped by the running kernel at the kexec (watchdog.stop_on_reboot=-1") ||
		!strings.Contains(j.WatchdogRisk, "add watchdog.stop_on_reboot=0 to the kernel command line") {
		t.Errorf("[watchdog] require with stop_on_reboot -1: %q", j.WatchdogRisk)
	}
	r.Config.Watchdog.Require = false
	j = trialStatus(root, r)
	if !j.WatchdogStoppedAtKexec || j.WatchdogStopOnReboot != "-1" || !strings.Contains(j.WatchdogFix, "options watchdog stop_on_reboot=0") ||
		!strings.HasPrefix(j.WatchdogRisk, "/dev/watchdog0 would be stopped by the running kernel at the kexec") || !strings.Contains(j.WatchdogRisk, "a new kernel that hangs before userspace is not reset; to keep it running, add watchdog.stop_on_reboot=0") {
		t.Errorf("stop_on_reboot -1: %+v", j)
	}
	var warn strings.Builder
	printTrial(func(label, format string, args ...any) {
		fmt.Fprintf(&warn, "%-13s %s\n", label, fmt.Sprintf(format, args...))
	}, j, r.State)
	if !strings.Contains(warn.String(), "Watchdog:     /dev/watchdog0 would be stopped by the running kernel at the kexec") {
		t.Errorf("status with stop_on_reboot -1:\n%s", warn.String())
	}
	os.WriteFile(stopOnReboot, []byte("0\n"), 0o644)
	r.Config.Watchdog.Require = true
	r.Facts.Platform.Grub = &host.Grub{}
	r.State.Staged = &state.Staged{To: state.Kernel{Release: "6.12.118+deb13-cloud-amd64"}, From: state.Kernel{Release: release},
		Trial: &state.Trial{Phase: state.TrialWaiting, Waiting: "the required unit app.service is activating", Deadline: at.Add(10 * time.Minute),
			FallbackEntry: "gnulinux-advanced-x>gnulinux-" + release + "-advanced-x"}}
	j = trialStatus(root, r)
	if !j.InProgress || !j.FallbackAvailable || j.WatchdogRisk != "" || j.Watchdog != "/dev/watchdog0" || j.Deadline != "2026-03-28T02:41:00Z" {
		t.Errorf("in a trial on GRUB with a watchdog: %+v", j)
	}
	armed := r
	armed.State.Staged = &state.Staged{Phase: state.PhaseQueued, OldBootID: "old", To: state.Kernel{Release: "6.12.118+deb13-cloud-amd64"},
		Trial: &state.Trial{Phase: state.TrialArmed}}
	armed.Facts.Running.BootID = "old"
	if trialStatus(root, armed).InProgress {
		t.Error("a queued switch in the same boot counts as a trial in progress")
	}
	armed.Facts.Running.BootID = "new"
	if j := trialStatus(root, armed); !j.InProgress || j.Phase != state.TrialArmed {
		t.Errorf("after the switch, before the first run judged it: %+v; want in progress", j)
	}
	var out strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&out, "%-13s %s\n", label, fmt.Sprintf(format, args...))
	}
	printTrial(line, j, r.State)
	for _, want := range []string{
		"Trial:        6.12.118+deb13-cloud-amd64 is on trial until its health gate passes (by 2026-03-28T02:41:00Z): the required unit app.service is activating",
		"Fallback:     GRUB's one-shot entry gnulinux-advanced-x>gnulinux-" + release + "-advanced-x",
		"Watchdog:     /dev/watchdog0, kept armed across the switch",
		"Quarantined:  6.12.118+deb13-cloud-amd64 (trial-firmware-fallback): never healthy",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}
