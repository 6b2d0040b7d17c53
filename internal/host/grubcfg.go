package host

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
)

// ErrNoGrubEntry is wrapped when grub.cfg has no normal entry for a release.
var ErrNoGrubEntry = errors.New("no GRUB menu entry")

// GrubEntry is one menuentry of grub.cfg.
type GrubEntry struct {
	// Path is what GRUB's default and next_entry accept for it: the ids of
	// the enclosing submenus and its own, joined by '>' (a title stands in
	// for an id an entry does not have).
	Path string
	// Title is the entry's title.
	Title string
	// Image is the kernel image of its linux (or linuxefi) line, as GRUB
	// sees it: /vmlinuz-R when /boot is its own partition, /boot/vmlinuz-R
	// otherwise.
	Image string
	// Recovery is set for grub-mkconfig's recovery entries.
	Recovery bool
	// Depth is how many submenus enclose it.
	Depth int
}

// ParseGrubCfg lists the menu entries of a grub.cfg, in order, with their
// submenu nesting. Braces of other blocks (functions) are followed so that
// their closing brace does not end a menu. It is pure.
func ParseGrubCfg(data []byte) ([]GrubEntry, error) {
	type block struct {
		menu   bool   // a menuentry or submenu (not a function)
		key    string // its id or title, for paths
		entry  int    // index in entries of a menuentry; -1 otherwise
		submen bool
	}
	var stack []block
	var entries []GrubEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		words, err := shellWords(strings.TrimSpace(sc.Text()))
		if err != nil {
			return nil, fmt.Errorf("grub.cfg line %d: %w", n, err)
		}
		if len(words) == 0 {
			continue
		}
		switch {
		case words[0] == "}":
			if len(stack) == 0 {
				return nil, fmt.Errorf("grub.cfg line %d: a closing brace without a block", n)
			}
			stack = stack[:len(stack)-1]
		case (words[0] == "menuentry" || words[0] == "submenu") && words[len(words)-1] == "{":
			if len(words) < 3 {
				return nil, fmt.Errorf("grub.cfg line %d: %s without a title", n, words[0])
			}
			title, id := words[1], menuID(words[2:len(words)-1])
			key := id
			if key == "" {
				key = title
			}
			b := block{menu: true, key: key, entry: -1, submen: words[0] == "submenu"}
			if !b.submen {
				var keys []string
				depth := 0
				for _, s := range stack {
					if s.menu && s.submen {
						keys = append(keys, s.key)
						depth++
					}
				}
				keys = append(keys, key)
				b.entry = len(entries)
				entries = append(entries, GrubEntry{Path: strings.Join(keys, ">"), Title: title, Depth: depth,
					Recovery: strings.Contains(title, "(recovery mode)") || strings.Contains(id, "-recovery-")})
			}
			stack = append(stack, b)
		case words[len(words)-1] == "{":
			stack = append(stack, block{entry: -1})
		case (words[0] == "linux" || words[0] == "linuxefi" || words[0] == "linux16") && len(words) > 1:
			for i := len(stack) - 1; i >= 0; i-- {
				if stack[i].entry >= 0 {
					entries[stack[i].entry].Image = words[1]
					break
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read grub.cfg: %w", err)
	}
	if len(stack) != 0 {
		return nil, fmt.Errorf("grub.cfg ends inside %d unclosed block(s)", len(stack))
	}
	return entries, nil
}

// menuID finds the id given with $menuentry_id_option or --id.
func menuID(args []string) string {
	for i, a := range args {
		if (a == "$menuentry_id_option" || a == "${menuentry_id_option}" || a == "--id") && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// FallbackEntry picks, among grub.cfg's entries, the one a firmware boot
// should use to come back up on release: a normal (not recovery) entry
// whose linux line boots /vmlinuz-release or /boot/vmlinuz-release,
// preferring an entry whose id names the release (grub-mkconfig's
// "Advanced options" entries) over the top entry, which follows whatever
// kernel is newest when grub.cfg is next generated. It is pure.
func FallbackEntry(entries []GrubEntry, release string) (GrubEntry, error) {
	var found []GrubEntry
	for _, e := range entries {
		if e.Recovery || path.Base(e.Image) != "vmlinuz-"+release {
			continue
		}
		if dir := path.Dir(e.Image); dir != "/" && dir != "/boot" {
			continue
		}
		found = append(found, e)
	}
	if len(found) == 0 {
		return GrubEntry{}, fmt.Errorf("%w boots /vmlinuz-%s (other than in recovery mode)", ErrNoGrubEntry, release)
	}
	for _, e := range found {
		last := e.Path[strings.LastIndex(e.Path, ">")+1:]
		if strings.Contains(last, release) {
			return e, nil
		}
	}
	return found[0], nil
}

// shellWords splits a grub.cfg line into words the way GRUB's script
// lexer does for the lines that matter here: single quotes (literal),
// double quotes (with backslash escapes), backslash escapes, and '#'
// starting a comment at the start of a word.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return words, nil
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
				}
				cur.WriteByte(line[i])
			}
			if i >= len(line) {
				return nil, errors.New("unterminated double quote")
			}
			inWord = true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == ';':
			// "then" or "fi" may follow; a separator ends the word.
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
