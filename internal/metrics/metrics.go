// Package metrics renders kexec-upgrade's state in the Prometheus text
// exposition format (version 0.0.4) for node_exporter's textfile collector,
// and writes it atomically to the collector's directory. Rendering is pure;
// writing (textfile.go) never follows a symbolic link, never creates or
// changes a directory, and refuses a directory that users other than root
// could change.
//
// Every metric is named kexec_upgrade_* and carries # HELP and # TYPE lines.
// Families are written in a fixed order; a family whose value is unknown is
// omitted entirely (no HELP or TYPE line either). The series are:
//
//	kexec_upgrade_running_kernel_info{release,build}     gauge, always 1
//	kexec_upgrade_target_kernel_info{release,build}      gauge, 1; omitted without a target
//	kexec_upgrade_upgrade_pending                        gauge, 0/1
//	kexec_upgrade_window_open                            gauge, 0/1
//	kexec_upgrade_next_window_seconds                    gauge; omitted without a window
//	kexec_upgrade_last_outcome_info{outcome}             gauge, 1; omitted without an attempt
//	kexec_upgrade_last_outcome_timestamp_seconds         gauge; omitted without an attempt
//	kexec_upgrade_last_switch_duration_seconds           gauge; omitted when unknown
//	kexec_upgrade_failures_total                         gauge (see below)
//	kexec_upgrade_trial_in_progress                      gauge, 0/1
//	kexec_upgrade_quarantined_builds                     gauge
//	kexec_upgrade_rollbacks_total                        gauge (like failures_total)
//	kexec_upgrade_fleet_lock_configured                  gauge, 0/1
//	kexec_upgrade_fleet_lock_held                        gauge, 0/1 (0 when not configured)
//	kexec_upgrade_last_run_timestamp_seconds             gauge
//
// Decisions an alert rule depends on:
//
//   - kexec_upgrade_next_window_seconds is relative to the run that wrote the
//     file, and the file is only rewritten when the timer fires, so the value
//     goes stale between runs. The time the window opens is
//     kexec_upgrade_last_run_timestamp_seconds + kexec_upgrade_next_window_seconds;
//     subtract time() from that for a live countdown. The metric is 0 while a
//     window is open (and never negative), and absent when no window is
//     configured or none lies ahead, so "pending with no window to apply it"
//     is `kexec_upgrade_upgrade_pending == 1 unless on(instance)
//     kexec_upgrade_next_window_seconds`.
//
//   - kexec_upgrade_failures_total is the number of failed attempts recorded
//     in the state file. The file keeps only the last 50 attempts and a
//     failure can be cleared, so the number can go down; exposing it as a
//     counter would make rate() and increase() read every decrease as a
//     counter reset and invent failures. It is therefore a gauge despite the
//     _total suffix (the name is fixed by the issue); use delta() or
//     changes() on it, or compare against 0.
//
//   - kexec_upgrade_fleet_lock_held is always present: 0 when no fleet lock is
//     configured, so sum() across a fleet needs no absent() handling.
//     kexec_upgrade_fleet_lock_configured tells "not configured" apart from
//     "configured but not held".
//
//   - kexec_upgrade_last_run_timestamp_seconds is the run's clock, so
//     `time() - kexec_upgrade_last_run_timestamp_seconds > 7200` fires when
//     the timer stops running.
package metrics

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// DefaultDir is node_exporter's textfile collector directory on Debian
// (prometheus-node-exporter's --collector.textfile.directory).
const DefaultDir = "/var/lib/prometheus/node-exporter"

// FileName is the name of the file written in the textfile directory.
// node_exporter reads only files ending in .prom.
const FileName = "kexec_upgrade.prom"

// Kernel names one kernel build.
type Kernel struct {
	// Release is the kernel release (uname -r).
	Release string
	// Build is the kernel version string (uname -v).
	Build string
}

