package plan

import (
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// TestPlan_authenticode: under lockdown an image whose Authenticode digest
// does not match (or whose signature cannot be read) is refused before any
// load, with one reason naming the image and the lockdown; without lockdown
// it switches (dpkg's md5sums decide integrity there); a match and an
// image never checked pass.
func TestPlan_authenticode(t *testing.T) {
	auth := func(state kernel.AuthenticodeState, detail, lockdown, secureBoot string) func(*Inputs) {
		return func(in *Inputs) {
			in.Target.Authenticode, in.Target.AuthenticodeDetail = state, detail
			in.Facts.Kexec.Lockdown = lockdown
			in.Facts.Platform.SecureBoot = secureBoot
		}
	}
	const mismatch = "sha256 digest 3f1c2a5e8d1b4b7e… in the signature, 9a610c5d2e7f4a90… computed"
	tests := []struct {
		name   string
		opt    func(*Inputs)
		action Action
		check  string
		reason []string // the parts the reason must name; the whole when exact
		exact  bool
		trace  string
	}{
		{
			name:   "mismatch_under_secure_boot_lockdown",
			opt:    auth(kernel.AuthenticodeMismatch, mismatch, "integrity", "enabled"),
			action: Refuse, check: CheckImage,
			reason: []string{image51 + ": its Authenticode signature does not match the image (patched or damaged: " + mismatch +
				"), and Secure Boot lockdown (integrity) makes the kernel refuse it"},
			exact: true,
			trace: results("image=fail"),
		},
		{
			name:   "mismatch_under_lockdown_without_secure_boot",
			opt:    auth(kernel.AuthenticodeMismatch, mismatch, "confidentiality", ""),
			action: Refuse, check: CheckImage,
			reason: []string{image51, "does not match the image", "kernel lockdown (confidentiality) makes the kernel refuse it"},
			trace:  results("image=fail"),
		},
		{
			name:   "unreadable_signature_under_lockdown",
			opt:    auth(kernel.AuthenticodeUnreadable, "kernel image has an unreadable Authenticode signature: digest algorithm 1.2.840.113549.2.5 is not one this check computes", "integrity", "enabled"),
			action: Refuse, check: CheckImage,
			reason: []string{image51 + ": its Authenticode signature cannot be read: ", "1.2.840.113549.2.5", "Secure Boot lockdown (integrity)"},
			trace:  results("image=fail"),
		},
		{
			name:   "mismatch_without_lockdown_switches",
			opt:    auth(kernel.AuthenticodeMismatch, mismatch, "none", "disabled"),
			action: Switch,
			reason: []string{"switching to " + rel51},
			trace:  allPass,
		},
		{
			name:   "mismatch_without_lockdown_lsm_switches",
			opt:    auth(kernel.AuthenticodeMismatch, mismatch, "", ""),
			action: Switch,
			reason: []string{"switching to " + rel51},
			trace:  allPass,
		},
		{
			name:   "match_under_lockdown_switches",
			opt:    auth(kernel.AuthenticodeMatch, "sha256 digest matches", "integrity", "enabled"),
			action: Switch,
			reason: []string{"switching to " + rel51},
			trace:  allPass,
		},
		{
			name:   "not_checked_under_lockdown_switches",
			opt:    auth("", "", "integrity", "enabled"),
			action: Switch,
			reason: []string{"switching to " + rel51},
			trace:  allPass,
		},
		{
			name: "unsigned_under_secure_boot_lockdown",
			opt: func(in *Inputs) {
				auth(kernel.AuthenticodeUnsigned, "no Authenticode signature", "integrity", "enabled")(in)
				in.Target.Signed = false
			},
			action: Refuse, check: CheckKexecAllowed,
			reason: []string{"Secure Boot lockdown (integrity) only lets the kernel load signed images, and " + image51 + " is not signed"},
			exact:  true,
			trace:  results("kexec-allowed=fail"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Plan(inputs(tt.opt))
			if d.Action != tt.action || d.Check != tt.check {
				t.Fatalf("Plan = %s at %q (%s); want %s at %q", d.Action, d.Check, d.Reason, tt.action, tt.check)
			}
			if tt.exact && d.Reason != tt.reason[0] {
				t.Errorf("Plan.Reason = %q; want %q", d.Reason, tt.reason[0])
			}
			for _, part := range tt.reason {
				if !strings.Contains(d.Reason, part) {
					t.Errorf("Plan.Reason = %q; want it to name %q", d.Reason, part)
				}
			}
			if strings.Contains(d.Reason, "\n") {
				t.Errorf("Plan.Reason = %q; want one line", d.Reason)
			}
			if got := trace(d); got != tt.trace {
				t.Errorf("trace = %s; want %s", got, tt.trace)
			}
			if d.Action == Refuse && !d.RetryAt.IsZero() {
				t.Errorf("Plan.RetryAt = %v; a refusal lasts (no retry time)", d.RetryAt)
			}
		})
	}
}
