package upgrade_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

const trixieRelease = "6.12.117+deb13-cloud-amd64"

func trixieGrub(t *testing.T) (cfg, env []byte) {
	t.Helper()
	cfg, err := os.ReadFile("../host/testdata/grubcfg/trixie-one-kernel.cfg")
	if err != nil {
		t.Fatal(err)
	}
	env, err = os.ReadFile("../host/testdata/grubenv/trixie-fresh.grubenv")
	if err != nil {
		t.Fatal(err)
	}
	return cfg, env
}

func TestPlanTrial(t *testing.T) {
	cfg, env := trixieGrub(t)
	running := host.Running{Release: trixieRelease, Cmdline: "BOOT_IMAGE=/vmlinuz-" + trixieRelease + " root=UUID=a8c17a3d-83b5-4a90-8f42-1bac5514c1cf ro console=ttyS0,115200 net.ifnames=0"}
	dev := &host.Watchdog{Device: "/dev/watchdog0", Identity: "i6300ESB timer"}
	wd := config.Watchdog{Timeout: 2 * time.Minute}
	entry := "gnulinux-advanced-a8c17a3d-83b5-4a90-8f42-1bac5514c1cf>gnulinux-" + trixieRelease + "-advanced-a8c17a3d-83b5-4a90-8f42-1bac5514c1cf"
	tests := []struct {
		name        string
		f           upgrade.TrialFacts
		entry       string
		unavailable string
		watchdog    string
		refusal     string
	}{
		{name: "grub_and_watchdog", f: upgrade.TrialFacts{Watchdog: wd, Device: dev, Grub: true, GrubCfg: cfg, GrubEnv: env, Running: running},
			entry: entry, watchdog: "/dev/watchdog0 (i6300ESB timer)"},
		{name: "no_grub", f: upgrade.TrialFacts{Watchdog: wd, Device: dev, Running: running},
			unavailable: "GRUB is not the boot loader", watchdog: "/dev/watchdog0 (i6300ESB timer)"},
		{name: "torn_grubenv", f: upgrade.TrialFacts{Watchdog: wd, Grub: true, GrubCfg: cfg, GrubEnv: env[:512], Running: running},
			unavailable: "/boot/grub/grubenv: not a GRUB environment block: 512 bytes"},
		{name: "no_grubenv", f: upgrade.TrialFacts{Watchdog: wd, Grub: true, GrubCfg: cfg, GrubEnvErr: os.ErrNotExist, Running: running},
			unavailable: "GRUB's environment block cannot be read"},
		{name: "no_next_entry_support", f: upgrade.TrialFacts{Watchdog: wd, Grub: true, GrubCfg: []byte("menuentry 'x' {\n}\n"), GrubEnv: env, Running: running},
			unavailable: "does not honour GRUB's one-shot next_entry"},
		{name: "no_entry_for_release", f: upgrade.TrialFacts{Watchdog: wd, Grub: true, GrubCfg: cfg, GrubEnv: env, Running: host.Running{Release: "6.1.0-50-cloud-amd64", Cmdline: "root=/dev/vda1 ro"}},
			unavailable: "no GRUB menu entry boots /vmlinuz-6.1.0-50-cloud-amd64"},
		{name: "require_without_device", f: upgrade.TrialFacts{Watchdog: config.Watchdog{Require: true, Timeout: time.Minute}, Grub: true, GrubCfg: cfg, GrubEnv: env, Running: running},
			entry: entry, refusal: "no hardware watchdog"},
		{name: "require_stopped_at_kexec", f: upgrade.TrialFacts{Watchdog: config.Watchdog{Require: true, Timeout: time.Minute}, Device: &host.Watchdog{Device: "/dev/watchdog0", Identity: "i6300ESB timer", StopOnReboot: "-1", CoreModule: true}, Grub: true, GrubCfg: cfg, GrubEnv: env, Running: running},
			entry: entry, watchdog: "/dev/watchdog0 (i6300ESB timer)", refusal: "/dev/watchdog0 (i6300ESB timer) would be stopped by the running kernel at the kexec (watchdog.stop_on_reboot=-1"},
		{name: "require_keeps_running", f: upgrade.TrialFacts{Watchdog: config.Watchdog{Require: true, Timeout: time.Minute}, Device: &host.Watchdog{Device: "/dev/watchdog0", StopOnReboot: "0"}, Grub: true, GrubCfg: cfg, GrubEnv: env, Running: running},
			entry: entry, watchdog: "/dev/watchdog0"},
		{name: "require_unreadable", f: upgrade.TrialFacts{Watchdog: config.Watchdog{Require: true}, DeviceErr: errors.New("permission denied"), Running: running},
			unavailable: "GRUB is not", refusal: "cannot be read (permission denied)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, refusal := upgrade.PlanTrial(tc.f)
			if tr.FallbackEntry != tc.entry || !strings.Contains(tr.FallbackUnavailable, tc.unavailable) || (tc.unavailable == "") != (tr.FallbackUnavailable == "") {
				t.Errorf("fallback = %q / %q; want %q / %q", tr.FallbackEntry, tr.FallbackUnavailable, tc.entry, tc.unavailable)
			}
			if tr.Watchdog != tc.watchdog {
				t.Errorf("watchdog = %q; want %q", tr.Watchdog, tc.watchdog)
			}
			if (tc.refusal == "") != (refusal == "") || !strings.Contains(refusal, tc.refusal) {
				t.Errorf("refusal = %q; want %q", refusal, tc.refusal)
			}
			if tr.Phase != state.TrialArmed || strings.Contains(tr.OldCmdline, "BOOT_IMAGE") || !strings.HasPrefix(tr.OldCmdline, "root=") {
				t.Errorf("phase %q, old command line %q", tr.Phase, tr.OldCmdline)
			}
		})
	}
}

