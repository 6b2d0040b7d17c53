//go:build vm

package vmtest

// The arm64 guest: built on this amd64 machine by build-image.sh (mmdebstrap --arch=arm64
// under qemu-user-static) and run by qemu-system-aarch64 on QEMU's virt machine under TCG,
// booting its kernel directly like the amd64 guests; its console is the PL011, ttyAMA0.

// TrixieARM64 runs the second newest 6.12 kernel of trixie's arm64 cloud kernels; the new
// one is the newest.
var TrixieARM64 = Guest{Suite: "trixie", Source: "main", Arch: "arm64"}

// arch is the guest's Debian architecture.
func (g Guest) arch() string {
	if g.Arch == "" {
		return "amd64"
	}
	return g.Arch
}

// qemu is the system emulator that runs the guest.
func (g Guest) qemu() string {
	if g.arch() == "arm64" {
		return "qemu-system-aarch64"
	}
	return "qemu-system-x86_64"
}

// machineArgs selects QEMU's machine where the emulator's default will not do: arm64 has
// no default machine.
func (g Guest) machineArgs() []string {
	if g.arch() == "arm64" {
		return []string{"-machine", "virt"}
	}
	return nil
}

// cpu is QEMU's CPU model. On arm64, -cpu max less two features no cloud arm64 CPU has
// (Graviton 2-4, Ampere Altra, Cobalt 100: Neoverse N1, N2, V1, V2): FEAT_LPA2, with which
// Debian's trixie kernel (52-bit VA, CONFIG_ARM64_LPA2) runs five-level page tables and
// oopses in trans_pgd_create_copy while taking any kexec_load (kexec-tools' own too); and
// QARMA pointer authentication, which TCG emulates slowly (QEMU's implementation-defined
// algorithm instead).
func (g Guest) cpu() string {
	if g.arch() == "arm64" {
		return "max,lpa2=off,pauth-impdef=on"
	}
	return "max"
}

// console is the guest kernel's serial console.
func (g Guest) console() string {
	if g.arch() == "arm64" {
		return "ttyAMA0"
	}
	return "ttyS0"
}
