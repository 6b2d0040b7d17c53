package rebuild

import (
	"archive/tar"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// debGlob is where the VM suite's image builder keeps the newer of its two
// kernel packages.
const debGlob = "/var/tmp/kexec-upgrade-vm/images/*/debs/new/linux-image-*.deb"

// realDeb returns the kernel package to test Repack on: $KU_REBUILD_DEB or
// the first match of debGlob; the test is skipped when there is none.
func realDeb(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	if p := os.Getenv("KU_REBUILD_DEB"); p != "" {
		return p
	}
	matches, _ := filepath.Glob(debGlob)
	// The repack patches an LZ4 payload: Linux 6.1's. Later kernels in the
	// cache (6.12 and up) compress with zstd.
	for _, m := range matches {
		if strings.HasPrefix(filepath.Base(m), "linux-image-6.1.0-") {
			return m
		}
	}
	t.Skipf("no Linux 6.1 kernel package at %s and KU_REBUILD_DEB unset; the VM suite exercises the rebuild on the real package", debGlob)
	return ""
}

// output runs a command and returns its standard output.
func output(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

// debFile reads one file of a package's data archive.
func debFile(t *testing.T, deb, name string) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(output(t, "dpkg-deb", "--fsys-tarfile", deb)))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("%s has no %s", deb, name)
		}
		if err != nil {
			t.Fatalf("read data of %s: %v", deb, err)
		}
		if h.Name == name {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("read %s from %s: %v", name, deb, err)
			}
			return data
		}
	}
}

// controlFile reads one file of a package's control archive.
func controlFile(t *testing.T, deb, name string) []byte {
	t.Helper()
	dir := t.TempDir()
	output(t, "dpkg-deb", "-e", deb, dir)
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// diffLines returns the lines of a not in b and of b not in a, in order.
func diffLines(a, b []byte) (onlyA, onlyB []string) {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	in := func(s string, l []string) bool {
		for _, x := range l {
			if x == s {
				return true
			}
		}
		return false
	}
	for _, s := range la {
		if !in(s, lb) {
			onlyA = append(onlyA, s)
		}
	}
	for _, s := range lb {
		if !in(s, la) {
			onlyB = append(onlyB, s)
		}
	}
	return onlyA, onlyB
}

func TestRepackRealPackage(t *testing.T) {
	src := realDeb(t)
	if testing.Short() {
		t.Skip("repacking a kernel package takes a while; skipped with -short")
	}
	dst := t.TempDir()
	res, err := Repack(src, dst)
	if err != nil {
		t.Fatalf("Repack: %v", err)
	}
	t.Logf("%+v", res)

	if res.Package != "linux-image-"+res.Release || res.NewVersion != res.OldVersion+"+rebuild1" {
		t.Errorf("Result %+v: package or version inconsistent", res)
	}
	if want := filepath.Join(dst, res.Package+"_"+res.NewVersion+"_amd64.deb"); res.Path != want {
		t.Errorf("Path = %q; want %q", res.Path, want)
	}
	if err := exec.Command("dpkg", "--compare-versions", res.NewVersion, "gt", res.OldVersion).Run(); err != nil {
		t.Errorf("dpkg does not sort %s after %s: %v", res.NewVersion, res.OldVersion, err)
	}
	fields := strings.Fields(string(output(t, "dpkg-deb", "-f", res.Path, "Package", "Version")))
	if want := []string{"Package:", res.Package, "Version:", res.NewVersion}; strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("dpkg-deb -f = %q; want %q", fields, want)
	}
	if info := output(t, "dpkg-deb", "-I", res.Path); !bytes.Contains(info, []byte("Version: "+res.NewVersion+"\n")) {
		t.Errorf("dpkg-deb -I lacks Version: %s:\n%s", res.NewVersion, info)
	}

	// The file list is the same: names, modes, owners, sizes, times.
	oldList, newList := output(t, "dpkg-deb", "-c", src), output(t, "dpkg-deb", "-c", res.Path)
	image := "./boot/vmlinuz-" + res.Release
	if !bytes.Contains(newList, []byte(" "+image+"\n")) {
		t.Errorf("dpkg-deb -c of the new package lacks %s", image)
	}
	if a, b := diffLines(oldList, newList); len(a)+len(b) > 0 {
		t.Errorf("file lists differ:\nonly in the original: %q\nonly in the rebuild: %q", a, b)
	}

	// The control file differs in Version only, md5sums in vmlinuz only.
	a, b := diffLines(controlFile(t, src, "control"), controlFile(t, res.Path, "control"))
	if strings.Join(a, "|") != "Version: "+res.OldVersion || strings.Join(b, "|") != "Version: "+res.NewVersion {
		t.Errorf("control files differ in %q and %q; want the Version only", a, b)
	}
	oldImage, newImage := debFile(t, src, image), debFile(t, res.Path, image)
	sum := md5.Sum(newImage)
	a, b = diffLines(controlFile(t, src, "md5sums"), controlFile(t, res.Path, "md5sums"))
	if want := hex.EncodeToString(sum[:]) + "  " + image[2:]; len(a) != 1 || len(b) != 1 || b[0] != want {
		t.Errorf("md5sums differ in %q and %q; want only %q", a, b, want)
	}

	im, err := kernel.ParseImage(newImage)
	if err != nil {
		t.Fatalf("ParseImage of the new vmlinuz: %v", err)
	}
	if im.Build != res.NewBuild || im.Release != res.Release || !im.Signed {
		t.Errorf("new vmlinuz: release %q build %q signed %v; want %q %q, signed", im.Release, im.Build, im.Signed, res.Release, res.NewBuild)
	}
	n := checkPatched(t, oldImage, newImage, res.OldBuild, res.NewBuild)
	t.Logf("build string %q -> %q, %d copies in the decompressed kernel", res.OldBuild, res.NewBuild, n)
	if n < 2 {
		t.Errorf("%d copies of the build string in the decompressed kernel; want linux_banner and init_uts_ns", n)
	}
	d, _, _ := decodePayload(t, newImage)
	if banner := "Linux version " + res.Release + " ("; !bytes.Contains(d, []byte(banner)) ||
		!bytes.Contains(d, []byte(") "+res.NewBuild+"\n")) {
		t.Errorf("decompressed kernel lacks a linux_banner ending in %q", res.NewBuild)
	}
}

