//go:build vm

package vmtest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// Guest clocks for the scenarios: a Saturday night inside the window below,
// and a Wednesday outside it. They lie in the future because systemd moves
// a clock earlier than its own build date forward at boot (ClockEpoch).
var (
	clockInWindow  = time.Date(2030, 1, 5, 2, 5, 0, 0, time.UTC)
	clockOutWindow = time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC)
)

// scenarioConfig opens a window on Saturday 02:00-04:00 UTC and lets the
// switch happen right after boot (min_uptime 0s), so scenarios do not wait.
const scenarioConfig = `min_uptime = "0s"

[[window]]
days = ["Sat"]
start = "02:00"
end = "04:00"
time_zone = "UTC"
`

// closedConfig is scenarioConfig with the window on Mondays: closed at
// either clock. The package starts runs by itself (a kernel's postinst hook,
// a changed configuration, its own timers), so a scenario that must change
// something before any run can switch keeps the window closed meanwhile.
const closedConfig = `min_uptime = "0s"

[[window]]
days = ["Mon"]
start = "02:00"
end = "04:00"
time_zone = "UTC"
`

// setWindow writes scenarioConfig (open) or closedConfig, and waits for the
// run the changed configuration starts (kexec-upgrade.path) to end.
func setWindow(t *testing.T, vm *VM, open bool) {
	t.Helper()
	config := closedConfig
	if open {
		config = scenarioConfig
	}
	writeConfig(t, vm, "50-scenario.toml", config)
	runOnce(t, vm)
}

// Timeouts for what the guest does on its own.
const (
	// verifyTimeout: the timer fires 1 min after boot (+ up to 30 s), and a
	// run verifies first; TCG on a loaded machine makes that slower.
	verifyTimeout = 6 * time.Minute
)

// builtDeb returns the package `make deb` built (the newest in dist/).
func builtDeb(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KU_DEB"); p != "" {
		return p
	}
	matches, _ := filepath.Glob("../../dist/kexec-upgrade_*_amd64.deb")
	if len(matches) == 0 {
		t.Fatalf("no dist/kexec-upgrade_*_amd64.deb: run `make deb` first (make vm-test does)")
	}
	sort.Slice(matches, func(i, j int) bool { return modTime(matches[i]).After(modTime(matches[j])) })
	return matches[0]
}

