package upgrade_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/hooks"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel/kerneltest"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

// The host every shell test starts from: 6.1.0-50 running, 6.1.0-51
// installed, a window open on Saturdays 02:00-04:00 UTC, and the fixed
// clock inside it.
const (
	oldRelease = "6.1.0-50-cloud-amd64"
	oldBuild   = kerneltest.DefaultBuild
	newRelease = "6.1.0-51-cloud-amd64"
	newBuild   = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.177-1 (2026-08-01)"
	oldBootID  = "4f0d3c2b-1a09-4e8f-8d7c-6b5a49382716"
	newBootID  = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f2a3b4c5d"

	runningCmdline = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-cloud-amd64 root=PARTUUID=6b3f5c2a-01 ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0"
	newCmdline     = "root=PARTUUID=6b3f5c2a-01 ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0"

	newImage  = "/boot/vmlinuz-6.1.0-51-cloud-amd64"
	newInitrd = "/boot/initrd.img-6.1.0-51-cloud-amd64"

	// loaderGrub is the boot loader type GRUB 2 writes at 0x210.
	loaderGrub = 0x72
)

// The initrds: a newc cpio header, as initramfs-tools' early microcode
// archive starts.
const (
	initrd50 = "07070100000001 initrd 50"
	initrd51 = "07070100000001 initrd 51"
)

// attempt51 is the id of a switch to 6.1.0-51 at fixedNow, and
// markedCmdline the command line that switch loads: newCmdline with the
// attempt's marker.
const (
	attempt51     = "20260328T023000.000000000Z-" + newRelease
	markedCmdline = newCmdline + " kexec_upgrade.attempt=" + attempt51
)

// load51 is the fake loader's log line for staging 6.1.0-51: the marker's
// time, which the loader checks against the rig's clock, is logged as NOW.
const load51 = "load " + newImage + " " + newInitrd + " " + newCmdline + " kexec_upgrade.attempt=NOW-" + newRelease

// windowConfig opens a window on Saturdays 02:00-04:00 UTC.
const windowConfig = `# kexec-upgrade test configuration
min_uptime = "10m"

[[window]]
days = ["Sat"]
start = "02:00"
end = "04:00"
time_zone = "UTC"
`

// fixedNow is Saturday 02:30 UTC, inside the window.
var fixedNow = time.Date(2026, 3, 28, 2, 30, 0, 0, time.UTC)

// probeCalls are the calls Assess makes to judge the moment.
var probeCalls = []string{"dpkg-lock", "bus connect", "bus system-state", "bus inhibitors", "bus close"}

// preflightCalls are the calls act makes before it holds anything.
var preflightCalls = []string{"loaded?", "permitted?", "state loading"}

// recheckCalls are the calls act makes after the load, before the switch.
var recheckCalls = []string{"bus connect", "bus system-state", "bus inhibitors", "dpkg-lock"}

const dpkgStatus = `Package: bash
Status: install ok installed
Priority: required
Essential: yes
Architecture: amd64
Version: 5.2.15-2+b7
Description: GNU Bourne Again SHell

Package: linux-image-6.1.0-50-cloud-amd64
Status: install ok installed
Priority: optional
Section: kernel
Installed-Size: 60821
Maintainer: Debian Kernel Team <debian-kernel@lists.debian.org>
Architecture: amd64
Source: linux-signed-amd64 (6.1.176+1)
Version: 6.1.176-1
Depends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool
Description: Linux 6.1 for x86-64 cloud
 The Linux kernel 6.1 and modules for use on x86-64 cloud platforms.

Package: linux-image-6.1.0-51-cloud-amd64
Status: %s
Priority: optional
Section: kernel
Installed-Size: 60833
Maintainer: Debian Kernel Team <debian-kernel@lists.debian.org>
Architecture: amd64
Source: linux-signed-amd64 (6.1.177+1)
Version: 6.1.177-1
Depends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool
Description: Linux 6.1 for x86-64 cloud
 The Linux kernel 6.1 and modules for use on x86-64 cloud platforms.

Package: linux-image-cloud-amd64
Status: install ok installed
Architecture: amd64
Source: linux-signed-amd64 (6.1.177+1)
Version: 6.1.177-1
Depends: linux-image-6.1.0-51-cloud-amd64 (= 6.1.177-1)
Description: Linux for x86-64 cloud (meta-package)
`

