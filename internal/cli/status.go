package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
	"github.com/kexec-upgrade/kexec-upgrade/internal/window"
)

// The JSON shapes of status --json; the keys are a stable interface
// documented in kexec-upgrade(8).
type (
	jsonKernel struct {
		Release string `json:"release"`
		Build   string `json:"build"`
	}
	jsonRunning struct {
		Release string `json:"release"`
		Build   string `json:"build"`
		BootID  string `json:"boot_id"`
		Cmdline string `json:"cmdline"`
	}
	jsonTarget struct {
		Release string `json:"release"`
		Build   string `json:"build"`
		Package string `json:"package"`
		Version string `json:"version"`
		Image   string `json:"image"`
		Initrd  string `json:"initrd"`
		New     bool   `json:"new"`
		WhyNew  string `json:"why_new"`
		// Packages are the image package and the packages of the release
		// it requires (Debian's 7.x packaging splits a kernel into four).
		Packages []string `json:"packages"`
		// Integrity names the checks the image passed.
		Integrity string `json:"integrity"`
		// Authenticode is the outcome of the image's Authenticode digest
		// check: "match", "mismatch", "unsigned", "unreadable", or "" when
		// the image was not checked.
		Authenticode string `json:"authenticode"`
	}
	jsonDecision struct {
		Action  string      `json:"action"`
		Reason  string      `json:"reason"`
		Check   string      `json:"check"`
		RetryAt *string     `json:"retry_at"`
		Cmdline string      `json:"cmdline,omitempty"`
		Steps   []plan.Step `json:"steps"`
	}
	jsonSpan struct {
		Start string `json:"start"`
		End   string `json:"end"`
	}
	jsonWindow struct {
		Configured bool      `json:"configured"`
		Open       bool      `json:"open"`
		Next       *jsonSpan `json:"next"`
		// Slot is when this host may start a switch in the open or next
		// window: after its spread offset, before the margin.
		Slot *jsonSlot `json:"slot"`
	}
	jsonSlot struct {
		Start         string `json:"start"`
		End           string `json:"end"`
		Open          bool   `json:"open"`
		Spread        string `json:"spread"`
		SpreadOffset  string `json:"spread_offset"`
		OffsetSeconds int64  `json:"spread_offset_seconds"`
		Margin        string `json:"margin"`
	}
	jsonFleetAnswer struct {
		At     string `json:"at"`
		Op     string `json:"op"`
		Status int    `json:"status"`
		Kind   string `json:"kind,omitempty"`
		Value  string `json:"value,omitempty"`
		Error  string `json:"error,omitempty"`
	}
	jsonFleetLock struct {
		Configured  bool             `json:"configured"`
		URL         string           `json:"url"`
		Group       string           `json:"group"`
		ID          string           `json:"id"`
		Held        bool             `json:"held"`
		Unconfirmed bool             `json:"unconfirmed"`
		HeldSince   *string          `json:"held_since"`
		KeptHeld    string           `json:"kept_held,omitempty"`
		LastAnswer  *jsonFleetAnswer `json:"last_answer"`
	}
	jsonConfig struct {
		Valid  bool     `json:"valid"`
		Files  []string `json:"files"`
		Errors []string `json:"errors"`
	}
	jsonAttempt struct {
		ID              string     `json:"id"`
		Outcome         string     `json:"outcome"`
		Kind            string     `json:"kind,omitempty"`
		From            jsonKernel `json:"from"`
		To              jsonKernel `json:"to"`
		At              string     `json:"at"`
		Reason          string     `json:"reason"`
		Forced          bool       `json:"forced"`
		DurationSeconds *float64   `json:"duration_seconds"`
		// Phases say where a verified switch's time went (null: unknown).
		Phases *state.Phases `json:"phases"`
		// Trial is the switch's trial boot and Timeline its moments.
		Trial    *state.Trial `json:"trial,omitempty"`
		Timeline []string     `json:"timeline,omitempty"`
	}
	jsonStatus struct {
		Running     jsonRunning   `json:"running"`
		Target      *jsonTarget   `json:"target"`
		Decision    jsonDecision  `json:"decision"`
		Window      jsonWindow    `json:"window"`
		Config      jsonConfig    `json:"config"`
		LastOutcome *jsonAttempt  `json:"last_outcome"`
		FleetLock   jsonFleetLock `json:"fleet_lock"`
		Staged      bool          `json:"staged"`
		State       *string       `json:"state_error"`
		Warnings    []string      `json:"warnings"`
		// Paused is an admin's pause in force, null when none.
		Paused     *jsonPause      `json:"paused"`
		Tries      *jsonTries      `json:"tries"`
		Hooks      []jsonHooks     `json:"hooks"`
		Notice     *jsonNotice     `json:"notice"`
		InProgress *jsonInProgress `json:"in_progress"`
		// NextRun is the run armed for when the decision may change.
		NextRun *jsonNextRun `json:"next_run"`
		// Boot is how the host boots: firmware, Secure Boot, lockdown, GRUB.
		Boot jsonBoot `json:"boot"`
		// Trial is the trial boot: in progress, fallback, watchdog, quarantine.
		Trial jsonTrial `json:"trial"`
	}
)

