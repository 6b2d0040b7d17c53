package state

import (
	"reflect"
	"testing"
	"time"
)

func TestTrialRoundTripAndInTrial(t *testing.T) {
	at := time.Date(2026, 3, 28, 2, 30, 0, 0, time.UTC)
	st := State{Version: FormatVersion, Staged: &Staged{ID: "a", To: Kernel{Release: "6.1.0-51-cloud-amd64"}, Phase: PhaseQueued,
		Trial: &Trial{Phase: TrialRollingBack, FallbackEntry: "gnulinux-advanced-U>gnulinux-6.1.0-50-cloud-amd64-advanced-U",
			Watchdog: "i6300ESB timer", WatchdogSeconds: 120, OldCmdline: "root=UUID=U ro", SwitchedAt: at, UpAt: at.Add(20 * time.Second),
			DetectedAt: at.Add(time.Minute), Unhealthy: "nginx.service is failed",
			Rollback: &Rollback{ID: "b", Cmdline: "root=UUID=U ro kexec_upgrade.attempt=b", QueuedAt: at.Add(61 * time.Second)}}}}
	data, err := Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil || !reflect.DeepEqual(back, st) {
		t.Fatalf("round trip: %+v, %v", back.Staged.Trial, err)
	}
	tests := []struct {
		name string
		st   State
		want bool
	}{
		{"none", State{}, false},
		{"no trial", State{Staged: &Staged{}}, false},
		{"armed", State{Staged: &Staged{Trial: &Trial{Phase: TrialArmed}}}, false},
		{"waiting", State{Staged: &Staged{Trial: &Trial{Phase: TrialWaiting}}}, true},
		{"rolling back", st, true},
	}
	for _, tc := range tests {
		if got := tc.st.InTrial(); got != tc.want {
			t.Errorf("%s: InTrial = %v; want %v", tc.name, got, tc.want)
		}
	}
}