func TestRepackErrors(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	dir := t.TempDir()
	notDeb := filepath.Join(dir, "x.deb")
	if err := os.WriteFile(notDeb, []byte("not a package"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{filepath.Join(dir, "missing.deb"), notDeb} {
		if _, err := Repack(src, dir); err == nil || !strings.Contains(err.Error(), src) {
			t.Errorf("Repack(%s) error = %v; want one naming the file", src, err)
		}
	}
}

func TestControlEdits(t *testing.T) {
	control := []byte("Package: linux-image-x\nVersion: 6.1.192-2\nDescription: a\n Version: not a field\n")
	f := controlFields(control)
	if f["Package"] != "linux-image-x" || f["Version"] != "6.1.192-2" {
		t.Errorf("controlFields = %v", f)
	}
	got, err := setVersion(control, "6.1.192-2+rebuild1")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(string(control), "Version: 6.1.192-2\n", "Version: 6.1.192-2+rebuild1\n", 1); string(got) != want {
		t.Errorf("setVersion = %q; want %q", got, want)
	}
	if _, err := setVersion([]byte("Package: x\n"), "1"); err == nil {
		t.Errorf("setVersion without a Version field succeeded")
	}

	dir := t.TempDir()
	sums := filepath.Join(dir, "md5sums")
	orig := "0123456789abcdef0123456789abcdef  boot/config-x\nffffffffffffffffffffffffffffffff  boot/vmlinuz-x\n"
	if err := os.WriteFile(sums, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := replaceMD5(sums, "boot/vmlinuz-x", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(sums)
	if want := strings.Replace(orig, "ffffffffffffffffffffffffffffffff", "900150983cd24fb0d6963f7d28e17f72", 1); string(got) != want {
		t.Errorf("md5sums = %q; want %q", got, want)
	}
	if err := replaceMD5(sums, "boot/vmlinuz-y", nil); err == nil {
		t.Errorf("replaceMD5 of a missing entry succeeded")
	}
}
