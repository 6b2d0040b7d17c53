// Package plan decides what a run does; it is pure: the clock, the host's
// facts and every probe result are inputs, and the output is one Decision
// with the trace of the named checks that led to it.
package plan

import (
	"fmt"
	"strings"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/window"
)

// Action is what a run does.
type Action string

// The four decisions.
const (
	UpToDate Action = "up-to-date"
	Postpone Action = "postpone"
	Refuse   Action = "refuse"
	Switch   Action = "switch"
)

// Check names: stable, shown in status and in the journal's KEXEC_UPGRADE_CHECK.
const (
	CheckConfig       = "config"
	CheckState        = "state"
	CheckTarget       = "target"
	CheckPackage      = "package"
	CheckImage        = "image"
	CheckInitrd       = "initrd"
	CheckFailedBefore = "failed-before"
	CheckKexecAllowed = "kexec-allowed"
	CheckCmdline      = "cmdline"
	CheckEnabled      = "enabled"
	CheckWindow       = "window"
	CheckSystemState  = "system-state"
	CheckDpkgLock     = "dpkg-lock"
	CheckInhibitor    = "inhibitor"
	CheckUptime       = "uptime"
	CheckHook         = "hook"
	CheckPaused       = "paused"
)

// Step results.
const (
	Pass = "pass"
	Fail = "fail"
	Skip = "skip"
)

// Step is one named check in a decision's trace.
type Step struct {
	Check  string `json:"check"`
	Result string `json:"result"`
	Detail string `json:"detail"`
}

// Decision is a plan's outcome.
type Decision struct {
	Action Action
	// Target is the kernel the decision is about (nil when none is installed).
	Target *Target
	// Cmdline is the command line for the new kernel (switch only).
	Cmdline string
	// Check is the check that decided a postpone or refuse.
	Check string
	// Reason is one line naming the specific thing.
	Reason string
	// RetryAt is when a postponement may end (zero when unknown: next run).
	RetryAt time.Time
	// New reports whether the target is newer than the running kernel.
	New bool
	// WhyNew says why the target counts as new (or not).
	WhyNew string
	Steps  []Step
	// Forced is true for an admin's run --now.
	Forced bool
	// Notice, when set, is a notice to send to logged-in users now: the
	// decision waits for it (check notice).
	Notice *Notice
}

// Inhibitor is a logind inhibitor lock.
type Inhibitor = systemd.Inhibitor

// Failure is a recorded failure of the target's build.
type Failure struct {
	Kind, Reason string
	At           time.Time
}

// Inputs are everything Plan looks at.
type Inputs struct {
	Now time.Time
	// Config is meaningful when ConfigErr is nil.
	Config    config.Config
	ConfigErr error
	// StateErr is a corrupt state file.
	StateErr error
	Facts    host.Facts
	// Target is nil when no kernel package is installed.
	Target *Target
	// InitrdFormat names the target initrd's format; InitrdErr is why it
	// is not an initramfs Linux can unpack (nil when it is one).
	InitrdFormat string
	InitrdErr    error
	// FailedBefore is the target build's recorded failure, if any.
	FailedBefore *Failure
	// Force is an admin's run --now: ignore the window, min_uptime, a
	// previous failure and a corrupt state file, never a safety check.
	Force bool
	// SystemState is systemd's SystemState ("running", "stopping", ...).
	SystemState    string
	SystemStateErr error
	Inhibitors     []Inhibitor
	InhibitorsErr  error
	// LockHolder describes who holds dpkg's lock, "" when idle.
	LockHolder string
	LockErr    error
	// HookProblems are hooks that must not run (see package hooks): any
	// of them stops a switch until an admin fixes it.
	HookProblems []string
	// Pause is an admin's pause, nil when none is set.
	Pause *Pause
	// Notice is the notice sent to logged-in users for this switch, if any.
	Notice *Notice
	// Arch is the architecture whose command line limit applies;
	// kernel.NativeArch when empty (an image for another one is refused
	// before this).
	Arch kernel.Arch
}

// Pause is an admin's `kexec-upgrade pause`.
type Pause struct {
	// Until is when it ends by itself; zero: at `kexec-upgrade resume`.
	Until  time.Time
	Reason string
}

// Active reports whether the pause still holds at now.
func (p *Pause) Active(now time.Time) bool {
	return p != nil && (p.Until.IsZero() || now.Before(p.Until))
}

// checker accumulates steps; the first failing one decides.
type checker struct {
	d       Decision
	decided bool
}

