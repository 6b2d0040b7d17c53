// Package state keeps kexec-upgrade's memory between runs and across boots in
// /var/lib/kexec-upgrade/state.json; its effects are reading and atomically
// writing that file.
//
// A missing file is an empty state. A torn or corrupt file is reported as
// ErrCorrupt and never fatal: callers show it and refuse to switch on it.
package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Path is the state file, relative to the root directory.
const Path = "var/lib/kexec-upgrade/state.json"

// FormatVersion is the version of the file's schema.
const FormatVersion = 1

// MaxAttempts is how many attempts the file keeps for history.
const MaxAttempts = 50

// maxImages is how many image check results are cached.
const maxImages = 4

// ErrCorrupt is returned (wrapped) for a state file that cannot be parsed.
var ErrCorrupt = errors.New("state file is corrupt")

// Kernel names one kernel build.
type Kernel struct {
	Release string `json:"release"`
	Build   string `json:"build"`
}

// String renders "6.1.0-50-cloud-amd64 (#1 SMP ... )".
func (k Kernel) String() string {
	if k.Build == "" {
		return k.Release
	}
	return fmt.Sprintf("%s (%s)", k.Release, k.Build)
}

// Phases of a switch, written before each step's effect so that a run
// killed at any instant leaves a record the next run can finish or undo.
const (
	// PhaseLoading: the run is about to take the fleet slot and load the
	// kernel; it may or may not be staged.
	PhaseLoading = "loading"
	// PhaseStaged: kexec_file_load succeeded and kexec_loaded read 1; the
	// switch has not been asked for yet.
	PhaseStaged = "staged"
	// PhaseQueued: kexec.target was (or may have been) queued; only the
	// next boot can tell what happened.
	PhaseQueued = "queued"
)

// Staged is a switch in progress: written before the fleet slot is taken
// and the kernel loaded, and kept until the outcome is known.
type Staged struct {
	// ID names the attempt in the journal (KEXEC_UPGRADE_ATTEMPT).
	ID        string    `json:"id"`
	From      Kernel    `json:"from"`
	To        Kernel    `json:"to"`
	Image     string    `json:"image"`
	Initrd    string    `json:"initrd"`
	Cmdline   string    `json:"cmdline"`
	OldBootID string    `json:"old_boot_id"`
	StagedAt  time.Time `json:"staged_at"`
	// QueuedAt is when kexec.target was queued; zero if it never was.
	QueuedAt time.Time `json:"queued_at,omitzero"`
	Forced   bool      `json:"forced,omitempty"`
	// Phase is how far the switch got (PhaseLoading, PhaseStaged or
	// PhaseQueued); files written before phases existed have none.
	Phase string `json:"phase,omitempty"`
	// Trial is the switch's trial boot (trial.go); nil when none was set up.
	Trial *Trial `json:"trial,omitempty"`
}

// CurrentPhase returns the phase, inferring it for files written before
// phases existed: those were saved after the load only.
func (s Staged) CurrentPhase() string {
	switch {
	case s.Phase != "":
		return s.Phase
	case !s.QueuedAt.IsZero():
		return PhaseQueued
	default:
		return PhaseStaged
	}
}

// Outcomes of an attempt.
const (
	OutcomeVerified   = "verified"
	OutcomeFailed     = "failed"      // the staged kernel did not come up
	OutcomeLoadFailed = "load-failed" // the kernel could not be staged or the switch not started
	// OutcomeInterrupted: the run that started the switch died before
	// queuing it; the next run unloaded what it had staged.
	OutcomeInterrupted = "interrupted"
)

// Failure kinds after a boot.
const (
	FailOldKernel      = "booted-old-kernel"
	FailOtherKernel    = "booted-other-kernel"
	FailFirmwareReboot = "firmware-reboot"
	FailNoReboot       = "no-reboot"
	FailLoad           = "load"
	FailStart          = "start"
	FailPermission     = "permission"
	FailKilled         = "killed"
)

