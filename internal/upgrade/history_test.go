package upgrade_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

func TestHistory(t *testing.T) {
	base := time.Date(2026, 3, 7, 2, 30, 0, 0, time.UTC)
	k50 := state.Kernel{Release: "6.1.0-50-cloud-amd64", Build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)"}
	k51 := state.Kernel{Release: "6.1.0-51-cloud-amd64", Build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.177-1 (2026-08-01)"}
	k52 := state.Kernel{Release: "6.1.0-52-cloud-amd64", Build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.178-1 (2026-09-01)"}
	id := func(week int, to state.Kernel) string {
		return base.AddDate(0, 0, 7*week).Format("20060102T150405.000000000Z") + "-" + to.Release
	}
	at := func(week int) time.Time { return base.AddDate(0, 0, 7*week) }
	secs := func(s float64) *float64 { return &s }

	// event builds a journal event the way Run writes it (attemptFields)
	// and journalctl gives it back (Time, BootID).
	event := func(kind string, a state.Attempt, written time.Time) systemd.Event {
		f := map[string]string{
			"ATTEMPT": a.ID, "OUTCOME": a.Outcome, "KIND": a.Kind, "REASON": a.Reason,
			"FROM": a.From.Release, "FROM_BUILD": a.From.Build, "TO": a.To.Release, "TO_BUILD": a.To.Build,
			"AT": a.At.UTC().Format(time.RFC3339Nano),
		}
		if a.DurationSeconds != nil {
			f["DURATION"] = fmt.Sprintf("%.3f", *a.DurationSeconds)
		}
		if a.Forced {
			f["FORCED"] = "1"
		}
		return systemd.Event{Kind: kind, Message: kind, Fields: f, Time: written, BootID: "b"}
	}

	verified51 := state.Attempt{ID: id(0, k51), At: at(0).Add(3 * time.Minute), From: k50, To: k51, Outcome: state.OutcomeVerified, DurationSeconds: secs(2.25)}
	failed52 := state.Attempt{ID: id(1, k52), At: at(1).Add(2 * time.Minute), From: k51, To: k52, Outcome: state.OutcomeFailed, Kind: state.FailOldKernel, Reason: "the old kernel came back"}
	loadFailed52 := state.Attempt{ID: id(2, k52), At: at(2), From: k51, To: k52, Outcome: state.OutcomeLoadFailed, Kind: state.FailLoad, Reason: "kexec_file_load: ENOEXEC"}
	loadFailed52InState := loadFailed52
	loadFailed52InState.Reason = "kexec_file_load: ENOEXEC (as the state file has it)"
	forced52 := state.Attempt{ID: id(3, k52), At: at(3).Add(time.Minute), From: k51, To: k52, Outcome: state.OutcomeVerified, Forced: true}
	switching := func(a state.Attempt) systemd.Event {
		q := a
		q.Outcome, q.Kind, q.Reason, q.DurationSeconds = "", "", "", nil
		q.At = at(weekOf(base, a.At))
		return event(systemd.EventSwitching, q, q.At)
	}

	tests := []struct {
		name   string
		events []systemd.Event
		st     state.State
		want   []state.Attempt
	}{
		{name: "nothing"},
		{
			name: "state_only",
			st:   state.State{Attempts: []state.Attempt{verified51, failed52}},
			want: []state.Attempt{verified51, failed52},
		},
		{
			name:   "journal_only_when_the_state_file_lost_them",
			events: []systemd.Event{switching(verified51), event(systemd.EventVerified, verified51, verified51.At), switching(failed52), event(systemd.EventFailed, failed52, failed52.At)},
			want:   []state.Attempt{verified51, failed52},
		},
		{
			name:   "dedupe_by_id_state_wins",
			events: []systemd.Event{switching(verified51), event(systemd.EventVerified, verified51, verified51.At), event(systemd.EventFailed, loadFailed52, loadFailed52.At)},
			st:     state.State{Attempts: []state.Attempt{verified51, loadFailed52InState}},
			want:   []state.Attempt{verified51, loadFailed52InState},
		},
		{
			name:   "journal_keeps_older_attempts_the_state_dropped",
			events: []systemd.Event{event(systemd.EventVerified, verified51, verified51.At), event(systemd.EventFailed, failed52, failed52.At)},
			st:     state.State{Attempts: []state.Attempt{forced52}},
			want:   []state.Attempt{verified51, failed52, forced52},
		},
		{
			name:   "ordered_by_time_not_input",
			events: []systemd.Event{event(systemd.EventVerified, forced52, forced52.At), event(systemd.EventVerified, verified51, verified51.At)},
			st:     state.State{Attempts: []state.Attempt{failed52}},
			want:   []state.Attempt{verified51, failed52, forced52},
		},
		{
			name:   "pending_from_the_journal",
			events: []systemd.Event{switching(verified51)},
			want:   []state.Attempt{{ID: verified51.ID, At: at(0), From: k50, To: k51, Outcome: upgrade.OutcomePending}},
		},
		{
			name: "pending_from_the_state_file",
			st: state.State{Attempts: []state.Attempt{verified51}, Staged: &state.Staged{
				ID: id(1, k52), From: k51, To: k52, OldBootID: "x", StagedAt: at(1), QueuedAt: at(1).Add(time.Second), Forced: true}},
			want: []state.Attempt{verified51, {ID: id(1, k52), At: at(1).Add(time.Second), From: k51, To: k52, Outcome: upgrade.OutcomePending, Forced: true}},
		},
		{
			name:   "pending_in_both_shown_once",
			events: []systemd.Event{switching(failed52)},
			st: state.State{Staged: &state.Staged{
				ID: failed52.ID, From: k51, To: k52, OldBootID: "x", StagedAt: at(1), QueuedAt: at(1)}},
			want: []state.Attempt{{ID: failed52.ID, At: at(1), From: k51, To: k52, Outcome: upgrade.OutcomePending}},
		},
		{
			name:   "staged_but_not_queued_is_not_an_attempt",
			events: nil,
			st:     state.State{Staged: &state.Staged{ID: id(1, k52), From: k51, To: k52, StagedAt: at(1)}},
		},
		{
			name:   "outcome_replaces_pending",
			events: []systemd.Event{switching(failed52), event(systemd.EventFailed, failed52, failed52.At)},
			want:   []state.Attempt{failed52},
		},
		{
			name: "decisions_without_attempts_ignored",
			events: []systemd.Event{
				{Kind: systemd.EventPostponed, Message: "postponed: window", Fields: map[string]string{"CHECK": "window", "TO": k51.Release}, Time: at(0)},
				{Kind: systemd.EventStaged, Message: "staged", Fields: map[string]string{"ATTEMPT": verified51.ID}, Time: at(0)},
				{Kind: systemd.EventRefused, Message: "refused", Fields: map[string]string{"ATTEMPT": "stray"}, Time: at(0)},
			},
		},
		{
			name: "event_without_at_uses_journal_time",
			events: []systemd.Event{{Kind: systemd.EventFailed, Message: "failed", Time: at(2), Fields: map[string]string{
				"ATTEMPT": loadFailed52.ID, "OUTCOME": state.OutcomeLoadFailed, "KIND": state.FailLoad, "REASON": loadFailed52.Reason,
				"FROM": k51.Release, "FROM_BUILD": k51.Build, "TO": k52.Release, "TO_BUILD": k52.Build,
			}}},
			want: []state.Attempt{loadFailed52},
		},
		{
			name: "same_time_ordered_by_id",
			st: state.State{Attempts: []state.Attempt{
				{ID: "b", At: at(1), To: k52, Outcome: state.OutcomeLoadFailed},
				{ID: "a", At: at(1), To: k51, Outcome: state.OutcomeVerified},
			}},
			want: []state.Attempt{
				{ID: "a", At: at(1), To: k51, Outcome: state.OutcomeVerified},
				{ID: "b", At: at(1), To: k52, Outcome: state.OutcomeLoadFailed},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := upgrade.History(tc.events, tc.st)
			if !sameAttempts(got, tc.want) {
				t.Errorf("History() =\n  %s\nwant\n  %s", describeAttempts(got), describeAttempts(tc.want))
			}
		})
	}
}

// TestHistoryFromJournal reads history the way the history command does,
// from journalctl's JSON: a local user's forged entries (our MESSAGE_ID and
// fields, but the sender's own _UID) are not attempts, and no text that
// reaches root's terminal carries control characters.
func TestHistoryFromJournal(t *testing.T) {
	const (
		genuineSwitching = `{"__REALTIME_TIMESTAMP":"1772850600000000","_UID":"0","_COMM":"kexec-upgrade","MESSAGE_ID":"33c1eee661c24c599cd6f28c2cc6b471","KEXEC_UPGRADE_EVENT":"switching","KEXEC_UPGRADE_ATTEMPT":"a1","KEXEC_UPGRADE_FROM":"6.1.0-50-cloud-amd64","KEXEC_UPGRADE_TO":"6.1.0-51-cloud-amd64","KEXEC_UPGRADE_AT":"2026-03-07T02:30:00Z","MESSAGE":"switching"}`
		genuineFailed    = `{"__REALTIME_TIMESTAMP":"1772850800000000","_UID":"0","_COMM":"kexec-upgrade","MESSAGE_ID":"0290f6f5193b44bc87a611aa4c2209e8","KEXEC_UPGRADE_EVENT":"failed","KEXEC_UPGRADE_ATTEMPT":"a1","KEXEC_UPGRADE_OUTCOME":"failed","KEXEC_UPGRADE_KIND":"old-kernel","KEXEC_UPGRADE_FROM":"6.1.0-50-cloud-amd64","KEXEC_UPGRADE_TO":"6.1.0-51-cloud-amd64","KEXEC_UPGRADE_REASON":"inhibited by \u001b[31mdb\u001b[0m:\nbackup\r\n\u202erunning","KEXEC_UPGRADE_AT":"2026-03-07T02:33:00Z","MESSAGE":"failed"}`
		// uid 1000 claims a1 was verified, and invents a second attempt.
		forgedOutcome = `{"__REALTIME_TIMESTAMP":"1772850900000000","_UID":"1000","_COMM":"kexec-upgrade","MESSAGE_ID":"c2e072820bdd440f83a40c45f6ac2bec","KEXEC_UPGRADE_EVENT":"verified","KEXEC_UPGRADE_ATTEMPT":"a1","KEXEC_UPGRADE_OUTCOME":"verified","KEXEC_UPGRADE_AT":"2026-03-07T02:34:00Z","MESSAGE":"verified"}`
		forgedAttempt = `{"__REALTIME_TIMESTAMP":"1773455400000000","_UID":"1000","_COMM":"logger","MESSAGE_ID":"c2e072820bdd440f83a40c45f6ac2bec","KEXEC_UPGRADE_EVENT":"verified","KEXEC_UPGRADE_ATTEMPT":"a2","KEXEC_UPGRADE_OUTCOME":"verified","KEXEC_UPGRADE_TO":"6.6.6-evil","MESSAGE":"verified"}`
	)
	journal := strings.Join([]string{genuineSwitching, genuineFailed, forgedOutcome, forgedAttempt}, "\n") + "\n"
	events, err := systemd.ParseJournalJSON([]byte(journal))
	if err != nil {
		t.Fatalf("ParseJournalJSON() error = %v", err)
	}
	got := upgrade.History(events, state.State{})
	want := []state.Attempt{{
		ID: "a1", At: time.Date(2026, 3, 7, 2, 33, 0, 0, time.UTC), Outcome: state.OutcomeFailed, Kind: "old-kernel",
		From: state.Kernel{Release: "6.1.0-50-cloud-amd64"}, To: state.Kernel{Release: "6.1.0-51-cloud-amd64"},
		Reason: "inhibited by [31mdb[0m: backup running",
	}}
	if !sameAttempts(got, want) {
		t.Errorf("History(journal with forged entries) =\n  %s\nwant\n  %s", describeAttempts(got), describeAttempts(want))
	}
}

// weekOf returns how many weeks after base t is.
func weekOf(base, t time.Time) int {
	return int(t.Sub(base) / (7 * 24 * time.Hour))
}

func sameAttempts(got, want []state.Attempt) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.ID != w.ID || !g.At.Equal(w.At) || g.From != w.From || g.To != w.To || g.Outcome != w.Outcome ||
			g.Kind != w.Kind || g.Reason != w.Reason || g.Forced != w.Forced {
			return false
		}
		if (g.DurationSeconds == nil) != (w.DurationSeconds == nil) || g.DurationSeconds != nil && *g.DurationSeconds != *w.DurationSeconds {
			return false
		}
	}
	return true
}

