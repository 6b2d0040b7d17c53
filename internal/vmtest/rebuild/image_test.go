package rebuild

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel"
	"github.com/kexec-upgrade/kexec-upgrade/internal/kernel/kerneltest"
)

const (
	debianBuild  = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)"
	synthPayload = 4096  // protected-mode part of the synthetic images
	synthOffset  = 0x100 // payload_offset of the synthetic images
)

// banner is linux_banner of a kernel built with build.
func banner(build string) string {
	return "Linux version " + kerneltest.DefaultRelease + " (" + kerneltest.DefaultBuilder +
		") (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0) " + build + "\n"
}

// synthImage returns a small signed bzImage whose payload is the LZ4
// legacy frame of blocks (decoding to size bytes) with the kernel's size
// trailer, followed by the decompressor's uncompressed copy of the version
// string, as in a real Debian kernel.
func synthImage(t testing.TB, build string, size int, blocks ...[]byte) []byte {
	t.Helper()
	img := kerneltest.BzImage(kerneltest.Options{Build: build, Signed: true, PayloadSize: synthPayload})
	setup := (kerneltest.SetupSects + 1) * 512
	base := setup + synthPayload
	stream := legacyFrame(blocks...)
	le := binary.LittleEndian
	le.PutUint32(img[0x248:], synthOffset)
	le.PutUint32(img[0x24C:], uint32(len(stream)+4))
	p := setup + synthOffset
	copy(img[p:], stream)
	p += len(stream)
	le.PutUint32(img[p:], uint32(size))
	p += 4 + 32
	buildStr := kerneltest.DefaultRelease + " (" + kerneltest.DefaultBuilder + ") (gcc-12) " + build + "\x00"
	if p+len(buildStr) > base-4 {
		t.Fatalf("synthetic payload of %d bytes too long", len(stream))
	}
	copy(img[p:], buildStr)
	le.PutUint32(img[base-4:], imageCRC(img[:base-4], setup))
	if _, err := kernel.ParseImage(img); err != nil {
		t.Fatalf("synthetic image does not parse: %v", err)
	}
	return img
}

// utsName is init_uts_ns.name.version: the build string in 65 bytes.
func utsName(build string) string {
	return build + strings.Repeat("\x00", 65-len(build))
}

// decodePayload returns the decoded payload of an image and where its
// compressed payload lies.
func decodePayload(t testing.TB, img []byte) (decoded []byte, start, end int) {
	t.Helper()
	im, err := kernel.ParseImage(img)
	if err != nil {
		t.Fatalf("ParseImage: %v", err)
	}
	start, end, size, err := payloadRange(img, im)
	if err != nil {
		t.Fatalf("payloadRange: %v", err)
	}
	decoded, err = decodeLegacy(img[start:end-4], size, nil)
	if err != nil {
		t.Fatalf("decode payload: %v", err)
	}
	return decoded, start, end
}

// checkPatched verifies a patched image against the original: a valid
// image with the new build string and the same release; a payload that
// decodes to the original with every occurrence of oldBuild replaced by
// newBuild and nothing else changed; outside the payload, changes only in
// uncompressed copies of the build string and in the CRC32. It returns
// how many copies the decoded payload holds.
func checkPatched(t testing.TB, orig, patched []byte, oldBuild, newBuild string) int {
	t.Helper()
	if len(oldBuild) != len(newBuild) || oldBuild == newBuild {
		t.Fatalf("build %q -> %q is not a same-length change", oldBuild, newBuild)
	}
	if len(patched) != len(orig) {
		t.Fatalf("patched image is %d bytes, original %d", len(patched), len(orig))
	}
	oi, err := kernel.ParseImage(orig)
	if err != nil {
		t.Fatalf("original: %v", err)
	}
	pi, err := kernel.ParseImage(patched)
	if err != nil {
		t.Fatalf("patched image does not parse: %v", err)
	}
	if pi.Build != newBuild || pi.Release != oi.Release || oi.Build != oldBuild || pi.Signed != oi.Signed {
		t.Errorf("patched image: release %q build %q signed %v; original %q %q %v; want build %q",
			pi.Release, pi.Build, pi.Signed, oi.Release, oi.Build, oi.Signed, newBuild)
	}

	od, start, end := decodePayload(t, orig)
	pd, pstart, pend := decodePayload(t, patched)
	if pstart != start || pend != end {
		t.Fatalf("payload moved: [%d,%d) -> [%d,%d)", start, end, pstart, pend)
	}
	n := bytes.Count(od, []byte(oldBuild))
	if n == 0 {
		t.Fatalf("original payload does not contain %q", oldBuild)
	}
	if want := bytes.ReplaceAll(od, []byte(oldBuild), []byte(newBuild)); !bytes.Equal(pd, want) {
		for i := range want {
			if pd[i] != want[i] {
				t.Fatalf("decoded patched payload differs from the expected one at %d: %q, want %q", i, pd[i], want[i])
			}
		}
	}

	base := int(oi.Base())
	allowed := make(map[int]bool)
	for i := base - 4; i < base; i++ {
		allowed[i] = true
	}
	for i := start; i < end-4; i++ {
		allowed[i] = true // checked through the decoded payload
	}
	for _, o := range findAll(orig[:base], []byte(oldBuild)) {
		for k := range len(oldBuild) {
			allowed[o+k] = true
		}
	}
	for i := range orig {
		if orig[i] != patched[i] && !allowed[i] {
			t.Errorf("image byte %d changed from 0x%02X to 0x%02X outside the payload, the build strings and the CRC", i, orig[i], patched[i])
		}
	}
	return n
}