// Snapshot is what one run knows.
type Snapshot struct {
	// Running is the running kernel.
	Running Kernel
	// Target is the newest installed kernel; nil when none is found.
	Target *Kernel
	// Pending is true when an upgrade is pending (the target is new and has
	// not failed before).
	Pending bool
	// NextWindow is when the next maintenance window opens; zero when no
	// window is configured or none lies ahead.
	NextWindow time.Time
	// WindowOpen is true while a maintenance window is open.
	WindowOpen bool
	// LastOutcome is the last attempt's outcome ("verified", "failed", ...);
	// "" when there was none.
	LastOutcome string
	// LastOutcomeTime is when the last attempt ended; zero when none.
	LastOutcomeTime time.Time
	// LastSwitchDuration is how long the last verified switch took; 0 when
	// unknown.
	LastSwitchDuration time.Duration
	// LastSwitchPhases split LastSwitchDuration's outage: "stopping",
	// "kernel" and "userspace"; a phase not known is missing.
	LastSwitchPhases map[string]time.Duration
	// Paused is true while an admin's pause holds automatic switches.
	Paused bool
	// FailuresTotal is the number of failed attempts recorded in the state.
	FailuresTotal int
	// TrialInProgress is true while a new kernel awaits its health gate
	// or is being rolled back.
	TrialInProgress bool
	// QuarantinedBuilds counts the builds never tried again automatically.
	QuarantinedBuilds int
	// RollbacksTotal counts the rolled-back attempts in the state file.
	RollbacksTotal int
	// FleetLockConfigured is true when a fleet lock is configured.
	FleetLockConfigured bool
	// FleetLockHeld is true when this host holds the fleet lock.
	FleetLockHeld bool
	// Now is the run's clock. A zero Now means time.Now().
	Now time.Time
}

type label struct{ name, value string }

type sample struct {
	labels []label
	value  string
}

type family struct {
	name, typ, help string
	samples         []sample
}

// Render writes the snapshot in the text exposition format, version 0.0.4.
// The output is a pure function of s (given a non-zero s.Now) and is written
// with a single Write call.
func Render(w io.Writer, s Snapshot) error {
	var b bytes.Buffer
	for _, f := range families(s) {
		if len(f.samples) == 0 {
			continue
		}
		fmt.Fprintf(&b, "# HELP %s %s\n", f.name, escapeHelp(f.help))
		fmt.Fprintf(&b, "# TYPE %s %s\n", f.name, f.typ)
		for _, smp := range f.samples {
			b.WriteString(f.name)
			if len(smp.labels) > 0 {
				b.WriteByte('{')
				for i, l := range smp.labels {
					if i > 0 {
						b.WriteByte(',')
					}
					b.WriteString(l.name)
					b.WriteString(`="`)
					b.WriteString(escapeLabelValue(l.value))
					b.WriteByte('"')
				}
				b.WriteByte('}')
			}
			b.WriteByte(' ')
			b.WriteString(smp.value)
			b.WriteByte('\n')
		}
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("render metrics: %w", err)
	}
	return nil
}

