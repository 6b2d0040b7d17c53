package upgrade

import (
	"sort"
	"strconv"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
)

// OutcomePending marks an attempt whose switch was queued but not verified yet.
const OutcomePending = "pending"

// History merges the attempts the journal knows with those the state file
// keeps (the journal may be volatile, the state file keeps the newest
// state.MaxAttempts), oldest first. It is pure. events must come from
// systemd.ReadEvents (or ParseJournalJSON), which keeps only entries that
// root wrote and makes their text harmless: any local user can write
// journal entries with our MESSAGE_IDs and fields.
func History(events []systemd.Event, st state.State) []state.Attempt {
	byID := make(map[string]state.Attempt)
	queued := make(map[string]time.Time)
	for _, e := range events {
		id := e.Fields["ATTEMPT"]
		if id == "" {
			continue
		}
		switch e.Kind {
		case systemd.EventSwitching:
			queued[id] = e.Time
			if _, ok := byID[id]; !ok {
				a := attemptFromEvent(e)
				a.Outcome = OutcomePending
				byID[id] = a
			}
		case systemd.EventVerified, systemd.EventFailed, systemd.EventUnstaged, systemd.EventRolledBack:
			byID[id] = attemptFromEvent(e)
		}
	}
	for _, a := range st.Attempts {
		byID[a.ID] = a
	}
	if s := st.Staged; s != nil && !s.QueuedAt.IsZero() {
		if _, done := byID[s.ID]; !done || byID[s.ID].Outcome == OutcomePending {
			byID[s.ID] = state.Attempt{ID: s.ID, At: s.QueuedAt, From: s.From, To: s.To, Outcome: OutcomePending, Forced: s.Forced}
		}
	}
	out := make([]state.Attempt, 0, len(byID))
	for _, a := range byID {
		if a.Outcome == OutcomePending {
			if t, ok := queued[a.ID]; ok && a.At.IsZero() {
				a.At = t
			}
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func attemptFromEvent(e systemd.Event) state.Attempt {
	f := e.Fields
	a := state.Attempt{
		ID: f["ATTEMPT"], At: e.Time, Outcome: f["OUTCOME"], Kind: f["KIND"], Reason: f["REASON"], Forced: f["FORCED"] == "1",
		From: state.Kernel{Release: f["FROM"], Build: f["FROM_BUILD"]},
		To:   state.Kernel{Release: f["TO"], Build: f["TO_BUILD"]},
	}
	if t, err := time.Parse(time.RFC3339Nano, f["AT"]); err == nil {
		a.At = t
	}
	if d, err := strconv.ParseFloat(f["DURATION"], 64); err == nil {
		a.DurationSeconds = &d
	}
	if a.Outcome == "" {
		a.Outcome = e.Kind
	}
	return a
}
