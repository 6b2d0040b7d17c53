package upgrade

import (
	"context"
	"fmt"
	"os"

	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
)

// sendNotice tells logged-in users that a switch is coming, as shutdown's
// warnings do, and records it: the plan waits until the notice ran out.
// A notice that cannot be sent is reported and not recorded, so the next
// run tries again and the switch keeps waiting.
func sendNotice(ctx context.Context, env Env, st *state.State, d plan.Decision) {
	n := d.Notice
	host, _ := os.Hostname()
	msg := fmt.Sprintf("kexec-upgrade: %s switches to Linux %s at %s.\nRunning services are stopped and started again; the switch itself takes seconds.\nAn admin can postpone it with `kexec-upgrade pause`.",
		host, n.Release, plan.FormatTime(n.SwitchAt))
	bus, err := env.Connect(ctx)
	if err == nil {
		err = bus.Wall(ctx, msg)
		bus.Close()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kexec-upgrade: cannot send the notice of the switch: %v\n", err)
		return
	}
	st.Notice = &state.Notice{To: state.Kernel{Release: n.Release, Build: n.Build}, SentAt: env.Now(), Window: n.Window, SwitchAt: n.SwitchAt}
}