func TestWatchdogStoppedAtKexec(t *testing.T) {
	tests := []struct {
		name string
		w    host.Watchdog
		want string
		fix  string
	}{
		{"keeps_running", host.Watchdog{StopOnReboot: "0", CoreModule: true}, "", "options watchdog stop_on_reboot=0"},
		{"driver_default", host.Watchdog{StopOnReboot: "-1", CoreModule: true}, "would be stopped by the running kernel at the kexec (watchdog.stop_on_reboot=-1 leaves it to the driver", "options watchdog stop_on_reboot=0"},
		{"forced_stop", host.Watchdog{StopOnReboot: "1"}, "would be stopped by the running kernel at the kexec (watchdog.stop_on_reboot=1)", "GRUB_CMDLINE_LINUX"},
		{"no_parameter", host.Watchdog{}, "may be stopped by the running kernel at the kexec (its watchdog core has no stop_on_reboot parameter", "watchdog.stop_on_reboot=0"},
		{"unreadable", host.Watchdog{StopOnRebootErr: errors.New("permission denied")}, "may be stopped by the running kernel at the kexec (permission denied)", "watchdog.stop_on_reboot=0"},
	}
	softdog := host.Watchdog{Identity: "Software Watchdog", StopOnReboot: "0", CoreModule: true}
	if got, fix := upgrade.WatchdogStoppedAtKexec(softdog), upgrade.WatchdogKeepRunningFix(softdog); !strings.HasPrefix(got, "ends with the kexec (softdog") || !strings.Contains(fix, "hardware watchdog") {
		t.Errorf("softdog: %q, fix %q; want it ending with the kexec whatever stop_on_reboot says", got, fix)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := upgrade.WatchdogStoppedAtKexec(tc.w)
			if (tc.want == "") != (got == "") || !strings.HasPrefix(got, tc.want) {
				t.Errorf("WatchdogStoppedAtKexec = %q; want %q", got, tc.want)
			}
			fix := upgrade.WatchdogKeepRunningFix(tc.w)
			if !strings.Contains(fix, tc.fix) || !strings.HasPrefix(fix, "add watchdog.stop_on_reboot=0 to the kernel command line") ||
				strings.Contains(fix, "modprobe") != tc.w.CoreModule {
				t.Errorf("WatchdogKeepRunningFix = %q; want %q, modprobe.d only for a module", fix, tc.fix)
			}
		})
	}
}

