package kernel

import (
	"errors"
	"fmt"
	"strings"
)

// ErrCmdlineTooLong is returned by CheckCmdlineLength, wrapped with the
// lengths involved.
var ErrCmdlineTooLong = errors.New("kernel command line too long")

// cmdlineReserve is what x86 kexec_file_load keeps free in cmdline_size
// for an "elfcorehdr=0x<address> " it may append (MAX_ELFCOREHDR_STR_LEN,
// arch/x86/kernel/kexec-bzimage64.c); it checks this for every load.
const cmdlineReserve = 30

// bootImageParam is the parameter GRUB adds to name the image it booted;
// it would be wrong for the next kernel.
const bootImageParam = "BOOT_IMAGE"

// AttemptParam is the parameter kexec-upgrade appends to the command line
// it loads, with the switch attempt's id as its value: after the boot,
// /proc/cmdline carrying it proves the kernel came up through that kexec
// (a firmware reboot boots GRUB's line, which has none). The kernel treats
// a name with a dot as a module parameter: it is ignored by the kernel and
// never reaches init's arguments or environment.
const AttemptParam = "kexec_upgrade.attempt"

// ErrBadAttemptID: an attempt id that cannot be a command line value.
var ErrBadAttemptID = errors.New("attempt id unusable on a kernel command line")

// SplitCmdline splits a kernel command line into its arguments the way the
// kernel's next_arg() finds them: arguments are separated by white space
// (the kernel's isspace: space, \t, \n, \v, \f, \r and 0xA0) outside double
// quotes, and a double quote anywhere toggles quoting, so `a="b c"` and
// `"a=b c"` are single arguments. The quotes stay in the returned tokens;
// an unterminated quote runs to the end of the line.
func SplitCmdline(s string) []string {
	var tokens []string
	i := 0
	for {
		for i < len(s) && isCmdlineSpace(s[i]) {
			i++
		}
		if i == len(s) {
			return tokens
		}
		start, quoted := i, false
		for ; i < len(s); i++ {
			if s[i] == '"' {
				quoted = !quoted
			} else if !quoted && isCmdlineSpace(s[i]) {
				break
			}
		}
		tokens = append(tokens, s[start:i])
	}
}

func isCmdlineSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0xA0:
		return true
	}
	return false
}

// param is an argument as the kernel's parse_args() sees it: its name and
// value with the quotes next_arg() strips.
type param struct {
	name     string
	value    string
	hasValue bool
}

// parseParam splits a token from SplitCmdline as next_arg() does: the name
// runs to the first '=' (one at the very start does not count); a quote
// that opens the token or the value is dropped together with a quote that
// ends the token.
func parseParam(tok string) param {
	s, quoted := tok, false
	if strings.HasPrefix(s, `"`) {
		s, quoted = s[1:], true
	}
	trailingQuote := strings.HasSuffix(s, `"`)
	if eq := strings.IndexByte(s, '='); eq > 0 {
		p := param{name: s[:eq], value: s[eq+1:], hasValue: true}
		switch {
		case strings.HasPrefix(p.value, `"`):
			p.value = p.value[1:]
			p.value = strings.TrimSuffix(p.value, `"`)
		case quoted && trailingQuote:
			p.value = p.value[:len(p.value)-1]
		}
		return p
	}
	if quoted && trailingQuote {
		s = s[:len(s)-1]
	}
	return param{name: s}
}

