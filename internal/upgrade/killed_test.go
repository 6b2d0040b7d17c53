package upgrade_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock/fleetlocktest"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel/kerneltest"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

// closedWindow is a Tuesday afternoon: outside the rig's Saturday window.
var closedWindow = time.Date(2026, 3, 31, 14, 0, 0, 0, time.UTC)

// killPoint is what survives a SIGKILL at one instant of a switch: the
// state file on disk and whether the kernel had a kernel staged.
type killPoint struct {
	call   string
	state  []byte
	loaded bool
}

// killPoints runs one switch and records, at every call it makes, what a
// SIGKILL at that instant would leave behind.
func killPoints(t *testing.T, r *rig) []killPoint {
	t.Helper()
	var points []killPoint
	r.hook = func(call string) {
		data, _ := os.ReadFile(filepath.Join(r.root, state.Path))
		points = append(points, killPoint{call: call, state: data, loaded: r.loaded})
	}
	if out, _, err := r.run(context.Background(), false); err != nil || !out.Switching {
		t.Fatalf("the switch to record kill points from: Switching %v, ActErr %v, err %v", out.Switching, out.ActErr, err)
	}
	r.hook = nil
	return points
}

// restore puts the host back to what a kill at p left, in the same boot.
func (r *rig) restore(p killPoint) {
	r.t.Helper()
	path := filepath.Join(r.root, state.Path)
	if p.state == nil {
		os.Remove(path)
	} else {
		r.writeBytes(state.Path, p.state)
	}
	r.setLoaded(p.loaded)
}

// TestRunKilledAtAnyInstant: a run killed at any instant of a switch leaves
// a record from which the next run, in the same boot and with the window
// closed, leaves nothing staged, and gives the fleet slot back unless the
// switch had been queued.
func TestRunKilledAtAnyInstant(t *testing.T) {
	for _, fleet := range []bool{false, true} {
		probe := newRig(t)
		if fleet {
			probe, _, _ = fleetRig(t, fleetlocktest.Poseidon)
		}
		points := killPoints(t, probe)
		if len(points) < 10 {
			t.Fatalf("only %d kill points recorded", len(points))
		}
		for i, p := range points {
			t.Run(fmt.Sprintf("fleet_%v/%02d_%s", fleet, i, strings.Fields(p.call)[0]+"_"+strings.Join(strings.Fields(p.call)[1:min(2, len(strings.Fields(p.call)))], "")), func(t *testing.T) {
				r := newRig(t)
				var srv *fleetlocktest.Server
				if fleet {
					r, srv, _ = fleetRig(t, fleetlocktest.Poseidon)
				}
				if p.state != nil {
					// Point the record at this rig's server, as the dead run's was.
					p.state = retargetFleet(t, p.state, r)
				}
				r.restore(p)
				if srv != nil && p.loaded {
					mustPreReboot(t, r, srv)
				}
				r.now = closedWindow
				staged := p.state != nil && bytes.Contains(p.state, []byte(`"staged": {`))
				out, calls, err := r.run(context.Background(), false)
				if err != nil {
					t.Fatalf("next Run() error = %v (calls %q)", err, calls)
				}
				if r.loaded {
					t.Errorf("after a kill at %q and the next run: a kernel is still staged (calls %q)", p.call, calls)
				}
				st := r.state()
				if st.Staged != nil {
					t.Errorf("state Staged = %+v; want nothing left", st.Staged)
				}
				if out.Switching || hasCall(calls, "load /") {
					t.Errorf("the next run switched outside the window: %q", calls)
				}
				if staged && !wasQueued(p.state) && !hasJournal(r, systemd.EventUnstaged) && p.loaded {
					t.Errorf("no %q journal entry after undoing the interrupted switch: %+v", systemd.EventUnstaged, r.journal())
				}
				if fleet && !wasQueued(p.state) {
					if fl := st.FleetLock; fl != nil && fl.Held {
						t.Errorf("fleet slot still held after the undo: %+v", fl)
					}
					if holders := srv.Holders("web"); len(holders) != 0 {
						t.Errorf("server holders = %v; want the slot given back", holders)
					}
				}
			})
		}
	}
}

func wasQueued(data []byte) bool {
	st, err := state.Parse(data)
	return err == nil && st.Staged != nil && st.Staged.CurrentPhase() == state.PhaseQueued
}

func hasJournal(r *rig, kind string) bool {
	for _, e := range r.journal() {
		if e.Kind == kind {
			return true
		}
	}
	return false
}

