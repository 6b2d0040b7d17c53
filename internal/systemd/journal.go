package systemd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/kexec-upgrade/kexec-upgrade/internal/textsafe"
)

// Event kinds, each with its own MESSAGE_ID (see the journal catalog).
const (
	EventConfigError = "config-error"
	EventPostponed   = "postponed"
	EventRefused     = "refused"
	EventStaged      = "staged"
	EventSwitching   = "switching"
	EventVerified    = "verified"
	EventFailed      = "failed"
	EventUpToDate    = "up-to-date"
	EventFleetLock   = "fleet-lock"
	// EventUnstaged: a run undid a switch that an earlier run of this boot
	// started and never queued (it was killed): the kernel is unloaded.
	EventUnstaged = "unstaged"
	// EventHook: a pre- or post-switch hook ran (its output is in
	// KEXEC_UPGRADE_HOOK_OUTPUT).
	EventHook = "hook"
	// EventPause: an admin paused or resumed automatic switches, or a
	// pause ran out (KEXEC_UPGRADE_PAUSE = set, cleared or expired).
	EventPause = "pause"
	// EventTrial: a switch's trial boot moved on (the fallback and
	// watchdog armed, the health gate waiting or passed); KEXEC_UPGRADE_TRIAL
	// names the step.
	EventTrial = "trial"
	// EventRolledBack: a new kernel failed its health gate and the machine
	// was switched back by kexec to the last verified kernel.
	EventRolledBack = "rolled-back"
)

// MessageID returns the MESSAGE_ID of an event kind, "" for an unknown one.
func MessageID(kind string) string {
	switch kind {
	case EventConfigError:
		return "9e1aca6540f243bd978ed3b40c49f39b"
	case EventPostponed:
		return "6fd2a3fe14b2437280e27a622796ca1e"
	case EventRefused:
		return "3e4ec795f4614a1fadf1ae7cebe9e925"
	case EventStaged:
		return "f3ddd7ba52a846bf859c8e525d03b3e9"
	case EventSwitching:
		return "33c1eee661c24c599cd6f28c2cc6b471"
	case EventVerified:
		return "c2e072820bdd440f83a40c45f6ac2bec"
	case EventFailed:
		return "0290f6f5193b44bc87a611aa4c2209e8"
	case EventUpToDate:
		return "8d5cc0d4a3f84e0c9a8e61f1b3b1a4d2"
	case EventFleetLock:
		return "131e87a1b9de4a80b5c8a5907270566f"
	case EventUnstaged:
		return "5b1e0c7d2f8a4e6b9c3d1a0f7e6b5c4d"
	case EventHook:
		return "a7d3e5f1c9b24f0e8d6c4b2a1f0e9d8c"
	case EventPause:
		return "e4c2a0f8d6b44e2c9a7f5d3b1c0e8f6a"
	case EventTrial:
		return "a2c92826b89d4914a52f0fcddaa0115f"
	case EventRolledBack:
		return "392b3cf8f9c547e38d09b2f8a39211f6"
	}
	return ""
}

// Kinds lists every event kind.
func Kinds() []string {
	return []string{EventConfigError, EventPostponed, EventRefused, EventStaged, EventSwitching, EventVerified, EventFailed, EventUpToDate, EventFleetLock, EventUnstaged, EventHook, EventPause, EventTrial, EventRolledBack}
}

// Event is one structured journal entry. Fields become KEXEC_UPGRADE_<NAME>.
type Event struct {
	Kind    string
	Message string
	// Fields are extra KEXEC_UPGRADE_* fields (FROM, TO, REASON, CHECK, ...),
	// keyed without the prefix.
	Fields map[string]string
	// Time is when it happened; set by the reader from the journal.
	Time time.Time
	// BootID is the boot the entry was written in; set by the reader.
	BootID string
}

// Priority maps kinds to syslog priorities: failures are errors, refusals
// and config errors warnings, the rest informational.
func (e Event) Priority() journal.Priority {
	switch e.Kind {
	case EventFailed:
		return journal.PriErr
	case EventConfigError, EventRefused, EventRolledBack:
		return journal.PriWarning
	case EventSwitching, EventVerified, EventStaged, EventUnstaged, EventTrial:
		return journal.PriNotice
	default:
		return journal.PriInfo
	}
}

// Journal writes events to the systemd journal.
type Journal struct{}

