package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	k50 = Kernel{Release: "6.1.0-50-cloud-amd64", Build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.170-1 (2026-05-02)"}
	k51 = Kernel{Release: "6.1.0-51-cloud-amd64", Build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)"}
	// t0 is a Saturday inside a maintenance window.
	t0 = time.Date(2026, 3, 28, 1, 30, 0, 0, time.UTC)
)

func seconds(f float64) *float64 { return &f }

// fullState sets every field of the file.
func fullState() State {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	return State{
		Version: FormatVersion,
		Staged: &Staged{
			ID: "a1b2c3", From: k50, To: k51,
			Image: "/boot/vmlinuz-6.1.0-51-cloud-amd64", Initrd: "/boot/initrd.img-6.1.0-51-cloud-amd64",
			Cmdline:   `root=/dev/vda1 ro dyndbg="file foo.c +p"`,
			OldBootID: "3f0c2a5e-8d1b-4b7e-9a61-0c5d2e7f4a90",
			StagedAt:  t0, QueuedAt: t0.Add(2 * time.Second), Forced: true,
		},
		Failed: []Failure{{Kernel: k51, Kind: FailOldKernel, Reason: "came up as 6.1.0-50-cloud-amd64", At: t0.Add(-7 * 24 * time.Hour)}},
		Attempts: []Attempt{
			{ID: "x1", At: t0.Add(-7 * 24 * time.Hour).In(berlin), From: k50, To: k51, Outcome: OutcomeFailed, Kind: FailOldKernel, Reason: "came up as 6.1.0-50-cloud-amd64"},
			{ID: "x2", At: t0, From: k50, To: k51, Outcome: OutcomeVerified, Forced: true, DurationSeconds: seconds(2.125)},
		},
		Decision: &Decision{Action: "postpone", Check: "window", Reason: "maintenance window closed; next opens Sat 2026-04-04 02:00 CEST (00:00 UTC)", Target: k51, At: t0},
		Images: []ImageCheck{{Path: "/boot/vmlinuz-6.1.0-51-cloud-amd64", Size: 8123456, Inode: 131090, MTimeNS: 1780000000123456789, CTimeNS: 1780000001123456789,
			Release: k51.Release, Build: k51.Build, Signed: true, CmdlineMax: 2047}},
	}
}

// canonical renders a state as Marshal does, for comparisons that must not
// depend on time.Location pointers or monotonic clock readings.
func canonical(t testing.TB, s State) string {
	t.Helper()
	data, err := Marshal(s)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	return string(data)
}

func TestSaveLoad_roundTrip(t *testing.T) {
	tests := []struct {
		name  string
		state State
	}{
		{"empty", State{Version: FormatVersion}},
		{"version_unset_is_written_current", State{}},
		{"every_field", fullState()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if err := Save(root, tt.state); err != nil {
				t.Fatalf("Save: %v", err)
			}
			got, err := Load(root)
			if err != nil {
				t.Fatalf("Load after Save: %v", err)
			}
			want := tt.state
			want.Version = FormatVersion
			if canonical(t, got) != canonical(t, want) {
				t.Errorf("Load(Save(%s)) =\n%s\nwant\n%s", tt.name, canonical(t, got), canonical(t, want))
			}
			if got.Version != FormatVersion {
				t.Errorf("Load(Save(%s)).Version = %d; want %d", tt.name, got.Version, FormatVersion)
			}
		})
	}
}

func TestSave_atomicFile(t *testing.T) {
	root := t.TempDir()
	for i := range 3 {
		s := fullState()
		s.Attempts[1].ID = fmt.Sprintf("attempt-%d", i)
		if err := Save(root, s); err != nil {
			t.Fatalf("Save #%d: %v", i, err)
		}
	}
	dir := filepath.Join(root, filepath.Dir(Path))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"state.json"}; !reflect.DeepEqual(names, want) {
		t.Errorf("files in /%s after three saves = %q; want %q (no temporary files)", filepath.Dir(Path), names, want)
	}
	fi, err := os.Stat(filepath.Join(root, Path))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 {
		t.Errorf("mode of /%s = %v; want -rw-------", Path, fi.Mode())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm()&0o022 != 0 {
		t.Errorf("mode of /%s = %v; want no group or other write", filepath.Dir(Path), di.Mode())
	}
	got, err := Load(root)
	if err != nil || got.Attempts[1].ID != "attempt-2" {
		t.Errorf("Load after three saves = attempt %q, %v; want the last one", got.Attempts[1].ID, err)
	}
	data, err := os.ReadFile(filepath.Join(root, Path))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(data, []byte("}\n")) || !json.Valid(data) {
		t.Errorf("state file is not one JSON document ending in a newline: %q", data)
	}
}

