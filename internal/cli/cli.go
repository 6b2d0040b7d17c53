// Package cli implements kexec-upgrade's commands and their output formats;
// it wires the real dependencies (files under /, D-Bus, kexec_file_load, the
// journal) and maps errors to exit codes.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/config"
	"github.com/kexec-upgrade/kexec-upgrade/internal/hooks"
	"github.com/kexec-upgrade/kexec-upgrade/internal/host"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kexec"
	"github.com/kexec-upgrade/kexec-upgrade/internal/systemd"
	"github.com/kexec-upgrade/kexec-upgrade/internal/upgrade"
)

// Version is set at build time (-ldflags -X).
var Version = "dev"

// Exit codes (documented in kexec-upgrade(8)).
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

const usage = `Usage: kexec-upgrade COMMAND [OPTIONS]

Switch to a newly installed kernel with kexec inside a maintenance window.

Commands:
  run [--dry-run] [--now]            verify the last switch, decide, and switch if it is time
  status [--json]                    what will happen next, and why
  history [--json]                   every switch attempt, oldest first
  check-config [--at TIME] [--json]  validate the configuration, list the next windows
  pause [--for DURATION | --until TIME] [--reason TEXT]
                                     stop automatic switches for a while (run --now still works)
  resume                             end a pause
  version                            print the version

Configuration: /etc/kexec-upgrade/config.toml and config.d/*.toml (kexec-upgrade.toml(5)).
Exit status: 0 success, 1 error, 2 usage error. See kexec-upgrade(8).
`

// usageError is a mistake on the command line (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// app carries what every command needs.
type app struct {
	stdout, stderr io.Writer
	env            upgrade.Env
	// readEvents reads the journal's kexec-upgrade events (history).
	readEvents func(ctx context.Context) ([]systemd.Event, error)
}

// Run runs one command and returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, stdout, stderr, nil)
}

// run lets tests override the environment after it is built from --root.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, adjust func(*app)) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ExitUsage
	}
	cmd, rest := args[0], args[1:]
	a := &app{stdout: stdout, stderr: stderr}
	var err error
	switch cmd {
	case "run":
		err = a.cmdRun(ctx, rest, adjust)
	case "status":
		err = a.cmdStatus(ctx, rest, adjust)
	case "history":
		err = a.cmdHistory(ctx, rest, adjust)
	case "check-config":
		err = a.cmdCheckConfig(ctx, rest, adjust)
	case "pause":
		err = a.cmdPause(ctx, rest, adjust)
	case "resume":
		err = a.cmdResume(ctx, rest, adjust)
	case "version", "--version":
		fmt.Fprintf(stdout, "kexec-upgrade %s\n", Version)
		return ExitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return ExitOK
	default:
		err = usageError{fmt.Sprintf("unknown command %q (try --help)", cmd)}
	}
	var ue usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, usage)
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "kexec-upgrade: %s\n", ue.msg)
		return ExitUsage
	case errors.Is(err, errSilent):
		return ExitError
	default:
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "kexec-upgrade: %s\n", line)
		}
		return ExitError
	}
}

// errHelp asks for the usage text (COMMAND --help): printed, exit 0.
var errHelp = errors.New("help requested")

// errSilent is a failure whose explanation was already printed.
var errSilent = errors.New("already reported")

// flags builds a command's flag set with the common --root option.
func (a *app) flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	root := fs.String("root", "/", "read and write host files under `DIR` (for tests)")
	return fs, root
}

// parse parses flags, turning problems into usage errors; no positional
// arguments are accepted.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}

// setup builds the real environment under root.
func (a *app) setup(root string, adjust func(*app)) {
	a.env = upgrade.Env{
		Root:   root,
		Now:    time.Now,
		Config: config.Options{Owner: 0, Local: time.Local},
		Connect: func(ctx context.Context) (upgrade.Bus, error) {
			b, err := systemd.Connect(ctx)
			if err != nil {
				return nil, err
			}
			return b, nil
		},
		Loader:     kexec.Loader{Root: root, SegmentLoad: os.Getenv(kexec.SegmentLoadEnv) == "1"},
		Journal:    systemd.Journal{},
		LockHolder: func() (string, error) { return host.LockHolder(root) },
		Hooks:      hooks.Host{Root: root, Owner: 0},
		UnitTimes:  upgrade.SystemdUnitTimes{},
		WaitUntil:  sleepUntil,
	}
	a.readEvents = func(ctx context.Context) ([]systemd.Event, error) { return systemd.ReadEvents(ctx) }
	if root != "/" {
		// A fixture root with the real kernel and systemd would stage a
		// fixture's files and start the real kexec.target: only reading
		// and deciding work on another root.
		a.env.Connect = func(context.Context) (upgrade.Bus, error) { return nil, otherRootError(root) }
		a.env.Loader = otherRootLoader{kexec.Loader{Root: root}}
		a.env.UnitTimes = nil
	}
	if adjust != nil {
		adjust(a)
	}
}

// sleepUntil sleeps until the wall clock reads until; false when ctx ended
// first.
func sleepUntil(ctx context.Context, until time.Time) bool {
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// otherRootError is why nothing acts on a root other than /.
func otherRootError(root string) error {
	return fmt.Errorf("--root %s is not the running system: kexec-upgrade neither talks to systemd nor stages a kernel there (use --dry-run, status or history)", root)
}

// otherRootLoader reads a fixture root's kexec_loaded and refuses to stage.
type otherRootLoader struct{ kexec.Loader }

func (l otherRootLoader) Load(image, _ *os.File, _ string) error { return otherRootError(l.Root) }
func (l otherRootLoader) Unload() error                          { return otherRootError(l.Root) }
func (l otherRootLoader) Permitted() error                       { return otherRootError(l.Root) }
