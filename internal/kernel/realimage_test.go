package kernel_test

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// The real-image tests read what .ci/fetch-kernels downloads (`make unit`
// runs it first): the newest cloud kernel packages of bookworm,
// bookworm-backports, trixie and trixie-backports, picked at run time, and
// arm64 cloud kernels of bookworm, trixie and trixie-backports (unless
// KU_REAL_KERNELS_ARM64=0).
// Outside CI they are skipped when the cache is missing; with CI=true they
// fail instead.

// realKernelsDir is .ci/fetch-kernels' cache: $KU_REAL_KERNELS, by default
// /var/tmp/kexec-upgrade-vm/real-kernels.
func realKernelsDir() string {
	if dir := os.Getenv("KU_REAL_KERNELS"); dir != "" {
		return dir
	}
	return "/var/tmp/kexec-upgrade-vm/real-kernels"
}

// missing skips the test, or fails it in CI.
func missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%v, and CI=true: run .ci/fetch-kernels first (make unit does)", err)
	}
	t.Skipf("%v (run .ci/fetch-kernels)", err)
}

// realPackage is a line of the cache's manifest.tsv.
type realPackage struct {
	group, pkg, version, arch, release string
	// imagePackage ships the image at imagePath (relative to the root);
	// dir is its directory under pkg/ (DEBIAN/ holds its control files).
	imagePackage, imagePath, dir string
}

func readManifest(t testing.TB) []realPackage {
	t.Helper()
	path := filepath.Join(realKernelsDir(), "manifest.tsv")
	f, err := os.Open(path)
	if err != nil {
		missing(t, err)
	}
	defer f.Close()
	var pkgs []realPackage
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 8 {
			t.Fatalf("%s:%d: %d fields; want 8", path, n, len(fields))
		}
		if n == 1 {
			continue // the header
		}
		pkgs = append(pkgs, realPackage{fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6], fields[7]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// TestRealImages checks every kernel image the fetch step downloaded: it
// parses with the release, build string, signature and exact size its
// package says; its CRC32 is checked when the release is older than 6.15
// and absent (zeros) from 6.15 on; its MD5 matches what the package's
// md5sums list (read through host.ImageDigest, as on a host); and a copy cut
// short or with one byte flipped is refused — by ParseImage, or for a
// kernel without a CRC by the MD5.
func TestRealImages(t *testing.T) {
	pkgs := readManifest(t)
	groups := make(map[string]bool)
	for _, p := range pkgs {
		groups[p.group] = true
	}
	arm64Groups := make(map[string]bool)
	for _, p := range pkgs {
		if p.arch == "arm64" {
			arm64Groups[p.group] = true
		}
	}
	for _, g := range []string{"bookworm", "bookworm-backports", "trixie", "trixie-backports"} {
		if !groups[g] {
			t.Errorf("manifest has no package of %s; want the newest cloud kernel of each suite", g)
		}
	}
	if os.Getenv("KU_REAL_KERNELS_ARM64") != "0" {
		for _, g := range []string{"bookworm", "trixie", "trixie-backports"} {
			if !arm64Groups[g] {
				t.Errorf("manifest has no arm64 package of %s; want one (run .ci/fetch-kernels, or set KU_REAL_KERNELS_ARM64=0)", g)
			}
		}
	}
	for _, p := range pkgs {
		t.Run(p.pkg+"_"+p.arch, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(realKernelsDir(), "pkg", p.dir, p.imagePath))
			if err != nil {
				t.Fatalf("%v (the cache is incomplete: run .ci/fetch-kernels)", err)
			}
			digest := packageDigest(t, p)
			if err := digest.Verify(md5.Sum(data)); err != nil {
				t.Fatalf("Verify(%s): %v", p.imagePath, err)
			}
			t.Logf("%s %s: %s from %s, %d bytes, md5 %s", p.group, p.release, digest.Path, digest.Package, len(data), digest.MD5)
			switch p.arch {
			case "amd64":
				im := checkImage(t, p, data)
				checkDamage(t, p, data, im, digest)
			case "arm64":
				im := checkArm64Image(t, p, data)
				checkArm64Damage(t, p, data, im, digest)
			default:
				t.Fatalf("%s: architecture %s has no image checks", p.pkg, p.arch)
			}
		})
	}
}