func TestSave_failureLeavesOldFileAndNoTemporaries(t *testing.T) {
	t.Run("target_is_a_directory", func(t *testing.T) {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, Path, "child"), 0o755); err != nil {
			t.Fatal(err)
		}
		err := Save(root, fullState())
		if err == nil || !strings.HasPrefix(err.Error(), "save state: ") {
			t.Fatalf("Save over a directory error = %v; want save state: …", err)
		}
		entries, err := os.ReadDir(filepath.Join(root, filepath.Dir(Path)))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 || entries[0].Name() != "state.json" {
			t.Errorf("after a failed Save the directory holds %d entries (%v); want only state.json", len(entries), entries)
		}
	})
	t.Run("directory_cannot_be_created", func(t *testing.T) {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "var/lib"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "var/lib/kexec-upgrade"), []byte("a file"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Save(root, fullState()); err == nil || !strings.HasPrefix(err.Error(), "save state: ") {
			t.Errorf("Save under a file error = %v; want save state: …", err)
		}
	})
}

func TestLoad_missingIsEmpty(t *testing.T) {
	s, err := Load(t.TempDir())
	if err != nil {
		t.Fatalf("Load(no file): %v", err)
	}
	if want := (State{Version: FormatVersion}); !reflect.DeepEqual(s, want) {
		t.Errorf("Load(no file) = %+v; want %+v", s, want)
	}
}

func TestLoad_corrupt(t *testing.T) {
	valid, err := Marshal(fullState())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
		want string // after "/var/lib/kexec-upgrade/state.json: state file is corrupt: "
	}{
		{"torn_in_the_middle", valid[:len(valid)/2], "unexpected end of JSON input"},
		{"torn_after_one_byte", valid[:1], "unexpected end of JSON input"},
		{"torn_before_last_brace", valid[:len(valid)-2], "unexpected end of JSON input"},
		{"empty", nil, "empty file"},
		{"only_whitespace", []byte(" \n\t\n"), "empty file"},
		{"zeroes_after_a_crash", make([]byte, 512), "invalid character '\\x00' looking for beginning of value"},
		{"garbage", []byte("not json at all"), "invalid character 'o' in literal null (expecting 'u')"},
		{"json_null", []byte("null"), "unsupported version 0"},
		{"json_array", []byte("[1,2]"), "json: cannot unmarshal array into Go value of type state.State"},
		{"no_version", []byte(`{"attempts":[]}`), "unsupported version 0"},
		{"future_version", []byte(`{"version":2,"staged":{"to":{"release":"7.0.0"}},"new_field":[1]}`), "unsupported version 2"},
		{"wrong_type", []byte(`{"version":"1"}`), "json: cannot unmarshal string into Go struct field State.version of type int"},
		{"staged_without_release", []byte(`{"version":1,"staged":{"id":"x","to":{"build":"#1"}}}`), "staged kernel without a release"},
		{"two_documents", append(append([]byte(nil), valid...), valid...), "invalid character '{' after top-level value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			p := filepath.Join(root, Path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Load(root)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Load(%s) error = %v; want ErrCorrupt", tt.name, err)
			}
			if want := "/var/lib/kexec-upgrade/state.json: state file is corrupt: " + tt.want; err.Error() != want {
				t.Errorf("Load(%s) error = %q; want %q", tt.name, err, want)
			}
			if want := (State{Version: FormatVersion}); !reflect.DeepEqual(s, want) {
				t.Errorf("Load(%s) state = %+v; want an empty state", tt.name, s)
			}
		})
	}
}

