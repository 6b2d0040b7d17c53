package upgrade_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock"
	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock/fleetlocktest"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

// rigMachineID is the fixture host's /etc/machine-id.
const rigMachineID = "0d7d1d5e5c2a4f0b9b0e8a7c6d5e4f30"

// fleetRig is a rig whose configuration points at a FleetLock test server.
func fleetRig(t *testing.T, mode fleetlocktest.Mode) (*rig, *fleetlocktest.Server, string) {
	t.Helper()
	r := newRig(t)
	r.write("etc/machine-id", rigMachineID+"\n")
	srv := fleetlocktest.New(mode, 1)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	r.write("etc/kexec-upgrade/config.d/fleet.toml", "[fleet_lock]\nurl = \""+ts.URL+"/\"\ngroup = \"web\"\n")
	id, err := fleetlock.MachineID([]byte(rigMachineID + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return r, srv, id
}

// ops lists the server's calls as "op id status".
func ops(srv *fleetlocktest.Server) []string {
	var out []string
	for _, c := range srv.Calls() {
		out = append(out, c.Op+" "+c.ID+" "+http.StatusText(c.Status))
	}
	return out
}

func fleetEvents(r *rig) []systemd.Event {
	var out []systemd.Event
	for _, e := range r.journal() {
		if e.Kind == systemd.EventFleetLock {
			out = append(out, e)
		}
	}
	return out
}

func TestFleetLockSwitchAndRelease(t *testing.T) {
	for _, mode := range []fleetlocktest.Mode{fleetlocktest.Airlock, fleetlocktest.Poseidon} {
		t.Run(mode.String(), func(t *testing.T) {
			r, srv, id := fleetRig(t, mode)
			out, _, err := r.run(context.Background(), false)
			if err != nil || !out.Switching {
				t.Fatalf("Run = switching %v, err %v, act %v; want a switch", out.Switching, err, out.ActErr)
			}
			if got, want := srv.Holders("web"), []string{id}; strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("holders after the switch = %v, want %v", got, want)
			}
			st := r.state()
			if st.FleetLock == nil || !st.FleetLock.Held || st.FleetLock.ID != id || st.FleetLock.Group != "web" {
				t.Fatalf("state fleet lock = %+v, want held by %s in web", st.FleetLock, id)
			}

			// The new kernel is up: steady-state goes out first, the slot is free.
			r.boot(newRelease, newBuild, newBootID, 0xD0)
			r.now = r.now.Add(2 * time.Minute)
			if _, _, err := r.run(context.Background(), false); err != nil {
				t.Fatalf("Run after the switch: %v", err)
			}
			if got := srv.Holders("web"); len(got) != 0 {
				t.Errorf("holders after the verified boot = %v, want none", got)
			}
			want := []string{"pre-reboot " + id + " OK", "steady-state " + id + " OK"}
			if got := ops(srv); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("server calls = %q, want %q", got, want)
			}
			if st := r.state(); st.FleetLock.Held || st.FleetLock.LastAnswer == nil || st.FleetLock.LastAnswer.Op != "steady-state" {
				t.Errorf("state fleet lock after release = %+v", st.FleetLock)
			}
			if ev := fleetEvents(r); len(ev) != 1 || ev[0].Fields["FLEET_OP"] != "steady-state" || ev[0].Fields["FLEET_ID"] != id {
				t.Errorf("fleet-lock journal events of the run after boot = %+v, want one steady-state", ev)
			}
			// Nothing more to do: no more calls.
			r.now = r.now.Add(5 * time.Minute)
			r.run(context.Background(), false)
			if n := len(srv.Calls()); n != 2 {
				t.Errorf("an idle run called the server: %q", ops(srv))
			}
		})
	}
}

func TestFleetLockBusyPostpones(t *testing.T) {
	for _, mode := range []fleetlocktest.Mode{fleetlocktest.Airlock, fleetlocktest.Poseidon} {
		t.Run(mode.String(), func(t *testing.T) {
			r, srv, id := fleetRig(t, mode)
			srv.Hold("web", "other-host")
			out, calls, err := r.run(context.Background(), false)
			if err != nil || out.Switching {
				t.Fatalf("Run = switching %v, err %v; want a postponement", out.Switching, err)
			}
			if out.ActErr == nil || !strings.Contains(out.ActErr.Error(), "fleet lock not granted by") {
				t.Errorf("ActErr = %v, want the server's refusal", out.ActErr)
			}
			if hasCall(calls, "load /") {
				t.Errorf("a kernel was loaded without the slot: %q", calls)
			}
			st := r.state()
			if st.Decision == nil || st.Decision.Check != upgrade.CheckFleetLock {
				t.Errorf("state decision = %+v, want postponed on %s", st.Decision, upgrade.CheckFleetLock)
			}
			if st.FleetLock == nil || st.FleetLock.Held || st.FleetLock.LastAnswer == nil || st.FleetLock.LastAnswer.Kind == "" {
				t.Errorf("state fleet lock = %+v, want not held, with the server's error kind", st.FleetLock)
			}

			// status shows the refusal, though the plan alone says switch.
			rep, err := upgrade.Assess(context.Background(), r.env(), false)
			if err != nil {
				t.Fatal(err)
			}
			if d := upgrade.ShownDecision(rep); d.Action != plan.Postpone || d.Check != upgrade.CheckFleetLock || !strings.Contains(d.Reason, "other-host") && mode == fleetlocktest.Poseidon {
				t.Errorf("shown decision = %s (%s) %q; want the fleet-lock postponement", d.Action, d.Check, d.Reason)
			}

			// Released by the other host: the next run switches.
			srv.Release("web", "other-host")
			r.now = r.now.Add(5 * time.Minute)
			out, _, err = r.run(context.Background(), false)
			if err != nil || !out.Switching {
				t.Fatalf("Run after the release = switching %v, err %v, act %v", out.Switching, err, out.ActErr)
			}
			if got := srv.Holders("web"); len(got) != 1 || got[0] != id {
				t.Errorf("holders = %v, want %s", got, id)
			}
		})
	}
}

