package plan

import (
	"fmt"

	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// Candidate is the kernel a run would switch to, before its image is read.
type Candidate struct {
	Release string
	Package host.Package
	Files   host.BootFiles
}

// ChooseTarget returns the highest kernel release (in linux-version order)
// installed by a linux-image package that has a /boot/vmlinuz-<release>.
// Packages still being installed count, so that a half-installed newer
// kernel is refused with its reason instead of switching to an older one.
func ChooseTarget(f host.Facts) (Candidate, bool) {
	var best Candidate
	found := false
	for _, p := range f.Packages {
		if !p.Present() && !p.Pending {
			continue
		}
		release := p.Release()
		files, ok := f.Boot[release]
		if !ok || !files.HasImage {
			continue
		}
		c := Candidate{Release: release, Package: p, Files: files}
		switch {
		case !found:
			best, found = c, true
		case kernel.CompareReleases(release, best.Release) > 0:
			best = c
		case release == best.Release && p.Installed() && !best.Package.Installed():
			// Both the signed and the -unsigned package ship this release:
			// describe it by the one dpkg considers installed.
			best = c
		}
	}
	return best, found
}

// Target is the candidate with what its image says about itself.
type Target struct {
	Candidate
	// Build is the `uname -v` string inside the image ("" if unreadable).
	Build string
	// ImageRelease is the release inside the image.
	ImageRelease string
	Signed       bool
	CmdlineMax   int
	// ImageErr is why the image failed its checks; nil when valid.
	ImageErr error
}

// Newness says whether the target is newer than the running kernel and why.
func Newness(t Target, running host.Running, rebuilds bool) (isNew bool, why string) {
	switch c := kernel.CompareReleases(t.Release, running.Release); {
	case c > 0:
		return true, fmt.Sprintf("release %s is newer than the running %s", t.Release, running.Release)
	case c < 0:
		return false, fmt.Sprintf("the running kernel %s is newer than every installed one", running.Release)
	}
	if t.Build == "" || t.Build == running.Build {
		return false, fmt.Sprintf("%s is running already", t.Release)
	}
	if !rebuilds {
		return false, fmt.Sprintf("%s was rebuilt (%q), but rebuilds = false", t.Release, t.Build)
	}
	return true, fmt.Sprintf("same release rebuilt: the image's build %q differs from the running %q", t.Build, running.Build)
}