func modTime(path string) time.Time {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// productGuest boots a guest at clock, installs the freshly built package as
// an admin would, and writes the scenario's configuration drop-in.
func productGuest(t *testing.T, name string, clock time.Time, config string) *VM {
	t.Helper()
	return productGuestWith(t, Options{Name: name, Clock: clock}, config)
}

// productGuestWith is productGuest with every option of Start.
func productGuestWith(t *testing.T, opt Options, config string) *VM {
	t.Helper()
	vm := Start(t, opt)
	vm.CopyIn(t, builtDeb(t), "/root/kexec-upgrade.deb")
	vm.Run(t, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q /root/kexec-upgrade.deb >/dev/null")
	if got := strings.TrimSpace(vm.Run(t, "systemctl is-enabled kexec-upgrade.timer")); got != "enabled" {
		t.Fatalf("after installing the package, kexec-upgrade.timer is %q; want enabled", got)
	}
	writeConfig(t, vm, "50-scenario.toml", config)
	return vm
}

func writeConfig(t *testing.T, vm *VM, name, content string) {
	t.Helper()
	vm.Run(t, fmt.Sprintf("install -d -m 0755 /etc/kexec-upgrade/config.d && cat > /etc/kexec-upgrade/config.d/%s <<'KU_EOF'\n%sKU_EOF\nchmod 0644 /etc/kexec-upgrade/config.d/%s", name, content, name))
}

// installNewKernel installs the newer kernel as an admin or an unattended
// upgrade would: a single package with dpkg; a kernel that needs more (from
// backports: a newer linux-base, and in the 7.x packaging linux-binary-R,
// linux-modules-R and linux-base-R) with apt, which orders the
// pre-dependencies. Afterwards every one of them must be installed.
func installNewKernel(t *testing.T, vm *VM) KernelInfo {
	t.Helper()
	_, newK := vm.Kernels()
	vm.Run(t, "mkdir -p /root/new-kernel")
	var paths []string
	for _, deb := range newK.Debs {
		p := "/root/new-kernel/" + filepath.Base(deb)
		vm.CopyIn(t, deb, p)
		paths = append(paths, p)
	}
	if len(paths) == 1 {
		vm.Run(t, "DEBIAN_FRONTEND=noninteractive dpkg -i "+paths[0]+" >/dev/null")
	} else {
		vm.Run(t, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "+strings.Join(paths, " ")+" >/dev/null")
	}
	// Every package of the kernel is installed ("ii"), not just unpacked.
	out := vm.Run(t, `for d in /root/new-kernel/*.deb; do dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' "$(dpkg-deb -f "$d" Package)"; done`)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] != "ii" {
			t.Fatalf("after installing %s: package %s is %q; want ii", newK.Package, f[1], f[0])
		}
	}
	return newK
}

// runOnce starts the service like the timer does and waits for it to end.
// The unit may fail (a bad configuration): that is the scenario's to judge.
func runOnce(t *testing.T, vm *VM) {
	t.Helper()
	vm.Try("systemctl start kexec-upgrade.service")
}

// waitRunEnded waits until no run of the service is queued or running, for
// example the one a kernel package's postinst hook started with --no-block:
// a `systemctl start` while that one is still running would join it instead
// of starting a run that sees what the scenario changed since.
func waitRunEnded(t *testing.T, vm *VM) {
	t.Helper()
	vm.Run(t, `for i in $(seq 600); do
  s=$(systemctl show -P ActiveState kexec-upgrade.service)
  if [ "$s" != activating ] && [ "$s" != deactivating ] && [ -z "$(systemctl list-jobs --no-legend kexec-upgrade.service)" ]; then exit 0; fi
  sleep 1
done
echo "kexec-upgrade.service still $s after 10 minutes" >&2; exit 1`)
}

// events returns the journal events of a kind, oldest first.
func events(t *testing.T, vm *VM, kind string) []map[string]string {
	t.Helper()
	out := vm.Run(t, "journalctl -o json --no-pager MESSAGE_ID="+systemd.MessageID(kind))
	var list []map[string]string
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("journal line %q: %v", line, err)
		}
		e := map[string]string{}
		for k, v := range raw {
			if s, ok := v.(string); ok {
				e[k] = s
			}
		}
		list = append(list, e)
	}
	return list
}

type statusView struct {
	Target *struct {
		Release string `json:"release"`
		Package string `json:"package"`
		Version string `json:"version"`
		Image   string `json:"image"`
		New     bool   `json:"new"`
	} `json:"target"`
	Decision struct {
		Action  string  `json:"action"`
		Check   string  `json:"check"`
		Reason  string  `json:"reason"`
		RetryAt *string `json:"retry_at"`
	} `json:"decision"`
	Config struct {
		Valid  bool     `json:"valid"`
		Errors []string `json:"errors"`
	} `json:"config"`
	Staged bool `json:"staged"`
}

func status(t *testing.T, vm *VM) statusView {
	t.Helper()
	// status exits 1 while the configuration is invalid and still prints
	// its JSON: only ssh failing fails here.
	out, stderr, _, err := vm.Try("kexec-upgrade status --json")
	if err != nil {
		t.Fatalf("kexec-upgrade status --json: %v (%s)", err, stderr)
	}
	var s statusView
	decodeStatus(t, out, &s)
	return s
}

// statusJSON decodes the guest's `kexec-upgrade status --json`, which must
// exit 0, into v: a pointer to a struct with the keys the caller reads.
func statusJSON(t *testing.T, vm *VM, v any) {
	t.Helper()
	decodeStatus(t, vm.Run(t, "kexec-upgrade status --json"), v)
}

