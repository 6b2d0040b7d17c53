package systemd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// ServiceUnit is kexec-upgrade's own service, which an armed run starts.
const ServiceUnit = "kexec-upgrade.service"

// ArmRun makes systemd start kexec-upgrade.service at at (to the second):
// a transient timer, named name+".timer", that starts a transient oneshot
// name+".service" running `systemctl start --no-block kexec-upgrade.service`.
// Both vanish after they ran. The packaged timer's five minutes stay the
// safety net; this one makes a switch start seconds after a slot opens.
func (b *Bus) ArmRun(ctx context.Context, name string, at time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	type prop struct {
		Name  string
		Value dbus.Variant
	}
	type aux struct {
		Name  string
		Props []prop
	}
	type execStart struct {
		Path          string
		Args          []string
		IgnoreFailure bool
	}
	type calendar struct{ Base, Spec string }
	timer := []prop{
		{"Description", dbus.MakeVariant("kexec-upgrade: look again when the decision may change")},
		{"TimersCalendar", dbus.MakeVariant([]calendar{{"OnCalendar", at.UTC().Format("2006-01-02 15:04:05") + " UTC"}})},
		// systemd places a timer's expiry anywhere in [at, at+accuracy], at a
		// host-specific offset; the default (1 min) or even 1 s would delay
		// the start of a slot. 1 µs is systemd's smallest.
		{"AccuracyUSec", dbus.MakeVariant(uint64(1))},
		{"RemainAfterElapse", dbus.MakeVariant(false)},
	}
	service := []prop{
		{"Description", dbus.MakeVariant("kexec-upgrade: start a run when the decision may change")},
		{"Type", dbus.MakeVariant("oneshot")},
		{"ExecStart", dbus.MakeVariant([]execStart{{"/usr/bin/systemctl", []string{"systemctl", "start", "--no-block", ServiceUnit}, false}})},
		{"CollectMode", dbus.MakeVariant("inactive-or-failed")},
	}
	var job dbus.ObjectPath
	err := b.conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").CallWithContext(ctx,
		"org.freedesktop.systemd1.Manager.StartTransientUnit", 0, name+".timer", "fail", timer, []aux{{name + ".service", service}}).Store(&job)
	if err != nil {
		return fmt.Errorf("arm %s.timer for %s: %w", name, at.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// DisarmRun stops a timer ArmRun made; one that is gone already is fine.
func (b *Bus) DisarmRun(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var job dbus.ObjectPath
	err := b.conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").CallWithContext(ctx,
		"org.freedesktop.systemd1.Manager.StopUnit", 0, name+".timer", "replace").Store(&job)
	var dbusErr dbus.Error
	if errors.As(err, &dbusErr) && dbusErr.Name == "org.freedesktop.systemd1.NoSuchUnit" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("disarm %s.timer: %w", name, err)
	}
	return nil
}
