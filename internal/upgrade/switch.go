package upgrade

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// switchRun is one switch, from the checked files to the queued
// kexec.target. Each effect is preceded by the state record that lets the
// next run finish or undo it (see settle.go), so a run killed at any
// instant never leaves a kernel staged that nobody will use:
//
//  1. pre-flight, holding nothing: open the image and initrd once and check
//     them through those descriptors; make sure no foreign kernel is staged
//     and that the kernel lets this process kexec at all.
//  2. intent: the state says "loading" (and the fleet slot about to be taken).
//  3. the fleet slot (FleetLock pre-reboot).
//  4. load the very descriptors that were checked; kexec_loaded must read 1;
//     neither file may have changed, no initrd may be being written.
//  5. the state says "staged"; the moment's checks again (system state,
//     inhibitors, dpkg).
//  6. the state says "queued"; StartUnit(kexec.target). When that call
//     fails, systemd is asked whether the job exists anyway; if that cannot
//     be known the record stays "queued" and the next boot's check decides.
//
// Any failure before step 6 unloads what was loaded, gives the slot back
// and records why, classified by ClassifyFailure.
type switchRun struct {
	ctx  context.Context
	env  Env
	st   *state.State
	r    Report
	t    *plan.Target
	last *state.Decision // the decision logged before this run
	// attempt is the record this switch will leave.
	attempt state.Attempt
	// cmdline is the decision's command line with the attempt's marker
	// (kexec_upgrade.attempt=ID) appended: what is loaded and recorded,
	// and after the boot the proof in /proc/cmdline that this kexec
	// started the kernel (the only one on arm64, which has no boot_params
	// loader byte).
	cmdline string
	// tookSlot: the FleetLock server may have given a slot; loaded: this
	// run may have staged a kernel; announced: the journal said "staged".
	tookSlot, loaded, announced bool
	// fleet is this host's FleetLock identity; nil without [fleet_lock].
	fleet *FleetIdentity
	// trial is the switch's trial boot (trialprep.go).
	trial *state.Trial
}

// act runs the switch step for a plan that decided to switch.
func act(ctx context.Context, env Env, st *state.State, r Report, last *state.Decision) error {
	d := r.Decision
	now := env.Now()
	s := &switchRun{ctx: ctx, env: env, st: st, r: r, t: d.Target, last: last}
	s.attempt = state.Attempt{
		ID: plan.AttemptID(now, d.Target.Release), At: now, Forced: d.Forced,
		From: state.Kernel{Release: r.Facts.Running.Release, Build: r.Facts.Running.Build},
		To:   state.Kernel{Release: d.Target.Release, Build: d.Target.Build},
	}
	cmdline, err := kernel.WithAttempt(d.Cmdline, s.attempt.ID)
	if err != nil {
		return s.stop(Failure{Severity: Lasting, Check: plan.CheckCmdline, Kind: plan.CheckCmdline, Reason: err.Error()})
	}
	s.cmdline = cmdline
	return s.run()
}

func (s *switchRun) run() error {
	files, err := openBootFiles(s.env.Root, *s.t)
	if err != nil {
		return s.stop(ClassifyFailure(StepOpen, err))
	}
	defer files.Close()
	if f, ok := s.preflight(); !ok {
		return s.stop(f)
	}
	if f, ok := s.prepareTrial(); !ok {
		return s.stop(f)
	}
	if fl := s.r.Config.FleetLock; fl.URL != "" {
		id, err := ResolveFleetIdentity(fl, s.r.Facts)
		if err != nil {
			return s.stop(Failure{Severity: Postponed, Check: CheckFleetLock, Reason: err.Error()})
		}
		s.fleet = &id
	}
	if err := s.writeIntent(); err != nil {
		return s.stop(Failure{Severity: Postponed, Check: plan.CheckState, Reason: err.Error()})
	}
	if f, ok := s.takeFleetSlot(); !ok {
		return s.stop(f)
	}
	if f, ok := s.runPreSwitchHooks(); !ok {
		return s.stop(f)
	}
	if f, ok := s.load(files); !ok {
		return s.stop(f)
	}
	bus, err := s.env.Connect(s.ctx)
	if err != nil {
		return s.stop(Failure{Severity: Postponed, Check: plan.CheckSystemState, Reason: err.Error()})
	}
	defer bus.Close()
	if f, ok := s.recheckMoment(bus); !ok {
		return s.stop(f)
	}
	if f, ok := s.armTrial(bus); !ok {
		return s.stop(f)
	}
	return s.queue(bus)
}

