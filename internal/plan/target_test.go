package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
)

// pkgs builds packages from "name abbrev" pairs: "linux-image-6.1.0-9-amd64 ii",
// with "*" after the abbreviation for a pending updates/ entry.
func pkgs(specs ...string) []host.Package {
	words := map[byte]string{'i': "install", 'r': "deinstall", 'p': "purge", 'h': "hold",
		'n': "not-installed", 'c': "config-files", 'H': "half-installed", 'U': "unpacked", 'F': "half-configured"}
	var out []host.Package
	for _, s := range specs {
		name, abbrev, _ := strings.Cut(s, " ")
		pending := strings.HasSuffix(abbrev, "*")
		abbrev = strings.TrimSuffix(abbrev, "*")
		state := words[abbrev[1]]
		if abbrev[1] == 'i' {
			state = "installed"
		}
		out = append(out, host.Package{Name: name, Version: "1", Arch: "amd64", Want: words[abbrev[0]], Flag: "ok", State: state, Pending: pending})
	}
	return out
}

// boot builds /boot entries with an image and initrd for each release.
func boot(releases ...string) map[string]host.BootFiles {
	m := make(map[string]host.BootFiles)
	for _, r := range releases {
		m[r] = host.BootFiles{Image: "/boot/vmlinuz-" + r, Initrd: "/boot/initrd.img-" + r, HasImage: true, HasInitrd: true}
	}
	return m
}

// requiring returns p depending on the packages named.
func requiring(p host.Package, names ...string) host.Package {
	p.Requires = names
	return p
}

// packaged says which releases' images dpkg's md5sums list.
func packaged(releases ...string) map[string]host.Digest {
	m := make(map[string]host.Digest)
	for _, r := range releases {
		m[r] = host.Digest{Package: "linux-image-" + r, Path: "/boot/vmlinuz-" + r, MD5: "8256034107ca713640b75c6b79f82fa2"}
	}
	return m
}

const (
	rel612 = "6.12.118+deb13-cloud-amd64"
	rel734 = "7.3.4+deb13-cloud-amd64"
)

