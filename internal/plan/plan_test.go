package plan

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/window"
)

func TestPlan_allPass(t *testing.T) {
	d := Plan(inputs())
	if d.Action != Switch || d.Check != "" || !d.New || d.Forced {
		t.Errorf("Plan(all pass) = %s (check %q, new %t, forced %t); want switch", d.Action, d.Check, d.New, d.Forced)
	}
	if want := "switching to " + rel51 + ": release " + rel51 + " is newer than the running " + rel50; d.Reason != want {
		t.Errorf("Plan(all pass).Reason = %q; want %q", d.Reason, want)
	}
	if want := "root=/dev/vda1 ro quiet"; d.Cmdline != want {
		t.Errorf("Plan(all pass).Cmdline = %q; want %q (BOOT_IMAGE= dropped)", d.Cmdline, want)
	}
	if got := trace(d); got != allPass {
		t.Errorf("Plan(all pass) trace = %s; want %s", got, allPass)
	}
	if d.Target == nil || d.Target.Release != rel51 || !d.RetryAt.IsZero() {
		t.Errorf("Plan(all pass).Target, RetryAt = %v, %v; want %s, zero", d.Target, d.RetryAt, rel51)
	}
	if got, want := step(t, d, CheckWindow).Detail, "open until Sat 2026-03-28 04:00 CET (03:00 UTC)"; got != want {
		t.Errorf("Plan(all pass) window detail = %q; want %q", got, want)
	}
}

