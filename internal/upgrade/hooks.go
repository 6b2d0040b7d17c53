package upgrade

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/hooks"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/textsafe"
)

// HookRunner finds and runs the admin's hooks (hooks.Host on a host).
type HookRunner interface {
	Scan(dir string) (hooks.Scan, error)
	Run(ctx context.Context, hs []hooks.Hook, v hooks.Vars, stopOnFailure bool, timeout time.Duration) []hooks.Result
}

// Hook phases, as hooks see them in KEXEC_UPGRADE_PHASE.
const (
	PhasePreSwitch  = "pre-switch"
	PhasePostSwitch = "post-switch"
)

// scanHooks lists both hook directories for the plan: the problems that
// stop a switch, and warnings for files run-parts would not run either.
func scanHooks(env Env) (problems, warnings []string) {
	if env.Hooks == nil {
		return nil, nil
	}
	for _, dir := range []string{hooks.PreSwitchDir, hooks.PostSwitchDir} {
		s, err := env.Hooks.Scan(dir)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, p := range s.Problems {
			problems = append(problems, p.Error())
		}
		if len(s.Ignored) > 0 {
			warnings = append(warnings, fmt.Sprintf("%s: %s not run: hook names may hold only letters, digits, _ and - (run-parts rules)", s.Dir, strings.Join(s.Ignored, ", ")))
		}
	}
	return problems, warnings
}

// runHooks runs one phase's hooks for an attempt, logs each to the journal
// and keeps the phase's report in the state. It returns the first failure.
func runHooks(ctx context.Context, env Env, st *state.State, phase string, a state.Attempt, timeout time.Duration) (*hooks.Result, error) {
	if env.Hooks == nil {
		return nil, nil
	}
	dir := hooks.PreSwitchDir
	if phase == PhasePostSwitch {
		dir = hooks.PostSwitchDir
	}
	s, err := env.Hooks.Scan(dir)
	if err != nil {
		return nil, err
	}
	if len(s.Problems) > 0 {
		return nil, s.Problems[0]
	}
	if len(s.Hooks) == 0 {
		return nil, nil
	}
	v := hooks.Vars{From: a.From.Release, To: a.To.Release, FromBuild: a.From.Build, ToBuild: a.To.Build, Attempt: a.ID, Phase: phase}
	results := env.Hooks.Run(ctx, s.Hooks, v, phase == PhasePreSwitch, timeout)
	report := state.HookReport{Phase: phase, Attempt: a.ID, At: env.Now(), Ran: len(results)}
	var first *hooks.Result
	for i, res := range results {
		send(env, hookEvent(phase, a, res))
		if res.Err != nil {
			report.Failed = append(report.Failed, hookFailure(res))
			if first == nil {
				first = &results[i]
			}
		}
	}
	st.SetHookReport(report)
	return first, nil
}

// hookFailure is one line naming the hook, why it failed and its last line.
func hookFailure(res hooks.Result) string {
	line := res.Err.Error()
	if last := res.LastLine(); last != "" {
		line += ": " + last
	}
	return line
}

func hookEvent(phase string, a state.Attempt, res hooks.Result) systemd.Event {
	f := map[string]string{
		"HOOK": res.Hook.Path, "HOOK_PHASE": phase, "HOOK_EXIT": strconv.Itoa(res.ExitCode),
		"HOOK_OUTPUT": hookOutput(res), "HOOK_DURATION": strconv.FormatFloat(res.Duration.Seconds(), 'f', 3, 64),
		"ATTEMPT": a.ID, "FROM": a.From.Release, "TO": a.To.Release,
	}
	msg := fmt.Sprintf("%s hook %s succeeded in %.1fs", phase, res.Hook.Path, res.Duration.Seconds())
	if res.Err != nil {
		f["REASON"] = hookFailure(res)
		msg = phase + " " + f["REASON"]
	}
	return systemd.Event{Kind: systemd.EventHook, Message: msg, Fields: f}
}

// hookOutput keeps the output's lines, each made harmless.
func hookOutput(res hooks.Result) string {
	lines := strings.Split(strings.TrimRight(res.Output, "\n"), "\n")
	for i, l := range lines {
		lines[i] = textsafe.Line(l, 4096)
	}
	out := strings.Join(lines, "\n")
	if res.Truncated {
		out += "\n[output cut at 64 KiB]"
	}
	return out
}
