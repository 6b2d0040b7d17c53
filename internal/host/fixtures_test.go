package host

import (
	"bytes"
	"crypto/md5"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel/kerneltest"
)

// update rewrites the generated fixture files and the golden files:
// go test ./internal/host -update. Never edit either by hand.
var update = flag.Bool("update", false, "rewrite generated fixture files and golden files")

// Releases and builds the fixture roots use.
const (
	rel49 = "6.1.0-49-cloud-amd64"
	rel50 = "6.1.0-50-cloud-amd64"
	rel51 = "6.1.0-51-cloud-amd64"
	// build50 is what the fixtures' running 6.1.0-50 says in uname -v.
	build50 = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.170-1 (2026-05-02)"
	// build50rebuilt is the same ABI rebuilt by Debian (6.1.171-1).
	build50rebuilt = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.171-1 (2026-05-20)"
	build51        = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)"
	ubuntu49       = "6.8.0-49-generic"
	ubuntu50       = "6.8.0-50-generic"
	ubuntuBuild49  = "#49-Ubuntu SMP PREEMPT_DYNAMIC Mon Nov  4 02:06:24 UTC 2024"
	ubuntuBuild50  = "#51-Ubuntu SMP PREEMPT_DYNAMIC Sat Nov  9 17:58:29 UTC 2024"
)

// fixturePayload keeps the generated images at about 5 KiB (unsigned) and
// 6.5 KiB (signed).
const fixturePayload = 512

// loaderGRUB is GRUB 2's boot loader type byte (type 7, version 2).
const loaderGRUB = 0x72

// generated describes the binary files of one fixture root, which
// TestGenerateFixtures writes with -update and checks otherwise.
type generated struct {
	images map[string]kerneltest.Options // path relative to the root → image
	// loader is byte 0x210 of sys/kernel/boot_params/data; 0 writes no file.
	loader byte
	// md5sums are dpkg's var/lib/dpkg/info/<package>.md5sums files.
	md5sums map[string][]md5Line
	// procs are running processes: pid → the arguments in proc/<pid>/cmdline.
	procs map[int][]string
}

// md5Line is a line of an md5sums file: a path relative to the root, and
// its MD5 as the real package lists it, or "" for the MD5 of the generated
// file at that path.
type md5Line struct {
	path, md5 string
}

func signedImage(release, build string) kerneltest.Options {
	return kerneltest.Options{Release: release, Build: build, Signed: true, PayloadSize: fixturePayload}
}

func unsignedImage(release, build string) kerneltest.Options {
	return kerneltest.Options{Release: release, Build: build, PayloadSize: fixturePayload}
}

