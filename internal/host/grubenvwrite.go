package host

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// GrubEnvPath is GRUB's environment block, relative to the root.
const GrubEnvPath = "boot/grub/grubenv"

// GrubNextEntry is the one-shot entry grub-reboot sets: Debian's 00_header
// boots it once (it sets default to it, clears it and saves the block).
const GrubNextEntry = "next_entry"

// GrubEnvLine is one line of an environment block: a variable, or a
// comment kept verbatim (Name empty, Comment the whole line).
type GrubEnvLine struct {
	Name, Value string
	Comment     string
}

// DecodeGrubEnv reads an environment block into its lines, in order,
// strictly: exactly GrubEnvSize bytes, the header, name=value or '#'
// comment lines each ending in a newline, then only '#' padding. It is
// pure; EncodeGrubEnv gives back the same bytes.
func DecodeGrubEnv(data []byte) ([]GrubEnvLine, error) {
	if len(data) != GrubEnvSize {
		return nil, fmt.Errorf("%w: %d bytes, not %d", ErrGrubEnv, len(data), GrubEnvSize)
	}
	body, ok := strings.CutPrefix(string(data), grubEnvHeader)
	if !ok {
		return nil, fmt.Errorf("%w: no %q header", ErrGrubEnv, strings.TrimSpace(grubEnvHeader))
	}
	lines := strings.Split(body, "\n")
	padding := lines[len(lines)-1]
	if strings.Trim(padding, "#") != "" {
		return nil, fmt.Errorf("%w: the padding after the last line is not all '#'", ErrGrubEnv)
	}
	var out []GrubEnvLine
	for _, line := range lines[:len(lines)-1] {
		if strings.HasPrefix(line, "#") {
			out = append(out, GrubEnvLine{Comment: line})
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: line %q has no name=value", ErrGrubEnv, truncate(line))
		}
		out = append(out, GrubEnvLine{Name: name, Value: value})
	}
	return out, nil
}

// EncodeGrubEnv writes lines as an environment block of exactly
// GrubEnvSize bytes. It refuses a line that would not read back the same
// (a name with '=', a newline anywhere, a comment not starting with '#')
// and lines that do not fit. It is pure.
func EncodeGrubEnv(lines []GrubEnvLine) ([]byte, error) {
	var b strings.Builder
	b.WriteString(grubEnvHeader)
	for _, l := range lines {
		switch {
		case l.Name == "":
			if !strings.HasPrefix(l.Comment, "#") || strings.Contains(l.Comment, "\n") {
				return nil, fmt.Errorf("grub environment: comment %q is not one '#' line", truncate(l.Comment))
			}
			b.WriteString(l.Comment)
		case strings.ContainsAny(l.Name, "=\n") || strings.HasPrefix(l.Name, "#") || strings.Contains(l.Value, "\n"):
			return nil, fmt.Errorf("grub environment: %q=%q is not one name=value line", truncate(l.Name), truncate(l.Value))
		default:
			b.WriteString(l.Name + "=" + l.Value)
		}
		b.WriteByte('\n')
	}
	if b.Len() > GrubEnvSize {
		return nil, fmt.Errorf("grub environment: %d bytes of variables do not fit in %d", b.Len(), GrubEnvSize)
	}
	b.WriteString(strings.Repeat("#", GrubEnvSize-b.Len()))
	return []byte(b.String()), nil
}

// SetGrubEnvVar sets (value != nil) or removes (nil) one variable, keeping
// the others and the comments in their order. It is pure.
func SetGrubEnvVar(lines []GrubEnvLine, name string, value *string) []GrubEnvLine {
	out := make([]GrubEnvLine, 0, len(lines)+1)
	done := false
	for _, l := range lines {
		if l.Name != name {
			out = append(out, l)
			continue
		}
		if value != nil && !done {
			out = append(out, GrubEnvLine{Name: name, Value: *value})
			done = true
		}
	}
	if value != nil && !done {
		out = append(out, GrubEnvLine{Name: name, Value: *value})
	}
	return out
}

// WriteGrubEnvVar sets (value != nil) or removes (nil) one variable of
// root's /boot/grub/grubenv in place: the block is read, decoded strictly,
// changed, encoded to the same 1024 bytes, written over itself at offset 0
// (so its blocks on disk, which GRUB's save_env writes to, do not move)
// and fsynced. A block that is missing or not exactly grub-editenv's
// format is refused, never recreated.
func WriteGrubEnvVar(root, name string, value *string) error {
	p := filepath.Join(root, GrubEnvPath)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("grub environment: %w", err)
	}
	defer f.Close()
	data := make([]byte, GrubEnvSize+1)
	n, err := io.ReadFull(f, data)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("grub environment: read /%s: %w", GrubEnvPath, err)
	}
	lines, err := DecodeGrubEnv(data[:n])
	if err != nil {
		return fmt.Errorf("/%s: %w", GrubEnvPath, err)
	}
	out, err := EncodeGrubEnv(SetGrubEnvVar(lines, name, value))
	if err != nil {
		return fmt.Errorf("/%s: %w", GrubEnvPath, err)
	}
	if _, err := f.WriteAt(out, 0); err != nil {
		return fmt.Errorf("grub environment: write /%s: %w", GrubEnvPath, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("grub environment: fsync /%s: %w", GrubEnvPath, err)
	}
	return nil
}
