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

// watchdogCore is the watchdog core's module directory: its
// stop_on_reboot parameter decides whether the kernel stops a running
// watchdog on the reboot notifier chain, which a kexec runs too.
const watchdogCore = "sys/module/watchdog"

// Watchdog is the hardware watchdog systemd would arm across a kexec.
type Watchdog struct {
	// Device is "/dev/watchdog0".
	Device string
	// Identity is the driver's name for it ("i6300ESB timer").
	Identity string
	// TimeoutSeconds is its current timeout; 0 when not reported.
	TimeoutSeconds int
	// StopOnReboot is the watchdog core's stop_on_reboot parameter as the
	// running kernel has it: "0" keeps a running watchdog running through
	// a reboot or kexec, "1" stops it, "-1" leaves that to the driver;
	// "" when the kernel has no such parameter. StopOnRebootErr says why
	// it could not be read.
	StopOnReboot    string
	StopOnRebootErr error
	// CoreModule is set when the watchdog core is a loadable module
	// (Debian's kernels), which /etc/modprobe.d options can configure.
	CoreModule bool
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
	w.StopOnReboot, w.StopOnRebootErr = readStopOnReboot(root)
	if _, err := os.Stat(filepath.Join(root, watchdogCore, "initstate")); err == nil {
		w.CoreModule = true
	}
	return w, nil
}

// readStopOnReboot reads the watchdog core's stop_on_reboot parameter; ""
// when the kernel has none.
func readStopOnReboot(root string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, watchdogCore, "parameters", "stop_on_reboot"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("watchdog.stop_on_reboot: %w", err)
	}
	v := strings.TrimSpace(string(data))
	if _, err := strconv.Atoi(v); err != nil {
		return "", fmt.Errorf("watchdog.stop_on_reboot: not a number: %q", v)
	}
	return v, nil
}