func TestFleetLockServerDown(t *testing.T) {
	r, srv, _ := fleetRig(t, fleetlocktest.Airlock)
	srv.SetDown(true)
	start := time.Now()
	out, calls, err := r.run(context.Background(), false)
	if err != nil || out.Switching {
		t.Fatalf("Run = switching %v, err %v; want a postponement", out.Switching, err)
	}
	if elapsed := time.Since(start); elapsed > 20*time.Second {
		t.Errorf("a down server held the run for %v", elapsed)
	}
	if out.ActErr == nil || !strings.Contains(out.ActErr.Error(), "fleet lock server did not answer") {
		t.Errorf("ActErr = %v, want the server named as not answering", out.ActErr)
	}
	if hasCall(calls, "load /") {
		t.Errorf("a kernel was loaded without the slot: %q", calls)
	}
	// The lost answer may have given a slot: it is given back on the next
	// run, before anything else.
	if st := r.state(); st.FleetLock == nil || !st.FleetLock.Held || !st.FleetLock.Unconfirmed {
		t.Errorf("state fleet lock = %+v, want held (unconfirmed)", st.FleetLock)
	}
	srv.SetDown(false)
	r.now = r.now.Add(5 * time.Minute)
	out, _, err = r.run(context.Background(), false)
	if err != nil || !out.Switching {
		t.Fatalf("Run with the server back = switching %v, err %v, act %v", out.Switching, err, out.ActErr)
	}
	calls2 := ops(srv)
	if len(calls2) < 2 || !strings.HasPrefix(calls2[len(calls2)-2], "steady-state") || !strings.HasPrefix(calls2[len(calls2)-1], "pre-reboot") {
		t.Errorf("server calls = %q, want steady-state then pre-reboot at the end", calls2)
	}
}

func TestFleetLockServerErrorVerbatim(t *testing.T) {
	r, srv, _ := fleetRig(t, fleetlocktest.Airlock)
	srv.FailNext(http.StatusInternalServerError, "etcd_unavailable", "context deadline exceeded talking to etcd")
	out, _, _ := r.run(context.Background(), false)
	if out.ActErr == nil || !strings.Contains(out.ActErr.Error(), "etcd_unavailable") || !strings.Contains(out.ActErr.Error(), "context deadline exceeded talking to etcd") {
		t.Errorf("ActErr = %v, want the server's kind and value verbatim", out.ActErr)
	}
	if a := r.state().FleetLock.LastAnswer; a == nil || a.Status != 500 || a.Kind != "etcd_unavailable" {
		t.Errorf("last answer = %+v", a)
	}
}

func TestFleetLockHeldAfterFailedSwitch(t *testing.T) {
	r, srv, id := fleetRig(t, fleetlocktest.Poseidon)
	if out, _, err := r.run(context.Background(), false); err != nil || !out.Switching {
		t.Fatalf("Run = %v, %v", out.Switching, err)
	}
	// The old kernel came back: the switch failed, the slot stays held.
	r.boot(oldRelease, oldBuild, newBootID, loaderGrub)
	for range 3 {
		r.now = r.now.Add(5 * time.Minute)
		r.run(context.Background(), false)
	}
	if got := srv.Holders("web"); len(got) != 1 || got[0] != id {
		t.Errorf("holders after a failed switch = %v, want still %s", got, id)
	}
	if st := r.state(); !st.FleetLock.Held {
		t.Errorf("state fleet lock = %+v, want held", st.FleetLock)
	}
	for _, c := range srv.Calls() {
		if c.Op == "steady-state" {
			t.Errorf("steady-state sent after a failed switch")
		}
	}
	st := r.state()
	if last, _ := st.LastAttempt(); last.Outcome != state.OutcomeFailed {
		t.Errorf("last attempt = %+v, want failed", last)
	}
}

func TestFleetLockGivenBackWhenTheSwitchDoesNotStart(t *testing.T) {
	r, srv, _ := fleetRig(t, fleetlocktest.Airlock)
	// An inhibitor appears between the load and the switch.
	r.hook = onCall(load51, 1, func() {
		r.inhibitors = []systemd.Inhibitor{{What: "shutdown", Who: "db", Why: "backup", Mode: "block", PID: 9}}
	})
	out, _, _ := r.run(context.Background(), false)
	if out.Switching || out.ActErr == nil {
		t.Fatalf("Run = switching %v, act %v; want a postponement", out.Switching, out.ActErr)
	}
	if got := srv.Holders("web"); len(got) != 0 {
		t.Errorf("holders after a postponed switch = %v, want none", got)
	}
	if st := r.state(); st.FleetLock.Held {
		t.Errorf("state says held after steady-state: %+v", st.FleetLock)
	}
	if d := out.Report.Decision; d.Action != plan.Switch {
		t.Errorf("decision = %s", d.Action)
	}
}
