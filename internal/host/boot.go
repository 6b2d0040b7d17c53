package host

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Platform is how this machine boots, as far as a switch's safety depends on
// it: the firmware, Secure Boot (with which the kernel's lockdown only lets
// kexec_file_load take kernels it can verify) and the boot loader a
// firmware reboot goes through.
type Platform struct {
	// Firmware is "uefi" or "bios".
	Firmware string
	// SecureBoot is "enabled", "disabled", or "unknown" on UEFI (the
	// variable cannot be read); "" on BIOS.
	SecureBoot string
	// Grub is set when GRUB is the boot loader (/boot/grub/grub.cfg).
	Grub *Grub `json:",omitempty"`
}

// Grub is what GRUB will boot after a firmware reboot.
type Grub struct {
	// Default is GRUB_DEFAULT from /etc/default/grub ("0" when unset).
	Default string
	// Env is GRUB's environment block, /boot/grub/grubenv: saved_entry and
	// next_entry (the one-shot entry grub-reboot sets) live there. EnvErr
	// says why it could not be read; a missing block is no error.
	Env    map[string]string `json:",omitempty"`
	EnvErr string            `json:",omitempty"`
}

// secureBootVar is the UEFI global variable SecureBoot: 4 bytes of
// attributes, then one byte, 1 when Secure Boot is on.
const secureBootVar = "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

// ReadPlatform reads the boot facts under root.
func ReadPlatform(root string) Platform {
	var b Platform
	if _, err := os.Stat(filepath.Join(root, "sys/firmware/efi")); err != nil {
		b.Firmware = "bios"
	} else {
		b.Firmware = "uefi"
		b.SecureBoot = readSecureBoot(root)
	}
	if _, err := os.Stat(filepath.Join(root, "boot/grub/grub.cfg")); err == nil {
		b.Grub = readGrub(root)
	}
	return b
}

func readSecureBoot(root string) string {
	data, err := os.ReadFile(filepath.Join(root, secureBootVar))
	switch {
	case err != nil || len(data) != 5:
		return "unknown"
	case data[4] == 1:
		return "enabled"
	default:
		return "disabled"
	}
}

func readGrub(root string) *Grub {
	g := &Grub{Default: "0"}
	if data, err := os.ReadFile(filepath.Join(root, "etc/default/grub")); err == nil {
		if v, ok := shellAssignment(data, "GRUB_DEFAULT"); ok {
			g.Default = v
		}
	}
	data, err := os.ReadFile(filepath.Join(root, "boot/grub/grubenv"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		g.EnvErr = err.Error()
	default:
		env, err := ParseGrubEnv(data)
		if err != nil {
			g.EnvErr = err.Error()
		}
		g.Env = env
	}
	return g
}

// shellAssignment finds the last NAME=value line of a shell-style file
// such as /etc/default/grub, with one level of quotes removed.
func shellAssignment(data []byte, name string) (string, bool) {
	var value string
	found := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		v, ok := strings.CutPrefix(line, name+"=")
		if !ok {
			continue
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		value, found = v, true
	}
	return value, found
}