func TestDescribeTrial_watchdog(t *testing.T) {
	armed := &state.Trial{Watchdog: "/dev/watchdog0", WatchdogSeconds: 30}
	if got := upgrade.DescribeTrial(armed); !strings.Contains(got, "watchdog /dev/watchdog0 armed for 30s") {
		t.Errorf("kept running: %q", got)
	}
	armed.WatchdogStopped = "would be stopped by the running kernel at the kexec (watchdog.stop_on_reboot=-1)"
	if got := upgrade.DescribeTrial(armed); strings.Contains(got, "armed") || !strings.Contains(got, "watchdog /dev/watchdog0 would be stopped by the running kernel at the kexec (watchdog.stop_on_reboot=-1): a kernel that hangs is not reset") {
		t.Errorf("stopped at the kexec: %q", got)
	}
}

func TestWithPanic(t *testing.T) {
	tests := []struct {
		in, want string
		added    bool
	}{
		{"root=/dev/sda1 ro", "root=/dev/sda1 ro panic=10", true},
		{"", "panic=10", true},
		{"root=/dev/sda1 panic=30", "root=/dev/sda1 panic=30", false},
		{"root=/dev/sda1 panic=0 quiet", "root=/dev/sda1 panic=0 quiet", false},
		{"root=/dev/sda1 panic_on_oops=1", "root=/dev/sda1 panic_on_oops=1 panic=10", true},
	}
	for _, tc := range tests {
		got, added := upgrade.WithPanic(tc.in)
		if got != tc.want || added != tc.added {
			t.Errorf("WithPanic(%q) = %q, %v; want %q, %v", tc.in, got, added, tc.want, tc.added)
		}
	}
}

func TestWithWatchdogSec(t *testing.T) {
	if got, added := upgrade.WithWatchdogSec("root=/dev/sda1", 2*time.Minute); got != "root=/dev/sda1 systemd.watchdog_sec=120" || !added {
		t.Errorf("WithWatchdogSec = %q, %v", got, added)
	}
	if got, added := upgrade.WithWatchdogSec("root=/dev/sda1 systemd.watchdog_sec=off", time.Minute); got != "root=/dev/sda1 systemd.watchdog_sec=off" || added {
		t.Errorf("WithWatchdogSec kept the admin's? %q, %v", got, added)
	}
}

