//go:build vm

package vmtest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/vmtest/rebuild"
)

// TestSameReleaseRebuild installs a rebuild of the running kernel: the same
// release (uname -r), another build string (uname -v) and a higher package
// version, as Debian ships when it rebuilds a kernel without an ABI bump.
// The archive has no such pair, so the running kernel's package is repacked
// with a patched build string.
func TestSameReleaseRebuild(t *testing.T) {
	t.Parallel()
	vm := productGuest(t, "rebuild", clockInWindow, scenarioConfig)
	oldK, _ := vm.Kernels()
	res, err := rebuild.Repack(oldK.Deb, t.TempDir())
	if err != nil {
		t.Fatalf("repack %s: %v", oldK.Deb, err)
	}
	if res.Release != oldK.Release || res.OldBuild == res.NewBuild {
		t.Fatalf("repack gave %+v; want a new build of %s", res, oldK.Release)
	}
	if got := strings.TrimSpace(vm.Run(t, "uname -v")); got != res.OldBuild {
		t.Fatalf("the guest runs %q; want %q before the rebuild", got, res.OldBuild)
	}
	mark := vm.SerialMark()
	vm.CopyIn(t, res.Path, "/root/"+filepath.Base(res.Path))
	vm.Run(t, "DEBIAN_FRONTEND=noninteractive dpkg -i /root/"+filepath.Base(res.Path)+" >/dev/null")

	s := status(t, vm)
	if s.Target == nil || s.Target.Release != oldK.Release || !s.Target.New {
		t.Errorf("status: target %+v; want the rebuild of %s, new", s.Target, oldK.Release)
	}
	a := switchAndVerify(t, vm, mark, KernelInfo{Release: oldK.Release})
	if got := strings.TrimSpace(vm.Run(t, "uname -v")); got != res.NewBuild {
		t.Errorf("after the switch uname -v = %q; want %q", got, res.NewBuild)
	}
	if a.From.Build != res.OldBuild || a.To.Build != res.NewBuild {
		t.Errorf("history: %q → %q; want %q → %q", a.From.Build, a.To.Build, res.OldBuild, res.NewBuild)
	}
	if out := vm.Run(t, "kexec-upgrade history"); !strings.Contains(out, shortRev(res.NewBuild)) {
		t.Errorf("kexec-upgrade history does not tell the builds apart:\n%s", out)
	}
	if s := status(t, vm); s.Decision.Action != "up-to-date" {
		t.Errorf("status after the switch: %s (%s); want up-to-date", s.Decision.Action, s.Decision.Reason)
	}
}

// shortRev is the "Debian <version>" part of a build string.
func shortRev(build string) string {
	if i := strings.Index(build, "Debian "); i >= 0 {
		return build[i:]
	}
	return build
}
