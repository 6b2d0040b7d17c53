// Package config reads and validates /etc/kexec-upgrade/config.toml and its
// config.d drop-ins; it reads files under a root directory and has no other
// effects.
//
// Later files override scalar keys, [[window]] tables accumulate. Every error
// of every file is reported, each naming the file, the line when it is known,
// and the key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock"
	"github.com/kexec-upgrade/kexec-upgrade/internal/window"
)

// Paths of the configuration, relative to the root directory.
const (
	MainFile  = "etc/kexec-upgrade/config.toml"
	DropInDir = "etc/kexec-upgrade/config.d"
)

// DefaultMinUptime is how long after a boot kexec-upgrade waits by default
// before it may switch again, so a bad kernel cannot cause a switching loop.
const DefaultMinUptime = 5 * time.Minute

// Config is a validated configuration.
type Config struct {
	// Enabled false means never switch automatically (run --now still works).
	Enabled bool
	// MinUptime is the least time since boot before a switch.
	MinUptime time.Duration
	// Rebuilds allows switching to a same-release rebuild.
	Rebuilds bool
	// Windows are the maintenance windows; none means never switch automatically.
	Windows window.Schedule
	// CmdlineAppend is appended to the running command line.
	CmdlineAppend string
	// CmdlineRemove lists parameters removed from the running command line.
	CmdlineRemove string
	// Spread and Margin are the defaults of windows that set neither; each
	// window's own values are in Windows.
	Spread, Margin time.Duration
	// FleetLock is the FleetLock server to take a reboot slot from; its URL
	// is empty when none is configured.
	FleetLock FleetLock
	// Metrics says where the Prometheus textfile is written.
	Metrics Metrics
	// Hooks tunes the pre- and post-switch hooks.
	Hooks Hooks
	// Watchdog and Health configure a switch's trial boot (trial.go).
	Watchdog Watchdog
	Health   Health
	// Notice is how long logged-in users are warned before a switch; 0:
	// no warning, no delay.
	Notice time.Duration
	// Files are the files read, in order, as absolute paths on the host.
	Files []string

	// windowSources says, for each window, where it was defined and which
	// keys it set itself, so that defaults given in a later file apply and
	// errors found after merging name the right file and line.
	windowSources []windowSource
}

// FleetLock configures coordination through a FleetLock server.
type FleetLock struct {
	// URL is the server's base URL; empty means no coordination.
	URL string
	// Group is the lock group (FleetLock's client_params.group).
	Group string
	// ID is the client id; empty means derived from /etc/machine-id (so
	// VMs cloned with the same machine-id share one id unless it is set).
	ID string
	// CAFile is a PEM bundle of the CAs that an https:// server's
	// certificate must chain to. When set, only these CAs are trusted, not
	// the system's pool; empty means the system's pool.
	CAFile string
	// ClientCert and ClientKey are the PEM client certificate (with its
	// chain) and private key presented to the server; both or neither.
	ClientCert, ClientKey string

	// caSrc, certSrc and keySrc say where the TLS keys were set, for
	// errors found after merging or when their files are read.
	caSrc, certSrc, keySrc keySource
}

// keySource is where a key was set.
type keySource struct {
	file string
	line int
}

// Metrics configures the Prometheus node_exporter textfile.
type Metrics struct {
	// Enabled false means no metrics file is written.
	Enabled bool
	// Directory is the textfile collector's directory. The file is written
	// only when the directory exists.
	Directory string
}

// windowSource is where a window was defined.
type windowSource struct {
	file                 string
	line                 int
	spreadSet, marginSet bool
}

// Defaults of keys whose zero value is not the default.
const (
	// DefaultMargin keeps switches from starting in the last minutes of a
	// window, so that one finishes before the window closes.
	DefaultMargin = 5 * time.Minute
	// DefaultFleetLockGroup is the group of Zincati and FleetLock servers.
	DefaultFleetLockGroup = "default"
	// DefaultMetricsDirectory is where Debian's prometheus-node-exporter
	// reads textfiles from.
	DefaultMetricsDirectory = "/var/lib/prometheus/node-exporter"
)