func TestChooseTarget(t *testing.T) {
	tests := []struct {
		name     string
		running  string // default rel50
		packages []host.Package
		boot     map[string]host.BootFiles
		packaged map[string]host.Digest
		want     string // package name; "" for none
		noImage  bool   // the target's /boot/vmlinuz is missing
	}{
		{
			name:     "debian_order_not_string_order",
			packages: pkgs("linux-image-6.1.0-10-amd64 ii", "linux-image-6.1.0-9-amd64 ii"),
			boot:     boot("6.1.0-9-amd64", "6.1.0-10-amd64"),
			want:     "linux-image-6.1.0-10-amd64",
		},
		{
			name:     "debian_order_listed_low_first",
			packages: pkgs("linux-image-6.1.0-9-amd64 ii", "linux-image-6.1.0-10-amd64 ii"),
			boot:     boot("6.1.0-9-amd64", "6.1.0-10-amd64"),
			want:     "linux-image-6.1.0-10-amd64",
		},
		{
			name:     "bpo_is_older_than_the_release",
			packages: pkgs("linux-image-6.1.0-0.deb11.13-amd64 ii", "linux-image-6.1.0-9-amd64 ii"),
			boot:     boot("6.1.0-0.deb11.13-amd64", "6.1.0-9-amd64"),
			want:     "linux-image-6.1.0-9-amd64",
		},
		{
			name:     "signed_listed_first_is_half_installed_unsigned_ii_wins",
			packages: pkgs("linux-image-6.1.0-51-cloud-amd64 iU", "linux-image-6.1.0-51-cloud-amd64-unsigned ii"),
			boot:     boot("6.1.0-51-cloud-amd64"),
			want:     "linux-image-6.1.0-51-cloud-amd64-unsigned",
		},
		{
			name:     "signed_ii_kept_over_later_unsigned",
			packages: pkgs("linux-image-6.1.0-51-cloud-amd64 ii", "linux-image-6.1.0-51-cloud-amd64-unsigned iF"),
			boot:     boot("6.1.0-51-cloud-amd64"),
			want:     "linux-image-6.1.0-51-cloud-amd64",
		},
		{
			name:     "ubuntu_unsigned_naming",
			packages: pkgs("linux-image-6.8.0-49-generic ii", "linux-image-6.8.0-50-generic rc", "linux-image-unsigned-6.8.0-50-generic ii"),
			boot:     boot("6.8.0-49-generic", "6.8.0-50-generic"),
			want:     "linux-image-unsigned-6.8.0-50-generic",
		},
		{
			name:     "meta_packages_without_vmlinuz_ignored",
			packages: pkgs("linux-image-cloud-amd64 ii", "linux-image-amd64 ii", "linux-image-6.1.0-50-cloud-amd64 ii"),
			boot:     boot("6.1.0-50-cloud-amd64"),
			want:     "linux-image-6.1.0-50-cloud-amd64",
		},
		{
			name:     "config_files_entries_ignored",
			packages: pkgs("linux-image-6.1.0-52-cloud-amd64 rc", "linux-image-6.1.0-50-cloud-amd64 ii", "linux-image-6.1.0-53-cloud-amd64 pn"),
			boot:     boot("6.1.0-50-cloud-amd64", "6.1.0-52-cloud-amd64", "6.1.0-53-cloud-amd64"),
			want:     "linux-image-6.1.0-50-cloud-amd64",
		},
		{
			name:     "vmlinuz_without_package_ignored",
			packages: pkgs("linux-image-6.1.0-50-cloud-amd64 ii"),
			boot:     boot("6.1.0-50-cloud-amd64", "6.1.0-99-cloud-amd64"),
			want:     "linux-image-6.1.0-50-cloud-amd64",
		},
		{
			name:     "half_installed_newer_counts",
			packages: pkgs("linux-image-6.1.0-50-cloud-amd64 ii", "linux-image-6.1.0-51-cloud-amd64 iU"),
			boot:     boot("6.1.0-50-cloud-amd64", "6.1.0-51-cloud-amd64"),
			want:     "linux-image-6.1.0-51-cloud-amd64",
		},
		{
			name:     "pending_removal_counts",
			packages: pkgs("linux-image-6.1.0-50-cloud-amd64 ii", "linux-image-6.1.0-51-cloud-amd64 rc*"),
			boot:     boot("6.1.0-50-cloud-amd64", "6.1.0-51-cloud-amd64"),
			want:     "linux-image-6.1.0-51-cloud-amd64",
		},
		{
			name:     "nothing_installed",
			packages: pkgs("linux-image-6.1.0-49-cloud-amd64 rc"),
			boot:     boot("6.1.0-49-cloud-amd64"),
		},
		{
			name: "no_packages_at_all",
			boot: boot("6.1.0-49-cloud-amd64"),
		},
		{
			name:     "split_7x_meta_image_package",
			running:  rel612,
			packages: pkgs("linux-image-"+rel612+" ii", "linux-base-"+rel734+" ii", "linux-binary-"+rel734+" ii", "linux-image-"+rel734+" ii", "linux-image-cloud-amd64 ii"),
			boot:     boot(rel612, rel734),
			want:     "linux-image-" + rel734,
		},
		{
			name:     "split_packages_are_never_the_target",
			running:  rel612,
			packages: pkgs("linux-image-"+rel612+" ii", "linux-binary-"+rel734+" ii", "linux-modules-"+rel734+" ii"),
			boot:     boot(rel612, rel734),
			packaged: packaged(rel734),
			want:     "linux-image-" + rel612,
		},
		{
			// Defect 5 of issue 11: /boot is not mounted.
			name:     "newer_installed_image_missing",
			packages: pkgs("linux-image-"+rel50+" ii", "linux-image-"+rel51+" ii", "linux-image-cloud-amd64 ii"),
			packaged: packaged(rel50, rel51),
			want:     "linux-image-" + rel51,
			noImage:  true,
		},
		{
			name:     "newer_image_missing_beats_older_image_present",
			packages: pkgs("linux-image-"+rel50+" ii", "linux-image-"+rel51+" ii"),
			boot:     boot(rel50),
			packaged: packaged(rel50, rel51),
			want:     "linux-image-" + rel51,
			noImage:  true,
		},
		{
			name:     "running_image_missing_reads_up_to_date",
			packages: pkgs("linux-image-"+rel50+" ii", "linux-image-6.1.0-49-cloud-amd64 ii"),
			boot:     boot("6.1.0-49-cloud-amd64"),
			packaged: packaged(rel50, "6.1.0-49-cloud-amd64"),
			want:     "linux-image-6.1.0-49-cloud-amd64",
		},
		{
			name:     "older_image_missing_not_chosen",
			packages: pkgs("linux-image-6.1.0-49-cloud-amd64 ii"),
			packaged: packaged("6.1.0-49-cloud-amd64"),
		},
		{
			name:     "unpacked_7x_before_the_hook_made_boot_image",
			running:  rel612,
			packages: pkgs("linux-image-"+rel612+" ii", "linux-binary-"+rel734+" ii", "linux-modules-"+rel734+" iU", "linux-image-"+rel734+" iU"),
			boot:     boot(rel612),
			packaged: packaged(rel612, rel734),
			want:     "linux-image-" + rel734,
			noImage:  true,
		},
		{
			name:     "image_missing_without_md5sums_entry_is_not_a_kernel",
			packages: pkgs("linux-image-"+rel50+" ii", "linux-image-generic ii", "linux-image-"+rel51+"-dbg ii"),
			boot:     boot(rel50),
			packaged: packaged(rel50),
			want:     "linux-image-" + rel50,
		},
		{
			name:     "config_files_image_missing_ignored",
			packages: pkgs("linux-image-"+rel50+" ii", "linux-image-"+rel51+" rc"),
			boot:     boot(rel50),
			packaged: packaged(rel50, rel51),
			want:     "linux-image-" + rel50,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			running := tt.running
			if running == "" {
				running = rel50
			}
			f := host.Facts{Running: host.Running{Release: running}, Packages: tt.packages, Boot: tt.boot, Packaged: tt.packaged}
			c, ok := ChooseTarget(f)
			got := ""
			if ok {
				got = c.Package.Name
				wantFiles, inBoot := tt.boot[c.Release]
				if !inBoot {
					wantFiles = host.BootFiles{Image: "/boot/vmlinuz-" + c.Release, Initrd: "/boot/initrd.img-" + c.Release}
				}
				if c.Release != c.Package.Release() || c.Files != wantFiles {
					t.Errorf("ChooseTarget(%s) = release %q files %+v; want the package's release and files %+v", tt.name, c.Release, c.Files, wantFiles)
				}
				if d, want := c.Digest, tt.packaged[c.Release]; d != want || c.Packaged != (want != host.Digest{}) {
					t.Errorf("ChooseTarget(%s).Digest = %+v, %t; want %+v", tt.name, d, c.Packaged, want)
				}
				if noImage := c.ImageMissing() != nil; noImage != tt.noImage || noImage == c.Files.HasImage {
					t.Errorf("ChooseTarget(%s) = HasImage %t, ImageMissing %v; want the image missing = %t", tt.name, c.Files.HasImage, c.ImageMissing(), tt.noImage)
				}
			}
			if got != tt.want {
				t.Errorf("ChooseTarget(%s) = %q; want %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestCheckPackages(t *testing.T) {
	image := "linux-image-" + rel734
	splitNames := []string{"linux-base-" + rel734, "linux-binary-" + rel734, "linux-modules-" + rel734}
	// choose builds the candidate of the 7.x image package from "name abbrev"
	// specs; with split, the image package requires the three others.
	choose := func(split bool, specs ...string) Candidate {
		ps := pkgs(specs...)
		for i := range ps {
			if ps[i].Name == image && split {
				ps[i].Requires = splitNames
			}
		}
		c, ok := ChooseTarget(host.Facts{Running: host.Running{Release: rel612}, Packages: ps, Boot: boot(rel734)})
		if !ok || c.Package.Name != image {
			t.Fatalf("ChooseTarget(%q) = %+v, %t; want %s", specs, c, ok, image)
		}
		return c
	}
	all := func(image, base, binary, modules string) []string {
		return []string{"linux-image-" + rel734 + " " + image, "linux-base-" + rel734 + " " + base,
			"linux-binary-" + rel734 + " " + binary, "linux-modules-" + rel734 + " " + modules}
	}
	tests := []struct {
		name   string
		c      Candidate
		ok     bool
		detail string
	}{
		{"classic_ii", choose(false, "linux-image-"+rel734+" ii"), true, image + " 1 is installed (ii)"},
		{"split_all_ii", choose(true, all("ii", "ii", "ii", "ii")...), true,
			image + " 1 and linux-base-" + rel734 + ", linux-binary-" + rel734 + ", linux-modules-" + rel734 + " are installed (ii)"},
		{"image_unpacked", choose(true, all("iU", "ii", "ii", "ii")...), false, "package " + image + " 1 is unpacked (iU), not fully installed"},
		{"binary_half_installed", choose(true, all("ii", "ii", "iH", "ii")...), false,
			"package linux-binary-" + rel734 + " 1 is half-installed (iH), not fully installed (" + image + " depends on it)"},
		{"modules_unpacked", choose(true, all("ii", "ii", "ii", "iU")...), false,
			"package linux-modules-" + rel734 + " 1 is unpacked (iU), not fully installed (" + image + " depends on it)"},
		{"base_config_files", choose(true, all("ii", "rc", "ii", "ii")...), false,
			"package linux-base-" + rel734 + " 1 is config-files (rc), not fully installed (" + image + " depends on it)"},
		{"binary_pending_in_updates_journal", choose(true, all("ii", "ii", "iF*", "ii")...), false,
			"package linux-binary-" + rel734 + " 1 has pending dpkg changes (iF): dpkg is not done with it (" + image + " depends on it)"},
		{"binary_not_in_database", choose(true, "linux-image-"+rel734+" ii", "linux-base-"+rel734+" ii", "linux-modules-"+rel734+" ii"), false,
			"package linux-binary-" + rel734 + " is not installed, and " + image + " depends on it"},
		{"image_pending", choose(true, all("iF*", "ii", "ii", "ii")...), false,
			"package " + image + " 1 has pending dpkg changes (iF): dpkg is not done with it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			detail, ok := tt.c.CheckPackages()
			if ok != tt.ok || detail != tt.detail {
				t.Errorf("CheckPackages(%s) = %q, %t; want %q, %t", tt.name, detail, ok, tt.detail, tt.ok)
			}
		})
	}
}

func TestImageMissing(t *testing.T) {
	binary := host.Digest{Package: "linux-binary-" + rel734, Path: "/usr/lib/modules/" + rel734 + "/vmlinuz", MD5: "8256034107ca713640b75c6b79f82fa2"}
	missing := host.BootFiles{Image: "/boot/vmlinuz-" + rel734, Initrd: "/boot/initrd.img-" + rel734}
	tests := []struct {
		name string
		c    Candidate
		want string // "" for nil
	}{
		{"image_present", Candidate{Release: rel734, Package: pkgs("linux-image-" + rel734 + " ii")[0], Files: boot(rel734)[rel734]}, ""},
		{"boot_unmounted_classic",
			Candidate{Release: rel51, Package: pkgs("linux-image-" + rel51 + " ii")[0], Files: host.BootFiles{Image: "/boot/vmlinuz-" + rel51}},
			"kernel image missing: /boot/vmlinuz-" + rel51 + " is not there, although package linux-image-" + rel51 + " 1 is installed (ii): is /boot mounted?"},
		{"boot_unmounted_split",
			Candidate{Release: rel734, Package: requiring(pkgs("linux-image-" + rel734 + " ii")[0], "linux-binary-"+rel734),
				Requires: pkgs("linux-binary-" + rel734 + " ii"), Files: missing, Digest: binary, Packaged: true},
			"kernel image missing: /boot/vmlinuz-" + rel734 + " is not there, although package linux-image-" + rel734 + " 1 is installed (ii); linux-binary-" + rel734 +
				" ships it as /usr/lib/modules/" + rel734 + "/vmlinuz: is /boot mounted?"},
		{"split_not_configured_yet",
			Candidate{Release: rel734, Package: requiring(pkgs("linux-image-" + rel734 + " iU")[0], "linux-binary-"+rel734),
				Requires: pkgs("linux-binary-" + rel734 + " ii"), Files: missing, Digest: binary, Packaged: true},
			"kernel image missing: /boot/vmlinuz-" + rel734 + " is not there yet, and dpkg has not finished installing the kernel: package linux-image-" + rel734 +
				" 1 is unpacked (iU), not fully installed; linux-binary-" + rel734 + " ships it as /usr/lib/modules/" + rel734 + "/vmlinuz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.ImageMissing()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("ImageMissing(%s) = %v; want nil", tt.name, err)
			case tt.want != "" && (err == nil || err.Error() != tt.want || !errors.Is(err, ErrImageMissing)):
				t.Errorf("ImageMissing(%s) = %v;\nwant %s", tt.name, err, tt.want)
			}
		})
	}
}

// TestChooseTarget_fixtures chooses the target of the host fixture roots
// built from the real trixie and trixie-backports packages, and of the one
// with an empty /boot.
func TestChooseTarget_fixtures(t *testing.T) {
	tests := []struct {
		root        string
		wantPackage string
		wantImage   bool
		packagesOK  bool
		reason      string // part of CheckPackages' detail, or of ImageMissing's error
	}{
		{"trixie_backports", "linux-image-" + rel734, true, true, "linux-base-" + rel734 + ", linux-binary-" + rel734 + ", linux-modules-" + rel734 + " are installed (ii)"},
		{"trixie_backports_unpacked", "linux-image-" + rel734, false, false, "is not there yet, and dpkg has not finished installing the kernel: package linux-image-" + rel734 + " 7.3.4-1~bpo13+1 is unpacked (iU)"},
		{"initrd_dracut_writing", "linux-image-" + rel734, true, true, "are installed (ii)"},
		{"boot_unmounted", "linux-image-" + rel51, false, true, "is /boot mounted?"},
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			f, err := host.Gather(fixtureRoot(tt.root))
			if err != nil {
				t.Fatal(err)
			}
			c, ok := ChooseTarget(f)
			if !ok || c.Package.Name != tt.wantPackage || c.Files.HasImage != tt.wantImage {
				t.Fatalf("ChooseTarget(testdata/%s) = %s (image %t), %t; want %s (image %t)", tt.root, c.Package.Name, c.Files.HasImage, ok, tt.wantPackage, tt.wantImage)
			}
			detail, pkgOK := c.CheckPackages()
			if pkgOK != tt.packagesOK {
				t.Errorf("CheckPackages(testdata/%s) = %q, %t; want %t", tt.root, detail, pkgOK, tt.packagesOK)
			}
			text := detail
			if err := c.ImageMissing(); err != nil {
				text = err.Error()
			}
			if !strings.Contains(text, tt.reason) {
				t.Errorf("testdata/%s: %q; want it to say %q", tt.root, text, tt.reason)
			}
		})
	}
}

