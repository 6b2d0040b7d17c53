package upgrade_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel/kerneltest"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

// secureBootVar is the UEFI SecureBoot variable with Secure Boot on.
const secureBootVar = "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

// authenticodeImage is the new kernel signed with its real Authenticode
// digest, or with one whose digest no longer matches (one byte of the
// embedded digest changed: the image passes every other check).
func authenticodeImage(t *testing.T, match bool) []byte {
	t.Helper()
	img, err := kerneltest.AuthenticodeSigned(kerneltest.BzImage(kerneltest.Options{Release: newRelease, Build: newBuild}))
	if err != nil {
		t.Fatal(err)
	}
	if match {
		return img
	}
	a, err := kernel.CheckAuthenticode(img)
	if err != nil || !a.Match() {
		t.Fatalf("CheckAuthenticode = %s, %v; want a match", a, err)
	}
	at := bytes.LastIndex(img, a.Embedded)
	img[at+3] ^= 0x40
	return img
}

// TestRunAuthenticode: with Secure Boot lockdown a signed image whose
// Authenticode digest does not match is refused at check image before
// anything is loaded, naming the image and the lockdown; one that matches
// switches, and status lists the check; without lockdown the mismatch is a
// warning and the switch goes on.
func TestRunAuthenticode(t *testing.T) {
	tests := []struct {
		name     string
		match    bool
		lockdown bool
		action   plan.Action
		check    string
		reason   []string
		// integrity must name this; warning must be among the warnings
		// ("" for none about the signature).
		integrity, warning string
	}{
		{
			name: "mismatch_under_secure_boot_lockdown", lockdown: true,
			action: plan.Refuse, check: plan.CheckImage,
			reason: []string{newImage + ": its Authenticode signature does not match the image (patched or damaged: sha256 digest ",
				"), and Secure Boot lockdown (integrity) makes the kernel refuse it"},
		},
		{
			name: "match_under_secure_boot_lockdown", match: true, lockdown: true,
			action: plan.Switch, reason: []string{"switching to " + newRelease},
			integrity: "authenticode (sha256)",
		},
		{
			name:   "mismatch_without_lockdown",
			action: plan.Switch, reason: []string{"switching to " + newRelease},
			warning: newImage + ": its Authenticode signature does not match the image (patched or damaged",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.writeBytes("boot/vmlinuz-"+newRelease, authenticodeImage(t, tt.match))
			if tt.lockdown {
				r.write("sys/kernel/security/lockdown", "none [integrity] confidentiality\n")
				r.writeBytes(secureBootVar, []byte{6, 0, 0, 0, 1})
			}
			rep, err := upgrade.Assess(context.Background(), r.env(), false)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("integrity: %s; warnings: %q", rep.Inputs.Target.Integrity, rep.Warnings)
			if tt.integrity != "" && !strings.Contains(rep.Inputs.Target.Integrity, tt.integrity) {
				t.Errorf("integrity = %q; want it to name %q", rep.Inputs.Target.Integrity, tt.integrity)
			}
			warned := slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, "Authenticode") })
			if tt.warning != "" && !slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.HasPrefix(w, tt.warning) }) {
				t.Errorf("warnings = %q; want one starting %q", rep.Warnings, tt.warning)
			} else if tt.warning == "" && warned {
				t.Errorf("warnings = %q; want none about the signature", rep.Warnings)
			}

			out, calls, err := r.run(context.Background(), false)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			d := out.Report.Decision
			if d.Action != tt.action || d.Check != tt.check {
				t.Fatalf("Run = %s at %q (%s); want %s at %q", d.Action, d.Check, d.Reason, tt.action, tt.check)
			}
			for _, part := range tt.reason {
				if !strings.Contains(d.Reason, part) {
					t.Errorf("Reason = %q; want it to name %q", d.Reason, part)
				}
			}
			loaded := slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "load ") })
			if loaded != (tt.action == plan.Switch) {
				t.Errorf("calls %q: loaded %t; want %t", calls, loaded, tt.action == plan.Switch)
			}
		})
	}
}
