package cli

import (
	"strings"
	"testing"
	"time"
)

func TestPauseEnd(t *testing.T) {
	now := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, forStr, until string
		want                time.Time
		err                 string
	}{
		{name: "none", want: time.Time{}},
		{name: "for_hours", forStr: "12h", want: now.Add(12 * time.Hour)},
		{name: "for_days", forStr: "3d", want: now.Add(72 * time.Hour)},
		{name: "for_weeks", forStr: "2w", want: now.Add(14 * 24 * time.Hour)},
		{name: "for_garbage", forStr: "soon", err: "not a duration"},
		{name: "for_negative", forStr: "-1h", err: "not between"},
		{name: "for_too_long", forStr: "400d", err: "not a duration"},
		{name: "until_date_local", until: "2026-12-24", want: time.Date(2026, 12, 24, 0, 0, 0, 0, berlin)},
		{name: "until_local_time", until: "2026-12-24 18:00", want: time.Date(2026, 12, 24, 18, 0, 0, 0, berlin)},
		{name: "until_rfc3339", until: "2026-12-24T18:00:00Z", want: time.Date(2026, 12, 24, 18, 0, 0, 0, time.UTC)},
		{name: "until_garbage", until: "tomorrow", err: "not a time"},
		{name: "until_far", until: "2030-01-01", err: "more than a year"},
		{name: "both", forStr: "1h", until: "2026-12-24", err: "not both"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pauseEnd(now, tc.forStr, tc.until, berlin)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("pauseEnd(%q, %q) error = %v; want %q", tc.forStr, tc.until, err, tc.err)
				}
				return
			}
			if err != nil || !got.Equal(tc.want) {
				t.Errorf("pauseEnd(%q, %q) = %v, %v; want %v", tc.forStr, tc.until, got, err, tc.want)
			}
		})
	}
}

func TestPauseResumeCommands(t *testing.T) {
	root := fixtureRoot(t, "debian_cloud", windowConfig)
	f := &fakeEnv{}
	stdout, stderr, code := runCLI(t, f.adjust, "pause", "--root", root, "--for", "2h", "--reason", "freeze")
	if code != 0 || !strings.Contains(stdout, "paused until") {
		t.Fatalf("pause = %d, %q, %q", code, stdout, stderr)
	}
	stdout, _, code = runCLI(t, f.adjust, "run", "--root", root, "--dry-run")
	if code != 0 || !strings.Contains(stdout, "paused by an admin until") || !strings.Contains(stdout, "freeze") {
		t.Errorf("run --dry-run while paused = %d, %q; want postponed by the pause", code, stdout)
	}
	stdout, _, code = runCLI(t, f.adjust, "resume", "--root", root)
	if code != 0 || !strings.Contains(stdout, "resumed") {
		t.Errorf("resume = %d, %q", code, stdout)
	}
	if _, stderr, code := runCLI(t, f.adjust, "pause", "--root", root, "--for", "1h", "--until", "2026-12-24"); code != ExitUsage {
		t.Errorf("pause --for --until = %d (%q); want a usage error", code, stderr)
	}
}