// rig is one test's host: a fixture root, a fixed clock, and fakes that
// append every call to one shared log.
type rig struct {
	t    *testing.T
	root string
	now  time.Time

	mu     sync.Mutex
	calls  []string
	events []systemd.Event
	// stateSeen is the state file as the log last saw it; nil: absent.
	stateSeen []byte
	// hook runs after every recorded call, on the caller's goroutine.
	hook func(call string)

	// The fake bus.
	connectErr     error
	systemState    string
	systemStateErr error
	inhibitors     []systemd.Inhibitor
	inhibitorsErr  error
	startErr       error
	startCalls     int
	startCtxErr    error
	userspace      time.Time
	userspaceErr   error
	// kernelTook and finish complete the boot times: the monotonic clock
	// at systemd's start, and when the boot finished.
	kernelTook time.Duration
	finish     time.Time
	// The fake loader.
	loaded bool
	// loadedCmdline is the command line of the last successful load: a
	// boot through kexec shows it in /proc/cmdline.
	loadedCmdline string
	loadErr       error
	unloadErr     error
	// loadedSays overrides what Loaded reports.
	loadedSays *bool
	// permittedErr is what the permission probe answers.
	permittedErr error
	// loadedBytes are the image and initrd the fake loader read from the
	// descriptors it was given, as the kernel would.
	loadedImage, loadedInitrd []byte
	// walls are the notices sent to logged-in users.
	walls []string
	// queued, queuedErr answer KexecQueued.
	queued    bool
	queuedErr error
	// The fake dpkg lock probe.
	lockHolder string
	lockErr    error
	// The fake journal.
	sendErr error
}

// newRig builds the fixture root in a temporary directory.
func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, root: t.TempDir(), now: fixedNow, systemState: "running"}
	r.writeImage(oldRelease, kerneltest.Options{Release: oldRelease, Build: oldBuild, Signed: true})
	r.write("boot/initrd.img-"+oldRelease, initrd50)
	r.writeImage(newRelease, kerneltest.Options{Release: newRelease, Build: newBuild, Signed: true})
	r.write("boot/initrd.img-"+newRelease, initrd51)
	r.write("boot/config-"+newRelease, "CONFIG_KEXEC_FILE=y\n")
	r.setPackage51("install ok installed")
	r.write("var/lib/dpkg/lock", "")
	r.write("var/lib/dpkg/lock-frontend", "")
	r.write("proc/uptime", "3600.52 7012.34\n")
	r.write("proc/self/status", "Name:\tkexec-upgrade\nUmask:\t0022\nState:\tR (running)\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n")
	r.write("proc/sys/kernel/kexec_load_disabled", "0\n")
	r.write("sys/kernel/kexec_loaded", "0\n")
	r.write("sys/kernel/security/lockdown", "[none] integrity confidentiality\n")
	r.boot(oldRelease, oldBuild, oldBootID, loaderGrub)
	r.write("etc/kexec-upgrade/config.toml", windowConfig)
	return r
}

// env wires the fakes into an Env.
func (r *rig) env() upgrade.Env {
	return upgrade.Env{
		Root:       r.root,
		Now:        func() time.Time { return r.now },
		Config:     config.Options{Owner: os.Getuid(), Local: time.UTC},
		Connect:    r.connect,
		Loader:     fakeLoader{r},
		Journal:    fakeJournal{r},
		LockHolder: fakeLock{r}.holder,
		Hooks:      hooks.Host{Root: r.root, Owner: os.Getuid()},
	}
}

