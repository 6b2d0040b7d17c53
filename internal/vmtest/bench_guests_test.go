//go:build vm

package vmtest

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// benchSlotClock is the bench guests' clock at QEMU's start: a Saturday at
// 01:00 UTC, so a window opening within minutes ends the same day.
var benchSlotClock = time.Date(2030, 1, 12, 1, 0, 0, 0, time.UTC)

// benchInWindowClock is inside scenarioConfig's window (Saturday 02:00-04:00).
var benchInWindowClock = time.Date(2030, 1, 12, 2, 5, 0, 0, time.UTC)

// Bench timeouts: under TCG on a 2-core machine that other guests and
// builds share, a kexec-ed kernel took more than 5 minutes to boot.
const (
	benchBootTimeout   = 15 * time.Minute
	benchSwitchTimeout = 20 * time.Minute
)

// benchDeadline skips the rest of a bench guest's work once KU_BENCH_STOP
// (RFC 3339) has passed, so that a bench with a deadline still prints the
// figures it has: nothing new starts after it.
func benchDeadline(t *testing.T) {
	t.Helper()
	v := os.Getenv("KU_BENCH_STOP")
	if v == "" {
		return
	}
	stop, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatalf("KU_BENCH_STOP=%q: want an RFC 3339 time: %v", v, err)
	}
	if time.Now().After(stop) {
		t.Skipf("KU_BENCH_STOP %s has passed: not started", v)
	}
}

// awaitProbedSwitch waits, from mark, for the switch that was just set
// off and the boot of want, stops probe once the guest is back, and waits
// for the switch to be verified; it returns the probe's longest gap and
// the number of answers.
func awaitProbedSwitch(t *testing.T, vm *VM, mark int, probe *Probe, want KernelInfo) (time.Duration, int) {
	t.Helper()
	vm.WaitSerialSince(t, mark, kexecStarting, benchSwitchTimeout)
	rel, _ := vm.WaitBootedSince(t, mark, benchBootTimeout)
	gap, answered := probe.Stop()
	if rel != want.Release {
		t.Fatalf("after the switch: booted %s; want %s", rel, want.Release)
	}
	verifyNow(t, vm)
	return gap, answered
}

// verifyNow waits for the boot to finish (systemctl is-system-running
// --wait) and starts the run that verifies the switch, instead of waiting
// for the timer's first run after boot; the newest attempt must be verified.
func verifyNow(t *testing.T, vm *VM) {
	t.Helper()
	vm.Try("systemctl is-system-running --wait")
	vm.Try("systemctl start kexec-upgrade.service")
	if h := history(t, vm); len(h) == 0 || h[len(h)-1].Outcome != "verified" {
		t.Fatalf("history after the switch: %+v; want the newest attempt verified\n%s", h,
			vm.Run(t, "journalctl -u kexec-upgrade --no-pager | tail -n 40"))
	}
}

// guestNow reads the guest's clock.
func guestNow(t *testing.T, vm *VM) time.Time {
	t.Helper()
	out := strings.TrimSpace(vm.Run(t, "date -u +%s.%N"))
	return parseEpoch(t, out)
}

