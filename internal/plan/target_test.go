package plan

import (
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

func TestChooseTarget(t *testing.T) {
	tests := []struct {
		name     string
		packages []host.Package
		boot     map[string]host.BootFiles
		want     string // package name; "" for none
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := ChooseTarget(host.Facts{Packages: tt.packages, Boot: tt.boot})
			got := ""
			if ok {
				got = c.Package.Name
				if c.Release != c.Package.Release() || c.Files != tt.boot[c.Release] {
					t.Errorf("ChooseTarget(%s) = release %q files %+v; want the package's release and its /boot files", tt.name, c.Release, c.Files)
				}
			}
			if got != tt.want {
				t.Errorf("ChooseTarget(%s) = %q; want %q", tt.name, got, tt.want)
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