// Default returns the configuration used when no file sets anything.
func Default() Config {
	return Config{
		Enabled:   true,
		MinUptime: DefaultMinUptime,
		Rebuilds:  true,
		Margin:    DefaultMargin,
		FleetLock: FleetLock{Group: DefaultFleetLockGroup},
		Metrics:   Metrics{Enabled: true, Directory: DefaultMetricsDirectory},
		Hooks:     Hooks{Timeout: DefaultHookTimeout},
		Watchdog:  Watchdog{Timeout: DefaultWatchdogTimeout},
		Health:    Health{Deadline: DefaultHealthDeadline},
	}
}

// Error is one problem in one configuration file.
type Error struct {
	File string // path as the admin knows it (/etc/kexec-upgrade/config.toml)
	Line int    // 1-based; 0 when unknown
	Key  string // dotted key such as window.end; empty for file-level problems
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is the list of every problem found; it is returned as one error.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// ErrInvalid is matched by errors.Is on every error Load returns for a bad
// configuration (as opposed to an unreadable root).
var ErrInvalid = errors.New("invalid configuration")

// Is reports that Errors is an invalid configuration.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

// Options tune Load for tests.
type Options struct {
	// Owner is the uid that must own the configuration files (0 on a host).
	Owner int
	// Local is the zone of windows without time_zone (time.Local on a host).
	Local *time.Location
}

// Load reads the main file and the drop-ins under root. A missing main file
// and a missing config.d are fine (defaults apply). Only regular files owned
// by opt.Owner and not writable by group or others are read; anything else
// named *.toml (a symbolic link, a FIFO, a directory, ...) is an error
// naming it. The returned Config is
// meaningful only when err is nil; err is Errors for a bad configuration.
func Load(root string, opt Options) (Config, error) {
	if opt.Local == nil {
		opt.Local = time.Local
	}
	cfg := Default()
	var errs Errors
	var files []string
	if _, err := os.Lstat(filepath.Join(root, MainFile)); err == nil {
		files = append(files, MainFile)
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, &Error{File: "/" + MainFile, Msg: err.Error()})
	}
	dropIns, err := os.ReadDir(filepath.Join(root, DropInDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, &Error{File: "/" + DropInDir, Msg: err.Error()})
	}
	names := make([]string, 0, len(dropIns))
	for _, d := range dropIns {
		if strings.HasSuffix(d.Name(), ".toml") && !strings.HasPrefix(d.Name(), ".") {
			names = append(names, d.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, DropInDir+"/"+n)
	}
	for _, dir := range []string{"etc/kexec-upgrade", DropInDir} {
		if e := checkOwner(root, dir, opt.Owner); e != nil {
			errs = append(errs, e)
		}
	}
	for _, rel := range files {
		display := "/" + rel
		cfg.Files = append(cfg.Files, display)
		data, e := readFile(root, rel, opt.Owner)
		if e != nil {
			errs = append(errs, e)
			continue
		}
		errs = append(errs, apply(&cfg, display, data, opt.Local)...)
	}
	errs = append(errs, cfg.finish()...)
	if len(errs) > 0 {
		return cfg, errs
	}
	return cfg, nil
}

// finish applies the global spread and margin to the windows that set
// neither, now that every file is read, and checks that each window leaves
// time to switch.
func (cfg *Config) finish() Errors {
	errs := cfg.FleetLock.check()
	for i := range cfg.Windows {
		w, src := &cfg.Windows[i], cfg.windowSources[i]
		if !src.spreadSet {
			w.Spread = cfg.Spread
		}
		if !src.marginSet {
			w.Margin = cfg.Margin
		}
		if length := w.Length(); w.Spread+w.Margin >= length {
			errs = append(errs, &Error{File: src.file, Line: src.line, Key: "window",
				Msg: fmt.Sprintf("spread %s plus margin %s leave no time to switch in this %s window; shorten spread or margin",
					FormatDuration(w.Spread), FormatDuration(w.Margin), FormatDuration(length))})
		}
	}
	return errs
}

// FormatDuration writes a duration as an admin would in the file: "30m",
// "1h30m", "45s", "0s".
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// checkOwner refuses files and directories that someone other than the
// expected owner could change: the configuration decides what root does.
func checkOwner(root, rel string, owner int) *Error {
	fi, err := os.Lstat(filepath.Join(root, rel))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &Error{File: "/" + rel, Msg: err.Error()}
	}
	return checkInfo("/"+rel, fi, owner)
}