func TestNewness(t *testing.T) {
	running := host.Running{Release: rel50, Build: build50}
	tests := []struct {
		name     string
		release  string
		build    string
		rebuilds bool
		want     bool
		why      string
	}{
		{"newer_release", rel51, build51, true, true, "release " + rel51 + " is newer than the running " + rel50},
		{"older_release", "6.1.0-49-cloud-amd64", "#1", true, false, "the running kernel " + rel50 + " is newer than every installed one"},
		{"same_build", rel50, build50, true, false, rel50 + " is running already"},
		{"unreadable_build", rel50, "", true, false, rel50 + " is running already"},
		{"rebuild", rel50, "#1 SMP PREEMPT_DYNAMIC Debian 6.1.171-1 (2026-05-20)", true, true,
			`same release rebuilt: the image's build "#1 SMP PREEMPT_DYNAMIC Debian 6.1.171-1 (2026-05-20)" differs from the running "` + build50 + `"`},
		{"rebuild_not_wanted", rel50, "#2", false, false, rel50 + ` was rebuilt ("#2"), but rebuilds = false`},
		{"newer_release_regardless_of_rebuilds", rel51, build51, false, true, "release " + rel51 + " is newer than the running " + rel50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := Target{Candidate: Candidate{Release: tt.release}, Build: tt.build}
			got, why := Newness(target, running, tt.rebuilds)
			if got != tt.want || why != tt.why {
				t.Errorf("Newness(%s %q, rebuilds=%t) = %t, %q; want %t, %q", tt.release, tt.build, tt.rebuilds, got, why, tt.want, tt.why)
			}
		})
	}
}
