// Package host reads facts about the machine under a root directory ("/" on
// a real host, a fixture tree in tests); its only effects are reads and the
// read-only lock probe of dpkg's lock files.
package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Running describes the kernel that is running now.
type Running struct {
	Release string // uname -r
	Build   string // uname -v
	Cmdline string // /proc/cmdline without the trailing newline
	BootID  string
	// LoaderType is byte 0x210 of the boot parameters (0xD0 after a kexec),
	// or -1 when /sys/kernel/boot_params/data cannot be read.
	LoaderType int
}

// LoaderKexec is the boot loader type the kernel's kexec code writes.
const LoaderKexec = 0xD0

// Kexec describes whether this host can kexec at all.
type Kexec struct {
	// LoadDisabled is kernel.kexec_load_disabled = 1.
	LoadDisabled bool
	// Lockdown is the active lockdown mode: "none", "integrity",
	// "confidentiality", or "" when the kernel has no lockdown LSM.
	Lockdown string
	// Loaded is /sys/kernel/kexec_loaded = 1: a kernel is staged now.
	Loaded bool
	// Unsupported is true when the kernel has no kexec at all (no
	// /sys/kernel/kexec_loaded: built without CONFIG_KEXEC_CORE).
	Unsupported bool `json:",omitempty"`
	// CapSysBoot reports whether this process has CAP_SYS_BOOT.
	CapSysBoot bool
	// ToolsInitScript is kexec-tools' /etc/init.d/kexec, which may kexec
	// into a staged kernel at any shutdown.
	ToolsInitScript bool
}

// BootFiles are the files of one release in /boot.
type BootFiles struct {
	Image, Initrd string // absolute paths on the host
	HasImage      bool
	HasInitrd     bool
	// InitrdPending reports that an initramfs generator is writing the
	// initrd: /boot/initrd.img-R.new exists (update-initramfs), or a dracut
	// process runs for this release (dracut writes initrd.img-R in place).
	InitrdPending bool
	// InitrdWriter says which, in a sentence for the refusal; "" when
	// InitrdPending is false.
	InitrdWriter string `json:",omitempty"`
}

// Facts are everything a run reads about the host, gathered once.
type Facts struct {
	Running  Running
	Packages []Package
	// Boot maps every release with a vmlinuz in /boot to its files.
	Boot   map[string]BootFiles
	Kexec  Kexec
	Uptime time.Duration
	// Platform is how the machine boots: firmware, Secure Boot, GRUB.
	Platform Platform
	// MachineID is /etc/machine-id without its newline, "" when unreadable;
	// it places the host in a window's spread and names it to FleetLock.
	MachineID string
	// Packaged maps the release of every image package with files on disk
	// (or pending dpkg changes) to the kernel image dpkg's md5sums list for
	// it (ImageDigest); a meta package's "release" lists none, and so is
	// missing, as is a release whose md5sums cannot be read (ImageDigest
	// says why). It tells a kernel package from a meta package even when
	// /boot is empty.
	Packaged map[string]Digest `json:",omitempty"`
}

// Gather reads the facts under root. It fails only when something essential
// (the running kernel, dpkg's database, /boot) cannot be read.
func Gather(root string) (Facts, error) {
	var f Facts
	var err error
	if f.Running, err = ReadRunning(root); err != nil {
		return f, err
	}
	if f.Packages, err = readPackages(root); err != nil {
		return f, err
	}
	if f.Boot, err = readBoot(root); err != nil {
		return f, err
	}
	f.Packaged = readPackaged(root, f.Packages)
	f.Kexec = readKexec(root)
	if up, err := readFile(root, "proc/uptime"); err == nil {
		f.Uptime = parseUptime(up)
	}
	f.MachineID, _ = readFile(root, "etc/machine-id")
	f.Platform = ReadPlatform(root)
	return f, nil
}

// ReadRunning reads the running kernel's identity.
func ReadRunning(root string) (Running, error) {
	r := Running{LoaderType: -1}
	var err error
	if r.Release, err = readFile(root, "proc/sys/kernel/osrelease"); err != nil {
		return r, fmt.Errorf("running kernel release: %w", err)
	}
	if r.Build, err = readFile(root, "proc/sys/kernel/version"); err != nil {
		return r, fmt.Errorf("running kernel build: %w", err)
	}
	if r.Cmdline, err = readFile(root, "proc/cmdline"); err != nil {
		return r, fmt.Errorf("running kernel command line: %w", err)
	}
	if r.BootID, err = readFile(root, "proc/sys/kernel/random/boot_id"); err != nil {
		return r, fmt.Errorf("boot id: %w", err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "sys/kernel/boot_params/data")); err == nil && len(data) > 0x210 {
		r.LoaderType = int(data[0x210])
	}
	return r, nil
}

