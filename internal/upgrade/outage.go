package upgrade

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// UnitTimer finds the slowest units of a switch: to stop in the previous
// boot (from its journal, when it is kept) and to start in this one.
type UnitTimer interface {
	SlowestStops(ctx context.Context) ([]systemd.UnitTime, error)
	SlowestStarts(ctx context.Context) ([]systemd.UnitTime, error)
}

// SystemdUnitTimes is the UnitTimer of a host.
type SystemdUnitTimes struct{}

// SlowestStops reads the previous boot's journal.
func (SystemdUnitTimes) SlowestStops(ctx context.Context) ([]systemd.UnitTime, error) {
	return systemd.SlowestStops(ctx)
}

// SlowestStarts asks systemd-analyze blame.
func (SystemdUnitTimes) SlowestStarts(ctx context.Context) ([]systemd.UnitTime, error) {
	return systemd.SlowestStarts(ctx)
}

// OutagePhases splits a switch queued at queued into its phases from this
// boot's systemd timestamps; it is pure. The new kernel started when the
// monotonic clock did: UserspaceMonotonic before systemd did.
func OutagePhases(queued time.Time, bt systemd.BootTimes) state.Phases {
	var p state.Phases
	secs := func(d time.Duration) *float64 { s := d.Seconds(); return &s }
	if bt.Userspace.IsZero() {
		return p
	}
	kernelStart := bt.Userspace.Add(-bt.UserspaceMonotonic)
	if !queued.IsZero() && kernelStart.After(queued) {
		p.StoppingSeconds = secs(kernelStart.Sub(queued))
	}
	if bt.UserspaceMonotonic > 0 {
		p.KernelSeconds = secs(bt.UserspaceMonotonic)
	}
	if !bt.Finish.IsZero() && bt.Finish.After(bt.Userspace) {
		p.UserspaceSeconds = secs(bt.Finish.Sub(bt.Userspace))
	}
	return p
}

// WithGateReady is a trial boot's phases with its userspace phase ended by
// the health gate passing (healthy) instead of systemd's boot-finished
// timestamp: a trial's new kernel is ready when the gate says so, and the
// phases were taken at the first look, often before the boot finished. It
// is pure; the phases are unchanged when either time is unknown or the
// gate passed before userspace started.
func WithGateReady(p state.Phases, userspace, healthy time.Time) state.Phases {
	if userspace.IsZero() || healthy.IsZero() || healthy.Before(userspace) {
		return p
	}
	s := healthy.Sub(userspace).Seconds()
	p.UserspaceSeconds = &s
	return p
}

// addSlowestUnits fills the slowest units; a journal that is not kept is
// said, not an error.
func addSlowestUnits(ctx context.Context, env Env, p *state.Phases) {
	if env.UnitTimes == nil {
		return
	}
	if stops, err := env.UnitTimes.SlowestStops(ctx); err != nil {
		p.StopsUnknown = err.Error()
	} else {
		p.SlowestStops = unitTimes(stops)
	}
	if starts, err := env.UnitTimes.SlowestStarts(ctx); err == nil {
		p.SlowestStarts = unitTimes(starts)
	}
}

func unitTimes(in []systemd.UnitTime) []state.UnitTime {
	out := make([]state.UnitTime, len(in))
	for i, u := range in {
		out[i] = state.UnitTime{Unit: u.Unit, Seconds: u.Seconds}
	}
	return out
}

// DescribePhases renders a breakdown in one line: "stopping 3.2s, kernel
// 8.0s, userspace 12.9s; slowest to stop: mariadb.service 90.0s; to start:
// …".
func DescribePhases(p *state.Phases) string {
	if p == nil {
		return ""
	}
	var parts []string
	for _, ph := range []struct {
		name string
		v    *float64
	}{{"stopping", p.StoppingSeconds}, {"kernel", p.KernelSeconds}, {"userspace", p.UserspaceSeconds}} {
		if ph.v != nil {
			parts = append(parts, fmt.Sprintf("%s %.1fs", ph.name, *ph.v))
		}
	}
	s := strings.Join(parts, ", ")
	if len(p.SlowestStops) > 0 {
		s += "; slowest to stop: " + listUnits(p.SlowestStops)
	}
	if len(p.SlowestStarts) > 0 {
		s += "; slowest to start: " + listUnits(p.SlowestStarts)
	}
	return s
}

func listUnits(list []state.UnitTime) string {
	parts := make([]string, len(list))
	for i, u := range list {
		parts[i] = fmt.Sprintf("%s %.1fs", u.Unit, u.Seconds)
	}
	return strings.Join(parts, ", ")
}
