package systemd

import (
	"context"
	"fmt"
	"strconv"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// wallPath is util-linux's wall(1), in bsdutils (Essential: yes).
const wallPath = "/usr/bin/wall"

// Wall sends a message to every logged-in user's terminal, as shutdown's
// warnings do. kexec-upgrade's own sandbox cannot write to other users'
// terminals (no CAP_DAC_OVERRIDE, and NoNewPrivileges= disables wall's
// setgid tty), so systemd runs wall as a short transient service of its own.
func (b *Bus) Wall(ctx context.Context, message string) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	name := "kexec-upgrade-notice-" + strconv.FormatInt(time.Now().UnixNano(), 36) + ".service"
	props := []sddbus.Property{
		sddbus.PropDescription("kexec-upgrade: tell logged-in users of a kernel switch"),
		sddbus.PropExecStart([]string{wallPath, message}, false),
		{Name: "Type", Value: dbus.MakeVariant("oneshot")},
		{Name: "CollectMode", Value: dbus.MakeVariant("inactive-or-failed")},
	}
	done := make(chan string, 1)
	if _, err := b.systemd.StartTransientUnitContext(ctx, name, "replace", props, done); err != nil {
		return fmt.Errorf("start %s to send the notice: %w", name, err)
	}
	return nil
}
