package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mainName is the main file as errors name it.
const mainName = "/" + MainFile

// summary renders a Config in one comparable line; windows show their days
// (weekly, of the month, or weekdays of the month), times and zone name, so
// no test depends on *time.Location identity.
func summary(c Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "enabled=%t min_uptime=%s rebuilds=%t append=%q remove=%q windows=[", c.Enabled, c.MinUptime, c.Rebuilds, c.CmdlineAppend, c.CmdlineRemove)
	for i, w := range c.Windows {
		if i > 0 {
			b.WriteString("; ")
		}
		zone := "<nil>"
		if w.Location != nil {
			zone = w.Location.String()
		}
		days := w.Days.String()
		if w.MonthDays != 0 {
			days = "days_of_month " + w.MonthDays.String()
		}
		if w.MonthWeekdays != 0 {
			days = "weekdays_of_month " + w.MonthWeekdays.String()
		}
		fmt.Fprintf(&b, "%s %s-%s %s", days, w.Start, w.End, zone)
	}
	b.WriteString("]")
	return b.String()
}

// errorLines returns the one-line messages of a configuration error.
func errorLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %v (%T) is not config.Errors", err, err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(%v, ErrInvalid) = false; want true", err)
	}
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return lines
}

// parseErrorCase is a config.toml and the error lines Parse must report
// for it.
type parseErrorCase struct {
	name string
	toml string
	want []string
}

// checkParseErrors parses each case's toml as the main file, with local
// as the system's zone, and compares the error lines with the case's.
func checkParseErrors(t *testing.T, local *time.Location, tests []parseErrorCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(mainName, []byte(tt.toml), local)
			if got := errorLines(t, err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q) errors =\n  %s\nwant\n  %s", tt.toml, strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func berlin(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("LoadLocation(Europe/Berlin): %v", err)
	}
	return loc
}

func TestDefault(t *testing.T) {
	got := summary(Default())
	want := `enabled=true min_uptime=5m0s rebuilds=true append="" remove="" windows=[]`
	if got != want {
		t.Errorf("Default() = %s; want %s", got, want)
	}
}

