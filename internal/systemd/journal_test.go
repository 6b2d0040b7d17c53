package systemd

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/kexec-upgrade/kexec-upgrade/internal/textsafe"
)

// Lines as `journalctl -o json MESSAGE_ID=…` prints them on bookworm
// (systemd 252), trimmed of a few trusted fields.
const (
	lineSwitching = `{"__CURSOR":"s=8b2a4c8e0f1d4a5b9c3e2f1a0b9c8d7e;i=1f3a;b=4f0d3c2b1a094e8f8d7c6b5a49382716;m=2b1c9f0;t=64e1f2a3b4c5d;x=9e8d7c6b5a493827","__REALTIME_TIMESTAMP":"1774665000123456","__MONOTONIC_TIMESTAMP":"45203952","_BOOT_ID":"4f0d3c2b1a094e8f8d7c6b5a49382716","_TRANSPORT":"journal","PRIORITY":"5","SYSLOG_IDENTIFIER":"kexec-upgrade","MESSAGE_ID":"33c1eee661c24c599cd6f28c2cc6b471","OBJECT_SYSTEMD_UNIT":"kexec-upgrade.service","KEXEC_UPGRADE_EVENT":"switching","KEXEC_UPGRADE_ATTEMPT":"20260328T023000.000000000Z-6.1.0-51-cloud-amd64","KEXEC_UPGRADE_FROM":"6.1.0-50-cloud-amd64","KEXEC_UPGRADE_FROM_BUILD":"#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)","KEXEC_UPGRADE_TO":"6.1.0-51-cloud-amd64","KEXEC_UPGRADE_TO_BUILD":"#1 SMP PREEMPT_DYNAMIC Debian 6.1.177-1 (2026-08-01)","KEXEC_UPGRADE_QUEUED_AT":"2026-03-28T02:30:00.123Z","MESSAGE":"switching from 6.1.0-50-cloud-amd64 to 6.1.0-51-cloud-amd64: starting kexec.target","_PID":"1234","_UID":"0","_GID":"0","_COMM":"kexec-upgrade","_EXE":"/usr/sbin/kexec-upgrade","_CMDLINE":"/usr/sbin/kexec-upgrade run","_SYSTEMD_UNIT":"kexec-upgrade.service","_HOSTNAME":"bookworm"}`
	// A message with a byte that is not UTF-8: journalctl prints the value
	// as an array of numbers.
	lineBytes = `{"__REALTIME_TIMESTAMP":"1774665000999999","_UID":"0","_BOOT_ID":"4f0d3c2b1a094e8f8d7c6b5a49382716","PRIORITY":"4","MESSAGE_ID":"3e4ec795f4614a1fadf1ae7cebe9e925","KEXEC_UPGRADE_EVENT":"refused","KEXEC_UPGRADE_CHECK":"image","KEXEC_UPGRADE_REASON":[98,97,100,255,32,105,109,97,103,101],"MESSAGE":[114,101,102,117,115,101,100,58,32,255]}`
	// The same field twice in one entry: journalctl prints a list.
	lineRepeated = `{"__REALTIME_TIMESTAMP":"1774665600000000","_UID":"0","_BOOT_ID":"5a1e2d3c4b5a69788796a5b4c3d2e1f0","MESSAGE_ID":"6fd2a3fe14b2437280e27a622796ca1e","KEXEC_UPGRADE_EVENT":"postponed","KEXEC_UPGRADE_CHECK":["window","inhibitor"],"KEXEC_UPGRADE_REASON":[[111,108,100],[110,101,119]],"MESSAGE":"postponed: shutdown is inhibited"}`
	// journalctl prints null for a value above its size limit.
	lineNull = `{"__REALTIME_TIMESTAMP":"1774666200000000","_UID":"0","MESSAGE_ID":"0290f6f5193b44bc87a611aa4c2209e8","KEXEC_UPGRADE_EVENT":"failed","KEXEC_UPGRADE_REASON":null,"KEXEC_UPGRADE_KIND":"load","MESSAGE":"switch to 6.1.0-51-cloud-amd64 not started"}`
	// Another program's entry with a colliding MESSAGE_ID (or a field
	// filter gone wrong): no KEXEC_UPGRADE_EVENT, so it is not ours.
	lineForeign = `{"__REALTIME_TIMESTAMP":"1774666300000000","_UID":"0","MESSAGE_ID":"33c1eee661c24c599cd6f28c2cc6b471","MESSAGE":"something else","SYSLOG_IDENTIFIER":"other"}`
	// A local user's forgery: our MESSAGE_ID and fields, sent with
	// systemd-cat or logger --journald as uid 1000. journald sets _UID
	// from the sender's credentials.
	lineForged = `{"__REALTIME_TIMESTAMP":"1774666400000000","_BOOT_ID":"4f0d3c2b1a094e8f8d7c6b5a49382716","MESSAGE_ID":"c2e072820bdd440f83a40c45f6ac2bec","KEXEC_UPGRADE_EVENT":"verified","KEXEC_UPGRADE_ATTEMPT":"20260328T023000.000000000Z-6.1.0-51-cloud-amd64","KEXEC_UPGRADE_OUTCOME":"verified","MESSAGE":"verified","_PID":"999","_UID":"1000","_GID":"1000","_COMM":"kexec-upgrade"}`
	// The same without any _UID (a kernel message has none).
	lineNoUID = `{"__REALTIME_TIMESTAMP":"1774666500000000","MESSAGE_ID":"c2e072820bdd440f83a40c45f6ac2bec","KEXEC_UPGRADE_EVENT":"verified","MESSAGE":"verified"}`
	// Root's entry whose text carries escape sequences and newlines (a
	// reason quoting someone else's words).
	lineHostile = `{"__REALTIME_TIMESTAMP":"1774666600000000","_UID":"0","MESSAGE_ID":"6fd2a3fe14b2437280e27a622796ca1e","KEXEC_UPGRADE_EVENT":"postponed","KEXEC_UPGRADE_REASON":"held by \u001b[31mdb\u001b[0m\nkexec-upgrade: fake line\u202e","MESSAGE":"postponed:\r\n\u001b]0;title\u0007x"}`
)