func TestCandidates(t *testing.T) {
	got := candidates(debianBuild)
	if len(got) < 2 {
		t.Fatalf("candidates(%q) = %v", debianBuild, got)
	}
	rev := strings.Index(debianBuild, "-2 (") + 1
	if got[0] != (candidate{rev, '2', '9'}) || got[1] != (candidate{1, '1', '9'}) {
		t.Errorf("first candidates = %+v, %+v; want the revision digit at %d, then the build count", got[0], got[1], rev)
	}
	digits := strings.Count(debianBuild, "") - 1 - len(strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, debianBuild))
	if len(got) != digits {
		t.Errorf("%d candidates, %d digits", len(got), digits)
	}
	seen := map[int]bool{}
	for _, c := range got {
		if seen[c.pos] || debianBuild[c.pos] != c.old || c.old == c.new || !isDigit(c.new) {
			t.Errorf("bad candidate %+v", c)
		}
		seen[c.pos] = true
	}
	if c := candidates("#9 SMP"); len(c) != 1 || c[0].new != '8' {
		t.Errorf(`candidates("#9 SMP") = %+v; want one, 9 -> 8`, c)
	}
	if c := candidates("SMP PREEMPT_DYNAMIC"); len(c) != 0 {
		t.Errorf("candidates without digits = %+v", c)
	}
}

func TestPatchImage(t *testing.T) {
	filler := bytes.Repeat([]byte("kernel text "), 20)
	b, u := banner(debianBuild), utsName(debianBuild)
	dec := b + string(filler) + u
	rev := strings.Index(debianBuild, "-2 (")
	t.Run("all_literals", func(t *testing.T) {
		img := synthImage(t, debianBuild, len(dec), seq(nil, []byte(dec), 0, 0))
		patched, oldB, newB, err := PatchImage(img)
		if err != nil {
			t.Fatalf("PatchImage: %v", err)
		}
		if want := strings.Replace(debianBuild, "-2 (", "-9 (", 1); oldB != debianBuild || newB != want {
			t.Errorf("PatchImage builds %q -> %q; want %q -> %q", oldB, newB, debianBuild, want)
		}
		if n := checkPatched(t, img, patched, oldB, newB); n != 2 {
			t.Errorf("%d copies in the payload; want 2", n)
		}
	})

	t.Run("second_copy_by_match", func(t *testing.T) {
		// init_uts_ns copied from linux_banner by a match: patching the
		// banner's literal changes both, as intended.
		lits := b + string(filler)
		off := len(lits) - strings.Index(b, debianBuild)
		blk := seq(nil, []byte(lits), off, len(debianBuild))
		blk = seq(blk, []byte(u[len(debianBuild):]), 0, 0)
		img := synthImage(t, debianBuild, len(dec), blk)
		if d, _, _ := decodePayload(t, img); string(d) != dec {
			t.Fatalf("test stream decodes to %q", d)
		}
		patched, oldB, newB, err := PatchImage(img)
		if err != nil {
			t.Fatalf("PatchImage: %v", err)
		}
		if !strings.Contains(newB, "6.1.192-9") {
			t.Errorf("new build %q; want the revision patched", newB)
		}
		checkPatched(t, img, patched, oldB, newB)
	})

	t.Run("revision_shared_with_other_string", func(t *testing.T) {
		// A separate string holding "-2 (2026" copied by a match from the
		// banner: changing the revision would change it too, so the build
		// count is patched instead.
		other := "pkg -2 (2026"
		lits := b + "pkg "
		off := len(lits) - (strings.Index(b, debianBuild) + rev)
		blk := seq(nil, []byte(lits), off, len("-2 (2026"))
		blk = seq(blk, []byte(string(filler)+u), 0, 0)
		want := b + other + string(filler) + u
		img := synthImage(t, debianBuild, len(want), blk)
		if d, _, _ := decodePayload(t, img); string(d) != want {
			t.Fatalf("test stream decodes to %q", d)
		}
		patched, oldB, newB, err := PatchImage(img)
		if err != nil {
			t.Fatalf("PatchImage: %v", err)
		}
		if wantB := "#9" + debianBuild[2:]; newB != wantB {
			t.Errorf("new build %q; want %q", newB, wantB)
		}
		checkPatched(t, img, patched, oldB, newB)
		d, _, _ := decodePayload(t, patched)
		if !bytes.Contains(d, []byte(other)) {
			t.Errorf("patched payload lost %q", other)
		}
	})

	t.Run("no_candidate", func(t *testing.T) {
		// "#1 S" of the banner is copied into "#1 System": the only digit
		// cannot change alone.
		const build = "#1 SMP"
		bb := banner(build)
		lits := bb + "Sys "
		off := len(lits) - strings.Index(bb, build)
		blk := seq(nil, []byte(lits), off, 4)
		blk = seq(blk, []byte("ystem"+utsName(build)), 0, 0)
		want := bb + "Sys #1 System" + utsName(build)
		img := synthImage(t, build, len(want), blk)
		if d, _, _ := decodePayload(t, img); string(d) != want {
			t.Fatalf("test stream decodes to %q", d)
		}
		_, _, _, err := PatchImage(img)
		if !errors.Is(err, ErrNoCandidate) {
			t.Errorf("PatchImage error = %v; want ErrNoCandidate", err)
		}
		t.Log(err)
	})

	t.Run("no_digit", func(t *testing.T) {
		const build = "SMP PREEMPT_DYNAMIC"
		d := banner(build) + utsName(build)
		img := synthImage(t, build, len(d), seq(nil, []byte(d), 0, 0))
		if _, _, _, err := PatchImage(img); !errors.Is(err, ErrNoCandidate) {
			t.Errorf("PatchImage error = %v; want ErrNoCandidate", err)
		}
	})

	t.Run("build_not_in_payload", func(t *testing.T) {
		d := banner("#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-1 (2026-11-16)")
		img := synthImage(t, debianBuild, len(d), seq(nil, []byte(d), 0, 0))
		if _, _, _, err := PatchImage(img); !errors.Is(err, ErrNoBuildString) {
			t.Errorf("PatchImage error = %v; want ErrNoBuildString", err)
		}
	})

	t.Run("input_unchanged", func(t *testing.T) {
		img := synthImage(t, debianBuild, len(dec), seq(nil, []byte(dec), 0, 0))
		keep := bytes.Clone(img)
		if _, _, _, err := PatchImage(img); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(img, keep) {
			t.Errorf("PatchImage modified its input")
		}
	})
}

