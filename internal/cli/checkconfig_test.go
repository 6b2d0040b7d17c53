package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// configRoot writes files (relative path → content) under a new root owned
// by the test's user, and returns the root.
func configRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	writeFiles(t, root, files)
	return root
}

// writeFiles writes files (relative path → content) under root.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ownedByTester makes the config owner check accept the test user's files.
func ownedByTester(a *app) {
	a.env.Config.Owner = os.Getuid()
	a.env.Config.Local = time.UTC
}

func runCLI(t *testing.T, adjust func(*app), args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut, adjust)
	return out.String(), errOut.String(), code
}

const contractWindow = `[[window]]
days = ["Sat", "Sun"]
start = "02:00"
end = "04:00"
time_zone = "UTC"
`

func TestCheckConfigJSON(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		at       string
		wantCode int
		want     string
	}{
		{
			name:  "contract_example_from_sunday_night",
			files: map[string]string{"etc/kexec-upgrade/config.toml": contractWindow},
			at:    "2026-03-29T00:30:00Z",
			want: `{"valid":true,"next_windows":[` +
				`{"start":"2026-03-29T02:00:00Z","end":"2026-03-29T04:00:00Z"},` +
				`{"start":"2026-04-04T02:00:00Z","end":"2026-04-04T04:00:00Z"},` +
				`{"start":"2026-04-05T02:00:00Z","end":"2026-04-05T04:00:00Z"},` +
				`{"start":"2026-04-11T02:00:00Z","end":"2026-04-11T04:00:00Z"},` +
				`{"start":"2026-04-12T02:00:00Z","end":"2026-04-12T04:00:00Z"}]}`,
		},
		{
			name:  "open_window_comes_first",
			files: map[string]string{"etc/kexec-upgrade/config.toml": contractWindow},
			at:    "2026-03-29T03:00:00Z",
			want: `{"valid":true,"next_windows":[` +
				`{"start":"2026-03-29T02:00:00Z","end":"2026-03-29T04:00:00Z"},` +
				`{"start":"2026-04-04T02:00:00Z","end":"2026-04-04T04:00:00Z"},` +
				`{"start":"2026-04-05T02:00:00Z","end":"2026-04-05T04:00:00Z"},` +
				`{"start":"2026-04-11T02:00:00Z","end":"2026-04-11T04:00:00Z"},` +
				`{"start":"2026-04-12T02:00:00Z","end":"2026-04-12T04:00:00Z"}]}`,
		},
		{
			name:  "no_window_configured",
			files: map[string]string{"etc/kexec-upgrade/config.toml": "min_uptime = \"10m\"\n"},
			at:    "2026-03-29T00:30:00Z",
			want:  `{"valid":true,"next_windows":[]}`,
		},
		{
			name:  "drop_in_adds_a_window_in_another_zone",
			files: map[string]string{"etc/kexec-upgrade/config.toml": contractWindow, "etc/kexec-upgrade/config.d/10-weekday.toml": "[[window]]\ndays = [\"Mon\"]\nstart = \"23:00\"\nend = \"01:00\"\ntime_zone = \"Europe/Berlin\"\n"},
			at:    "2026-03-29T00:30:00Z",
			want: `{"valid":true,"next_windows":[` +
				`{"start":"2026-03-29T02:00:00Z","end":"2026-03-29T04:00:00Z"},` +
				`{"start":"2026-03-30T23:00:00+02:00","end":"2026-03-31T01:00:00+02:00"},` +
				`{"start":"2026-04-04T02:00:00Z","end":"2026-04-04T04:00:00Z"},` +
				`{"start":"2026-04-05T02:00:00Z","end":"2026-04-05T04:00:00Z"},` +
				`{"start":"2026-04-06T23:00:00+02:00","end":"2026-04-07T01:00:00+02:00"}]}`,
		},
		{
			name:  "monthly_last_sunday_from_the_contract_instant",
			files: map[string]string{"etc/kexec-upgrade/config.toml": "[[window]]\nweekdays_of_month = [\"last Sun\"]\nstart = \"02:00\"\nend = \"04:00\"\ntime_zone = \"Europe/Berlin\"\n"},
			at:    "2026-03-29T00:30:00Z",
			want: `{"valid":true,"next_windows":[` +
				`{"start":"2026-03-29T03:00:00+02:00","end":"2026-03-29T04:00:00+02:00"},` +
				`{"start":"2026-04-26T02:00:00+02:00","end":"2026-04-26T04:00:00+02:00"},` +
				`{"start":"2026-05-31T02:00:00+02:00","end":"2026-05-31T04:00:00+02:00"},` +
				`{"start":"2026-06-28T02:00:00+02:00","end":"2026-06-28T04:00:00+02:00"},` +
				`{"start":"2026-07-26T02:00:00+02:00","end":"2026-07-26T04:00:00+02:00"}]}`,
		},
		{
			name:  "monthly_drop_in_next_to_weekly_window",
			files: map[string]string{"etc/kexec-upgrade/config.toml": contractWindow, "etc/kexec-upgrade/config.d/20-month-end.toml": "[[window]]\ndays_of_month = [-1]\nstart = \"23:00\"\nend = \"01:00\"\ntime_zone = \"UTC\"\n"},
			at:    "2026-03-29T00:30:00Z",
			want: `{"valid":true,"next_windows":[` +
				`{"start":"2026-03-29T02:00:00Z","end":"2026-03-29T04:00:00Z"},` +
				`{"start":"2026-03-31T23:00:00Z","end":"2026-04-01T01:00:00Z"},` +
				`{"start":"2026-04-04T02:00:00Z","end":"2026-04-04T04:00:00Z"},` +
				`{"start":"2026-04-05T02:00:00Z","end":"2026-04-05T04:00:00Z"},` +
				`{"start":"2026-04-11T02:00:00Z","end":"2026-04-11T04:00:00Z"}]}`,
		},
		{
			name:  "open_monthly_window_across_a_month_end_comes_first",
			files: map[string]string{"etc/kexec-upgrade/config.toml": "[[window]]\ndays_of_month = [-1]\nstart = \"23:00\"\nend = \"01:00\"\ntime_zone = \"UTC\"\n"},
			at:    "2026-03-01T00:30:00Z",
			want: `{"valid":true,"next_windows":[` +
				`{"start":"2026-02-28T23:00:00Z","end":"2026-03-01T01:00:00Z"},` +
				`{"start":"2026-03-31T23:00:00Z","end":"2026-04-01T01:00:00Z"},` +
				`{"start":"2026-04-30T23:00:00Z","end":"2026-05-01T01:00:00Z"},` +
				`{"start":"2026-05-31T23:00:00Z","end":"2026-06-01T01:00:00Z"},` +
				`{"start":"2026-06-30T23:00:00Z","end":"2026-07-01T01:00:00Z"}]}`,
		},
		{
			name:  "days_of_month_skip_months_that_lack_them",
			files: map[string]string{"etc/kexec-upgrade/config.toml": "[[window]]\ndays_of_month = [29, 31]\nstart = \"02:00\"\nend = \"04:00\"\ntime_zone = \"UTC\"\n"},
			at:    "2027-01-30T00:00:00Z",
			want: `{"valid":true,"next_windows":[` +
				`{"start":"2027-01-31T02:00:00Z","end":"2027-01-31T04:00:00Z"},` +
				`{"start":"2027-03-29T02:00:00Z","end":"2027-03-29T04:00:00Z"},` +
				`{"start":"2027-03-31T02:00:00Z","end":"2027-03-31T04:00:00Z"},` +
				`{"start":"2027-04-29T02:00:00Z","end":"2027-04-29T04:00:00Z"},` +
				`{"start":"2027-05-29T02:00:00Z","end":"2027-05-29T04:00:00Z"}]}`,
		},
		{
			name:     "invalid_weekday_of_month_names_file_line_key",
			files:    map[string]string{"etc/kexec-upgrade/config.toml": "[[window]]\nstart = \"22:00\"\nweekdays_of_month = [\"6th Tue\"]\nend = \"01:00\"\n"},
			at:       "2026-03-29T00:30:00Z",
			wantCode: ExitError,
			want:     `{"valid":false,"errors":["/etc/kexec-upgrade/config.toml:3: window.weekdays_of_month: \"6th Tue\" is not a weekday of the month (1st..5th or last, then Mon..Sun, such as \"2nd Tue\" or \"last Sun\")"]}`,
		},
		{
			name:     "days_and_days_of_month_in_one_window",
			files:    map[string]string{"etc/kexec-upgrade/config.d/10-x.toml": "[[window]]\ndays = [\"Sat\"]\ndays_of_month = [1]\nstart = \"02:00\"\nend = \"04:00\"\n"},
			at:       "2026-03-29T00:30:00Z",
			wantCode: ExitError,
			want:     `{"valid":false,"errors":["/etc/kexec-upgrade/config.d/10-x.toml:3: window.days_of_month: cannot be combined with days in one [[window]]; give each its own [[window]] table"]}`,
		},
		{
			name:     "invalid_value_names_file_line_key",
			files:    map[string]string{"etc/kexec-upgrade/config.toml": "[[window]]\nstart = \"02:00\"\nend = \"25:00\"\n"},
			at:       "2026-03-29T00:30:00Z",
			wantCode: ExitError,
			want:     `{"valid":false,"errors":["/etc/kexec-upgrade/config.toml:3: window.end: \"25:00\" is not a time of day (HH:MM)"]}`,
		},
		{
			name:     "unknown_key_in_drop_in",
			files:    map[string]string{"etc/kexec-upgrade/config.d/50-x.toml": "min_uptme = \"1m\"\n"},
			at:       "2026-03-29T00:30:00Z",
			wantCode: ExitError,
			want:     `{"valid":false,"errors":["/etc/kexec-upgrade/config.d/50-x.toml:1: min_uptme: unknown key (see kexec-upgrade.toml(5))"]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := configRoot(t, tc.files)
			stdout, stderr, code := runCLI(t, ownedByTester, "check-config", "--root", root, "--at", tc.at, "--json")
			if code != tc.wantCode {
				t.Fatalf("check-config exit code = %d; want %d (stderr %q)", code, tc.wantCode, stderr)
			}
			var got, want any
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("check-config --json printed invalid JSON %q: %v", stdout, err)
			}
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Errorf("check-config --at %s --json =\n%s\nwant\n%s", tc.at, g, w)
			}
		})
	}
}

func TestCheckConfigText(t *testing.T) {
	root := configRoot(t, map[string]string{"etc/kexec-upgrade/config.toml": "[[window]]\nstart = \"2:00\"\nend = \"04:00\"\nbogus = 1\n"})
	stdout, stderr, code := runCLI(t, ownedByTester, "check-config", "--root", root)
	if code != ExitError {
		t.Fatalf("exit code = %d; want %d", code, ExitError)
	}
	if stdout != "" {
		t.Errorf("stdout = %q; want nothing (errors go to stderr)", stdout)
	}
	for _, want := range []string{
		`kexec-upgrade: /etc/kexec-upgrade/config.toml:2: window.start: "2:00" is not a time of day (HH:MM)`,
		`kexec-upgrade: /etc/kexec-upgrade/config.toml:4: window.bogus: unknown key`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr = %q; want a line %q", stderr, want)
		}
	}
}

func TestCheckConfigTextMonthly(t *testing.T) {
	root := configRoot(t, map[string]string{"etc/kexec-upgrade/config.toml": "[[window]]\nweekdays_of_month = [\"2nd Tue\"]\nstart = \"22:00\"\nend = \"01:00\"\ntime_zone = \"UTC\"\n"})
	stdout, stderr, code := runCLI(t, ownedByTester, "check-config", "--root", root, "--at", "2026-03-11T00:30:00Z")
	if code != ExitOK {
		t.Fatalf("exit code = %d; want %d (stderr %q)", code, ExitOK, stderr)
	}
	for _, want := range []string{
		"configuration is valid (/etc/kexec-upgrade/config.toml)\n",
		"  Tue 2026-03-10 22:00 – Wed 01:00 UTC  (open now)\n",
		"  Tue 2026-04-14 22:00 – Wed 01:00 UTC\n",
		"  Tue 2026-07-14 22:00 – Wed 01:00 UTC\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check-config --at 2026-03-11T00:30:00Z printed\n%s\nwant a line %q", stdout, want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no_command", nil, "Usage: kexec-upgrade"},
		{"unknown_command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown_option", []string{"status", "--jsn"}, "flag provided but not defined: -jsn"},
		{"stray_argument", []string{"history", "now"}, `unexpected argument "now"`},
		{"bad_at_time", []string{"check-config", "--at", "tomorrow"}, `--at "tomorrow" is not an RFC3339 time`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, ownedByTester, tc.args...)
			if code != ExitUsage {
				t.Errorf("kexec-upgrade %v exit code = %d; want %d", tc.args, code, ExitUsage)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("kexec-upgrade %v stderr = %q; want it to contain %q", tc.args, stderr, tc.want)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--help"}} {
		stdout, _, code := runCLI(t, nil, args...)
		if code != ExitOK || stdout == "" {
			t.Errorf("kexec-upgrade %v = %d, %q; want 0 and output", args, code, stdout)
		}
	}
}

// TestStatusShowsMonthlyWindow checks that status describes a monthly
// window as it does a weekly one: by its next span, in the window's zone,
// here opened at 03:00 as the last Sunday of March 2026 skips 02:00-03:00 in
// Berlin, and this host's slot in its spread.
func TestStatusShowsMonthlyWindow(t *testing.T) {
	root := fixtureRoot(t, "debian_cloud", map[string]string{"etc/kexec-upgrade/config.toml": "[[window]]\nweekdays_of_month = [\"last Sun\"]\nstart = \"02:00\"\nend = \"04:00\"\ntime_zone = \"Europe/Berlin\"\nspread = \"30m\"\n"})
	f := &fakeEnv{}
	stdout, stderr, code := runCLI(t, f.onWednesday, "status", "--root", root)
	if code != ExitOK {
		t.Fatalf("status exit %d: %s", code, stderr)
	}
	for _, want := range []string{"postpone (window)", "Window:       next Sun 2026-03-29 03:00 – 04:00 CEST (01:00 – 02:00 UTC)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status does not show %q:\n%s", want, stdout)
		}
	}
	stdout, stderr, code = runCLI(t, f.onWednesday, "status", "--root", root, "--json")
	if code != ExitOK {
		t.Fatalf("status --json exit %d: %s", code, stderr)
	}
	var s jsonStatus
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("status --json printed invalid JSON: %v\n%s", err, stdout)
	}
	if s.Window.Open || s.Window.Next == nil || s.Window.Next.Start != "2026-03-29T03:00:00+02:00" || s.Window.Next.End != "2026-03-29T04:00:00+02:00" {
		t.Errorf("status --json window = %+v; want closed, next 2026-03-29T03:00:00+02:00 to 04:00", s.Window)
	}
	if s.Window.Slot == nil {
		t.Errorf("status --json window.slot = nil; want this host's slot in the 30m spread")
	}
}