func TestJudgeHealth(t *testing.T) {
	boot := time.Date(2026, 3, 28, 2, 31, 0, 0, time.UTC)
	soon, late := boot.Add(time.Minute), boot.Add(11*time.Minute)
	gate := config.Health{Units: []string{"nginx.service"}, Command: []string{"/usr/local/bin/check"}, Deadline: 10 * time.Minute}
	ok := &upgrade.CommandResult{}
	active := map[string]string{"nginx.service": "active"}
	tests := []struct {
		name   string
		in     upgrade.HealthInputs
		now    time.Time
		want   string
		reason string
	}{
		{"healthy", upgrade.HealthInputs{Config: gate, BootedAt: boot, SystemState: "running", Units: active, Command: ok}, soon, upgrade.HealthHealthy, ""},
		{"degraded_tolerated", upgrade.HealthInputs{Config: gate, BootedAt: boot, SystemState: "degraded", Units: active, Command: ok}, soon, upgrade.HealthHealthy, ""},
		{"degraded_unhealthy", upgrade.HealthInputs{Config: config.Health{DegradedUnhealthy: true}, BootedAt: boot, SystemState: "degraded"}, soon, upgrade.HealthUnhealthy, "degraded"},
		{"maintenance", upgrade.HealthInputs{BootedAt: boot, SystemState: "maintenance"}, soon, upgrade.HealthUnhealthy, "maintenance"},
		{"starting", upgrade.HealthInputs{Config: gate, BootedAt: boot, SystemState: "starting", Units: active, Command: ok}, soon, upgrade.HealthWaiting, "systemd is starting"},
		{"starting_past_deadline", upgrade.HealthInputs{Config: gate, BootedAt: boot, SystemState: "starting", Units: active, Command: ok}, late, upgrade.HealthUnhealthy, "not healthy 10m0s after boot ([health] deadline): systemd is starting"},
		{"unit_failed", upgrade.HealthInputs{Config: gate, BootedAt: boot, SystemState: "degraded", Units: map[string]string{"nginx.service": "failed"}, Command: ok}, soon, upgrade.HealthUnhealthy, "the required unit nginx.service failed"},
		{"unit_condition_failed", upgrade.HealthInputs{Config: gate, BootedAt: boot, SystemState: "running", Units: map[string]string{"nginx.service": "condition-failed"}, Command: ok}, soon, upgrade.HealthUnhealthy, "did not start on this kernel: a condition of it does not hold"},
		{"unit_assert_failed", upgrade.HealthInputs{Config: gate, BootedAt: boot, SystemState: "running", Units: map[string]string{"nginx.service": "assert-failed"}, Command: ok}, soon, upgrade.HealthUnhealthy, "an assertion"},
		{"unit_activating", upgrade.HealthInputs{Config: gate, BootedAt: boot, SystemState: "running", Units: map[string]string{"nginx.service": "activating"}, Command: ok}, soon, upgrade.HealthWaiting, "nginx.service is activating"},
		{"unit_unknown", upgrade.HealthInputs{Config: gate, BootedAt: boot, SystemState: "running", UnitsErr: errors.New("no bus"), Command: ok}, soon, upgrade.HealthWaiting, "unknown: no bus"},
		{"command_fails", upgrade.HealthInputs{Config: gate, BootedAt: boot, SystemState: "running", Units: active, Command: &upgrade.CommandResult{ExitCode: 2, Output: "db down"}}, soon, upgrade.HealthWaiting, `exited 2 ("db down")`},
		{"command_fails_past_deadline", upgrade.HealthInputs{Config: gate, BootedAt: boot, SystemState: "running", Units: active, Command: &upgrade.CommandResult{ExitCode: 2}}, late, upgrade.HealthUnhealthy, "exited 2"},
		{"command_not_run", upgrade.HealthInputs{Config: gate, BootedAt: boot, SystemState: "running", Units: active}, soon, upgrade.HealthWaiting, "has not run"},
		{"state_unknown", upgrade.HealthInputs{BootedAt: boot, SystemStateErr: errors.New("timeout")}, soon, upgrade.HealthWaiting, "unknown: timeout"},
		{"default_deadline", upgrade.HealthInputs{BootedAt: boot, SystemState: "starting"}, boot.Add(config.DefaultHealthDeadline), upgrade.HealthUnhealthy, "10m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := upgrade.JudgeHealth(tc.in, tc.now)
			if v.State != tc.want || !strings.Contains(v.Reason, tc.reason) || (tc.reason == "") != (v.Reason == "") {
				t.Errorf("JudgeHealth = %+v; want %s containing %q", v, tc.want, tc.reason)
			}
		})
	}
}

func TestTrialNextCheck(t *testing.T) {
	now := time.Date(2026, 3, 28, 2, 35, 0, 0, time.UTC)
	if got := upgrade.TrialNextCheck(state.Trial{Deadline: now.Add(time.Hour)}, now); !got.Equal(now.Add(time.Minute)) {
		t.Errorf("far deadline: %v", got)
	}
	if got := upgrade.TrialNextCheck(state.Trial{Deadline: now.Add(20 * time.Second)}, now); !got.Equal(now.Add(21 * time.Second)) {
		t.Errorf("near deadline: %v", got)
	}
}