// preflight is what can fail cheaply before anything is held: a kernel
// staged by someone else (kexec-upgrade never replaces it), and a kernel
// that refuses this process kexec altogether (seccomp, an LSM, a missing
// capability), asked with an unload of nothing.
func (s *switchRun) preflight() (Failure, bool) {
	loaded, err := s.env.Loader.Loaded()
	if err != nil {
		return Failure{Severity: Passing, Check: plan.CheckKexecAllowed, Kind: state.FailLoad, Reason: err.Error()}, false
	}
	if loaded {
		return Failure{Severity: Postponed, Check: plan.CheckKexecAllowed,
			Reason: "a kernel that kexec-upgrade did not stage is loaded (/sys/kernel/kexec_loaded = 1): it is left alone; unload it (kexec -u) to let kexec-upgrade switch"}, false
	}
	if err := s.env.Loader.Permitted(); err != nil {
		return ClassifyFailure(StepProbe, err), false
	}
	if s.ctx.Err() != nil {
		return Failure{Severity: Postponed, Check: plan.CheckSystemState, Reason: "kexec-upgrade was asked to stop before loading"}, false
	}
	return Failure{}, true
}

// writeIntent records, durably and before any effect, that this run is
// about to take the fleet slot and load the kernel.
func (s *switchRun) writeIntent() error {
	a := s.attempt
	s.st.Staged = &state.Staged{
		ID: a.ID, From: a.From, To: a.To, Image: s.t.Files.Image, Initrd: s.t.Files.Initrd,
		Cmdline: s.cmdline, OldBootID: s.r.Facts.Running.BootID, StagedAt: a.At, Forced: a.Forced,
		Phase: state.PhaseLoading,
	}
	if s.fleet != nil {
		markSlotIntent(s.st, *s.fleet, s.env.Now())
		s.tookSlot = true
	}
	return state.Save(s.env.Root, *s.st)
}

func (s *switchRun) takeFleetSlot() (Failure, bool) {
	if s.fleet == nil {
		return Failure{}, true
	}
	if reason, err := takeSlot(s.ctx, s.env, s.st, *s.fleet); err != nil {
		return Failure{Severity: Postponed, Check: CheckFleetLock, Reason: reason}, false
	}
	if s.ctx.Err() != nil {
		return Failure{Severity: Postponed, Check: plan.CheckSystemState, Reason: "kexec-upgrade was asked to stop before loading"}, false
	}
	return Failure{}, true
}

// runPreSwitchHooks runs the admin's pre-switch hooks (a drain, a
// notification) with the slot held, immediately before staging: a hook
// that fails or times out postpones the switch and the slot is given back.
func (s *switchRun) runPreSwitchHooks() (Failure, bool) {
	failed, err := runHooks(s.ctx, s.env, s.st, PhasePreSwitch, s.attempt, s.r.Config.Hooks.Timeout)
	switch {
	case err != nil:
		return Failure{Severity: Postponed, Check: plan.CheckHook, Reason: err.Error()}, false
	case failed != nil:
		return Failure{Severity: Postponed, Check: plan.CheckHook, Reason: "pre-switch " + hookFailure(*failed)}, false
	case s.ctx.Err() != nil:
		return Failure{Severity: Postponed, Check: plan.CheckSystemState, Reason: "kexec-upgrade was asked to stop before loading"}, false
	}
	return Failure{}, true
}

// load stages the checked descriptors and makes sure the kernel has them,
// that neither file changed meanwhile and that no initrd is being written.
func (s *switchRun) load(files *bootFiles) (Failure, bool) {
	s.loaded = true // from here on a failure unloads: a failed load may leave one staged
	if err := s.env.Loader.Load(files.image, files.initrd, s.cmdline); err != nil {
		return ClassifyFailure(StepLoad, err), false
	}
	if loaded, err := s.env.Loader.Loaded(); err != nil || !loaded {
		reason := "the kernel reports nothing staged after kexec_file_load succeeded (/sys/kernel/kexec_loaded is not 1)"
		if err != nil {
			reason = err.Error()
		}
		return ClassifyFailure(StepLoaded, errors.New(reason)), false
	}
	if err := files.changed(); err != nil {
		return ClassifyFailure(StepOpen, err), false
	}
	if who, busy := host.InitrdWriter(s.env.Root, s.t.Release); busy {
		return Failure{Severity: Postponed, Check: plan.CheckInitrd, Reason: "while the kernel was loaded: " + who}, false
	}
	s.st.Staged.Phase = state.PhaseStaged
	if err := state.Save(s.env.Root, *s.st); err != nil {
		return Failure{Severity: Postponed, Check: plan.CheckState, Reason: err.Error()}, false
	}
	send(s.env, systemd.Event{Kind: systemd.EventStaged, Message: fmt.Sprintf("staged %s (%s, initrd %s) with command line %q", s.t.Release, files.imagePath, files.initrdFormat, s.cmdline), Fields: attemptFields(s.attempt)})
	s.announced = true
	return Failure{}, true
}

