package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTrialKeys(t *testing.T) {
	tests := []struct {
		name, toml string
		watchdog   Watchdog
		health     Health
		err        string
	}{
		{name: "defaults", toml: "",
			watchdog: Watchdog{Timeout: DefaultWatchdogTimeout}, health: Health{Deadline: DefaultHealthDeadline}},
		{name: "all", toml: "[watchdog]\nrequire = true\ntimeout = \"5m\"\n[health]\nunits = [\"nginx.service\", \"getty@tty1.service\"]\ncommand = [\"/usr/local/bin/check\", \"--quick\"]\ndeadline = \"20m\"\ndegraded_unhealthy = true\n",
			watchdog: Watchdog{Require: true, Timeout: 5 * time.Minute},
			health: Health{Units: []string{"nginx.service", "getty@tty1.service"}, Command: []string{"/usr/local/bin/check", "--quick"},
				Deadline: 20 * time.Minute, DegradedUnhealthy: true}},
		{name: "watchdog_short", toml: "[watchdog]\ntimeout = \"5s\"\n", err: "config.toml:2: watchdog.timeout: 5s is not between 30s and 30m0s"},
		{name: "watchdog_unknown", toml: "[watchdog]\nrequired = true\n", err: "watchdog.required"},
		{name: "unit_no_type", toml: "[health]\nunits = [\"nginx\"]\n", err: `health.units: "nginx" is not a unit name`},
		{name: "units_not_array", toml: "[health]\nunits = \"nginx.service\"\n", err: "health.units: "},
		{name: "command_relative", toml: "[health]\ncommand = [\"check\"]\n", err: `health.command: "check" is not an absolute path`},
		{name: "command_empty_word", toml: "[health]\ncommand = [\"/bin/true\", \"\"]\n", err: "health.command: "},
		{name: "deadline_short", toml: "[health]\ndeadline = \"10s\"\n", err: "health.deadline: 10s is not between 1m0s and 24h0m0s"},
		{name: "degraded_not_bool", toml: "[health]\ndegraded_unhealthy = \"yes\"\n", err: "health.degraded_unhealthy: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadString(t, tc.toml)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Load(%q) error = %v; want one containing %q", tc.toml, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(cfg.Watchdog, tc.watchdog) || !reflect.DeepEqual(cfg.Health, tc.health) {
				t.Errorf("Load(%q) = %+v %+v, %v; want %+v %+v", tc.toml, cfg.Watchdog, cfg.Health, err, tc.watchdog, tc.health)
			}
		})
	}
}
