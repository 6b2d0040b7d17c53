package kerneltest_test

import (
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel/kerneltest"
)

// TestAuthenticodeSigned: a BzImage signed by AuthenticodeSigned (with the
// CRC32 and without, as Linux 6.15 and later) passes ParseImage as signed
// and its Authenticode digest matches; a signed image is not signed again.
func TestAuthenticodeSigned(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts kerneltest.Options
	}{
		{"with_crc", kerneltest.Options{}},
		{"without_crc", kerneltest.Options{Release: kerneltest.NoCRCRelease, Build: kerneltest.NoCRCBuild, NoCRC: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := kerneltest.AuthenticodeSigned(kerneltest.BzImage(tc.opts))
			if err != nil {
				t.Fatal(err)
			}
			im, err := kernel.ParseImage(img)
			if err != nil || !im.Signed || im.Checks&kernel.CheckSignatureTable == 0 {
				t.Fatalf("ParseImage = signed %t, checks %s, %v; want a valid signed image", im.Signed, im.Checks, err)
			}
			a, err := kernel.CheckAuthenticode(img)
			if err != nil || !a.Match() || a.Algorithm != "sha256" {
				t.Fatalf("CheckAuthenticode = %s, %v; want a sha256 match", a, err)
			}
			if _, err := kerneltest.AuthenticodeSigned(img); err == nil {
				t.Errorf("AuthenticodeSigned(a signed image) succeeded; want an error")
			}
		})
	}
	if _, err := kerneltest.AuthenticodeSigned([]byte("not a PE image at all, but long enough to hold an MS-DOS header...")); err == nil {
		t.Errorf("AuthenticodeSigned(no PE) succeeded; want an error")
	}
}
