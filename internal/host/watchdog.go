package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// watchdogClass is where the kernel lists hardware watchdogs; systemd
// uses /dev/watchdog0 unless WatchdogDevice= says otherwise.
const watchdogClass = "sys/class/watchdog/watchdog0"

// Watchdog is the hardware watchdog systemd would arm across a kexec.
type Watchdog struct {
	// Device is "/dev/watchdog0".
	Device string
	// Identity is the driver's name for it ("i6300ESB timer").
	Identity string
	// TimeoutSeconds is its current timeout; 0 when not reported.
	TimeoutSeconds int
}

// String names the device for status and the journal.
func (w Watchdog) String() string {
	if w.Identity == "" {
		return w.Device
	}
	return fmt.Sprintf("%s (%s)", w.Device, w.Identity)
}

// ReadWatchdog reads the first hardware watchdog under root; nil, nil when
// the machine has none.
func ReadWatchdog(root string) (*Watchdog, error) {
	dir := filepath.Join(root, watchdogClass)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	w := &Watchdog{Device: "/dev/watchdog0"}
	if data, err := os.ReadFile(filepath.Join(dir, "identity")); err == nil {
		w.Identity = strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile(filepath.Join(dir, "timeout")); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && n > 0 {
			w.TimeoutSeconds = n
		}
	}
	return w, nil
}
