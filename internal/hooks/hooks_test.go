package hooks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// tree writes hook files under a fresh root: name → mode and script.
func tree(t *testing.T, files map[string]struct {
	mode   os.FileMode
	script string
}) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, PreSwitchDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, f := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(f.script), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, f.mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	return root
}

type file = struct {
	mode   os.FileMode
	script string
}

const ok = "#!/bin/sh\necho fine\n"

func TestScanDir(t *testing.T) {
	root := tree(t, map[string]file{
		"10-drain":         {0o755, ok},
		"20_notify":        {0o700, ok},
		"05-first":         {0o755, ok},
		"drain.sh":         {0o755, ok},  // a dot: run-parts skips it
		"30-x.dpkg-old":    {0o755, ok},  // ditto
		"40-not-exec":      {0o644, ok},  // must not count as success
		"50-world-writ":    {0o757, ok},  // others may change it
		"60-group-writ":    {0o775, ok},  // so may the group
		"README":           {0o644, "x"}, // a valid name, not executable
		"UPPER_and-lower9": {0o755, ok},
	})
	s, err := ScanDir(root, PreSwitchDir, os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range s.Hooks {
		names = append(names, h.Name)
	}
	if want := []string{"05-first", "10-drain", "20_notify", "UPPER_and-lower9"}; !reflect.DeepEqual(names, want) {
		t.Errorf("ScanDir hooks = %q; want %q", names, want)
	}
	if want := []string{"30-x.dpkg-old", "drain.sh"}; !reflect.DeepEqual(s.Ignored, want) {
		t.Errorf("ScanDir ignored = %q; want %q", s.Ignored, want)
	}
	wantProblems := map[string]string{"40-not-exec": "not executable", "50-world-writ": "writable", "60-group-writ": "writable", "README": "not executable"}
	if len(s.Problems) != len(wantProblems) {
		t.Errorf("ScanDir problems = %v; want %d", s.Problems, len(wantProblems))
	}
	for _, p := range s.Problems {
		if !errors.Is(p, ErrUnsafe) {
			t.Errorf("problem %v does not wrap ErrUnsafe", p)
		}
		found := false
		for name, why := range wantProblems {
			found = found || strings.Contains(p.Error(), "/"+name+" ") && strings.Contains(p.Error(), why)
		}
		if !found {
			t.Errorf("unexpected problem %v", p)
		}
	}
}

func TestScanDirCases(t *testing.T) {
	t.Run("missing_dir_has_no_hooks", func(t *testing.T) {
		s, err := ScanDir(t.TempDir(), PreSwitchDir, os.Getuid())
		if err != nil || len(s.Hooks)+len(s.Problems) != 0 {
			t.Errorf("ScanDir(missing) = %+v, %v; want empty", s, err)
		}
	})
	t.Run("foreign_owner", func(t *testing.T) {
		root := tree(t, map[string]file{"10-x": {0o755, ok}})
		s, err := ScanDir(root, PreSwitchDir, os.Getuid()+1)
		if err != nil || len(s.Hooks) != 0 || len(s.Problems) != 1 || !strings.Contains(s.Problems[0].Error(), "owned by uid") {
			t.Errorf("ScanDir(owner+1) = %+v, %v; want the directory refused for its owner", s, err)
		}
	})
	t.Run("writable_dir", func(t *testing.T) {
		root := tree(t, map[string]file{"10-x": {0o755, ok}})
		if err := os.Chmod(filepath.Join(root, PreSwitchDir), 0o777); err != nil {
			t.Fatal(err)
		}
		s, _ := ScanDir(root, PreSwitchDir, os.Getuid())
		if len(s.Hooks) != 0 || len(s.Problems) != 1 || !strings.Contains(s.Problems[0].Error(), "directory") {
			t.Errorf("ScanDir(0777 dir) = %+v; want the directory refused", s)
		}
	})
	t.Run("dangling_link", func(t *testing.T) {
		root := tree(t, nil)
		if err := os.Symlink("/nonexistent/hook", filepath.Join(root, PreSwitchDir, "10-gone")); err != nil {
			t.Fatal(err)
		}
		s, _ := ScanDir(root, PreSwitchDir, os.Getuid())
		if len(s.Hooks) != 0 || len(s.Problems) != 1 {
			t.Errorf("ScanDir(dangling link) = %+v; want one problem: a missing hook never counts as success", s)
		}
	})
}

func TestRunAll(t *testing.T) {
	root := tree(t, map[string]file{
		"10-env":   {0o755, "#!/bin/sh\necho \"from=$KEXEC_UPGRADE_FROM to=$KEXEC_UPGRADE_TO attempt=$KEXEC_UPGRADE_ATTEMPT phase=$KEXEC_UPGRADE_PHASE\"\n"},
		"20-fails": {0o755, "#!/bin/sh\necho draining web-1\necho 'lb says: 503 backend busy' >&2\nexit 3\n"},
		"30-never": {0o755, "#!/bin/sh\necho ran\n"},
	})
	s, err := ScanDir(root, PreSwitchDir, os.Getuid())
	if err != nil {
		t.Fatal(err)
	}
	v := Vars{From: "6.1.0-50", To: "6.1.0-51", Attempt: "a1", Phase: "pre-switch"}
	res := Runner{Root: root, Timeout: 10 * time.Second}.RunAll(context.Background(), s.Hooks, v, true)
	if len(res) != 2 {
		t.Fatalf("RunAll(stop on failure) ran %d hooks; want 2 (stops after 20-fails)", len(res))
	}
	if res[0].Err != nil || strings.TrimSpace(res[0].Output) != "from=6.1.0-50 to=6.1.0-51 attempt=a1 phase=pre-switch" {
		t.Errorf("10-env = %v, output %q; want success with the variables", res[0].Err, res[0].Output)
	}
	if res[1].Err == nil || res[1].ExitCode != 3 || res[1].LastLine() != "lb says: 503 backend busy" {
		t.Errorf("20-fails = %v, exit %d, last line %q; want exit 3 and its last line", res[1].Err, res[1].ExitCode, res[1].LastLine())
	}
	all := Runner{Root: root, Timeout: 10 * time.Second}.RunAll(context.Background(), s.Hooks, v, false)
	if len(all) != 3 || all[2].Err != nil {
		t.Errorf("RunAll(all) = %d results; want 3, the last one successful", len(all))
	}
}

func TestRunTimeoutKillsTheGroup(t *testing.T) {
	root := tree(t, map[string]file{
		// The child keeps stdout open: the whole group must die.
		"10-hangs": {0o755, "#!/bin/sh\necho started\nsleep 600 &\nsleep 600\n"},
	})
	s, _ := ScanDir(root, PreSwitchDir, os.Getuid())
	start := time.Now()
	res := Runner{Root: root, Timeout: 3 * time.Second}.RunAll(context.Background(), s.Hooks, Vars{}, true)
	if len(res) != 1 || !res[0].TimedOut || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "did not finish within 3s") {
		t.Fatalf("RunAll(hang) = %+v; want a timeout", res)
	}
	if res[0].LastLine() != "started" {
		t.Errorf("last line = %q; want the output before the kill", res[0].LastLine())
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the hung hook held the run for %v", d)
	}
}

func TestRunOutputCapped(t *testing.T) {
	root := tree(t, map[string]file{"10-noisy": {0o755, "#!/bin/sh\nhead -c 200000 /dev/zero | tr '\\0' x\necho\necho done\n"}})
	s, _ := ScanDir(root, PreSwitchDir, os.Getuid())
	res := Runner{Root: root, Timeout: 10 * time.Second}.RunAll(context.Background(), s.Hooks, Vars{}, true)
	if len(res) != 1 || res[0].Err != nil || len(res[0].Output) != maxOutput || !res[0].Truncated {
		t.Fatalf("RunAll(noisy) = err %v, %d bytes, truncated %v; want success, %d bytes kept, truncated", res[0].Err, len(res[0].Output), res[0].Truncated, maxOutput)
	}
}

func TestLastLineHarmless(t *testing.T) {
	r := Result{Output: "ok\n\x1b[2J\x1b]0;pwned\x07 evil \u202e line\r\n\n"}
	if got := r.LastLine(); strings.ContainsAny(got, "\x1b\x07\r\u202e") || !strings.Contains(got, "evil") {
		t.Errorf("LastLine() = %q; want the text without control characters", got)
	}
}