func TestPlan(t *testing.T) {
	tooLong := strings.Repeat("x", 40)
	tests := []struct {
		name   string
		opts   []func(*Inputs)
		action Action
		check  string
		// reason holds the parts the reason must name.
		reason []string
		retry  time.Time
		trace  string
	}{
		{
			name:   "inhibitor_blocks_shutdown",
			opts:   []func(*Inputs){withInhibitor("db", "backup running")},
			action: Postpone, check: CheckInhibitor,
			reason: []string{`"db"`, "backup running", "pid 1234"},
			trace:  results("inhibitor=fail"),
		},
		{
			name:   "two_inhibitors_both_named",
			opts:   []func(*Inputs){withInhibitor("db", "backup running"), withInhibitor("apt", "upgrading")},
			action: Postpone, check: CheckInhibitor,
			reason: []string{`"db" (backup running`, `"apt" (upgrading`},
			trace:  results("inhibitor=fail"),
		},
		{
			name: "inhibitors_unknown",
			opts: []func(*Inputs){func(in *Inputs) {
				in.InhibitorsErr = errors.New("org.freedesktop.login1 was not provided by any .service files")
			}},
			action: Postpone, check: CheckInhibitor,
			reason: []string{"logind's inhibitors", "org.freedesktop.login1"},
			trace:  results("inhibitor=fail"),
		},
		{
			name:   "window_closed",
			opts:   []func(*Inputs){withNow(midweek)},
			action: Postpone, check: CheckWindow,
			reason: []string{"maintenance window closed", "Sat 2026-03-28 02:00 CET (01:00 UTC)"},
			retry:  time.Date(2026, 3, 28, 1, 0, 0, 0, time.UTC),
			trace:  results("window=fail"),
		},
		{
			// At 04:00 CET the window has closed; on Sunday 02:00 falls in
			// the hour skipped by the switch to CEST, so it opens at 03:00.
			name:   "window_end_is_exclusive_next_in_dst_gap",
			opts:   []func(*Inputs){withNow(time.Date(2026, 3, 28, 3, 0, 0, 0, time.UTC))},
			action: Postpone, check: CheckWindow,
			reason: []string{"next opens Sun 2026-03-29 03:00 CEST (01:00 UTC)"},
			retry:  time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC),
			trace:  results("window=fail"),
		},
		{
			name:   "no_windows",
			opts:   []func(*Inputs){func(in *Inputs) { in.Config.Windows = nil }},
			action: Postpone, check: CheckWindow,
			reason: []string{"no maintenance window is configured", "[[window]]", "run --now"},
			trace:  results("window=fail"),
		},
		{
			name:   "disabled",
			opts:   []func(*Inputs){func(in *Inputs) { in.Config.Enabled = false }},
			action: Postpone, check: CheckEnabled,
			reason: []string{"enabled = false", "run --now"},
			trace:  results("enabled=fail window=skip"),
		},
		{
			name:   "uptime_below_min_uptime",
			opts:   []func(*Inputs){withUptime(2*time.Minute + 10*time.Second)},
			action: Postpone, check: CheckUptime,
			reason: []string{"up for 2m10s", "min_uptime 5m0s"},
			// Booted at 01:27:50; five minutes later.
			retry: time.Date(2026, 3, 28, 1, 32, 50, 0, time.UTC),
			trace: results("uptime=fail"),
		},
		{
			name:   "system_stopping",
			opts:   []func(*Inputs){func(in *Inputs) { in.SystemState = "stopping" }},
			action: Postpone, check: CheckSystemState,
			reason: []string{"the system is stopping, not running"},
			trace:  results("system-state=fail"),
		},
		{
			name:   "system_starting",
			opts:   []func(*Inputs){func(in *Inputs) { in.SystemState = "starting" }},
			action: Postpone, check: CheckSystemState,
			reason: []string{"the system is starting"},
			trace:  results("system-state=fail"),
		},
		{
			name: "system_state_unknown_dbus_down",
			opts: []func(*Inputs){func(in *Inputs) {
				err := errors.New("connect to the system D-Bus: dial unix /run/dbus/system_bus_socket: connect: no such file or directory")
				in.SystemStateErr, in.InhibitorsErr = err, err
			}},
			action: Postpone, check: CheckSystemState,
			reason: []string{"cannot ask systemd for the system state", "system D-Bus"},
			trace:  results("system-state=fail inhibitor=fail"),
		},
		{
			name:   "dpkg_lock_held",
			opts:   []func(*Inputs){func(in *Inputs) { in.LockHolder = "/var/lib/dpkg/lock-frontend is held by apt-get (pid 4242)" }},
			action: Postpone, check: CheckDpkgLock,
			reason: []string{"package manager is busy", "apt-get (pid 4242)"},
			trace:  results("dpkg-lock=fail"),
		},
		{
			name:   "dpkg_lock_probe_failed",
			opts:   []func(*Inputs){func(in *Inputs) { in.LockErr = errors.New("probe /var/lib/dpkg/lock: permission denied") }},
			action: Postpone, check: CheckDpkgLock,
			reason: []string{"cannot probe", "/var/lib/dpkg/lock: permission denied"},
			trace:  results("dpkg-lock=fail"),
		},
		{
			name:   "package_unpacked",
			opts:   []func(*Inputs){withPackageStatus("install", "ok", "unpacked", false)},
			action: Refuse, check: CheckPackage,
			reason: []string{"linux-image-" + rel51, "6.1.176-1", "unpacked (iU)"},
			trace:  results("package=fail"),
		},
		{
			name:   "package_pending_in_updates_journal",
			opts:   []func(*Inputs){withPackageStatus("install", "ok", "half-configured", true)},
			action: Refuse, check: CheckPackage,
			reason: []string{"linux-image-" + rel51, "pending dpkg changes (iF)"},
			trace:  results("package=fail"),
		},
		{
			name:   "package_installed_but_pending",
			opts:   []func(*Inputs){withPackageStatus("install", "ok", "installed", true)},
			action: Refuse, check: CheckPackage,
			reason: []string{"pending dpkg changes (ii)"},
			trace:  results("package=fail"),
		},
		{
			name: "image_truncated",
			opts: []func(*Inputs){func(in *Inputs) {
				in.Target.ImageErr = fmt.Errorf("%w: 4200 bytes, header says 4608", kernel.ErrTruncated)
				in.Target.Build, in.Target.ImageRelease = "", ""
			}},
			action: Refuse, check: CheckImage,
			reason: []string{image51, "kernel image truncated: 4200 bytes"},
			trace:  results("image=fail"),
		},
		{
			name:   "image_release_mismatch",
			opts:   []func(*Inputs){func(in *Inputs) { in.Target.ImageRelease = "6.1.0-52-cloud-amd64" }},
			action: Refuse, check: CheckImage,
			reason: []string{image51, "says it is 6.1.0-52-cloud-amd64, not " + rel51},
			trace:  results("image=fail"),
		},
		{
			name:   "initrd_missing",
			opts:   []func(*Inputs){func(in *Inputs) { in.Target.Files.HasInitrd = false }},
			action: Refuse, check: CheckInitrd,
			reason: []string{initrd + " is missing", "update-initramfs -c -k " + rel51},
			trace:  results("initrd=fail"),
		},
		{
			name:   "initrd_new_pending",
			opts:   []func(*Inputs){func(in *Inputs) { in.Target.Files.InitrdPending = true }},
			action: Refuse, check: CheckInitrd,
			reason: []string{initrd + ".new exists", "update-initramfs"},
			trace:  results("initrd=fail"),
		},
		{
			name: "failed_before",
			opts: []func(*Inputs){func(in *Inputs) {
				in.FailedBefore = &Failure{Kind: "booted-old-kernel", Reason: "came up as 6.1.0-50-cloud-amd64", At: time.Date(2026, 3, 21, 1, 32, 0, 0, time.UTC)}
			}},
			action: Refuse, check: CheckFailedBefore,
			reason: []string{rel51, build51, "booted-old-kernel on 2026-03-21T01:32:00Z", "came up as 6.1.0-50", "run --now"},
			trace:  results("failed-before=fail"),
		},
		{
			name: "failed_before_retried_by_run_now",
			opts: []func(*Inputs){withForce(), func(in *Inputs) {
				in.FailedBefore = &Failure{Kind: "firmware-reboot", Reason: "loader type 0x72", At: time.Date(2026, 3, 21, 1, 32, 0, 0, time.UTC)}
			}},
			action: Switch,
			reason: []string{"switching to " + rel51, "(forced by run --now)"},
			trace:  results("failed-before=skip enabled=skip window=skip uptime=skip"),
		},
		{
			name:   "kexec_load_disabled",
			opts:   []func(*Inputs){func(in *Inputs) { in.Facts.Kexec.LoadDisabled = true }},
			action: Refuse, check: CheckKexecAllowed,
			reason: []string{"kernel.kexec_load_disabled = 1"},
			trace:  results("kexec-allowed=fail"),
		},
		{
			name:   "kernel_without_kexec",
			opts:   []func(*Inputs){func(in *Inputs) { in.Facts.Kexec.Unsupported = true }},
			action: Refuse, check: CheckKexecAllowed,
			reason: []string{"no kexec support", "/sys/kernel/kexec_loaded"},
			trace:  results("kexec-allowed=fail"),
		},
		{
			name:   "no_cap_sys_boot",
			opts:   []func(*Inputs){func(in *Inputs) { in.Facts.Kexec.CapSysBoot = false }},
			action: Refuse, check: CheckKexecAllowed,
			reason: []string{"CAP_SYS_BOOT", "CapabilityBoundingSet"},
			trace:  results("kexec-allowed=fail"),
		},
		{
			name: "lockdown_refuses_unsigned_image",
			opts: []func(*Inputs){func(in *Inputs) {
				in.Facts.Kexec.Lockdown = "integrity"
				in.Target.Signed = false
			}},
			action: Refuse, check: CheckKexecAllowed,
			reason: []string{"lockdown (integrity)", image51 + " is not signed"},
			trace:  results("kexec-allowed=fail"),
		},
		{
			name:   "lockdown_passes_signed_image",
			opts:   []func(*Inputs){func(in *Inputs) { in.Facts.Kexec.Lockdown = "confidentiality" }},
			action: Switch,
			reason: []string{"switching to " + rel51},
			trace:  allPass,
		},
		{
			name:   "unsigned_image_without_lockdown",
			opts:   []func(*Inputs){func(in *Inputs) { in.Target.Signed = false; in.Facts.Kexec.Lockdown = "" }},
			action: Switch,
			reason: []string{"switching to " + rel51},
			trace:  allPass,
		},
		{
			name: "cmdline_too_long",
			opts: []func(*Inputs){func(in *Inputs) {
				in.Target.CmdlineMax = 64
				in.Config.CmdlineAppend = tooLong
			}},
			action: Refuse, check: CheckCmdline,
			reason: []string{"kernel command line too long", "limit 33", "kexec_upgrade.attempt= marker"},
			trace:  results("cmdline=fail"),
		},
		{
			name:   "notice_first",
			opts:   []func(*Inputs){withNotice(5*time.Minute, nil)},
			action: Postpone, check: CheckNotice,
			reason: []string{"telling logged-in users first", rel51, "notice 5m"},
			retry:  inWindow.Add(5 * time.Minute),
			trace:  results("notice=fail"),
		},
		{
			name:   "notice_running",
			opts:   []func(*Inputs){withNotice(5*time.Minute, &Notice{Release: rel51, Build: build51, Window: time.Date(2026, 3, 28, 1, 0, 0, 0, time.UTC), SwitchAt: inWindow.Add(time.Minute)})},
			action: Postpone, check: CheckNotice,
			reason: []string{"were told that the switch to " + rel51 + " starts at"},
			retry:  inWindow.Add(time.Minute),
			trace:  results("notice=fail"),
		},
		{
			name:   "notice_ran_out",
			opts:   []func(*Inputs){withNotice(5*time.Minute, &Notice{Release: rel51, Build: build51, Window: time.Date(2026, 3, 28, 1, 0, 0, 0, time.UTC), SwitchAt: inWindow})},
			action: Switch,
			reason: []string{"switching to " + rel51},
			trace:  allPass,
		},
		{
			name:   "notice_of_an_earlier_window_is_sent_again",
			opts:   []func(*Inputs){withNotice(5*time.Minute, &Notice{Release: rel51, Build: build51, Window: time.Date(2026, 3, 22, 0, 0, 0, 0, time.UTC), SwitchAt: inWindow.Add(-6 * 24 * time.Hour)})},
			action: Postpone, check: CheckNotice,
			reason: []string{"telling logged-in users first"},
			retry:  inWindow.Add(5 * time.Minute),
			trace:  results("notice=fail"),
		},
		{
			name:   "notice_past_the_slot",
			opts:   []func(*Inputs){withNotice(time.Hour, nil), withNow(time.Date(2026, 3, 28, 2, 10, 0, 0, time.UTC))},
			action: Postpone, check: CheckNotice,
			reason: []string{"would run past this host's slot"},
			// Sunday is the spring-forward day: 02:00 CET is 03:00 CEST.
			retry: time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC),
			trace: results("notice=fail"),
		},
		{
			name:   "notice_not_waited_for_forced",
			opts:   []func(*Inputs){withForce(), withNotice(5*time.Minute, nil)},
			action: Switch,
			reason: []string{"forced by run --now"},
			trace:  results("enabled=skip window=skip uptime=skip notice=skip"),
		},
		{
			name: "hook_unsafe_refuses_even_forced",
			opts: []func(*Inputs){withForce(), func(in *Inputs) {
				in.HookProblems = []string{"hook refused: /etc/kexec-upgrade/hooks/pre-switch.d/10-drain is writable by group or others (mode 0777): chmod go-w"}
			}},
			action: Refuse, check: CheckHook,
			reason: []string{"10-drain", "writable"},
			trace:  results("hook=fail paused=pass enabled=skip window=skip uptime=skip"),
		},
		{
			name:   "two_unsafe_hooks",
			opts:   []func(*Inputs){func(in *Inputs) { in.HookProblems = []string{"hook refused: a", "hook refused: b"} }},
			action: Refuse, check: CheckHook,
			reason: []string{"hook refused: a (and 1 more)"},
			trace:  results("hook=fail"),
		},
		{
			name:   "paused_until",
			opts:   []func(*Inputs){func(in *Inputs) { in.Pause = &Pause{Until: inWindow.Add(time.Hour), Reason: "quarter-end freeze"} }},
			action: Postpone, check: CheckPaused,
			reason: []string{"paused by an admin until", "quarter-end freeze"},
			retry:  inWindow.Add(time.Hour),
			trace:  results("paused=fail"),
		},
		{
			name:   "paused_without_end",
			opts:   []func(*Inputs){func(in *Inputs) { in.Pause = &Pause{} }},
			action: Postpone, check: CheckPaused,
			reason: []string{"until `kexec-upgrade resume`"},
			trace:  results("paused=fail"),
		},
		{
			name:   "pause_expired",
			opts:   []func(*Inputs){func(in *Inputs) { in.Pause = &Pause{Until: inWindow} }},
			action: Switch,
			reason: []string{"switching to " + rel51},
			trace:  allPass,
		},
		{
			name:   "paused_but_forced",
			opts:   []func(*Inputs){withForce(), func(in *Inputs) { in.Pause = &Pause{Until: inWindow.Add(time.Hour)} }},
			action: Switch,
			reason: []string{"forced by run --now"},
			trace:  results("paused=skip enabled=skip window=skip uptime=skip"),
		},
		{
			name: "config_error",
			opts: []func(*Inputs){func(in *Inputs) {
				in.ConfigErr = config.Errors{
					{File: "/etc/kexec-upgrade/config.toml", Line: 3, Key: "window.end", Msg: `"25:00" is not a time of day (HH:MM)`},
					{File: "/etc/kexec-upgrade/config.d/10-x.toml", Line: 1, Key: "bogus", Msg: "unknown key (see kexec-upgrade.toml(5))"},
				}
			}},
			action: Refuse, check: CheckConfig,
			reason: []string{`configuration is invalid: /etc/kexec-upgrade/config.toml:3: window.end: "25:00" is not a time of day (HH:MM) (and 1 more)`},
			trace:  "config=fail",
		},
		{
			name: "config_error_even_forced",
			opts: []func(*Inputs){withForce(), func(in *Inputs) {
				in.ConfigErr = config.Errors{{File: "/etc/kexec-upgrade/config.toml", Msg: "is a symbolic link"}}
			}},
			action: Refuse, check: CheckConfig,
			reason: []string{"configuration is invalid: /etc/kexec-upgrade/config.toml: is a symbolic link"},
			trace:  "config=fail",
		},
		{
			name: "state_corrupt",
			opts: []func(*Inputs){func(in *Inputs) {
				in.StateErr = errors.New("/var/lib/kexec-upgrade/state.json: state file is corrupt: unexpected end of JSON input")
			}},
			action: Refuse, check: CheckState,
			reason: []string{"state.json", "corrupt", "run --now moves it aside"},
			trace:  results("state=fail"),
		},
		{
			name: "state_corrupt_forced_is_skipped",
			opts: []func(*Inputs){withForce(), func(in *Inputs) {
				in.StateErr = errors.New("/var/lib/kexec-upgrade/state.json: state file is corrupt: unexpected end of JSON input")
			}},
			action: Switch,
			reason: []string{"(forced by run --now)"},
			trace:  results("state=skip enabled=skip window=skip uptime=skip"),
		},
		{
			name:   "same_build_is_up_to_date",
			opts:   []func(*Inputs){withTarget(rel50, build50)},
			action: UpToDate,
			reason: []string{rel50 + " is running already"},
			trace:  "config=pass state=pass target=pass",
		},
		{
			name:   "running_newer_than_installed",
			opts:   []func(*Inputs){func(in *Inputs) { in.Facts.Running.Release, in.Facts.Running.Build = "6.1.0-52-cloud-amd64", "#1 SMP" }},
			action: UpToDate,
			reason: []string{"the running kernel 6.1.0-52-cloud-amd64 is newer than every installed one"},
			trace:  "config=pass state=pass target=pass",
		},
		{
			name:   "rebuild_ignored_with_rebuilds_false",
			opts:   []func(*Inputs){withTarget(rel50, "#2 SMP PREEMPT_DYNAMIC Debian 6.1.171-1 (2026-05-20)"), func(in *Inputs) { in.Config.Rebuilds = false }},
			action: UpToDate,
			reason: []string{rel50 + " was rebuilt", "6.1.171-1", "rebuilds = false"},
			trace:  "config=pass state=pass target=pass",
		},
		{
			name:   "same_release_rebuild_switches",
			opts:   []func(*Inputs){withTarget(rel50, "#1 SMP PREEMPT_DYNAMIC Debian 6.1.171-1 (2026-05-20)")},
			action: Switch,
			reason: []string{"switching to " + rel50, "same release rebuilt", "6.1.171-1", "6.1.170-1"},
			trace:  allPass,
		},
		{
			name: "same_release_broken_image",
			opts: []func(*Inputs){withTarget(rel50, ""), func(in *Inputs) {
				in.Target.ImageErr = fmt.Errorf("%w: stored 0x1, computed 0x2", kernel.ErrChecksum)
			}},
			action: Refuse, check: CheckImage,
			reason: []string{"/boot/vmlinuz-" + rel50, "checksum mismatch"},
			trace:  "config=pass state=pass image=fail",
		},
		{
			name:   "no_kernel_package",
			opts:   []func(*Inputs){func(in *Inputs) { in.Target = nil }},
			action: UpToDate,
			reason: []string{"no kernel package is installed"},
			trace:  "config=pass state=pass target=pass",
		},
		{
			name:   "state_corrupt_and_up_to_date",
			opts:   []func(*Inputs){withTarget(rel50, build50), func(in *Inputs) { in.StateErr = errors.New("state file is corrupt: empty file") }},
			action: Refuse, check: CheckState,
			reason: []string{"state file is corrupt: empty file"},
			trace:  "config=pass state=fail target=pass",
		},
		{
			name:   "force_ignores_window_and_uptime",
			opts:   []func(*Inputs){withForce(), withNow(midweek), withUptime(time.Minute), func(in *Inputs) { in.Config.Enabled = false }},
			action: Switch,
			reason: []string{"switching to " + rel51, "(forced by run --now)"},
			trace:  results("enabled=skip window=skip uptime=skip"),
		},
		{
			name:   "force_does_not_ignore_inhibitors",
			opts:   []func(*Inputs){withForce(), withNow(midweek), withUptime(time.Minute), withInhibitor("db", "backup running")},
			action: Postpone, check: CheckInhibitor,
			reason: []string{`"db"`, "backup running"},
			trace:  results("enabled=skip window=skip uptime=skip inhibitor=fail"),
		},
		{
			name: "force_does_not_ignore_safety_checks",
			opts: []func(*Inputs){withForce(), func(in *Inputs) {
				in.LockHolder = "/var/lib/dpkg/lock is held by dpkg (pid 7)"
				in.Facts.Kexec.CapSysBoot = false
			}},
			action: Refuse, check: CheckKexecAllowed,
			reason: []string{"CAP_SYS_BOOT"},
			trace:  results("kexec-allowed=fail enabled=skip window=skip uptime=skip dpkg-lock=fail"),
		},
		{
			name: "lasting_problem_decides_over_moments",
			opts: []func(*Inputs){withNow(midweek), withUptime(time.Minute), withInhibitor("db", "backup running"), func(in *Inputs) {
				in.Target.Files.HasInitrd = false
				in.LockHolder = "/var/lib/dpkg/lock is held by dpkg (pid 7)"
			}},
			action: Refuse, check: CheckInitrd,
			reason: []string{initrd + " is missing"},
			trace:  results("initrd=fail window=fail uptime=fail dpkg-lock=fail inhibitor=fail"),
		},
		{
			name:   "window_decides_before_uptime",
			opts:   []func(*Inputs){withNow(midweek), withUptime(time.Minute)},
			action: Postpone, check: CheckWindow,
			reason: []string{"next opens Sat 2026-03-28 02:00 CET (01:00 UTC)"},
			retry:  time.Date(2026, 3, 28, 1, 0, 0, 0, time.UTC),
			trace:  results("window=fail uptime=fail"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Plan(inputs(tt.opts...))
			if d.Action != tt.action || d.Check != tt.check {
				t.Fatalf("Plan(%s) = %s at check %q (%s); want %s at check %q", tt.name, d.Action, d.Check, d.Reason, tt.action, tt.check)
			}
			for _, part := range tt.reason {
				if !strings.Contains(d.Reason, part) {
					t.Errorf("Plan(%s).Reason = %q; want it to name %q", tt.name, d.Reason, part)
				}
			}
			if !d.RetryAt.Equal(tt.retry) {
				t.Errorf("Plan(%s).RetryAt = %v; want %v", tt.name, d.RetryAt, tt.retry)
			}
			if got := trace(d); got != tt.trace {
				t.Errorf("Plan(%s) trace =\n  %s\nwant\n  %s", tt.name, got, tt.trace)
			}
			if tt.check != "" {
				if s := step(t, d, tt.check); s.Result != Fail || s.Detail != d.Reason {
					t.Errorf("Plan(%s) %s step = %+v; want fail with the reason as detail", tt.name, tt.check, s)
				}
			}
			if d.Action == Switch && d.Cmdline == "" {
				t.Errorf("Plan(%s).Cmdline is empty on a switch", tt.name)
			}
			if d.Action != Switch && d.Action != UpToDate && d.Reason == "" {
				t.Errorf("Plan(%s) = %s without a reason", tt.name, d.Action)
			}
			in := inputs(tt.opts...)
			if d.Forced != in.Force {
				t.Errorf("Plan(%s).Forced = %t; want %t", tt.name, d.Forced, in.Force)
			}
		})
	}
}

