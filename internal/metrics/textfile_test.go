package metrics

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// otherUID owns the files of another user in the ownership cases (nobody).
const otherUID = 65534

// needRoot skips a test that must chown files to another user, unless it runs
// in CI (CI=true), where the tests run as root and a skip would hide a case:
// there it fails instead.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this ownership case needs root, and CI runs the tests as root")
	}
	t.Skip("needs root to give files to another user")
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// mkdir makes dir with exactly mode perm, whatever the umask.
func mkdir(t *testing.T, dir string, perm os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
}

// textfileDir makes base/prometheus/node-exporter, both 0755, as Debian's
// prometheus-node-exporter ships them, and returns the inner one.
func textfileDir(t *testing.T) string {
	t.Helper()
	parent := filepath.Join(t.TempDir(), "prometheus")
	mkdir(t, parent, 0o755)
	dir := filepath.Join(parent, "node-exporter")
	mkdir(t, dir, 0o755)
	return dir
}

func TestJudgeDirs(t *testing.T) {
	const root, prometheus = 0, 107
	tests := []struct {
		name        string
		dir, parent owner
		euid        uint32
		want        string // "" when accepted, else a part of the error
	}{
		{"debian_layout", owner{root, 0o40755}, owner{prometheus, 0o40755}, root, ""},
		{"all_root", owner{root, 0o40755}, owner{root, 0o40755}, root, ""},
		{"private_dir", owner{root, 0o40700}, owner{root, 0o40700}, root, ""},
		{"dir_of_another_user", owner{prometheus, 0o40755}, owner{root, 0o40755}, root, "owned by uid 107, not by uid 0"},
		{"dir_group_writable", owner{root, 0o40775}, owner{root, 0o40755}, root, "mode 0775 is writable by group or others"},
		{"dir_world_writable", owner{root, 0o40777}, owner{root, 0o40755}, root, "mode 0777"},
		{"dir_world_writable_sticky", owner{root, 0o41777}, owner{root, 0o40755}, root, "mode 1777"},
		{"parent_group_writable", owner{root, 0o40755}, owner{prometheus, 0o40775}, root, "parent directory's mode 0775"},
		{"parent_world_writable_sticky", owner{root, 0o40755}, owner{root, 0o41777}, root, "parent directory's mode 1777"},
		{"unprivileged_writer_own_dir", owner{1000, 0o40755}, owner{1000, 0o40700}, 1000, ""},
		{"unprivileged_writer_roots_dir", owner{root, 0o40755}, owner{root, 0o40755}, 1000, "owned by uid 0, not by uid 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := judgeDirs(tt.dir, tt.parent, tt.euid)
			if tt.want == "" {
				if err != nil {
					t.Errorf("judgeDirs(%+v, %+v, %d) = %v; want nil", tt.dir, tt.parent, tt.euid, err)
				}
				return
			}
			if !errors.Is(err, ErrUnsafeDir) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("judgeDirs(%+v, %+v, %d) = %v; want ErrUnsafeDir with %q", tt.dir, tt.parent, tt.euid, err, tt.want)
			}
		})
	}
}

func TestWriteTextfile(t *testing.T) {
	dir := textfileDir(t)
	s := renderCases[1].s
	// The service runs with UMask=0077; node_exporter must read the file all
	// the same.
	old := syscall.Umask(0o077)
	path, err := WriteTextfile(dir, s)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, FileName); path != want {
		t.Errorf("path = %s, want %s", path, want)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := render(t, s); string(got) != want {
		t.Errorf("file content:\n%s\nwant:\n%s", got, want)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode() != 0o644 {
		t.Errorf("file mode = %v, %v; want -rw-r--r--", fi.Mode(), err)
	}
	if names := dirEntries(t, dir); len(names) != 1 || names[0] != FileName {
		t.Errorf("dir holds %q, want only %s", names, FileName)
	}
	if err := CheckDir(dir); err != nil {
		t.Errorf("CheckDir(%s) = %v, want nil", dir, err)
	}
}

func TestWriteTextfileNeverCreatesDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "prometheus", "node-exporter")
	path, err := WriteTextfile(dir, renderCases[1].s)
	if !errors.Is(err, fs.ErrNotExist) || path != "" {
		t.Errorf("WriteTextfile(%s) = %q, %v; want an error wrapping fs.ErrNotExist", dir, path, err)
	}
	if err := CheckDir(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CheckDir(%s) = %v; want an error wrapping fs.ErrNotExist", dir, err)
	}
	if names := dirEntries(t, base); len(names) != 0 {
		t.Errorf("%s holds %q after the write; want nothing created", base, names)
	}
}

