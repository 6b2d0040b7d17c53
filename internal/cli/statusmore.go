package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

// The status keys of the switch's safety net: an admin's pause, the tries
// left on a build that keeps failing, the hooks and the notice.
type (
	jsonPause struct {
		Since  string  `json:"since"`
		Until  *string `json:"until"`
		Reason string  `json:"reason"`
	}
	jsonTries struct {
		Kernel jsonKernel `json:"kernel"`
		Kind   string     `json:"kind"`
		Reason string     `json:"reason"`
		Failed int        `json:"failed"`
		Left   int        `json:"left"`
	}
	jsonHooks struct {
		Phase   string   `json:"phase"`
		Attempt string   `json:"attempt"`
		At      string   `json:"at"`
		Ran     int      `json:"ran"`
		Failed  []string `json:"failed"`
	}
	jsonNotice struct {
		To       jsonKernel `json:"to"`
		SentAt   string     `json:"sent_at"`
		SwitchAt string     `json:"switch_at"`
	}
	jsonBoot struct {
		Firmware   string `json:"firmware"`
		SecureBoot string `json:"secure_boot"`
		Lockdown   string `json:"lockdown"`
		// Bootloader is "grub" or "" (unknown: no fallback through firmware
		// can be prepared).
		Bootloader  string `json:"bootloader"`
		GrubDefault string `json:"grub_default,omitempty"`
		// GrubNextEntry is GRUB's one-shot entry for the next boot, if set.
		GrubNextEntry string `json:"grub_next_entry,omitempty"`
		GrubEnvError  string `json:"grub_env_error,omitempty"`
	}
	jsonNextRun struct {
		At  string `json:"at"`
		Why string `json:"why"`
	}
	jsonInProgress struct {
		Attempt string     `json:"attempt"`
		Phase   string     `json:"phase"`
		To      jsonKernel `json:"to"`
	}
)

// safetyJSON fills the keys above from the state.
func safetyJSON(r upgrade.Report, s *jsonStatus) {
	st := r.State
	if p := st.Pause; p != nil && (p.Until.IsZero() || r.Now.Before(p.Until)) {
		j := jsonPause{Since: p.Since.Format(time.RFC3339), Reason: p.Reason}
		if !p.Until.IsZero() {
			u := p.Until.Format(time.RFC3339)
			j.Until = &u
		}
		s.Paused = &j
	}
	if t := r.Decision.Target; t != nil {
		k := state.Kernel{Release: t.Release, Build: t.Build}
		if left, last, ok := st.TriesLeft(k); ok {
			s.Tries = &jsonTries{Kernel: jsonKernel{Release: k.Release, Build: k.Build}, Kind: last.Kind, Reason: last.Reason, Failed: last.Count, Left: left}
		}
	}
	s.Hooks = []jsonHooks{}
	for _, h := range st.Hooks {
		s.Hooks = append(s.Hooks, jsonHooks{Phase: h.Phase, Attempt: h.Attempt, At: h.At.Format(time.RFC3339), Ran: h.Ran, Failed: nonNil(h.Failed)})
	}
	if n := st.Notice; n != nil && r.Now.Before(n.SwitchAt.Add(time.Hour)) {
		s.Notice = &jsonNotice{To: jsonKernel{Release: n.To.Release, Build: n.To.Build}, SentAt: n.SentAt.Format(time.RFC3339), SwitchAt: n.SwitchAt.Format(time.RFC3339)}
	}
	s.Boot = bootJSON(r)
	if a := st.Armed; a != nil && a.At.After(r.Now) {
		s.NextRun = &jsonNextRun{At: a.At.Format(time.RFC3339), Why: a.Why}
	}
	if sg := st.Staged; sg != nil {
		s.InProgress = &jsonInProgress{Attempt: sg.ID, Phase: sg.CurrentPhase(), To: jsonKernel{Release: sg.To.Release, Build: sg.To.Build}}
	}
}

