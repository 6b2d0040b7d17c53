package systemd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
)

// startTimeout bounds the StartUnit call for kexec.target. systemctl waits
// 25 s for a reply (sd-bus's default method timeout); a loaded system that
// is slow to answer must not be taken for one that refused.
const startTimeout = 30 * time.Second

// StartKexec queues kexec.target with mode replace-irreversibly. A queued
// job is success: its completion is never reported, the system goes down.
func (b *Bus) StartKexec(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	done := make(chan string, 1) // go-systemd writes the job result here; it must not block
	if _, err := b.systemd.StartUnitContext(ctx, KexecTarget, "replace-irreversibly", done); err != nil {
		return fmt.Errorf("start %s: %w", KexecTarget, err)
	}
	return nil
}

// KexecQueued tells, after StartKexec returned an error, whether systemd
// queued the switch anyway: a kexec.target job exists, or the system is
// stopping. An error means it cannot be known.
func (b *Bus) KexecQueued(ctx context.Context) (bool, error) {
	state, err := b.SystemState(ctx)
	if err != nil {
		return false, err
	}
	if state == "stopping" {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var unit dbus.ObjectPath
	err = b.conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").
		CallWithContext(ctx, "org.freedesktop.systemd1.Manager.GetUnit", 0, KexecTarget).Store(&unit)
	var dbusErr dbus.Error
	if errors.As(err, &dbusErr) && dbusErr.Name == "org.freedesktop.systemd1.NoSuchUnit" {
		return false, nil // never loaded: no job can exist
	}
	if err != nil {
		return false, fmt.Errorf("look up %s: %w", KexecTarget, err)
	}
	v, err := b.property(ctx, "org.freedesktop.systemd1", string(unit), "org.freedesktop.systemd1.Unit", "Job")
	if err != nil {
		return false, fmt.Errorf("read %s's job: %w", KexecTarget, err)
	}
	return jobQueued(v)
}

// jobQueued reads a unit's Job property, (uo): id 0 means no job.
func jobQueued(v dbus.Variant) (bool, error) {
	job, ok := v.Value().([]any)
	if !ok || len(job) != 2 {
		return false, fmt.Errorf("read %s's job: unexpected value %s", KexecTarget, v.String())
	}
	id, ok := job[0].(uint32)
	if !ok {
		return false, fmt.Errorf("read %s's job: unexpected id %v", KexecTarget, job[0])
	}
	return id != 0, nil
}
