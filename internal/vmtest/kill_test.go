//go:build vm

package vmtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// killAtLoad starts a run the way an admin would and SIGKILLs it the moment
// /sys/kernel/kexec_loaded becomes 1: a tight loop of shell builtins (no
// fork per check) polls the file. It prints "killed" or why it did not kill,
// then the run's exit status and output.
const killAtLoad = `/usr/sbin/kexec-upgrade run >/root/killed-run.log 2>&1 &
pid=$!
while :; do
	read v </sys/kernel/kexec_loaded
	if [ "$v" = 1 ]; then kill -9 "$pid"; echo "killed $pid"; break; fi
	kill -0 "$pid" 2>/dev/null || { read v </sys/kernel/kexec_loaded; echo "exited before staging (kexec_loaded $v)"; break; }
done
wait "$pid"; echo "exit status $?"
cat /root/killed-run.log
`

// killedAfterLoad is issue 11's scenario: with a window open, a run is
// killed right after it staged the kernel; the window then closes, and the
// next run (the service, as the timer starts it) must unload the kernel and
// say so in the journal, so that a plain reboot afterwards goes through the
// firmware instead of becoming an unplanned kexec.
func killedAfterLoad(t *testing.T, vm *VM, oldK, newK KernelInfo) {
	t.Helper()
	// Only this scenario starts runs now: not the timer, not a changed
	// configuration (kexec-upgrade.path), not a run's own transient timer.
	vm.Run(t, "systemctl stop kexec-upgrade.timer kexec-upgrade.path 'kexec-upgrade-at-*.timer'")
	waitRunEnded(t, vm)
	now := guestTime(t, vm)
	open := fmt.Sprintf("min_uptime = \"0s\"\n\n[[window]]\nstart = %q\nend = %q\ntime_zone = \"UTC\"\n",
		now.Add(-time.Hour).Format("15:04"), now.Add(3*time.Hour).Format("15:04"))
	writeConfig(t, vm, "50-scenario.toml", open)
	if s := status(t, vm); s.Decision.Action != "switch" {
		t.Fatalf("with a window open (guest time %s), status decides %s (%s): %q; want switch", now.Format(time.RFC3339), s.Decision.Action, s.Decision.Check, s.Decision.Reason)
	}
	mark := vm.SerialMark()
	out := vm.Run(t, killAtLoad)
	t.Logf("the killed run:\n%s", out)
	for _, line := range vm.SerialSince(mark) {
		if kexecStarting.MatchString(line) {
			t.Fatalf("the run queued the switch before the kill reached it: %q", line)
		}
	}
	if !strings.HasPrefix(out, "killed ") {
		t.Fatalf("the run was not killed at the load: %s", out)
	}
	if got := strings.TrimSpace(vm.Run(t, "cat /sys/kernel/kexec_loaded")); got != "1" {
		t.Fatalf("after the kill: /sys/kernel/kexec_loaded = %s; want 1 (the killed run left its kernel staged)", got)
	}

	// The window closes; the next run must undo what the killed one staged.
	writeConfig(t, vm, "50-scenario.toml", closedConfig)
	runOnce(t, vm)
	assertNothingStaged(t, vm)
	if s := status(t, vm); s.Staged {
		t.Errorf("status after the next run: staged = true; want nothing staged")
	}
	if evs := events(t, vm, systemd.EventUnstaged); len(evs) == 0 {
		t.Errorf("journal: no %s event after the next run; journal of the unit:\n%s", systemd.EventUnstaged,
			vm.Run(t, "journalctl -u kexec-upgrade --no-pager | tail -n 30"))
	} else if msg := evs[len(evs)-1]["MESSAGE"]; !strings.Contains(msg, newK.Release) {
		t.Errorf("journal %s event: %q does not name the unloaded %s", systemd.EventUnstaged, msg, newK.Release)
	} else {
		t.Logf("journal: %s", msg)
	}

	// A plain reboot by an admin now goes through the firmware.
	_, before := vm.LastBoot()
	mark = vm.SerialMark()
	vm.Try("systemctl reboot")
	rel, after := vm.WaitBootedSince(t, mark, BootTimeout)
	for _, line := range vm.SerialSince(mark) {
		if kexecStarting.MatchString(line) {
			t.Errorf("the reboot became a kexec: %q", line)
		}
	}
	if rel != oldK.Release || after == before {
		t.Errorf("after the reboot: %s (boot %s); want the old kernel %s in a new boot (was %s)", rel, after, oldK.Release, before)
	}
	if got := strings.TrimSpace(vm.Run(t, loaderTypeCmd)); got == "d0" {
		t.Errorf("boot_params type_of_loader after the reboot = 0x%s; want a firmware boot, not 0xd0 (kexec)", got)
	}
}