func families(s Snapshot) []family {
	now := s.Now
	if now.IsZero() {
		now = time.Now()
	}
	one := func(v string, labels ...label) []sample {
		return []sample{{labels: labels, value: v}}
	}
	gauge := func(name, help string, samples []sample) family {
		return family{name: "kexec_upgrade_" + name, typ: "gauge", help: help, samples: samples}
	}

	var target, nextWindow, outcome, outcomeTime, duration []sample
	if s.Target != nil {
		target = one("1", label{"release", s.Target.Release}, label{"build", s.Target.Build})
	}
	switch {
	case s.WindowOpen:
		nextWindow = one("0")
	case !s.NextWindow.IsZero():
		nextWindow = one(formatSeconds(max(s.NextWindow.Sub(now), 0)))
	}
	if s.LastOutcome != "" {
		outcome = one("1", label{"outcome", s.LastOutcome})
	}
	if !s.LastOutcomeTime.IsZero() {
		outcomeTime = one(formatUnix(s.LastOutcomeTime))
	}
	if s.LastSwitchDuration > 0 {
		duration = one(formatSeconds(s.LastSwitchDuration))
	}
	var phases []sample
	for _, ph := range []string{"stopping", "kernel", "userspace"} {
		if d, ok := s.LastSwitchPhases[ph]; ok {
			phases = append(phases, sample{labels: []label{{"phase", ph}}, value: formatSeconds(d)})
		}
	}

	return []family{
		gauge("running_kernel_info", "Running kernel: release (uname -r) and build (uname -v).",
			one("1", label{"release", s.Running.Release}, label{"build", s.Running.Build})),
		gauge("target_kernel_info", "Newest installed kernel: release and build. Absent when none is found.",
			target),
		gauge("upgrade_pending", "1 if an upgrade to the target kernel is pending.",
			one(formatBool(s.Pending))),
		gauge("window_open", "1 if a maintenance window is open.",
			one(formatBool(s.WindowOpen))),
		gauge("next_window_seconds", "Seconds from the last run until the next maintenance window opens; 0 while one is open. Absent when no window is ahead.",
			nextWindow),
		gauge("last_outcome_info", "Outcome of the last upgrade attempt.",
			outcome),
		gauge("last_outcome_timestamp_seconds", "Unix time the last upgrade attempt ended.",
			outcomeTime),
		gauge("last_switch_duration_seconds", "Duration of the last verified kernel switch.",
			duration),
		gauge("last_switch_phase_seconds", "Where the last verified switch's outage went: services stopping, the kernel starting, userspace up to the boot's end.",
			phases),
		gauge("paused", "1 while an admin's kexec-upgrade pause holds automatic switches.",
			one(formatBool(s.Paused))),
		// A gauge, not a counter: the state file keeps only the last 50
		// attempts and failures can be cleared, so the count can decrease.
		gauge("failures_total", "Failed upgrade attempts recorded in the state file (the last 50 attempts; can decrease).",
			one(strconv.Itoa(s.FailuresTotal))),
		gauge("trial_in_progress", "1 while a switched-to kernel awaits its health gate or is being rolled back.",
			one(formatBool(s.TrialInProgress))),
		gauge("quarantined_builds", "Kernel builds not tried again automatically (a newer build or run --now clears them).",
			one(strconv.Itoa(s.QuarantinedBuilds))),
		// A gauge for the same reason as failures_total.
		gauge("rollbacks_total", "Switches rolled back by kexec after a failed health gate, in the state file (the last 50 attempts; can decrease).",
			one(strconv.Itoa(s.RollbacksTotal))),
		gauge("fleet_lock_configured", "1 if a fleet lock is configured.",
			one(formatBool(s.FleetLockConfigured))),
		gauge("fleet_lock_held", "1 if this host holds the fleet lock; 0 when none is configured.",
			one(formatBool(s.FleetLockConfigured && s.FleetLockHeld))),
		gauge("last_run_timestamp_seconds", "Unix time of the last kexec-upgrade run.",
			one(formatUnix(now))),
	}
}

func formatBool(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// formatMillis renders ms/1000 in plain decimal: no exponent, no trailing
// zeros, an integer without a decimal point.
func formatMillis(ms int64) string {
	return strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)
}

// formatSeconds renders a duration in seconds, to the millisecond.
func formatSeconds(d time.Duration) string {
	return formatMillis(d.Round(time.Millisecond).Milliseconds())
}

// formatUnix renders a time as Unix seconds, to the millisecond.
func formatUnix(t time.Time) string {
	return formatMillis(t.Round(time.Millisecond).UnixMilli())
}

// escapeLabelValue escapes backslash, double quote and newline as the
// exposition format requires, and replaces invalid UTF-8 (which makes
// node_exporter reject the whole file) with U+FFFD.
func escapeLabelValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// escapeHelp escapes backslash and newline in a HELP docstring.
func escapeHelp(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}