// fixtures lists every fixture root under testdata/ and its generated files.
// The text files (dpkg database, /proc, /sys) are written by hand.
var fixtures = map[string]generated{
	"debian_cloud": {loader: loaderGRUB, images: map[string]kerneltest.Options{
		"boot/vmlinuz-" + rel50: signedImage(rel50, build50),
		"boot/vmlinuz-" + rel51: signedImage(rel51, build51),
	}},
	"ubuntu_generic": {loader: loaderGRUB, images: map[string]kerneltest.Options{
		"boot/vmlinuz-" + ubuntu49: signedImage(ubuntu49, ubuntuBuild49),
		"boot/vmlinuz-" + ubuntu50: unsignedImage(ubuntu50, ubuntuBuild50),
	}},
	// The running kernel came up by a kexec (loader type 0xD0), and Debian
	// has since rebuilt it with the same ABI name.
	"same_release_rebuild": {loader: LoaderKexec, images: map[string]kerneltest.Options{
		"boot/vmlinuz-" + rel50: signedImage(rel50, build50rebuilt),
	}},
	"half_installed": {loader: loaderGRUB, images: map[string]kerneltest.Options{
		"boot/vmlinuz-" + rel50: signedImage(rel50, build50),
		"boot/vmlinuz-" + rel51: signedImage(rel51, build51),
	}},
	"truncated_image": {loader: loaderGRUB, images: map[string]kerneltest.Options{
		"boot/vmlinuz-" + rel50: signedImage(rel50, build50),
		"boot/vmlinuz-" + rel51: {Release: rel51, Build: build51, Signed: true, PayloadSize: fixturePayload, Truncate: 4200},
	}},
	"signed_image": {loader: loaderGRUB, images: map[string]kerneltest.Options{
		"boot/vmlinuz-" + rel50: signedImage(rel50, build50),
		"boot/vmlinuz-" + rel51: signedImage(rel51, build51),
	}},
	"unsigned_image": {loader: loaderGRUB, images: map[string]kerneltest.Options{
		"boot/vmlinuz-" + rel50: unsignedImage(rel50, build50),
		"boot/vmlinuz-" + rel51: unsignedImage(rel51, build51),
	}},
	"initrd_missing": {loader: loaderGRUB, images: map[string]kerneltest.Options{
		"boot/vmlinuz-" + rel50: signedImage(rel50, build50),
		"boot/vmlinuz-" + rel51: signedImage(rel51, build51),
	}},
	// No boot_params: an old kernel or a locked-down sysfs.
	"initrd_new_pending": {images: map[string]kerneltest.Options{
		"boot/vmlinuz-" + rel50: signedImage(rel50, build50),
		"boot/vmlinuz-" + rel51: signedImage(rel51, build51),
	}},
	// Defect 5 of issue 11: the kernels are installed, /boot is empty.
	"boot_unmounted": {loader: loaderGRUB, md5sums: map[string][]md5Line{
		"linux-image-" + rel50: classicMD5Sums(rel50, "5f1b7c3e9a2d4b6c8e0f1a3b5c7d9e2f"),
		"linux-image-" + rel51: classicMD5Sums(rel51, "8c2d4e6f0a1b3c5d7e9f2a4b6c8d0e1f"),
	}},
	"trixie_backports":          trixieBackports(true, nil),
	"trixie_backports_unpacked": trixieBackports(false, nil),
	"initrd_dracut_writing": trixieBackports(true, map[int][]string{
		1:     {"/sbin/init"},
		2718:  {"sleep", "60"},
		31337: {"/bin/bash", "/usr/bin/dracut", "-q", "--force", "/boot/initrd.img-" + rel734, rel734},
	}),
}

// Releases and builds of the trixie fixtures, from the real packages.
const (
	rel612   = "6.12.118+deb13-cloud-amd64"
	build612 = "#1 SMP PREEMPT_DYNAMIC Debian 6.12.118-1 (2026-11-20)"
	rel734   = "7.3.4+deb13-cloud-amd64"
	build734 = "#1 SMP PREEMPT_DYNAMIC Debian 7.3.4-1~bpo13+1 (2026-11-15)"
)

// classicMD5Sums are the first lines of a classic linux-image package's
// md5sums (the image in /boot), with the image's MD5 given.
func classicMD5Sums(release, imageMD5 string) []md5Line {
	return []md5Line{
		{"boot/System.map-" + release, "e0a6c09212a19ed48183a052eab847e7"},
		{"boot/config-" + release, "12189fe306337e47a0d2ea516b187053"},
		{"boot/vmlinuz-" + release, imageMD5},
		{"usr/lib/modules/" + release + "/kernel/drivers/block/virtio_blk.ko.xz", "0fa33f5f715f89aa1cfb39527963fa4b"},
	}
}

