package host

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Package is one entry of dpkg's database for a kernel package: a
// linux-image-* package, or a package of one release that the 7.x
// packaging splits the kernel into (linux-binary-R with the image,
// linux-modules-R, linux-base-R).
type Package struct {
	Name    string
	Version string
	Arch    string
	// Want, Flag and State are the three words of dpkg's Status field,
	// e.g. "install", "ok", "installed".
	Want, Flag, State string
	// Pending is true when the entry comes from /var/lib/dpkg/updates: dpkg
	// was interrupted or is running right now.
	Pending bool
	// Requires are the packages of the same release this one depends on:
	// the kernel packages in its Depends and Pre-Depends (outside
	// alternatives) whose Release is this one's. A 7.x linux-image-R
	// requires linux-base-R, linux-binary-R and linux-modules-R; a classic
	// one nothing.
	Requires []string `json:",omitempty"`
}

// Installed reports whether dpkg shows the package as "ii": wanted, with no
// error flag, and fully configured.
func (p Package) Installed() bool {
	return p.Want == "install" && p.Flag == "ok" && p.State == "installed"
}

// Present reports whether the package has files on disk at all.
func (p Package) Present() bool {
	return p.State != "" && p.State != "not-installed" && p.State != "config-files"
}

// StatusAbbrev renders dpkg -l's two-letter state ("ii", "iU", "rc", ...).
func (p Package) StatusAbbrev() string {
	want := map[string]string{"unknown": "u", "install": "i", "hold": "h", "deinstall": "r", "purge": "p"}[p.Want]
	state := map[string]string{"not-installed": "n", "config-files": "c", "half-installed": "H", "unpacked": "U",
		"half-configured": "F", "triggers-awaited": "W", "triggers-pending": "t", "installed": "i"}[p.State]
	if want == "" {
		want = "?"
	}
	if state == "" {
		state = "?"
	}
	s := want + state
	if p.Flag == "reinstreq" {
		s += "R"
	}
	return s
}

// imagePrefix is the name prefix of kernel image packages on Debian and Ubuntu.
const imagePrefix = "linux-image-"

// kernelPrefixes are the name prefixes of the packages ParseStatus keeps,
// longest first where one is a prefix of another: the image packages, and
// the packages of one release that the 7.x packaging splits a kernel into.
// "linux-base" itself (the tools) has no dash after the prefix.
var kernelPrefixes = []string{"linux-image-unsigned-", imagePrefix, "linux-binary-", "linux-modules-", "linux-base-"}

// IsImage reports a linux-image-* package: one that can make a release
// installed (or, as a meta package, pull one in).
func (p Package) IsImage() bool {
	return strings.HasPrefix(p.Name, imagePrefix)
}

// Release derives the kernel release a package belongs to, from its name:
// linux-image-6.1.0-50-cloud-amd64 and linux-image-6.1.0-50-cloud-amd64-unsigned
// (Debian), linux-image-6.8.0-49-generic and linux-image-unsigned-6.8.0-49-generic
// (Ubuntu), linux-binary-R, linux-modules-R and linux-base-R (Debian's 7.x
// packaging). Meta packages (linux-image-amd64) also yield a string, which
// names no kernel; other packages yield "".
func (p Package) Release() string {
	for _, prefix := range kernelPrefixes {
		if r, ok := strings.CutPrefix(p.Name, prefix); ok {
			return strings.TrimSuffix(r, "-unsigned")
		}
	}
	return ""
}

