package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseLockdown(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"none", "[none] integrity confidentiality\n", "none"},
		{"integrity", "none [integrity] confidentiality", "integrity"},
		{"confidentiality", "none integrity [confidentiality]", "confidentiality"},
		{"empty", "", ""},
		{"no_brackets", "none integrity confidentiality", ""},
		{"half_bracket", "[none integrity] confidentiality", ""},
		{"extra_spaces", "  none\t[integrity]   confidentiality  ", "integrity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseLockdown(tt.in); got != tt.want {
				t.Errorf("ParseLockdown(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestHasCapability(t *testing.T) {
	tests := []struct {
		name   string
		status string
		want   bool
	}{
		{"root_full_set", "Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n", true},
		{"only_cap_sys_boot", "CapEff:\t0000000000400000\n", true},
		{"everything_but_cap_sys_boot", "CapEff:\t000001ffffbfffff\n", false},
		{"unit_bounding_set_without_it", "CapPrm:\t0000000000400000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000400000\n", false},
		{"no_capeff_line", "Name:\tx\nCapPrm:\t000001ffffffffff\n", false},
		{"garbage_mask", "CapEff:\tzzzz\n", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hasCapability(tt.status, capSysBoot); got != tt.want {
				t.Errorf("hasCapability(%q, CAP_SYS_BOOT) = %t; want %t", tt.status, got, tt.want)
			}
		})
	}
}

func TestParseUptime(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"typical", "1209600.35 2400112.77\n", 1209600*time.Second + 350*time.Millisecond},
		{"just_booted", "4.02 5.00", 4020 * time.Millisecond},
		{"integer", "60", time.Minute},
		{"empty", "", 0},
		{"garbage", "up a while", 0},
		{"negative", "-5.0 1.0", 0},
		{"nan", "NaN 1.0", 0},
		{"infinite", "+Inf 1.0", 0},
		{"beyond_duration", "1e12 1.0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseUptime(tt.in); got != tt.want {
				t.Errorf("parseUptime(%q) = %s; want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadRunning_loaderType(t *testing.T) {
	tests := []struct {
		name string
		data []byte // nil: no file
		want int
	}{
		{"kexec", bootParams(LoaderKexec), LoaderKexec},
		{"grub", bootParams(loaderGRUB), loaderGRUB},
		{"no_file", nil, -1},
		{"too_short", make([]byte, 0x210), -1},
		{"just_long_enough", append(make([]byte, 0x210), 0xD0), 0xD0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := copyFixture(t, "debian_cloud")
			p := filepath.Join(root, "sys/kernel/boot_params/data")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if tt.data != nil {
				if err := os.WriteFile(p, tt.data, 0o444); err != nil {
					t.Fatal(err)
				}
			}
			r, err := ReadRunning(root)
			if err != nil {
				t.Fatal(err)
			}
			if r.LoaderType != tt.want {
				t.Errorf("ReadRunning(%s).LoaderType = %#x; want %#x", tt.name, r.LoaderType, tt.want)
			}
		})
	}
}

func TestReadKexec(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  Kexec
	}{
		{"nothing_readable", nil, Kexec{Unsupported: true}},
		{"all_set", map[string]string{
			"proc/sys/kernel/kexec_load_disabled": "1\n",
			"sys/kernel/security/lockdown":        "none integrity [confidentiality]\n",
			"sys/kernel/kexec_loaded":             "1\n",
			"proc/self/status":                    "CapEff:\t0000000000400000\n",
			"etc/init.d/kexec":                    "#!/bin/sh\n",
		}, Kexec{LoadDisabled: true, Lockdown: "confidentiality", Loaded: true, CapSysBoot: true, ToolsInitScript: true}},
		{"zeroes", map[string]string{
			"proc/sys/kernel/kexec_load_disabled": "0\n",
			"sys/kernel/kexec_loaded":             "0\n",
			"proc/self/status":                    "CapEff:\t0000000000000000\n",
		}, Kexec{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for rel, data := range tt.files {
				p := filepath.Join(root, rel)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := readKexec(root); got != tt.want {
				t.Errorf("readKexec(%s) = %+v; want %+v", tt.name, got, tt.want)
			}
		})
	}
}