func decodeStatus(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("kexec-upgrade status --json printed %q: %v", out, err)
	}
}

type attemptView struct {
	Outcome string `json:"outcome"`
	Kind    string `json:"kind"`
	From    struct {
		Release string `json:"release"`
		Build   string `json:"build"`
	} `json:"from"`
	To struct {
		Release string `json:"release"`
		Build   string `json:"build"`
	} `json:"to"`
	DurationSeconds *float64 `json:"duration_seconds"`
	Forced          bool     `json:"forced"`
	Trial           *struct {
		FallbackEntry string `json:"fallback_entry"`
	} `json:"trial"`
}

func history(t *testing.T, vm *VM) []attemptView {
	t.Helper()
	out := vm.Run(t, "kexec-upgrade history --json")
	var h struct {
		Attempts []attemptView `json:"attempts"`
	}
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatalf("kexec-upgrade history --json printed %q: %v", out, err)
	}
	return h.Attempts
}

func assertNothingStaged(t *testing.T, vm *VM) {
	t.Helper()
	if got := strings.TrimSpace(vm.Run(t, "cat /sys/kernel/kexec_loaded")); got != "0" {
		t.Errorf("/sys/kernel/kexec_loaded = %s; want 0 (nothing staged)", got)
	}
}

func assertRunning(t *testing.T, vm *VM, release string) {
	t.Helper()
	if got := strings.TrimSpace(vm.Run(t, "uname -r")); got != release {
		t.Errorf("uname -r = %s; want %s", got, release)
	}
}

// assertDecision checks status --json's decision and that the journal has an
// event of kind whose reason contains every one of want.
func assertDecision(t *testing.T, vm *VM, action, check, kind string, want ...string) {
	t.Helper()
	s := status(t, vm)
	if s.Decision.Action != action || s.Decision.Check != check {
		t.Errorf("status: decision %s (%s): %q; want %s (%s)", s.Decision.Action, s.Decision.Check, s.Decision.Reason, action, check)
	}
	for _, w := range want {
		if !strings.Contains(s.Decision.Reason, w) {
			t.Errorf("status: reason %q does not name %q", s.Decision.Reason, w)
		}
	}
	evs := events(t, vm, kind)
	if len(evs) == 0 {
		t.Errorf("journal: no %s event; journal of the unit:\n%s", kind, vm.Run(t, "journalctl -u kexec-upgrade --no-pager | tail -n 30"))
		return
	}
	last := evs[len(evs)-1]
	for _, w := range want {
		if !strings.Contains(last["KEXEC_UPGRADE_REASON"], w) {
			t.Errorf("journal %s event: reason %q does not name %q", kind, last["KEXEC_UPGRADE_REASON"], w)
		}
	}
}

// switchAndVerify starts a run and waits for the guest to kexec into want,
// for the timer's first run after boot to verify it, and checks the evidence.
func switchAndVerify(t *testing.T, vm *VM, mark int, want KernelInfo) attemptView {
	t.Helper()
	return switchAndVerifyBy(t, vm, mark, want, "systemctl start --no-block kexec-upgrade.service")
}