func TestLoad_tolerant(t *testing.T) {
	data := []byte(`{"version":1,"added_later":{"x":[1,2]},"attempts":[{"id":"a","outcome":"verified","extra":true}]}`)
	s, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(unknown fields): %v", err)
	}
	if len(s.Attempts) != 1 || s.Attempts[0].ID != "a" {
		t.Errorf("Parse(unknown fields) = %+v; want the one attempt", s)
	}
}

func TestLoad_unreadable(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, Path), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Load(root)
	if err == nil || errors.Is(err, ErrCorrupt) || !strings.HasPrefix(err.Error(), "read /var/lib/kexec-upgrade/state.json: ") {
		t.Errorf("Load(state.json is a directory) error = %v; want a read error, not ErrCorrupt", err)
	}
}

func TestMoveAside(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, Path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	torn := []byte(`{"version":1,"staged":{"id":"a1`)
	if err := os.WriteFile(p, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(root); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Load(torn) error = %v; want ErrCorrupt", err)
	}
	aside, err := MoveAside(root)
	if err != nil {
		t.Fatalf("MoveAside: %v", err)
	}
	if want := "/var/lib/kexec-upgrade/state.json.corrupt"; aside != want {
		t.Errorf("MoveAside() = %q; want %q", aside, want)
	}
	if kept, err := os.ReadFile(filepath.Join(root, aside)); err != nil || !bytes.Equal(kept, torn) {
		t.Errorf("moved file = %q, %v; want the torn content kept for the admin", kept, err)
	}
	if s, err := Load(root); err != nil || s.Staged != nil {
		t.Errorf("Load after MoveAside = %+v, %v; want an empty state", s, err)
	}
	if _, err := MoveAside(root); err == nil || !strings.HasPrefix(err.Error(), "move corrupt state aside: ") {
		t.Errorf("MoveAside(no file) error = %v; want move corrupt state aside: …", err)
	}
}

func TestAddAttempt_keepsNewest(t *testing.T) {
	var s State
	for i := range MaxAttempts + 10 {
		s.AddAttempt(Attempt{ID: fmt.Sprint(i), Outcome: OutcomeVerified})
	}
	if len(s.Attempts) != MaxAttempts {
		t.Fatalf("after %d AddAttempt: %d attempts; want %d", MaxAttempts+10, len(s.Attempts), MaxAttempts)
	}
	if first, last := s.Attempts[0].ID, s.Attempts[MaxAttempts-1].ID; first != "10" || last != fmt.Sprint(MaxAttempts+9) {
		t.Errorf("kept attempts %s..%s; want 10..%d", first, last, MaxAttempts+9)
	}
	if a, ok := s.LastAttempt(); !ok || a.ID != fmt.Sprint(MaxAttempts+9) {
		t.Errorf("LastAttempt() = %q, %t; want %d, true", a.ID, ok, MaxAttempts+9)
	}
	if _, ok := (&State{}).LastAttempt(); ok {
		t.Errorf("LastAttempt() of an empty state = ok; want none")
	}
}

func TestFailures(t *testing.T) {
	var s State
	rebuilt51 := Kernel{Release: k51.Release, Build: "#2 SMP PREEMPT_DYNAMIC Debian 6.1.177-1 (2026-07-20)"}
	s.MarkFailed(Attempt{To: k51, Kind: FailFirmwareReboot, Reason: "loader type 0x72", At: t0})
	s.MarkFailed(Attempt{To: k50, Kind: FailLoad, Reason: "EBUSY", At: t0})
	s.MarkFailed(Attempt{To: k51, Kind: FailOldKernel, Reason: "came up as 6.1.0-50", At: t0.Add(time.Hour)})

	tests := []struct {
		name   string
		kernel Kernel
		ok     bool
		kind   string
	}{
		{"latest_failure_of_a_build_replaces_the_first", k51, true, FailOldKernel},
		{"other_build", k50, true, FailLoad},
		{"rebuild_of_a_failed_release_is_new", rebuilt51, false, ""},
		{"release_only", Kernel{Release: k51.Release}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := s.FailedBefore(tt.kernel)
			if ok != tt.ok || f.Kind != tt.kind {
				t.Errorf("FailedBefore(%s) = %+v, %t; want kind %q, %t", tt.kernel, f, ok, tt.kind, tt.ok)
			}
		})
	}
	if len(s.Failed) != 2 {
		t.Errorf("Failed = %+v; want two entries, one per build", s.Failed)
	}
	s.ClearFailure(k51)
	if _, ok := s.FailedBefore(k51); ok {
		t.Errorf("FailedBefore(%s) after ClearFailure = true; want false", k51)
	}
	if _, ok := s.FailedBefore(k50); !ok {
		t.Errorf("FailedBefore(%s) after clearing another build = false; want true", k50)
	}
	s.ClearFailure(k51) // clearing twice is harmless
	if len(s.Failed) != 1 {
		t.Errorf("Failed = %+v; want one entry", s.Failed)
	}
}

