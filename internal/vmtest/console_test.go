//go:build vm

package vmtest

import (
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestConsoleLines checks that the serial stream is split into clean lines whatever the
// chunking, and that the raw bytes reach the log file.
func TestConsoleLines(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   []string
	}{
		{name: "crlf_lines", chunks: []string{"a\r\nb\r\n"}, want: []string{"a", "b"}},
		{name: "line_split_across_chunks", chunks: []string{"KU-BOO", "TED 6.1 x\r", "\n"}, want: []string{"KU-BOOTED 6.1 x"}},
		{name: "colour_codes_removed", chunks: []string{"[\x1b[0;32m  OK  \x1b[0m] Started\n"}, want: []string{"[  OK  ] Started"}},
		{name: "unterminated_last_line_kept", chunks: []string{"a\nb"}, want: []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logPath := filepath.Join(t.TempDir(), "serial.log")
			logFile, err := os.Create(logPath)
			if err != nil {
				t.Fatal(err)
			}
			r, w := io.Pipe()
			c := newConsole(r, logFile)
			for _, chunk := range tt.chunks {
				if _, err := w.Write([]byte(chunk)); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			<-c.closed
			if got := c.since(0); strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("lines of %q = %q; want %q", tt.chunks, got, tt.want)
			}
			raw, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			if string(raw) != strings.Join(tt.chunks, "") {
				t.Errorf("serial.log = %q; want the raw stream %q", raw, strings.Join(tt.chunks, ""))
			}
		})
	}
}

// TestConsoleWait checks that wait sees only lines from its mark on, wakes up for lines
// that arrive later, and reports a timeout and the end of the stream.
func TestConsoleWait(t *testing.T) {
	logFile, err := os.Create(filepath.Join(t.TempDir(), "serial.log"))
	if err != nil {
		t.Fatal(err)
	}
	r, w := io.Pipe()
	c := newConsole(r, logFile)
	write := func(s string) {
		t.Helper()
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	re := regexp.MustCompile(`^KU-BOOTED (\S+)`)
	write("KU-BOOTED old\n")
	// The reader adds a line just after the write returns: wait until it is there.
	if _, _, res := c.wait(0, re, time.Now().Add(10*time.Second)); res != waitMatched {
		t.Fatalf("wait(0) for the first line = %v; want matched", res)
	}
	mark := c.mark()
	if _, _, res := c.wait(mark, re, time.Now().Add(50*time.Millisecond)); res != waitTimeout {
		t.Errorf("wait(mark %d) before a new line = %v; want timeout", mark, res)
	}
	written := make(chan error)
	go func() {
		_, err := w.Write([]byte("noise\nKU-BOOTED new\n"))
		written <- err
	}()
	idx, line, res := c.wait(mark, re, time.Now().Add(10*time.Second))
	if res != waitMatched || line != "KU-BOOTED new" || idx != mark+1 {
		t.Errorf("wait(mark %d) = %d, %q, %v; want %d, %q, matched", mark, idx, line, res, mark+1, "KU-BOOTED new")
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, _, res := c.wait(c.mark(), re, time.Now().Add(10*time.Second)); res != waitClosed {
		t.Errorf("wait after the stream ended = %v; want closed", res)
	}
}

func TestParseGuest(t *testing.T) {
	tests := []struct {
		name, in string
		want     Guest
		wantErr  bool
	}{
		{name: "suite_alone", in: "bookworm", want: Bookworm},
		{name: "main_spelled_out", in: "trixie+main", want: Trixie},
		{name: "backports", in: "trixie+backports", want: TrixieBackports},
		{name: "grub", in: "trixie/grub", want: TrixieGRUB},
		{name: "uefi", in: "trixie/uefi", want: TrixieSecureBoot},
		{name: "unknown_boot", in: "trixie/pxe", wantErr: true},
		{name: "unknown_source", in: "trixie+sid", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "not_a_code_name", in: "Debian 13", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseGuest(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("ParseGuest(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
			}
			if err == nil {
				if back, _ := ParseGuest(got.String()); back != got {
					t.Errorf("ParseGuest(%q.String() = %q) = %v; want it back", got, got.String(), back)
				}
			}
		})
	}
}
