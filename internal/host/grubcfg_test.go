package host

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const trixieUUID = "a8c17a3d-83b5-4a90-8f42-1bac5514c1cf"

func TestFallbackEntryRealGrubCfg(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "grubcfg", "trixie-one-kernel.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParseGrubCfg(data)
	if err != nil {
		t.Fatal(err)
	}
	e, err := FallbackEntry(entries, "6.12.117+deb13-cloud-amd64")
	if err != nil {
		t.Fatal(err)
	}
	want := "gnulinux-advanced-" + trixieUUID + ">gnulinux-6.12.117+deb13-cloud-amd64-advanced-" + trixieUUID
	if e.Path != want || e.Image != "/vmlinuz-6.12.117+deb13-cloud-amd64" || e.Depth != 1 {
		t.Errorf("FallbackEntry = %+v; want path %s", e, want)
	}
	if _, err := FallbackEntry(entries, "7.3.4+deb13-cloud-amd64"); !errors.Is(err, ErrNoGrubEntry) {
		t.Errorf("FallbackEntry(absent release) error = %v; want ErrNoGrubEntry", err)
	}
}

// twoKernels is grub-mkconfig's shape with /boot on the root file system,
// a newer kernel on top, entries without ids (an old GRUB) in a second
// submenu, and a function whose braces must not end a menu.
const twoKernels = `function load_video {
  if [ x$feature_all_video_module = xy ]; then
    insmod all_video
  fi
}
menuentry 'Debian GNU/Linux' --class debian $menuentry_id_option 'gnulinux-simple-U' {
	linux	/boot/vmlinuz-6.1.0-51-amd64 root=UUID=U ro quiet
}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-U' {
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-51-amd64' $menuentry_id_option 'gnulinux-6.1.0-51-amd64-advanced-U' {
		linux	/boot/vmlinuz-6.1.0-51-amd64 root=UUID=U ro quiet
	}
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-50-amd64 (recovery mode)' $menuentry_id_option 'gnulinux-6.1.0-50-amd64-recovery-U' {
		linux	/boot/vmlinuz-6.1.0-50-amd64 root=UUID=U ro single
	}
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-50-amd64' $menuentry_id_option 'gnulinux-6.1.0-50-amd64-advanced-U' {
		linux	/boot/vmlinuz-6.1.0-50-amd64 root=UUID=U ro quiet
	}
}
submenu 'Old' {
	menuentry "It's \"old\"" {
		linux /boot/vmlinuz-5.10.0-9-amd64 root=/dev/sda1
	}
}
`

func TestFallbackEntry(t *testing.T) {
	entries, err := ParseGrubCfg([]byte(twoKernels))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		release, want string
	}{
		{"6.1.0-50-amd64", "gnulinux-advanced-U>gnulinux-6.1.0-50-amd64-advanced-U"},
		{"6.1.0-51-amd64", "gnulinux-advanced-U>gnulinux-6.1.0-51-amd64-advanced-U"},
		{"5.10.0-9-amd64", `Old>It's "old"`},
		{"6.1.0-5", ""},
	}
	for _, tc := range tests {
		e, err := FallbackEntry(entries, tc.release)
		if tc.want == "" {
			if err == nil {
				t.Errorf("FallbackEntry(%s) = %+v; want an error", tc.release, e)
			}
			continue
		}
		if err != nil || e.Path != tc.want {
			t.Errorf("FallbackEntry(%s) = %q, %v; want %q", tc.release, e.Path, err, tc.want)
		}
	}
}

func TestParseGrubCfgRefuses(t *testing.T) {
	for _, cfg := range []string{
		"}\n",
		"menuentry 'x' {\n",
		"menuentry 'x {\n}\n",
		"menuentry {\n}\n",
	} {
		if _, err := ParseGrubCfg([]byte(cfg)); err == nil {
			t.Errorf("ParseGrubCfg(%q) accepted it", cfg)
		}
	}
}

func FuzzParseGrubCfg(f *testing.F) {
	f.Add([]byte(twoKernels))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseGrubCfg(data)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Depth > strings.Count(e.Path, ">") {
				t.Fatalf("entry %+v: deeper than its path", e)
			}
		}
	})
}

