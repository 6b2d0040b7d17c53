// Package systemd talks to systemd and logind over the system D-Bus and
// writes and reads kexec-upgrade's journal events; every function here has
// effects on, or reads from, the running system.
package systemd

import (
	"context"
	"fmt"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/kexec-upgrade/kexec-upgrade/internal/textsafe"
)

// KexecTarget is the unit that stops the system and kexecs into the staged
// kernel (systemd runs reboot(LINUX_REBOOT_CMD_KEXEC) when kexec-tools is absent).
const KexecTarget = "kexec.target"

// Inhibitor is one logind inhibitor lock (ListInhibitors' a(ssssuu)).
type Inhibitor struct {
	What, Who, Why, Mode string
	UID, PID             uint32
}

// Bus is a connection to the system bus.
type Bus struct {
	conn    *dbus.Conn
	systemd *sddbus.Conn
	// cancel ends the connection's own context (and so the connection).
	cancel context.CancelFunc
}

// Connect opens the system bus. The error says clearly that D-Bus is
// unreachable, which callers turn into a postponement.
//
// ctx bounds the handshake only, not the connection's life: godbus closes a
// connection when the context it was opened with is done, and the SIGTERM
// that cancels a run's context may arrive while StartKexec's call is on the
// wire (that SIGTERM is the switch happening). Each call takes its own context.
func Connect(ctx context.Context) (*Bus, error) {
	connCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel) // abort a handshake that hangs
	conn, err := dbus.ConnectSystemBus(dbus.WithContext(connCtx))
	if !stop() {
		// ctx ended during the handshake: the connection is being closed.
		cancel()
		if err == nil {
			conn.Close()
			err = ctx.Err()
		}
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("connect to the system D-Bus: %w", err)
	}
	sd, err := sddbus.NewConnection(func() (*dbus.Conn, error) { return conn, nil })
	if err != nil {
		conn.Close()
		cancel()
		return nil, fmt.Errorf("connect to systemd over D-Bus: %w", err)
	}
	return &Bus{conn: conn, systemd: sd, cancel: cancel}, nil
}

// Close closes the connection.
func (b *Bus) Close() {
	b.systemd.Close() // closes the shared godbus connection too
	b.cancel()
}

const callTimeout = 10 * time.Second

func (b *Bus) property(ctx context.Context, dest, path, iface, name string) (dbus.Variant, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var v dbus.Variant
	err := b.conn.Object(dest, dbus.ObjectPath(path)).CallWithContext(ctx,
		"org.freedesktop.DBus.Properties.Get", 0, iface, name).Store(&v)
	return v, err
}

// SystemState returns systemd's SystemState: "running", "degraded",
// "starting", "stopping", ...
func (b *Bus) SystemState(ctx context.Context) (string, error) {
	v, err := b.property(ctx, "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "SystemState")
	if err != nil {
		return "", fmt.Errorf("read systemd's SystemState: %w", err)
	}
	s, ok := v.Value().(string)
	if !ok {
		return "", fmt.Errorf("read systemd's SystemState: unexpected type %s", v.Signature())
	}
	return s, nil
}

// MaxInhibitorText bounds each text field of an inhibitor, in bytes.
const MaxInhibitorText = 256

// Inhibitors lists logind's inhibitor locks, their text made safe (see
// CleanInhibitor): any logged-in user can take an inhibitor, and its who and
// why end up on root's terminal and in the journal.
func (b *Bus) Inhibitors(ctx context.Context) ([]Inhibitor, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	// godbus fills a slice of structs from a(ssssuu) field by field.
	var inhibitors []Inhibitor
	err := b.conn.Object("org.freedesktop.login1", "/org/freedesktop/login1").
		CallWithContext(ctx, "org.freedesktop.login1.Manager.ListInhibitors", 0).Store(&inhibitors)
	if err != nil {
		return nil, fmt.Errorf("list logind inhibitors: %w", err)
	}
	for i := range inhibitors {
		inhibitors[i] = CleanInhibitor(inhibitors[i])
	}
	return inhibitors, nil
}

// CleanInhibitor makes an inhibitor's what, who, why and mode single lines
// of printable text of at most MaxInhibitorText bytes each. It is pure.
func CleanInhibitor(i Inhibitor) Inhibitor {
	i.What = textsafe.Line(i.What, MaxInhibitorText)
	i.Who = textsafe.Line(i.Who, MaxInhibitorText)
	i.Why = textsafe.Line(i.Why, MaxInhibitorText)
	i.Mode = textsafe.Line(i.Mode, MaxInhibitorText)
	return i
}
