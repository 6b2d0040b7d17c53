package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const fleetState = `{"version":1,"fleet_lock":{"held":true,"since":"2026-03-28T02:11:00Z","url":"http://lock.example:8080","group":"web","id":"a1b2c3",` +
	`"last_answer":{"at":"2026-03-28T02:11:00Z","op":"pre-reboot","status":200}}}`

func fleetFiles() map[string]string {
	return map[string]string{
		"etc/kexec-upgrade/config.toml":    "min_uptime = \"0s\"\nspread = \"30m\"\n" + contractWindow + "\n[fleet_lock]\nurl = \"http://lock.example:8080\"\ngroup = \"web\"\n",
		"var/lib/kexec-upgrade/state.json": fleetState,
	}
}

func TestStatusShowsFleetLockAndSpread(t *testing.T) {
	root := fixtureRoot(t, "debian_cloud", fleetFiles())
	f := &fakeEnv{}
	stdout, stderr, code := runCLI(t, f.onWednesday, "status", "--root", root, "--json")
	if code != ExitOK {
		t.Fatalf("status --json exit %d: %s", code, stderr)
	}
	var s jsonStatus
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatal(err)
	}
	fl := s.FleetLock
	if !fl.Configured || !fl.Held || fl.ID != "a1b2c3" || fl.Group != "web" || fl.LastAnswer == nil || fl.LastAnswer.Status != 200 {
		t.Errorf("fleet_lock = %+v; want configured, held by a1b2c3 in web, last answer 200", fl)
	}
	sl := s.Window.Slot
	if sl == nil || sl.Spread != "30m" || sl.OffsetSeconds < 0 || sl.OffsetSeconds >= 1800 || sl.Margin != "5m" || sl.Open {
		t.Fatalf("window.slot = %+v; want a closed slot with an offset in [0, 30m) and margin 5m", sl)
	}
	start, _ := time.Parse(time.RFC3339, sl.Start)
	if want := time.Date(2026, 3, 28, 2, 0, 0, 0, time.UTC).Add(time.Duration(sl.OffsetSeconds) * time.Second); !start.Equal(want) {
		t.Errorf("slot start %s; want the opening plus the offset, %s", sl.Start, want.Format(time.RFC3339))
	}

	text, _, _ := runCLI(t, f.onWednesday, "status", "--root", root)
	for _, want := range []string{"Fleet lock:   held at http://lock.example:8080 as a1b2c3 (group web)", "last answer: pre-reboot 200 OK", "spread offset " + sl.SpreadOffset + " of 30m, margin 5m", "this host's turn comes at"} {
		if !strings.Contains(text, want) {
			t.Errorf("status does not show %q:\n%s", want, text)
		}
	}
}

func TestHistoryShowsFleetLock(t *testing.T) {
	root := fixtureRoot(t, "debian_cloud", fleetFiles())
	stdout, _, code := runCLI(t, (&fakeEnv{}).adjust, "history", "--root", root)
	if code != ExitOK || !strings.Contains(stdout, "Fleet lock: held at http://lock.example:8080 as a1b2c3") {
		t.Errorf("history (exit %d) lacks the fleet lock:\n%s", code, stdout)
	}
	stdout, _, _ = runCLI(t, (&fakeEnv{}).adjust, "history", "--root", root, "--json")
	var h struct {
		FleetLock *jsonFleetLock `json:"fleet_lock"`
	}
	if err := json.Unmarshal([]byte(stdout), &h); err != nil || h.FleetLock == nil || !h.FleetLock.Held {
		t.Errorf("history --json fleet_lock = %+v (%v):\n%s", h.FleetLock, err, stdout)
	}
}
