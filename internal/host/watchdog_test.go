package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadWatchdog(t *testing.T) {
	root := t.TempDir()
	if w, err := ReadWatchdog(root); w != nil || err != nil {
		t.Fatalf("no device: %v, %v; want nil, nil", w, err)
	}
	dir := filepath.Join(root, watchdogClass)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "identity"), []byte("i6300ESB timer\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "timeout"), []byte("30\n"), 0o644)
	w, err := ReadWatchdog(root)
	if err != nil || w == nil || w.Identity != "i6300ESB timer" || w.TimeoutSeconds != 30 || w.String() != "/dev/watchdog0 (i6300ESB timer)" {
		t.Errorf("ReadWatchdog = %+v, %v", w, err)
	}
}

func TestReadWatchdog_stopOnReboot(t *testing.T) {
	tests := []struct {
		root, stop string
		module     bool
	}{
		{"trixie_i6300esb", "-1", true},
		{"keep_running", "0", true},
		{"builtin_no_param", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.root, func(t *testing.T) {
			w, err := ReadWatchdog(filepath.Join("testdata", "watchdog", tc.root))
			if err != nil || w == nil {
				t.Fatalf("ReadWatchdog = %v, %v", w, err)
			}
			if w.StopOnReboot != tc.stop || w.StopOnRebootErr != nil || w.CoreModule != tc.module {
				t.Errorf("stop_on_reboot %q (%v), core module %v; want %q, %v", w.StopOnReboot, w.StopOnRebootErr, w.CoreModule, tc.stop, tc.module)
			}
		})
	}
	t.Run("garbled", func(t *testing.T) {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, watchdogClass), 0o755)
		os.MkdirAll(filepath.Join(root, watchdogCore, "parameters"), 0o755)
		os.WriteFile(filepath.Join(root, watchdogCore, "parameters", "stop_on_reboot"), []byte("yes\n"), 0o644)
		w, err := ReadWatchdog(root)
		if err != nil || w == nil || w.StopOnReboot != "" || w.StopOnRebootErr == nil || !strings.Contains(w.StopOnRebootErr.Error(), "not a number") {
			t.Errorf("ReadWatchdog = %+v, %v; want the device and an unreadable stop_on_reboot", w, err)
		}
	})
}