func readFile(root, rel string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(data), "\n"), nil
}

func readBoot(root string) (map[string]BootFiles, error) {
	entries, err := os.ReadDir(filepath.Join(root, "boot"))
	if err != nil {
		return nil, fmt.Errorf("read /boot: %w", err)
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
	}
	dracut := readDracutProcs(root)
	boot := make(map[string]BootFiles)
	for name := range names {
		release, ok := strings.CutPrefix(name, "vmlinuz-")
		if !ok || release == "" {
			continue
		}
		writer, pending := initrdWriter(release, names["initrd.img-"+release+".new"], dracut)
		boot[release] = BootFiles{
			Image:         "/boot/" + name,
			Initrd:        "/boot/initrd.img-" + release,
			HasImage:      true,
			HasInitrd:     names["initrd.img-"+release],
			InitrdPending: pending,
			InitrdWriter:  writer,
		}
	}
	return boot, nil
}

// readPackaged looks up, for the release of every image package that has
// files on disk or pending changes, the kernel image dpkg records. Lookup
// errors leave the release out (see Facts.Packaged).
func readPackaged(root string, pkgs []Package) map[string]Digest {
	packaged := make(map[string]Digest)
	looked := make(map[string]bool)
	for _, p := range pkgs {
		release := p.Release()
		if looked[release] || !p.IsImage() || !p.Present() && !p.Pending {
			continue
		}
		looked[release] = true
		if d, found, err := ImageDigest(root, release, pkgs); err == nil && found {
			packaged[release] = d
		}
	}
	return packaged
}

func readKexec(root string) Kexec {
	var k Kexec
	if s, err := readFile(root, "proc/sys/kernel/kexec_load_disabled"); err == nil {
		k.LoadDisabled = strings.TrimSpace(s) == "1"
	}
	if s, err := readFile(root, "sys/kernel/security/lockdown"); err == nil {
		k.Lockdown = ParseLockdown(s)
	}
	if s, err := readFile(root, "sys/kernel/kexec_loaded"); err == nil {
		k.Loaded = strings.TrimSpace(s) == "1"
	} else if errors.Is(err, fs.ErrNotExist) {
		k.Unsupported = true
	}
	if s, err := readFile(root, "proc/self/status"); err == nil {
		k.CapSysBoot = hasCapability(s, capSysBoot)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/init.d/kexec")); err == nil {
		k.ToolsInitScript = true
	}
	return k
}

// ParseLockdown returns the bracketed mode of /sys/kernel/security/lockdown
// ("none [integrity] confidentiality" → "integrity").
func ParseLockdown(s string) string {
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "[") && strings.HasSuffix(f, "]") {
			return strings.Trim(f, "[]")
		}
	}
	return ""
}

const capSysBoot = 22

// hasCapability reads CapEff from /proc/self/status.
func hasCapability(status string, bit uint) bool {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<bit) != 0
		}
	}
	return false
}

// parseUptime reads the first field of /proc/uptime, seconds with two
// decimals ("1209600.35"), exactly: a float would make 4.02 s 4.019999999 s.
// Anything else, including a value beyond a Duration, is 0.
func parseUptime(s string) time.Duration {
	first, _, _ := strings.Cut(strings.TrimSpace(s), " ")
	whole, frac, _ := strings.Cut(first, ".")
	if whole == "" || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" {
		return 0
	}
	d, err := time.ParseDuration(first + "s")
	if err != nil {
		return 0
	}
	return d
}

// ReadImage reads a kernel image named by an absolute host path.
func ReadImage(root, path string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		return nil, fmt.Errorf("read kernel image: %w", err)
	}
	return data, nil
}

// ImageID identifies a file's content cheaply (without reading it), so a
// check result can be cached until dpkg replaces the file.
type ImageID struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	Inode uint64 `json:"inode"`
	MTime int64  `json:"mtime_ns"`
	CTime int64  `json:"ctime_ns"`
}

// StatImage returns the identity of the file at an absolute host path.
func StatImage(root, path string) (ImageID, error) {
	fi, err := os.Stat(filepath.Join(root, path))
	if err != nil {
		return ImageID{}, err
	}
	id := ImageID{Path: path, Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
	if st, ok := statT(fi); ok {
		id.Inode = st.ino
		id.CTime = st.ctime
	}
	return id, nil
}

// Exists reports whether an absolute host path exists under root.
func Exists(root, path string) bool {
	_, err := os.Lstat(filepath.Join(root, path))
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}