func TestPlan_cmdlineEdits(t *testing.T) {
	d := Plan(inputs(func(in *Inputs) {
		in.Config.CmdlineRemove = "quiet"
		in.Config.CmdlineAppend = "console=ttyS0,115200 ro"
	}))
	if want := "root=/dev/vda1 console=ttyS0,115200 ro"; d.Action != Switch || d.Cmdline != want {
		t.Errorf("Plan(remove quiet, append console) = %s %q; want switch %q", d.Action, d.Cmdline, want)
	}
	if got := step(t, d, CheckCmdline).Detail; got != d.Cmdline {
		t.Errorf("cmdline step detail = %q; want the command line %q", got, d.Cmdline)
	}
}

func TestPlan_cmdlineAtLimit(t *testing.T) {
	// The line is checked with the marker the switch appends:
	// " kexec_upgrade.attempt=" and the attempt's id.
	marker := len(" kexec_upgrade.attempt=") + len(AttemptID(inputs().Now, inputs().Target.Release))
	for _, tt := range []struct {
		name       string
		arch       kernel.Arch
		cmdlineMax int
		length     int
		action     Action
	}{
		// x86, cmdline_size 200: the longest line is 200-30-1 = 169 bytes.
		{"amd64_at_limit", kernel.ArchAMD64, 200, 169 - marker, Switch},
		{"amd64_one_over", kernel.ArchAMD64, 200, 170 - marker, Refuse},
		// arm64: COMMAND_LINE_SIZE 2048 with the NUL.
		{"arm64_at_limit", kernel.ArchARM64, 2047, 2047 - marker, Switch},
		{"arm64_one_over", kernel.ArchARM64, 2047, 2048 - marker, Refuse},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := Plan(inputs(func(in *Inputs) {
				in.Arch = tt.arch
				in.Facts.Running.Cmdline = strings.Repeat("a", tt.length)
				in.Target.CmdlineMax = tt.cmdlineMax
			}))
			if d.Action != tt.action {
				t.Errorf("Plan(%s, cmdline of %d bytes, limit %d) = %s (%s); want %s", tt.arch, tt.length, tt.cmdlineMax, d.Action, d.Reason, tt.action)
			}
			if d.Action == Switch && d.Cmdline != strings.Repeat("a", tt.length) {
				t.Errorf("decision's command line %q; want it without the marker (the switch appends it)", d.Cmdline)
			}
		})
	}
}