// TestPatchImageRefusesGarbage feeds PatchImage input that is not a usable
// image: each call must return an error, not panic.
func TestPatchImageRefusesGarbage(t *testing.T) {
	dec := banner(debianBuild) + utsName(debianBuild)
	good := synthImage(t, debianBuild, len(dec), seq(nil, []byte(dec), 0, 0))
	setup := (kerneltest.SetupSects + 1) * 512
	base := setup + synthPayload

	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	withCRC := func(img []byte) []byte {
		binary.LittleEndian.PutUint32(img[base-4:], imageCRC(img[:base-4], setup))
		return img
	}
	setU32 := func(off int, v uint32) []byte {
		img := bytes.Clone(good)
		binary.LittleEndian.PutUint32(img[off:], v)
		return withCRC(img)
	}

	cases := map[string]struct {
		img  []byte
		want error
	}{
		"nil":              {nil, kernel.ErrNotBzImage},
		"short":            {[]byte("MZ"), kernel.ErrNotBzImage},
		"random":           {random, kernel.ErrNotBzImage},
		"filler_payload":   {kerneltest.BzImage(kerneltest.Options{Signed: true}), ErrNoPayload},
		"bad_crc":          {func() []byte { b := bytes.Clone(good); b[setup+synthOffset+10] ^= 1; return b }(), kernel.ErrChecksum},
		"length_too_big":   {setU32(0x24C, synthPayload), ErrNoPayload},
		"length_too_small": {setU32(0x24C, 7), ErrNoPayload},
		"offset_past_end":  {setU32(0x248, 0xFFFFFFF0), ErrNoPayload},
		"wrong_trailer":    {setU32(setup+synthOffset+8+len(seq(nil, []byte(dec), 0, 0)), 5), ErrBadLZ4},
		"huge_trailer":     {setU32(setup+synthOffset+8+len(seq(nil, []byte(dec), 0, 0)), 0xFFFFFFFF), ErrBadLZ4},
		"bad_block_size":   {setU32(setup+synthOffset+4, 0xFFFFFF), ErrBadLZ4},
	}
	for name, tt := range cases {
		t.Run(name, func(t *testing.T) {
			out, _, _, err := PatchImage(tt.img)
			if !errors.Is(err, tt.want) {
				t.Errorf("PatchImage error = %v; want %v", err, tt.want)
			}
			if out != nil {
				t.Errorf("PatchImage returned %d bytes with an error", len(out))
			}
		})
	}

	t.Run("truncated", func(t *testing.T) {
		for n := 0; n < len(good); n += 97 {
			if _, _, _, err := PatchImage(good[:n]); err == nil {
				t.Fatalf("PatchImage accepted the first %d bytes", n)
			}
		}
	})

	// Any byte of the compressed stream set to any of a few values, with
	// a valid CRC: an error or a verified patch, never a panic.
	t.Run("corrupt_stream", func(t *testing.T) {
		end := setup + synthOffset + 8 + len(seq(nil, []byte(dec), 0, 0)) + 4
		for i := setup + synthOffset; i < end; i++ {
			for _, v := range []byte{0x00, 0x0F, 0xF0, 0xFF, good[i] ^ 0x80} {
				img := bytes.Clone(good)
				img[i] = v
				out, oldB, newB, err := PatchImage(withCRC(img))
				if err == nil {
					if pi, perr := kernel.ParseImage(out); perr != nil || pi.Build != newB || len(newB) != len(oldB) {
						t.Fatalf("byte %d = 0x%02X: PatchImage result invalid: %v", i, v, perr)
					}
				}
			}
		}
	})
}

