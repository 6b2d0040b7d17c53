package plan

import (
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
)

// BenchmarkGatherPlanNextRun is an idle run's decision work since each run
// arms its next one (issue 15): read the host's facts on the debian_cloud
// fixture, choose the target, plan with the window closed (the usual idle
// case: a pending kernel waits for its slot), and compute NextRun.
// Compare with BenchmarkGatherAndPlan, the same work before NextRun.
func BenchmarkGatherPlanNextRun(b *testing.B) {
	root := fixtureRoot("debian_cloud")
	f, err := host.Gather(root)
	if err != nil {
		b.Fatal(err)
	}
	cached := targetOf(b, root, f)
	base := inputs(withNow(midweek))
	b.ReportAllocs()
	for b.Loop() {
		f, err := host.Gather(root)
		if err != nil {
			b.Fatal(err)
		}
		c, ok := ChooseTarget(f)
		if !ok {
			b.Fatal("no target")
		}
		t := *cached
		t.Candidate = c
		in := base
		in.Facts, in.Target = f, &t
		d := Plan(in)
		if d.Action != Postpone {
			b.Fatalf("Plan = %s (%s); want postpone", d.Action, d.Reason)
		}
		if at, _ := NextRun(d, in); at.IsZero() {
			b.Fatal("NextRun armed nothing for a closed window")
		}
	}
}

// BenchmarkNextRun is NextRun alone, on a decision postponed by the window.
func BenchmarkNextRun(b *testing.B) {
	in := inputs(withNow(midweek))
	d := Plan(in)
	if d.Action != Postpone {
		b.Fatalf("Plan = %s (%s); want postpone", d.Action, d.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		if at, _ := NextRun(d, in); at.IsZero() {
			b.Fatal("NextRun armed nothing for a closed window")
		}
	}
}
