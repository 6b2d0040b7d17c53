package rebuild

import (
	"os"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
)

func TestScratch(t *testing.T) {
	img, err := os.ReadFile("/tmp/rb/boot/vmlinuz-6.1.0-56-cloud-amd64")
	if err != nil {
		t.Skip(err)
	}
	im, _ := kernel.ParseImage(img)
	s, e, size, err := payloadRange(img, im)
	t.Log(s, e, size, err)
	orig, err := decodeLegacy(img[s:e-4], size, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile("/tmp/rb/vmlinux.go.bin", orig, 0o644)
	occ := findAll(orig, []byte(im.Build))
	t.Log("occ", occ)
	var targets []int
	for _, o := range occ {
		for k := range len(im.Build) {
			targets = append(targets, o+k)
		}
	}
	src, _ := literalSources(img[s:e-4], size, targets)
	for j := range occ {
		line := []byte{}
		for k := range len(im.Build) {
			if src[j*len(im.Build)+k] >= 0 {
				line = append(line, 'L')
			} else {
				line = append(line, 'm')
			}
		}
		t.Logf("%s\n%s", im.Build, line)
	}
	p, ob, nb, err := PatchImage(img)
	t.Log(ob, "->", nb, err)
	os.WriteFile("/tmp/rb/vmlinuz.patched", p, 0o644)
}
