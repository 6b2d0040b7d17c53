package host

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseGrubEnv(t *testing.T) {
	tests := []struct {
		file string
		want map[string]string
	}{
		{"empty.grubenv", map[string]string{}},
		{"next_entry.grubenv", map[string]string{
			"next_entry":  "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-50-cloud-amd64",
			"saved_entry": "0",
		}},
	}
	for _, tc := range tests {
		t.Run(strings.TrimSuffix(tc.file, ".grubenv"), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "grubenv", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseGrubEnv(data)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseGrubEnv(%s) = %v, %v; want %v", tc.file, got, err, tc.want)
			}
			for _, cut := range []int{0, 100, GrubEnvSize - 1} {
				if _, err := ParseGrubEnv(data[:cut]); !errors.Is(err, ErrGrubEnv) {
					t.Errorf("ParseGrubEnv(%s cut to %d bytes) error = %v; want ErrGrubEnv", tc.file, cut, err)
				}
			}
		})
	}
}

func FuzzParseGrubEnv(f *testing.F) {
	for _, name := range []string{"empty.grubenv", "next_entry.grubenv"} {
		data, err := os.ReadFile(filepath.Join("testdata", "grubenv", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := ParseGrubEnv(data)
		if err == nil && len(data) != GrubEnvSize {
			t.Fatalf("accepted a block of %d bytes", len(data))
		}
		for name, value := range env {
			if name == "" || strings.ContainsAny(name, "=\n") || strings.Contains(value, "\n") {
				t.Fatalf("entry %q=%q is not one name=value line", name, value)
			}
		}
	})
}

func TestReadPlatform(t *testing.T) {
	write := func(t *testing.T, root, rel string, data []byte) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env, err := os.ReadFile("testdata/grubenv/next_entry.grubenv")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files map[string][]byte
		want  Platform
	}{
		{"bios_no_grub", nil, Platform{Firmware: "bios"}},
		{"bios_grub", map[string][]byte{"boot/grub/grub.cfg": []byte("menuentry x {}\n"), "etc/default/grub": []byte("GRUB_DEFAULT=\"saved\"\nGRUB_TIMEOUT=5\n")},
			Platform{Firmware: "bios", Grub: &Grub{Default: "saved"}}},
		{"uefi_secure_boot", map[string][]byte{"sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c": {6, 0, 0, 0, 1},
			"boot/grub/grub.cfg": []byte("x"), "boot/grub/grubenv": env},
			Platform{Firmware: "uefi", SecureBoot: "enabled", Grub: &Grub{Default: "0", Env: map[string]string{"saved_entry": "0",
				"next_entry": "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-50-cloud-amd64"}}}},
		{"uefi_secure_boot_off", map[string][]byte{"sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c": {6, 0, 0, 0, 0}},
			Platform{Firmware: "uefi", SecureBoot: "disabled"}},
		{"uefi_variable_unreadable", map[string][]byte{"sys/firmware/efi/systab": []byte("x")}, Platform{Firmware: "uefi", SecureBoot: "unknown"}},
		{"grubenv_damaged", map[string][]byte{"boot/grub/grub.cfg": []byte("x"), "boot/grub/grubenv": []byte("# GRUB Environment Block\nx=1\n")},
			Platform{Firmware: "bios", Grub: &Grub{Default: "0", EnvErr: "not a GRUB environment block: 29 bytes, not 1024"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for rel, data := range tc.files {
				write(t, root, rel, data)
			}
			if got := ReadPlatform(root); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ReadPlatform(%s) = %+v (grub %+v); want %+v (grub %+v)", tc.name, got, got.Grub, tc.want, tc.want.Grub)
			}
		})
	}
}