// switchAndVerifyBy is switchAndVerify with the run started by start, a
// guest command that must not wait for the switch (the guest goes away).
func switchAndVerifyBy(t *testing.T, vm *VM, mark int, want KernelInfo, start string) attemptView {
	t.Helper()
	oldRelease, oldBootID := vm.LastBoot()
	vm.Try(start)
	vm.WaitSerialSince(t, mark, kexecStarting, BootTimeout)
	rel, bootID := vm.WaitBootedSince(t, mark, BootTimeout)
	if rel != want.Release || bootID == oldBootID {
		t.Fatalf("after the switch: booted %s (boot %s); want %s in a new boot (was %s, %s)", rel, bootID, want.Release, oldRelease, oldBootID)
	}
	for _, line := range vm.SerialSince(mark) {
		if strings.Contains(line, "SeaBIOS") {
			t.Errorf("console shows a firmware restart during the switch: %q", line)
		}
	}
	a := waitOutcome(t, vm)
	if a.Outcome != "verified" || a.To.Release != want.Release || a.From.Release != oldRelease {
		t.Errorf("history: last attempt %s %s → %s; want verified %s → %s", a.Outcome, a.From.Release, a.To.Release, oldRelease, want.Release)
	}
	assertRunning(t, vm, want.Release)
	if got := strings.TrimSpace(vm.Run(t, loaderTypeCmd)); got != "d0" {
		t.Errorf("boot_params type_of_loader = 0x%s; want 0xd0 (kexec)", got)
	}
	assertNothingStaged(t, vm)
	if failed := strings.TrimSpace(vm.Run(t, "systemctl --failed --no-legend --plain")); failed != "" {
		t.Errorf("failed units after the switch:\n%s", failed)
	}
	return a
}

// waitOutcome waits until history's newest attempt has an outcome (the
// timer verifies after boot); on timeout it shows the unit's journal.
func waitOutcome(t *testing.T, vm *VM) attemptView {
	t.Helper()
	deadline := time.Now().Add(verifyTimeout)
	for {
		if h := history(t, vm); len(h) > 0 && h[len(h)-1].Outcome != "pending" {
			return h[len(h)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verification within %v of boot; timer and journal:\n%s\n%s", verifyTimeout,
				vm.Run(t, "systemctl list-timers --all --no-pager kexec-upgrade.timer"),
				vm.Run(t, "journalctl -u kexec-upgrade --no-pager | tail -n 40"))
		}
		time.Sleep(3 * time.Second)
	}
}

// TestSwitchInWindow switches a bookworm guest from its 6.1 kernel to the
// newest 6.12+deb12 build Debian offers bookworm (bookworm-backports or
// bookworm-security), verified, and reports the HTTP gap. The kernel is
// installed with the window closed; then a window opening a minute or two
// ahead is configured, and the package's own timers switch at its opening:
// the run armed for it starts plan.EarlyStart before, and nothing is
// decided or queued before the opening. The 6.1 → 6.1
// switch of the matrix's first row is TestPostponesThenSwitches/bookworm's
// (one boot fewer in CI); KU_VM_ALL_ROWS=1 runs it here too.
func TestSwitchInWindow(t *testing.T) {
	t.Parallel()
	guests := []Guest{BookwormBackports}
	if os.Getenv("KU_VM_ALL_ROWS") == "1" {
		guests = append(guests, Bookworm)
	}
	for _, g := range guests {
		t.Run(subtestName(g), func(t *testing.T) {
			t.Parallel()
			vm := productGuestWith(t, Options{Name: "window-open", Clock: clockInWindow, Guest: g}, closedConfig)
			oldK, _ := vm.Kernels()
			mark := vm.SerialMark()
			newK := installNewKernel(t, vm)
			assertTarget(t, vm, newK)
			probe := vm.StartProbe()
			// The next whole minute at least 60 s ahead: the run the
			// configuration change starts has armed the opening by then.
			opening := guestNow(t, vm).Add(60 * time.Second).Truncate(time.Minute).Add(time.Minute)
			writeConfig(t, vm, "50-scenario.toml", windowOpeningAt(opening))
			a := switchAndVerifyBy(t, vm, mark, newK, "true")
			gap, answered := probe.Stop()
			assertSwitchedAtOpening(t, vm, opening)
			if n := len(events(t, vm, systemd.EventSwitching)); n != 1 {
				t.Errorf("journal: %d switching events; want exactly 1", n)
			}
			if a.DurationSeconds == nil {
				t.Errorf("history: no switch duration recorded")
			}
			out := vm.Run(t, "kexec-upgrade history")
			if !strings.Contains(out, oldK.Release) || !strings.Contains(out, newK.Release) || !strings.Contains(out, "verified") {
				t.Errorf("kexec-upgrade history does not show %s → %s verified:\n%s", oldK.Release, newK.Release, out)
			}
			if s := status(t, vm); s.Decision.Action != "up-to-date" {
				t.Errorf("status after the switch: %s (%s); want up-to-date", s.Decision.Action, s.Decision.Reason)
			}
			t.Logf("%s: switched %s → %s; HTTP probe: longest gap %v over %d answers", g, oldK.Release, newK.Release, gap.Round(10*time.Millisecond), answered)
		})
	}
}