func (c *checker) pass(check, detail string) {
	c.d.Steps = append(c.d.Steps, Step{Check: check, Result: Pass, Detail: detail})
}

func (c *checker) skip(check, detail string) {
	c.d.Steps = append(c.d.Steps, Step{Check: check, Result: Skip, Detail: detail})
}

func (c *checker) fail(action Action, check, reason string, retry time.Time) {
	c.d.Steps = append(c.d.Steps, Step{Check: check, Result: Fail, Detail: reason})
	if !c.decided {
		c.decided = true
		c.d.Action, c.d.Check, c.d.Reason, c.d.RetryAt = action, check, reason, retry
	}
}

// Plan decides. Checks run lasting ones first, all of them, so the trace
// shows everything that stands in the way; the first failure decides.
func Plan(in Inputs) Decision {
	c := &checker{d: Decision{Forced: in.Force}}
	if in.ConfigErr != nil {
		c.fail(Refuse, CheckConfig, "configuration is invalid: "+firstLine(in.ConfigErr.Error()), time.Time{})
		// Still say whether a new kernel waits, for status and metrics.
		if t := in.Target; t != nil && t.ImageErr == nil {
			c.d.Target = t
			c.d.New, c.d.WhyNew = Newness(*t, in.Facts.Running, config.Default().Rebuilds)
		}
		return c.d
	}
	c.pass(CheckConfig, fmt.Sprintf("%d file(s), %d window(s)", len(in.Config.Files), len(in.Config.Windows)))
	switch {
	case in.StateErr != nil && in.Force:
		c.skip(CheckState, in.StateErr.Error()+" (run --now moves it aside)")
	case in.StateErr != nil:
		c.fail(Refuse, CheckState, in.StateErr.Error()+": automatic switching is off until it is fixed; run --now moves it aside", time.Time{})
	default:
		c.pass(CheckState, "readable")
	}
	t := in.Target
	if t == nil {
		c.pass(CheckTarget, "no linux-image package with a /boot/vmlinuz is installed")
		return upToDate(c, "no kernel package is installed")
	}
	c.d.Target = t
	running := in.Facts.Running
	if t.ImageErr != nil && t.Release == running.Release {
		// Without a readable build string a same-release rebuild cannot be
		// told apart from the running kernel; a broken image is news anyway.
		c.fail(Refuse, CheckImage, fmt.Sprintf("kernel image %s fails its check: %v", t.Files.Image, t.ImageErr), time.Time{})
		return c.d
	}
	isNew, why := Newness(*t, running, in.Config.Rebuilds)
	c.d.New, c.d.WhyNew = isNew, why
	if !isNew {
		c.pass(CheckTarget, why)
		return upToDate(c, why)
	}
	c.pass(CheckTarget, fmt.Sprintf("%s: %s", t.Release, why))
	checkTarget(c, in)
	checkKexec(c, in)
	checkCmdline(c, in)
	checkHooks(c, in)
	checkSchedule(c, in)
	checkSystem(c, in)
	checkNotice(c, in)
	if !c.decided {
		c.d.Action = Switch
		c.d.Reason = fmt.Sprintf("switching to %s: %s", t.Release, why)
		if in.Force {
			c.d.Reason += " (forced by run --now)"
		}
	}
	return c.d
}

func upToDate(c *checker, reason string) Decision {
	if !c.decided {
		c.d.Action, c.d.Reason = UpToDate, reason
	}
	return c.d
}

