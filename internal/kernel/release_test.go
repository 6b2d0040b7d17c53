package kernel

import (
	"bufio"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestCompareReleases(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"abi_number_numeric", "6.1.0-9-amd64", "6.1.0-10-amd64", -1},
		{"cloud_abi_number", "6.1.0-50-cloud-amd64", "6.1.0-51-cloud-amd64", -1},
		{"ubuntu_abi_number", "6.8.0-49-generic", "6.8.0-50-generic", -1},
		{"rc_before_release", "6.1-rc7", "6.1", -1},
		{"rc_before_next_rc", "6.1-rc7", "6.1-rc8", -1},
		{"rc_before_end_of_string", "6.1.0-rc1-amd64", "6.1.0", -1},
		{"trunk_before_release", "6.1.0-trunk-amd64", "6.1.0-1-amd64", -1},
		{"rc_before_trunk", "6.1.0-rc1", "6.1.0-trunk", -1},
		{"end_before_hyphen", "6.1.0", "6.1.0-1-amd64", -1},
		{"hyphen_before_dot", "6.1.0-1-amd64", "6.1.0.1", -1},
		{"major_numeric", "6.10.0-1-amd64", "6.9.0-1-amd64", 1},
		{"flavour_bytewise", "6.1.0-51-amd64", "6.1.0-51-cloud-amd64", -1},
		{"unsigned_after_signed", "6.1.0-51-amd64-unsigned", "6.1.0-51-amd64", 1},
		{"backport_plus", "6.12.12+bpo-amd64", "6.12.12-amd64", -1},
		{"equal", "6.1.0-50-cloud-amd64", "6.1.0-50-cloud-amd64", 0},
		{"leading_zeros_equal", "6.01.0", "6.1.0", 0},
		{"empty_before_anything", "", "0", -1},
		{"both_empty", "", "", 0},
		{"rc_before_empty", "-rc", "", -1},
		{"huge_numbers_exact", "6.1.0-100000000000000000000", "6.1.0-99999999999999999999", 1},
		// linux-version gives a tilde no meaning: 1.0 < 1.0~x, unlike dpkg.
		{"tilde_not_special", "1.0~x", "1.0", 1},
		// Release names of Debian 12 and 13, their backports and forky
		// (every upload from 6.12 on is a new release name).
		{"bookworm_6_1_before_bookworm_backports_6_12", "6.1.0-50-cloud-amd64", "6.12.95+deb12-cloud-amd64", -1},
		{"bookworm_6_1_abi_before_6_12", "6.1.0-57-cloud-amd64", "6.12.43+deb12-cloud-amd64", -1},
		{"upload_number_numeric", "6.12.95+deb12-cloud-amd64", "6.12.117+deb12-cloud-amd64", -1},
		{"deb12_before_deb13_same_upstream", "6.12.117+deb12-cloud-amd64", "6.12.117+deb13-cloud-amd64", -1},
		{"trixie_uploads", "6.12.117+deb13-cloud-amd64", "6.12.118+deb13-cloud-amd64", -1},
		{"deb12_before_deb12_1", "6.12.90+deb12-cloud-amd64", "6.12.90+deb12.1-cloud-amd64", -1},
		{"deb12_1_before_deb13", "6.12.90+deb12.1-cloud-amd64", "6.12.90+deb13-cloud-amd64", -1},
		{"deb13_before_deb13_1", "6.12.90+deb13-cloud-amd64", "6.12.90+deb13.1-cloud-amd64", -1},
		{"deb13_1_before_next_upload", "6.12.90+deb13.1-cloud-amd64", "6.12.94+deb13-cloud-amd64", -1},
		{"rt_flavour_before_point_upload", "6.12.90+deb12-rt-amd64", "6.12.90+deb12.1-amd64", -1},
		{"meta_line_before_its_uploads", "6.12-cloud-amd64", "6.12.43+deb12-cloud-amd64", -1},
		{"6_x_before_7_x", "6.12.118+deb13-cloud-amd64", "7.3.4+deb13-cloud-amd64", -1},
		{"6_19_before_7_0", "6.19.14+deb13-cloud-amd64", "7.0.4+deb13-cloud-amd64", -1},
		{"backports_minor_numeric", "7.2.12+deb13-cloud-amd64", "7.3.4+deb13-cloud-amd64", -1},
		{"forky_deb14_before_newer_backport", "7.2.12+deb14-cloud-amd64", "7.3.4+deb13-cloud-amd64", -1},
		{"same_upload_deb13_before_deb14", "7.2.12+deb13-cloud-amd64", "7.2.12+deb14-cloud-amd64", -1},
		{"flavour_bytewise_7x", "7.3.4+deb13-amd64", "7.3.4+deb13-cloud-amd64", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CompareReleases(tt.a, tt.b); got != tt.want {
				t.Errorf("CompareReleases(%q, %q) = %d; want %d", tt.a, tt.b, got, tt.want)
			}
			if got := CompareReleases(tt.b, tt.a); got != -tt.want {
				t.Errorf("CompareReleases(%q, %q) = %d; want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestSortReleases(t *testing.T) {
	got := []string{
		"6.1.0-10-amd64", "6.1", "6.1.0-9-amd64", "6.1-rc7",
		"6.1.0-51-cloud-amd64", "5.10.0-33-amd64", "6.1.0-50-cloud-amd64",
	}
	want := []string{
		"5.10.0-33-amd64", "6.1-rc7", "6.1", "6.1.0-9-amd64",
		"6.1.0-10-amd64", "6.1.0-50-cloud-amd64", "6.1.0-51-cloud-amd64",
	}
	SortReleases(got)
	if !slices.Equal(got, want) {
		t.Errorf("SortReleases = %q; want %q", got, want)
	}
}

func TestVersionCompare(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "6.1.176-1", "6.1.176-1", 0},
		{"debian_kernel_update", "6.1.176-1", "6.1.192-2", -1},
		{"security_suffix", "6.1.123-1", "6.1.123-1+deb12u1", -1},
		{"tilde_before_release", "1.0~x", "1.0", -1},
		{"tilde_rc", "1.0~rc1", "1.0", -1},
		{"double_tilde", "1.0~~", "1.0~~a", -1},
		{"tilde_then_letter", "1.0~~a", "1.0~", -1},
		{"backport_before_release", "1.0-1~bpo12+1", "1.0-1", -1},
		{"revision_after_none", "1.0", "1.0-1", -1},
		{"zero_revision_equal", "1.0", "1.0-0", 0},
		{"letter_before_punctuation", "1.0a", "1.0+", -1},
		{"plus_before_dot", "1.0+", "1.0.", -1},
		{"digits_numeric", "10", "9", 1},
		{"leading_zeros", "1.01", "1.1", 0},
		{"epoch_wins", "1:0.1", "2.0", 1},
		{"zero_epoch_equal", "0:1.0", "1.0", 0},
		{"epoch_numeric", "10:1", "9:1", 1},
		{"hyphen_in_upstream", "1.0-rc1-2", "1.0-rc1-10", -1},
		{"empty_vs_zero", "", "0", 0},
		{"bad_epoch_is_upstream", "a:1", "1", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VersionCompare(tt.a, tt.b); got != tt.want {
				t.Errorf("VersionCompare(%q, %q) = %d; want %d", tt.a, tt.b, got, tt.want)
			}
			if got := VersionCompare(tt.b, tt.a); got != -tt.want {
				t.Errorf("VersionCompare(%q, %q) = %d; want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

// readReleases reads testdata/releases.txt without its comments.
func readReleases(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("testdata/releases.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			rs = append(rs, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rs
}

// linuxVersion finds "linux-version" (package linux-base, which `make deps`
// installs). Without it the test is skipped, except in CI (CI=true), where
// it fails: there the comparison must run.
func linuxVersion(t *testing.T) string {
	t.Helper()
	tool, err := exec.LookPath("linux-version")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("linux-version (package linux-base) is not installed, and CI=true: install linux-base (make deps)")
		}
		t.Skip("linux-version (package linux-base) is not installed")
	}
	return tool
}

// TestCompareReleasesLinuxVersion checks SortReleases against the real
// "linux-version sort" (package linux-base).
func TestCompareReleasesLinuxVersion(t *testing.T) {
	tool := linuxVersion(t)
	releases := readReleases(t)
	reversed := slices.Clone(releases)
	slices.Reverse(reversed)
	interleaved := make([]string, 0, len(releases))
	for i := 0; i < len(releases); i += 2 {
		interleaved = append(interleaved, releases[i])
	}
	for i := 1; i < len(releases); i += 2 {
		interleaved = append(interleaved, releases[i])
	}
	for name, input := range map[string][]string{"file_order": releases, "reversed": reversed, "interleaved": interleaved} {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(tool, append([]string{"sort"}, input...)...).Output()
			if err != nil {
				t.Fatalf("linux-version sort: %v", err)
			}
			want := strings.Fields(string(out))
			got := slices.Clone(input)
			SortReleases(got)
			if !slices.Equal(got, want) {
				t.Errorf("SortReleases = %q;\nlinux-version sort = %q", got, want)
			}
		})
	}
}

// TestVersionCompareDpkg checks VersionCompare against
// "dpkg --compare-versions" when dpkg is installed.
func TestVersionCompareDpkg(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		t.Skip("dpkg is not installed")
	}
	versions := []string{
		"1.0", "1.0~rc1", "1.0~~", "1.0~~a", "1.0~", "1.0-1", "1.0-0.1", "1.0a", "1.0+b1",
		"1.0.1", "1:0.1", "2:0", "6.1.176-1", "6.1.192-2", "6.1.123-1+deb12u1",
		"6.1.123-1~bpo11+1", "4.12.1~deb12u1", "4.12", "1.10", "1.9", "0.0.0", "1.0-a", "1.0-A",
	}
	sorted := slices.Clone(versions)
	slices.SortFunc(sorted, VersionCompare)
	for i := 0; i+1 < len(sorted); i++ {
		a, b := sorted[i], sorted[i+1]
		op := "lt"
		if VersionCompare(a, b) == 0 {
			op = "eq"
		}
		if err := exec.Command(dpkg, "--compare-versions", a, op, b).Run(); err != nil {
			t.Errorf("VersionCompare puts %q before %q, but dpkg --compare-versions %s %s %s: %v", a, b, a, op, b, err)
		}
	}
}

// checkOrder checks that cmp behaves as a total preorder on a, b and c.
func checkOrder(t *testing.T, name string, cmp func(a, b string) int, a, b, c string) {
	t.Helper()
	for _, x := range []string{a, b, c} {
		if got := cmp(x, x); got != 0 {
			t.Fatalf("%s(%q, %q) = %d; want 0", name, x, x, got)
		}
	}
	pairs := [][2]string{{a, b}, {b, c}, {a, c}}
	for _, p := range pairs {
		ab, ba := cmp(p[0], p[1]), cmp(p[1], p[0])
		if ab < -1 || ab > 1 {
			t.Fatalf("%s(%q, %q) = %d; want -1, 0 or 1", name, p[0], p[1], ab)
		}
		if ab != -ba {
			t.Fatalf("%s(%q, %q) = %d but %s(%q, %q) = %d", name, p[0], p[1], ab, name, p[1], p[0], ba)
		}
	}
	xs := []string{a, b, c}
	for _, x := range xs {
		for _, y := range xs {
			for _, z := range xs {
				xy, yz, xz := cmp(x, y), cmp(y, z), cmp(x, z)
				if xy <= 0 && yz <= 0 && xz > 0 {
					t.Fatalf("%s: %q <= %q <= %q but %s(%q, %q) = %d", name, x, y, z, name, x, z, xz)
				}
				if (xy < 0 && yz <= 0 || xy <= 0 && yz < 0) && xz >= 0 {
					t.Fatalf("%s: %q < %q <= %q (or <= <) but %s(%q, %q) = %d", name, x, y, z, name, x, z, xz)
				}
			}
		}
	}
}

func FuzzCompareReleases(f *testing.F) {
	f.Add("6.1.0-9-amd64", "6.1.0-10-amd64", "6.1.0-50-cloud-amd64")
	f.Add("6.1-rc7", "6.1", "6.1.0-trunk-amd64")
	f.Add("1.0~x", "1.0", "1.0-")
	f.Add("", "-rc", "-trunk")
	f.Add("6.01", "6.1", "6.001.0")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, "CompareReleases", CompareReleases, a, b, c)
	})
}

func FuzzVersionCompare(f *testing.F) {
	f.Add("1.0~rc1", "1.0", "1:0.1")
	f.Add("6.1.123-1", "6.1.123-1+deb12u1", "6.1.123-1~bpo11+1")
	f.Add("a:1", ":1", "01:1-0")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		checkOrder(t, "VersionCompare", VersionCompare, a, b, c)
	})
}
