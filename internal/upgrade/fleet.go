package upgrade

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock"
	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// CheckFleetLock names the FleetLock step in traces and the journal: the
// last gate before a switch, after every check of the plan has passed.
const CheckFleetLock = "fleet-lock"

// FleetIdentity is who this host is to its FleetLock server.
type FleetIdentity struct {
	URL, Group, ID string
}

// ResolveFleetIdentity resolves the configured identity: the id defaults to one
// derived from /etc/machine-id (never the raw id, which machine-id(5) asks
// to keep private).
func ResolveFleetIdentity(cfg config.FleetLock, f host.Facts) (FleetIdentity, error) {
	id := FleetIdentity{URL: cfg.URL, Group: cfg.Group, ID: cfg.ID}
	if id.ID == "" {
		derived, err := fleetlock.MachineID([]byte(f.MachineID))
		if err != nil {
			return id, fmt.Errorf("fleet_lock.id is not set and none can be derived from /etc/machine-id: %w", err)
		}
		id.ID = derived
	}
	return id, nil
}

// fleetClient builds the client for an identity, with the TLS settings
// ([fleet_lock] ca_file, client_cert, client_key) of the configuration as
// it is now: the identity may be one the state file kept from an earlier
// run. The certificate files are read here, each time, so that a renewed
// certificate is used at once; a file that is missing or wrong is an error
// (a postponement, for the caller) naming the file, line and key.
func fleetClient(env Env, id FleetIdentity) (*fleetlock.Client, error) {
	cfg, err := config.Load(env.Root, env.Config)
	if err != nil && !errors.Is(err, config.ErrInvalid) {
		return nil, fmt.Errorf("read the fleet lock's TLS settings: %w", err)
	}
	// A configuration with errors elsewhere still says which CA to trust;
	// TLSConfig checks its own keys.
	tlsConfig, err := cfg.FleetLock.TLSConfig(env.Root, env.Config)
	if err != nil {
		// One line (a reason in the journal and in status), still matching
		// config.ErrInvalid.
		return nil, fmt.Errorf("TLS settings: %s (%w)", strings.ReplaceAll(err.Error(), "\n", "; "), config.ErrInvalid)
	}
	if tlsConfig != nil && (config.FleetLock{URL: id.URL}).PlainHTTP() {
		// A slot taken over http:// before the URL moved to https:// is
		// given back where it was taken.
		tlsConfig = nil
	}
	return fleetlock.NewTLS(id.URL, id.Group, id.ID, env.FleetLockTimeout, tlsConfig)
}

// recordAnswer keeps the server's answer in the state, dated by the run's
// clock, and logs it when it differs from the last one: a server that is
// down for an hour is one journal line, not twelve.
func recordAnswer(env Env, st *state.State, id FleetIdentity, ans fleetlock.Answer, callErr error) {
	fl := st.FleetLock
	if fl == nil {
		fl = &state.FleetLock{}
		st.FleetLock = fl
	}
	a := &state.FleetLockAnswer{At: env.Now(), Op: ans.Op, Status: ans.Status, Kind: ans.Kind, Value: ans.Value}
	if callErr != nil {
		a.Error = oneLine(callErr.Error())
	}
	changed := fl.LastAnswer == nil || fl.LastAnswer.Op != a.Op || fl.LastAnswer.Status != a.Status ||
		fl.LastAnswer.Kind != a.Kind || fl.LastAnswer.Value != a.Value || fl.LastAnswer.Error != a.Error
	fl.LastAnswer = a
	if !changed {
		return
	}
	summary := ans.String()
	if callErr != nil {
		summary = a.Error
	}
	send(env, systemd.Event{Kind: systemd.EventFleetLock, Message: "fleet lock: " + summary, Fields: map[string]string{
		"FLEET_OP": ans.Op, "FLEET_URL": id.URL, "FLEET_GROUP": id.Group, "FLEET_ID": id.ID,
		"FLEET_STATUS": fmt.Sprint(ans.Status), "FLEET_KIND": ans.Kind, "FLEET_VALUE": ans.Value, "REASON": summary,
	}})
}

// HoldsAfterFailure reports whether the slot stays held on purpose: the
// last switch's kernel did not come up, and releasing the slot would let
// the next host of the fleet try the same kernel.
func HoldsAfterFailure(st state.State) bool {
	last, ok := st.LastAttempt()
	return ok && (last.Outcome == state.OutcomeFailed || last.Outcome == state.OutcomeRolledBack)
}

