package kernel

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSplitCmdline(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"only_space", " \t\n", nil},
		{"proc_cmdline", "BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-cloud-amd64 root=UUID=1234 ro console=ttyS0\n",
			[]string{"BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-cloud-amd64", "root=UUID=1234", "ro", "console=ttyS0"}},
		{"runs_of_white_space", "  a\t\tb \r\n c\v\fd  ", []string{"a", "b", "c", "d"}},
		{"quoted_value", `a="b c" d`, []string{`a="b c"`, "d"}},
		{"quoted_whole_argument", `"a=b c" d`, []string{`"a=b c"`, "d"}},
		{"quote_in_the_middle", `a=x"b c"y d`, []string{`a=x"b c"y`, "d"}},
		{"unterminated_quote", `a "b c  d`, []string{"a", `"b c  d`}},
		{"empty_quotes", `"" x`, []string{`""`, "x"}},
		{"nbsp_is_space", "a\xa0b", []string{"a", "b"}},
		{"utf8_kept", "α=β", []string{"α=β"}},
		{"init_args", "quiet -- single", []string{"quiet", "--", "single"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SplitCmdline(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("SplitCmdline(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseParam(t *testing.T) {
	tests := []struct {
		tok  string
		want param
	}{
		{"quiet", param{name: "quiet"}},
		{"root=UUID=1234", param{name: "root", value: "UUID=1234", hasValue: true}},
		{`a="b c"`, param{name: "a", value: "b c", hasValue: true}},
		{`"a=b c"`, param{name: "a", value: "b c", hasValue: true}},
		{`"a="b c""`, param{name: "a", value: `b c"`, hasValue: true}},
		{`a=x"b c"`, param{name: "a", value: `x"b c"`, hasValue: true}},
		{`"quiet"`, param{name: "quiet"}},
		{`a=`, param{name: "a", hasValue: true}},
		{`a=""`, param{name: "a", hasValue: true}},
		{`=x`, param{name: "=x"}},
		{`""`, param{}},
	}
	for _, tt := range tests {
		t.Run(tt.tok, func(t *testing.T) {
			if got := parseParam(tt.tok); got != tt.want {
				t.Errorf("parseParam(%q) = %+v; want %+v", tt.tok, got, tt.want)
			}
		})
	}
}

func TestEditCmdline(t *testing.T) {
	const debian = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-cloud-amd64 root=PARTUUID=5f8a-01 ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0\n"
	tests := []struct {
		name                      string
		current, remove, appendTo string
		want                      string
	}{
		{"drops_boot_image", debian, "", "",
			"root=PARTUUID=5f8a-01 ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0"},
		{"bare_name_removes_all_values", debian, "console", "",
			"root=PARTUUID=5f8a-01 ro earlyprintk=ttyS0,115200 consoleblank=0"},
		{"name_value_removes_exactly", debian, "console=tty0", "",
			"root=PARTUUID=5f8a-01 ro console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0"},
		{"name_value_needs_a_value", "quiet splash", "quiet=1", "", "quiet splash"},
		{"bare_name_removes_flag", "ro quiet splash", "quiet splash", "", "ro"},
		{"dash_equals_underscore", "a nvme_core.default_ps_max_latency_us=0 b", "nvme-core.default-ps-max-latency-us", "", "a b"},
		{"appends", debian, "", "panic=10 mitigations=off",
			"root=PARTUUID=5f8a-01 ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0 panic=10 mitigations=off"},
		{"append_does_not_pile_up", "ro quiet panic=10 x", "", "panic=10 quiet", "ro x panic=10 quiet"},
		{"append_keeps_other_values", "console=tty0 console=ttyS0", "", "console=ttyS0", "console=tty0 console=ttyS0"},
		{"remove_then_append", "ro console=tty0 console=ttyS0", "console", "console=hvc0", "ro console=hvc0"},
		{"append_ignores_boot_image_and_separator", "ro", "", "BOOT_IMAGE=/x -- quiet", "ro quiet"},
		{"init_args_kept_last", "ro quiet -- single quiet", "quiet", "panic=10", "ro panic=10 -- single quiet"},
		{"quoted_values", `ro dyndbg="file foo.c +p"  quiet`, "quiet", `acpi_osi="!Windows 2012"`, `ro dyndbg="file foo.c +p" acpi_osi="!Windows 2012"`},
		{"quoted_removal", `ro "dyndbg=file foo.c +p"`, `dyndbg="file foo.c +p"`, "", "ro"},
		{"unterminated_quote_closed", `ro opt="a b`, "", "quiet", `ro opt="a b" quiet`},
		{"empty", "", "", "", ""},
		{"only_boot_image", "BOOT_IMAGE=/vmlinuz\n", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EditCmdline(tt.current, tt.remove, tt.appendTo); got != tt.want {
				t.Errorf("EditCmdline(%q, %q, %q) = %q; want %q", tt.current, tt.remove, tt.appendTo, got, tt.want)
			}
		})
	}
}

func TestCheckCmdlineLength(t *testing.T) {
	tests := []struct {
		name    string
		cmdline string
		max     int
		wantErr string
	}{
		{"empty", "", 2047, ""},
		{"longest", strings.Repeat("x", 2016), 2047, ""},
		{"one_too_long", strings.Repeat("x", 2017), 2047, "kernel command line too long: 2017 bytes, limit 2016 (cmdline_size 2047 less 30 kept free by kexec and 1 for the NUL)"},
		{"old_kernel_limit", strings.Repeat("x", 256), 255, "kernel command line too long: 256 bytes, limit 224 (cmdline_size 255 less 30 kept free by kexec and 1 for the NUL)"},
		{"empty_fits_tiny_limit", "", 30, ""},
		{"nul_byte", "ro\x00quiet", 2047, "kernel command line has a NUL byte at offset 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCmdlineLength(tt.cmdline, tt.max)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("CheckCmdlineLength(%d bytes, %d) = %v; want nil", len(tt.cmdline), tt.max, err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("CheckCmdlineLength(%d bytes, %d) = %v; want %q", len(tt.cmdline), tt.max, err, tt.wantErr)
			}
			if strings.Contains(tt.wantErr, "too long") && !errors.Is(err, ErrCmdlineTooLong) {
				t.Errorf("CheckCmdlineLength(%d bytes, %d) = %v; want ErrCmdlineTooLong", len(tt.cmdline), tt.max, err)
			}
		})
	}
}