// checkInfo applies checkOwner's rules to what lstat or fstat said.
func checkInfo(display string, fi fs.FileInfo, owner int) *Error {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return &Error{File: display, Msg: symlinkMsg}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != owner {
		return &Error{File: display, Msg: fmt.Sprintf("owned by uid %d, not %d; refusing it (chown root: it decides what root does)", st.Uid, owner)}
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return &Error{File: display, Msg: fmt.Sprintf("mode %04o is writable by group or others; refusing it (chmod go-w)", fi.Mode().Perm())}
	}
	return nil
}

const symlinkMsg = "is a symbolic link; refusing it (replace it with a regular file owned by root)"

// MaxFileBytes bounds the size of one configuration file.
const MaxFileBytes = 1 << 20

// readFile reads one configuration file under root, which must be a regular
// file that passes checkOwner. A FIFO, a device, a socket or a directory
// named *.toml is refused without being read: lstat refuses it before any
// open (opening a device can have effects), and the open itself
// (O_NOFOLLOW: no symbolic link swapped in since; O_NONBLOCK: a FIFO
// swapped in since does not wait for a writer) is checked again with fstat
// before a byte is read.
func readFile(root, rel string, owner int) ([]byte, *Error) {
	display := "/" + rel
	path := filepath.Join(root, rel)
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, &Error{File: display, Msg: err.Error()}
	}
	if e := checkRegular(display, fi, owner); e != nil {
		return nil, e
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, &Error{File: display, Msg: symlinkMsg}
	}
	if err != nil {
		return nil, &Error{File: display, Msg: err.Error()}
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		return nil, &Error{File: display, Msg: err.Error()}
	}
	if e := checkRegular(display, fi, owner); e != nil {
		return nil, e
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, &Error{File: display, Msg: err.Error()}
	}
	if len(data) > MaxFileBytes {
		return nil, &Error{File: display, Msg: fmt.Sprintf("is larger than %d bytes; refusing it", MaxFileBytes)}
	}
	return data, nil
}

// checkRegular refuses anything but a regular file, then applies
// checkOwner's rules.
func checkRegular(display string, fi fs.FileInfo, owner int) *Error {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return &Error{File: display, Msg: symlinkMsg}
	}
	if !fi.Mode().IsRegular() {
		return &Error{File: display, Msg: fmt.Sprintf("is %s, not a regular file; refusing it", fileKind(fi.Mode()))}
	}
	return checkInfo(display, fi, owner)
}

// fileKind names the type of a file that is not a regular one.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO (named pipe)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	default:
		return "a special file"
	}
}

// Parse validates one file's contents as if it were the only file, for tests
// and fuzzing. name is used in errors; a nil local means time.Local, as in
// Load.
func Parse(name string, data []byte, local *time.Location) (Config, error) {
	if local == nil {
		local = time.Local
	}
	cfg := Default()
	errs := apply(&cfg, name, data, local)
	errs = append(errs, cfg.finish()...)
	if len(errs) > 0 {
		return cfg, errs
	}
	return cfg, nil
}

