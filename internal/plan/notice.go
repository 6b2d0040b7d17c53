package plan

import (
	"fmt"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/window"
)

// CheckNotice names the wait after logged-in users were told of a switch.
const CheckNotice = "notice"

// Notice is a notice already sent to logged-in users about a switch.
type Notice struct {
	Release, Build string
	// Window is the start of the window span it was sent in: a notice is
	// good for that window only.
	Window time.Time
	// SwitchAt is the time the users were told.
	SwitchAt time.Time
}

// checkNotice runs last. With `notice` configured, a switch is announced
// to logged-in users first and starts at the first run after the notice
// ran out, inside the same slot; a notice that would outlast the slot waits
// for the next window. run --now does not wait.
func checkNotice(c *checker, in Inputs) {
	n := in.Config.Notice
	t := in.Target
	switch {
	case n <= 0:
		c.pass(CheckNotice, "no notice configured")
		return
	case in.Force:
		c.skip(CheckNotice, "run --now does not wait for a notice")
		return
	}
	slots := in.Config.Windows.Slots(in.Now, window.HostFraction(in.Facts.MachineID))
	if !slots.Open {
		c.skip(CheckNotice, "no slot is open")
		return
	}
	sent := in.Notice
	valid := sent != nil && sent.Release == t.Release && sent.Build == t.Build && sent.Window.Equal(slots.Window.Start)
	switch {
	case valid && !in.Now.Before(sent.SwitchAt):
		c.pass(CheckNotice, "logged-in users were told of the switch at "+FormatTime(sent.SwitchAt))
	case valid:
		c.fail(Postpone, CheckNotice, fmt.Sprintf("logged-in users were told that the switch to %s starts at %s", t.Release, FormatTime(sent.SwitchAt)), sent.SwitchAt)
	case in.Now.Add(n).After(slots.Current.End):
		c.fail(Postpone, CheckNotice, fmt.Sprintf("a notice of %s would run past this host's slot, which ends at %s: the switch waits for the next window",
			config.FormatDuration(n), FormatTime(slots.Current.End)), slots.Next.Start)
	default:
		at := in.Now.Add(n)
		if !c.decided {
			c.d.Notice = &Notice{Release: t.Release, Build: t.Build, Window: slots.Window.Start, SwitchAt: at}
		}
		c.fail(Postpone, CheckNotice, fmt.Sprintf("telling logged-in users first: the switch to %s starts at %s (notice %s)", t.Release, FormatTime(at), config.FormatDuration(n)), at)
	}
}