// trixieBackports is a trixie guest running 6.12.118 (classic packaging)
// with 7.3.4 from trixie-backports (the 7.x packaging: linux-binary-R ships
// /usr/lib/modules/R/vmlinuz, linux-base 4.17's hook puts /boot/vmlinuz-R
// in place when linux-image-R is configured). The md5sums hold the real
// packages' lines (a few of linux-modules-R's), the images' MD5s those of
// the generated images.
func trixieBackports(configured bool, procs map[int][]string) generated {
	img734 := kerneltest.Options{Release: rel734, Build: build734, Signed: true, NoCRC: true, PayloadSize: fixturePayload}
	g := generated{loader: loaderGRUB, procs: procs, images: map[string]kerneltest.Options{
		"boot/vmlinuz-" + rel612:                 signedImage(rel612, build612),
		"usr/lib/modules/" + rel734 + "/vmlinuz": img734,
	}, md5sums: map[string][]md5Line{
		"linux-image-" + rel612: classicMD5Sums(rel612, ""),
		"linux-image-" + rel734: {{"usr/share/lintian/overrides/linux-image-" + rel734, "a55430f08b7ee885384bc131113a28bd"}},
		"linux-binary-" + rel734: {
			{"usr/lib/modules/" + rel734 + "/vmlinuz", ""},
			{"usr/share/lintian/overrides/linux-binary-" + rel734, "6ca378c82728c1f5ec167ca0f54a378f"},
		},
		"linux-modules-" + rel734: {
			{"usr/lib/modules/" + rel734 + "/kernel/arch/x86/crypto/aegis128-aesni.ko.xz", "c6ee0b06599ee178d323be333aba601e"},
			{"usr/lib/modules/" + rel734 + "/kernel/drivers/block/virtio_blk.ko.xz", "a8fbccd8ae5bcc14391516ece8b403c4"},
		},
		"linux-base-" + rel734: {
			{"usr/lib/modules/" + rel734 + "/System.map", "f4e25cdb36ba6483f3a60de99cd4c840"},
			{"usr/lib/modules/" + rel734 + "/config", "4a79fedcfebfda4c41c56ca68499446d"},
			{"usr/lib/modules/" + rel734 + "/modules.builtin", "c75d606539e3d1aa529045c319825d34"},
			{"usr/lib/modules/" + rel734 + "/modules.builtin.modinfo", "6b73bd88adbb66550759fe72aa3830fd"},
			{"usr/lib/modules/" + rel734 + "/modules.order", "d37f48655a1e763bf6dd4949727ce873"},
		},
	}}
	if configured {
		// A hard link, or a copy when /boot is its own file system: the same bytes.
		g.images["boot/vmlinuz-"+rel734] = img734
	}
	return g
}

