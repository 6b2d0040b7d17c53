//go:build vm

package vmtest

import (
	"testing"
)

// bootView is status --json's boot facts.
type bootView struct {
	Firmware    string `json:"firmware"`
	SecureBoot  string `json:"secure_boot"`
	Lockdown    string `json:"lockdown"`
	Bootloader  string `json:"bootloader"`
	GrubDefault string `json:"grub_default"`
}

func statusBoot(t *testing.T, vm *VM) bootView {
	t.Helper()
	var s struct {
		Boot bootView `json:"boot"`
	}
	statusJSON(t, vm, &s)
	return s.Boot
}

// metricsFile is where the package writes its metrics (node_exporter's
// textfile collector directory on Debian).
const metricsFile = "/var/lib/prometheus/node-exporter/kexec_upgrade.prom"
