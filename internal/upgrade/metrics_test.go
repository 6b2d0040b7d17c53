package upgrade_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const promFile = "var/lib/prometheus/node-exporter/kexec_upgrade.prom"

// metricLines returns the sample lines of the textfile, or fails.
func (r *rig) metricLines() map[string]bool {
	r.t.Helper()
	lines := map[string]bool{}
	for _, l := range strings.Split(string(r.read(promFile)), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines[l] = true
		}
	}
	return lines
}

func wantMetrics(t *testing.T, what string, got map[string]bool, want ...string) {
	t.Helper()
	for _, w := range want {
		if !got[w] {
			var all []string
			for l := range got {
				all = append(all, l)
			}
			t.Errorf("%s: metrics lack %q; they are:\n  %s", what, w, strings.Join(all, "\n  "))
		}
	}
}

func TestRunWritesMetrics(t *testing.T) {
	r := newRig(t)
	if err := os.MkdirAll(filepath.Join(r.root, filepath.Dir(promFile)), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.run(context.Background(), false); err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantMetrics(t, "while switching", r.metricLines(),
		`kexec_upgrade_running_kernel_info{release="`+oldRelease+`",build="`+oldBuild+`"} 1`,
		`kexec_upgrade_target_kernel_info{release="`+newRelease+`",build="`+newBuild+`"} 1`,
		"kexec_upgrade_upgrade_pending 1",
		"kexec_upgrade_window_open 1",
		"kexec_upgrade_next_window_seconds 0",
		"kexec_upgrade_failures_total 0",
		"kexec_upgrade_fleet_lock_held 0",
	)

	// The new kernel comes up through kexec: verified, nothing pending.
	r.boot(newRelease, newBuild, newBootID, 0xD0)
	r.now = r.now.Add(90 * 1e9)
	if _, _, err := r.run(context.Background(), false); err != nil {
		t.Fatalf("Run after the switch: %v", err)
	}
	got := r.metricLines()
	wantMetrics(t, "after the switch", got,
		`kexec_upgrade_running_kernel_info{release="`+newRelease+`",build="`+newBuild+`"} 1`,
		"kexec_upgrade_upgrade_pending 0",
		`kexec_upgrade_last_outcome_info{outcome="verified"} 1`,
		"kexec_upgrade_failures_total 0",
	)
}

func TestRunMetricsNeedTheDirectory(t *testing.T) {
	r := newRig(t)
	if _, _, err := r.run(context.Background(), false); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.root, "var/lib/prometheus")); !os.IsNotExist(err) {
		t.Errorf("Run created the metrics directory on a host without node_exporter (stat: %v)", err)
	}
}

func TestRunMetricsWithBadConfig(t *testing.T) {
	r := newRig(t)
	if err := os.MkdirAll(filepath.Join(r.root, filepath.Dir(promFile)), 0o755); err != nil {
		t.Fatal(err)
	}
	r.write("etc/kexec-upgrade/config.toml", "[[window]]\nstart = \"25:00\"\nend = \"04:00\"\n")
	if _, _, err := r.run(context.Background(), false); err == nil {
		t.Fatal("Run with a bad config: no error")
	}
	wantMetrics(t, "with a bad config", r.metricLines(), "kexec_upgrade_upgrade_pending 1")
}

func TestRunMetricsConfiguredDirectory(t *testing.T) {
	r := newRig(t)
	r.write("etc/kexec-upgrade/config.d/metrics.toml", "[metrics]\ndirectory = \"/srv/prom\"\n")
	out, _, err := r.run(context.Background(), false)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	warned := false
	for _, w := range out.Report.Warnings {
		warned = warned || strings.Contains(w, "metrics.directory /srv/prom does not exist")
	}
	if !warned {
		t.Errorf("warnings %q do not mention the missing metrics directory", out.Report.Warnings)
	}
	if err := os.MkdirAll(filepath.Join(r.root, "srv/prom"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.run(context.Background(), false); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.root, "srv/prom/kexec_upgrade.prom")); err != nil {
		t.Errorf("no metrics in the configured directory: %v", err)
	}
}