// printSafety prints the same for people.
func printSafety(line func(label, format string, args ...any), s jsonStatus, r upgrade.Report) {
	line("Boot:", "%s", describeBoot(s.Boot))
	if p := r.State.Pause; s.Paused != nil {
		until := "until `kexec-upgrade resume`"
		if !p.Until.IsZero() {
			until = "until " + plan.FormatTime(p.Until)
		}
		why := ""
		if p.Reason != "" {
			why = ": " + p.Reason
		}
		line("Paused:", "%s (since %s)%s; run --now still switches", until, plan.FormatTime(p.Since), why)
	}
	if t := s.Tries; t != nil {
		if t.Left == 0 {
			line("Tries:", "%s failed %d times (%s): not tried again automatically; a newer build or run --now tries again", t.Kernel.Release, t.Failed, t.Kind)
		} else {
			line("Tries:", "%s failed %d time(s) (%s: %s); %d more tries before it is given up", t.Kernel.Release, t.Failed, t.Kind, t.Reason, t.Left)
		}
	}
	for _, h := range s.Hooks {
		switch {
		case len(h.Failed) > 0:
			line("Hooks:", "%s hooks of attempt %s: %d ran, %d failed", h.Phase, h.Attempt, h.Ran, len(h.Failed))
			for _, f := range h.Failed {
				line("", "%s", f)
			}
		default:
			line("Hooks:", "%s hooks of attempt %s: %d ran, all succeeded", h.Phase, h.Attempt, h.Ran)
		}
	}
	if n := r.State.Notice; s.Notice != nil {
		line("Notice:", "logged-in users were told at %s that the switch to %s starts at %s", plan.FormatTime(n.SentAt), n.To.Release, plan.FormatTime(n.SwitchAt))
	}
	if a := r.State.Armed; s.NextRun != nil {
		line("Next run:", "armed for %s: %s (the timer also looks every 5 minutes)", plan.FormatTime(a.At), a.Why)
	}
	if p := s.InProgress; p != nil && p.Phase != state.PhaseQueued {
		line("In progress:", "%s", fmt.Sprintf("switch to %s (attempt %s) got to phase %q; if no run is under way, the next run undoes it", p.To.Release, p.Attempt, p.Phase))
	}
}

// bootJSON is how the host boots: what a firmware reboot would go through.
func bootJSON(r upgrade.Report) jsonBoot {
	p := r.Facts.Platform
	b := jsonBoot{Firmware: p.Firmware, SecureBoot: p.SecureBoot, Lockdown: r.Facts.Kexec.Lockdown}
	if g := p.Grub; g != nil {
		b.Bootloader, b.GrubDefault, b.GrubEnvError = "grub", g.Default, g.EnvErr
		b.GrubNextEntry = g.Env["next_entry"]
		if b.GrubDefault == "saved" && g.Env["saved_entry"] != "" {
			b.GrubDefault = "saved (" + g.Env["saved_entry"] + ")"
		}
	}
	return b
}

// describeBoot is the status line about the boot path.
func describeBoot(b jsonBoot) string {
	parts := []string{strings.ToUpper(b.Firmware)}
	if b.SecureBoot != "" {
		parts = append(parts, "Secure Boot "+b.SecureBoot)
	}
	if b.Lockdown != "" {
		parts = append(parts, "lockdown "+b.Lockdown)
	}
	switch {
	case b.Bootloader == "grub" && b.GrubNextEntry != "":
		parts = append(parts, fmt.Sprintf("GRUB (default %s, next boot once: %q)", b.GrubDefault, b.GrubNextEntry))
	case b.Bootloader == "grub":
		parts = append(parts, "GRUB (default "+b.GrubDefault+")")
	default:
		parts = append(parts, "boot loader unknown (no /boot/grub/grub.cfg)")
	}
	return strings.Join(parts, ", ")
}