// assertSwitchedAtOpening checks that the switch was the work of the run
// armed plan.EarlyStart before opening (its transient unit started), and
// that nothing was decided or queued before the opening, by the guest's
// clock.
func assertSwitchedAtOpening(t *testing.T, vm *VM, opening time.Time) {
	t.Helper()
	sw := lastSwitch(t, vm)
	if sw.decided.Before(opening) || sw.queued.Before(opening) {
		t.Errorf("switch decided at %s, queued at %s: before the window opened at %s", sw.decided.Format(time.RFC3339Nano), sw.queued.Format(time.RFC3339Nano), opening.Format(time.RFC3339))
	}
	armed := fmt.Sprintf("kexec-upgrade-at-%d.service", opening.Add(-plan.EarlyStart).Unix())
	if out := vm.Run(t, "journalctl -o cat --no-pager -b -1 MESSAGE_ID="+unitStartingID+" UNIT="+armed); !strings.Contains(out, "kexec-upgrade") {
		t.Errorf("journal of the old boot: %s never started; the armed runs were:\n%s", armed,
			vm.Run(t, "journalctl -o short-precise --no-pager -b -1 -u 'kexec-upgrade-at-*' -u kexec-upgrade.service | tail -n 30"))
	}
	t.Logf("window opened at %s; %s", opening.Format("15:04:05"), sw.split(opening))
}

// windowClosedPostpones: with the window closed a run neither stages nor
// switches, and status and the journal say when the window opens; a second
// run with nothing changed logs nothing new.
func windowClosedPostpones(t *testing.T, vm *VM, oldK, newK KernelInfo) {
	runOnce(t, vm)
	assertRunning(t, vm, oldK.Release)
	assertNothingStaged(t, vm)
	s := status(t, vm)
	if s.Target == nil || s.Target.Release != newK.Release || !s.Target.New {
		t.Errorf("status: target %+v; want the pending %s", s.Target, newK.Release)
	}
	// closedConfig's window is on Mondays; the guest's clock is Saturday 2030-01-05.
	assertDecision(t, vm, "postpone", "window", systemd.EventPostponed, "Mon 2030-01-07 02:00")
	if s.Decision.RetryAt == nil || !strings.HasPrefix(*s.Decision.RetryAt, "2030-01-07T02:00:00") {
		t.Errorf("status: retry_at %v; want the window's opening 2030-01-07T02:00:00Z", s.Decision.RetryAt)
	}
	text := vm.Run(t, "kexec-upgrade status")
	if !strings.Contains(text, newK.Release) || !strings.Contains(text, "2030-01-07") {
		t.Errorf("kexec-upgrade status does not name %s and the window's date:\n%s", newK.Release, text)
	}
	before := len(events(t, vm, systemd.EventPostponed))
	runOnce(t, vm)
	if after := len(events(t, vm, systemd.EventPostponed)); after != before {
		t.Errorf("journal: %d postponed events after a second identical run, %d before; want no new one", after, before)
	}
}