// TestWriteTextfileNotThroughSymlink is defect 9 of issue 11: the user who
// owns /var/lib/prometheus replaces node-exporter/ with a symbolic link.
// Nothing may be written, created or chmodded where it points.
func TestWriteTextfileNotThroughSymlink(t *testing.T) {
	for _, tt := range []struct {
		name  string
		arg   func(link string) string // the directory as the caller names it
		exist bool                     // whether the link's target exists
	}{
		{"to_a_directory", func(l string) string { return l }, true},
		{"with_a_trailing_slash", func(l string) string { return l + "/" }, true},
		{"to_a_missing_directory", func(l string) string { return l }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			parent := filepath.Join(base, "prometheus")
			mkdir(t, parent, 0o755)
			target := filepath.Join(base, "etc")
			victim := filepath.Join(target, FileName)
			if tt.exist {
				mkdir(t, target, 0o700)
				if err := os.WriteFile(victim, []byte("root's own file\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			link := filepath.Join(parent, "node-exporter")
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			dir := tt.arg(link)
			if _, err := WriteTextfile(dir, renderCases[1].s); !errors.Is(err, ErrUnsafeDir) || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("WriteTextfile(%s) = %v; want ErrUnsafeDir naming the symbolic link", dir, err)
			}
			if err := CheckDir(dir); !errors.Is(err, ErrUnsafeDir) {
				t.Errorf("CheckDir(%s) = %v; want ErrUnsafeDir", dir, err)
			}
			if !tt.exist {
				if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the link's target %s was created (lstat: %v)", target, err)
				}
				return
			}
			if got, err := os.ReadFile(victim); err != nil || string(got) != "root's own file\n" {
				t.Errorf("the link's target was written: %q, %v", got, err)
			}
			if fi, err := os.Stat(victim); err != nil || fi.Mode() != 0o600 {
				t.Errorf("the target file's mode = %v, %v; want 0600 untouched", fi.Mode(), err)
			}
			if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("the target directory's mode = %v, %v; want 0700 untouched", fi.Mode(), err)
			}
			if names := dirEntries(t, target); len(names) != 1 {
				t.Errorf("the target directory holds %q; want only the file it had", names)
			}
		})
	}
}

// A symbolic link where the file goes is replaced, not followed.
func TestWriteTextfileReplacesSymlinkedFile(t *testing.T) {
	dir := textfileDir(t)
	victim := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(victim, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	if err := os.Symlink(victim, path); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteTextfile(dir, renderCases[0].s); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(victim); err != nil || string(got) != "secret\n" {
		t.Errorf("the symbolic link was followed: %s holds %q, %v", victim, got, err)
	}
	if fi, err := os.Stat(victim); err != nil || fi.Mode() != 0o600 {
		t.Errorf("%s mode = %v, %v; want 0600 untouched", victim, fi.Mode(), err)
	}
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s = %v, %v; want a regular file in place of the link", path, fi.Mode(), err)
	}
}

func TestWriteTextfileRefusesDirectory(t *testing.T) {
	for _, tt := range []struct {
		name             string
		dirMode, parMode os.FileMode
		dirUID           int  // -1: the test's own user
		root             bool // the case must give a file to another user
		want             string
	}{
		{name: "world_writable_dir", dirMode: 0o777, parMode: 0o755, dirUID: -1, want: "mode 0777 is writable"},
		{name: "group_writable_dir", dirMode: 0o775, parMode: 0o755, dirUID: -1, want: "mode 0775 is writable"},
		{name: "sticky_world_writable_dir", dirMode: os.ModeSticky | 0o777, parMode: 0o755, dirUID: -1, want: "mode 1777 is writable"},
		{name: "group_writable_parent", dirMode: 0o755, parMode: 0o775, dirUID: -1, want: "parent directory's mode 0775"},
		{name: "world_writable_parent", dirMode: 0o755, parMode: os.ModeSticky | 0o777, dirUID: -1, want: "parent directory's mode 1777"},
		{name: "dir_of_another_user", dirMode: 0o755, parMode: 0o755, dirUID: otherUID, root: true, want: "owned by uid 65534"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				needRoot(t)
			}
			parent := filepath.Join(t.TempDir(), "prometheus")
			mkdir(t, parent, tt.parMode)
			dir := filepath.Join(parent, "node-exporter")
			mkdir(t, dir, tt.dirMode)
			if tt.dirUID >= 0 {
				if err := os.Chown(dir, tt.dirUID, tt.dirUID); err != nil {
					t.Fatal(err)
				}
			}
			_, err := WriteTextfile(dir, renderCases[1].s)
			if !errors.Is(err, ErrUnsafeDir) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), dir) {
				t.Errorf("WriteTextfile(%s) = %v; want ErrUnsafeDir naming the directory and %q", dir, err, tt.want)
			}
			if err := CheckDir(dir); !errors.Is(err, ErrUnsafeDir) {
				t.Errorf("CheckDir(%s) = %v; want ErrUnsafeDir", dir, err)
			}
			if names := dirEntries(t, dir); len(names) != 0 {
				t.Errorf("%s holds %q; want nothing written", dir, names)
			}
			fi, err := os.Stat(dir)
			if keep := os.ModePerm | os.ModeSticky; err != nil || fi.Mode()&keep != tt.dirMode {
				t.Errorf("the directory's mode = %v, %v; want it untouched", fi.Mode(), err)
			}
		})
	}
}