func TestPlan_overlappingWindowsMerge(t *testing.T) {
	// 02:00-04:00 and 03:30-05:00 Berlin: open until 05:00 as one span.
	d := Plan(inputs(func(in *Inputs) {
		in.Config.Windows = append(in.Config.Windows, window.Window{Start: 3*60 + 30, End: 5 * 60, Location: berlin})
	}))
	if got, want := step(t, d, CheckWindow).Detail, "open until Sat 2026-03-28 05:00 CET (04:00 UTC)"; d.Action != Switch || got != want {
		t.Errorf("Plan(overlapping windows) = %s, window %q; want switch, %q", d.Action, got, want)
	}
}

func TestPlan_isPure(t *testing.T) {
	in := inputs(withNow(midweek), withInhibitor("db", "backup running"))
	a, b := Plan(in), Plan(in)
	if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) {
		t.Errorf("Plan twice on the same inputs = %+v then %+v; want equal", a, b)
	}
	if in.Target.Release != rel51 || len(in.Inhibitors) != 3 {
		t.Errorf("Plan changed its inputs: %+v", in)
	}
}

func TestFormatTime(t *testing.T) {
	ny := mustZone("America/New_York")
	tests := []struct {
		name string
		t    time.Time
		want string
	}{
		{"utc", time.Date(2026, 3, 28, 1, 0, 0, 0, time.UTC), "Sat 2026-03-28 01:00 UTC"},
		{"berlin_winter", time.Date(2026, 3, 28, 2, 0, 0, 0, berlin), "Sat 2026-03-28 02:00 CET (01:00 UTC)"},
		{"berlin_summer", time.Date(2026, 3, 29, 3, 0, 0, 0, berlin), "Sun 2026-03-29 03:00 CEST (01:00 UTC)"},
		{"utc_on_previous_day", time.Date(2026, 3, 28, 0, 30, 0, 0, berlin), "Sat 2026-03-28 00:30 CET (Fri 23:30 UTC)"},
		{"utc_on_next_day", time.Date(2026, 3, 27, 22, 0, 0, 0, ny), "Fri 2026-03-27 22:00 EDT (Sat 02:00 UTC)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatTime(tt.t); got != tt.want {
				t.Errorf("FormatTime(%s) = %q; want %q", tt.t.Format(time.RFC3339), got, tt.want)
			}
		})
	}
}

func withNotice(d time.Duration, sent *Notice) func(*Inputs) {
	return func(in *Inputs) {
		in.Config.Notice = d
		in.Notice = sent
	}
}
