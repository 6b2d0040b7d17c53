package systemd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/textsafe"
)

// BootTimes are systemd's timestamps of this boot.
type BootTimes struct {
	// Userspace is when systemd started (realtime); UserspaceMonotonic is
	// the same instant on the monotonic clock, which starts with the
	// kernel: the time the kernel took to reach userspace.
	Userspace          time.Time
	UserspaceMonotonic time.Duration
	// Finish is when the boot finished (zero while it has not).
	Finish time.Time
}

// BootTimes reads the manager's UserspaceTimestamp, its monotonic twin and
// FinishTimestamp.
func (b *Bus) BootTimes(ctx context.Context) (BootTimes, error) {
	var bt BootTimes
	get := func(name string) (uint64, error) {
		v, err := b.property(ctx, "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", name)
		if err != nil {
			return 0, fmt.Errorf("read systemd's %s: %w", name, err)
		}
		usec, ok := v.Value().(uint64)
		if !ok {
			return 0, fmt.Errorf("read systemd's %s: unexpected type %s", name, v.Signature())
		}
		return usec, nil
	}
	us, err := get("UserspaceTimestamp")
	if err != nil {
		return bt, err
	}
	mono, err := get("UserspaceTimestampMonotonic")
	if err != nil {
		return bt, err
	}
	finish, err := get("FinishTimestamp")
	if err != nil {
		return bt, err
	}
	bt.Userspace, bt.UserspaceMonotonic = time.UnixMicro(int64(us)), time.Duration(mono)*time.Microsecond
	if finish != 0 {
		bt.Finish = time.UnixMicro(int64(finish))
	}
	return bt, nil
}

// UnitTime is how long one unit took to start or to stop.
type UnitTime struct {
	Unit    string  `json:"unit"`
	Seconds float64 `json:"seconds"`
}

// slowestShown is how many units a breakdown names.
const slowestShown = 3

// SlowestStarts returns the units of this boot that took longest to start,
// as `systemd-analyze blame` lists them.
func SlowestStarts(ctx context.Context) ([]UnitTime, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemd-analyze", "blame", "--no-pager").Output()
	if err != nil {
		return nil, fmt.Errorf("systemd-analyze blame: %w", err)
	}
	return ParseBlame(out, slowestShown), nil
}

// ParseBlame reads `systemd-analyze blame` ("1min 30.123s foo.service",
// slowest first) and keeps the first n units. It is pure.
func ParseBlame(out []byte, n int) []UnitTime {
	var list []UnitTime
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() && len(list) < n {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		unit := f[len(f)-1]
		d, err := parseSpan(strings.Join(f[:len(f)-1], " "))
		if err != nil {
			continue
		}
		list = append(list, UnitTime{Unit: unit, Seconds: d.Seconds()})
	}
	return list
}

// parseSpan reads systemd's time spans: "1min 30.123s", "850ms", "2.5s".
func parseSpan(s string) (time.Duration, error) {
	var total time.Duration
	parts := strings.Fields(s)
	if len(parts) == 0 {
		return 0, fmt.Errorf("empty time span")
	}
	for _, part := range parts {
		i := strings.IndexFunc(part, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i <= 0 {
			return 0, fmt.Errorf("time span %q", s)
		}
		v, err := strconv.ParseFloat(part[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("time span %q: %w", s, err)
		}
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "min": time.Minute, "h": time.Hour}[part[i:]]
		if unit == 0 {
			return 0, fmt.Errorf("time span %q: unit %q", s, part[i:])
		}
		total += time.Duration(v * float64(unit))
	}
	return total, nil
}

// Journal MESSAGE_IDs systemd writes when a unit starts and ends stopping.
const (
	msgUnitStopping = "de5b426a63be47a7b6ac3eaac82e2f6f"
	msgUnitStopped  = "9d1aaa27d60140bd96365438aad20286"
)

// SlowestStops returns the units of the previous boot that took longest to
// stop, from its journal; an error when that boot's journal is not kept
// (Storage=volatile, the Debian default without /var/log/journal).
func SlowestStops(ctx context.Context) ([]UnitTime, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "journalctl", "-b", "-1", "-o", "json", "--no-pager", "_PID=1",
		"MESSAGE_ID="+msgUnitStopping, "MESSAGE_ID="+msgUnitStopped).Output()
	if err != nil {
		return nil, fmt.Errorf("the previous boot's journal is not kept (journalctl -b -1: %w)", err)
	}
	return ParseStopTimes(out, slowestShown), nil
}

// ParseStopTimes pairs "Stopping" and "Stopped" entries of journalctl's
// JSON output per unit and keeps the n slowest. It is pure.
func ParseStopTimes(out []byte, n int) []UnitTime {
	stopping := map[string]int64{}
	var list []UnitTime
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		e, err := parseJournalLine(sc.Bytes())
		if err != nil {
			continue
		}
		unit, usec := e["UNIT"], e["__REALTIME_TIMESTAMP"]
		t, err := strconv.ParseInt(usec, 10, 64)
		if unit == "" || err != nil {
			continue
		}
		switch e["MESSAGE_ID"] {
		case msgUnitStopping:
			stopping[unit] = t
		case msgUnitStopped:
			if start, ok := stopping[unit]; ok && t >= start {
				list = append(list, UnitTime{Unit: unit, Seconds: float64(t-start) / 1e6})
				delete(stopping, unit)
			}
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].Seconds > list[j].Seconds })
	if len(list) > n {
		list = list[:n]
	}
	return list
}

// parseJournalLine decodes one entry of journalctl's JSON output into its
// string fields; unit names are made harmless.
func parseJournalLine(raw []byte) (map[string]string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(raw), &obj); err != nil {
		return nil, err
	}
	e := make(map[string]string, 4)
	for _, k := range []string{"UNIT", "MESSAGE_ID", "__REALTIME_TIMESTAMP"} {
		if s, ok := jsonValue(obj[k]); ok {
			e[k] = textsafe.Line(s, 256)
		}
	}
	return e, nil
}
