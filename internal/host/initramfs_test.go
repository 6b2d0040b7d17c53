package host

import (
	"slices"
	"strings"
	"testing"
)

func TestDracutArgs(t *testing.T) {
	tests := []struct {
		name    string
		cmdline string // arguments separated by NULs, as in /proc/PID/cmdline
		want    []string
		ok      bool
	}{
		{"postinst_hook_by_shebang", "/bin/bash\x00/usr/bin/dracut\x00-q\x00--force\x00/boot/initrd.img-7.3.4+deb13-cloud-amd64\x007.3.4+deb13-cloud-amd64\x00",
			[]string{"-q", "--force", "/boot/initrd.img-7.3.4+deb13-cloud-amd64", "7.3.4+deb13-cloud-amd64"}, true},
		{"run_directly", "dracut\x00--regenerate-all\x00", []string{"--regenerate-all"}, true},
		{"no_arguments", "/usr/bin/dracut\x00", []string{}, true},
		{"no_trailing_nul", "/usr/bin/dracut\x00-f", []string{"-f"}, true},
		{"update_initramfs", "/bin/sh\x00/usr/sbin/update-initramfs\x00-c\x00-k\x006.12.118+deb13-cloud-amd64\x00", nil, false},
		{"dracut_install_helper", "/usr/lib/dracut/dracut-install\x00--all\x00", nil, false},
		{"dracut_as_third_argument", "/usr/bin/vi\x00-R\x00dracut\x00", nil, false},
		{"kernel_thread", "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := dracutArgs([]byte(tt.cmdline))
			if ok != tt.ok || ok && !slices.Equal(got, tt.want) {
				t.Errorf("dracutArgs(%q) = %q, %t; want %q, %t", tt.cmdline, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestDracutWrites(t *testing.T) {
	const r = "7.3.4+deb13-cloud-amd64"
	tests := []struct {
		name string
		args string
		want bool
	}{
		{"hook_names_image_and_release", "-q --force /boot/initrd.img-" + r + " " + r, true},
		{"release_only", "--force --kver " + r, true},
		{"image_name_without_directory", "initrd.img-" + r, true},
		{"regenerate_all", "--regenerate-all -f", true},
		{"no_kernel_named", "-f", true},
		{"no_arguments", "", true},
		{"another_image", "--force /boot/initrd.img-6.12.118+deb13-cloud-amd64 6.12.118+deb13-cloud-amd64", false},
		{"another_release", "--force 6.12.118+deb13-cloud-amd64", false},
		{"longer_release_with_same_prefix", "--force /boot/initrd.img-" + r + "-dbg", false},
		{"options_with_dots_are_not_releases", "--conf /etc/dracut.conf --tmpdir /var/tmp", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := strings.Fields(tt.args)
			if got := dracutWrites(args, r); got != tt.want {
				t.Errorf("dracutWrites(%q, %s) = %t; want %t", args, r, got, tt.want)
			}
		})
	}
}

func FuzzDracutArgs(f *testing.F) {
	f.Add([]byte("/bin/bash\x00/usr/bin/dracut\x00-q\x00--force\x00/boot/initrd.img-7.3.4\x007.3.4\x00"), "7.3.4")
	f.Add([]byte("dracut\x00"), "6.1.0-50-cloud-amd64")
	f.Add([]byte("\x00\x00dracut"), "")
	f.Fuzz(func(t *testing.T, cmdline []byte, release string) {
		args, ok := dracutArgs(cmdline)
		if !ok {
			return
		}
		all := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
		if len(args) >= len(all) || !slices.Equal(all[len(all)-len(args):], args) {
			t.Fatalf("dracutArgs(%q) = %q; want the arguments after the program", cmdline, args)
		}
		// Naming the release, or its image, always counts as writing it.
		if release != "" && (!dracutWrites(append(slices.Clone(args), release), release) ||
			!dracutWrites(append(slices.Clone(args), "/boot/initrd.img-"+release), release)) {
			t.Fatalf("dracutWrites(%q + %q) = false; want true", args, release)
		}
	})
}