// run runs upgrade.Run and returns its outcome and the calls it made.
func (r *rig) run(ctx context.Context, force bool) (upgrade.Outcome, []string, error) {
	r.t.Helper()
	r.resetLog()
	out, err := upgrade.Run(ctx, r.env(), force)
	return out, r.takeCalls(), err
}

// write creates a file under the root (mode 0644, directories 0755).
func (r *rig) write(rel, content string) {
	r.t.Helper()
	r.writeBytes(rel, []byte(content))
}

func (r *rig) writeBytes(rel string, data []byte) {
	r.t.Helper()
	path := filepath.Join(r.root, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		r.t.Fatal(err)
	}
	// Replace rather than rewrite, as dpkg does: a new inode.
	tmp := path + ".tmp-rig"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) remove(rel string) {
	r.t.Helper()
	if err := os.Remove(filepath.Join(r.root, rel)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) read(rel string) []byte {
	r.t.Helper()
	data, err := os.ReadFile(filepath.Join(r.root, rel))
	if err != nil {
		r.t.Fatal(err)
	}
	return data
}

func (r *rig) writeImage(release string, opts kerneltest.Options) {
	r.t.Helper()
	r.writeBytes("boot/vmlinuz-"+release, kerneltest.BzImage(opts))
}

// setPackage51 sets the dpkg Status of linux-image-6.1.0-51-cloud-amd64.
func (r *rig) setPackage51(status string) {
	r.t.Helper()
	r.write("var/lib/dpkg/status", fmt.Sprintf(dpkgStatus, status))
}

// boot makes the root look like a fresh boot of release/build.
func (r *rig) boot(release, build, bootID string, loaderType byte) {
	r.t.Helper()
	r.write("proc/sys/kernel/osrelease", release+"\n")
	r.write("proc/sys/kernel/version", build+"\n")
	r.write("proc/sys/kernel/random/boot_id", bootID+"\n")
	cmdline := strings.Replace(runningCmdline, oldRelease, release, 1)
	if loaderType == 0xD0 && r.loadedCmdline != "" { // host.LoaderKexec
		cmdline = r.loadedCmdline
	}
	r.write("proc/cmdline", cmdline+"\n")
	params := make([]byte, 4096)
	params[0x1FE], params[0x1FF] = 0x55, 0xAA
	copy(params[0x202:], "HdrS")
	params[0x210] = loaderType
	r.writeBytes("sys/kernel/boot_params/data", params)
	r.write("sys/kernel/kexec_loaded", "0\n")
	r.loaded = false
}

// state reads the state file.
func (r *rig) state() state.State {
	r.t.Helper()
	st, err := state.Load(r.root)
	if err != nil {
		r.t.Fatalf("state.Load: %v", err)
	}
	return st
}

func (r *rig) saveState(st state.State) {
	r.t.Helper()
	if err := state.Save(r.root, st); err != nil {
		r.t.Fatalf("state.Save: %v", err)
	}
}

// record appends a call to the log, after a "state …" line if the state
// file changed since the last call.
func (r *rig) record(call string) {
	r.mu.Lock()
	r.noteStateLocked()
	r.calls = append(r.calls, call)
	hook := r.hook
	r.mu.Unlock()
	if hook != nil {
		hook(call)
	}
}

// resetLog empties the log and takes the state file as seen.
func (r *rig) resetLog() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls, r.events = nil, nil
	r.stateSeen, _ = os.ReadFile(filepath.Join(r.root, state.Path))
}

// takeCalls returns the log, with a last look at the state file.
func (r *rig) takeCalls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.noteStateLocked()
	calls := r.calls
	r.calls = nil
	return calls
}

// journal returns the events sent since the last run started.
func (r *rig) journal() []systemd.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]systemd.Event(nil), r.events...)
}

// noteStateLocked logs a change of the state file's content.
func (r *rig) noteStateLocked() {
	data, err := os.ReadFile(filepath.Join(r.root, state.Path))
	if err != nil {
		data = nil
	}
	if bytes.Equal(data, r.stateSeen) && (data == nil) == (r.stateSeen == nil) {
		return
	}
	prev := r.stateSeen
	r.stateSeen = data
	r.calls = append(r.calls, stateLabel(prev, data))
}

