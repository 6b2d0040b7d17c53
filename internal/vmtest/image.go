//go:build vm

package vmtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// KernelInfo describes one of the two kernel builds the suite uses.
type KernelInfo struct {
	// Package is the Debian package name, e.g. linux-image-6.1.0-55-cloud-amd64.
	Package string
	// Version is the package version, e.g. 6.1.192-1.
	Version string
	// Release is the kernel release as uname -r prints it, e.g. 6.1.0-55-cloud-amd64.
	Release string
	// Deb is the absolute path of the cached .deb file.
	Deb string
}

// image is a built guest image: see build-image.sh for its layout.
type image struct {
	dir       string
	base      string
	kernel    string
	initrd    string
	key       string
	old, new  KernelInfo
	kexecDebs []string
	// metricsDebs are prometheus-node-exporter and what it needs that the image lacks.
	metricsDebs []string
	// clockEpoch is the earliest wall-clock time the guest's systemd accepts: it moves
	// an earlier clock forward to this instant at boot.
	clockEpoch time.Time
}

// loadImage runs build-image.sh, which returns the cached image at once or builds it
// (serialised by its lock, so parallel tests and processes share one build), and reads
// the image's manifest. The script's diagnostics go to the test's log directory.
func loadImage(t *testing.T) *image {
	t.Helper()
	script, err := filepath.Abs("build-image.sh")
	if err != nil {
		t.Fatalf("locate build-image.sh: %v", err)
	}
	logPath := filepath.Join(testLogDir(t), "image-build.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("open image build log: %v", err)
	}
	defer logFile.Close()
	var stdout bytes.Buffer
	cmd := exec.Command(script)
	cmd.Stdout = &stdout
	cmd.Stderr = logFile
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("build-image.sh: %v\n%s\nfull log: %s", err, tailFile(logPath, 40), logPath)
	}
	if d := time.Since(start); d > time.Minute {
		t.Logf("image build took %v (log %s)", d.Round(time.Second), logPath)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dir := lines[len(lines)-1]
	img, err := readManifest(dir)
	if err != nil {
		t.Fatalf("read image from build-image.sh output %q: %v", dir, err)
	}
	return img
}

// readManifest reads dir/manifest.env, written by build-image.sh as NAME=value lines.
func readManifest(dir string) (*image, error) {
	f, err := os.Open(filepath.Join(dir, "manifest.env"))
	if err != nil {
		return nil, fmt.Errorf("open manifest: %w", err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		vals[name] = strings.Trim(val, `"`)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	for _, name := range []string{"OLD_RELEASE", "OLD_DEB", "NEW_RELEASE", "NEW_DEB", "KEXEC_DEBS", "METRICS_DEBS", "CLOCK_EPOCH"} {
		if vals[name] == "" {
			return nil, fmt.Errorf("manifest: %s is missing", name)
		}
	}
	epoch, err := strconv.ParseInt(vals["CLOCK_EPOCH"], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("manifest: CLOCK_EPOCH: %w", err)
	}
	img := &image{
		clockEpoch: time.Unix(epoch, 0).UTC(),
		dir:        dir,
		base:       filepath.Join(dir, "base.raw"),
		kernel:     filepath.Join(dir, "vmlinuz"),
		initrd:     filepath.Join(dir, "initrd"),
		key:        filepath.Join(dir, "id_ed25519"),
		old: KernelInfo{
			Package: vals["OLD_PACKAGE"],
			Version: vals["OLD_VERSION"],
			Release: vals["OLD_RELEASE"],
			Deb:     filepath.Join(dir, vals["OLD_DEB"]),
		},
		new: KernelInfo{
			Package: vals["NEW_PACKAGE"],
			Version: vals["NEW_VERSION"],
			Release: vals["NEW_RELEASE"],
			Deb:     filepath.Join(dir, vals["NEW_DEB"]),
		},
	}
	for _, name := range strings.Fields(vals["KEXEC_DEBS"]) {
		img.kexecDebs = append(img.kexecDebs, filepath.Join(dir, "debs", "kexec", name))
	}
	for _, name := range strings.Fields(vals["METRICS_DEBS"]) {
		img.metricsDebs = append(img.metricsDebs, filepath.Join(dir, "debs", "metrics", name))
	}
	files := []string{img.base, img.kernel, img.initrd, img.key, img.old.Deb, img.new.Deb}
	files = append(files, img.kexecDebs...)
	for _, p := range append(files, img.metricsDebs...) {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("image file: %w", err)
		}
	}
	return img, nil
}

// Kernels returns the kernel the image boots (old) and the newer build that scenarios
// install into a guest (new), with their cached .deb files. It builds the image if needed.
func Kernels(t *testing.T) (old, new KernelInfo) {
	t.Helper()
	img := loadImage(t)
	return img.old, img.new
}

// ClockEpoch returns the earliest wall-clock time a guest can have: systemd moves an
// earlier clock forward to its own build time at boot. Options.Clock must not be earlier.
func ClockEpoch(t *testing.T) time.Time {
	t.Helper()
	return loadImage(t).clockEpoch
}

// KexecToolsDebs returns the cached kexec-tools .deb and the .debs of the packages it
// needs that the image lacks: `dpkg -i` them together in a guest.
func KexecToolsDebs(t *testing.T) []string {
	t.Helper()
	return loadImage(t).kexecDebs
}

// tailFile returns the last n lines of a file, or a note why it could not be read.
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