func TestParse_keys(t *testing.T) {
	local := berlin(t)
	tests := []struct {
		name string
		toml string
		want string
	}{
		{"empty_file", ``,
			`enabled=true min_uptime=5m0s rebuilds=true append="" remove="" windows=[]`},
		{"comments_only", "# nothing here\n\n  # indented\n",
			`enabled=true min_uptime=5m0s rebuilds=true append="" remove="" windows=[]`},
		{"enabled_false", "enabled = false\n",
			`enabled=false min_uptime=5m0s rebuilds=true append="" remove="" windows=[]`},
		{"min_uptime_compound", `min_uptime = "1h30m"`,
			`enabled=true min_uptime=1h30m0s rebuilds=true append="" remove="" windows=[]`},
		{"min_uptime_zero", `min_uptime = "0s"`,
			`enabled=true min_uptime=0s rebuilds=true append="" remove="" windows=[]`},
		{"rebuilds_false", "rebuilds = false\n",
			`enabled=true min_uptime=5m0s rebuilds=false append="" remove="" windows=[]`},
		{"kernel_table", "[kernel]\ncmdline_append = \"  mitigations=auto nosmt \"\ncmdline_remove = 'quiet splash'\n",
			`enabled=true min_uptime=5m0s rebuilds=true append="mitigations=auto nosmt" remove="quiet splash" windows=[]`},
		{"kernel_dotted_keys", "kernel.cmdline_append = \"console=ttyS0\"\n",
			`enabled=true min_uptime=5m0s rebuilds=true append="console=ttyS0" remove="" windows=[]`},
		{"kernel_quoted_value", `kernel.cmdline_append = 'dyndbg="file foo.c +p"'`,
			`enabled=true min_uptime=5m0s rebuilds=true append="dyndbg=\"file foo.c +p\"" remove="" windows=[]`},
		{"window_full", "[[window]]\ndays = [\"Sat\", \"Sun\"]\nstart = \"02:00\"\nend = \"04:00\"\ntime_zone = \"UTC\"\n",
			`enabled=true min_uptime=5m0s rebuilds=true append="" remove="" windows=[Sat,Sun 02:00-04:00 UTC]`},
		{"window_local_zone_and_every_day", "[[window]]\nstart = \"23:00\"\nend = \"01:00\"\n",
			`enabled=true min_uptime=5m0s rebuilds=true append="" remove="" windows=[every day 23:00-01:00 Europe/Berlin]`},
		{"window_day_names_any_case", "[[window]]\ndays = [\"mon\", \"WEDNESDAY\", \"Fri\"]\nstart = \"00:00\"\nend = \"00:00\"\n",
			`enabled=true min_uptime=5m0s rebuilds=true append="" remove="" windows=[Mon,Wed,Fri 00:00-00:00 Europe/Berlin]`},
		{"two_windows_in_order", "[[window]]\nstart = \"02:00\"\nend = \"03:00\"\ntime_zone = \"America/New_York\"\n\n[[window]]\ndays = [\"Sun\"]\nstart = \"12:00\"\nend = \"13:00\"\n",
			`enabled=true min_uptime=5m0s rebuilds=true append="" remove="" windows=[every day 02:00-03:00 America/New_York; Sun 12:00-13:00 Europe/Berlin]`},
		{"inline_window_array", `window = [{start = "01:00", end = "02:00"}, {start = "03:00", end = "04:00", days = ["Tue"]}]`,
			`enabled=true min_uptime=5m0s rebuilds=true append="" remove="" windows=[every day 01:00-02:00 Europe/Berlin; Tue 03:00-04:00 Europe/Berlin]`},
		{"every_key", "enabled = true\nmin_uptime = \"10m\"\nrebuilds = false\n\n[kernel]\ncmdline_append = \"a=1\"\ncmdline_remove = \"quiet\"\n\n[[window]]\ndays = [\"Sat\"]\nstart = \"02:00\"\nend = \"04:00\"\ntime_zone = \"Europe/Berlin\"\n",
			`enabled=true min_uptime=10m0s rebuilds=false append="a=1" remove="quiet" windows=[Sat 02:00-04:00 Europe/Berlin]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(mainName, []byte(tt.toml), local)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.toml, err)
			}
			if got := summary(c); got != tt.want {
				t.Errorf("Parse(%q) = %s; want %s", tt.toml, got, tt.want)
			}
		})
	}
}

func TestParse_nilLocalIsSystemZone(t *testing.T) {
	c, err := Parse(mainName, []byte("[[window]]\nstart = \"02:00\"\nend = \"03:00\"\n"), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(c.Windows) != 1 || c.Windows[0].Location != time.Local {
		t.Errorf("Parse(nil local) = %s; want one window in time.Local", summary(c))
	}
}

func TestParse_errors(t *testing.T) {
	tests := []parseErrorCase{
		{
			name: "spec_example",
			toml: "[[window]]\nstart = \"02:00\"\nend = \"25:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:3: window.end: "25:00" is not a time of day (HH:MM)`},
		},
		{
			name: "second_window_bad_key_line",
			toml: "[[window]]\nstart = \"02:00\"\nend = \"03:00\"\n\n[[window]]\ndays = [\"Sun\"]\nstart = \"2:00\"\nend = \"03:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:7: window.start: "2:00" is not a time of day (HH:MM)`},
		},
		{
			name: "second_window_end_not_first_windows_line",
			toml: "[[window]]\nend = \"03:00\"\nstart = \"02:00\"\n[[window]]\nstart = \"02:00\"\n\n# comment\nend = \"24:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:8: window.end: "24:00" is not a time of day (HH:MM)`},
		},
		{
			name: "unknown_top_level_key",
			toml: "enabled = true\nwindows = 3\n",
			want: []string{`/etc/kexec-upgrade/config.toml:2: windows: unknown key (see kexec-upgrade.toml(5))`},
		},
		{
			name: "unknown_key_in_kernel",
			toml: "[kernel]\ncmdline_append = \"x\"\ncmdline_add = \"y\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:3: kernel.cmdline_add: unknown key (see kexec-upgrade.toml(5))`},
		},
		{
			name: "unknown_subtable_in_kernel",
			toml: "[kernel]\n[kernel.extra]\nx = 1\n",
			want: []string{`/etc/kexec-upgrade/config.toml:2: kernel.extra: unknown key (see kexec-upgrade.toml(5))`},
		},
		{
			name: "unknown_key_in_window",
			toml: "[[window]]\nstart = \"02:00\"\nend = \"03:00\"\ntimezone = \"UTC\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:4: window.timezone: unknown key (see kexec-upgrade.toml(5))`},
		},
		{
			name: "several_errors_in_file_order",
			toml: "enabled = 1\nrebuilds = \"yes\"\nmin_uptime = \"5 minutes\"\nbogus = true\n[kernel]\ncmdline_append = \"a\\nb\"\ncmdline_remove = 'x=\"y'\n[[window]]\ndays = [\"Sat\", \"Caturday\", 7]\nstart = \"02:00\"\nend = \"04:00\"\ntime_zone = \"Mars/Olympus_Mons\"\n",
			want: []string{
				`/etc/kexec-upgrade/config.toml:1: enabled: 1 is not a boolean (true or false)`,
				`/etc/kexec-upgrade/config.toml:2: rebuilds: "yes" is not a boolean (true or false)`,
				`/etc/kexec-upgrade/config.toml:3: min_uptime: "5 minutes" is not a duration (such as "5m" or "1h30m")`,
				`/etc/kexec-upgrade/config.toml:4: bogus: unknown key (see kexec-upgrade.toml(5))`,
				`/etc/kexec-upgrade/config.toml:6: kernel.cmdline_append: must be a single line`,
				`/etc/kexec-upgrade/config.toml:7: kernel.cmdline_remove: "x=\"y" has an unbalanced double quote`,
				`/etc/kexec-upgrade/config.toml:9: window.days: "Caturday" is not a day (Mon..Sun)`,
				`/etc/kexec-upgrade/config.toml:9: window.days: 7 is not a day (Mon..Sun)`,
				`/etc/kexec-upgrade/config.toml:12: window.time_zone: "Mars/Olympus_Mons" is not a time zone (an IANA name such as "Europe/Berlin" or "UTC")`,
			},
		},
		{
			name: "negative_duration",
			toml: `min_uptime = "-5m"`,
			want: []string{`/etc/kexec-upgrade/config.toml:1: min_uptime: "-5m" is not a duration (such as "5m" or "1h30m")`},
		},
		{
			name: "duration_not_string",
			toml: "min_uptime = 300\n",
			want: []string{`/etc/kexec-upgrade/config.toml:1: min_uptime: 300 is not a string`},
		},
		{
			name: "missing_start_and_end_name_the_header",
			toml: "[[window]]\nstart = \"01:00\"\nend = \"02:00\"\n[[window]]\ndays = [\"Mon\"]\n",
			want: []string{
				`/etc/kexec-upgrade/config.toml:4: window.start: missing (HH:MM)`,
				`/etc/kexec-upgrade/config.toml:4: window.end: missing (HH:MM)`,
			},
		},
		{
			name: "empty_days",
			toml: "[[window]]\ndays = []\nstart = \"01:00\"\nend = \"02:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:2: window.days: is empty; omit days to mean every day`},
		},
		{
			name: "days_not_a_list",
			toml: "[[window]]\ndays = \"Sat\"\nstart = \"01:00\"\nend = \"02:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:2: window.days: "Sat" is not a list of days such as ["Sat", "Sun"]`},
		},
		{
			name: "unquoted_toml_time",
			toml: "[[window]]\nstart = 02:00:00\nend = \"03:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:2: window.start: 02:00:00 is a TOML time, not a string; write "02:00"`},
		},
		{
			name: "zone_names_only",
			toml: "[[window]]\nstart = \"01:00\"\nend = \"02:00\"\ntime_zone = \"Local\"\n[[window]]\nstart = \"01:00\"\nend = \"02:00\"\ntime_zone = \"/usr/share/zoneinfo/UTC\"\n",
			want: []string{
				`/etc/kexec-upgrade/config.toml:4: window.time_zone: "Local" is not a time zone (an IANA name such as "Europe/Berlin" or "UTC")`,
				`/etc/kexec-upgrade/config.toml:8: window.time_zone: "/usr/share/zoneinfo/UTC" is not a time zone (an IANA name such as "Europe/Berlin" or "UTC")`,
			},
		},
		{
			name: "values_described_as_written",
			toml: "enabled = [true]\nrebuilds = {on = true}\nmin_uptime = 2026-03-28\n[kernel]\ncmdline_append = 2026-03-28T02:00:00\ncmdline_remove = 2026-03-28T02:00:00+01:00\n",
			want: []string{
				`/etc/kexec-upgrade/config.toml:1: enabled: a list is not a boolean (true or false)`,
				`/etc/kexec-upgrade/config.toml:2: rebuilds: a table is not a boolean (true or false)`,
				`/etc/kexec-upgrade/config.toml:3: min_uptime: 2026-03-28 is not a string`,
				`/etc/kexec-upgrade/config.toml:5: kernel.cmdline_append: 2026-03-28T02:00:00 is not a string`,
				`/etc/kexec-upgrade/config.toml:6: kernel.cmdline_remove: 2026-03-28T02:00:00+01:00 is not a string`,
			},
		},
		{
			name: "window_array_of_values",
			toml: "window = [\"02:00-04:00\"]\n",
			want: []string{`/etc/kexec-upgrade/config.toml:1: window: must be an array of tables ([[window]])`},
		},
		{
			name: "kernel_array_of_tables",
			toml: "[[kernel]]\ncmdline_append = \"x\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:1: kernel: must be a table ([kernel])`},
		},
		{
			name: "window_values_of_wrong_type",
			toml: "[[window]]\nstart = 2\nend = \"03:00\"\ntime_zone = 1\n",
			want: []string{
				`/etc/kexec-upgrade/config.toml:2: window.start: 2 is not a string`,
				`/etc/kexec-upgrade/config.toml:4: window.time_zone: 1 is not a string`,
			},
		},
		{
			name: "window_not_array_of_tables",
			toml: "[window]\nstart = \"01:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:1: window: must be an array of tables ([[window]])`},
		},
		{
			name: "kernel_not_a_table",
			toml: "enabled = true\nkernel = \"6.1\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:2: kernel: must be a table ([kernel])`},
		},
		{
			name: "inline_window_error_names_its_statement",
			toml: "enabled = true\nwindow = [\n  {start = \"01:00\", end = \"02:00\"},\n  {start = \"01:00\", end = \"99:00\"},\n]\n",
			want: []string{`/etc/kexec-upgrade/config.toml:2: window.end: "99:00" is not a time of day (HH:MM)`},
		},
		{
			name: "multiline_string_does_not_shift_lines",
			toml: "[kernel]\ncmdline_append = \"\"\"\n[[window]]\nend = 1\"\"\"\n[[window]]\nstart = \"01:00\"\nend = \"1:00\"\n",
			want: []string{
				`/etc/kexec-upgrade/config.toml:2: kernel.cmdline_append: must be a single line`,
				`/etc/kexec-upgrade/config.toml:7: window.end: "1:00" is not a time of day (HH:MM)`,
			},
		},
		{
			name: "syntax_error_has_line",
			toml: "enabled = true\n\nmin_uptime = \n",
			want: []string{`/etc/kexec-upgrade/config.toml:3: syntax error: expected value but found '\n' instead`},
		},
		{
			name: "unclosed_table_header_line",
			toml: "enabled = true\n[[window]\nstart = \"01:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:2: syntax error: expected end of table array name delimiter ']', but got '\n' instead`},
		},
		{
			name: "syntax_error_at_eof",
			toml: "enabled = true\nmin_uptime =",
			want: []string{`/etc/kexec-upgrade/config.toml:2: syntax error: unexpected EOF; expected value`},
		},
		{
			name: "syntax_error_after_bom",
			toml: "\ufeffenabled = true\n\nrebuilds = tru\n",
			want: []string{`/etc/kexec-upgrade/config.toml:3: syntax error: expected value but found "tru" instead`},
		},
		{
			name: "duplicate_key_is_syntax_error",
			toml: "enabled = true\nenabled = false\n",
			want: []string{`/etc/kexec-upgrade/config.toml:2: syntax error: Key 'enabled' has already been defined.`},
		},
		{
			name: "unterminated_string",
			toml: "[[window]]\nstart = \"02:00\nend = \"03:00\"\n",
			want: []string{`/etc/kexec-upgrade/config.toml:2: syntax error: strings cannot contain newlines`},
		},
	}
	checkParseErrors(t, time.UTC, tests)
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"file_line_key", &Error{File: "/f.toml", Line: 3, Key: "window.end", Msg: "bad"}, "/f.toml:3: window.end: bad"},
		{"no_line", &Error{File: "/f.toml", Key: "window.end", Msg: "bad"}, "/f.toml: window.end: bad"},
		{"file_level", &Error{File: "/f.toml", Msg: "is a symbolic link"}, "/f.toml: is a symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q; want %q", got, tt.want)
			}
		})
	}
	joined := Errors{tests[0].err, tests[2].err}.Error()
	if want := "/f.toml:3: window.end: bad\n/f.toml: is a symbolic link"; joined != want {
		t.Errorf("Errors.Error() = %q; want %q", joined, want)
	}
}

