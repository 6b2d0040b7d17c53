//go:build vm

package vmtest

import (
	"encoding/json"
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

// The admin's controls of the scenario below: a drain hook that fails until
// /run/ku-drained exists, and a post-switch hook that reports the kernel it
// runs on.
const (
	drainHook = `#!/bin/sh
echo "draining for $KEXEC_UPGRADE_FROM -> $KEXEC_UPGRADE_TO"
[ -e /run/ku-drained ] && exit 0
echo "lb: web-1 still has 3 sessions" >&2
exit 1
`
	readyHook = `#!/bin/sh
echo "post-switch on $(uname -r) to=$KEXEC_UPGRADE_TO attempt=$KEXEC_UPGRADE_ATTEMPT"
`
)

func installHook(t *testing.T, vm *VM, dir, name, script string) {
	t.Helper()
	vm.Run(t, fmt.Sprintf("install -d -m 0755 /etc/kexec-upgrade/hooks/%s && cat > /etc/kexec-upgrade/hooks/%s/%s <<'KU_EOF'\n%sKU_EOF\nchmod 0755 /etc/kexec-upgrade/hooks/%s/%s", dir, dir, name, script, dir, name))
}

// waitPauseExpired runs the service until the decision is no longer the
// pause (it was set for a short time), then checks the journal said so.
func waitPauseExpired(t *testing.T, vm *VM) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for status(t, vm).Decision.Check == "paused" {
		if time.Now().After(deadline) {
			t.Fatalf("still paused after 5 minutes:\n%s", vm.Run(t, "kexec-upgrade status; date"))
		}
		time.Sleep(5 * time.Second)
		runOnce(t, vm)
	}
	evs := events(t, vm, systemd.EventPause)
	if len(evs) < 2 || evs[0]["KEXEC_UPGRADE_PAUSE"] != "set" || evs[len(evs)-1]["KEXEC_UPGRADE_PAUSE"] != "expired" {
		t.Errorf("journal pause events = %v; want set, then expired", evs)
	}
}

// TestFleetLockAndMetrics: an admin's pause postpones until it runs out by
// itself; another host holds the fleet's only slot, so the guest postpones
// and names the server's answer; once the slot is free, a failing pre-switch
// hook postpones (named, with its last line) and the slot is given back; once
// the hook passes the guest switches, the post-switch hook runs on the new
// kernel, and the slot is given back after the new kernel is verified.
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
	vm := productGuestWith(t, Options{Name: "fleet-lock", Clock: clockInWindow, HostNet: true, Long: true}, config)
	// The id the guest must present: derived from its own machine-id.
	guestID, err := fleetlock.MachineID([]byte(vm.Run(t, "cat /etc/machine-id")))
	if err != nil {
		t.Fatalf("the guest's machine-id: %v", err)
	}
	installNodeExporter(t, vm)
	installHook(t, vm, "pre-switch.d", "10-drain", drainHook)
	installHook(t, vm, "post-switch.d", "10-ready", readyHook)
	oldK, _ := vm.Kernels()
	mark := vm.SerialMark()
	// The kernel's postinst starts a run at once: the slot is taken by
	// another host, so it postpones on the fleet lock. Then an admin pauses.
	newK := installNewKernel(t, vm)
	waitRunEnded(t, vm)
	vm.Run(t, `kexec-upgrade pause --for 90s --reason "vm freeze"`)

	runOnce(t, vm)
	assertDecision(t, vm, "postpone", "paused", systemd.EventPostponed, "paused by an admin", "vm freeze")
	var paused struct {
		Paused *struct {
			Reason string `json:"reason"`
		} `json:"paused"`
	}
	if err := json.Unmarshal([]byte(vm.Run(t, "kexec-upgrade status --json")), &paused); err != nil || paused.Paused == nil || paused.Paused.Reason != "vm freeze" {
		t.Errorf("status --json: paused = %+v (%v); want the pause and its reason", paused.Paused, err)
	}
	waitPauseExpired(t, vm)
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
	runOnce(t, vm)
	assertDecision(t, vm, "postpone", "hook", systemd.EventPostponed, "10-drain", "still has 3 sessions")
	assertNothingStaged(t, vm)
	if h := srv.Holders("default"); len(h) != 0 {
		t.Errorf("after the failed pre-switch hook the server's holders are %v; want the slot given back", h)
	}
	hooks := events(t, vm, systemd.EventHook)
	if len(hooks) == 0 || hooks[len(hooks)-1]["KEXEC_UPGRADE_HOOK_EXIT"] != "1" || !strings.Contains(hooks[len(hooks)-1]["KEXEC_UPGRADE_HOOK_OUTPUT"], "draining for "+oldK.Release+" -> "+newK.Release) {
		t.Errorf("journal hook events = %v; want the drain hook's exit 1 and output", hooks)
	}

	vm.Run(t, "touch /run/ku-drained")
	switchAndVerify(t, vm, mark, newK)
	// The verifying run ran the post-switch hook on the new kernel.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		post := ""
		for _, e := range events(t, vm, systemd.EventHook) {
			if e["KEXEC_UPGRADE_HOOK_PHASE"] == "post-switch" {
				post = e["KEXEC_UPGRADE_HOOK_OUTPUT"]
			}
		}
		if strings.HasPrefix(post, "post-switch on "+newK.Release+" to="+newK.Release+" attempt=") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no post-switch hook output naming %s in the journal (last %q):\n%s", newK.Release, post, vm.Run(t, "journalctl -u kexec-upgrade --no-pager | tail -n 30"))
		}
		time.Sleep(3 * time.Second)
	}

	// The verifying run gives the slot back.
	deadline = time.Now().Add(3 * time.Minute)
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
	want := []string{"pre-reboot 423", "pre-reboot 200", "steady-state 200", "pre-reboot 200", "steady-state 200"}
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
