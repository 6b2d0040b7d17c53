package upgrade

import (
	"fmt"
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

// metricsDir returns the textfile directory under root, and whether metrics
// are to be written there: only when enabled and the directory exists, so a
// host without node_exporter gets no stray directory.
func metricsDir(root string, m config.Metrics) (string, bool) {
	if !m.Enabled {
		return "", false
	}
	dir := filepath.Join(root, m.Directory)
	fi, err := os.Stat(dir)
	return dir, err == nil && fi.IsDir()
}

// writeMetrics writes the textfile from the run's report and the state as the
// run left it. Metrics never stop an upgrade: a failure goes to stderr, which
// the unit sends to the journal.
func writeMetrics(env Env, r Report) {
	dir, ok := metricsDir(env.Root, metricsConfig(r))
	if !ok {
		return
	}
	st, err := state.Load(env.Root)
	if err != nil {
		st = state.State{}
	}
	if _, err := metrics.WriteTextfile(dir, MetricsSnapshot(r, st)); err != nil {
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
			break
		}
	}
	for _, a := range st.Attempts {
		if a.Outcome != state.OutcomeVerified {
			s.FailuresTotal++
		}
	}
	return s
}
