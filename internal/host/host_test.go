package host

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
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
	root := t.TempDir()
	boot := filepath.Join(root, "boot")
	if err := os.MkdirAll(boot, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"vmlinuz-6.1.0-50-cloud-amd64", "initrd.img-6.1.0-50-cloud-amd64",
		"vmlinuz-6.1.0-51-cloud-amd64", "initrd.img-6.1.0-51-cloud-amd64.new",
		"vmlinuz-", "vmlinuz", "vmlinuz.old", "initrd.img-6.1.0-52-cloud-amd64",
		"config-6.1.0-50-cloud-amd64", "System.map-6.1.0-50-cloud-amd64",
	} {
		if err := os.WriteFile(filepath.Join(boot, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := readBoot(root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]BootFiles{
		"6.1.0-50-cloud-amd64": {Image: "/boot/vmlinuz-6.1.0-50-cloud-amd64", Initrd: "/boot/initrd.img-6.1.0-50-cloud-amd64", HasImage: true, HasInitrd: true},
		"6.1.0-51-cloud-amd64": {Image: "/boot/vmlinuz-6.1.0-51-cloud-amd64", Initrd: "/boot/initrd.img-6.1.0-51-cloud-amd64", HasImage: true, InitrdPending: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("readBoot() = %+v; want %+v", got, want)
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