// stateLabel names what a write of the state file did: "state staged",
// "state attempt verified", "state postpone window", ...
func stateLabel(prev, cur []byte) string {
	if cur == nil {
		return "state missing"
	}
	st, err := state.Parse(cur)
	if err != nil {
		return "state corrupt"
	}
	var before state.State
	if prev != nil {
		before, _ = state.Parse(prev)
	}
	if st.Staged != nil {
		return "state " + st.Staged.CurrentPhase()
	}
	if a, ok := st.LastAttempt(); ok {
		if b, ok := before.LastAttempt(); !ok || b.ID != a.ID || b.Outcome != a.Outcome {
			return strings.TrimSpace("state attempt " + a.Outcome + " " + a.Kind)
		}
	}
	if d := st.Decision; d != nil {
		return strings.TrimSpace("state " + d.Action + " " + d.Check)
	}
	return "state saved"
}

func (r *rig) connect(ctx context.Context) (upgrade.Bus, error) {
	r.record("bus connect")
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("connect to the system D-Bus: %w", err)
	}
	if r.connectErr != nil {
		return nil, r.connectErr
	}
	return fakeBus{r}, nil
}

// fakeBus answers like systemd and logind would, failing on a cancelled
// context as a real D-Bus call does.
type fakeBus struct{ r *rig }

func (b fakeBus) SystemState(ctx context.Context) (string, error) {
	b.r.record("bus system-state")
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("read systemd's SystemState: %w", err)
	}
	return b.r.systemState, b.r.systemStateErr
}

func (b fakeBus) Inhibitors(ctx context.Context) ([]systemd.Inhibitor, error) {
	b.r.record("bus inhibitors")
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list logind inhibitors: %w", err)
	}
	return b.r.inhibitors, b.r.inhibitorsErr
}

func (b fakeBus) StartKexec(ctx context.Context) error {
	b.r.record("bus start " + systemd.KexecTarget)
	b.r.startCalls++
	b.r.startCtxErr = ctx.Err()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start %s: %w", systemd.KexecTarget, err)
	}
	return b.r.startErr
}

func (b fakeBus) ArmRun(ctx context.Context, name string, at time.Time) error {
	b.r.record("bus arm " + at.UTC().Format(time.RFC3339))
	return nil
}

func (b fakeBus) DisarmRun(ctx context.Context, name string) error {
	b.r.record("bus disarm")
	return nil
}

func (b fakeBus) Wall(ctx context.Context, message string) error {
	b.r.record("bus wall")
	b.r.mu.Lock()
	b.r.walls = append(b.r.walls, message)
	b.r.mu.Unlock()
	return nil
}

func (b fakeBus) KexecQueued(ctx context.Context) (bool, error) {
	b.r.record("bus kexec-queued?")
	return b.r.queued, b.r.queuedErr
}

func (b fakeBus) BootTimes(ctx context.Context) (systemd.BootTimes, error) {
	b.r.record("bus boot-times")
	return systemd.BootTimes{Userspace: b.r.userspace, UserspaceMonotonic: b.r.kernelTook, Finish: b.r.finish}, b.r.userspaceErr
}

func (b fakeBus) Close() { b.r.record("bus close") }

// fakeLoader stages nothing; it keeps /sys/kernel/kexec_loaded in the
// root in step, as the kernel would.
type fakeLoader struct{ r *rig }