// fixtureCases returns the fixture names in order.
func fixtureCases() []string {
	names := make([]string, 0, len(fixtures))
	for name := range fixtures {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// bootParams returns a 4 KiB boot_params page with the loader type set, as
// /sys/kernel/boot_params/data shows it.
func bootParams(loader byte) []byte {
	data := make([]byte, 4096)
	data[0x1FE], data[0x1FF] = 0x55, 0xAA
	copy(data[0x202:], "HdrS")
	data[0x210] = loader
	return data
}

// generatedFiles returns the generated files of a fixture, by path
// relative to its root.
func generatedFiles(g generated) map[string][]byte {
	files := make(map[string][]byte)
	for path, opts := range g.images {
		files[path] = kerneltest.BzImage(opts)
	}
	if g.loader != 0 {
		files["sys/kernel/boot_params/data"] = bootParams(g.loader)
	}
	for pkg, lines := range g.md5sums {
		var b bytes.Buffer
		for _, l := range lines {
			sum := l.md5
			if sum == "" {
				sum = fmt.Sprintf("%x", md5.Sum(files[l.path]))
			}
			fmt.Fprintf(&b, "%s  %s\n", sum, l.path)
		}
		files["var/lib/dpkg/info/"+pkg+".md5sums"] = b.Bytes()
	}
	for pid, args := range g.procs {
		var b bytes.Buffer
		for _, a := range args {
			b.WriteString(a)
			b.WriteByte(0)
		}
		files[fmt.Sprintf("proc/%d/cmdline", pid)] = b.Bytes()
	}
	return files
}

// TestGenerateFixtures checks that the generated files under testdata/ are
// what the table above produces, and rewrites them with -update.
func TestGenerateFixtures(t *testing.T) {
	for _, name := range fixtureCases() {
		t.Run(name, func(t *testing.T) {
			for rel, want := range generatedFiles(fixtures[name]) {
				path := filepath.Join("testdata", name, rel)
				if *update {
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, want, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				got, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%s: %v (run go test ./internal/host -run TestGenerateFixtures -update)", path, err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s is stale: %d bytes, generator makes %d (run go test ./internal/host -run TestGenerateFixtures -update)", path, len(got), len(want))
				}
				if len(want) >= 20<<10 {
					t.Errorf("%s is %d bytes; fixture images stay under 20 KiB", path, len(want))
				}
			}
		})
	}
}

// imageResult is what kernel.ParseImage says about one /boot/vmlinuz-*.
type imageResult struct {
	Size       int    `json:"size"`
	Release    string `json:"release,omitempty"`
	Build      string `json:"build,omitempty"`
	Signed     bool   `json:"signed,omitempty"`
	CmdlineMax int    `json:"cmdline_max,omitempty"`
	// Checks and CRC are kernel.ParseImage's checks and its CRC32 status.
	Checks string `json:"checks,omitempty"`
	CRC    string `json:"crc,omitempty"`
	Error  string `json:"error,omitempty"`
	// Digest is the image compared with what dpkg recorded (Facts.Packaged).
	Digest string `json:"digest"`
}

// golden is what a fixture root's golden file holds.
type golden struct {
	Facts Facts `json:"facts"`
	// Images are the checks of every image in /boot, by release.
	Images map[string]imageResult `json:"images"`
	// LockHolder is LockHolder's answer (the fixtures have no lock files).
	LockHolder string `json:"lock_holder"`
}

func gatherGolden(t *testing.T, root string) golden {
	t.Helper()
	f, err := Gather(root)
	if err != nil {
		t.Fatalf("Gather(%s): %v", root, err)
	}
	g := golden{Facts: f, Images: make(map[string]imageResult)}
	for release, files := range f.Boot {
		data, err := ReadImage(root, files.Image)
		if err != nil {
			t.Fatalf("ReadImage(%s): %v", files.Image, err)
		}
		r := imageResult{Size: len(data), Digest: "no package lists this file"}
		if img, err := kernel.ParseImage(data); err != nil {
			r.Error = err.Error()
		} else {
			r.Release, r.Build, r.Signed, r.CmdlineMax = img.Release, img.Build, img.Signed, img.CmdlineMax
			r.Checks, r.CRC = img.Checks.String(), img.CRCStatus()
		}
		if d, ok := f.Packaged[release]; ok {
			r.Digest = "md5 matches " + d.Package + " " + d.Path
			if err := d.Verify(md5.Sum(data)); err != nil {
				r.Digest = err.Error()
			}
		}
		g.Images[release] = r
	}
	if g.LockHolder, err = LockHolder(root); err != nil {
		t.Fatalf("LockHolder(%s): %v", root, err)
	}
	return g
}

// TestGather_golden gathers the facts of every fixture root and compares
// them with testdata/<case>.golden.json (rewritten with -update).
func TestGather_golden(t *testing.T) {
	for _, name := range fixtureCases() {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(gatherGolden(t, filepath.Join("testdata", name)), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/host -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Gather(testdata/%s) differs from %s (go test ./internal/host -update rewrites it; review the diff):\n%s", name, path, lineDiff(string(want), string(got)))
			}
		})
	}
}

// lineDiff shows the first lines where two texts differ.
func lineDiff(want, got string) string {
	w, g := splitLines(want), splitLines(got)
	var b bytes.Buffer
	shown := 0
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, wl, gl)
			if shown++; shown == 5 {
				break
			}
		}
	}
	return b.String()
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := bytes.IndexByte([]byte(s), '\n')
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i+1:]
	}
	return out
}

