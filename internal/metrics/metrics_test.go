package metrics

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	t0  = time.Date(2026, 5, 4, 1, 0, 0, 250_000_000, time.UTC)
	k51 = Kernel{Release: "6.1.0-51-cloud-amd64", Build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.171-1 (2026-04-20)"}
	k52 = Kernel{Release: "6.1.0-52-cloud-amd64", Build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.172-1 (2026-05-01)"}
)

func kp(k Kernel) *Kernel { return &k }

var renderCases = []struct {
	name string
	s    Snapshot
	// want maps a family name to the value of its (only) sample.
	want map[string]string
	// absent lists families that must not appear.
	absent []string
}{
	{
		name: "nothing_pending",
		s: Snapshot{
			Running: k51, Target: kp(k51),
			NextWindow:  t0.Add(3*24*time.Hour + 30*time.Minute),
			LastOutcome: "verified", LastOutcomeTime: t0.Add(-24 * time.Hour), LastSwitchDuration: 2125 * time.Millisecond,
			Now: t0,
		},
		want: map[string]string{
			"kexec_upgrade_upgrade_pending":                "0",
			"kexec_upgrade_window_open":                    "0",
			"kexec_upgrade_next_window_seconds":            "261000",
			"kexec_upgrade_last_outcome_timestamp_seconds": "1777770000.25",
			"kexec_upgrade_last_switch_duration_seconds":   "2.125",
			"kexec_upgrade_failures_total":                 "0",
			"kexec_upgrade_last_run_timestamp_seconds":     "1777856400.25",
			"kexec_upgrade_fleet_lock_held":                "0",
			"kexec_upgrade_fleet_lock_configured":          "0",
			"kexec_upgrade_last_outcome_info":              "1",
			"kexec_upgrade_target_kernel_info":             "1",
			"kexec_upgrade_running_kernel_info":            "1",
		},
	},
	{
		name: "pending_window_in_3h",
		s: Snapshot{
			Running: k51, Target: kp(k52), Pending: true,
			NextWindow: t0.Add(3 * time.Hour),
			Now:        t0,
		},
		want: map[string]string{
			"kexec_upgrade_upgrade_pending":     "1",
			"kexec_upgrade_window_open":         "0",
			"kexec_upgrade_next_window_seconds": "10800",
		},
		absent: []string{
			"kexec_upgrade_last_outcome_info",
			"kexec_upgrade_last_outcome_timestamp_seconds",
			"kexec_upgrade_last_switch_duration_seconds",
		},
	},
	{
		name: "window_open",
		s: Snapshot{
			Running: k51, Target: kp(k52), Pending: true,
			WindowOpen: true, NextWindow: t0.Add(24 * time.Hour), // the window after this one
			LastOutcome: "verified", LastOutcomeTime: t0.Add(-30 * 24 * time.Hour), LastSwitchDuration: 3 * time.Second,
			Now: t0,
		},
		want: map[string]string{
			"kexec_upgrade_window_open":                  "1",
			"kexec_upgrade_next_window_seconds":          "0",
			"kexec_upgrade_last_switch_duration_seconds": "3",
		},
	},
	{
		name: "window_in_past_clamped",
		s: Snapshot{
			Running: k51, Target: kp(k52), Pending: true,
			NextWindow: t0.Add(-time.Minute),
			Now:        t0,
		},
		want: map[string]string{"kexec_upgrade_next_window_seconds": "0"},
	},
	{
		name: "switch_phases_and_paused",
		s: Snapshot{
			Running: k52, Target: kp(k52),
			LastOutcome: "verified", LastOutcomeTime: t0.Add(-time.Hour), LastSwitchDuration: 101500 * time.Millisecond,
			LastSwitchPhases: map[string]time.Duration{"stopping": 90 * time.Second, "kernel": 4200 * time.Millisecond, "userspace": 7300 * time.Millisecond},
			Paused:           true,
			Now:              t0,
		},
		want: map[string]string{"kexec_upgrade_paused": "1", "kexec_upgrade_last_switch_duration_seconds": "101.5"},
	},
	{
		name: "last_outcome_failed",
		s: Snapshot{
			Running: k51, Target: kp(k52),
			LastOutcome: "failed", LastOutcomeTime: t0.Add(-90*time.Minute - 1500*time.Microsecond),
			LastSwitchDuration: 1500 * time.Millisecond,
			FailuresTotal:      3,
			TrialInProgress:    true,
			QuarantinedBuilds:  2,
			RollbacksTotal:     1,
			Now:                t0,
		},
		want: map[string]string{
			"kexec_upgrade_upgrade_pending":                "0",
			"kexec_upgrade_failures_total":                 "3",
			"kexec_upgrade_trial_in_progress":              "1",
			"kexec_upgrade_quarantined_builds":             "2",
			"kexec_upgrade_rollbacks_total":                "1",
			"kexec_upgrade_last_outcome_info":              "1",
			"kexec_upgrade_last_outcome_timestamp_seconds": "1777851000.249",
		},
		absent: []string{"kexec_upgrade_next_window_seconds"},
	},
	{
		name:   "no_target",
		s:      Snapshot{Running: k51, Now: t0},
		absent: []string{"kexec_upgrade_target_kernel_info", "kexec_upgrade_next_window_seconds"},
	},
	{
		name: "fleet_lock_held",
		s: Snapshot{
			Running: k51, Target: kp(k52), Pending: true, WindowOpen: true,
			FleetLockConfigured: true, FleetLockHeld: true,
			Now: t0,
		},
		want: map[string]string{
			"kexec_upgrade_fleet_lock_configured": "1",
			"kexec_upgrade_fleet_lock_held":       "1",
		},
	},
	{
		name: "fleet_lock_configured_not_held",
		s: Snapshot{
			Running: k51, Target: kp(k52), Pending: true, NextWindow: t0.Add(90 * time.Second),
			FleetLockConfigured: true,
			Now:                 t0.Add(123 * time.Millisecond),
		},
		want: map[string]string{
			"kexec_upgrade_fleet_lock_configured": "1",
			"kexec_upgrade_fleet_lock_held":       "0",
			"kexec_upgrade_next_window_seconds":   "89.877",
		},
	},
	{
		name: "fleet_lock_held_without_config",
		s:    Snapshot{Running: k51, FleetLockHeld: true, Now: t0},
		want: map[string]string{
			"kexec_upgrade_fleet_lock_configured": "0",
			"kexec_upgrade_fleet_lock_held":       "0",
		},
	},
	{
		name: "label_escaping",
		s: Snapshot{
			Running:     Kernel{Release: `6.1.0-"evil"`, Build: "#1 SMP \"quoted\" C:\\path\\ \nsecond line \xff end"},
			Target:      kp(Kernel{Release: `a\b`, Build: `}" 1`}),
			LastOutcome: `fail"ed\`,
			Now:         t0,
		},
	},
}

func render(t testing.TB, s Snapshot) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, s); err != nil {
		t.Fatalf("Render: %v", err)
	}
	return b.String()
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, tc.s)
			golden := filepath.Join("testdata", tc.name+".prom")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Render differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
			if again := render(t, tc.s); again != got {
				t.Errorf("Render is not deterministic")
			}
		})
	}
}

func TestRenderSyntaxAndValues(t *testing.T) {
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			fams, err := checkExposition(render(t, tc.s))
			if err != nil {
				t.Fatalf("invalid exposition: %v", err)
			}
			byName := map[string]*parsedFamily{}
			for _, f := range fams {
				if !strings.HasPrefix(f.name, "kexec_upgrade_") {
					t.Errorf("metric %s lacks the kexec_upgrade_ prefix", f.name)
				}
				if f.typ != "gauge" {
					t.Errorf("%s: TYPE %s, want gauge", f.name, f.typ)
				}
				// One sample per family, but one per phase for the phases.
				if want := map[bool]int{true: len(tc.s.LastSwitchPhases), false: 1}[f.name == "kexec_upgrade_last_switch_phase_seconds"]; len(f.samples) != want {
					t.Errorf("%s: %d samples, want %d", f.name, len(f.samples), want)
				}
				byName[f.name] = f
			}
			for _, name := range []string{
				"kexec_upgrade_running_kernel_info", "kexec_upgrade_upgrade_pending", "kexec_upgrade_window_open",
				"kexec_upgrade_failures_total", "kexec_upgrade_fleet_lock_configured", "kexec_upgrade_fleet_lock_held",
				"kexec_upgrade_last_run_timestamp_seconds",
			} {
				if byName[name] == nil {
					t.Errorf("%s missing; it must always be present", name)
				}
			}
			for name, want := range tc.want {
				f := byName[name]
				if f == nil {
					t.Errorf("%s missing", name)
					continue
				}
				if got := f.samples[0].value; got != want {
					t.Errorf("%s = %s, want %s", name, got, want)
				}
			}
			for _, name := range tc.absent {
				if byName[name] != nil {
					t.Errorf("%s present, want it omitted", name)
				}
			}
			checkInfo(t, byName["kexec_upgrade_running_kernel_info"], map[string]string{
				"release": tc.s.Running.Release, "build": tc.s.Running.Build,
			})
			if tc.s.Target == nil {
				if byName["kexec_upgrade_target_kernel_info"] != nil {
					t.Errorf("target_kernel_info present without a target")
				}
			} else {
				checkInfo(t, byName["kexec_upgrade_target_kernel_info"], map[string]string{
					"release": tc.s.Target.Release, "build": tc.s.Target.Build,
				})
			}
			if tc.s.LastOutcome != "" {
				checkInfo(t, byName["kexec_upgrade_last_outcome_info"], map[string]string{"outcome": tc.s.LastOutcome})
			}
		})
	}
}

// checkInfo checks an _info family: value 1 and the given labels, which must
// round-trip through escaping (invalid UTF-8 becomes U+FFFD).
func checkInfo(t *testing.T, f *parsedFamily, want map[string]string) {
	t.Helper()
	if f == nil {
		t.Errorf("info metric missing (want labels %q)", want)
		return
	}
	s := f.samples[0]
	if s.value != "1" {
		t.Errorf("%s = %s, want 1", f.name, s.value)
	}
	if len(s.labels) != len(want) {
		t.Errorf("%s labels %q, want %q", f.name, s.labels, want)
	}
	for k, v := range want {
		if got, wantV := s.labels[k], strings.ToValidUTF8(v, "\uFFFD"); got != wantV {
			t.Errorf("%s{%s} = %q, want %q", f.name, k, got, wantV)
		}
	}
}

func TestRenderZeroNowUsesClock(t *testing.T) {
	before := time.Now()
	fams, err := checkExposition(render(t, Snapshot{Running: k51}))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.name != "kexec_upgrade_last_run_timestamp_seconds" {
			continue
		}
		v, err := strconv.ParseFloat(f.samples[0].value, 64)
		if err != nil {
			t.Fatal(err)
		}
		if d := v - float64(before.Unix()); d < -1 || d > 60 {
			t.Errorf("last_run_timestamp_seconds = %v, want about %d", v, before.Unix())
		}
		return
	}
	t.Fatal("last_run_timestamp_seconds missing")
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRenderWriteError(t *testing.T) {
	if err := Render(failWriter{}, Snapshot{Now: t0}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Render to a failing writer = %v, want the write error", err)
	}
}

// TestCheckerRejects makes sure the checker the other tests rely on is not
// vacuous.
func TestCheckerRejects(t *testing.T) {
	const head = "# HELP m h\n# TYPE m gauge\n"
	for _, bad := range []string{
		"",
		"m 1\n",                                // no HELP/TYPE
		"# TYPE m gauge\nm 1\n",                // no HELP
		head + "m 1",                           // no final newline
		head + "m 1 1700000000\n",              // timestamp
		head + "m 1e+06\n",                     // exponent
		head + "m 1\nm 2\n",                    // duplicate series
		head + "m{a=\"x\",a=\"y\"} 1\n",        // duplicate label
		head + "m{a=\"x\\q\"} 1\n",             // bad escape
		head + "m{a=\"x\"y\"} 1\n",             // unescaped quote
		head + "m{a=\"x} 1\n",                  // unterminated
		head + "m{1a=\"x\"} 1\n",               // label name
		head + "m{__a=\"x\"} 1\n",              // reserved label name
		head + "m{} 1\n",                       // empty label set
		"# HELP m h\n# TYPE m gaug\nm 1\n",     // TYPE value
		"# HELP 1m h\n# TYPE 1m gauge\n1m 1\n", // metric name
		head + "m 1\n# HELP m h\n",             // HELP after samples
		head + "# TYPE m gauge\nm 1\n",         // second TYPE
		head + "m 1\n\n",                       // empty line
		head + "m{a=\"\xff\"} 1\n",             // invalid UTF-8
		head + "m{a=\"x\"} 1\n# HELP n h\n# TYPE n gauge\nn 1\nm{a=\"y\"} 1\n", // not contiguous
	} {
		if _, err := checkExposition(bad); err == nil {
			t.Errorf("checkExposition(%q) = nil, want an error", bad)
		}
	}
	if _, err := checkExposition(head + "m{a=\"q\\\"\\\\\\n\",b=\"\"} 0.5\n"); err != nil {
		t.Errorf("checkExposition of valid input: %v", err)
	}
}

func FuzzRenderLabels(f *testing.F) {
	f.Add(k51.Release, k51.Build, "verified")
	f.Add(`"`, `\`, "\n")
	f.Add(`a\"b`, "x\ny\\n\"", `}{`)
	f.Add("\xff\xfe", "\x00", "é ✓")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, release, build, outcome string) {
		s := Snapshot{
			Running:     Kernel{Release: release, Build: build},
			Target:      &Kernel{Release: build, Build: release},
			LastOutcome: outcome,
			Now:         t0,
		}
		out := render(t, s)
		fams, err := checkExposition(out)
		if err != nil {
			t.Fatalf("invalid exposition: %v\n%s", err, out)
		}
		byName := map[string]*parsedFamily{}
		for _, f := range fams {
			byName[f.name] = f
		}
		checkInfo(t, byName["kexec_upgrade_running_kernel_info"], map[string]string{"release": release, "build": build})
		checkInfo(t, byName["kexec_upgrade_target_kernel_info"], map[string]string{"release": build, "build": release})
		if outcome != "" {
			checkInfo(t, byName["kexec_upgrade_last_outcome_info"], map[string]string{"outcome": outcome})
		}
	})
}
