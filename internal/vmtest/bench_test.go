//go:build vm

package vmtest

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchRun is one kernel change the bench watched from outside: the
// longest time the guest's HTTP service did not answer the host's probe.
type benchRun struct {
	gap      time.Duration
	answered int
	note     string
}

// benchResults collects the figures of TestOutageBench's guests, which run
// in parallel (as many at once as there are VM slots).
type benchResults struct {
	mu sync.Mutex
	// runs are the kernel changes of each method, in the order they ran.
	runs map[string][]benchRun
	// slotDelays: slot opening → kexec.target queued, guest clock.
	slotDelays []time.Duration
	// installDelays: dpkg released its lock → kexec.target queued.
	installDelays []time.Duration
	// splits say where each delay went: run started, decided, queued.
	splits []string
	// phases is the breakdown of each kexec-upgrade switch, by guest.
	phases map[string]string
	// idle describes an idle run's cost inside a guest.
	idle []string
	// started are the subtests that started a guest (not filtered out by
	// BENCH_RUN, not skipped by BENCH_STOP).
	started map[string]bool
}

// start records that subtest name starts its guest.
func (r *benchResults) start(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started[name] = true
}

// missing says why a figure of the subtests names is absent; the caller
// holds r.mu.
func (r *benchResults) missing(names ...string) string {
	for _, n := range names {
		if r.started[n] {
			return "not measured (its guest failed; see the test log)"
		}
	}
	return "not run (BENCH_RUN or BENCH_STOP left its guest out)"
}

func (r *benchResults) add(method string, run benchRun) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs[method] = append(r.runs[method], run)
}

func (r *benchResults) with(f func(r *benchResults)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// The bench's methods, in the order the table shows them.
const (
	methodKU          = "kexec-upgrade"
	methodByHand      = "kexec-tools by hand"
	methodReboot      = "full reboot"
	methodDirtyNoSync = "by hand, dirty, no flush"
	methodDirtySync   = "by hand, dirty, sync first"
)

// TestOutageBench is `make bench` (KU_BENCH=1). Five bookworm guests and
// two trixie guests that boot through firmware and GRUB, as many at a time
// as there are VM slots:
//
//   - ku_install: the window is open and the kernel is installed with dpkg
//     (install finished → switch); then the idle run's cost.
//   - by_hand: kexec-tools (kexec -s -l; systemctl kexec), old → new → old.
//   - ku_slot: the new kernel is installed while the window is closed; the
//     window then opens 1.5-2.5 minutes later by the guest's clock, and
//     kexec-upgrade's own timer must switch (slot open → switch).
//   - flush: by hand with 300 MB of dirty page cache, without and then with
//     a sync before systemctl kexec (issue 15's flush experiment).
//   - reboot: systemctl reboot, twice.
//   - firmware_bios_grub, firmware_uefi_secure_boot (issue 13): on the
//     GRUB guest and the UEFI Secure Boot guest, kexec-upgrade, kexec-tools
//     by hand and systemctl reboot, two of each (benchFirmwareGuest).
//
// kexec-upgrade's outage is the best of its two switches (ku_install and
// ku_slot). With KU_BENCH_STOP set, nothing new starts after that time.
//
// It prints one table when all have ended (and writes it to $KU_BENCH_TABLE
// when set), with what the failed ones left out marked. Figures are
// reported, never asserted.
func TestOutageBench(t *testing.T) {
	if os.Getenv("KU_BENCH") != "1" {
		t.Skip("set KU_BENCH=1 (make bench) to run the outage benchmark")
	}
	res := &benchResults{runs: map[string][]benchRun{}, phases: map[string]string{}, started: map[string]bool{}}
	started := time.Now()
	t.Cleanup(func() {
		table := benchTable(res, time.Since(started))
		fmt.Print(table)
		if f := os.Getenv("KU_BENCH_TABLE"); f != "" {
			if err := os.WriteFile(f, []byte(table), 0o644); err != nil {
				t.Errorf("write the bench table: %v", err)
			}
		}
	})
	guests := []struct {
		name string
		run  func(t *testing.T, res *benchResults)
	}{
		{"ku_install", benchInstallInWindow},
		{"by_hand", benchByHandTwice},
		{"ku_slot", func(t *testing.T, res *benchResults) { benchSlotOpening(t, res, "bench-ku-slot") }},
		{"flush", benchFlush},
		{"reboot", benchRebootTwice},
	}
	for _, g := range guests {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			benchDeadline(t)
			res.start(g.name)
			g.run(t, res)
		})
	}
	for _, g := range firmwareBenchGuests {
		t.Run(firmwareSubtest(g.label), func(t *testing.T) {
			t.Parallel()
			benchDeadline(t)
			res.start(firmwareSubtest(g.label))
			benchFirmwareGuest(t, res, g.label, g.guest)
		})
	}
}

// best returns the run with the shortest gap.
func best(runs []benchRun) (benchRun, bool) {
	if len(runs) == 0 {
		return benchRun{}, false
	}
	b := runs[0]
	for _, r := range runs[1:] {
		if r.gap < b.gap {
			b = r
		}
	}
	return b, true
}

// median returns the median of ds (the mean of the middle two for an even count).
func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func listDurations(ds []time.Duration, round time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = d.Round(round).String()
	}
	return strings.Join(parts, ", ")
}