// apply decodes one file and merges it into cfg, collecting every error.
func apply(cfg *Config, file string, data []byte, local *time.Location) Errors {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Errors{{File: file, Line: syntaxLine(data, pe.Position), Msg: "syntax error: " + firstLine(pe.Message)}}
		}
		return Errors{{File: file, Msg: "syntax error: " + firstLine(err.Error())}}
	}
	lines := keyLines(data)
	v := validator{file: file, lines: lines}
	for _, key := range sortedKeys(raw) {
		val := raw[key]
		switch key {
		case "enabled":
			if b, ok := v.boolean(key, val); ok {
				cfg.Enabled = b
			}
		case "rebuilds":
			if b, ok := v.boolean(key, val); ok {
				cfg.Rebuilds = b
			}
		case "min_uptime":
			if d, ok := v.duration(key, val); ok {
				cfg.MinUptime = d
			}
		case "window":
			tables, ok := tableArray(val)
			if !ok {
				v.add(key, "must be an array of tables ([[window]])")
				continue
			}
			for i, t := range tables {
				if w, src, ok := v.window(i, t, local); ok {
					cfg.Windows = append(cfg.Windows, w)
					cfg.windowSources = append(cfg.windowSources, src)
				}
			}
		case "spread":
			if d, ok := v.duration(key, val); ok {
				cfg.Spread = d
			}
		case "margin":
			if d, ok := v.duration(key, val); ok {
				cfg.Margin = d
			}
		case "fleet_lock":
			v.fleetLock(&cfg.FleetLock, val)
		case "metrics":
			v.metrics(&cfg.Metrics, val)
		case "hooks":
			v.hooks(&cfg.Hooks, val)
		case "watchdog":
			v.watchdog(&cfg.Watchdog, val)
		case "health":
			v.health(&cfg.Health, val)
		case "notice":
			v.notice(&cfg.Notice, val)
		case "kernel":
			v.tableKeys(key, val, func(k, full string, val any) {
				switch k {
				case "cmdline_append":
					if s, ok := v.cmdline(full, val); ok {
						cfg.CmdlineAppend = s
					}
				case "cmdline_remove":
					if s, ok := v.cmdline(full, val); ok {
						cfg.CmdlineRemove = s
					}
				default:
					v.unknown(full)
				}
			})
		default:
			v.unknown(key)
		}
	}
	// Keys were visited in name order; an admin reads the file top down.
	sort.SliceStable(v.errs, func(i, j int) bool { return v.errs[i].Line < v.errs[j].Line })
	return v.errs
}

// tableArray accepts both spellings of an array of tables: [[window]]
// headers and an inline array (window = [{...}, {...}]), which the decoder
// returns as a []any of tables.
func tableArray(val any) ([]map[string]any, bool) {
	switch x := val.(type) {
	case []map[string]any:
		return x, true
	case []any:
		tables := make([]map[string]any, len(x))
		for i, e := range x {
			t, ok := e.(map[string]any)
			if !ok {
				return nil, false
			}
			tables[i] = t
		}
		return tables, true
	}
	return nil, false
}

