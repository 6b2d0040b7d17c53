package upgrade_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

func TestOutagePhases(t *testing.T) {
	queued := time.Date(2030, 1, 5, 2, 5, 0, 0, time.UTC)
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name string
		bt   systemd.BootTimes
		want state.Phases
	}{
		{
			name: "all_known",
			// services stopped for 90 s (a database), the kernel took 4 s,
			// userspace 7.5 s.
			bt:   systemd.BootTimes{Userspace: queued.Add(94 * time.Second), UserspaceMonotonic: 4 * time.Second, Finish: queued.Add(101500 * time.Millisecond)},
			want: state.Phases{StoppingSeconds: f(90), KernelSeconds: f(4), UserspaceSeconds: f(7.5)},
		},
		{
			name: "boot_not_finished",
			bt:   systemd.BootTimes{Userspace: queued.Add(10 * time.Second), UserspaceMonotonic: 3 * time.Second},
			want: state.Phases{StoppingSeconds: f(7), KernelSeconds: f(3)},
		},
		{
			// A clock the new kernel read from a coarse RTC, behind the queue:
			// the stopping phase is unknown, not negative.
			name: "clock_behind",
			bt:   systemd.BootTimes{Userspace: queued.Add(2 * time.Second), UserspaceMonotonic: 3 * time.Second, Finish: queued.Add(5 * time.Second)},
			want: state.Phases{KernelSeconds: f(3), UserspaceSeconds: f(3)},
		},
		{name: "nothing_known", bt: systemd.BootTimes{}, want: state.Phases{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := upgrade.OutagePhases(queued, tc.bt)
			if upgrade.DescribePhases(&got) != upgrade.DescribePhases(&tc.want) {
				t.Errorf("OutagePhases(%s) = %q; want %q", tc.name, upgrade.DescribePhases(&got), upgrade.DescribePhases(&tc.want))
			}
		})
	}
}

// fakeUnitTimes answers like a host whose database took 90 s to stop.
type fakeUnitTimes struct{ stopsErr error }

func (f fakeUnitTimes) SlowestStops(context.Context) ([]systemd.UnitTime, error) {
	return []systemd.UnitTime{{Unit: "mariadb.service", Seconds: 90}}, f.stopsErr
}

func (fakeUnitTimes) SlowestStarts(context.Context) ([]systemd.UnitTime, error) {
	return []systemd.UnitTime{{Unit: "cloud-init.service", Seconds: 6.5}}, nil
}

// TestRunVerifiedPhases: the verified attempt says where the outage went,
// in the state, the journal and history's text.
func TestRunVerifiedPhases(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stopsErr error
		want     string
	}{
		{"journal_kept", nil, "stopping 90.0s, kernel 4.0s, userspace 7.5s; slowest to stop: mariadb.service 90.0s; slowest to start: cloud-init.service 6.5s"},
		{"journal_volatile", errors.New("the previous boot's journal is not kept"), "stopping 90.0s, kernel 4.0s, userspace 7.5s; slowest to start: cloud-init.service 6.5s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := switched(t)
			r.boot(newRelease, newBuild, newBootID, host.LoaderKexec)
			r.now = fixedNow.Add(3 * time.Minute)
			r.userspace, r.kernelTook, r.finish = fixedNow.Add(94*time.Second), 4*time.Second, fixedNow.Add(101500*time.Millisecond)
			env := r.env()
			env.UnitTimes = fakeUnitTimes{stopsErr: tc.stopsErr}
			r.resetLog()
			out, err := upgrade.Run(context.Background(), env, false)
			if err != nil {
				t.Fatal(err)
			}
			v := out.Verified
			if v == nil || v.Phases == nil || upgrade.DescribePhases(v.Phases) != tc.want {
				t.Fatalf("verified attempt phases = %q; want %q", upgrade.DescribePhases(v.Phases), tc.want)
			}
			if tc.stopsErr != nil && !strings.Contains(v.Phases.StopsUnknown, "not kept") {
				t.Errorf("StopsUnknown = %q; want the reason", v.Phases.StopsUnknown)
			}
			st := r.state()
			if last, _ := st.LastAttempt(); last.Phases == nil {
				t.Errorf("state's last attempt has no phases")
			}
			var ev systemd.Event
			for _, e := range r.journal() {
				if e.Kind == systemd.EventVerified {
					ev = e
				}
			}
			if ev.Fields["PHASES"] != tc.want || !strings.Contains(ev.Message, "mariadb") == (tc.stopsErr == nil) {
				t.Errorf("verified event = %q, PHASES %q; want the breakdown", ev.Message, ev.Fields["PHASES"])
			}
		})
	}
}

func TestWithGateReady(t *testing.T) {
	up := time.Date(2030, 1, 5, 2, 6, 0, 0, time.UTC)
	f := func(v float64) *float64 { return &v }
	first := state.Phases{StoppingSeconds: f(9), KernelSeconds: f(12)}
	tests := []struct {
		name            string
		in              state.Phases
		userspace, gate time.Time
		want            state.Phases
	}{
		{name: "gate_passed", in: first, userspace: up, gate: up.Add(95 * time.Second), want: state.Phases{StoppingSeconds: f(9), KernelSeconds: f(12), UserspaceSeconds: f(95)}},
		// The gate, not the boot-finished timestamp, ends a trial's userspace.
		{name: "boot_finished_earlier", in: state.Phases{UserspaceSeconds: f(40)}, userspace: up, gate: up.Add(2 * time.Minute), want: state.Phases{UserspaceSeconds: f(120)}},
		{name: "userspace_unknown", in: first, gate: up, want: first},
		{name: "gate_unknown", in: first, userspace: up, want: first},
		{name: "gate_before_userspace", in: first, userspace: up, gate: up.Add(-time.Second), want: first},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := upgrade.WithGateReady(tc.in, tc.userspace, tc.gate)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("WithGateReady = %s; want %s", upgrade.DescribePhases(&got), upgrade.DescribePhases(&tc.want))
			}
		})
	}
}
