package host

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// stanza renders a dpkg status stanza for a package.
func stanza(name, version, status string) string {
	return fmt.Sprintf("Package: %s\nStatus: %s\nPriority: optional\nSection: kernel\nArchitecture: amd64\nVersion: %s\nDescription: Linux for tests\n Long description,\n .\n over continuation lines.\n", name, status, version)
}

func TestParseStatus(t *testing.T) {
	ii := "install ok installed"
	tests := []struct {
		name    string
		data    string
		want    []Package
		wantErr string
	}{
		{
			name: "empty",
			data: "",
		},
		{
			name: "one_image",
			data: stanza("linux-image-6.1.0-51-cloud-amd64", "6.1.176-1", ii),
			want: []Package{{Name: "linux-image-6.1.0-51-cloud-amd64", Version: "6.1.176-1", Arch: "amd64", Want: "install", Flag: "ok", State: "installed"}},
		},
		{
			name: "non_kernel_packages_skipped",
			data: stanza("bash", "5.2", ii) + "\n" + stanza("linux-headers-6.1.0-51-cloud-amd64", "6.1.176-1", ii) + "\n" +
				stanza("linux-image-6.1.0-51-cloud-amd64", "6.1.176-1", ii) + "\n" + stanza("linux-base", "4.9", ii) + "\n" +
				stanza("linux-image-cloud-amd64", "6.1.176-1", "install ok installed") + "\n",
			want: []Package{
				{Name: "linux-image-6.1.0-51-cloud-amd64", Version: "6.1.176-1", Arch: "amd64", Want: "install", Flag: "ok", State: "installed"},
				{Name: "linux-image-cloud-amd64", Version: "6.1.176-1", Arch: "amd64", Want: "install", Flag: "ok", State: "installed"},
			},
		},
		{
			// The control fields of the real 7.3.4 packages from trixie-backports.
			name: "split_7x_packages",
			data: "Package: linux-base\nStatus: install ok installed\nVersion: 4.17~bpo13+1\nArchitecture: all\nDepends: debconf (>= 0.5) | debconf-2.0\n\n" +
				"Package: linux-binary-7.3.4+deb13-cloud-amd64\nStatus: install ok installed\nVersion: 7.3.4-1~bpo13+1\nArchitecture: amd64\n" +
				"Depends: linux-base-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1)\nBuilt-Using: linux (= 7.3.4-1~bpo13+1)\n\n" +
				"Package: linux-modules-7.3.4+deb13-cloud-amd64\nStatus: install ok unpacked\nVersion: 7.3.4-1~bpo13+1\nArchitecture: amd64\n" +
				"Depends: kmod, linux-base-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1)\n\n" +
				"Package: linux-image-7.3.4+deb13-cloud-amd64\nStatus: install ok unpacked\nVersion: 7.3.4-1~bpo13+1\nArchitecture: amd64\n" +
				"Pre-Depends: linux-base (>= 4.17~)\n" +
				"Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, linux-base-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1), linux-binary-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1), linux-modules-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1)\n\n" +
				"Package: linux-image-cloud-amd64\nStatus: install ok unpacked\nVersion: 7.3.4-1~bpo13+1\nArchitecture: amd64\n" +
				"Depends: linux-base-cloud-amd64 (= 7.3.4-1~bpo13+1), linux-image-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1), linux-modules-cloud-amd64 (= 7.3.4-1~bpo13+1)\n",
			want: []Package{
				{Name: "linux-binary-7.3.4+deb13-cloud-amd64", Version: "7.3.4-1~bpo13+1", Arch: "amd64", Want: "install", Flag: "ok", State: "installed",
					Requires: []string{"linux-base-7.3.4+deb13-cloud-amd64"}},
				{Name: "linux-modules-7.3.4+deb13-cloud-amd64", Version: "7.3.4-1~bpo13+1", Arch: "amd64", Want: "install", Flag: "ok", State: "unpacked",
					Requires: []string{"linux-base-7.3.4+deb13-cloud-amd64"}},
				{Name: "linux-image-7.3.4+deb13-cloud-amd64", Version: "7.3.4-1~bpo13+1", Arch: "amd64", Want: "install", Flag: "ok", State: "unpacked",
					Requires: []string{"linux-base-7.3.4+deb13-cloud-amd64", "linux-binary-7.3.4+deb13-cloud-amd64", "linux-modules-7.3.4+deb13-cloud-amd64"}},
				{Name: "linux-image-cloud-amd64", Version: "7.3.4-1~bpo13+1", Arch: "amd64", Want: "install", Flag: "ok", State: "unpacked",
					Requires: []string{"linux-base-cloud-amd64", "linux-modules-cloud-amd64"}},
			},
		},
		{
			name: "requires_qualifiers_and_duplicates",
			data: "Package: linux-image-7.3.4\nStatus: install ok installed\nPre-Depends: linux-binary-7.3.4:any\nDepends: linux-binary-7.3.4(=1), linux-image-7.3.4, linux-modules-7.3.4 | linux-binary-7.3.4\n",
			want: []Package{{Name: "linux-image-7.3.4", Want: "install", Flag: "ok", State: "installed", Requires: []string{"linux-binary-7.3.4"}}},
		},
		{
			name: "prefix_without_release_skipped",
			data: "Package: linux-image-\nStatus: install ok installed\n\n" + stanza("linux-base-6.16.3+deb13-cloud-amd64", "6.16.3-1~bpo13+1", ii),
			want: []Package{{Name: "linux-base-6.16.3+deb13-cloud-amd64", Version: "6.16.3-1~bpo13+1", Arch: "amd64", Want: "install", Flag: "ok", State: "installed"}},
		},
		{
			name: "broken_non_kernel_stanza_not_parsed",
			data: "Package: bash\nthis is not a field\nStatus: one two\n\n" + stanza("linux-image-6.1.0-51-cloud-amd64", "6.1.176-1", ii),
			want: []Package{{Name: "linux-image-6.1.0-51-cloud-amd64", Version: "6.1.176-1", Arch: "amd64", Want: "install", Flag: "ok", State: "installed"}},
		},
		{
			name: "package_field_not_first",
			data: "Status: deinstall ok config-files\nPackage: linux-image-6.1.0-49-cloud-amd64\nVersion: 6.1.164-1\n",
			want: []Package{{Name: "linux-image-6.1.0-49-cloud-amd64", Version: "6.1.164-1", Want: "deinstall", Flag: "ok", State: "config-files"}},
		},
		{
			name: "continuation_lines_look_like_fields",
			data: "Package: linux-image-6.1.0-51-cloud-amd64\nStatus: install ok unpacked\nDescription: x\n Package: linux-image-evil\n Status: install ok installed\n\tVersion: 9\nVersion: 6.1.176-1\n",
			want: []Package{{Name: "linux-image-6.1.0-51-cloud-amd64", Version: "6.1.176-1", Want: "install", Flag: "ok", State: "unpacked"}},
		},
		{
			name: "many_blank_lines_and_no_final_newline",
			data: "\n\n\n" + stanza("bash", "5.2", ii) + "\n\n\n\n" + "Package: linux-image-a\nStatus: hold reinstreq half-installed",
			want: []Package{{Name: "linux-image-a", Want: "hold", Flag: "reinstreq", State: "half-installed"}},
		},
		{
			name: "extra_spaces_in_status",
			data: "Package: linux-image-a\nStatus:   install  ok   installed  \n",
			want: []Package{{Name: "linux-image-a", Want: "install", Flag: "ok", State: "installed"}},
		},
		{
			name:    "missing_status",
			data:    "Package: bash\nStatus: install ok installed\n\nPackage: linux-image-a\nVersion: 1\n",
			wantErr: "line 4: package linux-image-a has no Status field",
		},
		{
			name:    "status_with_two_words",
			data:    "Package: linux-image-a\nStatus: install ok installed\n\n\nPackage: linux-image-b\nDescription: x\n y\nStatus: install ok\n",
			wantErr: `line 8: status "install ok" does not have three words`,
		},
		{
			name:    "line_without_colon",
			data:    "\nPackage: linux-image-a\nStatus: install ok installed\nbroken line\n",
			wantErr: `line 4: "broken line" is not a field`,
		},
		{
			name:    "duplicate_package_field",
			data:    "Package: linux-image-a\nStatus: install ok installed\nPackage: bash\n",
			wantErr: "line 3: duplicate Package field",
		},
		{
			name:    "duplicate_status_field",
			data:    "Package: linux-image-a\nStatus: install ok installed\nStatus: purge ok not-installed\n",
			wantErr: "line 3: duplicate Status field",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStatus([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseStatus(%s) error = %v; want %s", tt.name, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseStatus(%s) error: %v", tt.name, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseStatus(%s) = %+v; want %+v", tt.name, got, tt.want)
			}
		})
	}
}

