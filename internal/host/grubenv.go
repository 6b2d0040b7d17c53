package host

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// GrubEnvSize is the size of GRUB's environment block: grub-editenv writes
// exactly 1024 bytes, padded with '#', and GRUB refuses a block of another
// size.
const GrubEnvSize = 1024

// grubEnvHeader starts every environment block.
const grubEnvHeader = "# GRUB Environment Block\n"

// ErrGrubEnv is wrapped by every reason a block is not a GRUB environment.
var ErrGrubEnv = errors.New("not a GRUB environment block")

// ParseGrubEnv reads a GRUB environment block (grub-editenv's format: the
// header line, name=value lines, '#' padding to 1024 bytes). Values keep
// GRUB's escapes (\\ and \n) as they are. It is pure.
func ParseGrubEnv(data []byte) (map[string]string, error) {
	if len(data) != GrubEnvSize {
		return nil, fmt.Errorf("%w: %d bytes, not %d", ErrGrubEnv, len(data), GrubEnvSize)
	}
	if !bytes.HasPrefix(data, []byte(grubEnvHeader)) {
		return nil, fmt.Errorf("%w: no %q header", ErrGrubEnv, strings.TrimSpace(grubEnvHeader))
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(data[len(grubEnvHeader):]), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || name == "" {
			return env, fmt.Errorf("%w: line %q has no name=value", ErrGrubEnv, truncate(line))
		}
		env[name] = value
	}
	return env, nil
}
