package plan

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// Candidate is the kernel a run would switch to, before its image is read.
type Candidate struct {
	Release string
	// Package is the linux-image package that makes the release installed.
	Package host.Package
	// Requires are the packages of the release that Package depends on
	// (Package.Requires), as dpkg's database has them, in that order; one
	// that dpkg does not know has only its Name. Debian's 7.x packaging
	// has linux-base-R, linux-binary-R and linux-modules-R here.
	Requires []host.Package `json:",omitempty"`
	// Files are the release's files in /boot. HasImage is false only for a
	// release newer than the running kernel whose packages are installed
	// but whose /boot/vmlinuz is missing: see ImageMissing.
	Files host.BootFiles
	// Digest is what dpkg recorded for the release's image (Facts.Packaged);
	// Packaged is false when no package lists one.
	Digest   host.Digest `json:",omitempty"`
	Packaged bool        `json:",omitempty"`
}

// ErrImageMissing: an installed kernel's /boot/vmlinuz is not there.
var ErrImageMissing = errors.New("kernel image missing")

// ChooseTarget returns the highest kernel release (in linux-version order)
// installed by a linux-image package that has a /boot/vmlinuz-<release>,
// or that is newer than the running kernel and whose image dpkg's md5sums
// list: such a release is returned with HasImage false (an unmounted
// /boot, or an install that has not put the image there yet), so that it
// is refused with ImageMissing's reason and the host still counts as
// behind, instead of reading as up to date. Packages still being installed
// count, so that a half-installed newer kernel is refused with its reason
// instead of switching to an older one. Meta packages (linux-image-amd64)
// name no release with an image and are never chosen.
func ChooseTarget(f host.Facts) (Candidate, bool) {
	var best Candidate
	found := false
	for _, p := range f.Packages {
		if !p.IsImage() || !p.Present() && !p.Pending {
			continue
		}
		release := p.Release()
		files, ok := f.Boot[release]
		digest, packaged := f.Packaged[release]
		if !ok || !files.HasImage {
			if !packaged || kernel.CompareReleases(release, f.Running.Release) <= 0 {
				continue
			}
			files = host.BootFiles{Image: "/boot/vmlinuz-" + release, Initrd: "/boot/initrd.img-" + release}
		}
		c := Candidate{Release: release, Package: p, Files: files, Digest: digest, Packaged: packaged}
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
	if found {
		best.Requires = requiredPackages(f.Packages, best.Package)
	}
	return best, found
}

// requiredPackages looks up the packages p requires in dpkg's database.
func requiredPackages(pkgs []host.Package, p host.Package) []host.Package {
	var out []host.Package
	for _, name := range p.Requires {
		dep := host.Package{Name: name}
		for _, q := range pkgs {
			if q.Name == name && (q.Arch == p.Arch || q.Arch == "all" || q.Arch == "" || p.Arch == "") {
				dep = q
				break
			}
		}
		out = append(out, dep)
	}
	return out
}

// CheckPackages is the package check of a candidate: the linux-image
// package and every package of the release it requires must be fully
// installed ("ii") with no pending dpkg change. It returns the check's
// detail, which names the first package that is not, and whether all are.
func (c Candidate) CheckPackages() (detail string, ok bool) {
	p := c.Package
	if reason := packageProblem(p, ""); reason != "" {
		return reason, false
	}
	names := make([]string, 0, len(c.Requires))
	for _, dep := range c.Requires {
		if reason := packageProblem(dep, p.Name); reason != "" {
			return reason, false
		}
		names = append(names, dep.Name)
	}
	detail = fmt.Sprintf("%s %s is installed (ii)", p.Name, p.Version)
	if len(names) > 0 {
		detail = fmt.Sprintf("%s %s and %s are installed (ii)", p.Name, p.Version, strings.Join(names, ", "))
	}
	return detail, true
}

// packageProblem says why p is not fully installed, "" when it is; dependent
// names the package that requires p, "" for the image package itself.
func packageProblem(p host.Package, dependent string) string {
	var reason string
	switch {
	case p.State == "":
		return fmt.Sprintf("package %s is not installed, and %s depends on it", p.Name, dependent)
	case p.Pending:
		reason = fmt.Sprintf("package %s %s has pending dpkg changes (%s): dpkg is not done with it", p.Name, p.Version, p.StatusAbbrev())
	case !p.Installed():
		reason = fmt.Sprintf("package %s %s is %s (%s), not fully installed", p.Name, p.Version, p.State, p.StatusAbbrev())
	default:
		return ""
	}
	if dependent != "" {
		reason += fmt.Sprintf(" (%s depends on it)", dependent)
	}
	return reason
}

// ImageMissing is nil when the candidate's /boot/vmlinuz exists. Otherwise
// it wraps ErrImageMissing with a reason that names the file and the
// package, and asks whether /boot is mounted when the packages are
// installed (dpkg put the image there, so something took it away), or says
// that dpkg has not finished when they are not.
func (c Candidate) ImageMissing() error {
	if c.Files.HasImage {
		return nil
	}
	p := c.Package
	shipped := ""
	if c.Packaged && c.Digest.Path != c.Files.Image {
		shipped = fmt.Sprintf("; %s ships it as %s", c.Digest.Package, c.Digest.Path)
	}
	if detail, ok := c.CheckPackages(); !ok {
		return fmt.Errorf("%w: %s is not there yet, and dpkg has not finished installing the kernel: %s%s",
			ErrImageMissing, c.Files.Image, detail, shipped)
	}
	return fmt.Errorf("%w: %s is not there, although package %s %s is installed (ii)%s: is /boot mounted?",
		ErrImageMissing, c.Files.Image, p.Name, p.Version, shipped)
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
	// Integrity names the integrity checks the image passed, for status:
	// "size, crc32, signature-table, authenticode (sha256), md5 (linux-image-R)".
	Integrity string
	// Authenticode is the outcome of comparing the digest in the image's
	// Authenticode signature with the image's own (kernel.CheckAuthenticode,
	// on the bytes kexec_file_load is given); "" when it was not checked.
	// Under lockdown an image whose signature is unreadable or does not
	// match is refused: the kernel would refuse it at the load.
	Authenticode kernel.AuthenticodeState
	// AuthenticodeDetail says the outcome in a phrase: the algorithm and
	// signer, or why the signature does not fit the image.
	AuthenticodeDetail string
}

// AuthenticodeVerifies reports whether the image's Authenticode digest
// check leaves nothing for lockdown to refuse: the digest matched, the
// image is unsigned (which the kexec-allowed check refuses under lockdown
// on its own), or it was not checked.
func (t Target) AuthenticodeVerifies() bool {
	switch t.Authenticode {
	case kernel.AuthenticodeMismatch, kernel.AuthenticodeUnreadable:
		return false
	}
	return true
}

// AuthenticodeProblem says what is wrong with a signature that does not
// verify: "its Authenticode signature does not match the image (patched
// or damaged: …)"; "" when it verifies.
func (t Target) AuthenticodeProblem() string {
	detail := ""
	if t.AuthenticodeDetail != "" {
		detail = ": " + t.AuthenticodeDetail
	}
	switch t.Authenticode {
	case kernel.AuthenticodeMismatch:
		return "its Authenticode signature does not match the image (patched or damaged" + detail + ")"
	case kernel.AuthenticodeUnreadable:
		return "its Authenticode signature cannot be read" + detail
	}
	return ""
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