// TestRefusals runs, on one guest and in turn, the window-closed postpone,
// the refusals that leave the guest as it was (each restoring what it
// broke), issue 11's kill scenario (which reboots the guest through the
// firmware) and, last, kexec_load_disabled: every boot and kernel install
// costs minutes under TCG.
func TestRefusals(t *testing.T) {
	t.Parallel()
	// Closed while the kernel installs and between the checks: the runs the
	// package starts by itself must not switch to a restored image.
	vm := productGuest(t, "refusals", clockInWindow, closedConfig)
	oldK, _ := vm.Kernels()
	newK := installNewKernel(t, vm)
	image, initrd := "/boot/vmlinuz-"+newK.Release, "/boot/initrd.img-"+newK.Release
	vm.Run(t, "cp -a "+image+" /root/vmlinuz.good && cp -a "+initrd+" /root/initrd.good")
	after := func(t *testing.T) {
		t.Helper()
		assertNothingStaged(t, vm)
		assertRunning(t, vm, oldK.Release)
		if state := strings.TrimSpace(vm.Run(t, "systemctl is-system-running || true")); state != "running" {
			t.Errorf("system state after the refusal: %s; want running", state)
		}
	}
	t.Run("window_closed", func(t *testing.T) { windowClosedPostpones(t, vm, oldK, newK) })
	t.Run("truncated_image", func(t *testing.T) {
		vm.Run(t, "truncate -s 300000 "+image)
		setWindow(t, vm, true)
		runOnce(t, vm)
		assertDecision(t, vm, "refuse", "image", systemd.EventRefused, image, "truncated")
		after(t)
		setWindow(t, vm, false)
		vm.Run(t, "cp -a /root/vmlinuz.good "+image)
	})
	t.Run("initrd_missing", func(t *testing.T) {
		vm.Run(t, "rm "+initrd)
		setWindow(t, vm, true)
		runOnce(t, vm)
		assertDecision(t, vm, "refuse", "initrd", systemd.EventRefused, initrd, "missing")
		after(t)
		setWindow(t, vm, false)
		vm.Run(t, "cp -a /root/initrd.good "+initrd)
	})
	t.Run("malformed_config", func(t *testing.T) {
		writeConfig(t, vm, "60-bad.toml", "[[window]]\nstart = \"02:00\"\nend = \"25:00\"\n")
		runOnce(t, vm)
		want := `/etc/kexec-upgrade/config.d/60-bad.toml:3: window.end: "25:00" is not a time of day (HH:MM)`
		s := status(t, vm)
		if s.Config.Valid || len(s.Config.Errors) == 0 || s.Config.Errors[0] != want {
			t.Errorf("status: config %+v; want invalid with %q", s.Config, want)
		}
		if text := vm.Run(t, "kexec-upgrade status || true"); !strings.Contains(text, want) {
			t.Errorf("kexec-upgrade status does not show %q:\n%s", want, text)
		}
		evs := events(t, vm, systemd.EventConfigError)
		if len(evs) == 0 || !strings.Contains(evs[len(evs)-1]["KEXEC_UPGRADE_REASON"], want) {
			t.Errorf("journal: config-error events %v; want one naming %q", evs, want)
		}
		if got := strings.TrimSpace(vm.Run(t, "systemctl show -P Result kexec-upgrade.service")); got != "exit-code" {
			t.Errorf("kexec-upgrade.service result = %s; want exit-code (a bad configuration fails the unit visibly)", got)
		}
		// The failed unit degrades the system, as it should; clear it for the next checks.
		vm.Run(t, "rm /etc/kexec-upgrade/config.d/60-bad.toml && systemctl reset-failed kexec-upgrade.service")
		after(t)
	})
	if n := len(events(t, vm, systemd.EventStaged)); n != 0 {
		t.Errorf("journal: %d staged events after the refusals; want none", n)
	}
	t.Run("killed_after_load", func(t *testing.T) { killedAfterLoad(t, vm, oldK, newK) })
	// Last: kexec_load_disabled cannot be turned off again before a reboot.
	t.Run("kexec_load_disabled", func(t *testing.T) {
		vm.Run(t, "sysctl -q -w kernel.kexec_load_disabled=1")
		setWindow(t, vm, true)
		runOnce(t, vm)
		assertDecision(t, vm, "refuse", "kexec-allowed", systemd.EventRefused, "kexec_load_disabled")
		after(t)
	})
}

