package upgrade

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// TrialBus is what the trial boot asks of systemd beyond Bus. A Bus
// without it (an old build's fake) arms no watchdog and checks no units.
type TrialBus interface {
	KExecWatchdog(ctx context.Context) (time.Duration, error)
	RuntimeWatchdog(ctx context.Context) (time.Duration, error)
	SetKExecWatchdog(ctx context.Context, d time.Duration) error
	SetRuntimeWatchdog(ctx context.Context, d time.Duration) error
	UnitStates(ctx context.Context, units []string) (map[string]string, error)
}

// ReadTrialFacts reads what PlanTrial needs under root.
func ReadTrialFacts(root string, cfg config.Config, f host.Facts) TrialFacts {
	tf := TrialFacts{Watchdog: cfg.Watchdog, Running: f.Running, Grub: f.Platform.Grub != nil}
	tf.Device, tf.DeviceErr = host.ReadWatchdog(root)
	if tf.Grub {
		if data, err := os.ReadFile(filepath.Join(root, "boot/grub/grub.cfg")); err == nil {
			tf.GrubCfg = data
		}
		tf.GrubEnv, tf.GrubEnvErr = os.ReadFile(filepath.Join(root, host.GrubEnvPath))
	}
	return tf
}

// prepareTrial plans the switch's trial before anything is held: a
// [watchdog] require without a device refuses the switch; with a GRUB
// fallback, panic=10 joins the command line that will be loaded.
func (s *switchRun) prepareTrial() (Failure, bool) {
	t, refusal := PlanTrial(ReadTrialFacts(s.env.Root, s.r.Config, s.r.Facts))
	if refusal != "" {
		return Failure{Severity: Postponed, Check: CheckWatchdog, Reason: refusal}, false
	}
	c := s.r.Decision.Cmdline
	if t.FallbackEntry != "" {
		c, t.PanicAdded = WithPanic(c)
	}
	if t.Watchdog != "" {
		c, t.WatchdogCmdline = WithWatchdogSec(c, time.Duration(t.WatchdogSeconds*float64(time.Second)))
	}
	if t.PanicAdded || t.WatchdogCmdline {
		marked, err := kernel.WithAttempt(c, s.attempt.ID)
		switch {
		case err == nil && s.t.CmdlineMax > 0 && kernel.CheckCmdlineFor(kernel.NativeArch, marked, s.t.CmdlineMax) != nil:
			// The additions do not fit: load the line as planned.
			t.PanicAdded, t.WatchdogCmdline = false, false
		case err != nil:
			return Failure{Severity: Lasting, Check: plan.CheckCmdline, Kind: plan.CheckCmdline, Reason: err.Error()}, false
		default:
			s.cmdline = marked
		}
	}
	if TrialNeeded(t, s.r.Config.Health) {
		s.trial = &t
	}
	return Failure{}, true
}

// TrialNeeded reports whether a switch has a trial: something protects it
// (a GRUB fallback, a watchdog) or judges it (a configured [health]).
// Without any, the switch is verified when the new kernel is seen, as
// before trials existed. It is pure.
func TrialNeeded(t state.Trial, h config.Health) bool {
	return t.FallbackEntry != "" || t.Watchdog != "" || h.Configured() || h.DegradedUnhealthy
}

// armTrial sets up the trial right before kexec.target is queued: it
// records the trial, points GRUB's one-shot next_entry at the running
// kernel, and sets systemd's KExecWatchdogSec so the hardware watchdog
// stays armed across the kexec. A fallback that cannot be written is
// reported, not fatal; a watchdog that cannot be armed refuses the switch
// only under [watchdog] require.
func (s *switchRun) armTrial(bus Bus) (Failure, bool) {
	if s.trial == nil {
		return Failure{}, true
	}
	t := s.trial
	s.st.Staged.Trial = t
	if err := state.Save(s.env.Root, *s.st); err != nil {
		return Failure{Severity: Postponed, Check: plan.CheckState, Reason: err.Error()}, false
	}
	if t.FallbackEntry != "" {
		entry := t.FallbackEntry
		if err := host.WriteGrubEnvVar(s.env.Root, host.GrubNextEntry, &entry); err != nil {
			t.FallbackEntry, t.FallbackUnavailable = "", "writing GRUB's next_entry failed: "+err.Error()
		}
	}
	if t.Watchdog != "" {
		if err := armWatchdog(s.ctx, bus, t); err != nil {
			t.WatchdogErr = err.Error()
			if s.r.Config.Watchdog.Require {
				return Failure{Severity: Postponed, Check: CheckWatchdog, Reason: "the watchdog cannot be kept armed across the kexec (" + err.Error() + "), and [watchdog] require = true"}, false
			}
		}
	}
	if err := state.Save(s.env.Root, *s.st); err != nil {
		return Failure{Severity: Postponed, Check: plan.CheckState, Reason: err.Error()}, false
	}
	fields := attemptFields(s.attempt)
	fields["TRIAL"] = "armed"
	send(s.env, systemd.Event{Kind: systemd.EventTrial, Message: fmt.Sprintf("trial boot of %s armed: %s", s.attempt.To.Release, DescribeTrial(t)), Fields: fields})
	return Failure{}, true
}

