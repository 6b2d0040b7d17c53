package config

import (
	"fmt"
	"strings"
	"time"
)

// Defaults of the trial boot's keys.
const (
	// DefaultWatchdogTimeout is how long the hardware watchdog may go
	// unfed across the kexec (KExecWatchdogSec) before it resets the machine.
	DefaultWatchdogTimeout = 2 * time.Minute
	// DefaultHealthDeadline is how long after the new kernel's boot the
	// health gate may take before the trial counts as failed.
	DefaultHealthDeadline = 10 * time.Minute
)

// Bounds of the trial boot's durations.
const (
	minWatchdogTimeout = 30 * time.Second
	maxWatchdogTimeout = 30 * time.Minute
	minHealthDeadline  = time.Minute
	maxHealthDeadline  = 24 * time.Hour
	// DefaultHealthCommandTimeout bounds one run of [health] command.
	DefaultHealthCommandTimeout = 2 * time.Minute
)

// Watchdog configures the hang protection of a switch (a hardware watchdog
// kept armed across the kexec).
type Watchdog struct {
	// Require refuses a switch when the machine has no watchdog device.
	Require bool
	// Timeout is systemd's KExecWatchdogSec for the switch.
	Timeout time.Duration
}

// Health is the gate a new kernel must pass after its boot before the
// switch counts as verified.
type Health struct {
	// Units must be active.
	Units []string
	// Command (argv) must exit 0; empty: none.
	Command []string
	// Deadline is how long after the boot the gate may take.
	Deadline time.Duration
	// DegradedUnhealthy counts systemd's "degraded" as unhealthy.
	DegradedUnhealthy bool
}

// Configured reports whether the admin asked for anything beyond the
// system coming up (units or a command).
func (h Health) Configured() bool { return len(h.Units) > 0 || len(h.Command) > 0 }

func (v *validator) watchdog(w *Watchdog, val any) {
	v.tableKeys("watchdog", val, func(k, key string, val any) {
		switch k {
		case "require":
			if b, ok := v.boolean(key, val); ok {
				w.Require = b
			}
		case "timeout":
			if d, ok := v.durationWithin(key, val, minWatchdogTimeout, maxWatchdogTimeout); ok {
				w.Timeout = d
			}
		default:
			v.unknown(key)
		}
	})
}

func (v *validator) health(h *Health, val any) {
	v.tableKeys("health", val, func(k, key string, val any) {
		switch k {
		case "units":
			units, ok := v.strings(key, val)
			if !ok {
				return
			}
			for _, u := range units {
				if !validUnitName(u) {
					v.add(key, fmt.Sprintf("%q is not a unit name (such as \"nginx.service\")", u))
					return
				}
			}
			h.Units = units
		case "command":
			argv, ok := v.strings(key, val)
			if !ok {
				return
			}
			if len(argv) > 0 && !strings.HasPrefix(argv[0], "/") {
				v.add(key, fmt.Sprintf("%q is not an absolute path (the command is run without a shell or $PATH)", argv[0]))
				return
			}
			h.Command = argv
		case "deadline":
			if d, ok := v.durationWithin(key, val, minHealthDeadline, maxHealthDeadline); ok {
				h.Deadline = d
			}
		case "degraded_unhealthy":
			if b, ok := v.boolean(key, val); ok {
				h.DegradedUnhealthy = b
			}
		default:
			v.unknown(key)
		}
	})
}

// strings reads an array of strings.
func (v *validator) strings(key string, val any) ([]string, bool) {
	arr, ok := val.([]any)
	if !ok {
		v.add(key, fmt.Sprintf("%s is not an array of strings", describe(val)))
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok || s == "" || strings.ContainsAny(s, "\x00\n") {
			v.add(key, fmt.Sprintf("%s is not a non-empty one-line string", describe(e)))
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// validUnitName accepts what systemd accepts as a unit name: a name of
// allowed characters with a known unit type suffix.
func validUnitName(s string) bool {
	if len(s) > 255 || strings.HasPrefix(s, ".") {
		return false
	}
	dot := strings.LastIndexByte(s, '.')
	if dot <= 0 {
		return false
	}
	switch s[dot+1:] {
	case "service", "socket", "target", "device", "mount", "automount", "swap", "path", "timer", "slice", "scope":
	default:
		return false
	}
	for _, c := range s[:dot] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(":-_.\\@", c)) {
			return false
		}
	}
	return true
}

// durationWithin reads a duration that must lie in [lo, hi]; a value
// outside is reported with its key and the bounds.
func (v *validator) durationWithin(key string, val any, lo, hi time.Duration) (time.Duration, bool) {
	d, ok := v.duration(key, val)
	if !ok {
		return 0, false
	}
	if d < lo || d > hi {
		v.add(key, fmt.Sprintf("%s is not between %s and %s", d, lo, hi))
		return 0, false
	}
	return d, true
}
