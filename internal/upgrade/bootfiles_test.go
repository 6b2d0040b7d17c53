package upgrade_test

import (
	"context"
	"crypto/md5"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kexec-upgrade/kexec-upgrade/internal/plan"
)

// TestRunBootFileChecks: image and initrd must be regular files of a sane
// size, the initrd an initramfs Linux can unpack; anything else is refused
// with the file named, before anything is loaded.
func TestRunBootFileChecks(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *rig)
		check string
		want  string
	}{
		{
			name:  "initrd_not_an_initramfs",
			setup: func(r *rig) { r.write(newInitrd[1:], "<html>404 Not Found</html>") },
			check: plan.CheckInitrd, want: "not an initramfs",
		},
		{
			name:  "initrd_empty",
			setup: func(r *rig) { r.write(newInitrd[1:], "") },
			check: plan.CheckInitrd, want: "empty",
		},
		{
			name: "initrd_fifo",
			setup: func(r *rig) {
				r.remove(newInitrd[1:])
				if err := unix.Mkfifo(filepath.Join(r.root, newInitrd), 0o644); err != nil {
					r.t.Fatal(err)
				}
			},
			check: plan.CheckInitrd, want: "not a regular file",
		},
		{
			name: "initrd_symlink",
			setup: func(r *rig) {
				r.remove(newInitrd[1:])
				if err := os.Symlink("initrd.img-"+oldRelease, filepath.Join(r.root, newInitrd)); err != nil {
					r.t.Fatal(err)
				}
			},
			check: plan.CheckInitrd, want: "symbolic link",
		},
		{
			name: "initrd_huge",
			setup: func(r *rig) {
				// A sparse file: costs no disk.
				if err := os.Truncate(filepath.Join(r.root, newInitrd), 3<<30); err != nil {
					r.t.Fatal(err)
				}
			},
			check: plan.CheckInitrd, want: "more than",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			tc.setup(r)
			out, calls, err := r.run(context.Background(), false)
			if err != nil {
				t.Fatalf("Run() error = %v", err)
			}
			d := out.Report.Decision
			if d.Action != plan.Refuse || d.Check != tc.check || !strings.Contains(d.Reason, tc.want) || !strings.Contains(d.Reason, newInitrd) {
				t.Errorf("decision = %s %s %q; want refused by %s, naming %s and %q", d.Action, d.Check, d.Reason, tc.check, newInitrd, tc.want)
			}
			if hasCall(calls, "load /") || hasCall(calls, "permitted?") {
				t.Errorf("calls %q; want nothing loaded or probed", calls)
			}
		})
	}
}

// TestRunImageMD5: the image's MD5 must be the one dpkg recorded; a
// modified image is refused naming the package, a matching one switches
// and status lists the checks it passed.
func TestRunImageMD5(t *testing.T) {
	for _, tc := range []struct {
		name  string
		md5   func(image []byte) string
		match bool
	}{
		{"matches", func(image []byte) string { return fmt.Sprintf("%x", md5.Sum(image)) }, true},
		{"differs", func([]byte) string { return "0123456789abcdef0123456789abcdef" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			image := r.read(newImage[1:])
			r.write("var/lib/dpkg/info/linux-image-"+newRelease+".md5sums", tc.md5(image)+"  boot/vmlinuz-"+newRelease+"\n")
			out, calls, err := r.run(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			d := out.Report.Decision
			if tc.match {
				if !out.Switching || !strings.Contains(out.Report.Inputs.Target.Integrity, "md5 (linux-image-"+newRelease+")") {
					t.Errorf("Run() = %s %q, integrity %q; want a switch with the md5 check passed", d.Action, d.Reason, out.Report.Inputs.Target.Integrity)
				}
				return
			}
			if d.Action != plan.Refuse || d.Check != plan.CheckImage || !strings.Contains(d.Reason, "differs from what dpkg installed") || hasCall(calls, "load /") {
				t.Errorf("Run() = %s %s %q, calls %q; want refused by image naming the package's MD5", d.Action, d.Check, d.Reason, calls)
			}
		})
	}
}
