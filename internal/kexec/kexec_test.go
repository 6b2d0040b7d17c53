package kexec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestExplainErrno(t *testing.T) {
	const image = "/boot/vmlinuz-6.1.0-51-cloud-amd64"
	tests := []struct {
		name    string
		errno   syscall.Errno
		kind    error
		lasting bool
		// mention is a word the reason must contain besides the image path.
		mention string
	}{
		{name: "eperm", errno: syscall.EPERM, kind: ErrNotPermitted, mention: "CAP_SYS_BOOT"},
		{name: "enoexec", errno: syscall.ENOEXEC, kind: ErrRejectedImage, lasting: true, mention: "ENOEXEC"},
		{name: "ekeyrejected", errno: syscall.EKEYREJECTED, kind: ErrRejectedImage, lasting: true, mention: "EKEYREJECTED"},
		{name: "enokey", errno: syscall.ENOKEY, kind: ErrRejectedImage, lasting: true, mention: "ENOKEY"},
		{name: "elibbad", errno: syscall.ELIBBAD, kind: ErrRejectedImage, lasting: true, mention: "ELIBBAD"},
		{name: "ebadmsg", errno: syscall.EBADMSG, kind: ErrRejectedImage, lasting: true, mention: "EBADMSG"},
		{name: "enodata", errno: syscall.ENODATA, kind: ErrRejectedImage, lasting: true, mention: "ENODATA"},
		{name: "ebusy", errno: syscall.EBUSY, kind: ErrBusy, mention: "EBUSY"},
		{name: "etxtbsy", errno: syscall.ETXTBSY, kind: ErrBusy, mention: "ETXTBSY"},
		{name: "enosys", errno: syscall.ENOSYS, kind: ErrUnsupported, lasting: true, mention: "ENOSYS"},
		{name: "enomem", errno: syscall.ENOMEM, kind: ErrBusy, mention: "ENOMEM"},
		{name: "einval", errno: syscall.EINVAL, kind: ErrRejectedImage, lasting: true, mention: "EINVAL"},
		{name: "unknown_errno", errno: syscall.Errno(4000), kind: ErrRejectedImage, lasting: true, mention: "errno 4000"},
	}
	sentinels := []error{ErrNotPermitted, ErrRejectedImage, ErrBusy, ErrUnsupported}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			le := ExplainErrno(tc.errno, image)
			var err error = le
			if !errors.Is(err, tc.kind) {
				t.Errorf("errors.Is(ExplainErrno(%v), %v) = false; want true", tc.errno, tc.kind)
			}
			for _, s := range sentinels {
				if s != tc.kind && errors.Is(err, s) {
					t.Errorf("errors.Is(ExplainErrno(%v), %v) = true; want false", tc.errno, s)
				}
			}
			if !errors.Is(err, tc.errno) {
				t.Errorf("errors.Is(ExplainErrno(%v), syscall.Errno(%d)) = false; want true", tc.errno, int(tc.errno))
			}
			if le.Errno != tc.errno {
				t.Errorf("ExplainErrno(%v).Errno = %v; want %v", tc.errno, le.Errno, tc.errno)
			}
			if got := le.Lasting(); got != tc.lasting {
				t.Errorf("ExplainErrno(%v).Lasting() = %v; want %v", tc.errno, got, tc.lasting)
			}
			reason := le.Error()
			if reason != le.Reason {
				t.Errorf("ExplainErrno(%v).Error() = %q; want the Reason %q", tc.errno, reason, le.Reason)
			}
			if !strings.Contains(reason, image) {
				t.Errorf("ExplainErrno(%v) reason = %q; want it to name %s", tc.errno, reason, image)
			}
			if !strings.Contains(reason, tc.mention) {
				t.Errorf("ExplainErrno(%v) reason = %q; want it to mention %q", tc.errno, reason, tc.mention)
			}
			if strings.Contains(reason, "\n") {
				t.Errorf("ExplainErrno(%v) reason = %q; want one line", tc.errno, reason)
			}
			var as *LoadError
			if wrapped := errors.Join(errors.New("stage"), err); !errors.As(wrapped, &as) || as != le {
				t.Errorf("errors.As(wrapped ExplainErrno(%v), *LoadError) failed; want the LoadError back", tc.errno)
			}
		})
	}
}

func TestLoaderLoaded(t *testing.T) {
	tests := []struct {
		name    string
		content *string // nil: no file
		want    bool
		wantErr bool
	}{
		{name: "loaded", content: ptr("1\n"), want: true},
		{name: "loaded_without_newline", content: ptr("1"), want: true},
		{name: "not_loaded", content: ptr("0\n"), want: false},
		{name: "empty_file", content: ptr(""), want: false},
		{name: "garbage", content: ptr("yes\n"), want: false},
		{name: "missing_file", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.content != nil {
				writeFile(t, filepath.Join(root, "sys/kernel/kexec_loaded"), *tc.content)
			}
			got, err := Loader{Root: root}.Loaded()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Loaded() error = %v; want error %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "/sys/kernel/kexec_loaded") {
				t.Errorf("Loaded() error = %q; want it to name /sys/kernel/kexec_loaded", err)
			}
			if got != tc.want {
				t.Errorf("Loaded() = %v; want %v", got, tc.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
