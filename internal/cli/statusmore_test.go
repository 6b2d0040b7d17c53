package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
)

// TestStatusSafetyKeys: a pause, the tries left on a failing build and the
// hooks' outcome show in status, text and JSON.
func TestStatusSafetyKeys(t *testing.T) {
	root := fixtureRoot(t, "debian_cloud", windowConfig)
	f := &fakeEnv{}
	if _, stderr, code := runCLI(t, f.adjust, "pause", "--root", root, "--for", "3d", "--reason", "change freeze"); code != 0 {
		t.Fatalf("pause: %d %s", code, stderr)
	}
	st, err := state.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	k := state.Kernel{Release: "6.1.0-51-cloud-amd64", Build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)"}
	st.CountTry(state.Attempt{To: k, Kind: state.FailPermission, Reason: "EPERM from a seccomp filter", At: time.Now()})
	st.SetHookReport(state.HookReport{Phase: "post-switch", Attempt: "a1", At: time.Now(), Ran: 2, Failed: []string{"hook /etc/kexec-upgrade/hooks/post-switch.d/20-webhook failed (exit status 7): curl: (7)"}})
	if err := state.Save(root, st); err != nil {
		t.Fatal(err)
	}
	stdout, _, code := runCLI(t, f.adjust, "status", "--root", root, "--json")
	if code != 0 {
		t.Fatalf("status --json exit %d", code)
	}
	var s struct {
		Paused *struct {
			Until  *string `json:"until"`
			Reason string  `json:"reason"`
		} `json:"paused"`
		Tries *struct {
			Left int    `json:"left"`
			Kind string `json:"kind"`
		} `json:"tries"`
		Hooks []struct {
			Failed []string `json:"failed"`
		} `json:"hooks"`
		Decision struct {
			Check string `json:"check"`
		} `json:"decision"`
	}
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, stdout)
	}
	if s.Paused == nil || s.Paused.Until == nil || s.Paused.Reason != "change freeze" || s.Decision.Check != "paused" {
		t.Errorf("status --json paused = %+v, decision %s; want the pause with its end and reason", s.Paused, s.Decision.Check)
	}
	if s.Tries == nil || s.Tries.Left != state.MaxTries-1 || s.Tries.Kind != state.FailPermission {
		t.Errorf("status --json tries = %+v; want %d left after a permission failure", s.Tries, state.MaxTries-1)
	}
	if len(s.Hooks) != 1 || len(s.Hooks[0].Failed) != 1 {
		t.Errorf("status --json hooks = %+v; want the failed post-switch hook", s.Hooks)
	}
	text, _, _ := runCLI(t, f.adjust, "status", "--root", root)
	for _, want := range []string{"Paused:", "change freeze", "Tries:", "2 more tries", "Hooks:", "20-webhook"} {
		if !strings.Contains(text, want) {
			t.Errorf("status text lacks %q:\n%s", want, text)
		}
	}
}