// syntaxLine returns the line of a syntax error. The decoder's line counter
// runs ahead when the offending character is a newline ("[[window]" followed
// by a newline is reported on the next line), while its byte offset is
// exact; the offset counts from after a byte order mark, as the decoder
// strips one.
func syntaxLine(data []byte, pos toml.Position) int {
	for _, bom := range []string{"\xef\xbb\xbf", "\xff\xfe", "\xfe\xff"} {
		if bytes.HasPrefix(data, []byte(bom)) {
			data = data[len(bom):]
			break
		}
	}
	if pos.Start < 0 || pos.Start > len(data) {
		return pos.Line
	}
	return 1 + bytes.Count(data[:pos.Start], []byte("\n"))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validator collects errors for one file.
type validator struct {
	file  string
	lines map[string]int
	errs  Errors
}

func (v *validator) add(key, msg string) {
	v.errs = append(v.errs, &Error{File: v.file, Line: v.line(key), Key: displayKey(key), Msg: msg})
}

// line returns the line of key or, for a key inside an inline table that the
// scanner does not place, the line of the nearest enclosing key it does:
// window[1].end inside "window = [{...}]" gets the line of "window". A key
// written as an array of tables ([[kernel]]) gets its first header's line.
func (v *validator) line(key string) int {
	for {
		if n, ok := v.lines[key]; ok {
			return n
		}
		if n, ok := v.lines[key+"[0]"]; ok {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i <= 0 {
			return 0
		}
		key = key[:i]
	}
}

func (v *validator) unknown(key string) {
	v.add(key, "unknown key (see kexec-upgrade.toml(5))")
}

// displayKey turns window[2].end into window.end: the line already says which.
func displayKey(key string) string {
	if i := strings.IndexByte(key, '['); i >= 0 {
		if j := strings.IndexByte(key[i:], ']'); j >= 0 {
			return key[:i] + key[i+j+1:]
		}
	}
	return key
}

func (v *validator) boolean(key string, val any) (bool, bool) {
	b, ok := val.(bool)
	if !ok {
		v.add(key, fmt.Sprintf("%s is not a boolean (true or false)", describe(val)))
	}
	return b, ok
}

func (v *validator) str(key string, val any) (string, bool) {
	s, ok := val.(string)
	if !ok {
		v.add(key, fmt.Sprintf("%s is not a string", describe(val)))
	}
	return s, ok
}

func (v *validator) duration(key string, val any) (time.Duration, bool) {
	s, ok := v.str(key, val)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		v.add(key, fmt.Sprintf("%q is not a duration (such as \"5m\" or \"1h30m\")", s))
		return 0, false
	}
	return d, true
}

func (v *validator) cmdline(key string, val any) (string, bool) {
	s, ok := v.str(key, val)
	if !ok {
		return "", false
	}
	if strings.ContainsAny(s, "\n\r\x00") {
		v.add(key, "must be a single line")
		return "", false
	}
	if strings.Count(s, `"`)%2 != 0 {
		v.add(key, fmt.Sprintf("%q has an unbalanced double quote", s))
		return "", false
	}
	return strings.TrimSpace(s), true
}

func (v *validator) window(i int, t map[string]any, local *time.Location) (window.Window, windowSource, bool) {
	prefix := fmt.Sprintf("window[%d].", i)
	before := len(v.errs)
	w := window.Window{Location: local}
	src := windowSource{file: v.file, line: v.line(fmt.Sprintf("window[%d]", i))}
	_, hasStart := t["start"]
	_, hasEnd := t["end"]
	for _, k := range sortedKeys(t) {
		key := prefix + k
		val := t[k]
		switch k {
		case "days":
			if d, ok := dates(v, key, val, daysList, weekdayBit); ok {
				w.Days = d
			}
		case "days_of_month":
			if d, ok := dates(v, key, val, daysOfMonthList, window.MonthDay); ok {
				w.MonthDays = d
			}
		case "weekdays_of_month":
			if d, ok := dates(v, key, val, weekdaysOfMonthList, window.ParseMonthWeekday); ok {
				w.MonthWeekdays = d
			}
		case "start", "end":
			if tv, ok := val.(time.Time); ok {
				// An unquoted 02:00:00 is a TOML local time.
				v.add(key, fmt.Sprintf("%s is a TOML time, not a string; write %q", describe(val), tv.Format("15:04")))
				continue
			}
			s, ok := v.str(key, val)
			if !ok {
				continue
			}
			c, err := window.ParseClock(s)
			if err != nil {
				v.add(key, err.Error())
				continue
			}
			if k == "start" {
				w.Start = c
			} else {
				w.End = c
			}
		case "time_zone":
			s, ok := v.str(key, val)
			if !ok {
				continue
			}
			loc, err := loadZone(s)
			if err != nil {
				v.add(key, fmt.Sprintf("%q is not a time zone (an IANA name such as \"Europe/Berlin\" or \"UTC\")", s))
				continue
			}
			w.Location = loc
		case "spread":
			if d, ok := v.duration(key, val); ok {
				w.Spread, src.spreadSet = d, true
			}
		case "margin":
			if d, ok := v.duration(key, val); ok {
				w.Margin, src.marginSet = d, true
			}
		default:
			v.unknown(key)
		}
	}
	v.oneDateKey(prefix, t)
	if !hasStart {
		v.add(prefix+"start", "missing (HH:MM)")
	}
	if !hasEnd {
		v.add(prefix+"end", "missing (HH:MM)")
	}
	return w, src, len(v.errs) == before
}

// tableKeys calls each for every key of the table name, in the order of
// their names, with the key, its full name ("name.key") and its value; it
// records that name must be a table when val is not one.
func (v *validator) tableKeys(name string, val any, each func(k, key string, val any)) {
	t, ok := val.(map[string]any)
	if !ok {
		v.add(name, fmt.Sprintf("must be a table ([%s])", name))
		return
	}
	for _, k := range sortedKeys(t) {
		each(k, name+"."+k, t[k])
	}
}

// cleanPath reports whether s, the value of key, is a clean absolute path,
// and records that it is not one otherwise.
func (v *validator) cleanPath(key, s string) bool {
	if !strings.HasPrefix(s, "/") || filepath.Clean(s) != s {
		v.add(key, fmt.Sprintf("%q is not a clean absolute path", s))
		return false
	}
	return true
}

func (v *validator) fleetLock(fl *FleetLock, val any) {
	v.tableKeys("fleet_lock", val, func(k, key string, val any) {
		switch k {
		case "url", "group", "id", "ca_file", "client_cert", "client_key":
		default:
			v.unknown(key)
			return
		}
		s, ok := v.str(key, val)
		if !ok {
			return
		}
		switch k {
		case "ca_file", "client_cert", "client_key":
			if !v.cleanPath(key, s) {
				return
			}
			src := keySource{file: v.file, line: v.line(key)}
			switch k {
			case "ca_file":
				fl.CAFile, fl.caSrc = s, src
			case "client_cert":
				fl.ClientCert, fl.certSrc = s, src
			case "client_key":
				fl.ClientKey, fl.keySrc = s, src
			}
		case "url":
			if s == "" {
				v.add(key, "is empty; remove [fleet_lock] to switch without a lock")
				return
			}
			if _, err := fleetlock.NormalizeBaseURL(s); err != nil {
				v.add(key, err.Error())
				return
			}
			fl.URL = s
		case "group":
			if err := fleetlock.ValidateGroup(s); err != nil {
				v.add(key, err.Error())
				return
			}
			fl.Group = s
		case "id":
			if err := fleetlock.ValidateID(s); err != nil {
				v.add(key, err.Error())
				return
			}
			fl.ID = s
		}
	})
}

func (v *validator) metrics(m *Metrics, val any) {
	v.tableKeys("metrics", val, func(k, key string, val any) {
		switch k {
		case "enabled":
			if b, ok := v.boolean(key, val); ok {
				m.Enabled = b
			}
		case "directory":
			if s, ok := v.str(key, val); ok && v.cleanPath(key, s) {
				m.Directory = s
			}
		default:
			v.unknown(key)
		}
	})
}

// loadZone accepts IANA names only: time.LoadLocation also takes "Local" and
// file paths, which would make a config depend on the environment.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return nil, fmt.Errorf("invalid zone name %q", name)
	}
	return time.LoadLocation(name)
}

func describe(val any) string {
	switch x := val.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []any, []map[string]any:
		return "a list"
	case map[string]any:
		return "a table"
	case time.Time:
		// BurntSushi/toml decodes local dates and times into a time.Time
		// in a zone named after the kind; show them as they were written.
		switch x.Location().String() {
		case "time-local":
			return x.Format("15:04:05")
		case "date-local":
			return x.Format("2006-01-02")
		case "datetime-local":
			return x.Format("2006-01-02T15:04:05")
		}
		return x.Format(time.RFC3339)
	default:
		return fmt.Sprintf("%v", x)
	}
}
