package rebuild

import (
	"archive/tar"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// VersionSuffix is appended to the package version of a rebuild; dpkg
// sorts the result after the original.
const VersionSuffix = "+rebuild1"

// Result describes a package written by Repack.
type Result struct {
	// Package is the binary package name, e.g.
	// "linux-image-6.1.0-56-cloud-amd64".
	Package string
	// Release is the kernel release ("uname -r"), the same in both
	// packages.
	Release string
	// OldVersion and NewVersion are the package versions, e.g.
	// "6.1.192-2" and "6.1.192-2+rebuild1".
	OldVersion string
	NewVersion string
	// OldBuild and NewBuild are the build strings ("uname -v") of the
	// original and of the patched kernel.
	OldBuild string
	NewBuild string
	// Path is the new .deb file.
	Path string
}

// Repack writes to dstDir a rebuild of the linux-image package srcDeb:
// the same package with version VersionSuffix appended, its
// boot/vmlinuz-<release> replaced by PatchImage's output (same size, mode
// and time), and the vmlinuz line of DEBIAN/md5sums updated; every other
// file is left as it is. The file is named <package>_<version>_<arch>.deb
// (without an epoch) and is replaced if it exists. File modes, owners
// (root) and times are kept, so dpkg-deb -c lists the same entries. It
// runs dpkg-deb -R, dpkg-deb -b (gzip -1: fast, larger than the original)
// and dpkg --compare-versions, and uses a temporary directory of about
// the package's installed size.
func Repack(srcDeb, dstDir string) (Result, error) {
	return repackWith(srcDeb, dstDir, PatchImage)
}

// RepackHeaderOnly is Repack with PatchHeader: a package whose image shows a
// new build in its header but, booted, runs the old one. For tests that
// must never boot it (a signed image that no longer matches its signature).
func RepackHeaderOnly(srcDeb, dstDir string) (Result, error) {
	return repackWith(srcDeb, dstDir, PatchHeader)
}

// repackWith is Repack with the given image patch.
func repackWith(srcDeb, dstDir string, patch func([]byte) ([]byte, string, string, error)) (Result, error) {
	work, err := os.MkdirTemp("", "kexec-upgrade-rebuild-")
	if err != nil {
		return Result{}, fmt.Errorf("repack %s: %w", srcDeb, err)
	}
	defer os.RemoveAll(work)
	res, err := repack(srcDeb, dstDir, work, patch)
	if err != nil {
		return Result{}, fmt.Errorf("repack %s: %w", srcDeb, err)
	}
	return res, nil
}

// repack does the work of Repack in the scratch directory work.
func repack(srcDeb, dstDir, work string, patch func([]byte) ([]byte, string, string, error)) (Result, error) {
	root := filepath.Join(work, "root")
	if err := run("dpkg-deb", "-R", srcDeb, root); err != nil {
		return Result{}, err
	}
	topTime, err := rootTime(srcDeb)
	if err != nil {
		return Result{}, err
	}
	// dpkg-deb -b wants the control directory no more open than 0775.
	if err := os.Chmod(filepath.Join(root, "DEBIAN"), 0o755); err != nil {
		return Result{}, fmt.Errorf("control directory: %w", err)
	}

	controlPath := filepath.Join(root, "DEBIAN", "control")
	control, err := os.ReadFile(controlPath)
	if err != nil {
		return Result{}, fmt.Errorf("read control file: %w", err)
	}
	fields := controlFields(control)
	res := Result{Package: fields["Package"], OldVersion: fields["Version"]}
	arch := fields["Architecture"]
	if res.Package == "" || res.OldVersion == "" || arch == "" {
		return Result{}, fmt.Errorf("control file lacks Package, Version or Architecture: %q", control)
	}
	res.NewVersion = res.OldVersion + VersionSuffix
	if err := run("dpkg", "--compare-versions", res.NewVersion, "gt", res.OldVersion); err != nil {
		return Result{}, fmt.Errorf("version %s does not sort after %s: %w", res.NewVersion, res.OldVersion, err)
	}

	images, err := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if err != nil {
		return Result{}, fmt.Errorf("find kernel image: %w", err)
	}
	if len(images) != 1 {
		return Result{}, fmt.Errorf("package holds %d boot/vmlinuz-* files, want 1: %q", len(images), images)
	}
	imagePath := images[0]
	res.Release = strings.TrimPrefix(filepath.Base(imagePath), "vmlinuz-")

	info, err := os.Stat(imagePath)
	if err != nil {
		return Result{}, fmt.Errorf("kernel image: %w", err)
	}
	image, err := os.ReadFile(imagePath)
	if err != nil {
		return Result{}, fmt.Errorf("read kernel image: %w", err)
	}
	hdr, err := kernel.ParseHeader(image)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", imagePath, err)
	}
	if hdr.Release != res.Release {
		return Result{}, fmt.Errorf("%s has release %q", imagePath, hdr.Release)
	}
	patched, oldBuild, newBuild, err := patch(image)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", imagePath, err)
	}
	res.OldBuild, res.NewBuild = oldBuild, newBuild
	if err := os.WriteFile(imagePath, patched, info.Mode().Perm()); err != nil {
		return Result{}, fmt.Errorf("write kernel image: %w", err)
	}
	if err := os.Chtimes(imagePath, info.ModTime(), info.ModTime()); err != nil {
		return Result{}, fmt.Errorf("kernel image time: %w", err)
	}

	rel := "boot/vmlinuz-" + res.Release
	if err := replaceMD5(filepath.Join(root, "DEBIAN", "md5sums"), rel, patched); err != nil {
		return Result{}, err
	}
	newControl, err := setVersion(control, res.NewVersion)
	if err != nil {
		return Result{}, err
	}
	if err := os.WriteFile(controlPath, newControl, 0o644); err != nil {
		return Result{}, fmt.Errorf("write control file: %w", err)
	}

	if err := os.MkdirAll(dstDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("output directory: %w", err)
	}
	fileVersion := res.NewVersion
	if i := strings.IndexByte(fileVersion, ':'); i >= 0 {
		fileVersion = fileVersion[i+1:]
	}
	res.Path = filepath.Join(dstDir, res.Package+"_"+fileVersion+"_"+arch+".deb")
	// dpkg-deb -R keeps the times of everything but the top directory,
	// which the extraction itself changes.
	if err := os.Chtimes(root, topTime, topTime); err != nil {
		return Result{}, fmt.Errorf("package root time: %w", err)
	}
	// gzip -1: the package is a test fixture, built on every run.
	if err := run("dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "-b", root, res.Path); err != nil {
		return Result{}, err
	}
	return res, nil
}