// ParseStatus parses dpkg's status file (or an updates/ journal file) and
// returns the entries of kernel packages (linux-image-*, linux-binary-*,
// linux-modules-*, linux-base-*) in file order. Other packages are skipped
// without being parsed, so a large database costs little. Errors name the
// line of the offending field.
func ParseStatus(data []byte) ([]Package, error) {
	var pkgs []Package
	line := 1 // the line data starts on
	for len(data) > 0 {
		stanza, rest := cutStanza(data)
		first := line
		line += bytes.Count(data[:len(data)-len(rest)], []byte("\n"))
		data = rest
		if !mentionsKernelPackage(stanza) {
			continue
		}
		p, err := parseStanza(stanza, first)
		if errors.Is(err, errNotKernel) {
			continue
		}
		if err != nil {
			return pkgs, err
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// mentionsKernelPackage reports whether a stanza may be a kernel package's:
// a cheap test on the bytes before parsing, which parseStanza confirms.
func mentionsKernelPackage(stanza []byte) bool {
	stanza = bytes.TrimLeft(stanza, "\n")
	for _, prefix := range kernelPrefixes[1:] { // "linux-image-" covers "linux-image-unsigned-"
		field := "Package: " + prefix
		if bytes.HasPrefix(stanza, []byte(field)) || bytes.Contains(stanza, []byte("\n"+field)) {
			return true
		}
	}
	return false
}

// cutStanza splits off the text up to the next blank line ("\n\n"); the
// separator belongs to neither part.
func cutStanza(data []byte) (stanza, rest []byte) {
	i := bytes.Index(data, []byte("\n\n"))
	if i < 0 {
		return data, nil
	}
	return data[:i], data[i+2:]
}

// parseStanza reads the fields of one stanza that starts on line first. A
// field we read may appear once: dpkg refuses a duplicate, and a second
// Package field would otherwise rename an image package into another one.
func parseStanza(stanza []byte, first int) (Package, error) {
	var p Package
	var depends []string
	packageLine := 0
	seen := make(map[string]bool, 6)
	for i, l := range bytes.Split(stanza, []byte("\n")) {
		lineNo := first + i
		if len(l) == 0 || l[0] == ' ' || l[0] == '\t' {
			continue // continuation lines belong to fields we do not read
		}
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			return p, fmt.Errorf("line %d: %q is not a field", lineNo, truncate(string(l)))
		}
		key := string(k)
		switch key {
		case "Package", "Version", "Architecture", "Status", "Depends", "Pre-Depends":
		default:
			continue
		}
		if seen[key] {
			return p, fmt.Errorf("line %d: duplicate %s field", lineNo, key)
		}
		seen[key] = true
		val := strings.TrimSpace(string(v))
		switch key {
		case "Package":
			p.Name, packageLine = val, lineNo
		case "Version":
			p.Version = val
		case "Architecture":
			p.Arch = val
		case "Status":
			f := strings.Fields(val)
			if len(f) != 3 {
				return p, fmt.Errorf("line %d: status %q does not have three words", lineNo, val)
			}
			p.Want, p.Flag, p.State = f[0], f[1], f[2]
		case "Depends", "Pre-Depends":
			depends = append(depends, dependencyNames(val)...)
		}
	}
	if !isKernelPackage(p.Name) {
		// The Package field named another package; a continuation line or
		// another field held the kernel package's name.
		return Package{}, errNotKernel
	}
	if p.State == "" {
		return p, fmt.Errorf("line %d: package %s has no Status field", packageLine, p.Name)
	}
	if release := p.Release(); release != "" {
		for _, name := range depends {
			if (Package{Name: name}).Release() == release && name != p.Name && !slices.Contains(p.Requires, name) {
				p.Requires = append(p.Requires, name)
			}
		}
	}
	return p, nil
}

// errNotKernel is parseStanza's answer for a stanza that mentions a kernel
// package but describes another one; ParseStatus skips it.
var errNotKernel = errors.New("not a kernel package")

// isKernelPackage reports a name with one of kernelPrefixes and more after it.
func isKernelPackage(name string) bool {
	for _, prefix := range kernelPrefixes {
		if len(name) > len(prefix) && strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// dependencyNames returns the package names of a Depends field that must
// be installed: each comma-separated clause without alternatives ("|"),
// without its version and architecture qualifiers.
func dependencyNames(field string) []string {
	var names []string
	for _, clause := range strings.Split(field, ",") {
		if strings.Contains(clause, "|") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSpace(clause), " ")
		name, _, _ = strings.Cut(name, "(")
		name, _, _ = strings.Cut(name, ":")
		if name != "" {
			names = append(names, name)
		}
	}
	return names
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// readPackages reads the status file and applies dpkg's pending updates
// journal over it, like dpkg does on its next start.
func readPackages(root string) ([]Package, error) {
	statusPath := filepath.Join(root, "var/lib/dpkg/status")
	data, err := os.ReadFile(statusPath)
	if err != nil {
		return nil, fmt.Errorf("read dpkg database: %w", err)
	}
	pkgs, err := ParseStatus(data)
	if err != nil {
		return nil, fmt.Errorf("parse /var/lib/dpkg/status: %w", err)
	}
	updates, err := os.ReadDir(filepath.Join(root, "var/lib/dpkg/updates"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read dpkg updates: %w", err)
	}
	var journal []string
	for _, e := range updates {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			journal = append(journal, e.Name())
		}
	}
	sort.Slice(journal, func(i, j int) bool {
		a, _ := strconv.Atoi(journal[i])
		b, _ := strconv.Atoi(journal[j])
		return a < b
	})
	index := make(map[string]int, len(pkgs))
	for i, p := range pkgs {
		index[p.Name+":"+p.Arch] = i
	}
	for _, name := range journal {
		data, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/updates", name))
		if err != nil {
			return nil, fmt.Errorf("read dpkg updates: %w", err)
		}
		upd, err := ParseStatus(data)
		if err != nil {
			// dpkg may be writing this very file; it is pending either way.
			continue
		}
		for _, p := range upd {
			p.Pending = true
			if i, ok := index[p.Name+":"+p.Arch]; ok {
				pkgs[i] = p
			} else {
				index[p.Name+":"+p.Arch] = len(pkgs)
				pkgs = append(pkgs, p)
			}
		}
	}
	return pkgs, nil
}