func TestParseStatus_largeDatabase(t *testing.T) {
	var b strings.Builder
	for i := range 3000 {
		b.WriteString(stanza(fmt.Sprintf("lib%d", i), "1.0", "install ok installed"))
		b.WriteString("\n")
		if i%1000 == 999 {
			b.WriteString(stanza(fmt.Sprintf("linux-image-6.1.0-%d-amd64", i/1000), "1", "install ok installed"))
			b.WriteString("\n")
		}
	}
	got, err := ParseStatus([]byte(b.String()))
	if err != nil {
		t.Fatalf("ParseStatus(3000 packages): %v", err)
	}
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	want := []string{"linux-image-6.1.0-0-amd64", "linux-image-6.1.0-1-amd64", "linux-image-6.1.0-2-amd64"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("ParseStatus(3000 packages) = %q; want %q", names, want)
	}
}

func TestPackage(t *testing.T) {
	tests := []struct {
		name              string
		pkg               Package
		release           string
		abbrev            string
		installed, exists bool
	}{
		{"debian_signed", Package{Name: "linux-image-6.1.0-50-cloud-amd64", Want: "install", Flag: "ok", State: "installed"}, "6.1.0-50-cloud-amd64", "ii", true, true},
		{"debian_unsigned", Package{Name: "linux-image-6.1.0-50-cloud-amd64-unsigned", Want: "install", Flag: "ok", State: "unpacked"}, "6.1.0-50-cloud-amd64", "iU", false, true},
		{"ubuntu_unsigned", Package{Name: "linux-image-unsigned-6.8.0-50-generic", Want: "install", Flag: "ok", State: "half-configured"}, "6.8.0-50-generic", "iF", false, true},
		{"meta", Package{Name: "linux-image-amd64", Want: "install", Flag: "ok", State: "installed"}, "amd64", "ii", true, true},
		{"config_files", Package{Name: "linux-image-6.1.0-49-cloud-amd64", Want: "deinstall", Flag: "ok", State: "config-files"}, "6.1.0-49-cloud-amd64", "rc", false, false},
		{"purged", Package{Name: "linux-image-6.1.0-48-cloud-amd64", Want: "purge", Flag: "ok", State: "not-installed"}, "6.1.0-48-cloud-amd64", "pn", false, false},
		{"reinst_required", Package{Name: "linux-image-x", Want: "install", Flag: "reinstreq", State: "half-installed"}, "x", "iHR", false, true},
		{"hold", Package{Name: "linux-image-x", Want: "hold", Flag: "ok", State: "installed"}, "x", "hi", false, true},
		{"triggers", Package{Name: "linux-image-x", Want: "install", Flag: "ok", State: "triggers-pending"}, "x", "it", false, true},
		{"unknown_words", Package{Name: "linux-image-x", Want: "wibble", Flag: "ok", State: "wobble"}, "x", "??", false, true},
		{"binary_7x", Package{Name: "linux-binary-7.3.4+deb13-cloud-amd64", Want: "install", Flag: "ok", State: "installed"}, "7.3.4+deb13-cloud-amd64", "ii", true, true},
		{"modules_7x", Package{Name: "linux-modules-7.3.4+deb13-cloud-amd64", Want: "install", Flag: "ok", State: "unpacked"}, "7.3.4+deb13-cloud-amd64", "iU", false, true},
		{"base_7x", Package{Name: "linux-base-7.3.4+deb13-cloud-amd64", Want: "install", Flag: "ok", State: "half-installed"}, "7.3.4+deb13-cloud-amd64", "iH", false, true},
		{"linux_base_tools", Package{Name: "linux-base", Want: "install", Flag: "ok", State: "installed"}, "", "ii", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.pkg.Release(); got != tt.release {
				t.Errorf("Release(%s) = %q; want %q", tt.pkg.Name, got, tt.release)
			}
			if got := tt.pkg.StatusAbbrev(); got != tt.abbrev {
				t.Errorf("StatusAbbrev(%s %s %s) = %q; want %q", tt.pkg.Want, tt.pkg.Flag, tt.pkg.State, got, tt.abbrev)
			}
			if got := tt.pkg.Installed(); got != tt.installed {
				t.Errorf("Installed(%s) = %t; want %t", tt.abbrev, got, tt.installed)
			}
			if got := tt.pkg.Present(); got != tt.exists {
				t.Errorf("Present(%s) = %t; want %t", tt.abbrev, got, tt.exists)
			}

		})
	}
}