// Send writes one event. OBJECT_SYSTEMD_UNIT makes `journalctl -u
// kexec-upgrade` find entries even when journald could not attribute a
// short-lived process to its unit.
func (Journal) Send(e Event) error {
	id := MessageID(e.Kind)
	if id == "" {
		return fmt.Errorf("journal: unknown event kind %q", e.Kind)
	}
	vars := map[string]string{
		"MESSAGE_ID":          id,
		"SYSLOG_IDENTIFIER":   "kexec-upgrade",
		"OBJECT_SYSTEMD_UNIT": "kexec-upgrade.service",
		"KEXEC_UPGRADE_EVENT": e.Kind,
	}
	for k, v := range e.Fields {
		vars["KEXEC_UPGRADE_"+k] = v
	}
	if !journal.Enabled() {
		return errors.New("journal: the journald socket is not available")
	}
	if err := journal.Send(e.Message, e.Priority(), vars); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Trusted journal fields that say who wrote an entry. journald sets fields
// that begin with "_" itself, from the sender's credentials; a client
// cannot forge them.
const (
	// trustedUID is the _UID of our entries: the service runs as root.
	trustedUID = "0"
	// trustedComm is the _COMM of our entries: the process name of
	// /usr/sbin/kexec-upgrade.
	trustedComm = "kexec-upgrade"
)

// MaxFieldText bounds each text field read back from the journal, in bytes.
const MaxFieldText = 4096

// ReadEvents returns every kexec-upgrade event in the journal, oldest first,
// by running journalctl (reading the journal files directly needs cgo). Only
// entries that root's kexec-upgrade process wrote are read: any local user
// can send journal entries with our MESSAGE_IDs and fields.
func ReadEvents(ctx context.Context, kinds ...string) ([]Event, error) {
	cmd := exec.CommandContext(ctx, "journalctl", JournalctlArgs(kinds...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("journalctl: %w: %s", err, textsafe.Line(stderr.String(), MaxFieldText))
	}
	return ParseJournalJSON(out)
}

// JournalctlArgs returns journalctl's arguments for reading events of kinds
// (every kind when none is given). journalctl ORs matches of the same field
// and ANDs different fields: any of our MESSAGE_IDs, written by uid 0, from
// a process named kexec-upgrade.
func JournalctlArgs(kinds ...string) []string {
	args := []string{"--no-pager", "-o", "json"}
	if len(kinds) == 0 {
		kinds = Kinds()
	}
	for _, k := range kinds {
		args = append(args, "MESSAGE_ID="+MessageID(k))
	}
	return append(args, "_UID="+trustedUID, "_COMM="+trustedComm)
}

// ParseJournalJSON parses `journalctl -o json` output (one object a line).
// Values journald stores as byte arrays (non-UTF-8) are decoded too. Entries
// whose trusted _UID is not root's are dropped, whatever journalctl was
// asked for, and every text read is made one harmless line of at most
// MaxFieldText bytes (see textsafe.Line): history prints it to root's
// terminal.
func ParseJournalJSON(data []byte) ([]Event, error) {
	var events []Event
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 || raw[0] != '{' {
			continue // "-- No entries --" and the like
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return events, fmt.Errorf("journal entry %d: %w", line, err)
		}
		if uid, ok := jsonValue(obj["_UID"]); !ok || uid != trustedUID {
			continue // not written by root: forged or foreign
		}
		e := Event{Fields: map[string]string{}}
		for k, v := range obj {
			s, ok := jsonValue(v)
			if !ok {
				continue
			}
			switch {
			case k == "MESSAGE":
				e.Message = textsafe.Line(s, MaxFieldText)
			case k == "_BOOT_ID":
				e.BootID = textsafe.Line(s, 64)
			case k == "__REALTIME_TIMESTAMP":
				usec, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return events, fmt.Errorf("journal entry %d: timestamp %q: %w", line, s, err)
				}
				e.Time = time.UnixMicro(usec)
			case k == "KEXEC_UPGRADE_EVENT":
				e.Kind = textsafe.Line(s, 64)
			case strings.HasPrefix(k, "KEXEC_UPGRADE_"):
				e.Fields[strings.TrimPrefix(k, "KEXEC_UPGRADE_")] = textsafe.Line(s, MaxFieldText)
			}
		}
		if e.Kind == "" {
			continue
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		return events, fmt.Errorf("read journal output: %w", err)
	}
	return events, nil
}

// jsonValue decodes a journal JSON value: a string, a byte array, or (for
// a field repeated in one entry) an array of those, of which the last wins.
func jsonValue(v json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s, true
	}
	var b []byte
	var ints []int
	if json.Unmarshal(v, &ints) == nil {
		for _, i := range ints {
			if i < 0 || i > 255 {
				return "", false
			}
			b = append(b, byte(i))
		}
		return string(b), true
	}
	var list []json.RawMessage
	if json.Unmarshal(v, &list) == nil && len(list) > 0 {
		return jsonValue(list[len(list)-1])
	}
	return "", false
}
