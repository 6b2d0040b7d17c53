package config

import (
	"strings"
	"testing"
	"time"
)

func TestHooksTimeout(t *testing.T) {
	tests := []struct {
		name, toml string
		want       time.Duration
		err        string
	}{
		{name: "default", toml: "", want: DefaultHookTimeout},
		{name: "set", toml: "[hooks]\ntimeout = \"90s\"\n", want: 90 * time.Second},
		{name: "zero", toml: "[hooks]\ntimeout = \"0s\"\n", err: "config.toml:2: hooks.timeout: 0s is not between"},
		{name: "too_long", toml: "[hooks]\ntimeout = \"1h\"\n", err: "hooks.timeout: 1h0m0s is not between"},
		{name: "unknown_key", toml: "[hooks]\ntimout = \"1m\"\n", err: "hooks.timout"},
		{name: "notice_too_long", toml: "notice = \"2h\"\n", err: "config.toml:1: notice: 2h0m0s is not between"},
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
			if err != nil || cfg.Hooks.Timeout != tc.want {
				t.Errorf("Load(%q) = hooks.timeout %v, %v; want %v", tc.toml, cfg.Hooks.Timeout, err, tc.want)
			}
		})
	}
}

// loadString loads one config.toml with body.
func loadString(t *testing.T, body string) (Config, error) {
	t.Helper()
	root := makeRoot(t, file{Path: "etc/kexec-upgrade/config.toml", Body: body})
	return Load(root, ownerOpts())
}

func TestNotice(t *testing.T) {
	cfg, err := loadString(t, "notice = \"5m\"\n")
	if err != nil || cfg.Notice != 5*time.Minute {
		t.Errorf("notice = 5m: got %v, %v", cfg.Notice, err)
	}
	cfg, err = loadString(t, "")
	if err != nil || cfg.Notice != 0 {
		t.Errorf("no notice key: got %v, %v; want 0", cfg.Notice, err)
	}
}
