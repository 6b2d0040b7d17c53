package upgrade

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// CheckWatchdog names the refusal of a switch when [watchdog] require is
// set and the machine has no watchdog device.
const CheckWatchdog = "watchdog"

// panicParam makes a panicking kernel reset the machine after 10 seconds,
// into the firmware and GRUB's one-shot entry for the old kernel.
const panicParam = "panic=10"

// TrialFacts is what a switch's trial boot is planned from.
type TrialFacts struct {
	Watchdog config.Watchdog
	// Device is the hardware watchdog; nil when there is none.
	Device *host.Watchdog
	// DeviceErr says why the watchdog could not be read.
	DeviceErr error
	// Grub is set when GRUB is the boot loader; GrubCfg is its grub.cfg
	// (nil when it cannot be read) and GrubEnv its environment block.
	Grub    bool
	GrubCfg []byte
	GrubEnv []byte
	// GrubEnvErr says why the environment block could not be read.
	GrubEnvErr error
	// Running is the running kernel (the one to fall back to).
	Running host.Running
}

// PlanTrial decides how a switch will be protected: the GRUB entry to
// point next_entry at (the running kernel's normal entry), or why there is
// none; the watchdog to keep armed across the kexec; the old command line
// a rollback runs with. refusal is non-empty when [watchdog] require is
// set and there is no device. It is pure.
func PlanTrial(f TrialFacts) (t state.Trial, refusal string) {
	t.Phase = state.TrialArmed
	t.OldCmdline = kernel.EditCmdline(f.Running.Cmdline, "", "")
	t.FallbackEntry, t.FallbackUnavailable = planFallback(f)
	switch {
	case f.Device != nil:
		t.Watchdog = f.Device.String()
		t.WatchdogSeconds = f.Watchdog.Timeout.Seconds()
		t.WatchdogStopped = WatchdogStoppedAtKexec(*f.Device)
	case f.DeviceErr != nil:
		t.WatchdogErr = f.DeviceErr.Error()
	}
	if f.Device == nil && f.Watchdog.Require {
		why := "this machine has no hardware watchdog (/sys/class/watchdog/watchdog0)"
		if f.DeviceErr != nil {
			why = "the hardware watchdog cannot be read (" + f.DeviceErr.Error() + ")"
		}
		return t, why + ", and [watchdog] require = true: a new kernel that hangs would not be reset"
	}
	if f.Device != nil && t.WatchdogStopped != "" && f.Watchdog.Require {
		return t, fmt.Sprintf("%s %s, and [watchdog] require = true: %s", t.Watchdog, t.WatchdogStopped, WatchdogKeepRunningFix(*f.Device))
	}
	return t, ""
}

// WatchdogStoppedAtKexec says why the running kernel would stop a running
// watchdog at the kexec, "" when it keeps it running. A kexec runs the
// reboot notifiers (kernel_restart_prepare), and on them the watchdog core
// stops every watchdog whose driver asks for it — i6300esb and most
// drivers do — unless the core's stop_on_reboot parameter is 0. Then
// KExecWatchdogSec guards nothing. It is pure.
func WatchdogStoppedAtKexec(w host.Watchdog) string {
	switch {
	case w.Identity == softdogIdentity:
		return "ends with the kexec (softdog is a timer of the running kernel, not hardware)"
	case w.StopOnRebootErr != nil:
		return fmt.Sprintf("may be stopped by the running kernel at the kexec (%v)", w.StopOnRebootErr)
	case w.StopOnReboot == "0":
		return ""
	case w.StopOnReboot == "":
		return "may be stopped by the running kernel at the kexec (its watchdog core has no stop_on_reboot parameter, and most drivers stop the watchdog at a reboot, which a kexec is)"
	case w.StopOnReboot == "-1":
		return "would be stopped by the running kernel at the kexec (watchdog.stop_on_reboot=-1 leaves it to the driver, and most drivers stop the watchdog at a reboot, which a kexec is)"
	default:
		return fmt.Sprintf("would be stopped by the running kernel at the kexec (watchdog.stop_on_reboot=%s)", w.StopOnReboot)
	}
}

// softdogIdentity is the identity of the kernel's software watchdog.
const softdogIdentity = "Software Watchdog"

// WatchdogKeepRunningFix says how to keep the watchdog running across a
// kexec: the watchdog core's stop_on_reboot=0, on the kernel command line
// or, when the core is a module, as a modprobe option. It is pure.
func WatchdogKeepRunningFix(w host.Watchdog) string {
	if w.Identity == softdogIdentity {
		return "use a hardware watchdog (such as QEMU's i6300esb) instead of softdog"
	}
	fix := "add watchdog.stop_on_reboot=0 to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub and a reboot)"
	if w.CoreModule {
		fix += ", or put \"options watchdog stop_on_reboot=0\" in /etc/modprobe.d/ (then update-initramfs -u and a reboot)"
	}
	return fix
}

