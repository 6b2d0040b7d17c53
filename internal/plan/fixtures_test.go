package plan

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// fixtureRoot is a host fixture root (see internal/host/testdata/README.md).
func fixtureRoot(name string) string {
	return filepath.Join("..", "host", "testdata", name)
}

// targetOf chooses the target of a fixture and checks its image, as the
// shell does on a cache miss.
func targetOf(tb testing.TB, root string, f host.Facts) *Target {
	tb.Helper()
	c, ok := ChooseTarget(f)
	if !ok {
		return nil
	}
	t := &Target{Candidate: c}
	data, err := host.ReadImage(root, c.Files.Image)
	if err != nil {
		tb.Fatal(err)
	}
	img, err := kernel.ParseImage(data)
	if err != nil {
		t.ImageErr = err
		return t
	}
	t.Build, t.ImageRelease, t.Signed, t.CmdlineMax = img.Build, img.Release, img.Signed, img.CmdlineMax
	return t
}

// TestPlan_fixtures runs gather → choose → check image → plan on every host
// fixture root, at a time inside the window, with systemd and logind content.
func TestPlan_fixtures(t *testing.T) {
	tests := []struct {
		name    string
		action  Action
		check   string
		target  string // package name
		reason  string // a part the reason must name
		failing string // every failing check of the trace, in order
	}{
		{"debian_cloud", Switch, "", "linux-image-6.1.0-51-cloud-amd64", "release 6.1.0-51-cloud-amd64 is newer", ""},
		{"ubuntu_generic", Switch, "", "linux-image-unsigned-6.8.0-50-generic", "release 6.8.0-50-generic is newer than the running 6.8.0-49-generic", ""},
		{"same_release_rebuild", Switch, "", "linux-image-6.1.0-50-cloud-amd64", "same release rebuilt", ""},
		{"half_installed", Refuse, CheckPackage, "linux-image-6.1.0-51-cloud-amd64", "pending dpkg changes (iF)", "package"},
		{"truncated_image", Refuse, CheckImage, "linux-image-6.1.0-51-cloud-amd64", "kernel image truncated: 4200 bytes", "image"},
		{"signed_image", Switch, "", "linux-image-6.1.0-51-cloud-amd64", "switching to 6.1.0-51-cloud-amd64", ""},
		{"unsigned_image", Refuse, CheckKexecAllowed, "linux-image-6.1.0-51-cloud-amd64-unsigned", "lockdown (integrity)", "kexec-allowed"},
		{"initrd_missing", Refuse, CheckInitrd, "linux-image-6.1.0-51-cloud-amd64", "/boot/initrd.img-6.1.0-51-cloud-amd64 is missing", "initrd"},
		{"initrd_new_pending", Refuse, CheckInitrd, "linux-image-6.1.0-51-cloud-amd64", "/boot/initrd.img-6.1.0-51-cloud-amd64.new exists", "initrd uptime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fixtureRoot(tt.name)
			f, err := host.Gather(root)
			if err != nil {
				t.Fatal(err)
			}
			holder, err := host.LockHolder(root)
			if err != nil {
				t.Fatal(err)
			}
			in := inputs(func(in *Inputs) {
				in.Facts = f
				in.Target = targetOf(t, root, f)
				in.LockHolder = holder
			})
			d := Plan(in)
			if d.Action != tt.action || d.Check != tt.check {
				t.Fatalf("Plan(testdata/%s) = %s at %q (%s); want %s at %q", tt.name, d.Action, d.Check, d.Reason, tt.action, tt.check)
			}
			if d.Target == nil || d.Target.Package.Name != tt.target {
				t.Errorf("Plan(testdata/%s).Target = %+v; want package %s", tt.name, d.Target, tt.target)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Plan(testdata/%s).Reason = %q; want it to name %q", tt.name, d.Reason, tt.reason)
			}
			var failing []string
			for _, s := range d.Steps {
				if s.Result == Fail {
					failing = append(failing, s.Check)
				}
			}
			if got := strings.Join(failing, " "); got != tt.failing {
				t.Errorf("Plan(testdata/%s) failing checks = %q; want %q (trace %s)", tt.name, got, tt.failing, trace(d))
			}
			if d.Action == Switch && strings.Contains(d.Cmdline, "BOOT_IMAGE") {
				t.Errorf("Plan(testdata/%s).Cmdline = %q; want it without BOOT_IMAGE=", tt.name, d.Cmdline)
			}
		})
	}
}

// BenchmarkGatherAndPlan is an idle timer run's decision work on the
// debian_cloud fixture: read the host's facts, choose the target, and plan
// with the image check given, as the state file's cache gives it.
func BenchmarkGatherAndPlan(b *testing.B) {
	root := fixtureRoot("debian_cloud")
	f, err := host.Gather(root)
	if err != nil {
		b.Fatal(err)
	}
	cached := targetOf(b, root, f)
	base := inputs()
	b.ReportAllocs()
	for b.Loop() {
		f, err := host.Gather(root)
		if err != nil {
			b.Fatal(err)
		}
		c, ok := ChooseTarget(f)
		if !ok {
			b.Fatal("no target")
		}
		t := *cached
		t.Candidate = c
		in := base
		in.Facts, in.Target = f, &t
		if d := Plan(in); d.Action != Switch {
			b.Fatalf("Plan = %s (%s); want switch", d.Action, d.Reason)
		}
	}
}

// BenchmarkPlan is Plan alone.
func BenchmarkPlan(b *testing.B) {
	in := inputs()
	b.ReportAllocs()
	for b.Loop() {
		if d := Plan(in); d.Action != Switch {
			b.Fatalf("Plan = %s; want switch", d.Action)
		}
	}
}
