package upgrade

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kexec"
	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
	"github.com/kexec-upgrade/kexec-upgrade/internal/state"
)

func TestClassifyFailure(t *testing.T) {
	img := "/boot/vmlinuz-6.1.0-51-cloud-amd64"
	tests := []struct {
		name     string
		step     string
		err      error
		severity Severity
		check    string
		kind     string
	}{
		{"image_replaced", StepOpen, fmt.Errorf("%s was replaced while it was loaded: %w", img, errBootFileChanged), Postponed, plan.CheckImage, ""},
		{"image_truncated", StepOpen, invalidImageError{fmt.Errorf("kernel image %s fails its check: %w", img, kernel.ErrTruncated)}, Lasting, plan.CheckImage, plan.CheckImage},
		{"image_is_a_link", StepOpen, fmt.Errorf("kernel image %s is a symbolic link: %w", img, errBootFileKind), Lasting, plan.CheckImage, plan.CheckImage},
		{"image_missing", StepOpen, fmt.Errorf("open kernel image %s: %w", img, fs.ErrNotExist), Passing, plan.CheckImage, "open"},
		{"image_unreadable", StepOpen, fmt.Errorf("open kernel image %s: %w", img, syscall.EIO), Passing, plan.CheckImage, "open"},
		{"initrd_garbage", StepOpen, fmt.Errorf("initrd x: %w", kernel.ErrInitrd), Passing, plan.CheckInitrd, plan.CheckInitrd},
		{"probe_eperm", StepProbe, kexec.ExplainErrno(syscall.EPERM, "(probe)"), Passing, plan.CheckKexecAllowed, state.FailPermission},
		{"load_eperm", StepLoad, kexec.ExplainErrno(syscall.EPERM, img), Passing, plan.CheckKexecAllowed, state.FailPermission},
		{"load_enoexec", StepLoad, kexec.ExplainErrno(syscall.ENOEXEC, img), Lasting, plan.CheckKexecAllowed, state.FailLoad},
		{"load_ekeyrejected", StepLoad, kexec.ExplainErrno(syscall.EKEYREJECTED, img), Lasting, plan.CheckKexecAllowed, state.FailLoad},
		{"load_einval", StepLoad, kexec.ExplainErrno(syscall.EINVAL, img), Lasting, plan.CheckKexecAllowed, state.FailLoad},
		{"load_ebusy", StepLoad, kexec.ExplainErrno(syscall.EBUSY, img), Passing, plan.CheckKexecAllowed, state.FailLoad},
		{"load_enomem", StepLoad, kexec.ExplainErrno(syscall.ENOMEM, img), Passing, plan.CheckKexecAllowed, state.FailLoad},
		{"load_not_an_errno", StepLoad, errors.New("kexec_file_load: something odd"), Passing, plan.CheckKexecAllowed, state.FailLoad},
		{"loaded_reads_zero", StepLoaded, errors.New("kexec_loaded is not 1"), Passing, "", state.FailLoad},
		{"start_refused", StepStart, errors.New("transaction is destructive"), Passing, "", state.FailStart},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := ClassifyFailure(tc.step, tc.err)
			if f.Severity != tc.severity || f.Check != tc.check || f.Kind != tc.kind || f.Reason != tc.err.Error() {
				t.Errorf("ClassifyFailure(%s, %v) = %+v; want %s, check %q, kind %q, the error as reason", tc.step, tc.err, f, tc.severity, tc.check, tc.kind)
			}
		})
	}
}