// planFallback finds the GRUB entry a firmware boot should use during the
// trial, or says why there is none.
func planFallback(f TrialFacts) (entry, unavailable string) {
	if !f.Grub {
		return "", "GRUB is not the boot loader (no /boot/grub/grub.cfg): a reset during the trial boots whatever the firmware boots"
	}
	if f.GrubCfg == nil {
		return "", "/boot/grub/grub.cfg cannot be read"
	}
	if !bytes.Contains(f.GrubCfg, []byte("${next_entry}")) {
		return "", "/boot/grub/grub.cfg does not honour GRUB's one-shot next_entry"
	}
	if f.GrubEnvErr != nil {
		return "", fmt.Sprintf("GRUB's environment block cannot be read: %v", f.GrubEnvErr)
	}
	if _, err := host.DecodeGrubEnv(f.GrubEnv); err != nil {
		return "", fmt.Sprintf("/%s: %v", host.GrubEnvPath, err)
	}
	entries, err := host.ParseGrubCfg(f.GrubCfg)
	if err != nil {
		return "", err.Error()
	}
	e, err := host.FallbackEntry(entries, f.Running.Release)
	if err != nil {
		return "", err.Error()
	}
	return e.Path, ""
}

// WithPanic adds panic=10 to a command line that sets no panic= itself,
// and reports whether it did. It is pure.
func WithPanic(cmdline string) (string, bool) {
	for _, p := range kernel.SplitCmdline(cmdline) {
		if strings.HasPrefix(p, "panic=") {
			return cmdline, false
		}
	}
	if strings.TrimSpace(cmdline) == "" {
		return panicParam, true
	}
	return cmdline + " " + panicParam, true
}

// WithWatchdogSec adds systemd.watchdog_sec=SECONDS to a command line that
// sets none, and reports whether it did: the new kernel's systemd then
// takes over the hardware watchdog that KExecWatchdogSec left running (a
// watchdog nobody pings resets even a healthy kernel). It is pure.
func WithWatchdogSec(cmdline string, d time.Duration) (string, bool) {
	for _, p := range kernel.SplitCmdline(cmdline) {
		if strings.HasPrefix(p, "systemd.watchdog_sec=") {
			return cmdline, false
		}
	}
	p := fmt.Sprintf("systemd.watchdog_sec=%d", int(d.Seconds()))
	if strings.TrimSpace(cmdline) == "" {
		return p, true
	}
	return cmdline + " " + p, true
}

