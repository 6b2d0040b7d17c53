package fleetlock

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMachineID(t *testing.T) {
	// The expected values were produced by systemd 252's
	//	systemd-id128 -a c5bc11f7afd34c6b8958cea542576959 machine-id
	// with the given content bind-mounted over /etc/machine-id.
	tests := []struct {
		name    string
		content string
		want    string
		wantErr string
	}{
		{name: "with newline", content: "0123456789abcdef0123456789abcdef\n", want: "a77107c4d4614647bcb6ef8d589debdc"},
		{name: "without newline", content: "0123456789abcdef0123456789abcdef", want: "a77107c4d4614647bcb6ef8d589debdc"},
		{name: "uppercase", content: "0123456789ABCDEF0123456789ABCDEF\n", want: "a77107c4d4614647bcb6ef8d589debdc"},
		{name: "other id", content: "4a2b7c9de1f0465c8a3b2c1d0e9f8a7b\n", want: "c043043a19cd4515ab783f7032d150bf"},
		{name: "all ones", content: "ffffffffffffffffffffffffffffffff\n", want: "25b582233b134351914903fe431ac5f1"},
		{name: "one", content: "00000000000000000000000000000001\n", want: "96a16acc039845f3ad5c50bded5c54f6"},
		{name: "empty", content: "", wantErr: "got 0 bytes"},
		{name: "newline only", content: "\n", wantErr: "got 1 bytes"},
		{name: "uninitialized", content: "uninitialized\n", wantErr: "first boot"},
		{name: "all zeros", content: "00000000000000000000000000000000\n", wantErr: "all zeros"},
		{name: "two newlines", content: "0123456789abcdef0123456789abcdef\n\n", wantErr: "got 34 bytes"},
		{name: "CRLF", content: "0123456789abcdef0123456789abcdef\r\n", wantErr: "got 34 bytes"},
		{name: "leading space", content: " 0123456789abcdef0123456789abcdef\n", wantErr: "got 34 bytes"},
		{name: "short", content: "0123456789abcdef\n", wantErr: "got 17 bytes"},
		{name: "uuid format", content: "01234567-89ab-cdef-0123-456789abcdef\n", wantErr: "got 37 bytes"},
		{name: "not hex", content: "0123456789abcdef0123456789abcdeg\n", wantErr: "invalid byte"},
		{name: "NUL", content: "0123456789abcdef0123456789abcde\x00\n", wantErr: "invalid byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MachineID([]byte(tt.content))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidMachineID) {
					t.Fatalf("MachineID(%q) = %q, %v; want ErrInvalidMachineID containing %q", tt.content, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("MachineID(%q) = %q, %v; want %q", tt.content, got, err, tt.want)
			}
			if err := ValidateID(got); err != nil {
				t.Errorf("derived id is not a valid client id: %v", err)
			}
		})
	}
}

// TestMachineIDMatchesSystemd compares with systemd-id128 on this host's own
// machine id, when both are available.
func TestMachineIDMatchesSystemd(t *testing.T) {
	content, err := os.ReadFile(MachineIDPath)
	if err != nil {
		t.Skipf("no machine id: %v", err)
	}
	if _, err := exec.LookPath("systemd-id128"); err != nil {
		t.Skip("systemd-id128 not installed")
	}
	// The tool only reads /etc/machine-id, but a hung tool must fail the
	// test rather than hang it: it is killed after hangLimit, and its output
	// is given up on WaitDelay later (a child could keep the pipe open).
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "systemd-id128", "--app-specific="+AppID, "machine-id")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil && ctx.Err() != nil {
		t.Fatalf("systemd-id128 did not finish within %v: %v (output %q)", hangLimit, err, out)
	}
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Skipf("systemd-id128: %v %s", err, strings.TrimSpace(string(stderr)))
	}
	got, err := MachineID(content)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(out)); got != want {
		t.Errorf("MachineID = %q, systemd-id128 says %q", got, want)
	}
	if strings.Contains(string(content), got) {
		t.Error("derived id contains the raw machine id")
	}
}
