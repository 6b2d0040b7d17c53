package upgrade

import (
	"errors"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kexec"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
)

// Severity is what a failure of the switch step means for the build.
type Severity string

// Severities, mildest first.
const (
	// Postponed: the moment was wrong (a file being replaced, a check
	// that failed again); nothing is counted and the next run decides anew.
	Postponed Severity = "postpone"
	// Passing: a failure that may not recur (the kernel refused the load
	// for now, systemd did not start the switch). It counts: the same kind
	// on the same build MaxTries times marks the build.
	Passing Severity = "passing"
	// Lasting: retrying the same build cannot help (a corrupt image, a
	// signature the kernel rejects); the build is marked at once.
	Lasting Severity = "lasting"
)

// Failure is a classified failure of one step of a switch.
type Failure struct {
	Severity Severity
	// Check names the plan check it concerns (for postponements).
	Check string
	// Kind is the failure kind recorded with the attempt.
	Kind   string
	Reason string
}

// Steps of the switch, for ClassifyFailure.
const (
	StepOpen   = "open"   // opening and checking the image and initrd
	StepProbe  = "probe"  // asking the kernel whether kexec is permitted
	StepLoad   = "load"   // kexec_file_load
	StepLoaded = "loaded" // /sys/kernel/kexec_loaded after the load
	StepStart  = "start"  // StartUnit(kexec.target), known not queued
)

// ClassifyFailure decides what a step's error means; it is pure.
func ClassifyFailure(step string, err error) Failure {
	f := Failure{Reason: err.Error()}
	switch step {
	case StepOpen:
		return classifyOpen(f, err)
	case StepProbe, StepLoad:
		return classifyLoad(f, err)
	case StepLoaded:
		f.Severity, f.Kind = Passing, state.FailLoad
	default:
		f.Severity, f.Kind = Passing, state.FailStart
	}
	return f
}

func classifyOpen(f Failure, err error) Failure {
	f.Check = plan.CheckImage
	if errors.Is(err, kernel.ErrInitrd) {
		f.Check = plan.CheckInitrd
	}
	switch {
	case errors.Is(err, errBootFileChanged):
		f.Severity = Postponed
	case errors.Is(err, errImageInvalid), errors.Is(err, errBootFileKind):
		f.Severity, f.Kind = Lasting, plan.CheckImage
	case errors.Is(err, kernel.ErrInitrd):
		// update-initramfs may be run again to fix it: counted, not final.
		f.Severity, f.Kind = Passing, plan.CheckInitrd
	default: // the file cannot be opened or read now
		f.Severity, f.Kind = Passing, "open"
	}
	return f
}

func classifyLoad(f Failure, err error) Failure {
	f.Check, f.Kind = plan.CheckKexecAllowed, state.FailLoad
	var le *kexec.LoadError
	switch {
	case !errors.As(err, &le):
		f.Severity = Passing
	case le.Lasting():
		f.Severity = Lasting
	case errors.Is(le.Kind, kexec.ErrNotPermitted):
		f.Severity, f.Kind = Passing, state.FailPermission
	default:
		f.Severity = Passing
	}
	return f
}