// kernelPart returns the tokens of a command line before its "--".
func kernelPart(cmdline string) []string {
	tokens := SplitCmdline(cmdline)
	for i, tok := range tokens {
		if parseParam(tok).isSeparator() {
			return tokens[:i]
		}
	}
	return tokens
}

func FuzzEditCmdline(f *testing.F) {
	f.Add("BOOT_IMAGE=/boot/vmlinuz-6.1.0-50-cloud-amd64 root=UUID=1234 ro console=tty0 console=ttyS0\n", "console", "console=hvc0 quiet")
	f.Add(`ro dyndbg="file foo.c +p" -- single`, `dyndbg`, `acpi_osi="!Windows 2012"`)
	f.Add(`a "b c`, `"b`, `x "y`)
	f.Add("quiet\xa0splash  quiet=1", "quiet=1", "BOOT-IMAGE=x -- =y")
	f.Fuzz(func(t *testing.T, current, remove, appendArgs string) {
		got := EditCmdline(current, remove, appendArgs)
		if rejoined := strings.Join(SplitCmdline(got), " "); rejoined != got {
			t.Fatalf("EditCmdline(%q, %q, %q) = %q; not single-spaced tokens (%q)", current, remove, appendArgs, got, rejoined)
		}
		kernel := kernelPart(got)
		for _, tok := range kernel {
			if sameName(parseParam(tok).name, bootImageParam) {
				t.Fatalf("EditCmdline(%q, %q, %q) = %q; keeps %q", current, remove, appendArgs, got, tok)
			}
		}
		var appended []string
		for _, tok := range splitClosed(appendArgs) {
			if p := parseParam(tok); !p.isSeparator() && !sameName(p.name, bootImageParam) {
				appended = append(appended, tok)
			}
		}
		if len(kernel) < len(appended) || !slices.Equal(kernel[len(kernel)-len(appended):], appended) {
			t.Fatalf("EditCmdline(%q, %q, %q) = %q; want it to end its kernel parameters with %q", current, remove, appendArgs, got, appended)
		}
		var removeParams []param
		for _, tok := range splitClosed(remove) {
			removeParams = append(removeParams, parseParam(tok))
		}
		for _, tok := range kernel[:len(kernel)-len(appended)] {
			if matchesAny(removeParams, parseParam(tok), true) {
				t.Fatalf("EditCmdline(%q, %q, %q) = %q; keeps %q", current, remove, appendArgs, got, tok)
			}
		}
		if again := EditCmdline(got, remove, appendArgs); again != got {
			t.Fatalf("EditCmdline applied twice = %q; once = %q", again, got)
		}
		removed := EditCmdline(current, remove, "")
		if again := EditCmdline(removed, remove, ""); again != removed {
			t.Fatalf("EditCmdline(%q, %q, \"\") applied twice = %q; once = %q", current, remove, again, removed)
		}
	})
}