func TestParseJournalJSON(t *testing.T) {
	boot1 := "4f0d3c2b1a094e8f8d7c6b5a49382716"
	switching := Event{
		Kind:    EventSwitching,
		Message: "switching from 6.1.0-50-cloud-amd64 to 6.1.0-51-cloud-amd64: starting kexec.target",
		Time:    time.UnixMicro(1774665000123456),
		BootID:  boot1,
		Fields: map[string]string{
			"ATTEMPT":    "20260328T023000.000000000Z-6.1.0-51-cloud-amd64",
			"FROM":       "6.1.0-50-cloud-amd64",
			"FROM_BUILD": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)",
			"TO":         "6.1.0-51-cloud-amd64",
			"TO_BUILD":   "#1 SMP PREEMPT_DYNAMIC Debian 6.1.177-1 (2026-08-01)",
			"QUEUED_AT":  "2026-03-28T02:30:00.123Z",
		},
	}
	refusedBytes := Event{
		Kind:    EventRefused,
		Message: "refused: \ufffd",
		Time:    time.UnixMicro(1774665000999999),
		BootID:  boot1,
		Fields:  map[string]string{"CHECK": "image", "REASON": "bad\ufffd image"},
	}
	repeated := Event{
		Kind:    EventPostponed,
		Message: "postponed: shutdown is inhibited",
		Time:    time.UnixMicro(1774665600000000),
		BootID:  "5a1e2d3c4b5a69788796a5b4c3d2e1f0",
		Fields:  map[string]string{"CHECK": "inhibitor", "REASON": "new"},
	}
	nullValue := Event{
		Kind:    EventFailed,
		Message: "switch to 6.1.0-51-cloud-amd64 not started",
		Time:    time.UnixMicro(1774666200000000),
		Fields:  map[string]string{"REASON": "", "KIND": "load"},
	}

	hostile := Event{
		Kind:    EventPostponed,
		Message: "postponed: ]0;titlex",
		Time:    time.UnixMicro(1774666600000000),
		Fields:  map[string]string{"REASON": "held by [31mdb[0m kexec-upgrade: fake line"},
	}

	tests := []struct {
		name    string
		in      string
		want    []Event
		wantErr string
	}{
		{name: "empty_output", in: ""},
		{name: "no_entries", in: "-- No entries --\n"},
		{name: "one_entry", in: lineSwitching + "\n", want: []Event{switching}},
		{name: "no_final_newline", in: lineSwitching, want: []Event{switching}},
		{name: "byte_array_values", in: lineBytes + "\n", want: []Event{refusedBytes}},
		{name: "repeated_fields_last_wins", in: lineRepeated + "\n", want: []Event{repeated}},
		{name: "null_value", in: lineNull + "\n", want: []Event{nullValue}},
		{name: "foreign_entry_skipped", in: lineForeign + "\n" + lineSwitching + "\n", want: []Event{switching}},
		{name: "forged_entry_of_another_uid_skipped", in: lineForged + "\n" + lineSwitching + "\n" + lineForged + "\n", want: []Event{switching}},
		{name: "entry_without_uid_skipped", in: lineNoUID + "\n" + lineSwitching + "\n", want: []Event{switching}},
		{name: "hostile_text_made_one_line", in: lineHostile + "\n", want: []Event{hostile}},
		{
			name: "blank_lines_and_crlf",
			in:   "\n\n" + lineSwitching + "\r\n\n   \n" + lineBytes + "\r\n\n",
			want: []Event{switching, refusedBytes},
		},
		{
			name: "several_in_order",
			in:   lineSwitching + "\n" + lineBytes + "\n" + lineRepeated + "\n" + lineNull + "\n",
			want: []Event{switching, refusedBytes, repeated, nullValue},
		},
		{
			name: "number_value_ignored",
			in:   `{"__REALTIME_TIMESTAMP":"1","_UID":"0","KEXEC_UPGRADE_EVENT":"verified","KEXEC_UPGRADE_DURATION":2.5,"KEXEC_UPGRADE_TO":[1,300]}` + "\n",
			want: []Event{{Kind: EventVerified, Time: time.UnixMicro(1), Fields: map[string]string{}}},
		},
		{
			name:    "garbled_entry",
			in:      lineSwitching + "\n" + `{"MESSAGE":"cut off` + "\n",
			want:    []Event{switching},
			wantErr: "journal entry 2",
		},
		{
			name:    "bad_timestamp",
			in:      `{"__REALTIME_TIMESTAMP":"yesterday","_UID":"0","KEXEC_UPGRADE_EVENT":"verified"}` + "\n",
			wantErr: `timestamp "yesterday"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseJournalJSON([]byte(tc.in))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("ParseJournalJSON() error = %v; want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("ParseJournalJSON() error = %v; want one containing %q", err, tc.wantErr)
			}
			if diff := diffEvents(got, tc.want); diff != "" {
				t.Errorf("ParseJournalJSON() %s", diff)
			}
		})
	}
}

func TestParseJournalJSONLongLine(t *testing.T) {
	// A reason of 100 KiB is longer than bufio.Scanner's default token; it
	// is read, and cut to MaxFieldText.
	long := strings.Repeat("x", 100*1024)
	line := `{"__REALTIME_TIMESTAMP":"5","_UID":"0","KEXEC_UPGRADE_EVENT":"refused","KEXEC_UPGRADE_REASON":"` + long + `"}`
	got, err := ParseJournalJSON([]byte(line + "\n"))
	if err != nil {
		t.Fatalf("ParseJournalJSON(100 KiB line) error = %v; want none", err)
	}
	if len(got) != 1 {
		t.Fatalf("ParseJournalJSON(100 KiB line) = %d events; want one", len(got))
	}
	if r := got[0].Fields["REASON"]; len(r) > MaxFieldText || !strings.HasPrefix(r, "xxxx") || !strings.HasSuffix(r, "…") {
		t.Fatalf("ParseJournalJSON(100 KiB line) reason = %d bytes; want the start of it, cut to at most %d bytes with …", len(r), MaxFieldText)
	}
}

func TestJournalctlArgs(t *testing.T) {
	tests := []struct {
		name  string
		kinds []string
		want  string
	}{
		{
			name:  "one_kind",
			kinds: []string{EventVerified},
			want:  "--no-pager -o json MESSAGE_ID=c2e072820bdd440f83a40c45f6ac2bec _UID=0 _COMM=kexec-upgrade",
		},
		{
			name:  "two_kinds_or_ed",
			kinds: []string{EventSwitching, EventFailed},
			want:  "--no-pager -o json MESSAGE_ID=33c1eee661c24c599cd6f28c2cc6b471 MESSAGE_ID=0290f6f5193b44bc87a611aa4c2209e8 _UID=0 _COMM=kexec-upgrade",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(JournalctlArgs(tc.kinds...), " "); got != tc.want {
				t.Errorf("JournalctlArgs(%q) = %q; want %q", tc.kinds, got, tc.want)
			}
		})
	}
	t.Run("all_kinds_then_the_trusted_matches", func(t *testing.T) {
		args := JournalctlArgs()
		if n := len(args); n != 3+len(Kinds())+2 || args[n-2] != "_UID=0" || args[n-1] != "_COMM=kexec-upgrade" {
			t.Errorf("JournalctlArgs() = %q; want every MESSAGE_ID, then _UID=0 and _COMM=kexec-upgrade", args)
		}
	})
}

func TestMessageID(t *testing.T) {
	// The contract: these IDs are in the catalog, the man page and admins'
	// journalctl filters.
	contract := map[string]string{
		EventConfigError: "9e1aca6540f243bd978ed3b40c49f39b",
		EventPostponed:   "6fd2a3fe14b2437280e27a622796ca1e",
		EventRefused:     "3e4ec795f4614a1fadf1ae7cebe9e925",
		EventStaged:      "f3ddd7ba52a846bf859c8e525d03b3e9",
		EventSwitching:   "33c1eee661c24c599cd6f28c2cc6b471",
		EventVerified:    "c2e072820bdd440f83a40c45f6ac2bec",
		EventFailed:      "0290f6f5193b44bc87a611aa4c2209e8",
	}
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := make(map[string]string)
	for _, kind := range Kinds() {
		t.Run(strings.ReplaceAll(kind, "-", "_"), func(t *testing.T) {
			id := MessageID(kind)
			if !hex32.MatchString(id) {
				t.Errorf("MessageID(%q) = %q; want 32 lowercase hex digits", kind, id)
			}
			if other, dup := seen[id]; dup {
				t.Errorf("MessageID(%q) = %q; the same as MessageID(%q)", kind, id, other)
			}
			seen[id] = kind
			if want, ok := contract[kind]; ok && id != want {
				t.Errorf("MessageID(%q) = %q; want %q (the documented ID)", kind, id, want)
			}
		})
	}
	for kind := range contract {
		if _, ok := seen[MessageID(kind)]; !ok {
			t.Errorf("Kinds() lacks %q", kind)
		}
	}
	if id := MessageID("rebooted"); id != "" {
		t.Errorf(`MessageID("rebooted") = %q; want ""`, id)
	}
}

// TestCatalogIDs checks that the journal catalog shipped in the package
// documents every documented event with the ID the code writes.
func TestCatalogIDs(t *testing.T) {
	data, err := os.ReadFile("../../packaging/kexec-upgrade.catalog")
	if err != nil {
		t.Skipf("no catalog to compare with: %v", err)
	}
	for _, kind := range []string{EventConfigError, EventPostponed, EventRefused, EventStaged, EventSwitching, EventVerified, EventFailed} {
		if !bytes.Contains(data, []byte("-- "+MessageID(kind)+"\n")) {
			t.Errorf("packaging/kexec-upgrade.catalog has no entry \"-- %s\" for %s", MessageID(kind), kind)
		}
	}
}

func TestEventPriority(t *testing.T) {
	tests := []struct {
		kind string
		want journal.Priority
	}{
		{EventFailed, journal.PriErr},
		{EventConfigError, journal.PriWarning},
		{EventRefused, journal.PriWarning},
		{EventSwitching, journal.PriNotice},
		{EventVerified, journal.PriNotice},
		{EventStaged, journal.PriNotice},
		{EventPostponed, journal.PriInfo},
		{EventUpToDate, journal.PriInfo},
	}
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.kind, "-", "_"), func(t *testing.T) {
			if got := (Event{Kind: tc.kind}).Priority(); got != tc.want {
				t.Errorf("Event{Kind: %q}.Priority() = %d; want %d", tc.kind, got, tc.want)
			}
		})
	}
}

func TestJournalSendUnknownKind(t *testing.T) {
	err := Journal{}.Send(Event{Kind: "rebooted", Message: "x"})
	if err == nil || !strings.Contains(err.Error(), `"rebooted"`) {
		t.Fatalf(`Send(kind "rebooted") error = %v; want one naming the unknown kind`, err)
	}
}

func FuzzParseJournalJSON(f *testing.F) {
	for _, l := range []string{lineSwitching, lineBytes, lineRepeated, lineNull, lineForeign, lineForged, lineHostile} {
		f.Add([]byte(l+"\n"), []byte(lineSwitching))
		f.Add([]byte(l), []byte("-- No entries --"))
	}
	f.Add([]byte("\r\n\r\n"), []byte(`{"KEXEC_UPGRADE_EVENT":[[[[1]]]]}`))
	f.Add([]byte(`{"KEXEC_UPGRADE_EVENT":"x","__REALTIME_TIMESTAMP":"-62135596800000000"}`), []byte(`{"KEXEC_UPGRADE_":null}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		evA, errA := ParseJournalJSON(a)
		checkEvents(t, evA)
		evB, errB := ParseJournalJSON(b)
		checkEvents(t, evB)
		if errA != nil || errB != nil {
			return
		}
		// Entries are lines: output read in two pieces parses like the whole.
		joined := append(append(append([]byte{}, a...), '\n'), b...)
		both, err := ParseJournalJSON(joined)
		if err != nil {
			t.Fatalf("ParseJournalJSON(a+\"\\n\"+b) error = %v; want none, as a and b parse alone", err)
		}
		if diff := diffEvents(both, append(append([]Event{}, evA...), evB...)); diff != "" {
			t.Fatalf("ParseJournalJSON(a+\"\\n\"+b) is not a's events then b's: %s", diff)
		}
		// Every event survives being written back the way journalctl
		// prints it (byte arrays for non-UTF-8 values) and parsed again.
		for _, e := range evA {
			again, err := ParseJournalJSON(encodeEntry(t, e))
			if err != nil {
				t.Fatalf("ParseJournalJSON(encoded %+v) error = %v", e, err)
			}
			if diff := diffEvents(again, []Event{e}); diff != "" {
				t.Fatalf("event does not survive a round trip: %s", diff)
			}
		}
	})
}