// armWatchdog sets KExecWatchdogSec to the trial's timeout unless it is
// already at least that, remembering the old boot's values.
func armWatchdog(ctx context.Context, bus Bus, t *state.Trial) error {
	tb, ok := bus.(TrialBus)
	if !ok {
		return fmt.Errorf("systemd's KExecWatchdogSec cannot be set over this connection")
	}
	d := time.Duration(t.WatchdogSeconds * float64(time.Second))
	cur, err := tb.KExecWatchdog(ctx)
	if err != nil {
		return err
	}
	t.PrevKExecWatchdogSeconds = cur.Seconds()
	if rt, err := tb.RuntimeWatchdog(ctx); err == nil {
		t.PrevRuntimeWatchdogSeconds = rt.Seconds()
	}
	if cur >= d {
		return nil
	}
	if err := tb.SetKExecWatchdog(ctx, d); err != nil {
		return err
	}
	t.KExecWatchdogSet = true
	return nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// disarmWatchdog ends the watchdog's part in a trial that is over on a
// kernel started with systemd.watchdog_sec=: systemd's runtime and kexec
// watchdogs go back to the old boot's values (off, usually: systemd then
// closes the device with the magic close, which stops it). Failures go to
// stderr.
func disarmWatchdog(ctx context.Context, env Env, t *state.Trial) {
	if t == nil || !t.WatchdogCmdline {
		return
	}
	bus, err := env.Connect(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kexec-upgrade: the watchdog stays armed: %v\n", err)
		return
	}
	defer bus.Close()
	tb, ok := bus.(TrialBus)
	if !ok {
		return
	}
	if err := tb.SetRuntimeWatchdog(ctx, seconds(t.PrevRuntimeWatchdogSeconds)); err != nil {
		fmt.Fprintf(os.Stderr, "kexec-upgrade: the watchdog stays armed: %v\n", err)
	}
	if err := tb.SetKExecWatchdog(ctx, seconds(t.PrevKExecWatchdogSeconds)); err != nil {
		fmt.Fprintf(os.Stderr, "kexec-upgrade: %v\n", err)
	}
}

// undoTrialSetup takes back what armTrial did for a switch that did not
// happen: GRUB's next_entry is cleared (it would make the next firmware
// boot skip the newest kernel once) and KExecWatchdogSec set back.
// Failures are reported on stderr: neither stops a run.
func undoTrialSetup(env Env, staged *state.Staged) {
	if staged == nil || staged.Trial == nil {
		return
	}
	clearFallback(env, staged.Trial)
	if staged.Trial.KExecWatchdogSet {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		bus, err := env.Connect(ctx)
		if err != nil {
			fmt.Fprintf(os.Stderr, "kexec-upgrade: KExecWatchdogSec stays set: %v\n", err)
			return
		}
		defer bus.Close()
		if tb, ok := bus.(TrialBus); ok {
			if err := tb.SetKExecWatchdog(ctx, seconds(staged.Trial.PrevKExecWatchdogSeconds)); err != nil {
				fmt.Fprintf(os.Stderr, "kexec-upgrade: %v\n", err)
			}
		}
	}
}

// clearFallback removes GRUB's next_entry when it is still the one this
// trial wrote (GRUB clears it itself when it boots it).
func clearFallback(env Env, t *state.Trial) {
	if t == nil || t.FallbackEntry == "" {
		return
	}
	data, err := os.ReadFile(filepath.Join(env.Root, host.GrubEnvPath))
	if err != nil {
		fmt.Fprintf(os.Stderr, "kexec-upgrade: GRUB's next_entry not cleared: %v\n", err)
		return
	}
	env2, err := host.ParseGrubEnv(data)
	if err != nil || env2[host.GrubNextEntry] != t.FallbackEntry {
		return
	}
	if err := host.WriteGrubEnvVar(env.Root, host.GrubNextEntry, nil); err != nil {
		fmt.Fprintf(os.Stderr, "kexec-upgrade: GRUB's next_entry not cleared: %v\n", err)
	}
}