func describeAttempts(as []state.Attempt) string {
	if len(as) == 0 {
		return "(none)"
	}
	lines := make([]string, len(as))
	for i, a := range as {
		d := "-"
		if a.DurationSeconds != nil {
			d = fmt.Sprintf("%gs", *a.DurationSeconds)
		}
		lines[i] = fmt.Sprintf("%s %s %s→%s %s/%s %q forced=%v %s", a.ID, a.At.UTC().Format(time.RFC3339), a.From.Release, a.To.Release, a.Outcome, a.Kind, a.Reason, a.Forced, d)
	}
	return strings.Join(lines, "\n  ")
}

// FuzzHistory feeds History what the journal and the state file hold and
// checks the merge: one entry per attempt, oldest first, the state file's
// version of an attempt kept as is, every finished attempt of the journal
// kept.
func FuzzHistory(f *testing.F) {
	journal := `{"__REALTIME_TIMESTAMP":"1772850600000000","_UID":"0","KEXEC_UPGRADE_EVENT":"switching","KEXEC_UPGRADE_ATTEMPT":"a1","KEXEC_UPGRADE_TO":"6.1.0-51-cloud-amd64","KEXEC_UPGRADE_AT":"2026-03-07T02:30:00Z"}
{"__REALTIME_TIMESTAMP":"1772850800000000","_UID":"0","KEXEC_UPGRADE_EVENT":"verified","KEXEC_UPGRADE_ATTEMPT":"a1","KEXEC_UPGRADE_OUTCOME":"verified","KEXEC_UPGRADE_DURATION":"2.250","KEXEC_UPGRADE_AT":"2026-03-07T02:33:00Z"}
{"__REALTIME_TIMESTAMP":"1773455400000000","_UID":"0","KEXEC_UPGRADE_EVENT":"failed","KEXEC_UPGRADE_ATTEMPT":"a2","KEXEC_UPGRADE_OUTCOME":"load-failed","KEXEC_UPGRADE_KIND":"load"}
`
	st := `{"version":1,"attempts":[{"id":"a2","at":"2026-03-14T02:30:00Z","from":{"release":"6.1.0-51-cloud-amd64","build":"b"},"to":{"release":"6.1.0-52-cloud-amd64","build":"c"},"outcome":"load-failed","kind":"load"}],"staged":{"id":"a3","from":{"release":"a","build":""},"to":{"release":"6.1.0-52-cloud-amd64","build":"c"},"image":"/boot/x","initrd":"/boot/y","cmdline":"","old_boot_id":"x","staged_at":"2026-03-21T02:30:00Z","queued_at":"2026-03-21T02:30:01Z"}}`
	f.Add([]byte(journal), []byte(st))
	f.Add([]byte(journal), []byte(`{"version":1}`))
	f.Add([]byte(""), []byte(st))
	f.Fuzz(func(t *testing.T, journalJSON, stateJSON []byte) {
		events, err := systemd.ParseJournalJSON(journalJSON)
		if err != nil {
			return
		}
		s, err := state.Parse(stateJSON)
		if err != nil {
			return
		}
		got := upgrade.History(events, s)
		byID := make(map[string]state.Attempt, len(got))
		for i, a := range got {
			if _, dup := byID[a.ID]; dup {
				t.Fatalf("History() lists attempt %q twice", a.ID)
			}
			byID[a.ID] = a
			if i > 0 {
				p := got[i-1]
				if a.At.Before(p.At) || a.At.Equal(p.At) && a.ID < p.ID {
					t.Fatalf("History() is out of order: %q (%v) after %q (%v)", a.ID, a.At, p.ID, p.At)
				}
			}
		}
		inState := make(map[string]bool)
		for _, a := range s.Attempts {
			inState[a.ID] = true
		}
		for _, a := range s.Attempts {
			if s.Staged != nil && s.Staged.ID == a.ID {
				continue // a staged attempt may be shown as pending
			}
			// The last attempt of an ID in the state file is the one kept.
			last := a
			for _, b := range s.Attempts {
				if b.ID == a.ID {
					last = b
				}
			}
			g, ok := byID[a.ID]
			if !ok || !sameAttempts([]state.Attempt{g}, []state.Attempt{last}) {
				t.Fatalf("History() has %+v for %q; want the state file's %+v", g, a.ID, last)
			}
		}
		// The journal's last outcome of an attempt the state file does not
		// know is the one shown.
		outcome := make(map[string]string)
		for _, e := range events {
			id := e.Fields["ATTEMPT"]
			if id == "" || (e.Kind != systemd.EventVerified && e.Kind != systemd.EventFailed && e.Kind != systemd.EventSwitching) {
				continue
			}
			if _, ok := byID[id]; !ok {
				t.Fatalf("History() lost the journal's attempt %q (%s)", id, e.Kind)
			}
			if e.Kind != systemd.EventSwitching {
				outcome[id] = e.Fields["OUTCOME"]
				if outcome[id] == "" {
					outcome[id] = e.Kind
				}
			}
		}
		for id, want := range outcome {
			if inState[id] || s.Staged != nil && s.Staged.ID == id {
				continue
			}
			if g := byID[id]; g.Outcome != want {
				t.Fatalf("History() shows %q as %q; the journal's last outcome is %q", id, g.Outcome, want)
			}
		}
	})
}