func TestPackageIsImage(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"linux-image-7.3.4+deb13-cloud-amd64", true},
		{"linux-image-6.1.0-50-cloud-amd64-unsigned", true},
		{"linux-image-unsigned-6.8.0-50-generic", true},
		{"linux-image-cloud-amd64", true},
		{"linux-binary-7.3.4+deb13-cloud-amd64", false},
		{"linux-modules-7.3.4+deb13-cloud-amd64", false},
		{"linux-base-7.3.4+deb13-cloud-amd64", false},
		{"linux-headers-7.3.4+deb13-cloud-amd64", false},
	}
	for _, tt := range tests {
		t.Run(strings.NewReplacer(".", "_", "+", "_", "-", "_").Replace(tt.name), func(t *testing.T) {
			if got := (Package{Name: tt.name}).IsImage(); got != tt.want {
				t.Errorf("IsImage(%s) = %t; want %t", tt.name, got, tt.want)
			}
		})
	}
}

// writeDpkg writes a status file and updates/ journal entries under a new root.
func writeDpkg(t *testing.T, status string, updates map[string]string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "var/lib/dpkg/updates")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, data := range updates {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// abbrevs summarizes packages as "name abbrev[*]" (* for pending).
func abbrevs(pkgs []Package) []string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = strings.TrimPrefix(p.Name, "linux-image-") + " " + p.StatusAbbrev() + " " + p.Version
		if p.Pending {
			out[i] += "*"
		}
	}
	return out
}