// file is one entry of a fake root: a regular file, a directory (Dir) or a
// symbolic link (Link), with a mode (0644 or 0755 when zero).
type file struct {
	Path, Body, Link string
	Dir              bool
	Mode             os.FileMode
}

// makeRoot creates a root directory holding files, owned by the test's uid.
func makeRoot(t *testing.T, files ...file) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case f.Dir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case f.Link != "":
			if err := os.Symlink(f.Link, p); err != nil {
				t.Fatal(err)
			}
			continue
		default:
			if err := os.WriteFile(p, []byte(f.Body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if f.Mode != 0 {
			// Chmod, not the create mode: the umask must not hide a bit.
			if err := os.Chmod(p, f.Mode); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func ownerOpts() Options { return Options{Owner: os.Getuid(), Local: time.UTC} }

func TestLoad_missingFilesAreFine(t *testing.T) {
	tests := []struct {
		name  string
		files []file
	}{
		{"empty_root", nil},
		{"empty_config_dir", []file{{Path: "etc/kexec-upgrade", Dir: true}}},
		{"empty_drop_in_dir", []file{{Path: DropInDir, Dir: true}}},
		{"drop_in_dir_without_toml", []file{
			{Path: DropInDir + "/README", Body: "not toml"},
			{Path: DropInDir + "/50-x.toml.dpkg-old", Body: "garbage ="},
			{Path: DropInDir + "/.50-x.toml", Body: "garbage ="},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := makeRoot(t, tt.files...)
			c, err := Load(root, ownerOpts())
			if err != nil {
				t.Fatalf("Load(%s) error: %v", tt.name, err)
			}
			if got, want := summary(c), summary(Default()); got != want {
				t.Errorf("Load(%s) = %s; want %s", tt.name, got, want)
			}
			if len(c.Files) != 0 {
				t.Errorf("Load(%s).Files = %q; want none", tt.name, c.Files)
			}
		})
	}
}

func TestLoad_dropInOrder(t *testing.T) {
	root := makeRoot(t,
		file{Path: MainFile, Body: "min_uptime = \"10m\"\nrebuilds = false\n[kernel]\ncmdline_append = \"main\"\n[[window]]\nstart = \"01:00\"\nend = \"02:00\"\n"},
		// Name order, not creation order: 20 is written before 10.
		file{Path: DropInDir + "/20-late.toml", Body: "min_uptime = \"30m\"\n[kernel]\ncmdline_remove = \"quiet\"\n[[window]]\ndays = [\"Sun\"]\nstart = \"05:00\"\nend = \"06:00\"\n"},
		file{Path: DropInDir + "/10-early.toml", Body: "min_uptime = \"20m\"\nenabled = false\n[kernel]\ncmdline_append = \"early\"\n[[window]]\nstart = \"03:00\"\nend = \"04:00\"\n"},
		file{Path: DropInDir + "/notes.txt", Body: "enabled = maybe"},
	)
	c, err := Load(root, ownerOpts())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := `enabled=false min_uptime=30m0s rebuilds=false append="early" remove="quiet" windows=[every day 01:00-02:00 UTC; every day 03:00-04:00 UTC; Sun 05:00-06:00 UTC]`
	if got := summary(c); got != want {
		t.Errorf("Load(main + 10 + 20) = %s; want %s", got, want)
	}
	wantFiles := []string{"/etc/kexec-upgrade/config.toml", "/etc/kexec-upgrade/config.d/10-early.toml", "/etc/kexec-upgrade/config.d/20-late.toml"}
	if !reflect.DeepEqual(c.Files, wantFiles) {
		t.Errorf("Load(main + 10 + 20).Files = %q; want %q", c.Files, wantFiles)
	}
}

func TestLoad_dropInsWithoutMainFile(t *testing.T) {
	root := makeRoot(t, file{Path: DropInDir + "/window.toml", Body: "[[window]]\nstart = \"01:00\"\nend = \"02:00\"\n"})
	c, err := Load(root, ownerOpts())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(c.Windows) != 1 || !reflect.DeepEqual(c.Files, []string{"/etc/kexec-upgrade/config.d/window.toml"}) {
		t.Errorf("Load(drop-in only) = %s files %q; want one window from window.toml", summary(c), c.Files)
	}
}

func TestLoad_allFilesErrorsReported(t *testing.T) {
	root := makeRoot(t,
		file{Path: MainFile, Body: "enabled = true\n[[window]]\nstart = \"02:00\"\nend = \"25:00\"\n"},
		file{Path: DropInDir + "/10-a.toml", Body: "# a comment\nmin_uptime = \"forever\"\n"},
		file{Path: DropInDir + "/20-b.toml", Body: "[kernel]\nappend = \"x\"\n"},
		file{Path: DropInDir + "/30-c.toml", Body: "[[window]\n"},
	)
	_, err := Load(root, ownerOpts())
	got := errorLines(t, err)
	want := []string{
		`/etc/kexec-upgrade/config.toml:4: window.end: "25:00" is not a time of day (HH:MM)`,
		`/etc/kexec-upgrade/config.d/10-a.toml:2: min_uptime: "forever" is not a duration (such as "5m" or "1h30m")`,
		`/etc/kexec-upgrade/config.d/20-b.toml:2: kernel.append: unknown key (see kexec-upgrade.toml(5))`,
	}
	if len(got) != 4 || !reflect.DeepEqual(got[:3], want) {
		t.Fatalf("Load errors =\n  %s\nwant\n  %s\n  (and a syntax error in 30-c.toml)", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if !strings.HasPrefix(got[3], "/etc/kexec-upgrade/config.d/30-c.toml:1: syntax error: ") {
		t.Errorf("Load error 4 = %q; want a syntax error at /etc/kexec-upgrade/config.d/30-c.toml:1", got[3])
	}
}

func TestLoad_ownership(t *testing.T) {
	good := "[[window]]\nstart = \"01:00\"\nend = \"02:00\"\n"
	tests := []struct {
		name  string
		files []file
		want  []string // one prefix per error line, in order
	}{
		{
			name:  "owned_and_private_accepted",
			files: []file{{Path: MainFile, Body: good, Mode: 0o600}, {Path: DropInDir + "/a.toml", Body: good, Mode: 0o644}},
		},
		{
			name:  "group_writable_file_refused",
			files: []file{{Path: MainFile, Body: good, Mode: 0o664}},
			want:  []string{"/etc/kexec-upgrade/config.toml: mode 0664 is writable by group or others; refusing it (chmod go-w)"},
		},
		{
			name:  "world_writable_drop_in_refused",
			files: []file{{Path: MainFile, Body: good}, {Path: DropInDir + "/a.toml", Body: good, Mode: 0o646}},
			want:  []string{"/etc/kexec-upgrade/config.d/a.toml: mode 0646 is writable by group or others; refusing it (chmod go-w)"},
		},
		{
			name:  "group_writable_drop_in_dir_refused",
			files: []file{{Path: DropInDir, Dir: true, Mode: 0o775}, {Path: DropInDir + "/a.toml", Body: good}},
			want:  []string{"/etc/kexec-upgrade/config.d: mode 0775 is writable by group or others; refusing it (chmod go-w)"},
		},
		{
			name:  "world_writable_config_dir_refused",
			files: []file{{Path: "etc/kexec-upgrade", Dir: true, Mode: 0o777}, {Path: MainFile, Body: good}},
			want:  []string{"/etc/kexec-upgrade: mode 0777 is writable by group or others; refusing it (chmod go-w)"},
		},
		{
			name:  "symlinked_main_file_refused",
			files: []file{{Path: "srv/real.toml", Body: good}, {Path: MainFile, Link: "../../srv/real.toml"}},
			want:  []string{"/etc/kexec-upgrade/config.toml: is a symbolic link; refusing it (replace it with a regular file owned by root)"},
		},
		{
			name:  "symlinked_drop_in_refused",
			files: []file{{Path: "srv/real.toml", Body: good}, {Path: DropInDir + "/a.toml", Link: "/dev/null"}},
			want:  []string{"/etc/kexec-upgrade/config.d/a.toml: is a symbolic link; refusing it (replace it with a regular file owned by root)"},
		},
		{
			name:  "bad_file_does_not_hide_others",
			files: []file{{Path: MainFile, Body: "enabled = 2\n"}, {Path: DropInDir + "/a.toml", Body: good, Mode: 0o666}},
			want: []string{
				"/etc/kexec-upgrade/config.toml:1: enabled: 2 is not a boolean (true or false)",
				"/etc/kexec-upgrade/config.d/a.toml: mode 0666 is writable by group or others; refusing it (chmod go-w)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := makeRoot(t, tt.files...)
			c, err := Load(root, ownerOpts())
			got := errorLines(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("Load(%s) errors = %q; want %q", tt.name, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("Load(%s) error %d = %q; want %q", tt.name, i, got[i], tt.want[i])
				}
			}
			if tt.want == nil && len(c.Windows) == 0 {
				t.Errorf("Load(%s) = %s; want the windows of the accepted files", tt.name, summary(c))
			}
		})
	}
}

// TestLoad_onlyRegularFiles: a FIFO named *.toml would make a plain read
// wait for a writer forever (and the timer's runs pile up behind it); it,
// and every other file that is not a regular one, is refused by name.
func TestLoad_onlyRegularFiles(t *testing.T) {
	good := "[[window]]\nstart = \"01:00\"\nend = \"02:00\"\n"
	fifo := func(rel string) func(t *testing.T, root string) {
		return func(t *testing.T, root string) {
			if err := unix.Mkfifo(filepath.Join(root, rel), 0o644); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		}
	}
	socket := func(rel string) func(t *testing.T, root string) {
		return func(t *testing.T, root string) {
			l, err := net.Listen("unix", filepath.Join(root, rel))
			if err != nil {
				t.Skipf("unix socket: %v", err)
			}
			t.Cleanup(func() { l.Close() })
		}
	}
	tests := []struct {
		name  string
		files []file
		make  func(t *testing.T, root string)
		want  []string
	}{
		{
			name:  "fifo_drop_in_refused",
			files: []file{{Path: MainFile, Body: good}, {Path: DropInDir, Dir: true}},
			make:  fifo(DropInDir + "/x.toml"),
			want:  []string{"/etc/kexec-upgrade/config.d/x.toml: is a FIFO (named pipe), not a regular file; refusing it"},
		},
		{
			name:  "fifo_main_file_refused",
			files: []file{{Path: "etc/kexec-upgrade", Dir: true}, {Path: DropInDir + "/a.toml", Body: good}},
			make:  fifo(MainFile),
			want:  []string{"/etc/kexec-upgrade/config.toml: is a FIFO (named pipe), not a regular file; refusing it"},
		},
		{
			name:  "directory_drop_in_refused",
			files: []file{{Path: MainFile, Body: good}, {Path: DropInDir + "/x.toml", Dir: true}},
			want:  []string{"/etc/kexec-upgrade/config.d/x.toml: is a directory, not a regular file; refusing it"},
		},
		{
			name:  "socket_drop_in_refused",
			files: []file{{Path: MainFile, Body: good}, {Path: DropInDir, Dir: true}},
			make:  socket(DropInDir + "/s.toml"),
			want:  []string{"/etc/kexec-upgrade/config.d/s.toml: is a socket, not a regular file; refusing it"},
		},
		{
			name:  "huge_file_refused",
			files: []file{{Path: MainFile, Body: good + "# " + strings.Repeat("x", MaxFileBytes) + "\n"}},
			want:  []string{fmt.Sprintf("/etc/kexec-upgrade/config.toml: is larger than %d bytes; refusing it", MaxFileBytes)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := makeRoot(t, tt.files...)
			if tt.make != nil {
				tt.make(t, root)
			}
			var err error
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, err = Load(root, ownerOpts())
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("Load(%s) has not returned after 10s; want it to refuse the file at once", tt.name)
			}
			if got := errorLines(t, err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load(%s) errors = %q; want %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestLoad_wrongOwnerRefused(t *testing.T) {
	root := makeRoot(t, file{Path: MainFile, Body: "enabled = true\n"})
	other := os.Getuid() + 4242
	_, err := Load(root, Options{Owner: other, Local: time.UTC})
	got := errorLines(t, err)
	want := []string{
		fmt.Sprintf("/etc/kexec-upgrade: owned by uid %d, not %d; refusing it (chown root: it decides what root does)", os.Getuid(), other),
		fmt.Sprintf("/etc/kexec-upgrade/config.toml: owned by uid %d, not %d; refusing it (chown root: it decides what root does)", os.Getuid(), other),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(owner %d) errors = %q; want %q", other, got, want)
	}

	if os.Getuid() != 0 {
		t.Skip("chown to another uid needs root")
	}
	root = makeRoot(t, file{Path: MainFile, Body: "enabled = true\n"}, file{Path: DropInDir + "/a.toml", Body: "rebuilds = false\n"})
	if err := os.Lchown(filepath.Join(root, DropInDir, "a.toml"), 4242, 4242); err != nil {
		t.Fatal(err)
	}
	_, err = Load(root, Options{Owner: 0, Local: time.UTC})
	got = errorLines(t, err)
	want = []string{"/etc/kexec-upgrade/config.d/a.toml: owned by uid 4242, not 0; refusing it (chown root: it decides what root does)"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(drop-in owned by 4242) errors = %q; want %q", got, want)
	}
}

func TestLoad_unreadableRootPart(t *testing.T) {
	// config.d is a regular file: reading it as a directory fails, and the
	// failure is reported with the path, not ignored.
	root := makeRoot(t, file{Path: DropInDir, Body: "oops"})
	_, err := Load(root, ownerOpts())
	got := errorLines(t, err)
	if len(got) == 0 || !strings.HasPrefix(got[0], "/etc/kexec-upgrade/config.d: ") {
		t.Errorf("Load(config.d is a file) errors = %q; want one naming /etc/kexec-upgrade/config.d", got)
	}
}

func TestKeyLines(t *testing.T) {
	doc := "# header\nenabled = true\n\"min_uptime\" = \"5m\"\n[kernel]\ncmdline_append = '''\n[[window]]\n'''\n [[ window ]] # spaced\nstart = \"01:00\" # trailing\nend = [\n  \"x\",\n]\ndays = { a = 1 }\n[[window]]\nend = \"02:00\"\n"
	got := keyLines([]byte(doc))
	want := map[string]int{
		"enabled":               2,
		"min_uptime":            3,
		"kernel":                4,
		"kernel.cmdline_append": 5,
		"window[0]":             8,
		"window[0].start":       9,
		"window[0].end":         10,
		"window[0].days":        13,
		"window[1]":             14,
		"window[1].end":         15,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keyLines() = %v; want %v", got, want)
	}
}
