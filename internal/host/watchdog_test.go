package host

import (
	"os"
	"path/filepath"
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