// retargetFleet rewrites the fleet lock URL in a recorded state file to
// the current rig's server.
func retargetFleet(t *testing.T, data []byte, r *rig) []byte {
	t.Helper()
	st, err := state.Parse(data)
	if err != nil {
		t.Fatalf("recorded state: %v", err)
	}
	if st.FleetLock != nil && st.FleetLock.URL != "" {
		cfg := string(r.read("etc/kexec-upgrade/config.d/fleet.toml"))
		_, rest, _ := strings.Cut(cfg, `url = "`)
		url, _, _ := strings.Cut(rest, `"`)
		st.FleetLock.URL = url
	}
	out, err := state.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mustPreReboot takes the slot on the server as the killed run did.
func mustPreReboot(t *testing.T, r *rig, srv *fleetlocktest.Server) {
	t.Helper()
	st := r.state()
	if st.FleetLock == nil || !st.FleetLock.Held {
		return
	}
	srv.Hold("web", st.FleetLock.ID)
}

// TestRunSIGKILLAfterLoad is the scenario: killed the moment
// kexec_loaded becomes 1, then the window closes: the next run unloads,
// says so in the journal, and a plain reboot stays plain.
func TestRunSIGKILLAfterLoad(t *testing.T) {
	r := newRig(t)
	var at killPoint
	r.hook = func(call string) {
		if call == "loaded?" && r.loaded && at.call == "" {
			data, _ := os.ReadFile(filepath.Join(r.root, state.Path))
			at = killPoint{call: call, state: data, loaded: true}
		}
	}
	if _, _, err := r.run(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	r.hook = nil
	r.restore(at)
	r.now = closedWindow
	out, calls, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatalf("Run() error = %v", err)
	}
	checkCalls(t, "Run() after the kill", calls, []string{"loaded?", "unload", "state attempt interrupted killed", "journal unstaged kind=killed",
		"dpkg-lock", "bus connect", "bus system-state", "bus inhibitors", "bus close", "journal postponed check=window",
		"bus connect", "bus arm 2026-04-04T01:59:50Z", "bus close", "state postpone window"}) // EarlyStart before the opening
	if v := out.Verified; v == nil || v.Outcome != state.OutcomeInterrupted || !strings.Contains(v.Reason, "unloaded the kernel "+newRelease) {
		t.Errorf("Run().Verified = %+v; want the interrupted attempt naming the unloaded kernel", v)
	}
	if left, _, _ := r.state().TriesLeft(state.Kernel{Release: newRelease, Build: newBuild}); left != state.MaxTries-1 {
		t.Errorf("tries left = %d; want %d (a run that keeps being killed stops trying)", left, state.MaxTries-1)
	}
}

// TestRunForeignStagedKernelLeftAlone: a staged kernel with no record of
// ours is neither unloaded nor claimed.
func TestRunForeignStagedKernelLeftAlone(t *testing.T) {
	r := newRig(t)
	r.now = closedWindow
	r.setLoaded(true)
	out, calls, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if hasCall(calls, "unload") || !r.loaded {
		t.Errorf("calls %q: a kernel someone else staged was unloaded", calls)
	}
	if !strings.Contains(strings.Join(out.Report.Warnings, "\n"), "did not stage") {
		t.Errorf("warnings = %q; want one saying kexec-upgrade did not stage it", out.Report.Warnings)
	}
}

// TestRunLoadsWhatWasChecked: the loader reads the descriptors that were
// checked; a file replaced or rewritten between the check and the load is
// not switched to.
func TestRunLoadsWhatWasChecked(t *testing.T) {
	t.Run("same_bytes", func(t *testing.T) {
		r := newRig(t)
		image := r.read(newImage[1:])
		if _, _, err := r.run(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.loadedImage, image) || string(r.loadedInitrd) != initrd51 {
			t.Errorf("the loader read %d image bytes and initrd %q; want the checked %d bytes and %q", len(r.loadedImage), r.loadedInitrd, len(image), initrd51)
		}
	})
	corrupt := kerneltest.BzImage(kerneltest.Options{Release: newRelease, Build: newBuild, Signed: true, Truncate: 300000})
	tests := []struct {
		name   string
		change func(r *rig)
	}{
		{name: "image_replaced", change: func(r *rig) { r.writeBytes(newImage[1:], corrupt) }},
		{name: "image_rewritten_in_place", change: func(r *rig) {
			if err := os.WriteFile(filepath.Join(r.root, newImage), corrupt, 0o644); err != nil {
				r.t.Fatal(err)
			}
		}},
		{name: "initrd_replaced", change: func(r *rig) { r.write(newInitrd[1:], "07070100000001 other initrd") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			checked := r.read(newImage[1:])
			// dpkg writes between the check and the load (where the
			// FleetLock call may take seconds).
			r.hook = onCall(load51, 1, func() { tc.change(r) })
			out, calls, err := r.run(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.loadedImage, checked) && tc.name == "image_replaced" {
				t.Errorf("the loader read %d bytes; want the %d checked ones (the descriptor, not the path)", len(r.loadedImage), len(checked))
			}
			if out.Switching || !errors.Is(out.ActErr, upgrade.ErrPostponed) || !strings.Contains(out.ActErr.Error(), "while it was loaded") {
				t.Errorf("Run() = Switching %v, ActErr %v; want postponed: changed while loaded", out.Switching, out.ActErr)
			}
			if r.loaded || hasCall(calls, "bus start") {
				t.Errorf("calls %q, loaded %v; want unloaded, no switch", calls, r.loaded)
			}
			if d := r.state().Decision; d == nil || d.Action != string(plan.Postpone) {
				t.Errorf("state decision = %+v; want a postponement", d)
			}
		})
	}
}