// slowDeb builds a package whose preinst holds dpkg until /run/ku-release
// appears: an install in progress, for as long as the scenario needs.
func slowDeb(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	pkg := filepath.Join(dir, "pkg")
	if err := os.MkdirAll(filepath.Join(pkg, "DEBIAN"), 0o755); err != nil {
		t.Fatal(err)
	}
	control := "Package: ku-slow-install\nVersion: 1.0\nArchitecture: all\nMaintainer: kexec-upgrade tests <tests@localhost>\nDescription: holds dpkg busy for a test\n"
	preinst := "#!/bin/sh\nfor i in $(seq 600); do [ -e /run/ku-release ] && exit 0; sleep 1; done\n"
	if err := os.WriteFile(filepath.Join(pkg, "DEBIAN/control"), []byte(control), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkg, "DEBIAN/preinst"), []byte(preinst), 0o755); err != nil {
		t.Fatal(err)
	}
	deb := filepath.Join(dir, "ku-slow-install.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-b", pkg, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, out)
	}
	return deb
}

// stoppingLine is printed by ku-slow-stop.service when the shutdown for the
// switch reaches it: the moment the scenario pulls the plug.
var stoppingLine = regexp.MustCompile(`KU-STOPPING`)

func TestStagedKernelNeverCameUp(t *testing.T) {
	t.Parallel()
	vm := productGuest(t, "never-came-up", clockInWindow, scenarioConfig)
	oldK, _ := vm.Kernels()
	_, firstBootID := vm.LastBoot()
	beforeReset := guestTime(t, vm)
	if beforeReset.Before(clockInWindow) || beforeReset.After(clockInWindow.Add(BootTimeout+time.Minute)) {
		t.Errorf("guest clock after the first boot = %s; want shortly after Options.Clock %s",
			beforeReset.Format(time.RFC3339), clockInWindow.Format(time.RFC3339))
	}
	// A service whose stop hangs keeps the switch in its shutdown phase
	// long enough to cold-boot the machine instead, as a hang would.
	vm.Run(t, `systemd-run --unit=ku-slow-stop -p TimeoutStopSec=10min -p RemainAfterExit=yes -p ExecStop="/bin/sh -c 'echo KU-STOPPING > /dev/ttyS0; sleep 600'" /bin/true`)
	mark := vm.SerialMark()
	newK := installNewKernel(t, vm)
	vm.Try("systemctl start --no-block kexec-upgrade.service")
	vm.WaitSerialSince(t, mark, stoppingLine, BootTimeout)
	vm.PowerCycle(t)
	rel, bootID := vm.WaitBootedSince(t, mark, BootTimeout)
	if rel != oldK.Release {
		t.Fatalf("after the cold boot: %s; want the old kernel %s", rel, oldK.Release)
	}
	assertColdBoot(t, vm, oldK, firstBootID, bootID, beforeReset)
	a := waitOutcome(t, vm)
	if a.Outcome != "failed" || a.Kind != "booted-old-kernel" || a.To.Release != newK.Release {
		t.Errorf("history: last attempt %s:%s → %s; want failed:booted-old-kernel → %s", a.Outcome, a.Kind, a.To.Release, newK.Release)
	}
	// The next runs refuse the failed build instead of trying it again.
	runOnce(t, vm)
	runOnce(t, vm)
	assertDecision(t, vm, "refuse", "failed-before", systemd.EventRefused, newK.Release)
	if n := len(events(t, vm, systemd.EventSwitching)); n != 1 {
		t.Errorf("journal: %d switching events; want 1 (no retry)", n)
	}
	assertNothingStaged(t, vm)
	if out := vm.Run(t, "kexec-upgrade history"); !strings.Contains(out, "failed:booted-old-kernel") {
		t.Errorf("kexec-upgrade history does not show the failure:\n%s", out)
	}
}