// sameName compares parameter names as the kernel's parameq() does: a dash
// and an underscore are the same.
func sameName(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca == '-' {
			ca = '_'
		}
		if cb == '-' {
			cb = '_'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// matches reports whether p is the parameter pattern m names: a bare name
// in a pattern matches the parameter with or without a value when loose is
// set, and only without one otherwise; "name=value" matches exactly.
func (m param) matches(p param, loose bool) bool {
	if !sameName(m.name, p.name) {
		return false
	}
	if !m.hasValue {
		return loose || !p.hasValue
	}
	return p.hasValue && m.value == p.value
}

// isSeparator reports the "--" after which the kernel passes the arguments
// to init instead of parsing them.
func (p param) isSeparator() bool {
	return p.name == "--" && !p.hasValue
}

// EditCmdline derives the command line for the next kernel from the current
// one (as read from /proc/cmdline). It drops BOOT_IMAGE= and any
// kexec_upgrade.attempt= (AttemptParam: the marker of the switch that
// booted this kernel; WithAttempt adds the next one), drops every
// parameter that matches a token of remove (a bare name matches "name" and
// every "name=..."; "name=value" matches exactly; names compare as the
// kernel does, "-" equal to "_"), then appends the tokens of appendArgs,
// first dropping the same parameters from the current line so that
// repeated upgrades do not pile up copies. Editing applies to kernel
// parameters only: arguments after "--" belong to init, stay as they are
// and stay last; a "--", BOOT_IMAGE= or kexec_upgrade.attempt= in
// appendArgs is ignored. Tokens are
// joined with single spaces; an unterminated quote is closed so that it
// cannot swallow what follows it.
func EditCmdline(current, remove, appendArgs string) string {
	var removeParams, appendParams []param
	for _, tok := range splitClosed(remove) {
		removeParams = append(removeParams, parseParam(tok))
	}
	var appended []string
	for _, tok := range splitClosed(appendArgs) {
		p := parseParam(tok)
		if p.isSeparator() || isDropped(p) {
			continue
		}
		appendParams = append(appendParams, p)
		appended = append(appended, tok)
	}

	tokens := splitClosed(current)
	var out, initArgs []string
	for i, tok := range tokens {
		p := parseParam(tok)
		if p.isSeparator() {
			initArgs = tokens[i:]
			break
		}
		if isDropped(p) || matchesAny(removeParams, p, true) || matchesAny(appendParams, p, false) {
			continue
		}
		out = append(out, tok)
	}
	out = append(out, appended...)
	out = append(out, initArgs...)
	return strings.Join(out, " ")
}

// isDropped reports the parameters EditCmdline never carries over:
// BOOT_IMAGE= and the attempt marker.
func isDropped(p param) bool {
	return sameName(p.name, bootImageParam) || sameName(p.name, AttemptParam)
}

// WithAttempt returns cmdline with any kexec_upgrade.attempt= dropped and
// "kexec_upgrade.attempt=<id>" appended as the last kernel parameter
// (before a "--" and init's arguments), so markers never pile up. The id
// must be printable ASCII without spaces or quotes (ErrBadAttemptID).
func WithAttempt(cmdline, id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("%w: empty", ErrBadAttemptID)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7F || c == '"' {
			return "", fmt.Errorf("%w: %q has byte 0x%02X at %d", ErrBadAttemptID, id, c, i)
		}
	}
	tokens := splitClosed(cmdline)
	var out, initArgs []string
	for i, tok := range tokens {
		p := parseParam(tok)
		if p.isSeparator() {
			initArgs = tokens[i:]
			break
		}
		if !sameName(p.name, AttemptParam) {
			out = append(out, tok)
		}
	}
	out = append(out, AttemptParam+"="+id)
	return strings.Join(append(out, initArgs...), " "), nil
}

// AttemptOf returns the attempt id a command line (/proc/cmdline) carries:
// the value of its last kexec_upgrade.attempt= among the kernel parameters
// (the one a module parameter would take), and whether it has one.
func AttemptOf(cmdline string) (string, bool) {
	id, found := "", false
	for _, tok := range SplitCmdline(cmdline) {
		p := parseParam(tok)
		if p.isSeparator() {
			break
		}
		if sameName(p.name, AttemptParam) && p.hasValue {
			id, found = p.value, true
		}
	}
	return id, found
}

// splitClosed is SplitCmdline with an unterminated quote closed: the
// tokens as EditCmdline writes them.
func splitClosed(s string) []string {
	tokens := SplitCmdline(s)
	if n := len(tokens); n > 0 && strings.Count(tokens[n-1], `"`)%2 == 1 {
		tokens[n-1] += `"`
	}
	return tokens
}

func matchesAny(patterns []param, p param, loose bool) bool {
	for _, m := range patterns {
		if m.matches(p, loose) {
			return true
		}
	}
	return false
}

// CheckCmdlineFor checks a command line against the limit of arch's
// kexec_file_load and kernel, given the image's CmdlineMax (Image.CmdlineMax):
// on amd64 as CheckCmdlineLength does; on arm64 the line and its NUL must
// fit COMMAND_LINE_SIZE, cmdlineMax+1 bytes: arm64's kexec_file_load puts
// any length into the device tree's bootargs, and the new kernel silently
// cuts what does not fit, the attempt marker at the end first.
func CheckCmdlineFor(arch Arch, cmdline string, cmdlineMax int) error {
	switch arch {
	case ArchAMD64:
		return CheckCmdlineLength(cmdline, cmdlineMax)
	case ArchARM64:
		if err := checkNUL(cmdline); err != nil {
			return err
		}
		if len(cmdline) > cmdlineMax {
			return fmt.Errorf("%w: %d bytes, limit %d (COMMAND_LINE_SIZE %d less 1 for the NUL; arm64 kernels cut a longer line)",
				ErrCmdlineTooLong, len(cmdline), cmdlineMax, cmdlineMax+1)
		}
		return nil
	}
	return fmt.Errorf("%w: %q", ErrUnsupportedArch, arch)
}

func checkNUL(cmdline string) error {
	if i := strings.IndexByte(cmdline, 0); i >= 0 {
		return fmt.Errorf("kernel command line has a NUL byte at offset %d", i)
	}
	return nil
}

// CheckCmdlineLength checks a command line against the limit x86
// kexec_file_load enforces: the line and its terminating NUL must leave 30
// bytes free in cmdlineMax (cmdline_size from the image header), so the
// longest accepted line is cmdlineMax-31 bytes. An empty line is passed
// without a NUL. It also rejects NUL bytes, which would cut the line short.
func CheckCmdlineLength(cmdline string, cmdlineMax int) error {
	if err := checkNUL(cmdline); err != nil {
		return err
	}
	n := len(cmdline)
	if n > 0 {
		n++
	}
	if n+cmdlineReserve > cmdlineMax {
		return fmt.Errorf("%w: %d bytes, limit %d (cmdline_size %d less %d kept free by kexec and 1 for the NUL)",
			ErrCmdlineTooLong, len(cmdline), cmdlineMax-cmdlineReserve-1, cmdlineMax, cmdlineReserve)
	}
	return nil
}
