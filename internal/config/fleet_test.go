package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fleetSummary renders the keys of fleets in one comparable line: each
// window's spread and margin, the fleet lock and the metrics.
func fleetSummary(c Config) string {
	var b strings.Builder
	b.WriteString("windows=[")
	for i, w := range c.Windows {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s-%s spread=%s margin=%s", w.Start, w.End, FormatDuration(w.Spread), FormatDuration(w.Margin))
	}
	fmt.Fprintf(&b, "] fleet_lock=%q/%q/%q metrics=%t:%s", c.FleetLock.URL, c.FleetLock.Group, c.FleetLock.ID, c.Metrics.Enabled, c.Metrics.Directory)
	return b.String()
}

func TestParse_fleetKeys(t *testing.T) {
	const win = "[[window]]\nstart = \"02:00\"\nend = \"04:00\"\n"
	tests := []struct {
		name string
		toml string
		want string
	}{
		{"defaults", win,
			`windows=[02:00-04:00 spread=0s margin=5m] fleet_lock=""/"default"/"" metrics=true:/var/lib/prometheus/node-exporter`},
		{"global spread and margin", "spread = \"30m\"\nmargin = \"10m\"\n" + win,
			`windows=[02:00-04:00 spread=30m margin=10m] fleet_lock=""/"default"/"" metrics=true:/var/lib/prometheus/node-exporter`},
		{"global after the window still applies", win + "[[window]]\nstart = \"05:00\"\nend = \"06:00\"\nspread = \"20m\"\n",
			`windows=[02:00-04:00 spread=0s margin=5m; 05:00-06:00 spread=20m margin=5m] fleet_lock=""/"default"/"" metrics=true:/var/lib/prometheus/node-exporter`},
		{"window overrides global", "spread = \"1h\"\nmargin = \"0s\"\n" + win + "spread = \"15m\"\n",
			`windows=[02:00-04:00 spread=15m margin=0s] fleet_lock=""/"default"/"" metrics=true:/var/lib/prometheus/node-exporter`},
		{"fleet lock", "[fleet_lock]\nurl = \"https://lock.example.org/fleet/\"\ngroup = \"web-eu\"\nid = \"web-17\"\n",
			`windows=[] fleet_lock="https://lock.example.org/fleet/"/"web-eu"/"web-17" metrics=true:/var/lib/prometheus/node-exporter`},
		{"metrics", "[metrics]\nenabled = false\ndirectory = \"/run/metrics\"\n",
			`windows=[] fleet_lock=""/"default"/"" metrics=false:/run/metrics`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(mainName, []byte(tt.toml), time.UTC)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := fleetSummary(c); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParse_fleetErrors(t *testing.T) {
	tests := []parseErrorCase{
		{"spread plus margin fill the window", "spread = \"1h55m\"\n\n[[window]]\nstart = \"02:00\"\nend = \"04:00\"\n",
			[]string{`/etc/kexec-upgrade/config.toml:3: window: spread 1h55m plus margin 5m leave no time to switch in this 2h window; shorten spread or margin`}},
		{"window's own spread too long", "[[window]]\nstart = \"23:30\"\nend = \"00:00\"\nspread = \"30m\"\nmargin = \"0s\"\n",
			[]string{`/etc/kexec-upgrade/config.toml:1: window: spread 30m plus margin 0s leave no time to switch in this 30m window; shorten spread or margin`}},
		{"bad spread", "[[window]]\nstart = \"02:00\"\nend = \"04:00\"\nspread = \"soon\"\n",
			[]string{`/etc/kexec-upgrade/config.toml:4: window.spread: "soon" is not a duration (such as "5m" or "1h30m")`}},
		{"negative margin", "margin = \"-5m\"\n",
			[]string{`/etc/kexec-upgrade/config.toml:1: margin: "-5m" is not a duration (such as "5m" or "1h30m")`}},
		{"fleet lock url scheme", "[fleet_lock]\nurl = \"ftp://lock\"\n",
			[]string{`/etc/kexec-upgrade/config.toml:2: fleet_lock.url: fleetlock URL "ftp://lock": scheme must be http or https`}},
		{"fleet lock url query", "[fleet_lock]\nurl = \"http://lock/?x=1\"\n",
			[]string{`/etc/kexec-upgrade/config.toml:2: fleet_lock.url: fleetlock URL "http://lock/?x=1": query and fragment are not supported`}},
		{"fleet lock url empty", "[fleet_lock]\nurl = \"\"\n",
			[]string{`/etc/kexec-upgrade/config.toml:2: fleet_lock.url: is empty; remove [fleet_lock] to switch without a lock`}},
		{"fleet lock group", "[fleet_lock]\nurl = \"http://lock\"\ngroup = \"a b\"\n",
			[]string{`/etc/kexec-upgrade/config.toml:3: fleet_lock.group: fleetlock group "a b": want 1 to 253 characters out of a-z A-Z 0-9 . -`}},
		{"fleet lock unknown key", "[fleet_lock]\nurl = \"http://lock\"\nslots = 2\n",
			[]string{`/etc/kexec-upgrade/config.toml:3: fleet_lock.slots: unknown key (see kexec-upgrade.toml(5))`}},
		{"fleet lock not a table", "fleet_lock = \"http://lock\"\n",
			[]string{`/etc/kexec-upgrade/config.toml:1: fleet_lock: must be a table ([fleet_lock])`}},
		{"metrics relative directory", "[metrics]\ndirectory = \"prom\"\n",
			[]string{`/etc/kexec-upgrade/config.toml:2: metrics.directory: "prom" is not a clean absolute path`}},
		{"metrics unknown key", "[metrics]\nport = 9100\n",
			[]string{`/etc/kexec-upgrade/config.toml:2: metrics.port: unknown key (see kexec-upgrade.toml(5))`}},
	}
	checkParseErrors(t, time.UTC, tests)
}

func TestLoad_globalSpreadFromLaterDropIn(t *testing.T) {
	root := makeRoot(t,
		file{Path: MainFile, Body: "[[window]]\nstart = \"02:00\"\nend = \"02:30\"\n"},
		file{Path: DropInDir + "/50-fleet.toml", Body: "spread = \"30m\"\n"},
	)
	_, err := Load(root, ownerOpts())
	want := `/etc/kexec-upgrade/config.toml:1: window: spread 30m plus margin 5m leave no time to switch in this 30m window; shorten spread or margin`
	if got := strings.Join(errorLines(t, err), "\n"); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 30 * time.Minute: "30m", 90 * time.Minute: "1h30m", 2 * time.Hour: "2h",
		45 * time.Second: "45s", 5*time.Minute + 3*time.Second: "5m3s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
