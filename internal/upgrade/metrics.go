package upgrade

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/metrics"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
)

// metricsConfig is the metrics part of the report's configuration, or the
// defaults when the configuration is invalid: a host with a broken config
// is exactly one whose metrics should keep flowing.
func metricsConfig(r Report) config.Metrics {
	if r.ConfigErr != nil {
		return config.Default().Metrics
	}
	return r.Config.Metrics
}

// MetricsWarning is the warning `status` shows about the metrics textfile
// under root, or "" when there is none: a [metrics] directory that was set
// and does not exist, or a directory that is refused (a symbolic link, not
// root's, or writable by group or others, or in a parent writable by group or
// others). The default directory missing is no warning: node_exporter is not
// installed.
func MetricsWarning(root string, m config.Metrics) string {
	if !m.Enabled {
		return ""
	}
	err := metrics.CheckDir(filepath.Join(root, m.Directory))
	switch {
	case err == nil:
		return ""
	case errors.Is(err, fs.ErrNotExist) && m.Directory == config.DefaultMetricsDirectory:
		return ""
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("metrics.directory %s does not exist: no metrics are written (create it, and let the unit write there with ReadWritePaths= in a drop-in)", m.Directory)
	case errors.Is(err, metrics.ErrUnsafeDir):
		return fmt.Sprintf("no metrics are written: %v (the directory must be root's and writable by root alone, and its parent not writable by group or others)", err)
	default:
		return fmt.Sprintf("no metrics are written: %v", err)
	}
}

// writeMetrics writes the textfile from the run's report and the state as the
// run left it. Metrics never stop an upgrade: a failure, or a directory that
// is refused, goes to stderr, which the unit sends to the journal. A missing
// directory is silent (no node_exporter); it is never created.
func writeMetrics(env Env, r Report) {
	m := metricsConfig(r)
	if !m.Enabled {
		return
	}
	st, err := state.Load(env.Root)
	if err != nil {
		st = state.State{}
	}
	_, err = metrics.WriteTextfile(filepath.Join(env.Root, m.Directory), MetricsSnapshot(r, st))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "kexec-upgrade: %v\n", err)
	}
}

// MetricsSnapshot is what the metrics say about a report and a state; it is
// pure.
func MetricsSnapshot(r Report, st state.State) metrics.Snapshot {
	s := metrics.Snapshot{
		Running:             metrics.Kernel{Release: r.Facts.Running.Release, Build: r.Facts.Running.Build},
		Pending:             r.Decision.New,
		FleetLockConfigured: r.ConfigErr == nil && r.Config.FleetLock.URL != "",
		FleetLockHeld:       st.FleetLock != nil && st.FleetLock.Held,
		Now:                 r.Now,
	}
	if t := r.Decision.Target; t != nil {
		s.Target = &metrics.Kernel{Release: t.Release, Build: t.Build}
	}
	if len(r.NextWindows) > 0 {
		s.NextWindow = r.NextWindows[0].Start
		s.WindowOpen = r.NextWindows[0].Contains(r.Now)
	}
	if a, ok := st.LastAttempt(); ok {
		s.LastOutcome, s.LastOutcomeTime = a.Outcome, a.At
	}
	for i := len(st.Attempts) - 1; i >= 0; i-- {
		if a := st.Attempts[i]; a.Outcome == state.OutcomeVerified && a.DurationSeconds != nil {
			s.LastSwitchDuration = time.Duration(*a.DurationSeconds * float64(time.Second))
			s.LastSwitchPhases = phaseDurations(a.Phases)
			break
		}
	}
	for _, a := range st.Attempts {
		if a.Outcome != state.OutcomeVerified {
			s.FailuresTotal++
		}
		if a.Outcome == state.OutcomeRolledBack {
			s.RollbacksTotal++
		}
	}
	s.TrialInProgress, s.QuarantinedBuilds = st.InTrial(), len(st.Failed)
	s.Paused = st.Pause != nil && (st.Pause.Until.IsZero() || r.Now.Before(st.Pause.Until))
	return s
}

func phaseDurations(p *state.Phases) map[string]time.Duration {
	if p == nil {
		return nil
	}
	m := map[string]time.Duration{}
	for name, v := range map[string]*float64{"stopping": p.StoppingSeconds, "kernel": p.KernelSeconds, "userspace": p.UserspaceSeconds} {
		if v != nil {
			m[name] = time.Duration(*v * float64(time.Second))
		}
	}
	return m
}