func TestReadPackages_updatesJournal(t *testing.T) {
	status := stanza("linux-image-50", "1", "install ok installed") + "\n" +
		stanza("linux-image-51", "2", "install ok unpacked") + "\n" +
		stanza("bash", "5", "install ok installed")
	tests := []struct {
		name    string
		updates map[string]string
		want    []string
	}{
		{
			name: "no_journal",
			want: []string{"50 ii 1", "51 iU 2"},
		},
		{
			name:    "journal_overrides_status",
			updates: map[string]string{"0000": stanza("linux-image-51", "2", "install ok half-configured")},
			want:    []string{"50 ii 1", "51 iF 2*"},
		},
		{
			name: "later_entry_wins_in_numeric_order",
			updates: map[string]string{
				"9":  stanza("linux-image-51", "2", "install ok half-configured"),
				"10": stanza("linux-image-51", "2", "install ok installed"),
			},
			want: []string{"50 ii 1", "51 ii 2*"},
		},
		{
			name:    "new_package_only_in_journal",
			updates: map[string]string{"0003": stanza("linux-image-52", "3", "install ok half-installed")},
			want:    []string{"50 ii 1", "51 iU 2", "52 iH 3*"},
		},
		{
			name: "torn_and_temporary_files_ignored",
			updates: map[string]string{
				"0001":  "Package: linux-image-50\nStatus: install ok",
				"tmp.i": stanza("linux-image-50", "9", "purge ok not-installed"),
				"0002":  stanza("bash", "6", "install ok unpacked"),
			},
			want: []string{"50 ii 1", "51 iU 2"},
		},
		{
			name:    "removal_in_progress",
			updates: map[string]string{"0000": stanza("linux-image-50", "1", "deinstall ok half-configured")},
			want:    []string{"50 rF 1*", "51 iU 2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeDpkg(t, status, tt.updates)
			pkgs, err := readPackages(root)
			if err != nil {
				t.Fatalf("readPackages(%s): %v", tt.name, err)
			}
			if got := abbrevs(pkgs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("readPackages(%s) = %q; want %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestReadPackages_errors(t *testing.T) {
	t.Run("corrupt_status", func(t *testing.T) {
		root := writeDpkg(t, "Package: linux-image-a\n", nil)
		_, err := readPackages(root)
		if want := "parse /var/lib/dpkg/status: line 1: package linux-image-a has no Status field"; err == nil || err.Error() != want {
			t.Errorf("readPackages(corrupt) error = %v; want %s", err, want)
		}
	})
	t.Run("updates_not_a_directory", func(t *testing.T) {
		root := writeDpkg(t, "", nil)
		dir := filepath.Join(root, "var/lib/dpkg/updates")
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := readPackages(root)
		if err == nil || !strings.HasPrefix(err.Error(), "read dpkg updates: ") {
			t.Errorf("readPackages(updates is a file) error = %v; want read dpkg updates: …", err)
		}
	})
	t.Run("missing_updates_is_fine", func(t *testing.T) {
		root := writeDpkg(t, stanza("linux-image-a", "1", "install ok installed"), nil)
		if err := os.Remove(filepath.Join(root, "var/lib/dpkg/updates")); err != nil {
			t.Fatal(err)
		}
		pkgs, err := readPackages(root)
		if err != nil || len(pkgs) != 1 {
			t.Errorf("readPackages(no updates/) = %d packages, %v; want 1, nil", len(pkgs), err)
		}
	})
}