// Debian's prometheus-node-exporter: /var/lib/prometheus belongs to the
// prometheus user, node-exporter/ inside it to root. That is written.
func TestWriteTextfileDebianLayout(t *testing.T) {
	needRoot(t)
	dir := textfileDir(t)
	if err := os.Chown(filepath.Dir(dir), otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteTextfile(dir, renderCases[1].s); err != nil {
		t.Errorf("WriteTextfile in the Debian layout: %v", err)
	}
}

func TestWriteTextfileReplaces(t *testing.T) {
	dir := textfileDir(t)
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte("old garbage that is longer than nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := renderCases[0].s
	if _, err := WriteTextfile(dir, s); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != render(t, s) {
		t.Errorf("file not replaced:\n%s", got)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode() != 0o644 {
		t.Errorf("mode after replace = %v, %v; want -rw-r--r--", fi.Mode(), err)
	}
	if names := dirEntries(t, dir); len(names) != 1 {
		t.Errorf("dir holds %q, want only %s", names, FileName)
	}
}

// TestWriteTextfileAtomic rewrites the file with outputs of very different
// sizes while a reader reads it; every read must be one complete document.
func TestWriteTextfileAtomic(t *testing.T) {
	dir := textfileDir(t)
	short := Snapshot{Running: Kernel{Release: "r", Build: "b"}, Now: t0}
	long := Snapshot{Running: Kernel{Release: "r", Build: strings.Repeat("x", 64<<10)}, Target: kp(k52), Now: t0}
	want := map[string]bool{render(t, short): true, render(t, long): true}
	if _, err := WriteTextfile(dir, short); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads int
	var readErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			data, err := os.ReadFile(path)
			if err != nil {
				readErr = err
				return
			}
			reads++
			if !want[string(data)] {
				readErr = errors.New("torn read: " + strconv.Itoa(len(data)) + " bytes")
				return
			}
		}
	}()
	for i := 0; i < 100; i++ {
		s := short
		if i%2 == 0 {
			s = long
		}
		if _, err := WriteTextfile(dir, s); err != nil {
			close(stop)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatalf("reader: %v", readErr)
	}
	t.Logf("%d concurrent reads", reads)
	if names := dirEntries(t, dir); len(names) != 1 || names[0] != FileName {
		t.Errorf("dir holds %q, want only %s", names, FileName)
	}
}

func TestWriteTextfileErrors(t *testing.T) {
	t.Run("parent_is_a_file", func(t *testing.T) {
		base := t.TempDir()
		file := filepath.Join(base, "file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(file, "node-exporter")
		path, err := WriteTextfile(dir, Snapshot{Now: t0})
		if err == nil {
			t.Fatalf("WriteTextfile(%s) succeeded", dir)
		}
		if path != "" {
			t.Errorf("path = %q on error, want empty", path)
		}
		if !strings.Contains(err.Error(), filepath.Join(dir, FileName)) || errors.Is(err, ErrUnsafeDir) {
			t.Errorf("error %q does not name %s, or calls it unsafe", err, filepath.Join(dir, FileName))
		}
	})
	t.Run("dir_is_a_file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(dir, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := WriteTextfile(dir, Snapshot{Now: t0})
		if err == nil || !strings.Contains(err.Error(), dir) || !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("WriteTextfile(%s) = %v, want ENOTDIR naming it", dir, err)
		}
	})
	t.Run("rename_fails_temp_removed", func(t *testing.T) {
		dir := textfileDir(t)
		target := filepath.Join(dir, FileName)
		// A non-empty directory where the file should go: rename fails
		// after the temporary file was written.
		if err := os.MkdirAll(filepath.Join(target, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := WriteTextfile(dir, Snapshot{Now: t0})
		if err == nil || !strings.Contains(err.Error(), target) {
			t.Errorf("WriteTextfile = %v, want an error naming %s", err, target)
		}
		if names := dirEntries(t, dir); len(names) != 1 || names[0] != FileName {
			t.Errorf("dir holds %q after failure, want the temporary file removed", names)
		}
	})
	t.Run("unwritable_dir", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root ignores directory permissions")
		}
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		_, err := WriteTextfile(dir, Snapshot{Now: t0})
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, FileName)) {
			t.Errorf("WriteTextfile = %v, want an error naming %s", err, filepath.Join(dir, FileName))
		}
		if !errors.Is(err, os.ErrPermission) {
			t.Errorf("error %v does not wrap os.ErrPermission", err)
		}
	})
}
