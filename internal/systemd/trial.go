package systemd

import (
	"context"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

const (
	systemdDest    = "org.freedesktop.systemd1"
	systemdPath    = "/org/freedesktop/systemd1"
	managerIface   = "org.freedesktop.systemd1.Manager"
	kexecWatchdogP = "KExecWatchdogUSec"
)

// KExecWatchdog reads systemd's KExecWatchdogUSec (KExecWatchdogSec= of
// system.conf): how long the hardware watchdog stays armed across a kexec;
// 0 when off.
func (b *Bus) KExecWatchdog(ctx context.Context) (time.Duration, error) {
	v, err := b.property(ctx, systemdDest, systemdPath, managerIface, kexecWatchdogP)
	if err != nil {
		return 0, fmt.Errorf("read systemd's %s: %w", kexecWatchdogP, err)
	}
	usec, ok := v.Value().(uint64)
	if !ok {
		return 0, fmt.Errorf("read systemd's %s: unexpected type %s", kexecWatchdogP, v.Signature())
	}
	return time.Duration(usec) * time.Microsecond, nil
}

// RuntimeWatchdog reads systemd's RuntimeWatchdogUSec (RuntimeWatchdogSec=):
// how often systemd pings the hardware watchdog while running; 0 when off.
func (b *Bus) RuntimeWatchdog(ctx context.Context) (time.Duration, error) {
	v, err := b.property(ctx, systemdDest, systemdPath, managerIface, "RuntimeWatchdogUSec")
	if err != nil {
		return 0, fmt.Errorf("read systemd's RuntimeWatchdogUSec: %w", err)
	}
	usec, ok := v.Value().(uint64)
	if !ok {
		return 0, fmt.Errorf("read systemd's RuntimeWatchdogUSec: unexpected type %s", v.Signature())
	}
	return time.Duration(usec) * time.Microsecond, nil
}

// SetKExecWatchdog sets systemd's KExecWatchdogUSec, a writable property
// of the manager in systemd 252 and 257 alike (bus_property_set_usec), so
// that systemd-shutdown arms the hardware watchdog with it right before
// the kexec. It lasts until systemd is re-executed or the machine restarts.
func (b *Bus) SetKExecWatchdog(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	err := b.conn.Object(systemdDest, systemdPath).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Set", 0,
		managerIface, kexecWatchdogP, dbus.MakeVariant(uint64(d/time.Microsecond))).Err
	if err != nil {
		return fmt.Errorf("set systemd's %s to %s: %w", kexecWatchdogP, d, err)
	}
	return nil
}

// SetRuntimeWatchdog sets systemd's RuntimeWatchdogUSec; 0 makes systemd
// close the watchdog device with the magic close, which stops it.
func (b *Bus) SetRuntimeWatchdog(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	err := b.conn.Object(systemdDest, systemdPath).CallWithContext(ctx, "org.freedesktop.DBus.Properties.Set", 0,
		managerIface, "RuntimeWatchdogUSec", dbus.MakeVariant(uint64(d/time.Microsecond))).Err
	if err != nil {
		return fmt.Errorf("set systemd's RuntimeWatchdogUSec to %s: %w", d, err)
	}
	return nil
}

// Unit states beyond systemd's ActiveState that UnitStates reports: an
// inactive unit whose start was skipped because a Condition*= or an
// Assert*= did not hold (such as ConditionKernelVersion= on a new kernel).
const (
	UnitConditionFailed = "condition-failed"
	UnitAssertFailed    = "assert-failed"
)

// UnitStates reads the ActiveState ("active", "failed", "activating",
// "inactive", ...) of each unit, or UnitConditionFailed/UnitAssertFailed
// for an inactive unit whose last start was skipped by a condition or an
// assertion; a unit systemd does not know reads "inactive", as systemctl
// shows it.
func (b *Bus) UnitStates(ctx context.Context, units []string) (map[string]string, error) {
	out := make(map[string]string, len(units))
	for _, u := range units {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		props, err := b.systemd.GetUnitPropertiesContext(cctx, u)
		cancel()
		if err != nil {
			return out, fmt.Errorf("read the state of %s: %w", u, err)
		}
		s, ok := props["ActiveState"].(string)
		if !ok {
			return out, fmt.Errorf("read the state of %s: no ActiveState", u)
		}
		out[u] = UnitState(s, props)
	}
	return out, nil
}

// UnitState refines an ActiveState with a unit's ConditionResult and
// AssertResult (and their timestamps: zero when never checked). It is
// pure.
func UnitState(active string, props map[string]any) string {
	if active != "inactive" {
		return active
	}
	checkedFalse := func(result, stamp string) bool {
		ok, _ := props[result].(bool)
		ts, _ := props[stamp].(uint64)
		return ts != 0 && !ok
	}
	switch {
	case checkedFalse("AssertResult", "AssertTimestamp"):
		return UnitAssertFailed
	case checkedFalse("ConditionResult", "ConditionTimestamp"):
		return UnitConditionFailed
	}
	return active
}
