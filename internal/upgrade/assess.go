// Package upgrade is the shell around the pure decision core: it gathers
// facts, plans, acts and records, through the small interfaces in Env so
// tests can replace every effect with a fake that records its calls.
package upgrade

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/window"
)

// Bus is what a run needs of systemd and logind.
type Bus interface {
	SystemState(ctx context.Context) (string, error)
	Inhibitors(ctx context.Context) ([]systemd.Inhibitor, error)
	StartKexec(ctx context.Context) error
	// KexecQueued tells, after StartKexec failed, whether systemd has a
	// kexec.target job anyway (or is stopping); an error: unknown.
	KexecQueued(ctx context.Context) (bool, error)
	// Wall tells every logged-in user (a switch's notice).
	Wall(ctx context.Context, message string) error
	// ArmRun starts kexec-upgrade.service at a given time; DisarmRun
	// cancels that.
	ArmRun(ctx context.Context, name string, at time.Time) error
	DisarmRun(ctx context.Context, name string) error
	// BootTimes are this boot's systemd timestamps.
	BootTimes(ctx context.Context) (systemd.BootTimes, error)
	Close()
}

// Loader stages and unstages kernels.
type Loader interface {
	// Load stages the kernel and initrd read from these open files.
	Load(image, initrd *os.File, cmdline string) error
	Unload() error
	Loaded() (bool, error)
	// Permitted asks whether this process may kexec at all (call it only
	// while nothing is staged).
	Permitted() error
}

// Journal records events.
type Journal interface {
	Send(systemd.Event) error
}

// Env holds every effect the shell uses.
type Env struct {
	// Root is the directory host files are read under ("/" on a host).
	Root string
	// Now is the clock.
	Now func() time.Time
	// Config tunes config loading (owner uid, local zone).
	Config config.Options
	// Connect opens the system bus.
	Connect func(ctx context.Context) (Bus, error)
	Loader  Loader
	Journal Journal
	// LockHolder probes dpkg's locks ("" when idle).
	LockHolder func() (string, error)
	// FleetLockTimeout bounds each FleetLock call (0: the client's default).
	FleetLockTimeout time.Duration
	// Hooks finds and runs the admin's hooks; nil: there are none.
	Hooks HookRunner
	// UnitTimes finds a switch's slowest units; nil: not looked for.
	UnitTimes UnitTimer
	// WaitUntil sleeps until the clock reads until, and reports false when
	// ctx ended the wait first; nil: a run never waits for a window.
	WaitUntil func(ctx context.Context, until time.Time) bool
}

// Report is everything a run or status knows after planning.
type Report struct {
	Now       time.Time
	Config    config.Config
	ConfigErr error
	State     state.State
	StateErr  error
	Facts     host.Facts
	Decision  plan.Decision
	// Inputs are what the decision was made from; the switch re-plans with
	// them and a fresh look at the moment.
	Inputs plan.Inputs
	// NextWindows are up to five upcoming (or open) maintenance windows.
	NextWindows []window.Span
	// ImageCheck is the target image's check result, to cache.
	ImageCheck *state.ImageCheck
	// Warnings are things an admin should know that do not block.
	Warnings []string
}

// windowsShown is how many upcoming windows status and check-config list.
const windowsShown = 5

