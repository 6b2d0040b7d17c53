//go:build vm

package vmtest

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock"
	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock/fleetlocktest"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// installNodeExporter installs Debian's prometheus-node-exporter from the
// image's cached packages and waits until it answers.
func installNodeExporter(t *testing.T, vm *VM) {
	t.Helper()
	var names []string
	for _, deb := range vm.MetricsDebs() {
		vm.CopyIn(t, deb, "/root/"+filepath.Base(deb))
		names = append(names, "/root/"+filepath.Base(deb))
	}
	vm.Run(t, "DEBIAN_FRONTEND=noninteractive dpkg -i "+strings.Join(names, " ")+" >/dev/null")
	vm.Run(t, "for i in $(seq 120); do busybox wget -q -O /dev/null http://127.0.0.1:9100/metrics && exit 0; sleep 1; done; exit 1")
}

// scrape returns node_exporter's kexec_upgrade_* samples.
func scrape(t *testing.T, vm *VM) string {
	t.Helper()
	return vm.Run(t, "busybox wget -q -O - http://127.0.0.1:9100/metrics | grep '^kexec_upgrade_' || true")
}

// waitScrape waits until node_exporter's page has a line matching each of
// want, a regular expression anchored at the line's start.
func waitScrape(t *testing.T, vm *VM, what string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		page := scrape(t, vm)
		missing := ""
		for _, w := range want {
			if !regexp.MustCompile(`(?m)^` + w).MatchString(page) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: node_exporter's /metrics lacks %q; its kexec_upgrade_* series:\n%s\njournal:\n%s", what, missing, page,
				vm.Run(t, "journalctl -u kexec-upgrade --no-pager | tail -n 20"))
		}
		time.Sleep(3 * time.Second)
	}
}

// TestFleetLockAndMetrics: another host holds the fleet's only slot, so the
// guest postpones and names the server's answer; once the slot is free it
// takes it, switches, and gives it back after the new kernel is verified.
// node_exporter shows the kexec_upgrade_* series before and after.
func TestFleetLockAndMetrics(t *testing.T) {
	t.Parallel()
	srv := fleetlocktest.New(fleetlocktest.Poseidon, 1)
	base, stop, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("start the FleetLock server: %v", err)
	}
	defer stop()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	srv.Hold("default", "other-host")
	config := scenarioConfig + fmt.Sprintf("\n[fleet_lock]\nurl = \"http://10.0.2.2:%s/\"\n", u.Port())
	vm := productGuestWith(t, Options{Name: "fleet-lock", Clock: clockInWindow, HostNet: true}, config)
	// The id the guest must present: derived from its own machine-id.
	guestID, err := fleetlock.MachineID([]byte(vm.Run(t, "cat /etc/machine-id")))
	if err != nil {
		t.Fatalf("the guest's machine-id: %v", err)
	}
	installNodeExporter(t, vm)
	oldK, _ := vm.Kernels()
	mark := vm.SerialMark()
	newK := installNewKernel(t, vm)

	runOnce(t, vm)
	assertDecision(t, vm, "postpone", "fleet-lock", systemd.EventPostponed, "lock_held", "other-host")
	assertNothingStaged(t, vm)
	assertRunning(t, vm, oldK.Release)
	if text := vm.Run(t, "kexec-upgrade status"); !strings.Contains(text, "Fleet lock:") || !strings.Contains(text, "lock_held") {
		t.Errorf("kexec-upgrade status does not show the fleet lock and the server's answer:\n%s", text)
	}
	// node_exporter orders labels by name: match the one that matters.
	waitScrape(t, vm, "before the switch",
		`kexec_upgrade_running_kernel_info\{[^}]*release="`+regexp.QuoteMeta(oldK.Release)+`"[^}]*\} 1$`,
		`kexec_upgrade_target_kernel_info\{[^}]*release="`+regexp.QuoteMeta(newK.Release)+`"[^}]*\} 1$`,
		"kexec_upgrade_upgrade_pending 1$",
		"kexec_upgrade_window_open 1$",
		"kexec_upgrade_fleet_lock_configured 1$",
		"kexec_upgrade_fleet_lock_held 0$",
		"kexec_upgrade_failures_total 0$")

	srv.Release("default", "other-host")
	switchAndVerify(t, vm, mark, newK)

	// The verifying run gives the slot back.
	deadline := time.Now().Add(3 * time.Minute)
	for len(srv.Holders("default")) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the guest still holds the slot: holders %v; server calls %+v", srv.Holders("default"), srv.Calls())
		}
		time.Sleep(2 * time.Second)
	}
	var got []string
	for _, c := range srv.Calls() {
		// Runs repeat a refused call every 5 minutes: count each kind once.
		if call := fmt.Sprintf("%s %d", c.Op, c.Status); c.ID == guestID && (len(got) == 0 || got[len(got)-1] != call) {
			got = append(got, call)
		}
	}
	want := []string{"pre-reboot 423", "pre-reboot 200", "steady-state 200"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("the server recorded %q from the guest (%s); want %q", got, guestID, want)
	}
	waitScrape(t, vm, "after the switch",
		`kexec_upgrade_running_kernel_info\{[^}]*release="`+regexp.QuoteMeta(newK.Release)+`"[^}]*\} 1$`,
		"kexec_upgrade_upgrade_pending 0$",
		`kexec_upgrade_last_outcome_info\{outcome="verified"\} 1$`,
		`kexec_upgrade_last_switch_duration_seconds [0-9.e+]+$`,
		"kexec_upgrade_failures_total 0$",
		"kexec_upgrade_fleet_lock_held 0$")
}