// rootTime returns the modification time of the top directory ("./") in
// the data archive of a package.
func rootTime(deb string) (time.Time, error) {
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return time.Time{}, fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w", deb, err)
	}
	if err := cmd.Start(); err != nil {
		return time.Time{}, fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w", deb, err)
	}
	var mtime time.Time
	h, herr := tar.NewReader(pipe).Next()
	if herr == nil {
		mtime = h.ModTime
		if h.Name != "./" || h.Typeflag != tar.TypeDir {
			herr = fmt.Errorf("first entry is %q, not the directory \"./\"", h.Name)
		}
	}
	_, cerr := io.Copy(io.Discard, pipe) // let dpkg-deb finish normally
	werr := cmd.Wait()
	switch {
	case werr != nil:
		return time.Time{}, fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w: %s", deb, werr, strings.TrimSpace(stderr.String()))
	case herr != nil:
		return time.Time{}, fmt.Errorf("data archive of %s: %w", deb, herr)
	case cerr != nil:
		return time.Time{}, fmt.Errorf("data archive of %s: %w", deb, cerr)
	}
	return mtime, nil
}

// run runs a command and returns an error holding its output if it fails.
func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 2000 {
			msg = msg[:2000] + "..."
		}
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, msg)
	}
	return nil
}

// controlFields returns the single-line fields of a binary package's
// control file.
func controlFields(control []byte) map[string]string {
	fields := make(map[string]string)
	for _, line := range strings.Split(string(control), "\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields
}

// setVersion replaces the value of the Version field of a control file.
func setVersion(control []byte, version string) ([]byte, error) {
	lines := bytes.Split(control, []byte("\n"))
	found := 0
	for i, line := range lines {
		if bytes.HasPrefix(line, []byte("Version:")) {
			lines[i] = []byte("Version: " + version)
			found++
		}
	}
	if found != 1 {
		return nil, fmt.Errorf("control file has %d Version fields", found)
	}
	return bytes.Join(lines, []byte("\n")), nil
}

// replaceMD5 sets the checksum of the file rel in an md5sums file
// ("<md5>  <path>" lines) to that of data.
func replaceMD5(path, rel string, data []byte) error {
	sums, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read md5sums: %w", err)
	}
	sum := md5.Sum(data)
	lines := bytes.Split(sums, []byte("\n"))
	found := 0
	for i, line := range lines {
		hash, name, ok := bytes.Cut(line, []byte("  "))
		if ok && string(name) == rel && len(hash) == 32 {
			lines[i] = []byte(hex.EncodeToString(sum[:]) + "  " + rel)
			found++
		}
	}
	if found != 1 {
		return fmt.Errorf("md5sums has %d lines for %s, want 1", found, rel)
	}
	if err := os.WriteFile(path, bytes.Join(lines, []byte("\n")), 0o644); err != nil {
		return fmt.Errorf("write md5sums: %w", err)
	}
	return nil
}