// packageDigest installs the package's md5sums in a fake root and asks
// host.ImageDigest for the image, as a run on a host does.
func packageDigest(t *testing.T, p realPackage) host.Digest {
	t.Helper()
	sums, err := os.ReadFile(filepath.Join(realKernelsDir(), "pkg", p.dir, "DEBIAN", "md5sums"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	info := filepath.Join(root, "var/lib/dpkg/info")
	if err := os.MkdirAll(info, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(info, p.imagePackage+".md5sums"), sums, 0o644); err != nil {
		t.Fatal(err)
	}
	installed := []host.Package{
		{Name: p.pkg, Version: p.version, Arch: p.arch, Want: "install", Flag: "ok", State: "installed"},
		{Name: p.imagePackage, Version: p.version, Arch: p.arch, Want: "install", Flag: "ok", State: "installed"},
	}
	d, found, err := host.ImageDigest(root, p.release, installed)
	if err != nil || !found {
		t.Fatalf("ImageDigest(%s) = %+v, %t, %v; want the entry of %s", p.release, d, found, err, p.imagePath)
	}
	if d.Package != p.imagePackage || d.Path != "/"+p.imagePath {
		t.Fatalf("ImageDigest(%s) = %+v; want %s's /%s", p.release, d, p.imagePackage, p.imagePath)
	}
	return d
}

// checkImage parses a real amd64 image and checks what it says against its
// package.
func checkImage(t *testing.T, p realPackage, data []byte) kernel.Image {
	t.Helper()
	im, err := kernel.ParseImage(data)
	if err != nil {
		t.Fatalf("ParseImage(%s %s): %v", p.pkg, p.version, err)
	}
	wantSigned := !strings.HasSuffix(p.pkg, "-unsigned")
	// Measured on the packages: the build tool's CRC32 is gone from 6.15 on
	// (zeros in its place); the comparison is linux-version's, not the
	// parser's rule.
	wantCRC := kernel.CompareReleases(p.release, "6.15") < 0
	stored := binary.LittleEndian.Uint32(data[im.Base()-4:])
	switch {
	case im.Size != int64(len(data)) || im.Release != p.release:
		t.Errorf("ParseImage(%s) = size %d, release %q; want %d, %q", p.pkg, im.Size, im.Release, len(data), p.release)
	case !strings.Contains(im.Build, " Debian "+p.version+" "):
		t.Errorf("ParseImage(%s).Build = %q; want it to name Debian %s", p.pkg, im.Build, p.version)
	case im.Signed != wantSigned:
		t.Errorf("ParseImage(%s).Signed = %t; want %t", p.pkg, im.Signed, wantSigned)
	case im.NoCRC == wantCRC || (im.Checks&kernel.CheckCRC32 != 0) != wantCRC:
		t.Errorf("ParseImage(%s) = NoCRC %t, checks %s; want a CRC32 checked = %t", p.pkg, im.NoCRC, im.Checks, wantCRC)
	case !wantCRC && stored != 0:
		t.Errorf("%s: 0x%08x where the CRC32 was; want zeros (Linux ≥ 6.15)", p.pkg, stored)
	case im.Checks&kernel.CheckSize == 0 || wantSigned != (im.Checks&kernel.CheckSignatureTable != 0):
		t.Errorf("ParseImage(%s).Checks = %s; want size checked and the signature table when signed", p.pkg, im.Checks)
	case im.Tail != 0 && (kernel.CompareReleases(p.release, "6.17") < 0 || kernel.CompareReleases(p.release, "6.19") >= 0):
		// Measured: 6.17.13 and 6.18.15 have 442048 and 438464 bytes (the
		// decompressor's .modinfo) between the payload and the signature;
		// 6.16.12, 6.19.14 and 7.x have none.
		t.Errorf("ParseImage(%s).Tail = %d; only Linux 6.17 and 6.18 images have one", p.pkg, im.Tail)
	}
	hdr, err := kernel.ParseHeader(data[:kernel.HeaderBytes(data)])
	if err != nil || hdr.Release != im.Release || hdr.Build != im.Build {
		t.Errorf("ParseHeader(%s, %d bytes) = %q, %q, %v; want %q, %q", p.pkg, kernel.HeaderBytes(data), hdr.Release, hdr.Build, err, im.Release, im.Build)
	}
	t.Logf("%s: %s, setup %d + payload %d bytes, tail %d, signed %t; checks %s; %s; cmdline max %d",
		p.pkg, im.Version, im.SetupSize(), im.PayloadSize, im.Tail, im.Signed, im.Checks, im.CRCStatus(), im.CmdlineMax)
	return im
}

// checkDamage refuses copies of a real image cut short or with one byte
// flipped.
func checkDamage(t *testing.T, p realPackage, data []byte, im kernel.Image, digest host.Digest) {
	t.Helper()
	flipped := slices.Clone(data)
	flipped[im.SetupSize()+im.PayloadSize/2] ^= 0x10
	tests := []struct {
		name    string
		data    []byte
		wantErr error // from ParseImage; nil: it cannot tell
	}{
		{"cut_by_one_byte", data[:len(data)-1], kernel.ErrTruncated},
		{"cut_to_300000_bytes", data[:300000], kernel.ErrTruncated},
		{"cut_in_the_payload", data[:im.Base()-4096], kernel.ErrTruncated},
		{"payload_byte_flipped", flipped, kernel.ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.wantErr
			if want == kernel.ErrChecksum && im.NoCRC {
				want = nil // no CRC: only the MD5 below can tell
			}
			if _, err := kernel.ParseImage(tt.data); !errors.Is(err, want) {
				t.Errorf("ParseImage(%s, %s) error = %v; want %v", p.pkg, tt.name, err, want)
			}
			if err := digest.Verify(md5.Sum(tt.data)); !errors.Is(err, host.ErrDigestMismatch) {
				t.Errorf("Verify(%s, %s) = %v; want ErrDigestMismatch", p.pkg, tt.name, err)
			}
		})
	}
}

// TestCompareReleasesArchive sorts every linux-image release name the
// archive's lists hold (releases.txt of .ci/fetch-kernels: bookworm and
// trixie with their updates, security and backports suites, and forky)
// with SortReleases and with "linux-version sort", and wants the same order.
func TestCompareReleasesArchive(t *testing.T) {
	path := filepath.Join(realKernelsDir(), "releases.txt")
	data, err := os.ReadFile(path)
	if err != nil {
		missing(t, err)
	}
	tool, err := exec.LookPath("linux-version")
	if err != nil {
		missing(t, errors.New("linux-version (package linux-base) is not installed"))
	}
	releases := strings.Fields(string(data))
	if len(releases) < 10 {
		t.Fatalf("%s has %d releases; want the archive's (hundreds)", path, len(releases))
	}
	input := slices.Clone(releases)
	slices.Reverse(input)
	out, err := exec.Command(tool, append([]string{"sort"}, input...)...).Output()
	if err != nil {
		t.Fatalf("linux-version sort: %v", err)
	}
	want := strings.Fields(string(out))
	got := slices.Clone(input)
	kernel.SortReleases(got)
	if len(got) != len(want) {
		t.Fatalf("linux-version sort printed %d releases for %d", len(want), len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("SortReleases of %d archive releases differs from linux-version sort at %d: %q; want %q",
				len(input), i, got[i:min(i+3, len(got))], want[i:min(i+3, len(want))])
		}
	}
	t.Logf("%d release names from %s sort as linux-version sorts them", len(releases), path)
}
