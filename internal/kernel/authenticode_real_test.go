package kernel_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

// debianSigner is the subject common name of the certificate Debian signs
// its kernels with (since 2022).
const debianSigner = "Debian Secure Boot Signer"

// TestRealImagesAuthenticode checks the Authenticode digest of every kernel
// image the fetch step downloaded (amd64 and arm64; like TestRealImages it
// fails instead of skipping with CI=true): a signed image's digest matches,
// with SHA-256 and Debian's signer; bookworm's -unsigned image of the same
// release is reported unsigned; a copy with one byte flipped in the middle
// (inside a section) does not match; a copy cut short is an error.
func TestRealImagesAuthenticode(t *testing.T) {
	pkgs := readManifest(t)
	var signed, unsigned int
	for _, p := range pkgs {
		t.Run(p.pkg+"_"+p.arch, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(realKernelsDir(), "pkg", p.dir, p.imagePath))
			if err != nil {
				t.Fatalf("%v (the cache is incomplete: run .ci/fetch-kernels)", err)
			}
			im, loadable, err := kernel.LoadableImage(kernel.Arch(p.arch), data)
			if err != nil {
				t.Fatalf("LoadableImage(%s): %v", p.pkg, err)
			}
			a, err := kernel.CheckAuthenticode(loadable)
			if err != nil {
				t.Fatalf("CheckAuthenticode(%s): %v", p.pkg, err)
			}
			if strings.HasSuffix(p.pkg, "-unsigned") {
				unsigned++
				if a.Signed || a.State() != kernel.AuthenticodeUnsigned || im.Signed {
					t.Fatalf("CheckAuthenticode(%s) = %s (image signed %t); want unsigned", p.pkg, a.State(), im.Signed)
				}
				return
			}
			signed++
			if !a.Match() || a.Algorithm != "sha256" || !strings.HasPrefix(a.Signer, debianSigner) || a.Entries != 1 || !im.Signed {
				t.Fatalf("CheckAuthenticode(%s) = %s, %s, signer %q, %d entries (image signed %t); want a sha256 match signed by %s",
					p.pkg, a.State(), a, a.Signer, a.Entries, im.Signed, debianSigner)
			}
			t.Logf("%s %s: %d bytes, %s", p.group, p.release, len(data), a)
			flipped := slices.Clone(loadable)
			flipped[len(flipped)/2] ^= 0x10
			tests := []struct {
				name    string
				data    []byte
				want    kernel.AuthenticodeState // when wantErr is nil
				wantErr error
			}{
				{"byte_flipped_in_a_section", flipped, kernel.AuthenticodeMismatch, nil},
				{"cut_by_one_byte", loadable[:len(loadable)-1], "", kernel.ErrTruncated},
				{"cut_to_300000_bytes", loadable[:300000], "", kernel.ErrTruncated},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got, err := kernel.CheckAuthenticode(tt.data)
					if tt.wantErr != nil {
						if !errors.Is(err, tt.wantErr) || got.Match() {
							t.Fatalf("CheckAuthenticode(%s, %s) = %s, %v; want error %v", p.pkg, tt.name, got.State(), err, tt.wantErr)
						}
						return
					}
					if err != nil || got.State() != tt.want {
						t.Fatalf("CheckAuthenticode(%s, %s) = %s, %v; want %s", p.pkg, tt.name, got.State(), err, tt.want)
					}
				})
			}
		})
	}
	if signed == 0 || unsigned == 0 {
		t.Errorf("%d signed and %d unsigned images in the manifest; want both (bookworm's -unsigned package is fetched for this)", signed, unsigned)
	}
}

// BenchmarkCheckAuthenticode hashes the largest real amd64 and arm64
// images (12–42 MB): the cost of the check on a new image (it is cached
// with the image's identity afterwards).
func BenchmarkCheckAuthenticode(b *testing.B) {
	pkgs := readManifest(b)
	largest := map[string][]byte{}
	for _, p := range pkgs {
		data, err := os.ReadFile(filepath.Join(realKernelsDir(), "pkg", p.dir, p.imagePath))
		if err != nil {
			b.Fatal(err)
		}
		if !strings.HasSuffix(p.pkg, "-unsigned") && len(data) > len(largest[p.arch]) {
			largest[p.arch] = data
		}
	}
	for _, arch := range []string{"amd64", "arm64"} {
		data := largest[arch]
		if data == nil {
			continue
		}
		b.Run(arch, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if a, err := kernel.CheckAuthenticode(data); err != nil || !a.Match() {
					b.Fatalf("CheckAuthenticode = %s, %v", a.State(), err)
				}
			}
		})
	}
}
