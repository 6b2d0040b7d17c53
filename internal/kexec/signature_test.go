package kexec

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// TestExplainErrnoSignature: the errnos of the kernel's signature check
// (kexec_file_load under lockdown verifies the image's Authenticode
// signature) say, on both architectures, that the signature was rejected
// under lockdown, with the errno and the image; the build is not retried.
func TestExplainErrnoSignature(t *testing.T) {
	const image = "/boot/vmlinuz-6.1.0-51-cloud-amd64"
	for _, arch := range []kernel.Arch{kernel.ArchAMD64, kernel.ArchARM64} {
		for _, tc := range []struct {
			errno syscall.Errno
			name  string
		}{
			{syscall.EKEYREJECTED, "EKEYREJECTED"},
			{syscall.ENOKEY, "ENOKEY"},
			{syscall.EBADMSG, "EBADMSG"},
			{syscall.ELIBBAD, "ELIBBAD"},
		} {
			t.Run(string(arch)+"_"+strings.ToLower(tc.name), func(t *testing.T) {
				le := ExplainErrnoFor(arch, tc.errno, image)
				for _, part := range []string{"the signature of " + image + " was rejected under Secure Boot/lockdown", "(" + tc.name + ")"} {
					if !strings.Contains(le.Reason, part) {
						t.Errorf("ExplainErrnoFor(%s, %s).Reason = %q; want it to name %q", arch, tc.name, le.Reason, part)
					}
				}
				if !errors.Is(le, ErrRejectedImage) || !le.Lasting() {
					t.Errorf("ExplainErrnoFor(%s, %s) = kind %v, lasting %t; want ErrRejectedImage, lasting", arch, tc.name, le.Kind, le.Lasting())
				}
			})
		}
	}
}
