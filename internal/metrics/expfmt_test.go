package metrics

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// A strict checker for the text exposition format, version 0.0.4, as
// node_exporter's textfile collector parses it, plus this package's own
// rules: every family has # HELP and # TYPE before its samples, samples of a
// family are contiguous, no timestamps (the textfile collector rejects
// them), plain decimal values, no duplicate series.

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	plainValueRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$`)
	validTypes   = map[string]bool{"counter": true, "gauge": true, "histogram": true, "summary": true, "untyped": true}
)

// parsedSample is one sample line, label values unescaped.
type parsedSample struct {
	name   string
	labels map[string]string
	value  string
}

// parsedFamily is one metric family.
type parsedFamily struct {
	name, help, typ string
	samples         []parsedSample
}

// checkExposition validates text and returns its families in order.
func checkExposition(text string) ([]*parsedFamily, error) {
	if text == "" {
		return nil, fmt.Errorf("empty output")
	}
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("output is not valid UTF-8")
	}
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("output does not end in a newline")
	}
	var fams []*parsedFamily
	byName := map[string]*parsedFamily{}
	closed := map[string]bool{} // families whose samples are over
	seen := map[string]bool{}   // series keys
	current := ""               // family whose samples are being read
	get := func(name string) *parsedFamily {
		if f, ok := byName[name]; ok {
			return f
		}
		f := &parsedFamily{name: name}
		fams = append(fams, f)
		byName[name] = f
		return f
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		n := i + 1
		if line == "" {
			return nil, fmt.Errorf("line %d: empty line", n)
		}
		if strings.HasPrefix(line, "#") {
			fields := strings.SplitN(line, " ", 4)
			if len(fields) < 3 || fields[0] != "#" || (fields[1] != "HELP" && fields[1] != "TYPE") {
				return nil, fmt.Errorf("line %d: unexpected comment %q", n, line)
			}
			name := fields[2]
			if !metricNameRE.MatchString(name) {
				return nil, fmt.Errorf("line %d: invalid metric name %q", n, name)
			}
			if closed[name] || current == name {
				return nil, fmt.Errorf("line %d: %s for %s after its samples", n, fields[1], name)
			}
			if current != "" {
				closed[current] = true
				current = ""
			}
			f := get(name)
			rest := ""
			if len(fields) == 4 {
				rest = fields[3]
			}
			switch fields[1] {
			case "HELP":
				if f.help != "" {
					return nil, fmt.Errorf("line %d: second HELP for %s", n, name)
				}
				help, err := unescapeHelp(rest)
				if err != nil {
					return nil, fmt.Errorf("line %d: %w", n, err)
				}
				if help == "" {
					return nil, fmt.Errorf("line %d: empty HELP for %s", n, name)
				}
				f.help = help
			case "TYPE":
				if f.typ != "" {
					return nil, fmt.Errorf("line %d: second TYPE for %s", n, name)
				}
				if !validTypes[rest] {
					return nil, fmt.Errorf("line %d: invalid TYPE %q", n, rest)
				}
				f.typ = rest
			}
			continue
		}
		s, err := parseSampleLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if s.name != current {
			if current != "" {
				closed[current] = true
			}
			if closed[s.name] {
				return nil, fmt.Errorf("line %d: samples of %s are not contiguous", n, s.name)
			}
			current = s.name
		}
		f, ok := byName[s.name]
		if !ok || f.help == "" || f.typ == "" {
			return nil, fmt.Errorf("line %d: sample of %s without HELP and TYPE before it", n, s.name)
		}
		key := seriesKey(s)
		if seen[key] {
			return nil, fmt.Errorf("line %d: duplicate series %s", n, key)
		}
		seen[key] = true
		f.samples = append(f.samples, s)
	}
	for _, f := range fams {
		if len(f.samples) == 0 {
			return nil, fmt.Errorf("family %s has no samples", f.name)
		}
	}
	return fams, nil
}

func seriesKey(s parsedSample) string {
	names := make([]string, 0, len(s.labels))
	for k := range s.labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(s.name)
	for _, k := range names {
		fmt.Fprintf(&b, "|%s=%q", k, s.labels[k])
	}
	return b.String()
}

func unescapeHelp(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			return "", fmt.Errorf("HELP ends in a lone backslash")
		}
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		default:
			return "", fmt.Errorf("invalid escape \\%c in HELP", s[i])
		}
	}
	return b.String(), nil
}

// parseSampleLine parses `name{l="v",...} value`.
func parseSampleLine(line string) (parsedSample, error) {
	s := parsedSample{labels: map[string]string{}}
	i := 0
	for i < len(line) && line[i] != '{' && line[i] != ' ' {
		i++
	}
	s.name = line[:i]
	if !metricNameRE.MatchString(s.name) {
		return s, fmt.Errorf("invalid metric name %q", s.name)
	}
	if i < len(line) && line[i] == '{' {
		i++
		for {
			if i >= len(line) {
				return s, fmt.Errorf("unterminated label set")
			}
			if line[i] == '}' {
				if len(s.labels) == 0 {
					return s, fmt.Errorf("empty label set")
				}
				i++
				break
			}
			if len(s.labels) > 0 {
				if line[i] != ',' {
					return s, fmt.Errorf("expected ',' at byte %d", i)
				}
				i++
			}
			j := i
			for j < len(line) && line[j] != '=' {
				j++
			}
			name := line[i:j]
			if !labelNameRE.MatchString(name) || strings.HasPrefix(name, "__") {
				return s, fmt.Errorf("invalid label name %q", name)
			}
			if _, dup := s.labels[name]; dup {
				return s, fmt.Errorf("duplicate label %q", name)
			}
			if j+1 >= len(line) || line[j+1] != '"' {
				return s, fmt.Errorf("label %s: expected '=\"'", name)
			}
			var v strings.Builder
			k := j + 2
			for ; ; k++ {
				if k >= len(line) {
					return s, fmt.Errorf("label %s: unterminated value", name)
				}
				c := line[k]
				if c == '"' {
					break
				}
				if c == '\\' {
					k++
					if k >= len(line) {
						return s, fmt.Errorf("label %s: unterminated escape", name)
					}
					switch line[k] {
					case '\\':
						v.WriteByte('\\')
					case '"':
						v.WriteByte('"')
					case 'n':
						v.WriteByte('\n')
					default:
						return s, fmt.Errorf("label %s: invalid escape \\%c", name, line[k])
					}
					continue
				}
				v.WriteByte(c)
			}
			s.labels[name] = v.String()
			i = k + 1
		}
	}
	if i >= len(line) || line[i] != ' ' {
		return s, fmt.Errorf("expected a space before the value")
	}
	s.value = line[i+1:]
	if strings.Contains(s.value, " ") {
		return s, fmt.Errorf("timestamp or trailing data after the value: %q", s.value)
	}
	if !plainValueRE.MatchString(s.value) {
		return s, fmt.Errorf("value %q is not a plain decimal number", s.value)
	}
	return s, nil
}