// checkTarget: the lasting properties of the target kernel.
func checkTarget(c *checker, in Inputs) {
	t := in.Target
	if detail, ok := t.CheckPackages(); ok {
		c.pass(CheckPackage, detail)
	} else {
		c.fail(Refuse, CheckPackage, detail, time.Time{})
	}
	switch {
	case !t.Files.HasImage:
		c.fail(Refuse, CheckImage, t.ImageMissing().Error(), time.Time{})
	case t.ImageErr != nil:
		c.fail(Refuse, CheckImage, fmt.Sprintf("kernel image %s fails its check: %v", t.Files.Image, t.ImageErr), time.Time{})
	case t.ImageRelease != t.Release:
		c.fail(Refuse, CheckImage, fmt.Sprintf("kernel image %s says it is %s, not %s", t.Files.Image, t.ImageRelease, t.Release), time.Time{})
	case LockedDown(in.Facts.Kexec.Lockdown) && !t.AuthenticodeVerifies():
		c.fail(Refuse, CheckImage, fmt.Sprintf("%s: %s, and %s makes the kernel refuse it", t.Files.Image, t.AuthenticodeProblem(), lockdownName(in.Facts)), time.Time{})
	default:
		signed := "unsigned"
		if t.Signed {
			signed = "signed"
		}
		detail := fmt.Sprintf("%s is a valid %s bzImage (%s)", t.Files.Image, signed, t.Build)
		if t.Integrity != "" {
			detail += "; checks passed: " + t.Integrity
		}
		c.pass(CheckImage, detail)
	}
	switch {
	case t.Files.InitrdPending && t.Files.InitrdWriter != "":
		c.fail(Refuse, CheckInitrd, t.Files.InitrdWriter, time.Time{})
	case t.Files.InitrdPending:
		c.fail(Refuse, CheckInitrd, fmt.Sprintf("%s.new exists: update-initramfs is still writing the initrd", t.Files.Initrd), time.Time{})
	case !t.Files.HasInitrd:
		c.fail(Refuse, CheckInitrd, fmt.Sprintf("initrd %s is missing (run update-initramfs -c -k %s)", t.Files.Initrd, t.Release), time.Time{})
	case in.InitrdErr != nil:
		c.fail(Refuse, CheckInitrd, fmt.Sprintf("%v (run update-initramfs -c -k %s)", in.InitrdErr, t.Release), time.Time{})
	default:
		c.pass(CheckInitrd, fmt.Sprintf("%s (%s)", t.Files.Initrd, in.InitrdFormat))
	}
	switch f := in.FailedBefore; {
	case f == nil:
		c.pass(CheckFailedBefore, "not tried before")
	case in.Force:
		c.skip(CheckFailedBefore, fmt.Sprintf("failed before (%s), retried because of run --now", f.Kind))
	default:
		c.fail(Refuse, CheckFailedBefore, fmt.Sprintf("%s (%s) failed before (%s on %s: %s); not retried automatically: install a newer build or run `kexec-upgrade run --now`",
			t.Release, t.Build, f.Kind, f.At.UTC().Format(time.RFC3339), f.Reason), time.Time{})
	}
}

// LockedDown reports a lockdown mode (host.Kexec.Lockdown) under which
// kexec_file_load takes only images whose signature verifies.
func LockedDown(mode string) bool {
	return mode != "" && mode != "none"
}

// lockdownName names the lockdown in a reason: "Secure Boot lockdown
// (integrity)" when Secure Boot is on (Debian's kernels lock down then),
// "kernel lockdown (integrity)" otherwise.
func lockdownName(f host.Facts) string {
	if f.Platform.SecureBoot == "enabled" {
		return fmt.Sprintf("Secure Boot lockdown (%s)", f.Kexec.Lockdown)
	}
	return fmt.Sprintf("kernel lockdown (%s)", f.Kexec.Lockdown)
}

// checkKexec: whether this kernel lets us kexec at all.
func checkKexec(c *checker, in Inputs) {
	k := in.Facts.Kexec
	switch {
	case k.Unsupported:
		c.fail(Refuse, CheckKexecAllowed, "the running kernel has no kexec support (/sys/kernel/kexec_loaded is missing)", time.Time{})
	case k.LoadDisabled:
		c.fail(Refuse, CheckKexecAllowed, "kexec is disabled: kernel.kexec_load_disabled = 1 (it cannot be re-enabled before a reboot)", time.Time{})
	case !k.CapSysBoot:
		c.fail(Refuse, CheckKexecAllowed, "this process lacks CAP_SYS_BOOT, which kexec_file_load needs (run as root, or check the unit's CapabilityBoundingSet)", time.Time{})
	case LockedDown(k.Lockdown) && in.Target != nil && !in.Target.Signed:
		c.fail(Refuse, CheckKexecAllowed, fmt.Sprintf("%s only lets the kernel load signed images, and %s is not signed", lockdownName(in.Facts), in.Target.Files.Image), time.Time{})
	default:
		detail := "kexec_file_load allowed"
		if k.Lockdown != "" && k.Lockdown != "none" {
			detail += fmt.Sprintf(" (lockdown %s: the signature will be verified)", k.Lockdown)
		}
		c.pass(CheckKexecAllowed, detail)
	}
}

// AttemptID names the switch to release that starts at now; the switch
// appends it to the command line it loads (kernel.WithAttempt), so its
// length is known when the plan checks the line.
func AttemptID(now time.Time, release string) string {
	return now.UTC().Format("20060102T150405.000000000Z") + "-" + release
}

