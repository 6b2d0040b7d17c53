package host

import (
	"crypto/md5"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// installed makes an "ii" package.
func installed(name string) Package {
	return Package{Name: name, Version: "1", Arch: "amd64", Want: "install", Flag: "ok", State: "installed"}
}

// withState returns p with another dpkg state.
func withState(p Package, want, state string) Package {
	p.Want, p.State = want, state
	return p
}

func TestImageDigest(t *testing.T) {
	const (
		r7        = "7.3.4+deb13-cloud-amd64"
		r6        = "6.12.118+deb13-cloud-amd64"
		sumBoot   = "4ce2b0a5ab7fd3d123e988feaa8b1202"
		sumBinary = "8256034107ca713640b75c6b79f82fa2"
	)
	classic := sumBoot + "  boot/vmlinuz-" + r6 + "\n" + "e0a6c09212a19ed48183a052eab847e7  boot/System.map-" + r6 + "\n"
	binary := sumBinary + "  usr/lib/modules/" + r7 + "/vmlinuz\n6ca378c82728c1f5ec167ca0f54a378f  usr/share/lintian/overrides/linux-binary-" + r7 + "\n"
	tests := []struct {
		name      string
		release   string
		pkgs      []Package
		files     map[string]string // var/lib/dpkg/info/<name> → content
		want      Digest
		wantFound bool
		wantErr   string
	}{
		{
			name:    "classic_image_in_boot",
			release: r6,
			pkgs:    []Package{installed("linux-image-" + r6)},
			files:   map[string]string{"linux-image-" + r6 + ".md5sums": classic},
			want:    Digest{Package: "linux-image-" + r6, Path: "/boot/vmlinuz-" + r6, MD5: sumBoot}, wantFound: true,
		},
		{
			name:    "split_image_in_usr_lib_modules",
			release: r7,
			pkgs: []Package{installed("linux-image-" + r7), installed("linux-base-" + r7), installed("linux-binary-" + r7),
				installed("linux-modules-" + r7)},
			files: map[string]string{
				"linux-image-" + r7 + ".md5sums":   "a55430f08b7ee885384bc131113a28bd  usr/share/lintian/overrides/linux-image-" + r7 + "\n",
				"linux-binary-" + r7 + ".md5sums":  binary,
				"linux-modules-" + r7 + ".md5sums": "c6ee0b06599ee178d323be333aba601e  usr/lib/modules/" + r7 + "/vmlinuz\n", // never read
			},
			want: Digest{Package: "linux-binary-" + r7, Path: "/usr/lib/modules/" + r7 + "/vmlinuz", MD5: sumBinary}, wantFound: true,
		},
		{
			// 6.19 to 7.1: linux-binary-R ships /boot/vmlinuz-R itself.
			name:    "split_image_in_boot",
			release: r7,
			pkgs:    []Package{installed("linux-image-" + r7), installed("linux-binary-" + r7)},
			files:   map[string]string{"linux-binary-" + r7 + ".md5sums": sumBinary + "  boot/vmlinuz-" + r7 + "\n"},
			want:    Digest{Package: "linux-binary-" + r7, Path: "/boot/vmlinuz-" + r7, MD5: sumBinary}, wantFound: true,
		},
		{
			name:    "boot_path_wins_over_usr_lib_modules",
			release: r7,
			pkgs:    []Package{installed("linux-binary-" + r7), installed("linux-image-" + r7)},
			files: map[string]string{
				"linux-binary-" + r7 + ".md5sums": binary,
				"linux-image-" + r7 + ".md5sums":  sumBoot + "  boot/vmlinuz-" + r7 + "\n",
			},
			want: Digest{Package: "linux-image-" + r7, Path: "/boot/vmlinuz-" + r7, MD5: sumBoot}, wantFound: true,
		},
		{
			name:    "multiarch_file_name",
			release: r6,
			pkgs:    []Package{installed("linux-image-" + r6)},
			files:   map[string]string{"linux-image-" + r6 + ":amd64.md5sums": classic},
			want:    Digest{Package: "linux-image-" + r6, Path: "/boot/vmlinuz-" + r6, MD5: sumBoot}, wantFound: true,
		},
		{
			name:    "unpacked_counts",
			release: r7,
			pkgs:    []Package{withState(installed("linux-binary-"+r7), "install", "unpacked")},
			files:   map[string]string{"linux-binary-" + r7 + ".md5sums": binary},
			want:    Digest{Package: "linux-binary-" + r7, Path: "/usr/lib/modules/" + r7 + "/vmlinuz", MD5: sumBinary}, wantFound: true,
		},
		{
			name:    "config_files_package_not_read",
			release: r6,
			pkgs:    []Package{withState(installed("linux-image-"+r6), "deinstall", "config-files")},
			files:   map[string]string{"linux-image-" + r6 + ".md5sums": classic},
		},
		{
			name:    "other_release_not_read",
			release: r7,
			pkgs:    []Package{installed("linux-image-" + r6)},
			files:   map[string]string{"linux-image-" + r6 + ".md5sums": classic},
		},
		{
			name:    "meta_package_lists_no_image",
			release: "cloud-amd64",
			pkgs:    []Package{installed("linux-image-cloud-amd64")},
			files:   map[string]string{"linux-image-cloud-amd64.md5sums": "0123456789abcdef0123456789abcdef  usr/share/doc/linux-image-cloud-amd64/copyright\n"},
		},
		{
			name:    "no_md5sums_file",
			release: r6,
			pkgs:    []Package{installed("linux-image-" + r6)},
		},
		{
			name:    "release_with_a_slash",
			release: "../" + r6,
			pkgs:    []Package{installed("linux-image-../" + r6)},
		},
		{
			name:    "malformed_line",
			release: r6,
			pkgs:    []Package{installed("linux-image-" + r6)},
			files:   map[string]string{"linux-image-" + r6 + ".md5sums": "e0a6c09212a19ed48183a052eab847e7  boot/System.map\nnot an md5 line\n"},
			wantErr: `read /var/lib/dpkg/info/linux-image-` + r6 + `.md5sums: line 2: "not an md5 line" is not "<md5>  <path>"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			info := filepath.Join(root, "var/lib/dpkg/info")
			if err := os.MkdirAll(info, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, data := range tt.files {
				if err := os.WriteFile(filepath.Join(info, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, found, err := ImageDigest(root, tt.release, tt.pkgs)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ImageDigest(%s) error = %v; want %s", tt.name, err, tt.wantErr)
				}
				return
			}
			if err != nil || found != tt.wantFound || got != tt.want {
				t.Errorf("ImageDigest(%s) = %+v, %t, %v; want %+v, %t, nil", tt.name, got, found, err, tt.want, tt.wantFound)
			}
		})
	}
}

func TestImageDigest_unreadable(t *testing.T) {
	root := t.TempDir()
	// A directory where the md5sums file should be: reading it fails.
	name := "linux-image-6.1.0-51-cloud-amd64"
	if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg/info", name+".md5sums"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, found, err := ImageDigest(root, "6.1.0-51-cloud-amd64", []Package{installed(name)})
	if err == nil || found || !strings.HasPrefix(err.Error(), "read /var/lib/dpkg/info/"+name+".md5sums: ") {
		t.Errorf("ImageDigest(unreadable md5sums) = found %t, %v; want an error naming the file", found, err)
	}
}

// TestImageDigest_fixtures checks the digests of the fixture roots against
// the generated images' bytes, as a run would.
func TestImageDigest_fixtures(t *testing.T) {
	tests := []struct {
		root, release string
		wantPackage   string
		read          string // the file a run reads
	}{
		{"trixie_backports", rel734, "linux-binary-" + rel734, "/boot/vmlinuz-" + rel734},
		{"trixie_backports", rel612, "linux-image-" + rel612, "/boot/vmlinuz-" + rel612},
		{"trixie_backports_unpacked", rel734, "linux-binary-" + rel734, "/usr/lib/modules/" + rel734 + "/vmlinuz"},
		{"initrd_dracut_writing", rel734, "linux-binary-" + rel734, "/boot/vmlinuz-" + rel734},
	}
	for _, tt := range tests {
		t.Run(tt.root+"_"+strings.NewReplacer(".", "_", "+", "_", "-", "_").Replace(tt.release), func(t *testing.T) {
			root := filepath.Join("testdata", tt.root)
			pkgs, err := readPackages(root)
			if err != nil {
				t.Fatal(err)
			}
			d, found, err := ImageDigest(root, tt.release, pkgs)
			if err != nil || !found || d.Package != tt.wantPackage {
				t.Fatalf("ImageDigest(%s, %s) = %+v, %t, %v; want %s's image", tt.root, tt.release, d, found, err, tt.wantPackage)
			}
			data, err := ReadImage(root, tt.read)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Verify(md5.Sum(data)); err != nil {
				t.Errorf("Verify(%s) = %v; want nil", tt.read, err)
			}
			data[len(data)/2] ^= 1
			if err := d.Verify(md5.Sum(data)); !errors.Is(err, ErrDigestMismatch) {
				t.Errorf("Verify(%s with a byte flipped) = %v; want ErrDigestMismatch", tt.read, err)
			}
		})
	}
}

func TestDigestVerify(t *testing.T) {
	sum := md5.Sum([]byte("kernel image bytes"))
	const read = "d77296bd061c35ef808655cfaf8c70da" // md5 of "kernel image bytes"
	d := Digest{Package: "linux-binary-7.3.4+deb13-cloud-amd64", Path: "/usr/lib/modules/7.3.4+deb13-cloud-amd64/vmlinuz"}
	tests := []struct {
		name    string
		md5     string
		wantErr string
	}{
		{"match", read, ""},
		{"mismatch", "8256034107ca713640b75c6b79f82fa2", "kernel image differs from what dpkg installed: linux-binary-7.3.4+deb13-cloud-amd64 lists MD5 8256034107ca713640b75c6b79f82fa2 for /usr/lib/modules/7.3.4+deb13-cloud-amd64/vmlinuz, the file read has " + read},
		{"empty_record", "", "kernel image differs from what dpkg installed: linux-binary-7.3.4+deb13-cloud-amd64 lists MD5  for /usr/lib/modules/7.3.4+deb13-cloud-amd64/vmlinuz, the file read has " + read},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := d
			d.MD5 = tt.md5
			err := d.Verify(sum)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Verify(%s) = %v; want nil", tt.md5, err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr || !errors.Is(err, ErrDigestMismatch)):
				t.Errorf("Verify(%s) = %v; want %s", tt.md5, err, tt.wantErr)
			}
		})
	}
}

func TestParseMD5SumsLine(t *testing.T) {
	const sum = "8256034107ca713640b75c6b79f82fa2"
	tests := []struct {
		name     string
		line     string
		wantPath string
		wantErr  bool
	}{
		{"dpkg", sum + "  usr/lib/modules/7.3.4+deb13-cloud-amd64/vmlinuz", "usr/lib/modules/7.3.4+deb13-cloud-amd64/vmlinuz", false},
		{"uppercase_hex", strings.ToUpper(sum) + "  boot/vmlinuz-x", "boot/vmlinuz-x", false},
		{"binary_marker", sum + " *boot/vmlinuz-x", "boot/vmlinuz-x", false},
		{"leading_dot_slash", sum + "  ./boot/vmlinuz-x", "boot/vmlinuz-x", false},
		{"leading_slash", sum + "  /boot/vmlinuz-x", "boot/vmlinuz-x", false},
		{"space_in_path", sum + "  usr/share/doc/a b", "usr/share/doc/a b", false},
		{"short_digest", sum[:30] + "  boot/vmlinuz-x", "", true},
		{"not_hex", strings.Repeat("z", 32) + "  boot/vmlinuz-x", "", true},
		{"no_separator", sum + "boot/vmlinuz-x", "", true},
		{"no_path", sum + "   ", "", true},
		{"empty", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotSum, path, err := parseMD5SumsLine(tt.line)
			if tt.wantErr {
				if err == nil {
					t.Errorf("parseMD5SumsLine(%q) = %q, %q, nil; want an error", tt.line, gotSum, path)
				}
				return
			}
			if err != nil || gotSum != sum || path != tt.wantPath {
				t.Errorf("parseMD5SumsLine(%q) = %q, %q, %v; want %q, %q, nil", tt.line, gotSum, path, err, sum, tt.wantPath)
			}
		})
	}
}

func FuzzParseMD5SumsLine(f *testing.F) {
	f.Add("8256034107ca713640b75c6b79f82fa2  usr/lib/modules/7.3.4+deb13-cloud-amd64/vmlinuz")
	f.Add("8256034107CA713640B75C6B79F82FA2 */boot/vmlinuz-x")
	f.Add("8256034107ca713640b75c6b79f82fa2  ./")
	f.Fuzz(func(t *testing.T, line string) {
		sum, path, err := parseMD5SumsLine(line)
		if err != nil {
			return
		}
		if len(sum) != 32 || strings.Trim(sum, "0123456789abcdef") != "" {
			t.Fatalf("parseMD5SumsLine(%q) sum = %q; want 32 lowercase hex digits", line, sum)
		}
		if path == "" || strings.HasPrefix(path, "/") || strings.HasPrefix(path, "./") {
			t.Fatalf("parseMD5SumsLine(%q) path = %q; want a path relative to the root", line, path)
		}
		// What dpkg would write for the result reads back the same.
		again, path2, err := parseMD5SumsLine(sum + "  " + path)
		if err != nil || again != sum || path2 != path {
			t.Fatalf("parseMD5SumsLine(%q) = %q, %q, %v; want %q, %q", sum+"  "+path, again, path2, err, sum, path)
		}
	})
}