func TestLiteralSources(t *testing.T) {
	blk := seq(seq(nil, []byte("abcd"), 4, 8), []byte("xyz"), 0, 0) // abcd abcd abcd xyz
	frame := legacyFrame(blk)
	src, err := literalSources(frame, 15, []int{0, 3, 4, 11, 12, 14})
	if err != nil {
		t.Fatal(err)
	}
	// frame: magic 0-3, size 4-7, token 8, abcd 9-12, offset 13-14, token 15, xyz 16-18
	if want := []int{9, 12, -1, -1, 16, 18}; !slices.Equal(src, want) {
		t.Errorf("literalSources = %v; want %v", src, want)
	}
}

// TestPatchHeader: only the uncompressed copies change; the payload stays
// byte for byte, the result parses with the new build and a valid CRC.
func TestPatchHeader(t *testing.T) {
	filler := bytes.Repeat([]byte("kernel text "), 20)
	dec := banner(debianBuild) + string(filler) + utsName(debianBuild)
	img := synthImage(t, debianBuild, len(dec), seq(nil, []byte(dec), 0, 0))
	patched, oldB, newB, err := PatchHeader(img)
	if err != nil {
		t.Fatalf("PatchHeader: %v", err)
	}
	if want := strings.Replace(debianBuild, "-2 (", "-9 (", 1); oldB != debianBuild || newB != want {
		t.Errorf("PatchHeader builds %q -> %q; want %q -> %q", oldB, newB, debianBuild, want)
	}
	d, _, _ := decodePayload(t, patched)
	if string(d) != dec {
		t.Errorf("the payload changed: it decodes to %q", d)
	}
	im, err := kernel.ParseImage(patched)
	if err != nil || im.Build != newB {
		t.Errorf("ParseImage(patched) = build %q, %v; want %q", im.Build, err, newB)
	}
}

// TestPatchHeaderRealZstd runs PatchHeader on trixie's zstd-compressed
// cloud kernel as .ci/fetch-kernels caches it (required under CI=true).
func TestPatchHeaderRealZstd(t *testing.T) {
	cache := os.Getenv("KU_REAL_KERNELS")
	if cache == "" {
		cache = "/var/tmp/kexec-upgrade-vm/real-kernels"
	}
	paths, _ := filepath.Glob(filepath.Join(cache, "pkg", "linux-image-6.12.*+deb13-cloud-amd64_*_amd64", "boot", "vmlinuz-*"))
	if len(paths) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no trixie 6.12 cloud image under %s: run .ci/fetch-kernels", cache)
		}
		t.Skipf("no trixie 6.12 cloud image under %s (.ci/fetch-kernels)", cache)
	}
	img, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := PatchImage(img); !errors.Is(err, ErrNoPayload) {
		t.Errorf("PatchImage(%s) = %v; want ErrNoPayload (zstd)", paths[0], err)
	}
	patched, oldB, newB, err := PatchHeader(img)
	if err != nil {
		t.Fatalf("PatchHeader(%s): %v", paths[0], err)
	}
	im, err := kernel.ParseImage(patched)
	if err != nil || im.Build != newB || newB == oldB {
		t.Fatalf("ParseImage(patched) = build %q, %v; want %q (was %q)", im.Build, err, newB, oldB)
	}
	if a, err := kernel.CheckAuthenticode(patched); err != nil || a.Match() {
		t.Errorf("CheckAuthenticode(patched) = %+v, %v; want a signed image that no longer matches", a, err)
	}
}