func checkEvents(t *testing.T, events []Event) {
	t.Helper()
	for i, e := range events {
		if e.Kind == "" {
			t.Fatalf("event %d has an empty Kind: %+v", i, e)
		}
		if e.Fields == nil {
			t.Fatalf("event %d has nil Fields: %+v", i, e)
		}
		if _, ok := e.Fields["EVENT"]; ok {
			t.Fatalf("event %d keeps KEXEC_UPGRADE_EVENT among its Fields: %+v", i, e)
		}
		// Every text is one harmless line: cleaning it again changes nothing.
		texts := map[string]string{"Kind": e.Kind, "Message": e.Message, "BootID": e.BootID}
		for k, v := range e.Fields {
			texts["Fields["+k+"]"] = v
		}
		for name, v := range texts {
			if v != textsafe.Line(v, MaxFieldText) {
				t.Fatalf("event %d %s = %q; want one line of printable text", i, name, v)
			}
		}
	}
}

// encodeEntry writes an event as one line of `journalctl -o json`.
func encodeEntry(t *testing.T, e Event) []byte {
	t.Helper()
	obj := map[string]any{"_UID": "0", "KEXEC_UPGRADE_EVENT": journalValue(e.Kind), "MESSAGE": journalValue(e.Message), "_BOOT_ID": journalValue(e.BootID)}
	if !e.Time.IsZero() {
		obj["__REALTIME_TIMESTAMP"] = strconv.FormatInt(e.Time.UnixMicro(), 10)
	}
	for k, v := range e.Fields {
		obj["KEXEC_UPGRADE_"+k] = journalValue(v)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("encode %+v: %v", e, err)
	}
	return append(data, '\n')
}

func journalValue(s string) any {
	if utf8.ValidString(s) {
		return s
	}
	ints := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		ints[i] = int(s[i])
	}
	return ints
}

// diffEvents describes the first difference between two event lists, ""
// when they are equal (times compared as instants).
func diffEvents(got, want []Event) string {
	if len(got) != len(want) {
		return "= " + strconv.Itoa(len(got)) + " events " + describe(got) + "; want " + strconv.Itoa(len(want)) + " " + describe(want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Kind != w.Kind || g.Message != w.Message || g.BootID != w.BootID || !g.Time.Equal(w.Time) || !sameFields(g.Fields, w.Fields) {
			return "event " + strconv.Itoa(i) + " = " + describe([]Event{g}) + "; want " + describe([]Event{w})
		}
	}
	return ""
}

func sameFields(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func describe(events []Event) string {
	var b strings.Builder
	b.WriteString("[")
	for i, e := range events {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(e.Kind) + " " + strconv.Quote(e.Message) + " " + e.Time.UTC().Format(time.RFC3339Nano) + " boot=" + e.BootID)
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteString(" " + k + "=" + strconv.Quote(e.Fields[k]))
		}
	}
	b.WriteString("]")
	return b.String()
}