// Health gate verdicts.
const (
	HealthWaiting   = "waiting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// HealthInputs are what the health gate judges.
type HealthInputs struct {
	Config config.Health
	// BootedAt is when the new kernel's userspace started; the deadline
	// counts from it.
	BootedAt time.Time
	// SystemState is systemd's SystemState; SystemStateErr why it is
	// unknown.
	SystemState    string
	SystemStateErr error
	// Units are the ActiveState of Config.Units; UnitsErr why some are
	// unknown.
	Units    map[string]string
	UnitsErr error
	// Command is the outcome of Config.Command; nil when it was not run.
	Command *CommandResult
}

// CommandResult is how one run of the health command ended.
type CommandResult struct {
	// ExitCode is -1 when it could not run or was killed at its timeout.
	ExitCode int
	// Err says why it did not exit 0 by itself ("" on a plain exit).
	Err string
	// Output is its last line of output.
	Output string
}

// HealthVerdict is the gate's answer.
type HealthVerdict struct {
	State  string
	Reason string
}

// JudgeHealth decides whether the new kernel has proved healthy: systemd
// is up (not starting; "degraded" counts against it when configured; the
// maintenance state always does), every required unit is active (a failed
// one fails at once), and the command exited 0. Anything not yet true is
// "waiting" until the deadline after boot, then "unhealthy". It is pure.
func JudgeHealth(in HealthInputs, now time.Time) HealthVerdict {
	waiting := ""
	wait := func(why string) {
		if waiting == "" {
			waiting = why
		}
	}
	switch s := in.SystemState; {
	case in.SystemStateErr != nil:
		wait("systemd's state is unknown: " + in.SystemStateErr.Error())
	case s == "running":
	case s == "degraded" && in.Config.DegradedUnhealthy:
		return HealthVerdict{HealthUnhealthy, "systemd reports the system degraded (a unit failed) and [health] degraded_unhealthy = true"}
	case s == "degraded":
	case s == "maintenance":
		return HealthVerdict{HealthUnhealthy, "systemd is in maintenance mode (rescue or emergency)"}
	default:
		wait(fmt.Sprintf("systemd is %s", s))
	}
	for _, u := range in.Config.Units {
		st, known := in.Units[u]
		switch {
		case !known && in.UnitsErr != nil:
			wait(fmt.Sprintf("the state of %s is unknown: %v", u, in.UnitsErr))
		case st == "active":
		case st == "failed":
			return HealthVerdict{HealthUnhealthy, fmt.Sprintf("the required unit %s failed", u)}
		case st == systemd.UnitConditionFailed || st == systemd.UnitAssertFailed:
			what := "a condition"
			if st == systemd.UnitAssertFailed {
				what = "an assertion"
			}
			return HealthVerdict{HealthUnhealthy, fmt.Sprintf("the required unit %s did not start on this kernel: %s of it does not hold", u, what)}
		case !known:
			wait(fmt.Sprintf("the state of %s is unknown", u))
		default:
			wait(fmt.Sprintf("the required unit %s is %s", u, st))
		}
	}
	if len(in.Config.Command) > 0 {
		c := in.Command
		switch {
		case c == nil:
			wait("the health command has not run yet")
		case c.ExitCode != 0:
			why := fmt.Sprintf("the health command %s exited %d", in.Config.Command[0], c.ExitCode)
			if c.Err != "" {
				why = fmt.Sprintf("the health command %s did not succeed: %s", in.Config.Command[0], c.Err)
			}
			if c.Output != "" {
				why += fmt.Sprintf(" (%q)", c.Output)
			}
			wait(why)
		}
	}
	if waiting == "" {
		return HealthVerdict{State: HealthHealthy}
	}
	deadline := in.Config.Deadline
	if deadline <= 0 {
		deadline = config.DefaultHealthDeadline
	}
	if !in.BootedAt.IsZero() && !now.Before(in.BootedAt.Add(deadline)) {
		return HealthVerdict{HealthUnhealthy, fmt.Sprintf("not healthy %s after boot ([health] deadline): %s", deadline, waiting)}
	}
	return HealthVerdict{HealthWaiting, waiting}
}

// TrialNextCheck is when the next run should look at a waiting gate again:
// a minute from now, or the deadline if sooner. It is pure.
func TrialNextCheck(t state.Trial, now time.Time) time.Time {
	next := now.Add(time.Minute)
	if !t.Deadline.IsZero() && t.Deadline.Before(next) {
		next = t.Deadline.Add(time.Second)
	}
	return next.Truncate(time.Second)
}

// DescribeTrial says in one line how a switch is (or was) protected, for
// status and history. It is pure.
func DescribeTrial(t *state.Trial) string {
	if t == nil {
		return ""
	}
	var parts []string
	if t.FallbackEntry != "" {
		parts = append(parts, "GRUB fallback "+t.FallbackEntry)
	} else if t.FallbackUnavailable != "" {
		parts = append(parts, "no GRUB fallback ("+t.FallbackUnavailable+")")
	}
	switch {
	case t.Watchdog != "" && t.WatchdogErr == "" && t.WatchdogStopped != "":
		parts = append(parts, fmt.Sprintf("watchdog %s %s: a kernel that hangs is not reset", t.Watchdog, t.WatchdogStopped))
	case t.Watchdog != "" && t.WatchdogErr == "":
		parts = append(parts, fmt.Sprintf("watchdog %s armed for %s", t.Watchdog, time.Duration(t.WatchdogSeconds*float64(time.Second))))
	case t.WatchdogErr != "":
		parts = append(parts, "watchdog not armed: "+t.WatchdogErr)
	default:
		parts = append(parts, "no hardware watchdog: a kernel that hangs is not reset")
	}
	if t.PanicAdded {
		parts = append(parts, panicParam)
	}
	return strings.Join(parts, "; ")
}

// TrialTimeline lists a trial's moments in order, for history. It is pure.
func TrialTimeline(t *state.Trial) []string {
	if t == nil {
		return nil
	}
	type moment struct {
		at   time.Time
		what string
	}
	ms := []moment{{t.SwitchedAt, "switch queued"}, {t.UpAt, "new kernel up"}, {t.HealthyAt, "healthy"},
		{t.DetectedAt, "failure detected"}}
	if t.Rollback != nil {
		ms = append(ms, moment{t.Rollback.QueuedAt, "rollback queued"})
	}
	ms = append(ms, moment{t.BackAt, "back on the old kernel"})
	var out []string
	for _, m := range ms {
		if !m.at.IsZero() {
			out = append(out, m.at.UTC().Format(time.RFC3339)+" "+m.what)
		}
	}
	slices.Sort(out)
	return out
}