// benchTable renders every figure the bench gathered as one table.
func benchTable(res *benchResults, took time.Duration) string {
	res.mu.Lock()
	defer res.mu.Unlock()
	var b strings.Builder
	row := func(what, figure string) { fmt.Fprintf(&b, "| %s | %s |\n", what, figure) }
	fmt.Fprintf(&b, "\nkexec-upgrade bench, %s, %s (bench took %v)\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), benchMachine(), took.Round(time.Second))
	fmt.Fprintf(&b, "| what | figure |\n|---|---|\n")
	if len(res.slotDelays) > 0 {
		row("slot open → switch start (kexec.target queued; guest clock, median)",
			fmt.Sprintf("%v (runs: %s)", median(res.slotDelays).Round(100*time.Millisecond), listDurations(res.slotDelays, 100*time.Millisecond)))
	} else {
		row("slot open → switch start", res.missing("ku_slot"))
	}
	if len(res.installDelays) > 0 {
		row("install finished (dpkg released its lock) → switch start",
			fmt.Sprintf("%v (runs: %s)", median(res.installDelays).Round(100*time.Millisecond), listDurations(res.installDelays, 100*time.Millisecond)))
	} else {
		row("install finished → switch start", res.missing("ku_install"))
	}
	for _, sp := range res.splits {
		row("where the delay went (guest clock)", sp)
	}
	byHand, haveByHand := best(res.runs[methodByHand])
	for _, m := range []string{methodKU, methodByHand, methodReboot, methodDirtyNoSync, methodDirtySync} {
		runs := res.runs[m]
		o, ok := best(runs)
		if !ok {
			row("outage seen by the HTTP probe: "+m, res.missing(methodGuests[m]...))
			continue
		}
		var all []time.Duration
		for _, r := range runs {
			all = append(all, r.gap)
		}
		ratio := ""
		if haveByHand && byHand.gap > 0 {
			ratio = fmt.Sprintf(", %.2f × by hand", o.gap.Seconds()/byHand.gap.Seconds())
		}
		row("outage seen by the HTTP probe: "+m, fmt.Sprintf("**%v** best of %d (%s)%s; %s",
			o.gap.Round(100*time.Millisecond), len(runs), listDurations(all, 100*time.Millisecond), ratio, o.note))
	}
	for _, g := range firmwareBenchGuests {
		firmwareRows(res, g.label, row)
	}
	names := make([]string, 0, len(res.phases))
	for n := range res.phases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		row("phases of the kexec-upgrade switch ("+n+", history --json)", res.phases[n])
	}
	if len(names) == 0 {
		row("phases of the kexec-upgrade switch", res.missing("ku_install", "ku_slot"))
	}
	for _, line := range res.idle {
		what, figure, _ := strings.Cut(line, "\t")
		row(what, figure)
	}
	for _, line := range goBenchRows() {
		what, figure, _ := strings.Cut(line, "\t")
		row(what, figure)
	}
	for _, line := range hostProcessRows() {
		what, figure, _ := strings.Cut(line, "\t")
		row(what, figure)
	}
	return b.String()
}

// methodGuests are the subtests whose guests measure each method.
var methodGuests = map[string][]string{
	methodKU:          {"ku_install", "ku_slot"},
	methodByHand:      {"by_hand"},
	methodReboot:      {"reboot"},
	methodDirtyNoSync: {"flush"},
	methodDirtySync:   {"flush"},
}

// firmwareSubtest names a firmware guest's subtest: "BIOS + GRUB" → firmware_bios_grub.
func firmwareSubtest(label string) string {
	return "firmware_" + strings.NewReplacer(" + ", "_", " ", "_").Replace(strings.ToLower(label))
}

// firmwareRows renders one firmware guest's outages, best of two each,
// with each method's ratio to kexec-upgrade's.
func firmwareRows(res *benchResults, label string, row func(what, figure string)) {
	ku, haveKU := best(res.runs[firmwareMethod(label, methodKU)])
	for _, m := range []string{methodKU, methodByHand, methodReboot} {
		runs := res.runs[firmwareMethod(label, m)]
		what := "outage seen by the HTTP probe, " + label + " guest (trixie): " + m
		o, ok := best(runs)
		if !ok {
			row(what, res.missing(firmwareSubtest(label)))
			continue
		}
		all := make([]time.Duration, len(runs))
		for i, r := range runs {
			all[i] = r.gap
		}
		ratio := ""
		if haveKU && ku.gap > 0 && m != methodKU {
			ratio = fmt.Sprintf(", %.2f × kexec-upgrade", o.gap.Seconds()/ku.gap.Seconds())
		}
		row(what, fmt.Sprintf("**%v** best of %d (%s)%s; %s", o.gap.Round(100*time.Millisecond), len(runs),
			listDurations(all, 100*time.Millisecond), ratio, o.note))
	}
}

// benchMachine describes the host: cores, OS, and QEMU without KVM.
func benchMachine() string {
	osName := "Linux"
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				osName = strings.Trim(v, `"`)
			}
		}
	}
	return fmt.Sprintf("%d-core %s host, QEMU TCG (no KVM)", numCPU(), osName)
}
