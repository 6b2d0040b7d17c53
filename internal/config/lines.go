package config

import (
	"fmt"
	"strings"
)

// keyLines maps each key of a (syntactically valid) TOML document to the
// line it is defined on: "min_uptime", "kernel.cmdline_append",
// "window[1].end", and table headers as "kernel" and "window[1]".
// BurntSushi/toml keeps positions per dotted key only, so the second
// [[window]]'s "end" would get the first one's line; this small scanner
// tells them apart. Keys it cannot place get no line (0), never a wrong one.
func keyLines(data []byte) map[string]int {
	lines := make(map[string]int)
	table := ""
	arrayIndex := make(map[string]int)
	depth := 0      // open [ or { of a value spanning lines
	multiline := "" // the closing delimiter of an open multi-line string
	for n, line := range strings.Split(string(data), "\n") {
		lineNo := n + 1
		if multiline != "" {
			if strings.Contains(line, multiline) {
				multiline = ""
			}
			continue
		}
		if depth > 0 {
			d, ml := scanValue(line)
			depth += d
			multiline = ml
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case strings.HasPrefix(trimmed, "[["):
			end := strings.Index(trimmed, "]]")
			if end < 0 {
				continue
			}
			name := normalizeKey(trimmed[2:end])
			i := arrayIndex[name]
			arrayIndex[name] = i + 1
			table = fmt.Sprintf("%s[%d]", name, i)
			lines[table] = lineNo
		case strings.HasPrefix(trimmed, "["):
			end := strings.Index(trimmed, "]")
			if end < 0 {
				continue
			}
			table = normalizeKey(trimmed[1:end])
			lines[table] = lineNo
		default:
			key, value, ok := strings.Cut(trimmed, "=")
			if !ok {
				continue
			}
			full := normalizeKey(key)
			if table != "" {
				full = table + "." + full
			}
			if _, seen := lines[full]; !seen {
				lines[full] = lineNo
			}
			d, ml := scanValue(value)
			depth, multiline = d, ml
		}
	}
	return lines
}

// normalizeKey removes quotes and spaces around dotted key parts.
func normalizeKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

// scanValue reports how a value line changes the bracket depth, and whether it
// opens a multi-line string (returning its closing delimiter).
func scanValue(s string) (depth int, multiline string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '#':
			return depth, ""
		case '[', '{':
			depth++
		case ']', '}':
			depth--
		case '"', '\'':
			delim := string(c)
			if strings.HasPrefix(s[i:], strings.Repeat(delim, 3)) {
				rest := s[i+3:]
				end := strings.Index(rest, strings.Repeat(delim, 3))
				if end < 0 {
					return depth, strings.Repeat(delim, 3)
				}
				i += 3 + end + 2
				continue
			}
			j := i + 1
			for j < len(s) && s[j] != c {
				if c == '"' && s[j] == '\\' {
					j++
				}
				j++
			}
			i = j
		}
	}
	return depth, ""
}
