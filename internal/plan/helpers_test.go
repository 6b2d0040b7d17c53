package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/window"
)

// Kernels the tests switch between.
const (
	rel50   = "6.1.0-50-cloud-amd64"
	rel51   = "6.1.0-51-cloud-amd64"
	build50 = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.170-1 (2026-05-02)"
	build51 = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)"
	image51 = "/boot/vmlinuz-" + rel51
	initrd  = "/boot/initrd.img-" + rel51
)

// mustZone loads an IANA zone or panics; the zones used here ship with Go's
// tests' tzdata or the system.
func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(fmt.Sprintf("LoadLocation(%q): %v", name, err))
	}
	return loc
}

var berlin = mustZone("Europe/Berlin")

// weekendWindow is Sat and Sun 02:00-04:00 in Berlin.
func weekendWindow() window.Window {
	return window.Window{Days: 1<<time.Saturday | 1<<time.Sunday, Start: 2 * 60, End: 4 * 60, Location: berlin}
}

// inWindow is Sat 2026-03-28 02:30 CET, half an hour into the window.
var inWindow = time.Date(2026, 3, 28, 1, 30, 0, 0, time.UTC)

// midweek is Wed 2026-03-25 13:00 CET: the window next opens on Saturday
// 02:00 CET (01:00 UTC).
var midweek = time.Date(2026, 3, 25, 12, 0, 0, 0, time.UTC)

// inputs returns Inputs where every check passes: the window is open, the
// host has been up for two hours, the 6.1.0-51 package is ii with a valid
// signed image and an initrd, dpkg is idle, the system is running and no
// inhibitor blocks shutdown. Each option switches one thing off.
func inputs(opts ...func(*Inputs)) Inputs {
	in := Inputs{
		Now: inWindow,
		Config: config.Config{
			Enabled:   true,
			MinUptime: config.DefaultMinUptime,
			Rebuilds:  true,
			Windows:   window.Schedule{weekendWindow()},
			Files:     []string{"/etc/kexec-upgrade/config.toml"},
		},
		Facts: host.Facts{
			Running: host.Running{
				Release:    rel50,
				Build:      build50,
				Cmdline:    "BOOT_IMAGE=/boot/vmlinuz-" + rel50 + " root=/dev/vda1 ro quiet",
				BootID:     "3f0c2a5e-8d1b-4b7e-9a61-0c5d2e7f4a90",
				LoaderType: 0x72,
			},
			Kexec:  host.Kexec{Lockdown: "none", CapSysBoot: true},
			Uptime: 2 * time.Hour,
		},
		Target: &Target{
			Candidate: Candidate{
				Release: rel51,
				Package: host.Package{Name: "linux-image-" + rel51, Version: "6.1.176-1", Arch: "amd64", Want: "install", Flag: "ok", State: "installed"},
				Files:   host.BootFiles{Image: image51, Initrd: initrd, HasImage: true, HasInitrd: true},
			},
			Build:        build51,
			ImageRelease: rel51,
			Signed:       true,
			CmdlineMax:   2047,
		},
		SystemState: "running",
		// Inhibitors that do not block a shutdown.
		Inhibitors: []Inhibitor{
			{What: "shutdown", Who: "ModemManager", Why: "ModemManager needs to reset devices", Mode: "delay", UID: 0, PID: 612},
			{What: "sleep", Who: "GNOME", Why: "screen is locked", Mode: "block", UID: 1000, PID: 2001},
		},
	}
	for _, o := range opts {
		o(&in)
	}
	return in
}

// withInhibitor adds a shutdown block inhibitor.
func withInhibitor(who, why string) func(*Inputs) {
	return func(in *Inputs) {
		in.Inhibitors = append(in.Inhibitors, Inhibitor{What: "shutdown:sleep", Who: who, Why: why, Mode: "block", UID: 0, PID: 1234})
	}
}

func withNow(t time.Time) func(*Inputs) { return func(in *Inputs) { in.Now = t } }

func withUptime(d time.Duration) func(*Inputs) { return func(in *Inputs) { in.Facts.Uptime = d } }

func withForce() func(*Inputs) { return func(in *Inputs) { in.Force = true } }

func withPackageStatus(want, flag, state string, pending bool) func(*Inputs) {
	return func(in *Inputs) {
		p := &in.Target.Package
		p.Want, p.Flag, p.State, p.Pending = want, flag, state, pending
	}
}

// withTarget replaces the target's release and build (image and package
// names follow).
func withTarget(release, build string) func(*Inputs) {
	return func(in *Inputs) {
		in.Target.Release, in.Target.ImageRelease, in.Target.Build = release, release, build
		in.Target.Package.Name = "linux-image-" + release
		in.Target.Files.Image = "/boot/vmlinuz-" + release
		in.Target.Files.Initrd = "/boot/initrd.img-" + release
	}
}

// trace renders a decision's steps as "check=result ...".
func trace(d Decision) string {
	parts := make([]string, len(d.Steps))
	for i, s := range d.Steps {
		parts[i] = s.Check + "=" + s.Result
	}
	return strings.Join(parts, " ")
}

// allPass is the trace of a switch where nothing stands in the way.
const allPass = "config=pass state=pass target=pass package=pass image=pass initrd=pass failed-before=pass kexec-allowed=pass cmdline=pass hook=pass paused=pass enabled=pass window=pass uptime=pass system-state=pass dpkg-lock=pass inhibitor=pass notice=pass"

// withResult returns allPass with one check's result replaced.
func withResult(tr string, check, result string) string {
	f := strings.Fields(tr)
	for i, s := range f {
		if strings.HasPrefix(s, check+"=") {
			f[i] = check + "=" + result
		}
	}
	return strings.Join(f, " ")
}

// results applies several replacements: "window=skip uptime=skip".
func results(changes string) string {
	tr := allPass
	for _, c := range strings.Fields(changes) {
		check, result, _ := strings.Cut(c, "=")
		tr = withResult(tr, check, result)
	}
	return tr
}

// step returns the decision's step of a check.
func step(t *testing.T, d Decision, check string) Step {
	t.Helper()
	for _, s := range d.Steps {
		if s.Check == check {
			return s
		}
	}
	t.Fatalf("decision has no %s step: %s", check, trace(d))
	return Step{}
}
