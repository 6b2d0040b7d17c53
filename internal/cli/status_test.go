package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

// fixtureRoot copies a host fixture root (internal/host/testdata/<name>)
// into a temporary directory, adding files (relative path → content).
func fixtureRoot(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	src := filepath.Join("..", "host", "testdata", name)
	root := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		dst := filepath.Join(root, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy fixture %s: %v", name, err)
	}
	writeFiles(t, root, files)
	return root
}

// fakeBus answers like an idle, running system.
type fakeBus struct{ started *bool }

func (fakeBus) SystemState(context.Context) (string, error)             { return "running", nil }
func (fakeBus) Inhibitors(context.Context) ([]systemd.Inhibitor, error) { return nil, nil }
func (b fakeBus) StartKexec(context.Context) error                      { *b.started = true; return nil }
func (fakeBus) BootTimes(context.Context) (systemd.BootTimes, error)    { return systemd.BootTimes{}, nil }
func (fakeBus) KexecQueued(context.Context) (bool, error)               { return false, nil }
func (fakeBus) Wall(context.Context, string) error                      { return nil }
func (fakeBus) ArmRun(context.Context, string, time.Time) error         { return nil }
func (fakeBus) DisarmRun(context.Context, string) error                 { return nil }
func (fakeBus) Close()                                                  {}

// recordingLoader stages nothing real.
type recordingLoader struct{ loads *[]string }

func (l recordingLoader) Load(image, initrd *os.File, cmdline string) error {
	*l.loads = append(*l.loads, image.Name())
	return nil
}
func (recordingLoader) Unload() error           { return nil }
func (l recordingLoader) Loaded() (bool, error) { return len(*l.loads) > 0, nil }
func (recordingLoader) Permitted() error        { return nil }

type discardJournal struct{ kinds *[]string }

func (j discardJournal) Send(e systemd.Event) error { *j.kinds = append(*j.kinds, e.Kind); return nil }

// fakeEnv replaces every effect: a fixed clock inside the contract window
// (Saturday 2026-03-28 02:30 UTC), a bus, loader and journal that record.
type fakeEnv struct {
	started bool
	loads   []string
	events  []string
}

func (f *fakeEnv) adjust(a *app) {
	ownedByTester(a)
	a.env.Now = func() time.Time { return time.Date(2026, 3, 28, 2, 30, 0, 0, time.UTC) }
	a.env.Connect = func(context.Context) (upgrade.Bus, error) { return fakeBus{started: &f.started}, nil }
	a.env.Loader = recordingLoader{loads: &f.loads}
	a.env.Journal = discardJournal{kinds: &f.events}
	a.env.LockHolder = func() (string, error) { return "", nil }
	a.readEvents = func(context.Context) ([]systemd.Event, error) { return nil, errors.New("no journal in tests") }
}

// onWednesday is adjust with the clock at Wednesday 2026-03-25 10:00 UTC,
// outside the contract window.
func (f *fakeEnv) onWednesday(a *app) {
	f.adjust(a)
	a.env.Now = func() time.Time { return time.Date(2026, 3, 25, 10, 0, 0, 0, time.UTC) }
}

var windowConfig = map[string]string{"etc/kexec-upgrade/config.toml": "min_uptime = \"0s\"\n" + contractWindow}

