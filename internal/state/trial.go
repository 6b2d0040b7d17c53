package state

import "time"

// Outcomes and failure kinds of a trial boot (see Trial).
const (
	// OutcomeRolledBack: the new kernel came up but failed its health
	// gate; the last verified kernel was staged again, switched back to by
	// kexec, and verified. The new build is quarantined.
	OutcomeRolledBack = "rolled-back"
	// OutcomeTrial is what a run reports while the health gate is still
	// waiting; it is never recorded as an attempt.
	OutcomeTrial = "trial"

	// FailTrialFirmware: the new kernel never reached a healthy state and
	// the machine came back on the old kernel through the firmware (a
	// watchdog or panic reset, GRUB's one-shot entry).
	FailTrialFirmware = "trial-firmware-fallback"
	// FailTrialRestarted: the machine restarted during the trial on a
	// kernel other than the old one.
	FailTrialRestarted = "trial-restarted"
	// FailRollback: the health gate failed and switching back by kexec
	// did not happen or could not be verified.
	FailRollback = "rollback-failed"
	// FailUnhealthy: the new kernel came up and failed its health gate
	// (the kind of a rolled-back attempt).
	FailUnhealthy = "unhealthy"
)

// Phases of a trial.
const (
	// TrialArmed: the fallback and the watchdog were set up before the
	// switch; the new kernel has not been seen yet.
	TrialArmed = "armed"
	// TrialWaiting: the new kernel is up through this attempt's kexec; the
	// health gate has not passed yet.
	TrialWaiting = "waiting"
	// TrialRollingBack: the gate failed and the switch back to the old
	// kernel by kexec was queued (or is being staged).
	TrialRollingBack = "rolling-back"
)

// Trial is a switch's trial boot: what protects it and how far it got. It
// lives in Staged while the trial runs and is copied into the Attempt when
// it ends, as its timeline.
type Trial struct {
	Phase string `json:"phase"`
	// FallbackEntry is the GRUB entry written to grubenv's next_entry
	// before the switch (the running kernel's), "" when none was;
	// FallbackUnavailable then says why.
	FallbackEntry       string `json:"fallback_entry,omitempty"`
	FallbackUnavailable string `json:"fallback_unavailable,omitempty"`
	// Watchdog names the hardware watchdog kept armed across the kexec
	// ("" when the machine has none); WatchdogSeconds is the
	// KExecWatchdogSec set; WatchdogErr why it could not be set.
	Watchdog        string  `json:"watchdog,omitempty"`
	WatchdogSeconds float64 `json:"watchdog_seconds,omitempty"`
	WatchdogErr     string  `json:"watchdog_error,omitempty"`
	// WatchdogStopped says why the running kernel would stop the watchdog
	// at the kexec (its watchdog core's stop_on_reboot): then it guards
	// nothing across the switch. "" when it keeps running.
	WatchdogStopped string `json:"watchdog_stopped,omitempty"`
	// PanicAdded is set when panic=10 was added to the loaded command line.
	PanicAdded bool `json:"panic_added,omitempty"`
	// WatchdogCmdline is set when systemd.watchdog_sec= was added to it:
	// the new kernel's systemd then pings the watchdog from its start, and
	// the trial's end disarms it.
	WatchdogCmdline bool `json:"watchdog_cmdline,omitempty"`
	// KExecWatchdogSet is set when this trial changed KExecWatchdogSec;
	// PrevKExecWatchdogSeconds and PrevRuntimeWatchdogSeconds are the old
	// boot's values, put back when the trial's watchdog is done with.
	KExecWatchdogSet           bool    `json:"kexec_watchdog_set,omitempty"`
	PrevKExecWatchdogSeconds   float64 `json:"prev_kexec_watchdog_seconds,omitempty"`
	PrevRuntimeWatchdogSeconds float64 `json:"prev_runtime_watchdog_seconds,omitempty"`
	// OldCmdline is the old kernel's command line (/proc/cmdline before
	// the switch, BOOT_IMAGE= and any attempt marker dropped): what a
	// rollback runs it with.
	OldCmdline string `json:"old_cmdline"`
	// Timeline: the switch queued, the new kernel's userspace up, the gate
	// passed, the failure detected, the old kernel back up.
	SwitchedAt time.Time `json:"switched_at,omitzero"`
	UpAt       time.Time `json:"up_at,omitzero"`
	HealthyAt  time.Time `json:"healthy_at,omitzero"`
	DetectedAt time.Time `json:"detected_at,omitzero"`
	BackAt     time.Time `json:"back_at,omitzero"`
	// NewBootID is the new kernel's boot; Waiting the gate's last
	// "waiting" reason; Unhealthy why it failed.
	NewBootID string `json:"new_boot_id,omitempty"`
	Waiting   string `json:"waiting,omitempty"`
	Unhealthy string `json:"unhealthy,omitempty"`
	// Deadline is when the gate gives up (the new kernel's boot plus
	// [health] deadline).
	Deadline time.Time `json:"deadline,omitzero"`
	// Switch is the new kernel's verified switch (its outage and phases),
	// kept until the gate decides.
	Switch *Attempt `json:"switch,omitempty"`
	// Rollback is the switch back to the old kernel.
	Rollback *Rollback `json:"rollback,omitempty"`
}

// Rollback is a switch back by kexec to the last verified kernel.
type Rollback struct {
	// ID is its attempt marker (kexec_upgrade.attempt=).
	ID       string    `json:"id"`
	Cmdline  string    `json:"cmdline"`
	QueuedAt time.Time `json:"queued_at,omitzero"`
	// Error is why it could not be staged or queued.
	Error string `json:"error,omitempty"`
}

// InTrial reports whether a trial is running (the new kernel awaits its
// health gate, or is being rolled back).
func (s State) InTrial() bool {
	return s.Staged != nil && s.Staged.Trial != nil && s.Staged.Trial.Phase != TrialArmed
}