func TestReadBoot(t *testing.T) {
	const (
		r50 = "6.1.0-50-cloud-amd64"
		r51 = "6.1.0-51-cloud-amd64"
	)
	files := []string{
		"vmlinuz-" + r50, "initrd.img-" + r50,
		"vmlinuz-" + r51, "initrd.img-" + r51,
		"vmlinuz-", "vmlinuz", "vmlinuz.old", "initrd.img-6.1.0-52-cloud-amd64",
		"config-" + r50, "System.map-" + r50,
	}
	boot := func(release string, initrd bool, writer string) BootFiles {
		return BootFiles{Image: "/boot/vmlinuz-" + release, Initrd: "/boot/initrd.img-" + release, HasImage: true,
			HasInitrd: initrd, InitrdPending: writer != "", InitrdWriter: writer}
	}
	newWriter := "/boot/initrd.img-" + r51 + ".new exists: update-initramfs is still writing the initrd"
	dracutWriter := func(pid int, release string) string {
		return fmt.Sprintf("dracut (pid %d) is running and may be writing /boot/initrd.img-%s", pid, release)
	}
	tests := []struct {
		name  string
		extra []string          // more files in /boot
		drop  []string          // files not in /boot
		procs map[string]string // proc/<pid>/cmdline, arguments separated by spaces
		want  map[string]BootFiles
	}{
		{
			name: "both_complete",
			want: map[string]BootFiles{r50: boot(r50, true, ""), r51: boot(r51, true, "")},
		},
		{
			name:  "update_initramfs_writing_new",
			extra: []string{"initrd.img-" + r51 + ".new"},
			drop:  []string{"initrd.img-" + r51},
			want:  map[string]BootFiles{r50: boot(r50, true, ""), r51: boot(r51, false, newWriter)},
		},
		{
			name:  "dracut_writing_in_place",
			procs: map[string]string{"1": "/sbin/init", "77": "/bin/bash /usr/bin/dracut -q --force /boot/initrd.img-" + r51 + " " + r51},
			want:  map[string]BootFiles{r50: boot(r50, true, ""), r51: boot(r51, true, dracutWriter(77, r51))},
		},
		{
			name:  "dracut_regenerating_all",
			procs: map[string]string{"90": "dracut --regenerate-all --force"},
			want:  map[string]BootFiles{r50: boot(r50, true, dracutWriter(90, r50)), r51: boot(r51, true, dracutWriter(90, r51))},
		},
		{
			name:  "dracut_for_another_kernel",
			procs: map[string]string{"91": "/usr/bin/dracut --force /boot/initrd.img-6.1.0-52-cloud-amd64 6.1.0-52-cloud-amd64"},
			want:  map[string]BootFiles{r50: boot(r50, true, ""), r51: boot(r51, true, "")},
		},
		{
			name:  "other_processes_and_entries",
			procs: map[string]string{"5": "/usr/bin/vi /etc/dracut.conf", "self": "/usr/bin/dracut", "6": "dracut-install --all"},
			want:  map[string]BootFiles{r50: boot(r50, true, ""), r51: boot(r51, true, "")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "boot")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, name := range append(slices.Clone(files), tt.extra...) {
				if slices.Contains(tt.drop, name) {
					continue
				}
				if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for pid, cmdline := range tt.procs {
				p := filepath.Join(root, "proc", pid, "cmdline")
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(strings.ReplaceAll(cmdline, " ", "\x00")+"\x00"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := readBoot(root)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("readBoot(%s) = %+v; want %+v", tt.name, got, tt.want)
			}
			for release, b := range tt.want {
				who, busy := InitrdWriter(root, release)
				if busy != b.InitrdPending || who != b.InitrdWriter {
					t.Errorf("InitrdWriter(%s, %s) = %q, %t; want %q, %t", tt.name, release, who, busy, b.InitrdWriter, b.InitrdPending)
				}
			}
		})
	}
}

func TestImageFiles(t *testing.T) {
	root := copyFixture(t, "debian_cloud")
	const image = "/boot/vmlinuz-6.1.0-51-cloud-amd64"
	id, err := StatImage(root, image)
	if err != nil {
		t.Fatal(err)
	}
	data, err := ReadImage(root, image)
	if err != nil {
		t.Fatal(err)
	}
	if id.Path != image || id.Size != int64(len(data)) || id.Inode == 0 || id.MTime == 0 || id.CTime == 0 {
		t.Errorf("StatImage(%s) = %+v; want path, size %d, inode, mtime and ctime", image, id, len(data))
	}
	again, err := StatImage(root, image)
	if err != nil || again != id {
		t.Errorf("StatImage(%s) twice = %+v then %+v, %v; want equal", image, id, again, err)
	}
	// dpkg replaces a file by renaming a new one over it: a new identity.
	p := filepath.Join(root, image)
	if err := os.WriteFile(p+".dpkg-new", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".dpkg-new", p); err != nil {
		t.Fatal(err)
	}
	if replaced, err := StatImage(root, image); err != nil || replaced == id {
		t.Errorf("StatImage(%s) after replacing the file = %+v, %v; want another identity than %+v", image, replaced, err, id)
	}

	if _, err := StatImage(root, "/boot/vmlinuz-missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("StatImage(missing) error = %v; want fs.ErrNotExist", err)
	}
	if _, err := ReadImage(root, "/boot/vmlinuz-missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadImage(missing) error = %v; want fs.ErrNotExist", err)
	}
	if !Exists(root, image) || Exists(root, "/boot/vmlinuz-missing") {
		t.Errorf("Exists(%s), Exists(missing) = %t, %t; want true, false", image, Exists(root, image), Exists(root, "/boot/vmlinuz-missing"))
	}
	if err := os.Symlink("nowhere", filepath.Join(root, "boot/dangling")); err != nil {
		t.Fatal(err)
	}
	if !Exists(root, "/boot/dangling") {
		t.Errorf("Exists(dangling symlink) = false; want true (the name exists)")
	}
}
