package upgrade_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
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
	mkdirMode(t, r.root, filepath.Dir(promFile), 0o755)
	mkdirMode(t, r.root, filepath.Dir(filepath.Dir(promFile)), 0o755)
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
	mkdirMode(t, r.root, filepath.Dir(promFile), 0o755)
	mkdirMode(t, r.root, filepath.Dir(filepath.Dir(promFile)), 0o755)
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
	if !strings.Contains(strings.Join(out.Report.Warnings, "\n"), "metrics.directory /srv/prom does not exist") {
		t.Errorf("warnings %q do not mention the missing metrics directory", out.Report.Warnings)
	}
	mkdirMode(t, r.root, "srv/prom", 0o755)
	mkdirMode(t, r.root, "srv", 0o755)
	if _, _, err := r.run(context.Background(), false); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.root, "srv/prom/kexec_upgrade.prom")); err != nil {
		t.Errorf("no metrics in the configured directory: %v", err)
	}
}

// mkdirMode makes root/rel with exactly mode perm, whatever the umask.
func mkdirMode(t *testing.T, root, rel string, perm os.FileMode) string {
	t.Helper()
	dir := filepath.Join(root, rel)
	if err := os.MkdirAll(dir, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRunMetricsNotThroughSymlink is defect 9 of issue 11: node-exporter/ was
// replaced with a symbolic link by the user who owns /var/lib/prometheus. The
// run writes nothing there, creates nothing, changes no mode, and status
// says why there are no metrics.
func TestRunMetricsNotThroughSymlink(t *testing.T) {
	r := newRig(t)
	mkdirMode(t, r.root, "var/lib/prometheus", 0o755)
	target := mkdirMode(t, r.root, "etc/secret", 0o700)
	if err := os.WriteFile(filepath.Join(target, "kexec_upgrade.prom"), []byte("root's own file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(r.root, filepath.Dir(promFile))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.run(context.Background(), false); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(target, "kexec_upgrade.prom")); err != nil || string(got) != "root's own file\n" {
		t.Errorf("the run wrote through the symbolic link: %q, %v", got, err)
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the link's target mode = %v, %v; want 0700 untouched", fi.Mode(), err)
	}
	if ents, err := os.ReadDir(target); err != nil || len(ents) != 1 {
		t.Errorf("the link's target holds %v, %v; want only its own file", ents, err)
	}
	w := upgrade.MetricsWarning(r.root, config.Default().Metrics)
	if !strings.Contains(w, "no metrics are written") || !strings.Contains(w, "symbolic link") {
		t.Errorf("MetricsWarning = %q; want it to say no metrics are written because of the symbolic link", w)
	}
}

func TestMetricsWarning(t *testing.T) {
	def := config.Default().Metrics
	custom := config.Metrics{Enabled: true, Directory: "/srv/prom"}
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
		m     config.Metrics
		want  string // "" for no warning, else a part of it
	}{
		{"no_node_exporter", func(t *testing.T, root string) {}, def, ""},
		{"disabled_with_a_symlink", func(t *testing.T, root string) {
			mkdirMode(t, root, "var/lib/prometheus", 0o755)
			if err := os.Symlink("/etc", filepath.Join(root, "var/lib/prometheus/node-exporter")); err != nil {
				t.Fatal(err)
			}
		}, config.Metrics{Directory: config.DefaultMetricsDirectory}, ""},
		{"debian_directory", func(t *testing.T, root string) {
			mkdirMode(t, root, "var/lib/prometheus", 0o755)
			mkdirMode(t, root, "var/lib/prometheus/node-exporter", 0o755)
		}, def, ""},
		{"configured_directory_missing", func(t *testing.T, root string) {}, custom, "metrics.directory /srv/prom does not exist"},
		{"symlink", func(t *testing.T, root string) {
			mkdirMode(t, root, "var/lib/prometheus", 0o755)
			if err := os.Symlink("/etc", filepath.Join(root, "var/lib/prometheus/node-exporter")); err != nil {
				t.Fatal(err)
			}
		}, def, "it is a symbolic link"},
		{"world_writable_directory", func(t *testing.T, root string) {
			mkdirMode(t, root, "srv", 0o755)
			mkdirMode(t, root, "srv/prom", 0o777)
		}, custom, "mode 0777 is writable by group or others"},
		{"group_writable_parent", func(t *testing.T, root string) {
			mkdirMode(t, root, "var/lib/prometheus", 0o775)
			mkdirMode(t, root, "var/lib/prometheus/node-exporter", 0o755)
		}, def, "parent directory's mode 0775"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tt.setup(t, root)
			got := upgrade.MetricsWarning(root, tt.m)
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("MetricsWarning(%+v) = %q; want %q", tt.m, got, tt.want)
			}
		})
	}
}

// A world-writable textfile directory gets no file from a run.
func TestRunMetricsRefusesWorldWritableDir(t *testing.T) {
	r := newRig(t)
	mkdirMode(t, r.root, "var/lib/prometheus", 0o755)
	dir := mkdirMode(t, r.root, filepath.Dir(promFile), 0o777)
	if _, _, err := r.run(context.Background(), false); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("the world-writable directory holds %v, %v; want nothing written", ents, err)
	}
}