// TestGather_fixtureFacts states in code the facts each fixture exists for,
// so a regenerated golden file cannot silently lose them.
func TestGather_fixtureFacts(t *testing.T) {
	pkg := func(g golden, name string) (Package, bool) {
		for _, p := range g.Facts.Packages {
			if p.Name == name {
				return p, true
			}
		}
		return Package{}, false
	}
	tests := []struct {
		name  string
		check func(t *testing.T, g golden)
	}{
		{"debian_cloud", func(t *testing.T, g golden) {
			if g.Facts.Running.Release != rel50 || g.Facts.Running.Build != build50 {
				t.Errorf("Running = %q %q; want %q %q", g.Facts.Running.Release, g.Facts.Running.Build, rel50, build50)
			}
			if p, ok := pkg(g, "linux-image-"+rel51); !ok || !p.Installed() || p.Version != "6.1.176-1" {
				t.Errorf("package linux-image-%s = %+v, %t; want ii 6.1.176-1", rel51, p, ok)
			}
			if r := g.Images[rel51]; r.Error != "" || !r.Signed || r.Build != build51 {
				t.Errorf("image %s = %+v; want a valid signed image built %q", rel51, r, build51)
			}
			if g.Facts.Running.LoaderType != loaderGRUB || g.Facts.Uptime.Hours() < 24 || !g.Facts.Kexec.CapSysBoot {
				t.Errorf("Running.LoaderType, Uptime, CapSysBoot = %#x, %s, %t; want 0x72, more than a day, true", g.Facts.Running.LoaderType, g.Facts.Uptime, g.Facts.Kexec.CapSysBoot)
			}
		}},
		{"ubuntu_generic", func(t *testing.T, g golden) {
			if p, ok := pkg(g, "linux-image-unsigned-"+ubuntu50); !ok || !p.Installed() || p.Release() != ubuntu50 {
				t.Errorf("package linux-image-unsigned-%s = %+v, %t; want ii with release %s", ubuntu50, p, ok, ubuntu50)
			}
			if p, ok := pkg(g, "linux-image-"+ubuntu50); !ok || p.Present() || p.StatusAbbrev() != "rc" {
				t.Errorf("package linux-image-%s = %+v, %t; want rc", ubuntu50, p, ok)
			}
			if _, ok := g.Facts.Boot["vmlinuz"]; ok || len(g.Facts.Boot) != 2 {
				t.Errorf("Boot = %v; want the two versioned images only, not the vmlinuz symlinks", g.Facts.Boot)
			}
			if !g.Facts.Kexec.ToolsInitScript {
				t.Errorf("Kexec.ToolsInitScript = false; want true (/etc/init.d/kexec exists)")
			}
		}},
		{"same_release_rebuild", func(t *testing.T, g golden) {
			if r := g.Images[rel50]; r.Release != g.Facts.Running.Release || r.Build == g.Facts.Running.Build {
				t.Errorf("image %+v, running %q %q; want the same release with another build", r, g.Facts.Running.Release, g.Facts.Running.Build)
			}
			if g.Facts.Running.LoaderType != LoaderKexec {
				t.Errorf("Running.LoaderType = %#x; want 0xD0 (came up by kexec)", g.Facts.Running.LoaderType)
			}
		}},
		{"half_installed", func(t *testing.T, g golden) {
			if p, ok := pkg(g, "linux-image-"+rel51); !ok || !p.Pending || p.StatusAbbrev() != "iF" {
				t.Errorf("package linux-image-%s = %+v, %t; want iF from the updates journal, pending", rel51, p, ok)
			}
			if p, ok := pkg(g, "linux-image-"+rel49); !ok || p.StatusAbbrev() != "rc" || p.Pending {
				t.Errorf("package linux-image-%s = %+v, %t; want rc, not pending", rel49, p, ok)
			}
		}},
		{"truncated_image", func(t *testing.T, g golden) {
			if r := g.Images[rel51]; r.Size != 4200 || r.Error == "" {
				t.Errorf("image %s = %+v; want 4200 bytes failing its check", rel51, r)
			}
		}},
		{"signed_image", func(t *testing.T, g golden) {
			if r := g.Images[rel51]; !r.Signed || r.Error != "" || g.Facts.Kexec.Lockdown != "integrity" {
				t.Errorf("image %s = %+v, lockdown %q; want signed and valid under integrity", rel51, r, g.Facts.Kexec.Lockdown)
			}
		}},
		{"unsigned_image", func(t *testing.T, g golden) {
			if r := g.Images[rel51]; r.Signed || r.Error != "" || g.Facts.Kexec.Lockdown != "integrity" {
				t.Errorf("image %s = %+v, lockdown %q; want unsigned and valid under integrity", rel51, r, g.Facts.Kexec.Lockdown)
			}
			if p, ok := pkg(g, "linux-image-"+rel51+"-unsigned"); !ok || p.Release() != rel51 {
				t.Errorf("package linux-image-%s-unsigned = %+v, %t; want release %s", rel51, p, ok, rel51)
			}
		}},
		{"initrd_missing", func(t *testing.T, g golden) {
			if b := g.Facts.Boot[rel51]; !b.HasImage || b.HasInitrd {
				t.Errorf("Boot[%s] = %+v; want an image without initrd", rel51, b)
			}
		}},
		{"boot_unmounted", func(t *testing.T, g golden) {
			if len(g.Facts.Boot) != 0 {
				t.Errorf("Boot = %v; want nothing (/boot is empty)", g.Facts.Boot)
			}
			if d, ok := g.Facts.Packaged[rel51]; !ok || d.Package != "linux-image-"+rel51 || d.Path != "/boot/vmlinuz-"+rel51 {
				t.Errorf("Packaged[%s] = %+v, %t; want the image linux-image-%s lists", rel51, d, ok, rel51)
			}
			if _, ok := g.Facts.Packaged["cloud-amd64"]; ok {
				t.Errorf("Packaged has the meta package's \"release\" cloud-amd64: %+v", g.Facts.Packaged)
			}
		}},
		{"trixie_backports", func(t *testing.T, g golden) {
			p, ok := pkg(g, "linux-image-"+rel734)
			want := []string{"linux-base-" + rel734, "linux-binary-" + rel734, "linux-modules-" + rel734}
			if !ok || !p.Installed() || !reflect.DeepEqual(p.Requires, want) {
				t.Errorf("package linux-image-%s = %+v, %t; want ii requiring %q", rel734, p, ok, want)
			}
			if d := g.Facts.Packaged[rel734]; d.Package != "linux-binary-"+rel734 || d.Path != "/usr/lib/modules/"+rel734+"/vmlinuz" {
				t.Errorf("Packaged[%s] = %+v; want linux-binary-%s's /usr/lib/modules/%s/vmlinuz", rel734, d, rel734, rel734)
			}
			r := g.Images[rel734]
			if r.Error != "" || !r.Signed || r.CRC != kernel.CRCAbsentNote || r.Checks != "size, signature-table" || !strings.HasPrefix(r.Digest, "md5 matches") {
				t.Errorf("image %s = %+v; want a valid signed image without CRC whose MD5 matches", rel734, r)
			}
			if r := g.Images[rel612]; r.Checks != "size, crc32, signature-table" || !strings.HasPrefix(r.Digest, "md5 matches linux-image-"+rel612) {
				t.Errorf("image %s = %+v; want size, crc32 and signature checked and the MD5 of linux-image-%s", rel612, r, rel612)
			}
		}},
		{"trixie_backports_unpacked", func(t *testing.T, g golden) {
			if p, ok := pkg(g, "linux-modules-"+rel734); !ok || p.StatusAbbrev() != "iU" {
				t.Errorf("package linux-modules-%s = %+v, %t; want iU", rel734, p, ok)
			}
			if _, ok := g.Facts.Boot[rel734]; ok {
				t.Errorf("Boot[%s] exists; want no /boot/vmlinuz before linux-image-%s is configured", rel734, rel734)
			}
			if d, ok := g.Facts.Packaged[rel734]; !ok || d.Package != "linux-binary-"+rel734 {
				t.Errorf("Packaged[%s] = %+v, %t; want linux-binary-%s's image", rel734, d, ok, rel734)
			}
		}},
		{"initrd_dracut_writing", func(t *testing.T, g golden) {
			b := g.Facts.Boot[rel734]
			if !b.HasInitrd || !b.InitrdPending || !strings.Contains(b.InitrdWriter, "dracut (pid 31337)") {
				t.Errorf("Boot[%s] = %+v; want an initrd that dracut (pid 31337) is writing", rel734, b)
			}
			if b := g.Facts.Boot[rel612]; b.InitrdPending {
				t.Errorf("Boot[%s] = %+v; want no writer: dracut names another release", rel612, b)
			}
		}},
		{"initrd_new_pending", func(t *testing.T, g golden) {
			if b := g.Facts.Boot[rel51]; !b.HasInitrd || !b.InitrdPending || !strings.Contains(b.InitrdWriter, "update-initramfs") {
				t.Errorf("Boot[%s] = %+v; want an initrd with a pending .new", rel51, b)
			}
			if g.Facts.Running.LoaderType != -1 {
				t.Errorf("Running.LoaderType = %d; want -1 without boot_params", g.Facts.Running.LoaderType)
			}
		}},
	}
	if len(tests) != len(fixtures) {
		t.Errorf("%d fixture checks for %d fixtures; want one each", len(tests), len(fixtures))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := fixtures[tt.name]; !ok {
				t.Fatalf("no fixture %s", tt.name)
			}
			tt.check(t, gatherGolden(t, filepath.Join("testdata", tt.name)))
		})
	}
}