// Load reads both descriptors from their start, as kexec_file_load does,
// and logs the host paths they were opened as.
func (l fakeLoader) Load(image, initrd *os.File, cmdline string) error {
	logged := cmdline
	if id, ok := kernel.AttemptOf(cmdline); ok {
		stamp, release, _ := strings.Cut(id, "-")
		if want := plan.AttemptID(l.r.now, release); id != want {
			l.r.t.Errorf("fake loader: attempt marker %q, want %q (the switch's clock)", id, want)
		}
		logged = strings.Replace(cmdline, "="+stamp+"-", "=NOW-", 1)
	}
	l.r.record(fmt.Sprintf("load %s %s %s", image.Name(), initrd.Name(), logged))
	var err error
	if l.r.loadedImage, err = readAllAt(image); err != nil {
		l.r.t.Errorf("fake loader: read the kernel descriptor: %v", err)
	}
	if l.r.loadedInitrd, err = readAllAt(initrd); err != nil {
		l.r.t.Errorf("fake loader: read the initrd descriptor: %v", err)
	}
	if l.r.loadErr != nil {
		return l.r.loadErr // a failed load leaves an earlier kernel staged
	}
	l.r.setLoaded(true)
	l.r.loadedCmdline = cmdline
	return nil
}

func readAllAt(f *os.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data := make([]byte, fi.Size())
	_, err = f.ReadAt(data, 0)
	return data, err
}

func (l fakeLoader) Permitted() error {
	l.r.record("permitted?")
	return l.r.permittedErr
}

func (l fakeLoader) Unload() error {
	l.r.record("unload")
	if l.r.unloadErr != nil {
		return l.r.unloadErr
	}
	l.r.setLoaded(false)
	return nil
}

func (l fakeLoader) Loaded() (bool, error) {
	l.r.record("loaded?")
	if l.r.loadedSays != nil {
		return *l.r.loadedSays, nil
	}
	return l.r.loaded, nil
}

func (r *rig) setLoaded(loaded bool) {
	r.loaded = loaded
	v := "0\n"
	if loaded {
		v = "1\n"
	}
	if err := os.WriteFile(filepath.Join(r.root, "sys/kernel/kexec_loaded"), []byte(v), 0o644); err != nil {
		r.t.Errorf("fake loader: %v", err)
	}
}

// fakeJournal logs "journal <kind>" with the event's check, failure kind
// and whether it was forced, and keeps the whole event.
type fakeJournal struct{ r *rig }

func (j fakeJournal) Send(e systemd.Event) error {
	line := "journal " + e.Kind
	if c := e.Fields["CHECK"]; c != "" {
		line += " check=" + c
	}
	if k := e.Fields["KIND"]; k != "" {
		line += " kind=" + k
	}
	if e.Fields["FORCED"] == "1" {
		line += " forced"
	}
	j.r.record(line)
	j.r.mu.Lock()
	j.r.events = append(j.r.events, e)
	j.r.mu.Unlock()
	if systemd.MessageID(e.Kind) == "" {
		j.r.t.Errorf("journal event of unknown kind %q: %+v", e.Kind, e)
	}
	if e.Message == "" {
		j.r.t.Errorf("journal event without a message: %+v", e)
	}
	return j.r.sendErr
}

// fakeLock answers for dpkg's locks.
type fakeLock struct{ r *rig }

func (l fakeLock) holder() (string, error) {
	l.r.record("dpkg-lock")
	return l.r.lockHolder, l.r.lockErr
}

// onCall returns a hook that runs f at the nth (1-based) call named call.
func onCall(call string, nth int, f func()) func(string) {
	seen := 0
	return func(c string) {
		if c == call {
			seen++
			if seen == nth {
				f()
			}
		}
	}
}

// concat joins call lists.
func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// checkCalls compares a call log with the expected sequence.
func checkCalls(t *testing.T, what string, got, want []string) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	t.Errorf("%s calls:\n  got  %s\n  want %s", what, strings.Join(quoteAll(got), "\n       "), strings.Join(quoteAll(want), "\n       "))
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, c := range s {
		out[i] = fmt.Sprintf("%q", c)
	}
	if len(out) == 0 {
		return []string{"(none)"}
	}
	return out
}

// hasCall reports whether a log has a call starting with prefix.
func hasCall(calls []string, prefix string) bool {
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

var errBoom = errors.New("boom")
