//go:build vm

package vmtest

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain starts the image builds of every guest of the matrix in the background when the
// whole suite runs (no -run pattern, as `make vm-test`): the two suites build at once, each
// while the other suite's first guests already boot, instead of when the first test of each
// guest asks for its image. Tests still call build-image.sh themselves, which waits on the
// suite's build lock and reports a failed build with its log.
func TestMain(m *testing.M) {
	flag.Parse()
	var wg sync.WaitGroup
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() == "" {
		// The firmware guests' scenarios are the longest: their images come early.
		// The arm64 image builds under qemu-user-static, the longest build: it starts at
		// once, beside the others (its own build lock).
		chains := [][]Guest{{Bookworm, BookwormBackports}, {Trixie, TrixieGRUB, TrixieBackports}, {TrixieSecureBoot}, {TrixieARM64}}
		for _, chain := range chains {
			wg.Add(1)
			go func() {
				defer wg.Done()
				prebuild(chain)
			}()
		}
	}
	code := m.Run()
	wg.Wait()
	os.Exit(code)
}

// prebuild runs build-image.sh for each guest in turn, its output to a log in $KU_VM_LOGS.
func prebuild(guests []Guest) {
	root := os.Getenv("KU_VM_LOGS")
	if root == "" {
		root = "logs"
	}
	dir := filepath.Join(root, fmt.Sprintf("prebuild-%s-p%d", time.Now().Format("20060102-150405"), os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "prebuild: %v\n", err)
		return
	}
	for _, g := range guests {
		log, err := os.Create(filepath.Join(dir, subtestName(g)+".log"))
		if err != nil {
			fmt.Fprintf(os.Stderr, "prebuild: %v\n", err)
			return
		}
		start := time.Now()
		cmd := exec.Command("./build-image.sh", g.buildArgs()...)
		cmd.Stdout, cmd.Stderr = log, log
		err = cmd.Run()
		log.Close()
		if err != nil {
			// The tests of this guest run the script again and fail with its log.
			fmt.Fprintf(os.Stderr, "prebuild: image %s: %v (log %s)\n", g, err, log.Name())
			return
		}
		fmt.Fprintf(os.Stderr, "prebuild: image %s ready after %v\n", g, time.Since(start).Round(time.Second))
	}
}

// subtestName names a guest's subtest: bookworm, bookworm_backports, trixie_grub, ….
func subtestName(g Guest) string {
	return strings.NewReplacer("+", "_", "/", "_").Replace(g.String())
}
