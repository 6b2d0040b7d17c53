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

// Guest names a kind of guest image: a Debian suite and where its new kernel comes from.
type Guest struct {
	// Suite is the Debian code name of the guest's release: bookworm or trixie.
	Suite string
	// Source is where the new kernel comes from: "main" (the suite with its -updates and
	// -security suites, like the old kernel) or "backports" (SUITE-backports).
	Source string
	// Boot is how the guest boots: "" by QEMU's direct kernel boot of the image's
	// old kernel; like a cloud image (amd64 only), "grub": SeaBIOS and GRUB from a
	// partitioned disk with /boot on its own partition, or "uefi": OVMF with Secure
	// Boot on (Microsoft's keys enrolled), shim and Debian's signed GRUB and kernels.
	Boot string
	// Arch is the guest's architecture: "" for amd64, or "arm64" (arm64.go).
	Arch string
}

// The guests of the suite's matrix. Every kernel is picked at run time (build-image.sh).
var (
	// Bookworm runs the second newest 6.1 kernel of bookworm; the new one is the newest.
	Bookworm = Guest{Suite: "bookworm", Source: "main"}
	// BookwormBackports runs the same 6.1 kernel; the new one is the newest 6.12+deb12 build
	// of bookworm-backports or bookworm-security (which carries that series beside 6.1).
	BookwormBackports = Guest{Suite: "bookworm", Source: "backports"}
	// Trixie runs the second newest 6.12 kernel of trixie; the new one is the newest.
	Trixie = Guest{Suite: "trixie", Source: "main"}
	// TrixieBackports runs the same 6.12 kernel; the new one is trixie-backports' newest (7.x).
	TrixieBackports = Guest{Suite: "trixie", Source: "backports"}
	// TrixieGRUB is Trixie booted through SeaBIOS and GRUB, /boot on its own partition.
	TrixieGRUB = Guest{Suite: "trixie", Source: "main", Boot: "grub"}
	// TrixieSecureBoot is Trixie booted through OVMF with Secure Boot, shim and GRUB.
	TrixieSecureBoot = Guest{Suite: "trixie", Source: "main", Boot: "uefi"}
)

// String names the guest as "bookworm", "trixie+backports" or "trixie/grub".
func (g Guest) String() string {
	name := g.Suite
	if g.Source != "" && g.Source != "main" {
		name += "+" + g.Source
	}
	if g.Boot != "" {
		name += "/" + g.Boot
	}
	if g.Arch != "" {
		name += "@" + g.Arch
	}
	return name
}

// buildArgs are build-image.sh's arguments for the guest's image.
func (g Guest) buildArgs() []string {
	boot := g.Boot
	if boot == "" {
		boot = "direct"
	}
	return []string{g.Suite, g.Source, g.arch(), boot}
}

// ParseGuest reads a guest's name as String writes it: "trixie", "trixie+backports",
// "trixie/grub".
func ParseGuest(s string) (Guest, error) {
	s, arch, hasArch := strings.Cut(s, "@")
	if hasArch && arch != "arm64" {
		return Guest{}, fmt.Errorf("guest %q: the architecture must be arm64 (or nothing: amd64)", s+"@"+arch)
	}
	s, boot, hasBoot := strings.Cut(s, "/")
	if hasBoot && boot != "grub" && boot != "uefi" {
		return Guest{}, fmt.Errorf("guest %q: the boot must be grub or uefi (or nothing: QEMU's direct kernel boot)", s+"/"+boot)
	}
	suite, source, ok := strings.Cut(s, "+")
	if !ok {
		source = "main"
	}
	if suite == "" || strings.Trim(suite, "abcdefghijklmnopqrstuvwxyz") != "" {
		return Guest{}, fmt.Errorf("guest %q: the suite must be a Debian code name such as bookworm or trixie", s)
	}
	if source != "main" && source != "backports" {
		return Guest{}, fmt.Errorf("guest %q: the kernel source must be main or backports", s)
	}
	return Guest{Suite: suite, Source: source, Boot: boot, Arch: arch}, nil
}

// KernelInfo describes one of the two kernel builds the suite uses.
type KernelInfo struct {
	// Package is the Debian package name, e.g. linux-image-6.1.0-55-cloud-amd64.
	Package string
	// Version is the package version, e.g. 6.1.192-1.
	Version string
	// Release is the kernel release as uname -r prints it, e.g. 6.1.0-55-cloud-amd64.
	Release string
	// Deb is the absolute path of the cached .deb file of Package.
	Deb string
	// Debs are the absolute paths of every .deb the guest needs to install the kernel:
	// Deb and, for a kernel from backports, its dependencies the image lacks (for the 7.x
	// packaging: linux-binary-R, linux-modules-R, linux-base-R and linux-base).
	Debs []string
}

// image is a built guest image: see build-image.sh for its layout.
type image struct {
	guest     Guest
	dir       string
	base      string
	kernel    string
	initrd    string
	key       string
	old, new  KernelInfo
	kexecDebs []string
	// metricsDebs are prometheus-node-exporter and what it needs that the image lacks.
	metricsDebs []string
	// systemdVersion is the guest's systemd package version.
	systemdVersion string
	// clockEpoch is the earliest wall-clock time the guest's systemd accepts: it moves
	// an earlier clock forward to this instant at boot.
	clockEpoch time.Time
	// rootUUID and bootUUID are the file systems' UUIDs of a GRUB guest.
	rootUUID, bootUUID string
}

