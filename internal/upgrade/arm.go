package upgrade

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
)

// armNextRun makes systemd start the next run exactly when the decision may
// change (a slot opens, a pause or notice ends, the package manager lets go),
// instead of at the packaged timer's next five-minute tick, and records it.
// An unchanged time costs no D-Bus call, so an idle run stays cheap. A
// failure is reported and leaves the packaged timer as the safety net.
func armNextRun(ctx context.Context, env Env, st *state.State, r Report) {
	at, why := plan.NextRun(r.Decision, r.Inputs)
	old := st.Armed
	if at.IsZero() && old == nil || old != nil && old.At.Equal(at) {
		return
	}
	bus, err := env.Connect(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kexec-upgrade: cannot arm the next run: %v\n", err)
		return
	}
	defer bus.Close()
	if old != nil {
		if err := bus.DisarmRun(ctx, old.Name); err != nil {
			fmt.Fprintf(os.Stderr, "kexec-upgrade: %v\n", err)
		}
		st.Armed = nil
	}
	if at.IsZero() {
		return
	}
	name := fmt.Sprintf("kexec-upgrade-at-%d", at.Unix())
	if err := bus.ArmRun(ctx, name, at); err != nil {
		fmt.Fprintf(os.Stderr, "kexec-upgrade: %v\n", err)
		return
	}
	st.Armed = &state.Armed{Name: name, At: at, Why: why, ArmedAt: env.Now().Truncate(time.Second)}
}
