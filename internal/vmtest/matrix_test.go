//go:build vm

package vmtest

import (
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// The matrix of guests (issue 12): TestSwitchInWindow covers
// bookworm+backports, this file bookworm (TestPostponesThenSwitches) and the
// trixie guests, which start early in a full run (file order) because their
// images build longest.

// assertTarget checks that status names the installed new kernel as its
// target: release, package and image, and that it is new.
func assertTarget(t *testing.T, vm *VM, k KernelInfo) {
	t.Helper()
	s := status(t, vm)
	if s.Target == nil {
		t.Errorf("status: no target; want %s", k.Release)
		return
	}
	if s.Target.Release != k.Release || !s.Target.New {
		t.Errorf("status: target %s (new %v); want the pending %s", s.Target.Release, s.Target.New, k.Release)
	}
	// The package that owns the image: linux-image-R, or in the 7.x packaging
	// possibly linux-binary-R; either carries the release in its name.
	if !strings.HasPrefix(s.Target.Package, "linux-") || !strings.HasSuffix(s.Target.Package, "-"+k.Release) {
		t.Errorf("status: target package %q; want the package of %s (%s or the one shipping its image)", s.Target.Package, k.Release, k.Package)
	}
	if !strings.Contains(s.Target.Image, k.Release) {
		t.Errorf("status: target image %q does not name %s", s.Target.Image, k.Release)
	}
	t.Logf("status: target %s, package %s %s, image %s", s.Target.Release, s.Target.Package, s.Target.Version, s.Target.Image)
}

// TestPostponesThenSwitches: on one boot per guest, a logind shutdown block
// inhibitor postpones the switch (who and why named), then a dpkg run that
// holds its locks postpones it; once both are gone, the switch happens and is
// verified. On trixie (systemd 257) logind enforces block inhibitors for root
// on its own paths, but kexec.target through the manager bypasses it: the
// product's own check must hold there as on bookworm.
func TestPostponesThenSwitches(t *testing.T) {
	t.Parallel()
	for _, g := range []Guest{Bookworm, Trixie} {
		t.Run(subtestName(g), func(t *testing.T) {
			t.Parallel()
			vm := productGuestWith(t, Options{Name: "postpones", Clock: clockInWindow, Guest: g}, scenarioConfig)
			oldK, _ := vm.Kernels()
			// The inhibitor comes first: the kernel's install starts a run by itself.
			vm.Run(t, `systemd-run --unit=ku-hold systemd-inhibit --what=shutdown --mode=block --who=db-backup --why="backup running" sleep 1d`)
			mark := vm.SerialMark()
			newK := installNewKernel(t, vm)
			assertTarget(t, vm, newK)
			runOnce(t, vm)
			assertDecision(t, vm, "postpone", "inhibitor", systemd.EventPostponed, "db-backup", "backup running")
			assertNothingStaged(t, vm)
			assertRunning(t, vm, oldK.Release)

			// Closed while the inhibitor goes and dpkg starts, open again once dpkg holds its locks.
			setWindow(t, vm, false)
			vm.Run(t, "systemctl stop ku-hold")
			vm.CopyIn(t, slowDeb(t), "/root/ku-slow-install.deb")
			vm.Run(t, "systemd-run --unit=ku-slow dpkg -i /root/ku-slow-install.deb")
			// Wait until dpkg runs the preinst, i.e. holds its locks.
			vm.Run(t, "for i in $(seq 300); do pgrep -f ku-slow-install.preinst >/dev/null && exit 0; sleep 1; done; exit 1")
			setWindow(t, vm, true)
			runOnce(t, vm)
			assertDecision(t, vm, "postpone", "dpkg-lock", systemd.EventPostponed, "/var/lib/dpkg/lock", "dpkg")
			assertNothingStaged(t, vm)
			assertRunning(t, vm, oldK.Release)
			vm.Run(t, "touch /run/ku-release; for i in $(seq 300); do systemctl is-active -q ku-slow || exit 0; sleep 1; done; exit 1")

			switchAndVerify(t, vm, mark, newK)
		})
	}
}

// corruptByte changes the byte in the middle of path (its complement) in
// place: the file keeps its size, inode and hard links.
func corruptByte(path string) string {
	q := shellQuote(path)
	return `f=` + q + `; off=$(( $(stat -c %s "$f") / 2 )); b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' '); ` +
		`printf "$(printf '\\%03o' $(( b ^ 255 )))" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none`
}

// TestDamagedImageRefusedThenSwitches: a trixie guest with trixie-backports'
// newest kernel (7.x: an image without the build tool's CRC, shipped by
// linux-binary-R and installed with linux-base from backports). The image
// cut short, then with one byte changed, is refused with a reason that names
// it, and nothing is staged; put back, the switch happens and is verified.
func TestDamagedImageRefusedThenSwitches(t *testing.T) {
	t.Parallel()
	// Closed while the kernel installs and between the checks (see TestRefusals).
	vm := productGuestWith(t, Options{Name: "damaged-image", Clock: clockInWindow, Guest: TrixieBackports}, closedConfig)
	oldK, _ := vm.Kernels()
	mark := vm.SerialMark()
	newK := installNewKernel(t, vm)
	assertTarget(t, vm, newK)
	image := "/boot/vmlinuz-" + newK.Release
	t.Logf("%s: %s", image, strings.TrimSpace(vm.Run(t, "stat -c '%s bytes, %h links' "+image+"; dpkg -S "+image+" /usr/lib/modules/"+newK.Release+"/vmlinuz 2>&1 || true")))
	vm.Run(t, "cp "+image+" /root/vmlinuz.good")
	for _, c := range []struct {
		name, damage, check string
	}{
		{name: "truncated", damage: "truncate -s 300000 " + image, check: "test $(stat -c %s " + image + ") = 300000"},
		{name: "byte_corrupted", damage: corruptByte(image), check: "test $(cmp -l /root/vmlinuz.good " + image + " | wc -l) = 1"},
	} {
		switched := false
		t.Run(c.name, func(t *testing.T) {
			vm.Run(t, c.damage)
			vm.Run(t, c.check)
			runMark := vm.SerialMark()
			setWindow(t, vm, true)
			runOnce(t, vm)
			for _, line := range vm.SerialSince(runMark) {
				if kexecStarting.MatchString(line) {
					switched = true
					t.Fatalf("the %s image was loaded and switched to: %q", c.name, line)
				}
			}
			s := status(t, vm)
			if s.Decision.Action != "refuse" {
				t.Errorf("status: decision %s (%s): %q; want refuse", s.Decision.Action, s.Decision.Check, s.Decision.Reason)
			}
			if !strings.Contains(s.Decision.Reason, "vmlinuz") || !strings.Contains(s.Decision.Reason, newK.Release) {
				t.Errorf("status: reason %q does not name the image of %s", s.Decision.Reason, newK.Release)
			}
			if s.Staged {
				t.Errorf("status: staged = true; want nothing staged")
			}
			assertNothingStaged(t, vm)
			assertRunning(t, vm, oldK.Release)
			t.Logf("refused (%s): %s", s.Decision.Check, s.Decision.Reason)
			setWindow(t, vm, false)
			// In place: the image stays a hard link of the package's file.
			vm.Run(t, "cat /root/vmlinuz.good > "+image)
		})
		if switched {
			t.Fatalf("the guest left for the damaged image; nothing more to check on it")
		}
	}
	vm.Run(t, "cmp /root/vmlinuz.good "+image)
	if n := len(events(t, vm, systemd.EventStaged)); n != 0 {
		t.Errorf("journal: %d staged events before the switch; want none", n)
	}
	writeConfig(t, vm, "50-scenario.toml", scenarioConfig)
	switchAndVerify(t, vm, mark, newK)
}
