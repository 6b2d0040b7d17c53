package host

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The two initramfs generators write /boot/initrd.img-R differently (read
// in initramfs-tools 0.148.4 and dracut 106, Debian 13):
//
//   - update-initramfs (initramfs-tools) has mkinitramfs write
//     /boot/initrd.img-R.new, renames it over initrd.img-R and syncs it:
//     while ".new" exists the initrd is being written, and initrd.img-R
//     itself is always a complete file.
//   - dracut builds the image in $TMPDIR/dracut.XXXXXX (TMPDIR defaults to
//     /var/tmp, which a PrivateTmp= unit cannot see) and then copies it
//     over /boot/initrd.img-R in place with `cp --reflink=auto`: nothing
//     in /boot shows the copy, and the file is incomplete until cp ends.
//     The only sign is the running dracut process, whose command line
//     names the image or the release (the kernel's postinst.d hook runs
//     `dracut -q --force /boot/initrd.img-R R`).

// dracutProc is a running dracut and its arguments, without the program
// (and the shell running it).
type dracutProc struct {
	pid  int
	args []string
}

// readDracutProcs lists the dracut processes under root's /proc. Processes
// that end while being read, and /proc entries that cannot be read, are
// skipped: this is a best-effort look for a writer, and the .new file and
// dpkg's lock cover the package manager's own runs.
func readDracutProcs(root string) []dracutProc {
	entries, err := os.ReadDir(filepath.Join(root, "proc"))
	if err != nil {
		return nil
	}
	var procs []dracutProc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, "proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if args, ok := dracutArgs(data); ok {
			procs = append(procs, dracutProc{pid: pid, args: args})
		}
	}
	return procs
}

// dracutArgs reads a /proc/PID/cmdline (NUL-separated arguments) and
// returns dracut's own arguments when the process is dracut: run directly
// (argv[0] is .../dracut) or by a shell (argv[1] is .../dracut).
func dracutArgs(cmdline []byte) ([]string, bool) {
	args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	for i := 0; i < len(args) && i < 2; i++ {
		if filepath.Base(args[i]) == "dracut" {
			return args[i+1:], true
		}
	}
	return nil, false
}

// dracutWrites reports whether a dracut run with these arguments may be
// writing release's initrd: it names the release or an initrd.img-<release>,
// regenerates all initrds, or names no kernel at all (then it builds one for
// the running kernel, and which one that is does not matter here: waiting
// is safe).
func dracutWrites(args []string, release string) bool {
	named := false
	for _, a := range args {
		switch {
		case a == "--regenerate-all":
			return true
		case a == release || a == "initrd.img-"+release || strings.HasSuffix(a, "/initrd.img-"+release):
			return true
		case strings.Contains(a, "initrd.img-") || looksLikeRelease(a):
			named = true
		}
	}
	return !named
}

// looksLikeRelease reports an argument shaped like a kernel release:
// "MAJOR.MINOR…".
func looksLikeRelease(s string) bool {
	_, rest, ok := leadingDigits(s)
	if !ok || !strings.HasPrefix(rest, ".") {
		return false
	}
	_, _, ok = leadingDigits(rest[1:])
	return ok
}

// leadingDigits splits s after its leading digits; ok is false without any.
func leadingDigits(s string) (digits, rest string, ok bool) {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:], i > 0
}

// initrdWriter names what is writing release's initrd, given whether
// initrd.img-<release>.new exists and the dracut processes running.
func initrdWriter(release string, hasNew bool, procs []dracutProc) (string, bool) {
	if hasNew {
		return fmt.Sprintf("/boot/initrd.img-%s.new exists: update-initramfs is still writing the initrd", release), true
	}
	for _, p := range procs {
		if dracutWrites(p.args, release) {
			return fmt.Sprintf("dracut (pid %d) is running and may be writing /boot/initrd.img-%s", p.pid, release), true
		}
	}
	return "", false
}

// InitrdWriter reports whether an initramfs generator is writing release's
// initrd right now, and says which: /boot/initrd.img-<release>.new exists
// (update-initramfs), or a dracut process runs for that release. A caller
// asks again right after loading the files, since either may start at any
// time.
func InitrdWriter(root, release string) (who string, busy bool) {
	return initrdWriter(release, Exists(root, "/boot/initrd.img-"+release+".new"), readDracutProcs(root))
}