func (a *app) cmdStatus(ctx context.Context, args []string, adjust func(*app)) error {
	fs, root := a.flags("status")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	a.setup(*root, adjust)
	r, err := upgrade.Assess(ctx, a.env, false)
	if err != nil {
		return err
	}
	if r.ConfigErr == nil {
		// The run reads the FleetLock certificate files when it asks for a
		// slot; say now if that will fail.
		if _, err := r.Config.FleetLock.TLSConfig(a.env.Root, a.env.Config); err != nil {
			r.Warnings = append(r.Warnings, "the fleet lock's TLS settings cannot be used, so switches wait: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		}
	}
	s := buildStatus(r)
	s.Trial = trialStatus(a.env.Root, r)
	if *asJSON {
		writeJSON(a.stdout, s)
	} else {
		printStatus(a.stdout, r, s)
	}
	if r.ConfigErr != nil {
		return errSilent // the errors are part of the output
	}
	return nil
}

func buildStatus(r upgrade.Report) jsonStatus {
	run := r.Facts.Running
	d := upgrade.ShownDecision(r)
	s := jsonStatus{
		Running:  jsonRunning{Release: run.Release, Build: run.Build, BootID: run.BootID, Cmdline: run.Cmdline},
		Decision: jsonDecision{Action: string(d.Action), Reason: d.Reason, Check: d.Check, Cmdline: d.Cmdline, Steps: d.Steps},
		Config:   jsonConfig{Valid: r.ConfigErr == nil, Files: nonNil(r.Config.Files), Errors: []string{}},
		Staged:   r.Facts.Kexec.Loaded,
		Warnings: append([]string{}, r.Warnings...),
	}
	if r.ConfigErr == nil {
		s.Warnings = append(s.Warnings, r.Config.Warnings()...)
	}
	if s.Decision.Steps == nil {
		s.Decision.Steps = []plan.Step{}
	}
	if !d.RetryAt.IsZero() {
		at := d.RetryAt.Format(time.RFC3339)
		s.Decision.RetryAt = &at
	}
	if t := d.Target; t != nil {
		s.Target = &jsonTarget{Release: t.Release, Build: t.Build, Package: t.Package.Name, Version: t.Package.Version,
			Image: t.Files.Image, Initrd: t.Files.Initrd, New: d.New, WhyNew: d.WhyNew, Packages: []string{t.Package.Name}, Integrity: t.Integrity,
			Authenticode: string(t.Authenticode)}
		for _, p := range t.Requires {
			s.Target.Packages = append(s.Target.Packages, p.Name)
		}
	}
	if r.ConfigErr != nil {
		s.Config.Errors = strings.Split(r.ConfigErr.Error(), "\n")
	}
	s.Window.Configured = len(r.Config.Windows) > 0
	if len(r.NextWindows) > 0 {
		n := r.NextWindows[0]
		s.Window.Open = n.Contains(r.Now)
		s.Window.Next = &jsonSpan{Start: n.Start.Format(time.RFC3339), End: n.End.Format(time.RFC3339)}
	}
	s.Window.Slot, _ = slotJSON(r)
	if last, ok := r.State.LastAttempt(); ok {
		j := attemptJSON(last)
		s.LastOutcome = &j
	}
	s.FleetLock = fleetJSON(r)
	safetyJSON(r, &s)
	if r.StateErr != nil {
		msg := r.StateErr.Error()
		s.State = &msg
	}
	return s
}

// slotJSON is this host's slot in the open or next window, nil without one,
// and the slot itself, in the window's zone.
func slotJSON(r upgrade.Report) (*jsonSlot, window.Span) {
	if r.ConfigErr != nil || len(r.Config.Windows) == 0 {
		return nil, window.Span{}
	}
	frac := window.HostFraction(r.Facts.MachineID)
	sl := r.Config.Windows.Slots(r.Now, frac)
	slot := sl.Next
	if sl.Open {
		slot = sl.Current
	}
	if slot.Start.IsZero() {
		return nil, window.Span{}
	}
	w := sl.Of
	off := window.Offset(frac, w.Spread)
	return &jsonSlot{Start: slot.Start.Format(time.RFC3339), End: slot.End.Format(time.RFC3339), Open: sl.Open,
		Spread: config.FormatDuration(w.Spread), SpreadOffset: config.FormatDuration(off), OffsetSeconds: int64(off / time.Second),
		Margin: config.FormatDuration(w.Margin)}, slot
}

// fleetJSON is the host's standing with its FleetLock server.
func fleetJSON(r upgrade.Report) jsonFleetLock {
	var j jsonFleetLock
	if r.ConfigErr == nil && r.Config.FleetLock.URL != "" {
		j.Configured = true
		id, _ := upgrade.ResolveFleetIdentity(r.Config.FleetLock, r.Facts)
		j.URL, j.Group, j.ID = id.URL, id.Group, id.ID
	}
	fl := r.State.FleetLock
	if fl == nil {
		return j
	}
	if fl.Held {
		j.Held, j.Unconfirmed = true, fl.Unconfirmed
		j.URL, j.Group, j.ID = fl.URL, fl.Group, fl.ID
		if !fl.Since.IsZero() {
			since := fl.Since.UTC().Format(time.RFC3339)
			j.HeldSince = &since
		}
		if upgrade.HoldsAfterFailure(r.State) {
			last, _ := r.State.LastAttempt()
			j.KeptHeld = fmt.Sprintf("the switch to %s failed (%s): the slot stays held so the fleet's rollout stops; after a fix, a verified switch (run --now) gives it back, or release it on the server", last.To.Release, last.Kind)
		}
	}
	if a := fl.LastAnswer; a != nil {
		j.LastAnswer = &jsonFleetAnswer{At: a.At.UTC().Format(time.RFC3339), Op: a.Op, Status: a.Status, Kind: a.Kind, Value: a.Value, Error: a.Error}
	}
	return j
}

// describeFleet is the status line of the fleet lock.
func describeFleet(j jsonFleetLock) string {
	var b strings.Builder
	switch {
	case j.Held && j.Unconfirmed:
		fmt.Fprintf(&b, "maybe held (a pre-reboot got no answer); the next run sends steady-state to %s", j.URL)
	case j.Held:
		fmt.Fprintf(&b, "held at %s as %s (group %s)", j.URL, j.ID, j.Group)
		if j.HeldSince != nil {
			fmt.Fprintf(&b, " since %s", *j.HeldSince)
		}
	case j.Configured:
		fmt.Fprintf(&b, "not held; %s as %s (group %s)", j.URL, j.ID, j.Group)
	default:
		b.WriteString("not configured")
	}
	if a := j.LastAnswer; a != nil {
		b.WriteString("; last answer: ")
		if a.Error != "" {
			b.WriteString(a.Error)
		} else {
			fmt.Fprintf(&b, "%s %d %s", a.Op, a.Status, http.StatusText(a.Status))
		}
		fmt.Fprintf(&b, " (%s)", a.At)
	}
	return b.String()
}

func attemptJSON(a state.Attempt) jsonAttempt {
	return jsonAttempt{ID: a.ID, Outcome: a.Outcome, Kind: a.Kind, From: jsonKernel(a.From), To: jsonKernel(a.To),
		At: a.At.UTC().Format(time.RFC3339), Reason: a.Reason, Forced: a.Forced, DurationSeconds: a.DurationSeconds, Phases: a.Phases,
		Trial: a.Trial, Timeline: upgrade.TrialTimeline(a.Trial)}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func printStatus(w io.Writer, r upgrade.Report, s jsonStatus) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-13s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("Running:", "%s  %s", s.Running.Release, s.Running.Build)
	if t := s.Target; t != nil {
		line("Target:", "%s  %s", t.Release, t.Build)
		line("", "package %s %s, %s", strings.Join(t.Packages, " + "), t.Version, t.Image)
		if t.Integrity != "" {
			line("", "image checks passed: %s", t.Integrity)
		}
		if t.WhyNew != "" {
			line("", "%s", t.WhyNew)
		}
	} else {
		line("Target:", "none (no linux-image package with a /boot/vmlinuz is installed)")
	}
	d := upgrade.ShownDecision(r)
	switch d.Action {
	case plan.Switch:
		line("Decision:", "switch now: %s", d.Reason)
	case plan.UpToDate:
		line("Decision:", "up-to-date: %s", d.Reason)
	default:
		line("Decision:", "%s (%s): %s", d.Action, d.Check, d.Reason)
	}
	if !d.RetryAt.IsZero() {
		line("", "retry at %s", plan.FormatTime(d.RetryAt))
	}
	switch {
	case r.ConfigErr != nil:
		line("Window:", "unknown (the configuration is invalid)")
	case !r.Config.Enabled:
		line("Window:", "automatic switching is disabled (enabled = false)")
	case len(r.NextWindows) == 0:
		line("Window:", "none configured: kexec-upgrade never switches automatically (run --now switches)")
	case s.Window.Open:
		line("Window:", "open now: %s", formatSpan(r.NextWindows[0]))
	default:
		line("Window:", "next %s", formatSpan(r.NextWindows[0]))
	}
	if sl := s.Window.Slot; sl != nil && (sl.OffsetSeconds > 0 || sl.Margin != "0s") {
		_, span := slotJSON(r)
		how := "margin " + sl.Margin
		if sl.Spread != "0s" {
			how = fmt.Sprintf("spread offset %s of %s, %s", sl.SpreadOffset, sl.Spread, how)
		}
		line("", "this host starts switches from %s to %s (%s)", plan.FormatTime(span.Start), plan.FormatTime(span.End), how)
	}
	if last, ok := r.State.LastAttempt(); ok {
		line("Last switch:", "%s", describeAttempt(last))
	} else {
		line("Last switch:", "none recorded")
	}
	if s.FleetLock.Configured || s.FleetLock.Held || s.FleetLock.LastAnswer != nil {
		line("Fleet lock:", "%s", describeFleet(s.FleetLock))
		if s.FleetLock.KeptHeld != "" {
			line("", "%s", s.FleetLock.KeptHeld)
		}
	}
	printSafety(line, s, r)
	printTrial(line, s.Trial, r.State)
	switch {
	case r.State.InTrial() && r.State.Staged.Trial.Phase == state.TrialRollingBack:
		line("Staged:", "%s (the last verified kernel), to switch back to", r.State.Staged.From)
	case r.State.InTrial():
		line("Staged:", "nothing: %s runs on trial (see Trial)", r.State.Staged.To.Release)
	case r.State.Staged != nil && r.State.Staged.CurrentPhase() == state.PhaseQueued:
		line("Staged:", "%s, awaiting verification after the switch", r.State.Staged.To)
	case r.State.Staged != nil:
		line("Staged:", "%s by a switch that did not finish (phase %s)", r.State.Staged.To, r.State.Staged.CurrentPhase())
	case s.Staged:
		line("Staged:", "a kernel staged by something other than kexec-upgrade")
	default:
		line("Staged:", "nothing")
	}
	if r.ConfigErr != nil {
		line("Config:", "INVALID")
		for _, e := range s.Config.Errors {
			line("", "%s", e)
		}
	} else {
		line("Config:", "valid (%s)", filesOrDefaults(r.Config.Files))
	}
	if r.StateErr != nil {
		line("State:", "%v", r.StateErr)
	}
	for _, warn := range s.Warnings {
		line("Warning:", "%s", warn)
	}
	if len(d.Steps) > 0 {
		fmt.Fprintln(w, "\nChecks:")
		printTrace(w, d)
	}
}

func (a *app) cmdHistory(ctx context.Context, args []string, adjust func(*app)) error {
	fs, root := a.flags("history")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	a.setup(*root, adjust)
	st, stErr := state.Load(a.env.Root)
	if stErr != nil {
		fmt.Fprintf(a.stderr, "kexec-upgrade: %v (history from the journal only)\n", stErr)
	}
	events, err := a.readEvents(ctx)
	if err != nil {
		fmt.Fprintf(a.stderr, "kexec-upgrade: cannot read the journal: %v (history from the state file only)\n", err)
	}
	if err != nil && stErr != nil {
		return errors.New("no history available: neither the journal nor the state file could be read")
	}
	attempts := upgrade.History(events, st)
	if *asJSON {
		out := struct {
			Attempts  []jsonAttempt  `json:"attempts"`
			FleetLock *jsonFleetLock `json:"fleet_lock,omitempty"`
		}{Attempts: []jsonAttempt{}}
		if st.FleetLock != nil {
			j := fleetJSON(upgrade.Report{State: st})
			out.FleetLock = &j
		}
		for _, at := range attempts {
			out.Attempts = append(out.Attempts, attemptJSON(at))
		}
		writeJSON(a.stdout, out)
		return nil
	}
	defer func() {
		if st.FleetLock != nil {
			fmt.Fprintf(a.stdout, "\nFleet lock: %s\n", describeFleet(fleetJSON(upgrade.Report{State: st})))
		}
	}()
	if len(attempts) == 0 {
		fmt.Fprintln(a.stdout, "no switch attempts recorded")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN (UTC)\tFROM\tTO\tOUTCOME\tDURATION\tDETAIL")
	for _, at := range attempts {
		from, to := at.From.Release, at.To.Release
		if from == to {
			from, to = from+" "+shortBuild(at.From.Build), to+" "+shortBuild(at.To.Build)
		}
		dur := "-"
		if at.DurationSeconds != nil {
			dur = fmt.Sprintf("%.1fs", *at.DurationSeconds)
		}
		outcome := at.Outcome
		if at.Kind != "" {
			outcome += ":" + at.Kind
		}
		detail := at.Reason
		if at.Forced {
			detail = strings.TrimSpace("forced (run --now) " + detail)
		}
		if td := trialDetail(at.Trial); td != "" {
			detail = strings.TrimSpace(detail + " [" + td + "]")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", at.At.UTC().Format("2006-01-02 15:04:05"), from, to, outcome, dur, detail)
	}
	tw.Flush()
	return nil
}

// shortBuild keeps what tells two builds apart: "#1 SMP PREEMPT_DYNAMIC
// Debian 6.1.76-1 (2024-02-01)" → "[Debian 6.1.76-1 (2024-02-01)]".
func shortBuild(b string) string {
	if i := strings.Index(b, "Debian "); i >= 0 {
		return "[" + b[i:] + "]"
	}
	return "[" + b + "]"
}
