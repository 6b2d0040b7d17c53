package host

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Digest is what dpkg recorded when it installed a kernel image: the
// package that ships it, the path it ships it at, and the file's MD5, as
// /var/lib/dpkg/info/PACKAGE.md5sums lists them (what `dpkg --verify`
// compares).
type Digest struct {
	// Package owns the file: linux-image-R for a classic package,
	// linux-binary-R in Debian's 7.x packaging.
	Package string `json:"package"`
	// Path is the absolute path the package ships the image at:
	// "/boot/vmlinuz-R", or "/usr/lib/modules/R/vmlinuz" for a package
	// whose maintainer scripts put /boot/vmlinuz-R in place as a hard link
	// or a byte-for-byte copy of it (linux-base ≥ 4.17).
	Path string `json:"path"`
	// MD5 is the recorded digest, 32 lowercase hex digits.
	MD5 string `json:"md5"`
}

// ErrDigestMismatch: a kernel image's bytes differ from what dpkg
// installed.
var ErrDigestMismatch = errors.New("kernel image differs from what dpkg installed")

// imagePaths are the paths, relative to the root and in order of
// preference, at which a package may ship release's kernel image. Only
// the first one is what boot loaders and kexec-upgrade read; the others
// must be byte-identical to it.
func imagePaths(release string) []string {
	return []string{
		"boot/vmlinuz-" + release,
		"usr/lib/modules/" + release + "/vmlinuz",
		"lib/modules/" + release + "/vmlinuz",
	}
}

// ImageDigest returns what dpkg recorded for the kernel image of release
// (the file a run loads is /boot/vmlinuz-<release>): it reads the md5sums
// of the release's packages in pkgs that can ship an image (linux-image-*
// and linux-binary-* packages with files on disk or pending dpkg changes),
// /var/lib/dpkg/info/<package>.md5sums or <package>:<arch>.md5sums under
// root, and takes the entry for /boot/vmlinuz-<release>, or where no
// package lists that, for /usr/lib/modules/<release>/vmlinuz (Debian's 7.x
// packaging ships the image there, and /boot/vmlinuz-<release> must be
// identical to it). found is false when no package lists the image: the
// caller checks what it can without and warns. A package without an
// md5sums file lists nothing; an md5sums file that cannot be read, or a
// malformed line in one, is an error.
func ImageDigest(root, release string, pkgs []Package) (d Digest, found bool, err error) {
	if release == "" || strings.ContainsAny(release, "/\n") || release == "." || release == ".." {
		return Digest{}, false, nil
	}
	paths := imagePaths(release)
	best := len(paths) // index into paths of d.Path; len(paths): none yet
	for _, p := range pkgs {
		if !shipsImages(p) || p.Release() != release || !p.Present() && !p.Pending {
			continue
		}
		entry, rank, err := findInMD5Sums(root, p, paths[:best])
		if err != nil {
			return Digest{}, false, err
		}
		if rank < best {
			d, best = entry, rank
			if best == 0 {
				break
			}
		}
	}
	return d, best < len(paths), nil
}

// shipsImages reports a package kind that may ship a kernel image: the
// image packages and the 7.x linux-binary-R; linux-modules-R and
// linux-base-R never do, and their md5sums are long.
func shipsImages(p Package) bool {
	return p.IsImage() || strings.HasPrefix(p.Name, "linux-binary-")
}

// findInMD5Sums looks for any of paths in package p's md5sums and returns
// the entry of the earliest one listed in paths and its index, or
// len(paths) when the file lists none of them (or does not exist).
func findInMD5Sums(root string, p Package, paths []string) (Digest, int, error) {
	names := []string{p.Name + ".md5sums"}
	if p.Arch != "" {
		names = append(names, p.Name+":"+p.Arch+".md5sums")
	}
	for _, name := range names {
		rel := "/var/lib/dpkg/info/" + name
		f, err := os.Open(filepath.Join(root, rel))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Digest{}, len(paths), fmt.Errorf("read %s: %w", rel, err)
		}
		defer f.Close()
		d, rank, err := scanMD5Sums(f, paths)
		if err != nil {
			return Digest{}, len(paths), fmt.Errorf("read %s: %w", rel, err)
		}
		d.Package = p.Name
		return d, rank, nil
	}
	return Digest{}, len(paths), nil
}

// scanMD5Sums reads an md5sums file ("<32 hex digits>  <path>" a line,
// the path relative to the root) until it finds paths[0], and returns the
// entry of the earliest of paths it saw, with the path made absolute.
func scanMD5Sums(r io.Reader, paths []string) (Digest, int, error) {
	var d Digest
	best := len(paths)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		sum, path, err := parseMD5SumsLine(sc.Text())
		if err != nil {
			return Digest{}, len(paths), fmt.Errorf("line %d: %w", n, err)
		}
		for i, want := range paths[:best] {
			if path == want {
				d, best = Digest{Path: "/" + path, MD5: sum}, i
				break
			}
		}
		if best == 0 {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return Digest{}, len(paths), err
	}
	return d, best, nil
}

// parseMD5SumsLine splits one md5sums line into the digest (lowercased)
// and the path, without leading "/" or "./". md5sum's binary marker "*"
// before the path is accepted.
func parseMD5SumsLine(line string) (sum, path string, err error) {
	if len(line) < md5.Size*2+2 || line[md5.Size*2] != ' ' {
		return "", "", fmt.Errorf("%q is not \"<md5>  <path>\"", truncate(line))
	}
	sum = strings.ToLower(line[:md5.Size*2])
	if _, err := hex.DecodeString(sum); err != nil {
		return "", "", fmt.Errorf("%q does not start with 32 hex digits", truncate(line))
	}
	// md5sum's format: the digest, a space, a space (text) or '*' (binary)
	// mode, then the path as it is.
	if mode := line[md5.Size*2+1]; mode != ' ' && mode != '*' {
		return "", "", fmt.Errorf("%q is not \"<md5>  <path>\"", truncate(line))
	}
	path = line[md5.Size*2+2:]
	for {
		trimmed := strings.TrimPrefix(strings.TrimLeft(path, "/"), "./")
		if trimmed == path {
			break
		}
		path = trimmed
	}
	if path == "" || strings.TrimSpace(path) != path {
		return "", "", fmt.Errorf("%q names no file", truncate(line))
	}
	return sum, path, nil
}

// Verify compares sum, the MD5 of the bytes a run read, with the digest
// dpkg recorded. A mismatch wraps ErrDigestMismatch and names the package,
// the path it ships and both digests.
func (d Digest) Verify(sum [md5.Size]byte) error {
	got := hex.EncodeToString(sum[:])
	if got == d.MD5 {
		return nil
	}
	return fmt.Errorf("%w: %s lists MD5 %s for %s, the file read has %s", ErrDigestMismatch, d.Package, d.MD5, d.Path, got)
}
