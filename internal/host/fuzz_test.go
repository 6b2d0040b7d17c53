package host

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func FuzzParseStatus(f *testing.F) {
	for _, name := range fixtureCases() {
		data, err := os.ReadFile(filepath.Join("testdata", name, "var/lib/dpkg/status"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, []byte(stanza("linux-image-6.1.0-52-cloud-amd64", "6.1.180-1", "install ok half-installed")))
	}
	f.Add([]byte("Package: linux-image-a\nStatus: a b c\nPackage: bash\n"), []byte("\n\nPackage: linux-image-b\nStatus: install ok installed"))
	f.Add([]byte("Package: linux-image-a\nVersion: 1\n"), []byte(" cont\nPackage: linux-image-b\nStatus: x y z\n\n\n"))
	f.Add([]byte(""), []byte("Status: a b c\nPackage: linux-image-\n"))
	f.Add([]byte("Package: linux-image-7.3.4+deb13-cloud-amd64\nStatus: install ok installed\nPre-Depends: linux-base (>= 4.17~)\nDepends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, linux-base-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1), linux-binary-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1)\n"),
		[]byte("Package: linux-binary-7.3.4+deb13-cloud-amd64\nStatus: install ok unpacked\nDepends: linux-base-7.3.4+deb13-cloud-amd64:any\n"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		pa, errA := ParseStatus(a)
		for _, p := range pa {
			if !isKernelPackage(p.Name) {
				t.Errorf("ParseStatus(%q) returned package %q; want only kernel package names (%q and more)", a, p.Name, kernelPrefixes)
			}
			for _, r := range p.Requires {
				if r == p.Name || (Package{Name: r}).Release() != p.Release() || p.Release() == "" {
					t.Errorf("ParseStatus(%q) returned %s requiring %q; want only other packages of release %q", a, p.Name, r, p.Release())
				}
			}
			if p.Want == "" || p.Flag == "" || p.State == "" || strings.ContainsAny(p.Want+p.Flag+p.State, " \t\n") {
				t.Errorf("ParseStatus(%q) returned %s with status %q %q %q; want three words", a, p.Name, p.Want, p.Flag, p.State)
			}
			if p.Pending {
				t.Errorf("ParseStatus(%q) returned %s as pending; only the updates journal makes packages pending", a, p.Name)
			}
		}
		pb, errB := ParseStatus(b)
		if errA != nil || errB != nil {
			return
		}
		// Stanzas are independent: two databases separated by a blank line
		// hold the packages of both, in order.
		joined := append(append(append([]byte(nil), a...), "\n\n"...), b...)
		pj, err := ParseStatus(joined)
		if err != nil {
			t.Fatalf("ParseStatus(%q + blank line + %q) error: %v; each parses alone", a, b, err)
		}
		want := append(append([]Package(nil), pa...), pb...)
		if len(pj) != len(want) || (len(want) > 0 && !reflect.DeepEqual(pj, want)) {
			t.Errorf("ParseStatus(%q + blank line + %q) = %+v; want %+v", a, b, pj, want)
		}
	})
}