// recheckMoment runs the moment's checks again, just before the point of
// no return.
func (s *switchRun) recheckMoment(bus Bus) (Failure, bool) {
	in := s.r.Inputs
	in.Now = s.env.Now()
	in.SystemState, in.SystemStateErr = bus.SystemState(s.ctx)
	in.Inhibitors, in.InhibitorsErr = bus.Inhibitors(s.ctx)
	in.LockHolder, in.LockErr = s.env.LockHolder()
	if again := plan.Plan(in); again.Action != plan.Switch {
		return Failure{Severity: Postponed, Check: again.Check, Reason: again.Reason}, false
	}
	if s.ctx.Err() != nil {
		return Failure{Severity: Postponed, Check: plan.CheckSystemState, Reason: "kexec-upgrade was asked to stop before the switch"}, false
	}
	return Failure{}, true
}

// queue records the switch as queued, then asks systemd for kexec.target.
// Once systemd has the job, the SIGTERM that follows is the switch
// happening: the calls must not be cut short by our own cancellation.
func (s *switchRun) queue(bus Bus) error {
	queued := s.env.Now()
	s.st.Staged.Phase, s.st.Staged.QueuedAt = state.PhaseQueued, queued
	if err := state.Save(s.env.Root, *s.st); err != nil {
		return s.stop(Failure{Severity: Postponed, Check: plan.CheckState, Reason: err.Error()})
	}
	fields := attemptFields(s.attempt)
	fields["QUEUED_AT"] = queued.UTC().Format(time.RFC3339Nano)
	send(s.env, systemd.Event{Kind: systemd.EventSwitching, Message: fmt.Sprintf("switching from %s to %s: starting kexec.target", s.attempt.From, s.attempt.To), Fields: fields})
	ctx := context.WithoutCancel(s.ctx)
	startErr := bus.StartKexec(ctx)
	if startErr == nil {
		return nil
	}
	queuedAnyway, err := bus.KexecQueued(ctx)
	if err != nil || queuedAnyway {
		// The switch may be under way: keep the record and the slot, and
		// let the next boot's check tell what happened.
		why := "systemd has a kexec.target job or is stopping"
		if err != nil {
			why = "whether systemd queued it cannot be known (" + err.Error() + ")"
		}
		fields["REASON"] = fmt.Sprintf("%v; %s: the next run after boot decides", startErr, why)
		send(s.env, systemd.Event{Kind: systemd.EventSwitching, Message: "switch may be under way: " + fields["REASON"], Fields: fields})
		return nil
	}
	return s.stop(ClassifyFailure(StepStart, fmt.Errorf("%w (systemd has no kexec.target job)", startErr)))
}

// stop ends a switch that will not happen now: it unloads what this run
// may have staged, gives the slot back, records the failure by its
// severity, and returns it as the run's ActErr.
func (s *switchRun) stop(f Failure) error {
	reason := f.Reason
	if s.loaded {
		if err := s.env.Loader.Unload(); err != nil {
			reason += "; unload: " + err.Error()
		}
	}
	undoTrialSetup(s.env, s.st.Staged)
	s.st.Staged = nil
	if s.tookSlot {
		releaseSlot(s.ctx, s.env, s.st)
	}
	now := s.env.Now()
	if f.Severity == Postponed {
		return s.recordPostponement(f.Check, reason, now)
	}
	a := s.attempt
	a.Outcome, a.Kind, a.Reason = state.OutcomeLoadFailed, f.Kind, reason
	s.st.AddAttempt(a)
	message := fmt.Sprintf("switch to %s not started: %s", s.t.Release, reason)
	if f.Severity == Lasting {
		s.st.MarkFailed(a)
	} else if s.st.CountTry(a) {
		message += fmt.Sprintf(" (the %d. time: not tried again automatically)", state.MaxTries)
	} else {
		left, _, _ := s.st.TriesLeft(a.To)
		message += fmt.Sprintf(" (%d more tries before it is given up)", left)
	}
	s.st.Decision = &state.Decision{Action: "failed", Check: f.Kind, Reason: reason, Target: a.To, At: now}
	if err := state.Save(s.env.Root, *s.st); err != nil {
		reason += "; " + err.Error()
	}
	send(s.env, systemd.Event{Kind: systemd.EventFailed, Message: message, Fields: attemptFields(a)})
	return errors.New(reason)
}

// recordPostponement keeps the state and logs the postponement when it
// differs from the last one logged; once the journal said "staged", it is
// always logged, to say why no switch followed.
func (s *switchRun) recordPostponement(check, reason string, now time.Time) error {
	logIt := s.announced || decisionChanged(s.last, plan.Decision{Action: plan.Postpone, Check: check, Reason: reason, Target: s.t})
	if logIt {
		s.st.Decision = &state.Decision{Action: string(plan.Postpone), Check: check, Reason: reason, Target: s.attempt.To, At: now}
	} else {
		s.st.Decision = s.last
	}
	if err := state.Save(s.env.Root, *s.st); err != nil {
		reason += "; " + err.Error()
	}
	if logIt {
		send(s.env, systemd.Event{Kind: systemd.EventPostponed, Message: "postponed: " + reason,
			Fields: map[string]string{"CHECK": check, "REASON": reason, "FROM": s.attempt.From.Release, "TO": s.t.Release, "TO_BUILD": s.t.Build}})
	}
	return postponedError{reason}
}