func readGrubEnvFixture(t testing.TB, name string) []byte {
	data, err := os.ReadFile(filepath.Join("testdata", "grubenv", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDecodeEncodeGrubEnvRealBlocks(t *testing.T) {
	for _, name := range []string{"empty.grubenv", "next_entry.grubenv", "trixie-fresh.grubenv"} {
		data := readGrubEnvFixture(t, name)
		lines, err := DecodeGrubEnv(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := EncodeGrubEnv(lines)
		if err != nil || !bytes.Equal(out, data) {
			t.Errorf("%s: encode(decode) differs (%v)", name, err)
		}
	}
	lines, _ := DecodeGrubEnv(readGrubEnvFixture(t, "trixie-fresh.grubenv"))
	if len(lines) != 1 || !strings.HasPrefix(lines[0].Comment, "# WARNING") {
		t.Errorf("trixie's block decodes to %+v; want its one WARNING comment", lines)
	}
}

func TestDecodeGrubEnvRefuses(t *testing.T) {
	good := readGrubEnvFixture(t, "next_entry.grubenv")
	bad := map[string][]byte{
		"short":        good[:GrubEnvSize-1],
		"long":         append(append([]byte{}, good...), '#'),
		"no header":    append([]byte("# GRUB Environment Blok\n"), good[24:]...),
		"padding":      append(append([]byte{}, good[:GrubEnvSize-1]...), 'x'),
		"no name":      []byte(grubEnvHeader + "=x\n" + strings.Repeat("#", GrubEnvSize-len(grubEnvHeader)-3)),
		"no separator": []byte(grubEnvHeader + "abc\n" + strings.Repeat("#", GrubEnvSize-len(grubEnvHeader)-4)),
	}
	for name, data := range bad {
		if _, err := DecodeGrubEnv(data); !errors.Is(err, ErrGrubEnv) {
			t.Errorf("%s: DecodeGrubEnv error = %v; want ErrGrubEnv", name, err)
		}
	}
}

func TestEncodeGrubEnvRefuses(t *testing.T) {
	for _, lines := range [][]GrubEnvLine{
		{{Name: "a=b", Value: "c"}},
		{{Name: "a", Value: "b\nc"}},
		{{Name: "#a", Value: "b"}},
		{{Comment: "no hash"}},
		{{Name: "a", Value: strings.Repeat("v", GrubEnvSize)}},
	} {
		if _, err := EncodeGrubEnv(lines); err == nil {
			t.Errorf("EncodeGrubEnv(%q) accepted it", lines)
		}
	}
}

func TestWriteGrubEnvVar(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, GrubEnvPath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	fresh := readGrubEnvFixture(t, "trixie-fresh.grubenv")
	if err := os.WriteFile(p, fresh, 0o644); err != nil {
		t.Fatal(err)
	}
	entry := "gnulinux-advanced-U>gnulinux-6.1.0-50-amd64-advanced-U"
	if err := WriteGrubEnvVar(root, GrubNextEntry, &entry); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	env, err := ParseGrubEnv(data)
	if err != nil || env[GrubNextEntry] != entry || len(data) != GrubEnvSize {
		t.Fatalf("after set: %v, %v (%d bytes)", env, err, len(data))
	}
	if !bytes.Contains(data, []byte("# WARNING")) {
		t.Error("the comment was lost")
	}
	if err := WriteGrubEnvVar(root, GrubNextEntry, nil); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(p)
	if !bytes.Equal(data, fresh) {
		t.Errorf("set then clear does not give back the fresh block:\n%q", data)
	}
	// A block that is not grub-editenv's is refused and left alone.
	torn := fresh[:500]
	os.WriteFile(p, torn, 0o644)
	if err := WriteGrubEnvVar(root, GrubNextEntry, &entry); !errors.Is(err, ErrGrubEnv) {
		t.Errorf("WriteGrubEnvVar on a torn block: %v; want ErrGrubEnv", err)
	}
	if data, _ := os.ReadFile(p); !bytes.Equal(data, torn) {
		t.Error("a torn block was changed")
	}
	os.Remove(p)
	if err := WriteGrubEnvVar(root, GrubNextEntry, &entry); err == nil {
		t.Error("WriteGrubEnvVar created a missing block")
	}
	if _, err := os.Stat(p); err == nil {
		t.Error("a missing block was created")
	}
}

// FuzzGrubEnvRoundTrip: every block DecodeGrubEnv accepts encodes back to
// the same bytes, ParseGrubEnv agrees with it, and setting then removing a
// variable absent from it gives the block back (when it fits).
func FuzzGrubEnvRoundTrip(f *testing.F) {
	for _, name := range []string{"empty.grubenv", "next_entry.grubenv", "trixie-fresh.grubenv"} {
		f.Add(readGrubEnvFixture(f, name), "next_entry", "a>b")
	}
	f.Fuzz(checkGrubEnvRoundTrip)
}

// TestGrubEnvRoundTripMutations runs the round-trip properties over
// blocks mutated from the real ones (fuzzing is slow on a loaded host).
func TestGrubEnvRoundTripMutations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("#=\n ab_0>")
	names := []string{"next_entry", "saved_entry", "a", "x=y", "#c", ""}
	for _, file := range []string{"empty.grubenv", "next_entry.grubenv", "trixie-fresh.grubenv"} {
		base := readGrubEnvFixture(t, file)
		for i := 0; i < 3000; i++ {
			data := append([]byte{}, base...)
			for n := rng.IntN(4); n >= 0; n-- {
				data[len(grubEnvHeader)+rng.IntN(len(data)-len(grubEnvHeader))] = alphabet[rng.IntN(len(alphabet))]
			}
			checkGrubEnvRoundTrip(t, data, names[rng.IntN(len(names))], strings.Repeat("v", rng.IntN(40)))
		}
	}
}

func checkGrubEnvRoundTrip(t *testing.T, data []byte, name, value string) {
	{
		lines, err := DecodeGrubEnv(data)
		if err != nil {
			return
		}
		out, err := EncodeGrubEnv(lines)
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("encode(decode(x)) != x: %v", err)
		}
		env, err := ParseGrubEnv(data)
		if err != nil {
			t.Fatalf("ParseGrubEnv refuses what DecodeGrubEnv accepts: %v", err)
		}
		for _, l := range lines {
			if l.Name != "" && env[l.Name] == "" && l.Value != "" && !dupName(lines, l.Name) {
				t.Fatalf("ParseGrubEnv lost %s", l.Name)
			}
		}
		if _, present := env[name]; present {
			return
		}
		set, err := EncodeGrubEnv(SetGrubEnvVar(lines, name, &value))
		if err != nil {
			return // does not fit, or not a valid name=value
		}
		got, err := DecodeGrubEnv(set)
		if err != nil {
			t.Fatalf("a set block does not decode: %v", err)
		}
		back, err := EncodeGrubEnv(SetGrubEnvVar(got, name, nil))
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("set then remove %q does not give the block back: %v", name, err)
		}
	}
}

func dupName(lines []GrubEnvLine, name string) bool {
	n := 0
	for _, l := range lines {
		if l.Name == name {
			n++
		}
	}
	return n > 1
}