// releaseSlot sends steady-state for a held slot, with the identity that
// took it, unless a failed switch keeps it held. It reports the call's
// error, which never stops a run: later runs retry.
func releaseSlot(ctx context.Context, env Env, st *state.State) error {
	fl := st.FleetLock
	if fl == nil || !fl.Held || st.Staged != nil || HoldsAfterFailure(*st) {
		return nil
	}
	id := FleetIdentity{URL: fl.URL, Group: fl.Group, ID: fl.ID}
	c, err := fleetClient(env, id)
	if err != nil {
		return err
	}
	ans, err := c.SteadyState(ctx)
	recordAnswer(env, st, id, ans, err)
	// A slot that was only maybe ours and that the server refuses to
	// release (poseidon answers 423 while another host holds the lease) was
	// never ours: stop asking.
	if err == nil || (fl.Unconfirmed && errors.Is(err, fleetlock.ErrRefused)) {
		fl.Held, fl.Since, fl.Unconfirmed = false, time.Time{}, false
	}
	return err
}

// markSlotIntent records, before the pre-reboot call, that a slot is
// about to be taken: if the run dies during or after the call, the next
// run finds the slot maybe held and gives it back.
func markSlotIntent(st *state.State, id FleetIdentity, now time.Time) {
	fl := st.FleetLock
	if fl == nil {
		fl = &state.FleetLock{}
		st.FleetLock = fl
	}
	if fl.Held {
		return
	}
	fl.Held, fl.Unconfirmed, fl.Since = true, true, now
	fl.URL, fl.Group, fl.ID = id.URL, id.Group, id.ID
}

// takeSlot asks for a slot before a switch. A refusal or an unreachable
// server is a postponement with the server's words; a lost answer may have
// given us the slot, so it counts as held (unconfirmed) until a
// steady-state clears it.
func takeSlot(ctx context.Context, env Env, st *state.State, id FleetIdentity) (reason string, err error) {
	c, err := fleetClient(env, id)
	if err != nil {
		return "fleet lock: " + err.Error(), err
	}
	ans, err := c.PreReboot(ctx)
	recordAnswer(env, st, id, ans, err)
	fl := st.FleetLock
	fl.URL, fl.Group, fl.ID = id.URL, id.Group, id.ID
	switch {
	case err == nil:
		if !fl.Held || fl.Unconfirmed {
			fl.Since = env.Now()
		}
		fl.Held, fl.Unconfirmed = true, false
		return "", nil
	case errors.Is(err, fleetlock.ErrRefused):
		if fl.Unconfirmed {
			// Only our intent marked it: a clear no means it is not ours.
			fl.Held, fl.Unconfirmed, fl.Since = false, false, time.Time{}
		}
		return fmt.Sprintf("fleet lock not granted by %s: %s", id.URL, ans.String()), err
	default:
		if !fl.Held {
			fl.Held, fl.Unconfirmed, fl.Since = true, true, env.Now()
		}
		return "fleet lock server did not answer: " + oneLine(err.Error()), err
	}
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// ShownDecision is the decision status shows: the plan's, except that a
// switch that the switch step postponed at the last run (the FleetLock
// server refused, a pre-switch hook failed) is shown as that postponement,
// since the plan alone (which calls no server and runs no hook) cannot know
// it. The next run tries again.
func ShownDecision(r Report) plan.Decision {
	d := r.Decision
	last := r.State.Decision
	if d.Action != plan.Switch || d.Forced || last == nil || last.Action != string(plan.Postpone) || last.Target != targetKernel(d) {
		return d
	}
	switch last.Check {
	case CheckFleetLock:
		if r.Config.FleetLock.URL == "" {
			return d
		}
		if fl := r.State.FleetLock; fl != nil && fl.Held && !fl.Unconfirmed {
			return d
		}
	case plan.CheckHook:
	default:
		return d
	}
	reason := last.Reason + " (at " + plan.FormatTime(last.At) + "; the next run tries again)"
	d.Action, d.Check, d.Reason = plan.Postpone, last.Check, reason
	d.Steps = append(append([]plan.Step(nil), d.Steps...), plan.Step{Check: last.Check, Result: plan.Fail, Detail: reason})
	return d
}