// Assess gathers facts and plans without changing anything. Probes that need
// D-Bus run only when a new kernel makes them matter, so an idle run stays cheap.
func Assess(ctx context.Context, env Env, force bool) (Report, error) {
	r := Report{Now: env.Now()}
	r.Config, r.ConfigErr = config.Load(env.Root, env.Config)
	if r.ConfigErr != nil && !errors.Is(r.ConfigErr, config.ErrInvalid) {
		return r, r.ConfigErr
	}
	r.State, r.StateErr = state.Load(env.Root)
	facts, err := host.Gather(env.Root)
	if err != nil {
		return r, fmt.Errorf("gather host facts: %w", err)
	}
	r.Facts = facts
	if r.ConfigErr == nil {
		r.NextWindows = r.Config.Windows.Next(r.Now, windowsShown)
	}
	r.Warnings = warnings(facts, r.State)
	if r.ConfigErr == nil {
		if w := MetricsWarning(env.Root, r.Config.Metrics); w != "" {
			r.Warnings = append(r.Warnings, w)
		}
	}

	in := plan.Inputs{Now: r.Now, Config: r.Config, ConfigErr: r.ConfigErr, StateErr: r.StateErr, Facts: facts, Force: force}
	var hookWarnings []string
	in.HookProblems, hookWarnings = scanHooks(env)
	r.Warnings = append(r.Warnings, hookWarnings...)
	if p := r.State.Pause; p != nil {
		in.Pause = &plan.Pause{Until: p.Until, Reason: p.Reason}
	}
	if n := r.State.Notice; n != nil {
		in.Notice = &plan.Notice{Release: n.To.Release, Build: n.To.Build, Window: n.Window, SwitchAt: n.SwitchAt}
	}
	if cand, ok := plan.ChooseTarget(facts); ok {
		t, check := inspectImage(env.Root, cand, &r.State)
		r.ImageCheck = check
		in.Target = &t
		if t.Files.HasImage && !t.Packaged {
			r.Warnings = append(r.Warnings, fmt.Sprintf("no package lists %s in dpkg's md5sums: only its format checks apply", t.Files.Image))
		}
		if !t.AuthenticodeVerifies() && !plan.LockedDown(facts.Kexec.Lockdown) {
			// Under lockdown the plan refuses the image instead.
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s: %s; without lockdown the kernel loads it all the same (dpkg's md5sums decide), but Secure Boot would refuse it", t.Files.Image, t.AuthenticodeProblem()))
		}
		if t.Files.HasInitrd {
			in.InitrdFormat, in.InitrdErr = inspectInitrd(env.Root, t.Files.Initrd)
		}
		if f, failed := r.State.FailedBefore(state.Kernel{Release: t.Release, Build: t.Build}); failed {
			in.FailedBefore = &plan.Failure{Kind: f.Kind, Reason: f.Reason, At: f.At}
		}
		if isNew, _ := plan.Newness(t, facts.Running, r.Config.Rebuilds); isNew && r.ConfigErr == nil {
			probe(ctx, env, &in)
		}
	}
	r.Decision, r.Inputs = plan.Plan(in), in
	return r, nil
}

// probe asks systemd, logind and dpkg's locks about the moment.
func probe(ctx context.Context, env Env, in *plan.Inputs) {
	in.LockHolder, in.LockErr = env.LockHolder()
	bus, err := env.Connect(ctx)
	if err != nil {
		in.SystemStateErr, in.InhibitorsErr = err, err
		return
	}
	defer bus.Close()
	in.SystemState, in.SystemStateErr = bus.SystemState(ctx)
	inhibitors, err := bus.Inhibitors(ctx)
	in.Inhibitors, in.InhibitorsErr = inhibitors, err
}

// inspectImage fills a Target from the candidate's image, from the cache
// when the file is unchanged, else by reading and checking the whole file.
func inspectImage(root string, cand plan.Candidate, st *state.State) (plan.Target, *state.ImageCheck) {
	t := plan.Target{Candidate: cand}
	if !cand.Files.HasImage {
		t.ImageErr = cand.ImageMissing()
		return t, nil
	}
	id, err := host.StatImage(root, cand.Files.Image)
	if err != nil {
		t.ImageErr = err
		return t, nil
	}
	key := state.ImageCheck{Path: id.Path, Size: id.Size, Inode: id.Inode, MTimeNS: id.MTime, CTimeNS: id.CTime}
	check, cached := st.CachedImage(key)
	if cached && check.Error == "" && check.Authenticode == "" {
		cached = false // checked before the Authenticode digest was
	}
	if !cached {
		check = key
		if data, err := host.ReadImage(root, cand.Files.Image); err != nil {
			check.Error = err.Error()
		} else {
			checkImageBytes(&check, data, cand)
		}
	}
	t.ImageRelease, t.Build, t.Signed, t.CmdlineMax, t.Integrity = check.Release, check.Build, check.Signed, check.CmdlineMax, check.Integrity
	t.Authenticode, t.AuthenticodeDetail = kernel.AuthenticodeState(check.Authenticode), check.AuthenticodeDetail
	if check.Error != "" {
		t.ImageErr = errors.New(check.Error)
	}
	if cached {
		return t, nil
	}
	return t, &check
}

// checkImageBytes runs every check of an image's bytes: its format, size
// and CRC (where it has one), its MD5 against what dpkg installed, and the
// digest in its Authenticode signature (which the plan holds against it
// only under lockdown).
func checkImageBytes(check *state.ImageCheck, data []byte, cand plan.Candidate) {
	img, err := verifiedImage(data, cand)
	if err != nil {
		check.Error = err.Error()
		return
	}
	check.Release, check.Build, check.Signed, check.CmdlineMax = img.Release, img.Build, img.Signed, img.CmdlineMax
	auth, err := authenticodeOf(img, data)
	check.Authenticode, check.AuthenticodeDetail = string(auth.State()), auth.String()
	if err != nil {
		check.Authenticode, check.AuthenticodeDetail = string(kernel.AuthenticodeUnreadable), err.Error()
	}
	check.Integrity = integrityNames(img, cand, auth, err)
}

// authenticodeOf checks the Authenticode digest of what kexec_file_load
// is given: the file, or the Image unpacked from a packed format.
func authenticodeOf(img kernel.Image, data []byte) (kernel.Authenticode, error) {
	if img.Format.Packed() {
		_, unpacked, err := kernel.LoadableImage(img.Arch, data)
		if err != nil {
			return kernel.Authenticode{}, err
		}
		data = unpacked
	}
	return kernel.CheckAuthenticode(data)
}

// verifiedImage parses an image's bytes and compares them with the MD5
// dpkg recorded for the release; it is what both the plan and the switch
// step (on the bytes of the descriptor it loads) rely on.
func verifiedImage(data []byte, cand plan.Candidate) (kernel.Image, error) {
	img, err := kernel.ParseImageFor(kernel.NativeArch, data)
	if err != nil {
		return img, err
	}
	if cand.Packaged {
		if err := cand.Digest.Verify(md5.Sum(data)); err != nil {
			return img, err
		}
	}
	return img, nil
}

// integrityNames lists the checks an image passed, for status.
// The Authenticode digest counts as passed when it matches ("authenticode
// (sha256, signer)"); an unsigned image says so.
func integrityNames(img kernel.Image, cand plan.Candidate, auth kernel.Authenticode, authErr error) string {
	names := img.Checks.Names()
	if img.NoCRC {
		names = append(names, "no crc32 (Linux ≥ 6.15 has none)")
	}
	switch {
	case authErr == nil && auth.Match():
		detail := auth.Algorithm
		if auth.Signer != "" {
			detail += ", " + auth.Signer
		}
		names = append(names, "authenticode ("+detail+")")
	case authErr == nil && !auth.Signed:
		names = append(names, "unsigned (no authenticode signature)")
	}
	if cand.Packaged {
		names = append(names, "md5 ("+cand.Digest.Package+")")
	} else {
		names = append(names, "no md5 (no package lists it)")
	}
	return strings.Join(names, ", ")
}

func warnings(f host.Facts, st state.State) []string {
	var w []string
	if f.Kexec.ToolsInitScript {
		w = append(w, "kexec-tools' /etc/init.d/kexec is installed: while a kernel is staged it may kexec at any shutdown (set LOAD_KEXEC=false in /etc/default/kexec or remove kexec-tools)")
	}
	if f.Kexec.Loaded && st.Staged == nil {
		w = append(w, "a kernel is staged (/sys/kernel/kexec_loaded = 1) that kexec-upgrade did not stage: the next reboot will kexec into it")
	}
	return w
}