func TestGather_errors(t *testing.T) {
	tests := []struct {
		name   string
		remove string
		want   string
	}{
		{"no_osrelease", "proc/sys/kernel/osrelease", "running kernel release: "},
		{"no_version", "proc/sys/kernel/version", "running kernel build: "},
		{"no_cmdline", "proc/cmdline", "running kernel command line: "},
		{"no_boot_id", "proc/sys/kernel/random/boot_id", "boot id: "},
		{"no_dpkg_status", "var/lib/dpkg/status", "read dpkg database: "},
		{"no_boot", "boot", "read /boot: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyFixture(t, "debian_cloud")
			if err := os.RemoveAll(filepath.Join(root, tt.remove)); err != nil {
				t.Fatal(err)
			}
			_, err := Gather(root)
			if err == nil || !bytes.HasPrefix([]byte(err.Error()), []byte(tt.want)) || !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Gather(without %s) error = %v; want %q… wrapping fs.ErrNotExist", tt.remove, err, tt.want)
			}
		})
	}
}

func TestGather_optionalFilesMissing(t *testing.T) {
	root := copyFixture(t, "debian_cloud")
	for _, rel := range []string{"proc/uptime", "proc/self/status", "sys", "proc/sys/kernel/kexec_load_disabled", "var/lib/dpkg/updates"} {
		if err := os.RemoveAll(filepath.Join(root, rel)); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Gather(root)
	if err != nil {
		t.Fatalf("Gather(minimal root): %v", err)
	}
	want := Kexec{Unsupported: true} // no /sys/kernel/kexec_loaded: a kernel without kexec
	if f.Kexec != want || f.Uptime != 0 || f.Running.LoaderType != -1 || len(f.Packages) != 3 {
		t.Errorf("Gather(minimal root) = Kexec %+v, Uptime %s, LoaderType %d, %d packages; want only Unsupported, 0, -1, 3", f.Kexec, f.Uptime, f.Running.LoaderType, len(f.Packages))
	}
}

func TestGather_corruptStatus(t *testing.T) {
	root := copyFixture(t, "debian_cloud")
	bad := "Package: bash\nStatus: install ok installed\n\nPackage: linux-image-6.1.0-52-cloud-amd64\nStatus: install ok\n"
	if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Gather(root)
	want := `parse /var/lib/dpkg/status: line 5: status "install ok" does not have three words`
	if err == nil || err.Error() != want {
		t.Errorf("Gather(corrupt status) error = %v; want %s", err, want)
	}
}

// copyFixture copies a fixture root into a temporary directory, so a test
// can change it.
func copyFixture(t testing.TB, name string) string {
	t.Helper()
	src := filepath.Join("testdata", name)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&os.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		default:
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, 0o644)
		}
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	return dst
}