// loadImage runs build-image.sh for the guest, which returns the cached image at once or
// builds it (serialised per suite by its lock, so parallel tests and processes share one
// build), and reads the image's manifest. The script's diagnostics go to the test's log
// directory.
func loadImage(t *testing.T, g Guest) *image {
	t.Helper()
	if g == (Guest{}) {
		g = Bookworm
	}
	script, err := filepath.Abs("build-image.sh")
	if err != nil {
		t.Fatalf("locate build-image.sh: %v", err)
	}
	logPath := filepath.Join(testLogDir(t), "image-build-"+strings.NewReplacer("+", "-", "/", "-").Replace(g.String())+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("open image build log: %v", err)
	}
	defer logFile.Close()
	var stdout bytes.Buffer
	cmd := exec.Command(script, g.buildArgs()...)
	cmd.Stdout = &stdout
	cmd.Stderr = logFile
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("build-image.sh: %v\n%s\nfull log: %s", err, tailFile(logPath, 40), logPath)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Logf("image %s: build took %v (log %s)", g, d.Round(time.Second), logPath)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dir := lines[len(lines)-1]
	img, err := readManifest(dir)
	if err != nil {
		t.Fatalf("read image from build-image.sh output %q: %v", dir, err)
	}
	if img.guest != g {
		t.Fatalf("build-image.sh %s %s returned an image of %s (%s)", g.Suite, g.Source, img.guest, dir)
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
	for _, name := range []string{"SUITE", "SOURCE", "OLD_RELEASE", "OLD_DEB", "NEW_RELEASE", "NEW_DEB", "NEW_DEBS", "KEXEC_DEBS", "METRICS_DEBS", "CLOCK_EPOCH"} {
		if vals[name] == "" {
			return nil, fmt.Errorf("manifest: %s is missing", name)
		}
	}
	epoch, err := strconv.ParseInt(vals["CLOCK_EPOCH"], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("manifest: CLOCK_EPOCH: %w", err)
	}
	img := &image{
		guest:          Guest{Suite: vals["SUITE"], Source: vals["SOURCE"], Boot: strings.TrimPrefix(vals["BOOT"], "direct"), Arch: strings.TrimPrefix(vals["ARCH"], "amd64")},
		rootUUID:       vals["ROOT_UUID"],
		bootUUID:       vals["BOOT_UUID"],
		systemdVersion: vals["SYSTEMD_VERSION"],
		clockEpoch:     time.Unix(epoch, 0).UTC(),
		dir:            dir,
		base:           filepath.Join(dir, "base.raw"),
		kernel:         filepath.Join(dir, "vmlinuz"),
		initrd:         filepath.Join(dir, "initrd"),
		key:            filepath.Join(dir, "id_ed25519"),
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
	for _, name := range strings.Fields(vals["NEW_DEBS"]) {
		img.new.Debs = append(img.new.Debs, filepath.Join(dir, "debs", "new", name))
	}
	img.old.Debs = []string{img.old.Deb}
	for _, name := range strings.Fields(vals["KEXEC_DEBS"]) {
		img.kexecDebs = append(img.kexecDebs, filepath.Join(dir, "debs", "kexec", name))
	}
	for _, name := range strings.Fields(vals["METRICS_DEBS"]) {
		img.metricsDebs = append(img.metricsDebs, filepath.Join(dir, "debs", "metrics", name))
	}
	files := []string{img.base, img.kernel, img.initrd, img.key, img.old.Deb, img.new.Deb}
	files = append(files, img.new.Debs...)
	files = append(files, img.kexecDebs...)
	for _, p := range append(files, img.metricsDebs...) {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("image file: %w", err)
		}
	}
	return img, nil
}

// OVMF's Secure Boot firmware and its variable store with Microsoft's keys enrolled and
// Secure Boot enabled, from Debian's ovmf package.
const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
)

// bootArgs returns QEMU's arguments for the guest's boot path: the image's old kernel
// booted directly, SeaBIOS (the default) for a GRUB guest, or OVMF with Secure Boot
// for a UEFI guest, whose variable store is copied to dir.
func (img *image) bootArgs(dir string) ([]string, error) {
	switch img.guest.Boot {
	case "grub":
		return nil, nil
	case "uefi":
		vars := filepath.Join(dir, "OVMF_VARS.fd")
		data, err := os.ReadFile(ovmfVars)
		if err != nil {
			return nil, fmt.Errorf("UEFI variable store (package ovmf): %w", err)
		}
		if err := os.WriteFile(vars, data, 0o644); err != nil {
			return nil, fmt.Errorf("copy the UEFI variable store: %w", err)
		}
		return []string{
			// Secure Boot's variable store is only writable from SMM.
			"-machine", "q35,smm=on",
			"-global", "driver=cfi.pflash01,property=secure,value=on",
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + ovmfCode,
			"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
		}, nil
	}
	return img.directBoot(), nil
}

// firmwareAllowance is the time a boot of the guest may take beyond BootTimeout: a GRUB
// guest adds SeaBIOS, GRUB and a second partition to wait for; a UEFI guest adds OVMF
// with SMM under TCG, shim and GRUB (4 min 20 s to KU-BOOTED measured on the loaded
// 2-core machine, against 1-4 min for a direct boot).
func (img *image) firmwareAllowance() time.Duration {
	switch img.guest.Boot {
	case "grub":
		return 2 * time.Minute
	case "uefi":
		return 5 * time.Minute
	}
	return 0
}

// directBoot returns QEMU's arguments that boot the image's old kernel directly.
func (img *image) directBoot() []string {
	return append(img.guest.machineArgs(),
		"-kernel", img.kernel, "-initrd", img.initrd,
		// net.ifnames=0: on trixie, udev renamed eth0 to ens2 a minute after
		// networkd had configured it and sshd had started, cutting the sessions.
		"-append", "root=/dev/vda rw console="+img.guest.console()+",115200 net.ifnames=0",
	)
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