// parseEpoch parses "seconds.nanoseconds" as date +%s.%N prints it.
func parseEpoch(t *testing.T, s string) time.Time {
	t.Helper()
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		t.Fatalf("guest clock %q: %v", s, err)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// unitStartingID is systemd's journal message ID of a unit's start job
// beginning ("Starting …").
const unitStartingID = "7d4958e842da4a758f6c1cdc7b36dcc5"

// switchTimes are the moments of the newest switch, by the guest's clock.
type switchTimes struct {
	// runStart: systemd began starting the kexec-upgrade.service run that
	// switched (zero when the journal does not say).
	runStart time.Time
	// decided: the run decided to switch (the attempt's time).
	decided time.Time
	// staged: the journal said the kernel was staged (zero when it did not).
	staged time.Time
	// queued: kexec.target was queued (the switching event).
	queued time.Time
}

// split renders the times relative to from.
func (s switchTimes) split(from time.Time) string {
	d := func(x time.Time) string {
		if x.IsZero() {
			return "?"
		}
		if x.Before(from) {
			return "−" + from.Sub(x).Round(100*time.Millisecond).String()
		}
		return "+" + x.Sub(from).Round(100*time.Millisecond).String()
	}
	return fmt.Sprintf("run started %s, decided %s, staged %s, kexec.target queued %s", d(s.runStart), d(s.decided), d(s.staged), d(s.queued))
}

// lastSwitch reads the newest switching event of the guest's journal and
// the start of the run that sent it.
func lastSwitch(t *testing.T, vm *VM) switchTimes {
	t.Helper()
	sw := events(t, vm, systemd.EventSwitching)
	if len(sw) == 0 {
		t.Fatalf("no switching event in the journal")
	}
	e := sw[len(sw)-1]
	usec, err := strconv.ParseInt(e["__REALTIME_TIMESTAMP"], 10, 64)
	if err != nil {
		t.Fatalf("switching event's timestamp: %v", err)
	}
	st := switchTimes{queued: time.UnixMicro(usec).UTC()}
	if at, err := time.Parse(time.RFC3339Nano, e["KEXEC_UPGRADE_AT"]); err == nil {
		st.decided = at.UTC()
	}
	st.staged = stagedAt(t, vm, e["KEXEC_UPGRADE_ATTEMPT"])
	out := vm.Run(t, "journalctl -o json --no-pager MESSAGE_ID="+unitStartingID+" UNIT=kexec-upgrade.service _BOOT_ID="+e["_BOOT_ID"])
	for _, line := range strings.Split(out, "\n") {
		var ev struct {
			Realtime string `json:"__REALTIME_TIMESTAMP"`
		}
		if json.Unmarshal([]byte(line), &ev) != nil {
			continue
		}
		if us, err := strconv.ParseInt(ev.Realtime, 10, 64); err == nil {
			if at := time.UnixMicro(us).UTC(); !at.After(st.queued) {
				st.runStart = at
			}
		}
	}
	return st
}

// stagedAt is when the journal said the attempt's kernel was staged, zero
// when it did not.
func stagedAt(t *testing.T, vm *VM, attempt string) time.Time {
	t.Helper()
	for _, e := range events(t, vm, systemd.EventStaged) {
		if e["KEXEC_UPGRADE_ATTEMPT"] != attempt {
			continue
		}
		if us, err := strconv.ParseInt(e["__REALTIME_TIMESTAMP"], 10, 64); err == nil {
			return time.UnixMicro(us).UTC()
		}
	}
	return time.Time{}
}

// benchAttempt is what the bench reads of history --json's newest attempt.
type benchAttempt struct {
	Outcome         string   `json:"outcome"`
	DurationSeconds *float64 `json:"duration_seconds"`
	Phases          *struct {
		StoppingSeconds  *float64 `json:"stopping_seconds"`
		KernelSeconds    *float64 `json:"kernel_seconds"`
		UserspaceSeconds *float64 `json:"userspace_seconds"`
		SlowestStops     []struct {
			Unit    string  `json:"unit"`
			Seconds float64 `json:"seconds"`
		} `json:"slowest_stops"`
		SlowestStarts []struct {
			Unit    string  `json:"unit"`
			Seconds float64 `json:"seconds"`
		} `json:"slowest_starts"`
		StopsUnknown string `json:"stops_unknown"`
	} `json:"phases"`
}

// lastAttemptPhases renders the phases of history --json's newest attempt.
func lastAttemptPhases(t *testing.T, vm *VM) string {
	t.Helper()
	out := vm.Run(t, "kexec-upgrade history --json")
	var h struct {
		Attempts []benchAttempt `json:"attempts"`
	}
	if err := json.Unmarshal([]byte(out), &h); err != nil || len(h.Attempts) == 0 {
		return fmt.Sprintf("history --json unreadable or empty (%v)", err)
	}
	a := h.Attempts[len(h.Attempts)-1]
	p := a.Phases
	if p == nil {
		return "history recorded no phases (outcome " + a.Outcome + ")"
	}
	f := func(v *float64) string {
		if v == nil {
			return "?"
		}
		return fmt.Sprintf("%.1f s", *v)
	}
	s := fmt.Sprintf("stopping %s, kernel %s, userspace %s", f(p.StoppingSeconds), f(p.KernelSeconds), f(p.UserspaceSeconds))
	if a.DurationSeconds != nil {
		s += fmt.Sprintf(" (queued → userspace %.1f s)", *a.DurationSeconds)
	}
	top := func(list []struct {
		Unit    string  `json:"unit"`
		Seconds float64 `json:"seconds"`
	}) string {
		var parts []string
		for i, u := range list {
			if i == 3 {
				break
			}
			parts = append(parts, fmt.Sprintf("%s %.1f s", u.Unit, u.Seconds))
		}
		return strings.Join(parts, ", ")
	}
	if len(p.SlowestStops) > 0 {
		s += "; slowest to stop: " + top(p.SlowestStops)
	} else if p.StopsUnknown != "" {
		s += "; stops unknown: " + p.StopsUnknown
	}
	if len(p.SlowestStarts) > 0 {
		s += "; slowest to start: " + top(p.SlowestStarts)
	}
	return s
}

// windowOpeningAt is a configuration whose only window opens at opening
// (UTC) and lasts two hours, on opening's weekday.
func windowOpeningAt(opening time.Time) string {
	return fmt.Sprintf("min_uptime = \"0s\"\n\n[[window]]\ndays = [%q]\nstart = %q\nend = %q\ntime_zone = \"UTC\"\n",
		opening.Weekday().String()[:3], opening.Format("15:04"), opening.Add(2*time.Hour).Format("15:04"))
}

// benchSlotOpening installs the new kernel while the window is closed, then
// opens it 1-2 minutes ahead of the guest's clock and lets kexec-upgrade's
// own timers switch: slot open → switch start, and the outage.
func benchSlotOpening(t *testing.T, res *benchResults, name string) {
	vm := productGuest(t, name, benchSlotClock, closedConfig)
	newK := installNewKernel(t, vm)
	// The next whole minute at least 90 s ahead: the run the configuration
	// change starts (kexec-upgrade.path) has ended by then, even under load.
	opening := guestNow(t, vm).Add(90 * time.Second).Truncate(time.Minute).Add(time.Minute)
	mark := vm.SerialMark()
	probe := vm.StartProbe()
	writeConfig(t, vm, "50-scenario.toml", windowOpeningAt(opening))
	t.Logf("window opens at %s by the guest's clock", opening.Format("15:04:05"))
	gap, answered := awaitProbedSwitch(t, vm, mark, probe, newK)
	sw := lastSwitch(t, vm)
	delay := sw.queued.Sub(opening)
	phases := lastAttemptPhases(t, vm)
	t.Logf("slot open → switch %v (%s); gap %v; %s", delay, sw.split(opening), gap, phases)
	res.add(methodKU, benchRun{gap: gap, answered: answered, note: "switched by the timer it armed for the slot's opening"})
	res.with(func(r *benchResults) {
		r.slotDelays = append(r.slotDelays, delay)
		r.splits = append(r.splits, "slot open → "+sw.split(opening))
		r.phases[name] = phases
	})
}

// benchInstallInWindow installs the new kernel while the window is open:
// the kernel's postinst hook starts a run, which finds dpkg busy and looks
// again 20 s later. Then the idle run's cost on the switched guest.
func benchInstallInWindow(t *testing.T, res *benchResults) {
	vm := productGuest(t, "bench-ku-install", benchInWindowClock, scenarioConfig)
	_, newK := vm.Kernels()
	vm.Run(t, "mkdir -p /root/new-kernel")
	var paths []string
	for _, deb := range newK.Debs {
		p := "/root/new-kernel/" + filepath.Base(deb)
		vm.CopyIn(t, deb, p)
		paths = append(paths, p)
	}
	install := "DEBIAN_FRONTEND=noninteractive dpkg -i " + strings.Join(paths, " ")
	if len(paths) > 1 {
		install = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends " + strings.Join(paths, " ")
	}
	mark := vm.SerialMark()
	// The guest's clock right after the package manager exited (and so
	// released its locks), in the same shell.
	out := vm.Run(t, install+" >/dev/null && date -u +%s.%N")
	released := parseEpoch(t, out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	// The probe starts once the install is done (the run it started looks
	// again 20 s later, and stops services after that): while it polls, the
	// guest forks a server process for every request, which slowed dpkg.
	probe := vm.StartProbe()
	gap, answered := awaitProbedSwitch(t, vm, mark, probe, newK)
	sw := lastSwitch(t, vm)
	delay := sw.queued.Sub(released)
	phases := lastAttemptPhases(t, vm)
	t.Logf("install finished → switch %v (%s); gap %v; %s", delay, sw.split(released), gap, phases)
	res.add(methodKU, benchRun{gap: gap, answered: answered, note: "kernel installed in an open window: started by its postinst hook and the run armed 20 s later"})
	res.with(func(r *benchResults) {
		r.installDelays = append(r.installDelays, delay)
		r.splits = append(r.splits, "install finished → "+sw.split(released))
		r.phases["bench-ku-install"] = phases
	})
	idle := idleRunCost(t, vm)
	res.with(func(r *benchResults) { r.idle = append(r.idle, idle...) })
}

// idleRunCost measures runs with nothing to do on a guest that is up to
// date: the service's CPU as systemd accounts it (CPUUsageNSec, which
// includes setting up its sandbox), and `kexec-upgrade run` as a process
// under GNU time (user+sys CPU, max RSS), beside /bin/true, five runs each,
// medians. The host's /usr/bin/time is copied in (same Debian release).
func idleRunCost(t *testing.T, vm *VM) []string {
	t.Helper()
	if s := status(t, vm); s.Decision.Action != "up-to-date" {
		t.Errorf("status before the idle runs: %s (%s); want up-to-date", s.Decision.Action, s.Decision.Reason)
	}
	vm.CopyIn(t, "/usr/bin/time", "/root/ku-time")
	vm.Run(t, "chmod 0755 /root/ku-time")
	const n = 5
	var service, serviceMem []float64
	for range n {
		vm.Run(t, "systemctl start kexec-upgrade.service")
		out := strings.Fields(vm.Run(t, "systemctl show -P CPUUsageNSec kexec-upgrade.service; systemctl show -P MemoryPeak kexec-upgrade.service 2>/dev/null || true"))
		if len(out) > 0 {
			if ns, err := strconv.ParseFloat(out[0], 64); err == nil {
				service = append(service, ns/1e6)
			}
		}
		if len(out) > 1 {
			if b, err := strconv.ParseFloat(out[1], 64); err == nil {
				serviceMem = append(serviceMem, b/(1<<20))
			}
		}
	}
	timed := func(cmd string) (cpuMS, rssMiB []float64) {
		for range n {
			out := strings.Fields(vm.Run(t, "/root/ku-time -o /root/ku-time.out -f '%U %S %M' "+cmd+" >/dev/null 2>&1; tail -n 1 /root/ku-time.out"))
			if len(out) != 3 {
				t.Errorf("GNU time printed %q for %s", out, cmd)
				continue
			}
			u, _ := strconv.ParseFloat(out[0], 64)
			s, _ := strconv.ParseFloat(out[1], 64)
			kb, _ := strconv.ParseFloat(out[2], 64)
			cpuMS = append(cpuMS, (u+s)*1000)
			rssMiB = append(rssMiB, kb/1024)
		}
		return cpuMS, rssMiB
	}
	runCPU, runRSS := timed("/usr/sbin/kexec-upgrade run")
	trueCPU, trueRSS := timed("/bin/true")
	med := func(v []float64) string {
		if len(v) == 0 {
			return "?"
		}
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		return fmt.Sprintf("%.0f", s[len(s)/2])
	}
	medF := func(v []float64) string {
		if len(v) == 0 {
			return "?"
		}
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		return fmt.Sprintf("%.1f", s[len(s)/2])
	}
	mem := "MemoryPeak not kept by this systemd"
	if len(serviceMem) > 0 {
		mem = "MemoryPeak " + medF(serviceMem) + " MiB"
	}
	return []string{
		fmt.Sprintf("idle run in the guest, the service (CPUUsageNSec, sandbox set-up included; TCG)\t%s ms CPU, median of %d; %s", med(service), n, mem),
		fmt.Sprintf("idle run in the guest, `kexec-upgrade run` as a process (GNU time; TCG)\t%s ms user+sys, %s MiB max RSS (median of %d); `/bin/true` beside it: %s ms, %s MiB",
			med(runCPU), medF(runRSS), n, med(trueCPU), medF(trueRSS)),
	}
}

// installByHandKit installs the new kernel and kexec-tools (which must not
// take over reboots) for the by-hand switches.
func installByHandKit(t *testing.T, vm *VM) {
	t.Helper()
	_, newK := vm.Kernels()
	vm.Run(t, "mkdir -p /root/debs")
	for _, deb := range append(append([]string(nil), newK.Debs...), vm.KexecToolsDebs()...) {
		vm.CopyIn(t, deb, path.Join("/root/debs", filepath.Base(deb)))
	}
	vm.Run(t, "echo 'kexec-tools kexec-tools/load_kexec boolean false' | debconf-set-selections")
	vm.Run(t, "DEBIAN_FRONTEND=noninteractive dpkg -i /root/debs/*.deb >/dev/null")
	vm.Run(t, "test -f /boot/vmlinuz-"+newK.Release+" && test -f /boot/initrd.img-"+newK.Release)
}

// dirtyMB is how much page cache the flush experiment dirties.
const dirtyMB = 300

// kexecByHand switches to the other of the image's two kernels with
// kexec-tools, as an admin would. With dirty, it first writes dirtyMB MB
// to the root file system with writeback held off (as a host busy writing
// has that much dirty); with flush, it runs sync after the load and before
// systemctl kexec, as kexec-upgrade's flush does before queuing
// kexec.target. It returns the probe's longest gap and a note.
func kexecByHand(t *testing.T, vm *VM, dirty, flush bool) benchRun {
	t.Helper()
	oldK, newK := vm.Kernels()
	cur, oldBootID := vm.LastBoot()
	to := newK
	if cur == newK.Release {
		to = oldK
	}
	note := cur + " → " + to.Release
	if dirty {
		// Writeback held off: the pages stay dirty until the switch. A new
		// file each time: ext4 (auto_da_alloc) writes a file that was
		// truncated and rewritten out when it is closed, and the second
		// run of 2026-12-03 had 0 MB dirty that way.
		out := vm.Run(t, "sysctl -q -w vm.dirty_background_ratio=80 vm.dirty_ratio=90 vm.dirty_expire_centisecs=360000 && "+
			"rm -f /var/tmp/ku-dirty-* && sync && "+
			fmt.Sprintf("dd if=/dev/zero of=/var/tmp/ku-dirty-$(date +%%s) bs=1M count=%d status=none && ", dirtyMB)+
			"awk '/^Dirty:/ {print $2}' /proc/meminfo")
		kb, _ := strconv.Atoi(strings.TrimSpace(out))
		note += fmt.Sprintf(", %d MB dirty", kb/1024)
	}
	probe := vm.StartProbe()
	mark := vm.SerialMark()
	cmd := "kexec -s -l /boot/vmlinuz-" + to.Release + " --initrd=/boot/initrd.img-" + to.Release + " --reuse-cmdline && "
	if flush {
		cmd += "sync && "
	}
	// The guest's clock when kexec.target is asked for, on the console.
	cmd += "echo KU-KEXEC-AT $(date -u +%s.%N) >/dev/ttyS0 && systemctl kexec"
	if stdout, stderr, code, err := vm.Try(cmd); err != nil || (code != 0 && code != sshExitDropped) {
		probe.Stop()
		t.Fatalf("%q: exit %d, %v\nstdout:\n%s\nstderr:\n%s", cmd, code, err, stdout, stderr)
	}
	vm.WaitSerialSince(t, mark, kexecStarting, benchBootTimeout)
	rel, bootID := vm.WaitBootedSince(t, mark, benchBootTimeout)
	gap, answered := probe.Stop()
	if rel != to.Release || bootID == oldBootID {
		t.Fatalf("after kexec: %s (boot %s); want %s in a new boot", rel, bootID, to.Release)
	}
	if got := strings.TrimSpace(vm.Run(t, loaderTypeCmd)); got != "d0" {
		t.Errorf("boot_params type_of_loader after kexec = 0x%s; want 0xd0", got)
	}
	// Services stopping, by the guest's clock: systemctl kexec → the new
	// kernel's start (its clock now less its uptime), as history's phases.
	for _, line := range vm.SerialSince(mark) {
		if i := strings.Index(line, "KU-KEXEC-AT "); i >= 0 {
			at := parseEpoch(t, strings.Fields(line[i+len("KU-KEXEC-AT "):])[0])
			f := strings.Fields(vm.Run(t, "date -u +%s.%N; cut -d' ' -f1 /proc/uptime"))
			if len(f) == 2 {
				up, _ := strconv.ParseFloat(f[1], 64)
				start := parseEpoch(t, f[0]).Add(-time.Duration(up * float64(time.Second)))
				note += fmt.Sprintf(", stopping %.1f s by the guest clock", start.Sub(at).Seconds())
			}
			break
		}
	}
	t.Logf("%s (flush %v): gap %v, %d answered", note, flush, gap.Round(10*time.Millisecond), answered)
	return benchRun{gap: gap, answered: answered, note: note}
}

// benchByHandTwice switches by hand old → new → old.
func benchByHandTwice(t *testing.T, res *benchResults) {
	vm := Start(t, Options{Name: "bench-byhand"})
	installByHandKit(t, vm)
	for range 2 {
		benchDeadline(t)
		r := kexecByHand(t, vm, false, false)
		r.note = "kexec -s -l … --reuse-cmdline && systemctl kexec; " + r.note
		res.add(methodByHand, r)
	}
}

// benchFlush is issue 15's flush experiment: by hand, with dirtyMB MB of
// dirty page cache, first without (old → new), then with a sync before
// systemctl kexec (new → old).
func benchFlush(t *testing.T, res *benchResults) {
	vm := Start(t, Options{Name: "bench-flush"})
	installByHandKit(t, vm)
	for _, flush := range []bool{false, true} {
		benchDeadline(t)
		r := kexecByHand(t, vm, true, flush)
		m := methodDirtyNoSync
		if flush {
			m = methodDirtySync
		}
		res.add(m, r)
	}
}

// benchRebootTwice reboots through the firmware twice.
func benchRebootTwice(t *testing.T, res *benchResults) {
	vm := Start(t, Options{Name: "bench-reboot"})
	for range 2 {
		benchDeadline(t)
		probe := vm.StartProbe()
		mark := vm.SerialMark()
		vm.Try("systemctl reboot")
		vm.WaitBootedSince(t, mark, benchBootTimeout)
		gap, answered := probe.Stop()
		res.add(methodReboot, benchRun{gap: gap, answered: answered, note: "systemctl reboot (firmware, then the same kernel)"})
	}
}

// goBenchRows reads the Go benchmark output `make bench` saved
// (KU_BENCH_GO, and KU_BENCH_GO_BEFORE for the same benchmarks at an
// earlier commit) into table rows.
func goBenchRows() []string {
	parse := func(file string) map[string]string {
		m := map[string]string{}
		data, err := os.ReadFile(file)
		if err != nil {
			return m
		}
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || f[3] != "ns/op" {
				continue
			}
			name := f[0]
			if i := strings.LastIndex(name, "-"); i > 0 {
				name = name[:i]
			}
			fig := f[2] + " ns/op"
			for i := 4; i+1 < len(f); i += 2 {
				fig += ", " + f[i] + " " + f[i+1]
			}
			m[name] = fig
		}
		return m
	}
	file := os.Getenv("KU_BENCH_GO")
	if file == "" {
		return []string{"Go benchmarks\tnot run (KU_BENCH_GO unset: make bench runs them)"}
	}
	after := parse(file)
	before := map[string]string{}
	beforeRev := os.Getenv("KU_BENCH_BEFORE")
	if b := os.Getenv("KU_BENCH_GO_BEFORE"); b != "" {
		before = parse(b)
	}
	var rows []string
	for _, name := range []string{"BenchmarkGatherAndPlan", "BenchmarkGatherPlanNextRun", "BenchmarkPlan", "BenchmarkNextRun"} {
		fig, ok := after[name]
		if !ok {
			continue
		}
		if b, ok := before[name]; ok {
			fig = "after: " + fig + "; before (" + beforeRev + "): " + b
		}
		rows = append(rows, "Go benchmark "+name+"\t"+fig)
	}
	return rows
}

// hostProcessRows runs `kexec-upgrade status --json` on the debian_cloud
// fixture root ten times as a process on the host (KU_BENCH_BIN) under GNU
// time and reports the median CPU and max RSS. (The rusage os/exec returns
// would not do: its vfork-style start counts the test binary's memory.)
func hostProcessRows() []string {
	bin := os.Getenv("KU_BENCH_BIN")
	if bin == "" {
		return nil
	}
	root, err := filepath.Abs("../host/testdata/debian_cloud")
	if err != nil {
		return nil
	}
	out := filepath.Join(os.TempDir(), fmt.Sprintf("ku-bench-time-%d", os.Getpid()))
	defer os.Remove(out)
	var cpu, rss []float64
	for range 10 {
		// status exits non-zero for a pending kernel's decision: that is fine.
		_ = exec.Command("/usr/bin/time", "-o", out, "-f", "%U %S %M", bin, "status", "--json", "--root", root).Run()
		data, err := os.ReadFile(out)
		if err != nil {
			return []string{"`kexec-upgrade status --json` on the host\t/usr/bin/time: " + err.Error()}
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		f := strings.Fields(lines[len(lines)-1])
		if len(f) != 3 {
			continue
		}
		u, _ := strconv.ParseFloat(f[0], 64)
		sy, _ := strconv.ParseFloat(f[1], 64)
		kb, _ := strconv.ParseFloat(f[2], 64)
		cpu = append(cpu, (u+sy)*1000)
		rss = append(rss, kb/1024)
	}
	if len(cpu) == 0 {
		return nil
	}
	sort.Float64s(cpu)
	sort.Float64s(rss)
	return []string{fmt.Sprintf("`kexec-upgrade status --json` on the debian_cloud fixture, as a host process (GNU time)\t%.0f ms user+sys (10 ms resolution), %.1f MiB max RSS (median of %d)", cpu[len(cpu)/2], rss[len(rss)/2], len(cpu))}
}

func numCPU() int { return runtime.NumCPU() }
