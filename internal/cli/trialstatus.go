package cli

import (
	"fmt"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

// jsonTrial is the trial boot in status: the one in progress, and how the
// next switch would be protected.
type jsonTrial struct {
	// InProgress is set while a new kernel awaits its health gate or is
	// being rolled back.
	InProgress bool   `json:"in_progress"`
	Phase      string `json:"phase,omitempty"`
	Waiting    string `json:"waiting,omitempty"`
	Deadline   string `json:"deadline,omitempty"`
	// FallbackAvailable says whether a firmware boot during a trial comes
	// up on the old kernel (GRUB's one-shot entry); FallbackEntry is that
	// entry, Fallback why there is none.
	FallbackAvailable bool   `json:"fallback_available"`
	FallbackEntry     string `json:"fallback_entry,omitempty"`
	Fallback          string `json:"fallback,omitempty"`
	// Watchdog names the hardware watchdog; WatchdogRisk the risk without.
	Watchdog     string `json:"watchdog,omitempty"`
	WatchdogRisk string `json:"watchdog_risk,omitempty"`
	// WatchdogStoppedAtKexec is set when the running kernel would stop
	// the watchdog at the kexec (the watchdog core's stop_on_reboot,
	// WatchdogStopOnReboot: "" when the kernel has none); WatchdogFix
	// says how to keep it running.
	WatchdogStoppedAtKexec bool   `json:"watchdog_stopped_at_kexec,omitempty"`
	WatchdogStopOnReboot   string `json:"watchdog_stop_on_reboot,omitempty"`
	WatchdogFix            string `json:"watchdog_fix,omitempty"`
	// Quarantined are the builds never tried again automatically.
	Quarantined []jsonQuarantined `json:"quarantined"`
}

type jsonQuarantined struct {
	Kernel jsonKernel `json:"kernel"`
	Kind   string     `json:"kind"`
	Reason string     `json:"reason"`
	At     string     `json:"at"`
}

// trialStatus reads how a switch of this host would be protected and how
// the current trial stands.
func trialStatus(root string, r upgrade.Report) jsonTrial {
	cfg := r.Config
	if r.ConfigErr != nil {
		cfg = config.Default()
	}
	f := upgrade.ReadTrialFacts(root, cfg, r.Facts)
	t, refusal := upgrade.PlanTrial(f)
	j := jsonTrial{FallbackAvailable: t.FallbackEntry != "", FallbackEntry: t.FallbackEntry, Fallback: t.FallbackUnavailable,
		Watchdog: t.Watchdog, Quarantined: []jsonQuarantined{}}
	if f.Device != nil {
		j.WatchdogStopOnReboot = f.Device.StopOnReboot
	}
	switch {
	case f.Device != nil && t.WatchdogStopped != "":
		j.WatchdogStoppedAtKexec, j.WatchdogFix = true, upgrade.WatchdogKeepRunningFix(*f.Device)
		j.WatchdogRisk = fmt.Sprintf("%s %s: a new kernel that hangs before userspace is not reset; to keep it running, %s", t.Watchdog, t.WatchdogStopped, j.WatchdogFix)
	case t.WatchdogErr != "":
		j.WatchdogRisk = "the watchdog cannot be read (" + t.WatchdogErr + "): a new kernel that hangs is not reset"
	case t.Watchdog == "":
		j.WatchdogRisk = "no hardware watchdog: a new kernel that hangs before userspace stays hung until someone resets the machine"
	}
	if refusal != "" {
		j.WatchdogRisk = "switches are refused (check " + upgrade.CheckWatchdog + "): " + refusal
	}
	if st := r.State; trialRunning(st, r.Facts.Running.BootID) {
		tr := st.Staged.Trial
		j.InProgress, j.Phase, j.Waiting = true, tr.Phase, tr.Waiting
		if !tr.Deadline.IsZero() {
			j.Deadline = tr.Deadline.UTC().Format(time.RFC3339)
		}
		// The entry in force is the one this trial wrote.
		j.FallbackAvailable, j.FallbackEntry, j.Fallback = tr.FallbackEntry != "", tr.FallbackEntry, tr.FallbackUnavailable
	}
	for _, f := range r.State.Failed {
		j.Quarantined = append(j.Quarantined, jsonQuarantined{Kernel: jsonKernel{Release: f.Kernel.Release, Build: f.Kernel.Build},
			Kind: f.Kind, Reason: f.Reason, At: f.At.UTC().Format(time.RFC3339)})
	}
	return j
}

// trialRunning reports whether a trial is under way: the gate waits or a
// rollback runs, or the switch happened (a new boot) and the first run
// after it has not judged it yet.
func trialRunning(st state.State, bootID string) bool {
	sg := st.Staged
	switch {
	case st.InTrial():
		return true
	case sg == nil || sg.Trial == nil:
		return false
	}
	return sg.CurrentPhase() == state.PhaseQueued && bootID != "" && bootID != sg.OldBootID
}

// printTrial prints the trial lines of status.
func printTrial(line func(label, format string, args ...any), j jsonTrial, st state.State) {
	if j.InProgress {
		sg := st.Staged
		switch j.Phase {
		case state.TrialRollingBack:
			line("Trial:", "%s failed its health gate (%s): switching back to %s by kexec", sg.To.Release, sg.Trial.Unhealthy, sg.From.Release)
		case state.TrialArmed:
			line("Trial:", "the switch to %s happened; the next run judges it", sg.To.Release)
		default:
			line("Trial:", "%s is on trial until its health gate passes (by %s): %s", sg.To.Release, j.Deadline, orDash(j.Waiting))
		}
	}
	if j.FallbackAvailable {
		line("Fallback:", "GRUB's one-shot entry %s (a reset during a trial boots the old kernel)", j.FallbackEntry)
	} else {
		line("Fallback:", "unavailable: %s", j.Fallback)
	}
	if j.WatchdogRisk != "" {
		line("Watchdog:", "%s", j.WatchdogRisk)
	} else {
		line("Watchdog:", "%s, kept armed across the switch", j.Watchdog)
	}
	for _, q := range j.Quarantined {
		line("Quarantined:", "%s (%s): %s; not tried again automatically (a newer build or run --now tries again)", q.Kernel.Release, q.Kind, q.Reason)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// trialDetail is the history's word on a trial: its protections and
// timeline.
func trialDetail(t *state.Trial) string {
	if t == nil {
		return ""
	}
	s := "trial: " + upgrade.DescribeTrial(t)
	for _, m := range upgrade.TrialTimeline(t) {
		s += fmt.Sprintf("; %s", m)
	}
	return s
}