func TestImageCache(t *testing.T) {
	id := func(path string, size int64) ImageCheck {
		return ImageCheck{Path: path, Size: size, Inode: 100, MTimeNS: 5, CTimeNS: 6}
	}
	var s State
	checked := id("/boot/vmlinuz-a", 10)
	checked.Release, checked.Build, checked.Signed = "a", "#1", true
	s.CacheImage(checked)

	tests := []struct {
		name string
		key  ImageCheck
		hit  bool
	}{
		{"same_identity", id("/boot/vmlinuz-a", 10), true},
		{"other_size", id("/boot/vmlinuz-a", 11), false},
		{"other_path", id("/boot/vmlinuz-b", 10), false},
		{"other_inode", ImageCheck{Path: "/boot/vmlinuz-a", Size: 10, Inode: 101, MTimeNS: 5, CTimeNS: 6}, false},
		{"other_mtime", ImageCheck{Path: "/boot/vmlinuz-a", Size: 10, Inode: 100, MTimeNS: 7, CTimeNS: 6}, false},
		{"other_ctime", ImageCheck{Path: "/boot/vmlinuz-a", Size: 10, Inode: 100, MTimeNS: 5, CTimeNS: 7}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := s.CachedImage(tt.key)
			if ok != tt.hit || (ok && got != checked) {
				t.Errorf("CachedImage(%+v) = %+v, %t; want hit %t", tt.key, got, ok, tt.hit)
			}
		})
	}

	// A new check of the same path replaces the old one.
	replaced := id("/boot/vmlinuz-a", 12)
	replaced.Error = "kernel image truncated"
	s.CacheImage(replaced)
	if _, ok := s.CachedImage(checked); ok || len(s.Images) != 1 {
		t.Errorf("after re-checking the path: Images = %+v; want only the new check", s.Images)
	}
	// Only the newest four paths are kept, newest first.
	for _, p := range []string{"b", "c", "d", "e"} {
		s.CacheImage(id("/boot/vmlinuz-"+p, 1))
	}
	var paths []string
	for _, c := range s.Images {
		paths = append(paths, c.Path)
	}
	if want := []string{"/boot/vmlinuz-e", "/boot/vmlinuz-d", "/boot/vmlinuz-c", "/boot/vmlinuz-b"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("cached paths = %q; want %q", paths, want)
	}
}

func TestKernelString(t *testing.T) {
	if got, want := k51.String(), "6.1.0-51-cloud-amd64 (#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02))"; got != want {
		t.Errorf("Kernel.String() = %q; want %q", got, want)
	}
	if got := (Kernel{Release: "6.1.0-51-cloud-amd64"}).String(); got != "6.1.0-51-cloud-amd64" {
		t.Errorf("Kernel{no build}.String() = %q; want the release alone", got)
	}
}

func TestMarshal_format(t *testing.T) {
	data, err := Marshal(State{Version: 0, Attempts: []Attempt{{ID: "a", At: t0, Outcome: OutcomeLoadFailed, Kind: FailLoad}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "version": 1,
  "attempts": [
    {
      "id": "a",
      "at": "2026-03-28T01:30:00Z",
      "from": {
        "release": "",
        "build": ""
      },
      "to": {
        "release": "",
        "build": ""
      },
      "outcome": "load-failed",
      "kind": "load"
    }
  ]
}
`
	if string(data) != want {
		t.Errorf("Marshal() =\n%s\nwant\n%s", data, want)
	}
}