func TestStatusJSONKeys(t *testing.T) {
	root := fixtureRoot(t, "debian_cloud", windowConfig)
	f := &fakeEnv{}
	stdout, stderr, code := runCLI(t, f.adjust, "status", "--root", root, "--json")
	if code != ExitOK {
		t.Fatalf("status --json exit %d: %s", code, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("status --json printed invalid JSON: %v\n%s", err, stdout)
	}
	for _, key := range []string{"running", "target", "decision", "window", "config", "last_outcome", "staged", "warnings"} {
		if _, ok := got[key]; !ok {
			t.Errorf("status --json lacks the documented key %q", key)
		}
	}
	var s jsonStatus
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.Target == nil || s.Target.Release != "6.1.0-51-cloud-amd64" || !s.Target.New {
		t.Errorf("status target = %+v; want the new 6.1.0-51-cloud-amd64", s.Target)
	}
	if s.Decision.Action != "switch" || !s.Window.Open || s.Window.Next == nil || s.Window.Next.Start != "2026-03-28T02:00:00Z" {
		t.Errorf("status decision %s, window %+v; want switch in the open window 2026-03-28T02:00:00Z", s.Decision.Action, s.Window)
	}
	if f.started || len(f.loads) > 0 || len(f.events) > 0 {
		t.Errorf("status had effects: started %v, loads %v, events %v", f.started, f.loads, f.events)
	}
}

func TestStatusTextNamesPendingKernelAndWindow(t *testing.T) {
	root := fixtureRoot(t, "debian_cloud", map[string]string{"etc/kexec-upgrade/config.toml": contractWindow})
	f := &fakeEnv{}
	stdout, _, code := runCLI(t, f.onWednesday, "status", "--root", root)
	if code != ExitOK {
		t.Fatalf("status exit %d", code)
	}
	for _, want := range []string{"6.1.0-51-cloud-amd64", "postpone (window)", "next opens Sat 2026-03-28 02:00 UTC", "Window:       next Sat 2026-03-28 02:00 – 04:00"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status does not show %q:\n%s", want, stdout)
		}
	}
}

func TestStatusInvalidConfig(t *testing.T) {
	root := fixtureRoot(t, "debian_cloud", map[string]string{"etc/kexec-upgrade/config.toml": "[[window]]\nstart = \"02:00\"\nend = \"25:00\"\n"})
	stdout, _, code := runCLI(t, (&fakeEnv{}).adjust, "status", "--root", root)
	if code != ExitError {
		t.Errorf("status with an invalid config: exit %d; want %d", code, ExitError)
	}
	if want := `/etc/kexec-upgrade/config.toml:3: window.end: "25:00" is not a time of day (HH:MM)`; !strings.Contains(stdout, want) {
		t.Errorf("status does not show %q:\n%s", want, stdout)
	}
}

func TestRunDryRunTouchesNothing(t *testing.T) {
	root := fixtureRoot(t, "debian_cloud", windowConfig)
	f := &fakeEnv{}
	stdout, stderr, code := runCLI(t, f.adjust, "run", "--dry-run", "--root", root)
	if code != ExitOK {
		t.Fatalf("run --dry-run exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "decision: switch") || !strings.Contains(stdout, "pass  inhibitor") {
		t.Errorf("run --dry-run output lacks the decision or the trace:\n%s", stdout)
	}
	if f.started || len(f.loads) > 0 || len(f.events) > 0 {
		t.Errorf("run --dry-run had effects: started %v, loads %v, events %v", f.started, f.loads, f.events)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/kexec-upgrade")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("run --dry-run created the state directory (%v)", err)
	}
}

func TestRunSwitchesThenHistory(t *testing.T) {
	root := fixtureRoot(t, "debian_cloud", windowConfig)
	f := &fakeEnv{}
	stdout, stderr, code := runCLI(t, f.adjust, "run", "--root", root)
	if code != ExitOK {
		t.Fatalf("run exit %d: %s", code, stderr)
	}
	if !f.started || len(f.loads) != 1 || f.loads[0] != "/boot/vmlinuz-6.1.0-51-cloud-amd64" {
		t.Errorf("run: loads %v, kexec.target started %v; want one load of 6.1.0-51 and a start", f.loads, f.started)
	}
	if !strings.Contains(stdout, "kexec.target queued") {
		t.Errorf("run output %q does not say the switch started", stdout)
	}
	stdout, stderr, code = runCLI(t, f.adjust, "history", "--root", root, "--json")
	if code != ExitOK {
		t.Fatalf("history exit %d: %s", code, stderr)
	}
	var h struct {
		Attempts []jsonAttempt `json:"attempts"`
	}
	if err := json.Unmarshal([]byte(stdout), &h); err != nil {
		t.Fatalf("history --json: %v\n%s", err, stdout)
	}
	if len(h.Attempts) != 1 || h.Attempts[0].Outcome != "pending" || h.Attempts[0].To.Release != "6.1.0-51-cloud-amd64" {
		t.Errorf("history after a switch = %+v; want one pending attempt to 6.1.0-51", h.Attempts)
	}
	if !strings.Contains(stderr, "cannot read the journal") {
		t.Errorf("history stderr %q does not say the journal was unreadable", stderr)
	}
}