// checkCmdline edits the running command line for the new kernel and
// checks it, with the attempt marker the switch will append, against the
// architecture's limit (x86: the image's cmdline_size less what kexec
// keeps free; arm64: COMMAND_LINE_SIZE, 2048 with the NUL).
func checkCmdline(c *checker, in Inputs) {
	cmdline := kernel.EditCmdline(in.Facts.Running.Cmdline, in.Config.CmdlineRemove, in.Config.CmdlineAppend)
	if in.Target.CmdlineMax > 0 {
		arch := in.Arch
		if arch == "" {
			arch = kernel.NativeArch
		}
		marked, err := kernel.WithAttempt(cmdline, AttemptID(in.Now, in.Target.Release))
		if err == nil {
			err = kernel.CheckCmdlineFor(arch, marked, in.Target.CmdlineMax)
		}
		if err != nil {
			c.fail(Refuse, CheckCmdline, fmt.Sprintf("%v, with the %s= marker the switch appends", err, kernel.AttemptParam), time.Time{})
			return
		}
	}
	c.d.Cmdline = cmdline
	c.pass(CheckCmdline, cmdline)
}

// checkHooks: hooks that must not run stop every switch, forced or not.
func checkHooks(c *checker, in Inputs) {
	switch n := len(in.HookProblems); {
	case n == 0:
		c.pass(CheckHook, "no hook that must not run")
	case n == 1:
		c.fail(Refuse, CheckHook, in.HookProblems[0], time.Time{})
	default:
		c.fail(Refuse, CheckHook, fmt.Sprintf("%s (and %d more)", in.HookProblems[0], n-1), time.Time{})
	}
}

// checkPause: an admin's pause postpones until it ends.
func checkPause(c *checker, in Inputs) {
	p := in.Pause
	switch {
	case in.Force && p.Active(in.Now):
		c.skip(CheckPaused, "paused, but run --now ignores the pause")
	case !p.Active(in.Now):
		c.pass(CheckPaused, "not paused")
	case p.Until.IsZero():
		c.fail(Postpone, CheckPaused, "paused by an admin until `kexec-upgrade resume`"+pauseReason(p), time.Time{})
	default:
		c.fail(Postpone, CheckPaused, "paused by an admin until "+FormatTime(p.Until)+pauseReason(p), p.Until)
	}
}

func pauseReason(p *Pause) string {
	if p.Reason == "" {
		return ""
	}
	return ": " + p.Reason
}

// checkSchedule: the admin's policy of when to switch.
func checkSchedule(c *checker, in Inputs) {
	cfg := in.Config
	checkPause(c, in)
	switch {
	case in.Force:
		c.skip(CheckEnabled, "run --now")
		c.skip(CheckWindow, "run --now ignores the maintenance window")
	case !cfg.Enabled:
		c.fail(Postpone, CheckEnabled, "automatic switching is disabled (enabled = false); run `kexec-upgrade run --now` to switch", time.Time{})
		c.skip(CheckWindow, "disabled")
	case len(cfg.Windows) == 0:
		c.pass(CheckEnabled, "enabled")
		c.fail(Postpone, CheckWindow, "no maintenance window is configured, so kexec-upgrade never switches automatically; add a [[window]] to /etc/kexec-upgrade/config.toml or run `kexec-upgrade run --now`", time.Time{})
	default:
		c.pass(CheckEnabled, "enabled")
		checkWindow(c, in)
	}
	minUp := cfg.MinUptime
	switch up := in.Facts.Uptime; {
	case in.Force:
		c.skip(CheckUptime, "run --now ignores min_uptime")
	case up < minUp:
		c.fail(Postpone, CheckUptime, fmt.Sprintf("up for %s, less than min_uptime %s", up.Round(time.Second), minUp), in.Now.Add(minUp-up))
	default:
		c.pass(CheckUptime, fmt.Sprintf("up for %s (min_uptime %s)", up.Round(time.Second), minUp))
	}
}

