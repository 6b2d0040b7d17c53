package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

// maxPause keeps a typo (--for 100000h) from pausing a host for years.
const maxPause = 366 * 24 * time.Hour

func (a *app) cmdPause(_ context.Context, args []string, adjust func(*app)) error {
	fs, root := a.flags("pause")
	forStr := fs.String("for", "", "pause for `DURATION` (30m, 12h, 3d, 2w)")
	untilStr := fs.String("until", "", "pause until `TIME` (2026-12-24, 2026-12-24 18:00, or RFC3339)")
	reason := fs.String("reason", "", "why, shown in status and the journal")
	if err := parse(fs, args); err != nil {
		return err
	}
	a.setup(*root, adjust)
	now := a.env.Now()
	until, err := pauseEnd(now, *forStr, *untilStr, a.env.Config.Local)
	if err != nil {
		return err
	}
	p, err := upgrade.SetPause(a.env, until, *reason)
	if err != nil {
		return err
	}
	if p.Until.IsZero() {
		fmt.Fprintln(a.stdout, "automatic switches paused until `kexec-upgrade resume` (run --now still switches)")
	} else {
		fmt.Fprintf(a.stdout, "automatic switches paused until %s (run --now still switches)\n", plan.FormatTime(p.Until))
	}
	return nil
}

func (a *app) cmdResume(_ context.Context, args []string, adjust func(*app)) error {
	fs, root := a.flags("resume")
	if err := parse(fs, args); err != nil {
		return err
	}
	a.setup(*root, adjust)
	was, err := upgrade.Resume(a.env)
	if err != nil {
		return err
	}
	if was {
		fmt.Fprintln(a.stdout, "automatic switches resumed")
	} else {
		fmt.Fprintln(a.stdout, "not paused")
	}
	return nil
}

// pauseEnd turns --for or --until into the end of the pause (zero: none).
func pauseEnd(now time.Time, forStr, untilStr string, local *time.Location) (time.Time, error) {
	switch {
	case forStr != "" && untilStr != "":
		return time.Time{}, usageError{"pause: give --for or --until, not both"}
	case forStr != "":
		d, err := parsePauseDuration(forStr)
		if err != nil {
			return time.Time{}, usageError{"pause: --for " + err.Error()}
		}
		return now.Add(d), nil
	case untilStr != "":
		t, err := parsePauseTime(untilStr, local)
		if err != nil {
			return time.Time{}, usageError{"pause: --until " + err.Error()}
		}
		if t.Sub(now) > maxPause {
			return time.Time{}, usageError{fmt.Sprintf("pause: --until %s is more than a year away", untilStr)}
		}
		return t, nil
	}
	return time.Time{}, nil
}

// parsePauseDuration takes Go durations plus whole days (d) and weeks (w).
func parsePauseDuration(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		d, err = wholeUnits(n, 24*time.Hour)
	} else if n, ok := strings.CutSuffix(s, "w"); ok {
		d, err = wholeUnits(n, 7*24*time.Hour)
	} else {
		d, err = time.ParseDuration(s)
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration such as 30m, 12h, 3d or 2w", s)
	case d <= 0 || d > maxPause:
		return 0, fmt.Errorf("%q is not between 1s and a year", s)
	}
	return d, nil
}

func wholeUnits(n string, unit time.Duration) (time.Duration, error) {
	v, err := strconv.Atoi(n)
	if err != nil || v <= 0 || v > 366 {
		return 0, fmt.Errorf("bad count %q", n)
	}
	return time.Duration(v) * unit, nil
}

// parsePauseTime takes RFC3339, or a local date with an optional time.
func parsePauseTime(s string, local *time.Location) (time.Time, error) {
	if local == nil {
		local = time.Local
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time such as 2026-12-24, \"2026-12-24 18:00\" or 2026-12-24T18:00:00Z", s)
}
