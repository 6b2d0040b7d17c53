package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
	"github.com/kexec-upgrade/kexec-upgrade/internal/window"
)

func (a *app) cmdRun(ctx context.Context, args []string, adjust func(*app)) error {
	fs, root := a.flags("run")
	dry := fs.Bool("dry-run", false, "decide and print the decision; change nothing")
	now := fs.Bool("now", false, "ignore the window, min_uptime and a previous failure")
	if err := parse(fs, args); err != nil {
		return err
	}
	a.setup(*root, adjust)
	if *dry {
		r, err := upgrade.Assess(ctx, a.env, *now)
		if err != nil {
			return err
		}
		printDecision(a.stdout, r.Decision)
		printTrace(a.stdout, r.Decision)
		if r.ConfigErr != nil {
			return r.ConfigErr
		}
		return nil
	}
	out, err := upgrade.Run(ctx, a.env, *now)
	switch {
	case errors.Is(err, upgrade.ErrBusy), errors.Is(err, upgrade.ErrSwitchUnderWay):
		fmt.Fprintln(a.stdout, err.Error())
		return nil
	case errors.Is(err, upgrade.ErrConfig):
		return out.Report.ConfigErr
	case err != nil:
		return err
	}
	// Under systemd the journal events already say all of this; printing
	// it again would log the same line every five minutes.
	quiet, _ := journal.StdoutIsJournalStream()
	if !quiet {
		if v := out.Verified; v != nil {
			fmt.Fprintf(a.stdout, "last switch: %s\n", describeAttempt(*v))
		}
		printDecision(a.stdout, out.Report.Decision)
		if v := out.Verified; v != nil && v.Outcome == state.OutcomeTrial {
			fmt.Fprintf(a.stdout, "trial boot of %s in progress: nothing else switches until it ends\n", v.To.Release)
		}
	}
	switch {
	case out.Switching:
		fmt.Fprintf(a.stdout, "kexec.target queued: switching to %s now\n", out.Report.Decision.Target.Release)
	case out.ActErr != nil && errors.Is(out.ActErr, upgrade.ErrPostponed):
		fmt.Fprintf(a.stdout, "postponed: %v\n", out.ActErr)
	case out.ActErr != nil:
		return fmt.Errorf("switch not started: %w", out.ActErr)
	}
	return nil
}

func printDecision(w io.Writer, d plan.Decision) {
	switch d.Action {
	case plan.Switch:
		fmt.Fprintf(w, "decision: switch: %s\n", d.Reason)
	case plan.UpToDate:
		fmt.Fprintf(w, "decision: up-to-date: %s\n", d.Reason)
	default:
		fmt.Fprintf(w, "decision: %s (%s): %s\n", d.Action, d.Check, d.Reason)
	}
}

func printTrace(w io.Writer, d plan.Decision) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range d.Steps {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Result, s.Check, s.Detail)
	}
	tw.Flush()
}

func describeAttempt(a state.Attempt) string {
	s := fmt.Sprintf("%s %s → %s at %s", a.Outcome, a.From.Release, a.To.Release, a.At.UTC().Format(time.RFC3339))
	if a.From.Release == a.To.Release {
		s = fmt.Sprintf("%s %s (%s → %s) at %s", a.Outcome, a.To.Release, a.From.Build, a.To.Build, a.At.UTC().Format(time.RFC3339))
	}
	if a.Kind != "" {
		s += " [" + a.Kind + "]"
	}
	if a.DurationSeconds != nil {
		s += fmt.Sprintf(", switch took %.1fs", *a.DurationSeconds)
	}
	if d := upgrade.DescribePhases(a.Phases); d != "" {
		s += " (" + d + ")"
	}
	if a.Reason != "" {
		s += ": " + a.Reason
	}
	return s
}

func (a *app) cmdCheckConfig(ctx context.Context, args []string, adjust func(*app)) error {
	fs, root := a.flags("check-config")
	at := fs.String("at", "", "list windows from `TIME` (RFC3339) instead of now")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	a.setup(*root, adjust)
	from := a.env.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return usageError{fmt.Sprintf("check-config: --at %q is not an RFC3339 time such as 2026-03-29T00:30:00Z", *at)}
		}
		from = t
	}
	cfg, err := config.Load(a.env.Root, a.env.Config)
	if err != nil && !errors.Is(err, config.ErrInvalid) {
		return err
	}
	if err == nil {
		// The FleetLock certificate files are read when a client is built;
		// check them now, so that a bad one shows before a window opens.
		_, err = cfg.FleetLock.TLSConfig(a.env.Root, a.env.Config)
	}
	if err != nil {
		lines := strings.Split(err.Error(), "\n")
		if *asJSON {
			writeCompactJSON(a.stdout, map[string]any{"valid": false, "errors": lines})
			return errSilent
		}
		return err
	}
	spans := cfg.Windows.Next(from, 5)
	warnings := cfg.Warnings()
	if *asJSON {
		type span struct {
			Start string `json:"start"`
			End   string `json:"end"`
		}
		// warnings is left out when there are none: the contract's
		// {"valid":true,"next_windows":[…]} stays exactly that.
		out := struct {
			Valid       bool     `json:"valid"`
			NextWindows []span   `json:"next_windows"`
			Warnings    []string `json:"warnings,omitempty"`
		}{Valid: true, NextWindows: []span{}, Warnings: warnings}
		for _, s := range spans {
			out.NextWindows = append(out.NextWindows, span{s.Start.Format(time.RFC3339), s.End.Format(time.RFC3339)})
		}
		writeCompactJSON(a.stdout, out)
		return nil
	}
	fmt.Fprintf(a.stdout, "configuration is valid (%s)\n", filesOrDefaults(cfg.Files))
	for _, w := range warnings {
		fmt.Fprintf(a.stdout, "warning: %s\n", w)
	}
	if !cfg.Enabled {
		fmt.Fprintln(a.stdout, "enabled = false: kexec-upgrade never switches automatically")
	}
	if len(spans) == 0 {
		fmt.Fprintln(a.stdout, "no maintenance window is configured: kexec-upgrade never switches automatically")
		return nil
	}
	fmt.Fprintf(a.stdout, "next maintenance windows from %s:\n", plan.FormatTime(from))
	for _, s := range spans {
		open := ""
		if s.Contains(from) {
			open = "  (open now)"
		}
		fmt.Fprintf(a.stdout, "  %s%s\n", formatSpan(s), open)
	}
	return nil
}

func filesOrDefaults(files []string) string {
	if len(files) == 0 {
		return "no configuration file; defaults apply"
	}
	return strings.Join(files, ", ")
}

// formatSpan renders "Sat 2026-03-28 02:00 – 04:00 CET (01:00 – 03:00 UTC)".
func formatSpan(s window.Span) string {
	end := s.End.In(s.Start.Location())
	endFmt := "15:04 MST"
	if end.YearDay() != s.Start.YearDay() {
		endFmt = "Mon 15:04 MST"
	}
	local := s.Start.Format("Mon 2006-01-02 15:04") + " – " + end.Format(endFmt)
	if s.Start.Location() == time.UTC {
		return local
	}
	return fmt.Sprintf("%s (%s – %s UTC)", local, s.Start.UTC().Format("15:04"), s.End.UTC().Format("15:04"))
}

// writeCompactJSON prints one line, exactly as design.md's contract shows
// check-config's output: scripts may match it as text.
func writeCompactJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v) // writing to stdout: nothing useful to do on failure
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	enc.Encode(v) // writing to stdout: nothing useful to do on failure
}