// checkWindow: whether this host may start a switch now. Inside an open
// window a host waits for its place in the spread, and none starts within
// the margin before the window closes.
func checkWindow(c *checker, in Inputs) {
	frac := window.HostFraction(in.Facts.MachineID)
	slots := in.Config.Windows.Slots(in.Now, frac)
	if slots.Open {
		end := slots.Window.End
		if span, open := in.Config.Windows.Open(in.Now); open && span.End.After(end) {
			end = span.End // overlapping windows: the union stays open longer
		}
		// Slots of overlapping windows may continue one another.
		deadline := slots.Current.End
		for range 8 {
			more := in.Config.Windows.Slots(deadline, frac)
			if !more.Open || !more.Current.End.After(deadline) {
				break
			}
			deadline = more.Current.End
		}
		detail := "open until " + FormatTime(end)
		if deadline.Before(end) {
			detail += "; switches start until " + FormatTime(deadline)
		}
		c.pass(CheckWindow, detail)
		return
	}
	next := slots.Next
	if next.Start.IsZero() {
		c.fail(Postpone, CheckWindow, "maintenance window closed and never opens", time.Time{})
		return
	}
	turn := ""
	if w := slots.Of; w.Spread > 0 && next.Start.After(slots.Window.Start) {
		turn = fmt.Sprintf("this host's turn comes at %s (offset %s into its %s spread)",
			FormatTime(next.Start), config.FormatDuration(window.Offset(frac, w.Spread)), config.FormatDuration(w.Spread))
	}
	span, open := in.Config.Windows.Open(in.Now)
	switch {
	case open && next.Start.Before(span.End) && turn != "":
		c.fail(Postpone, CheckWindow, "maintenance window open, but "+turn, next.Start)
	case open:
		reason := fmt.Sprintf("maintenance window closes at %s: too close to start a switch (margin %s)",
			FormatTime(span.End), config.FormatDuration(marginAt(in.Config.Windows, in.Now)))
		reason += "; next opens " + FormatTime(slots.Window.Start)
		if turn != "" {
			reason += ", " + turn
		}
		c.fail(Postpone, CheckWindow, reason, next.Start)
	default:
		reason := "maintenance window closed; next opens " + FormatTime(slots.Window.Start)
		if turn != "" {
			reason += ", " + turn
		}
		c.fail(Postpone, CheckWindow, reason, next.Start)
	}
}

// marginAt is the largest margin of the windows open at t: the one that
// keeps this host from starting.
func marginAt(s window.Schedule, t time.Time) time.Duration {
	var m time.Duration
	for _, w := range s {
		if w.Contains(t) && w.Margin > m {
			m = w.Margin
		}
	}
	return m
}

// checkSystem: the momentary safety checks.
func checkSystem(c *checker, in Inputs) {
	switch s := in.SystemState; {
	case in.SystemStateErr != nil:
		c.fail(Postpone, CheckSystemState, "cannot ask systemd for the system state: "+in.SystemStateErr.Error(), time.Time{})
	case s == "running" || s == "degraded":
		c.pass(CheckSystemState, s)
	default:
		c.fail(Postpone, CheckSystemState, fmt.Sprintf("the system is %s, not running", s), time.Time{})
	}
	switch {
	case in.LockErr != nil:
		c.fail(Postpone, CheckDpkgLock, "cannot probe the package manager's lock: "+in.LockErr.Error(), time.Time{})
	case in.LockHolder != "":
		c.fail(Postpone, CheckDpkgLock, "the package manager is busy: "+in.LockHolder, time.Time{})
	default:
		c.pass(CheckDpkgLock, "dpkg and apt are idle")
	}
	if in.InhibitorsErr != nil {
		c.fail(Postpone, CheckInhibitor, "cannot list logind's inhibitors: "+in.InhibitorsErr.Error(), time.Time{})
		return
	}
	var blocking []string
	for _, i := range in.Inhibitors {
		if i.Mode == "block" && hasWhat(i.What, "shutdown") {
			blocking = append(blocking, fmt.Sprintf("%q (%s, pid %d, uid %d)", i.Who, i.Why, i.PID, i.UID))
		}
	}
	if len(blocking) > 0 {
		c.fail(Postpone, CheckInhibitor, "shutdown is inhibited by "+strings.Join(blocking, ", "), time.Time{})
		return
	}
	c.pass(CheckInhibitor, "no shutdown block inhibitor")
}

func hasWhat(what, want string) bool {
	for _, w := range strings.Split(what, ":") {
		if w == want {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	first, rest, more := strings.Cut(s, "\n")
	if more {
		return fmt.Sprintf("%s (and %d more)", first, strings.Count(rest, "\n")+1)
	}
	return first
}

// FormatTime renders an instant in its own zone and in UTC, as admins read
// it in status and the journal: "Sat 2026-03-28 02:00 CET (01:00 UTC)".
func FormatTime(t time.Time) string {
	local := t.Format("Mon 2006-01-02 15:04 MST")
	u := t.UTC()
	if t.Location() == time.UTC {
		return local
	}
	if u.YearDay() != t.YearDay() {
		return fmt.Sprintf("%s (%s UTC)", local, u.Format("Mon 15:04"))
	}
	return fmt.Sprintf("%s (%s UTC)", local, u.Format("15:04"))
}
