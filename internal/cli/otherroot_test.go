package cli

import (
	"context"
	"strings"
	"testing"
)

// TestSetupOtherRootNeverActs: on a root other than /, setup wires a loader
// and a bus that refuse, so `run --root DIR` decides but never talks to
// systemd or stages a kernel, even when forced. The test checks the wiring
// and then runs with it, so a regression cannot reach the real kernel.
func TestSetupOtherRootNeverActs(t *testing.T) {
	root := fixtureRoot(t, "debian_cloud", windowConfig)
	guard := func(a *app) {
		ownedByTester(a)
		l, ok := a.env.Loader.(otherRootLoader)
		if !ok {
			t.Fatalf("setup(%s) wired loader %T; want otherRootLoader", root, a.env.Loader)
		}
		for name, err := range map[string]error{"Load": l.Load(nil, nil, ""), "Unload": l.Unload(), "Permitted": l.Permitted()} {
			if err == nil || !strings.Contains(err.Error(), "is not the running system") {
				t.Fatalf("otherRootLoader.%s = %v; want the --root refusal", name, err)
			}
		}
		if _, err := a.env.Connect(context.Background()); err == nil || !strings.Contains(err.Error(), "is not the running system") {
			t.Fatalf("Connect on another root = %v; want the --root refusal", err)
		}
	}
	stdout, stderr, code := runCLI(t, guard, "run", "--now", "--root", root)
	if code != 0 {
		t.Fatalf("run --now --root exit %d; stderr %q", code, stderr)
	}
	if strings.Contains(stdout, "switching") || !strings.Contains(stdout, "is not the running system") {
		t.Errorf("run --now --root output %q; want a postponement naming --root", stdout)
	}
	for _, args := range [][]string{{"run", "--dry-run"}, {"status"}, {"status", "--json"}} {
		_, stderr, code := runCLI(t, guard, append(args, "--root", root)...)
		if code != 0 {
			t.Errorf("%v --root exit %d; stderr %q", args, code, stderr)
		}
	}
}
