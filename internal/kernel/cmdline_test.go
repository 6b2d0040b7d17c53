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
		{"drops_the_attempt_marker", "ro quiet kexec_upgrade.attempt=20260328T023000.000000000Z-6.1.0-51-cloud-amd64", "", "", "ro quiet"},
		{"drops_every_attempt_marker_spelling", "kexec-upgrade.attempt=a ro kexec_upgrade.attempt kexec_upgrade.attempt=b -- kexec_upgrade.attempt=init", "", "",
			"ro -- kexec_upgrade.attempt=init"},
		{"append_ignores_an_attempt_marker", "ro", "", "kexec_upgrade.attempt=forged quiet", "ro quiet"},
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
			if p := parseParam(tok); !p.isSeparator() && !isDropped(p) {
				appended = append(appended, tok)
			}
		}
		for _, tok := range kernel {
			if sameName(parseParam(tok).name, AttemptParam) {
				t.Fatalf("EditCmdline(%q, %q, %q) = %q; keeps the attempt marker %q", current, remove, appendArgs, got, tok)
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

func TestWithAttempt(t *testing.T) {
	const id = "20260328T023000.000000000Z-6.12.118+deb13-cloud-arm64"
	tests := []struct {
		name    string
		cmdline string
		id      string
		want    string
		wantErr bool
	}{
		{"appends", "root=/dev/vda1 ro console=ttyAMA0", id, "root=/dev/vda1 ro console=ttyAMA0 kexec_upgrade.attempt=" + id, false},
		{"replaces_the_old_marker", "ro kexec_upgrade.attempt=old quiet", id, "ro quiet kexec_upgrade.attempt=" + id, false},
		{"replaces_every_old_marker", "kexec-upgrade.attempt=a ro kexec_upgrade.attempt=b", "c", "ro kexec_upgrade.attempt=c", false},
		{"before_init_args", "ro -- single kexec_upgrade.attempt=init", "x", "ro kexec_upgrade.attempt=x -- single kexec_upgrade.attempt=init", false},
		{"empty_line", "", "x", "kexec_upgrade.attempt=x", false},
		{"empty_id", "ro", "", "", true},
		{"space_in_id", "ro", "a b", "", true},
		{"quote_in_id", "ro", `a"b`, "", true},
		{"non_ascii_id", "ro", "a\xa0b", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WithAttempt(tt.cmdline, tt.id)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("WithAttempt(%q, %q) = %q, %v; want %q, error %t", tt.cmdline, tt.id, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadAttemptID) {
				t.Errorf("WithAttempt(%q, %q) error = %v; want ErrBadAttemptID", tt.cmdline, tt.id, err)
			}
		})
	}
}

func TestAttemptOf(t *testing.T) {
	tests := []struct {
		name    string
		cmdline string
		want    string
		found   bool
	}{
		{"marker", "BOOT_IMAGE=/vmlinuz ro kexec_upgrade.attempt=20260328T023000Z-6.1.0-51 quiet", "20260328T023000Z-6.1.0-51", true},
		{"none_grub_line", "BOOT_IMAGE=/boot/vmlinuz-6.1.0-51-cloud-amd64 root=/dev/vda1 ro", "", false},
		{"last_wins", "kexec_upgrade.attempt=a kexec-upgrade.attempt=b", "b", true},
		{"quoted_value", `kexec_upgrade.attempt="a"`, "a", true},
		{"bare_name_is_not_a_marker", "ro kexec_upgrade.attempt", "", false},
		{"init_args_do_not_count", "ro -- kexec_upgrade.attempt=a", "", false},
		{"other_parameter", "kexec_upgrade.attempts=a", "", false},
		{"with_newline_from_proc", "ro kexec_upgrade.attempt=a\n", "a", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found := AttemptOf(tt.cmdline)
			if got != tt.want || found != tt.found {
				t.Errorf("AttemptOf(%q) = %q, %t; want %q, %t", tt.cmdline, got, found, tt.want, tt.found)
			}
		})
	}
}

func FuzzWithAttempt(f *testing.F) {
	f.Add("BOOT_IMAGE=/vmlinuz ro kexec_upgrade.attempt=old -- single", "20260328T023000.000000000Z-6.1.0-51-cloud-amd64")
	f.Add(`a "b kexec_upgrade.attempt=c`, "x")
	f.Add("kexec-upgrade.attempt", "a=b")
	f.Fuzz(func(t *testing.T, cmdline, id string) {
		got, err := WithAttempt(cmdline, id)
		if err != nil {
			if !errors.Is(err, ErrBadAttemptID) {
				t.Fatalf("WithAttempt(%q, %q) error = %v; want ErrBadAttemptID", cmdline, id, err)
			}
			return
		}
		if back, ok := AttemptOf(got); !ok || back != id {
			t.Fatalf("AttemptOf(WithAttempt(%q, %q) = %q) = %q, %t; want the id back", cmdline, id, got, back, ok)
		}
		markers := 0
		for _, tok := range kernelPart(got) {
			if sameName(parseParam(tok).name, AttemptParam) {
				markers++
			}
		}
		if markers != 1 {
			t.Fatalf("WithAttempt(%q, %q) = %q; has %d markers among the kernel parameters, want 1", cmdline, id, got, markers)
		}
		if again, err := WithAttempt(got, "next"); err != nil || again != mustWithAttempt(t, cmdline, "next") {
			t.Fatalf("WithAttempt(WithAttempt(%q, %q), next) = %q, %v; want what WithAttempt(%q, next) gives", cmdline, id, again, err, cmdline)
		}
		if _, ok := AttemptOf(EditCmdline(got, "", "")); ok {
			t.Fatalf("EditCmdline(%q) keeps an attempt marker", got)
		}
	})
}

func mustWithAttempt(t *testing.T, cmdline, id string) string {
	t.Helper()
	s, err := WithAttempt(cmdline, id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckCmdlineFor(t *testing.T) {
	tests := []struct {
		name    string
		arch    Arch
		length  int
		max     int
		wantErr string
	}{
		{"amd64_longest", ArchAMD64, 2016, 2047, ""},
		{"amd64_one_too_long", ArchAMD64, 2017, 2047, "kernel command line too long: 2017 bytes, limit 2016 (cmdline_size 2047 less 30 kept free by kexec and 1 for the NUL)"},
		{"arm64_longest", ArchARM64, 2047, 2047, ""},
		{"arm64_one_too_long", ArchARM64, 2048, 2047, "kernel command line too long: 2048 bytes, limit 2047 (COMMAND_LINE_SIZE 2048 less 1 for the NUL; arm64 kernels cut a longer line)"},
		{"arm64_empty", ArchARM64, 0, 2047, ""},
		{"unknown_arch", Arch("riscv64"), 10, 2047, `no kernel image format for this architecture: "riscv64"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckCmdlineFor(tt.arch, strings.Repeat("x", tt.length), tt.max)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("CheckCmdlineFor(%s, %d bytes, %d) = %v; want nil", tt.arch, tt.length, tt.max, err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("CheckCmdlineFor(%s, %d bytes, %d) = %v; want %q", tt.arch, tt.length, tt.max, err, tt.wantErr)
			}
		})
	}
	if err := CheckCmdlineFor(ArchARM64, "ro\x00quiet", 2047); err == nil || !strings.Contains(err.Error(), "NUL byte at offset 2") {
		t.Errorf("CheckCmdlineFor(arm64, a line with a NUL) = %v; want the NUL named", err)
	}
}