// Attempt is one switch attempt and how it ended.
type Attempt struct {
	ID      string    `json:"id"`
	At      time.Time `json:"at"`
	From    Kernel    `json:"from"`
	To      Kernel    `json:"to"`
	Outcome string    `json:"outcome"`
	Kind    string    `json:"kind,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Forced  bool      `json:"forced,omitempty"`
	// DurationSeconds is kexec.target queued → the new kernel's userspace up.
	DurationSeconds *float64 `json:"duration_seconds,omitempty"`
	// Phases says where a verified switch's time went.
	Phases *Phases `json:"phases,omitempty"`
	// Trial is the trial boot's timeline and protections, if it had one.
	Trial *Trial `json:"trial,omitempty"`
}

// Phases break a switch's outage down: services stopping (kexec.target
// queued → the new kernel starting), the kernel (→ systemd starting), and
// userspace (→ the boot finished, or a trial's health gate passing). A phase
// that cannot be known is nil.
type Phases struct {
	StoppingSeconds  *float64 `json:"stopping_seconds"`
	KernelSeconds    *float64 `json:"kernel_seconds"`
	UserspaceSeconds *float64 `json:"userspace_seconds"`
	// SlowestStops are the units that took longest to stop in the old boot
	// (nil when its journal is not kept); SlowestStarts those that took
	// longest to start in the new one.
	SlowestStops  []UnitTime `json:"slowest_stops,omitempty"`
	SlowestStarts []UnitTime `json:"slowest_starts,omitempty"`
	// StopsUnknown says why the stops are not known.
	StopsUnknown string `json:"stops_unknown,omitempty"`
}

// UnitTime is how long one unit took to start or stop.
type UnitTime struct {
	Unit    string  `json:"unit"`
	Seconds float64 `json:"seconds"`
}

// MaxTries is how many times the same passing failure (a load the kernel
// refused for the moment, a switch systemd did not start) is tried on one
// build before the build is marked failed like a lasting failure.
const MaxTries = 3

// Try counts the failures of one kind on one build.
type Try struct {
	Kernel Kernel    `json:"kernel"`
	Kind   string    `json:"kind"`
	Reason string    `json:"reason"`
	Count  int       `json:"count"`
	At     time.Time `json:"at"`
}

// Failure marks a kernel build that must not be tried again automatically.
type Failure struct {
	Kernel Kernel    `json:"kernel"`
	Kind   string    `json:"kind"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// ImageCheck caches the result of checking a kernel image, keyed by the
// file's identity, so an idle run does not read a 10 MB file.
type ImageCheck struct {
	Path       string `json:"path"`
	Size       int64  `json:"size"`
	Inode      uint64 `json:"inode"`
	MTimeNS    int64  `json:"mtime_ns"`
	CTimeNS    int64  `json:"ctime_ns"`
	Release    string `json:"release,omitempty"`
	Build      string `json:"build,omitempty"`
	Signed     bool   `json:"signed,omitempty"`
	CmdlineMax int    `json:"cmdline_max,omitempty"`
	// Integrity names the integrity checks the image passed.
	Integrity string `json:"integrity,omitempty"`
	// Authenticode is the outcome of the image's Authenticode digest
	// check (kernel.AuthenticodeState: "match", "mismatch", "unsigned",
	// "unreadable"), AuthenticodeDetail the phrase that says it; an entry
	// of a valid image without it predates the check and is not reused.
	Authenticode       string `json:"authenticode,omitempty"`
	AuthenticodeDetail string `json:"authenticode_detail,omitempty"`
	// Error is the check's failure, "" for a valid image.
	Error string `json:"error,omitempty"`
}

// Decision is the last decision logged to the journal, so an unchanged
// postponement is not logged again every run.
type Decision struct {
	Action string    `json:"action"`
	Check  string    `json:"check,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Target Kernel    `json:"target,omitzero"`
	At     time.Time `json:"at"`
}

// FleetLock is this host's standing with its FleetLock server.
type FleetLock struct {
	// Held is true from a successful pre-reboot (or one whose answer was
	// lost) until a successful steady-state.
	Held bool `json:"held"`
	// Unconfirmed is true when Held only because a pre-reboot's answer was
	// lost: the server may or may not have given the slot.
	Unconfirmed bool `json:"unconfirmed,omitempty"`
	// Since is when the slot was taken.
	Since time.Time `json:"since,omitzero"`
	// URL, Group and ID are the identity the slot was taken with, so it is
	// given back to the same server even after the configuration changed.
	URL   string `json:"url,omitempty"`
	Group string `json:"group,omitempty"`
	ID    string `json:"id,omitempty"`
	// LastAnswer is the server's last answer to either call.
	LastAnswer *FleetLockAnswer `json:"last_answer,omitempty"`
}

// FleetLockAnswer is one answer of a FleetLock server, as shown to admins.
type FleetLockAnswer struct {
	At time.Time `json:"at"`
	// Op is "pre-reboot" or "steady-state".
	Op string `json:"op"`
	// Status is the HTTP status; 0 when the server was not reached.
	Status int `json:"status,omitempty"`
	// Kind and Value are the server's error body, verbatim.
	Kind  string `json:"kind,omitempty"`
	Value string `json:"value,omitempty"`
	// Error is the one-line error; "" on success.
	Error string `json:"error,omitempty"`
}

// State is the whole file.
type State struct {
	Version   int          `json:"version"`
	Staged    *Staged      `json:"staged,omitempty"`
	Failed    []Failure    `json:"failed,omitempty"`
	Attempts  []Attempt    `json:"attempts,omitempty"`
	Decision  *Decision    `json:"decision,omitempty"`
	Images    []ImageCheck `json:"images,omitempty"`
	FleetLock *FleetLock   `json:"fleet_lock,omitempty"`
	// Tries counts passing failures per build and kind (see MaxTries).
	Tries []Try `json:"tries,omitempty"`
	// Pause is an admin's pause of automatic switches; nil when none.
	Pause *Pause `json:"pause,omitempty"`
	// Hooks is how the last hooks of each phase ended.
	Hooks []HookReport `json:"hooks,omitempty"`
	// Notice is the last notice of a switch sent to logged-in users.
	Notice *Notice `json:"notice,omitempty"`
	// Armed is the run armed for when the decision may change, if any.
	Armed *Armed `json:"armed,omitempty"`
}

// Armed is a transient timer that starts the next run at a precise time.
type Armed struct {
	// Name is the timer's name without ".timer".
	Name    string    `json:"name"`
	At      time.Time `json:"at"`
	Why     string    `json:"why"`
	ArmedAt time.Time `json:"armed_at"`
}

// Notice is a switch announced to logged-in users (config key notice).
type Notice struct {
	To     Kernel    `json:"to"`
	SentAt time.Time `json:"sent_at"`
	// Window is the start of the window it was sent in; SwitchAt the time
	// the users were told.
	Window   time.Time `json:"window"`
	SwitchAt time.Time `json:"switch_at"`
}

// Pause is an admin's `kexec-upgrade pause`.
type Pause struct {
	Since time.Time `json:"since"`
	// Until is when it ends by itself; zero: at `kexec-upgrade resume`.
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason,omitempty"`
}

// HookReport is how one phase's hooks ended for an attempt.
type HookReport struct {
	Phase   string    `json:"phase"`
	Attempt string    `json:"attempt"`
	At      time.Time `json:"at"`
	Ran     int       `json:"ran"`
	// Failed has one line per failed hook: its path, why, its last line.
	Failed []string `json:"failed,omitempty"`
}

// SetHookReport keeps the newest report of a phase.
func (s *State) SetHookReport(r HookReport) {
	kept := []HookReport{r}
	for _, old := range s.Hooks {
		if old.Phase != r.Phase {
			kept = append(kept, old)
		}
	}
	s.Hooks = kept
}

// FailedBefore returns the recorded failure of a build, if any.
func (s *State) FailedBefore(k Kernel) (Failure, bool) {
	for _, f := range s.Failed {
		if f.Kernel == k {
			return f, true
		}
	}
	return Failure{}, false
}

// ClearFailure forgets a build's failure and its counted tries (an
// admin's run --now).
func (s *State) ClearFailure(k Kernel) {
	s.removeFailed(k)
	s.Tries = triesExcept(s.Tries, func(t Try) bool { return t.Kernel == k })
}

func (s *State) removeFailed(k Kernel) {
	kept := s.Failed[:0]
	for _, f := range s.Failed {
		if f.Kernel != k {
			kept = append(kept, f)
		}
	}
	s.Failed = kept
}

// CountTry records one more passing failure of a kind on a build and
// reports whether the build has now used up its MaxTries; if so it is
// marked failed with the reason. Tries of other builds are forgotten: a
// newer build starts afresh.
func (s *State) CountTry(a Attempt) (exhausted bool) {
	s.Tries = triesExcept(s.Tries, func(t Try) bool { return t.Kernel != a.To })
	i := slices.IndexFunc(s.Tries, func(t Try) bool { return t.Kind == a.Kind })
	if i < 0 {
		s.Tries = append(s.Tries, Try{Kernel: a.To, Kind: a.Kind})
		i = len(s.Tries) - 1
	}
	t := &s.Tries[i]
	t.Count++
	t.Reason, t.At = a.Reason, a.At
	if t.Count < MaxTries {
		return false
	}
	marked := a
	marked.Reason = fmt.Sprintf("%s (failed %d times in a row; a newer build or run --now tries again)", a.Reason, MaxTries)
	s.MarkFailed(marked)
	return true
}

// TriesLeft returns how many more times a build may fail the same way
// before it is marked failed, for the kind that failed most often.
func (s State) TriesLeft(k Kernel) (left int, last Try, ok bool) {
	for _, t := range s.Tries {
		if t.Kernel == k && (!ok || t.Count > last.Count) {
			last, ok = t, true
		}
	}
	if !ok {
		return MaxTries, Try{}, false
	}
	return max(MaxTries-last.Count, 0), last, true
}

func triesExcept(tries []Try, drop func(Try) bool) []Try {
	var kept []Try
	for _, t := range tries {
		if !drop(t) {
			kept = append(kept, t)
		}
	}
	return kept
}

// AddAttempt appends an attempt, keeping the newest MaxAttempts.
func (s *State) AddAttempt(a Attempt) {
	s.Attempts = append(s.Attempts, a)
	if n := len(s.Attempts) - MaxAttempts; n > 0 {
		s.Attempts = append([]Attempt(nil), s.Attempts[n:]...)
	}
}

// MarkFailed records that a build must not be tried again automatically.
func (s *State) MarkFailed(a Attempt) {
	s.removeFailed(a.To)
	s.Failed = append(s.Failed, Failure{Kernel: a.To, Kind: a.Kind, Reason: a.Reason, At: a.At})
}

// LastAttempt returns the newest attempt.
func (s *State) LastAttempt() (Attempt, bool) {
	if len(s.Attempts) == 0 {
		return Attempt{}, false
	}
	return s.Attempts[len(s.Attempts)-1], true
}

// CachedImage returns a cached check of the file with this identity.
func (s *State) CachedImage(id ImageCheck) (ImageCheck, bool) {
	for _, c := range s.Images {
		if c.Path == id.Path && c.Size == id.Size && c.Inode == id.Inode && c.MTimeNS == id.MTimeNS && c.CTimeNS == id.CTimeNS {
			return c, true
		}
	}
	return ImageCheck{}, false
}

// CacheImage remembers a check result, replacing older ones of the same path.
func (s *State) CacheImage(c ImageCheck) {
	kept := []ImageCheck{c}
	for _, old := range s.Images {
		if old.Path != c.Path && len(kept) < maxImages {
			kept = append(kept, old)
		}
	}
	s.Images = kept
}

// Parse decodes a state file. Unknown fields are ignored (a newer version
// may have written them); a torn or garbled file is ErrCorrupt.
func Parse(data []byte) (State, error) {
	var s State
	if len(bytes.TrimSpace(data)) == 0 {
		return State{}, fmt.Errorf("%w: empty file", ErrCorrupt)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return State{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if s.Version < 1 || s.Version > FormatVersion {
		return State{}, fmt.Errorf("%w: unsupported version %d", ErrCorrupt, s.Version)
	}
	if s.Staged != nil && s.Staged.To.Release == "" {
		return State{}, fmt.Errorf("%w: staged kernel without a release", ErrCorrupt)
	}
	return s, nil
}

// Marshal encodes a state for writing.
func Marshal(s State) ([]byte, error) {
	s.Version = FormatVersion
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	return append(data, '\n'), nil
}

// Load reads the state under root. A missing file is an empty state; a
// corrupt one returns an empty state and an error wrapping ErrCorrupt.
func Load(root string) (State, error) {
	data, err := os.ReadFile(filepath.Join(root, Path))
	if errors.Is(err, fs.ErrNotExist) {
		return State{Version: FormatVersion}, nil
	}
	if err != nil {
		return State{Version: FormatVersion}, fmt.Errorf("read /%s: %w", Path, err)
	}
	s, err := Parse(data)
	if err != nil {
		return State{Version: FormatVersion}, fmt.Errorf("/%s: %w", Path, err)
	}
	return s, nil
}

// Save writes the state atomically: a temporary file in the same directory,
// fsync, rename over the old file, fsync the directory. A crash at any point
// leaves either the old or the new file, never a torn one.
func Save(root string, s State) error {
	data, err := Marshal(s)
	if err != nil {
		return err
	}
	path := filepath.Join(root, Path)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".state-*.json")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save state: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save state: fsync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("save state: fsync %s: %w", dir, err)
	}
	return nil
}

// MoveAside renames a corrupt state file to state.json.corrupt so an admin
// can inspect it, and returns the new path.
func MoveAside(root string) (string, error) {
	path := filepath.Join(root, Path)
	aside := path + ".corrupt"
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("move corrupt state aside: %w", err)
	}
	return "/" + Path + ".corrupt", nil
}
