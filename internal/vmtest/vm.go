//go:build vm

package vmtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Timeouts sized for a loaded 2-core machine without KVM, where a boot under TCG takes
// 20-40 s when all is well.
const (
	// BootTimeout bounds a boot, from QEMU's start or a reset or kexec to KU-BOOTED.
	BootTimeout = 5 * time.Minute
	// sshReadyTimeout bounds the wait for sshd after KU-BOOTED.
	sshReadyTimeout = 2 * time.Minute
	// commandTimeout bounds one ssh command of Try and Run.
	commandTimeout = 10 * time.Minute
	// serialTailLines is how much of the console a harness failure shows,
	// before its message.
	serialTailLines = 40
	// cleanupTailLines is how much a failed test's cleanup shows after the
	// test's own messages: little, so those stay in sight of a CI log's last
	// lines (serial.log in the log directory has all of it).
	cleanupTailLines = 12
)

// bootedLine matches the line the guest's ku-booted.service writes to the console.
var bootedLine = regexp.MustCompile(`KU-BOOTED (\S+) ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})`)

// Options configures a guest.
type Options struct {
	// Name names the guest in logs; default "vm". Names must differ within one test.
	Name string
	// Guest is the kind of guest image; default Bookworm.
	Guest Guest
	// Clock is the guest's real-time clock at QEMU's start; zero means the host's now.
	// The clock runs on from there with the guest's virtual time (a boot takes 20-100 s
	// of it) and is kept across PowerCycle. It must not be before ClockEpoch: systemd
	// would move it forward at boot, and Start refuses such a clock.
	Clock time.Time
	// Memory is the guest's memory in MiB; default 1024.
	Memory int
	// HostNet lets the guest open connections to the host's loopback at
	// 10.0.2.2 (a FleetLock server run by the test); guests are otherwise
	// isolated (QEMU's restrict=on).
	HostNet bool
	// BootTimeout bounds the first boot; default BootTimeout. An emulated arm64 guest
	// needs more on a loaded machine.
	BootTimeout time.Duration
	// Watchdog gives the guest an emulated Intel 6300ESB watchdog
	// (/dev/watchdog0, driver i6300esb) that resets the machine when it
	// expires.
	Watchdog bool
	// Long marks a scenario that holds its slot for 8 minutes or more: like
	// the firmware guests, it takes the next free slot before the others,
	// so that the short ones fill the suite's tail.
	Long bool
}

// VM is a running QEMU guest.
type VM struct {
	name     string
	logDir   string
	img      *image
	sshPort  int
	httpPort int
	qmpPath  string
	cmd      *exec.Cmd
	console  *console
	// exited is closed when QEMU has exited; exitErr is its result then.
	exited  chan struct{}
	exitErr error

	// tailShown records that a failure message already showed the serial tail.
	tailShown atomic.Bool

	mu         sync.Mutex
	cmdLog     *os.File
	lastRel    string
	lastBootID string
	// lastBootMark is the serial mark just after that KU-BOOTED line.
	lastBootMark int
}

// Start boots a guest on a fresh copy-on-write overlay of the cached image and waits
// until it reports KU-BOOTED and accepts ssh. The guest is killed when the test ends;
// if the test failed, the last serial lines and the log paths are printed.
func Start(t *testing.T, opt Options) *VM {
	t.Helper()
	if opt.Name == "" {
		opt.Name = "vm"
	}
	if opt.Memory == 0 {
		opt.Memory = 1024
	}
	img := loadImage(t, opt.Guest)
	if !opt.Clock.IsZero() && opt.Clock.Before(img.clockEpoch) {
		t.Fatalf("Options.Clock %s is before the guest's clock epoch %s: systemd would move the clock forward at boot",
			opt.Clock.UTC().Format(time.RFC3339), img.clockEpoch.Format(time.RFC3339))
	}
	logDir := filepath.Join(testLogDir(t), opt.Name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatalf("create VM log directory: %v", err)
	}
	// The firmware guests' scenarios are the suite's longest.
	release := acquireSlot(t, opt.Guest.Boot != "" || opt.Long)
	t.Cleanup(release)

	overlay := filepath.Join(t.TempDir(), "disk.qcow2")
	// A short directory of its own for the QMP socket: unix socket paths are limited to
	// 108 bytes, and t.TempDir's path grows with the test's name.
	qmpDir, err := os.MkdirTemp("", "ku-vm-")
	if err != nil {
		t.Fatalf("create QMP socket directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(qmpDir) })
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", img.base, overlay).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create overlay: %v\n%s", err, out)
	}
	cmdLog, err := os.Create(filepath.Join(logDir, "commands.log"))
	if err != nil {
		t.Fatalf("create command log: %v", err)
	}
	vm := &VM{name: opt.Name, logDir: logDir, img: img, qmpPath: filepath.Join(qmpDir, "qmp.sock"), cmdLog: cmdLog}
	t.Cleanup(func() {
		vm.kill()
		if t.Failed() && vm.console != nil && !vm.tailShown.Load() {
			t.Logf("VM %s: last %d serial lines:\n%s\nlogs: %s", vm.name, cleanupTailLines,
				strings.Join(vm.console.tail(cleanupTailLines), "\n"), vm.logDir)
		}
		vm.mu.Lock()
		vm.cmdLog.Close()
		vm.mu.Unlock()
	})

	start := time.Now()
	vm.launch(t, overlay, opt)
	if opt.BootTimeout == 0 {
		opt.BootTimeout = BootTimeout
	}
	rel, id := vm.WaitBootedSince(t, 0, opt.BootTimeout)
	t.Logf("VM %s: %s guest (systemd %s) booted %s (boot_id %s) in %v; logs in %s", vm.name, img.guest, img.systemdVersion,
		rel, id, time.Since(start).Round(time.Second), vm.logDir)
	return vm
}

// launch starts QEMU, retrying with other ports if a forwarded port was taken between
// choosing it and QEMU binding it.
func (vm *VM) launch(t *testing.T, overlay string, opt Options) {
	t.Helper()
	rtc := "base=utc,clock=vm"
	if !opt.Clock.IsZero() {
		rtc = "base=" + opt.Clock.UTC().Format("2006-01-02T15:04:05") + ",clock=vm"
	}
	restrict := "on"
	if opt.HostNet {
		restrict = "off"
	}
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			t.Fatalf("choose forwarded ports: %v", err)
		}
		vm.sshPort, vm.httpPort = ports[0], ports[1]
		args := []string{
			"-name", "ku-" + vm.name,
			"-accel", "tcg", "-cpu", vm.img.guest.cpu(), "-smp", "1", "-m", strconv.Itoa(opt.Memory),
			// Guest time follows executed instructions, not the host clock: on a
			// loaded host a starved vCPU thread otherwise shows the guest kernel
			// huge time jumps, and a kernel that was just kexec-ed hung twice in
			// early boot that way.
			"-icount", "shift=auto,sleep=on",
			"-nodefaults", "-no-user-config", "-nographic",
			"-serial", "stdio",
			"-qmp", "unix:" + vm.qmpPath + ",server=on,wait=off",
			"-drive", "file=" + overlay + ",if=virtio,format=qcow2,cache=unsafe",
			"-netdev", fmt.Sprintf("user,id=net0,restrict=%s,hostfwd=tcp:127.0.0.1:%d-:22,hostfwd=tcp:127.0.0.1:%d-:8080", restrict, vm.sshPort, vm.httpPort),
			"-device", "virtio-net-pci,netdev=net0",
			"-rtc", rtc,
		}
		if opt.Watchdog {
			args = append(args, "-device", "i6300esb", "-action", "watchdog=reset")
		}
		boot, err := vm.img.bootArgs(vm.logDir)
		if err != nil {
			t.Fatalf("VM %s: %v", vm.name, err)
		}
		args = append(args, boot...)
		qemuLog := filepath.Join(vm.logDir, "qemu.log")
		errFile, err := os.Create(qemuLog)
		if err != nil {
			t.Fatalf("create QEMU log: %v", err)
		}
		fmt.Fprintf(errFile, "%s %s\n", vm.img.guest.qemu(), strings.Join(args, " "))
		serialFile, err := os.OpenFile(filepath.Join(vm.logDir, "serial.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatalf("create serial log: %v", err)
		}
		cmd := exec.Command(vm.img.guest.qemu(), args...)
		cmd.Stderr = errFile
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatalf("QEMU stdout pipe: %v", err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start QEMU: %v", err)
		}
		errFile.Close()
		vm.cmd = cmd
		vm.exited = make(chan struct{})
		vm.console = newConsole(stdout, serialFile)
		go func(exited chan struct{}) {
			// Wait must follow the end of the stdout reads (os/exec's rule for pipes).
			<-vm.console.closed
			vm.exitErr = cmd.Wait()
			close(exited)
		}(vm.exited)

		err = vm.waitQMP(30 * time.Second)
		if err == nil {
			return
		}
		vm.kill()
		log := tailFile(qemuLog, 20)
		if attempt < 3 && strings.Contains(log, "host forwarding") {
			t.Logf("VM %s: forwarded port taken, retrying: %s", vm.name, log)
			continue
		}
		t.Fatalf("VM %s: QEMU did not come up: %v\n%s\nlogs: %s", vm.name, err, log, vm.logDir)
	}
}

// waitQMP waits until QEMU's QMP socket accepts a connection or QEMU exits.
func (vm *VM) waitQMP(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.Dial("unix", vm.qmpPath)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-vm.exited:
			return fmt.Errorf("qemu exited: %v", vm.exitErr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no QMP socket after %v: %w", timeout, err)
		}
	}
}

// kill ends QEMU (this VM's process only) and waits for it.
func (vm *VM) kill() {
	if vm.cmd == nil || vm.cmd.Process == nil {
		return
	}
	select {
	case <-vm.exited:
		return
	default:
	}
	// The process may have exited just now; then Kill reports that, which is fine.
	_ = vm.cmd.Process.Kill()
	<-vm.exited
}

// exitStatus describes how QEMU ended, once the serial stream has closed.
func (vm *VM) exitStatus() string {
	select {
	case <-vm.exited:
		if vm.exitErr == nil {
			return "exit status 0"
		}
		return vm.exitErr.Error()
	case <-time.After(10 * time.Second):
		return "serial console closed, QEMU still running"
	}
}

// fatalf fails the test with the message, the last serial lines and the log directory.
func (vm *VM) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	vm.tailShown.Store(true)
	t.Fatalf("VM %s: last %d serial lines:\n%s\nlogs: %s\nVM %s: %s", vm.name, serialTailLines,
		strings.Join(vm.console.tail(serialTailLines), "\n"), vm.logDir, vm.name, fmt.Sprintf(format, args...))
}

// LogDir returns the directory of this guest's logs (serial.log, qemu.log, commands.log).
func (vm *VM) LogDir() string { return vm.logDir }

// HTTPAddr returns host:port of the guest's HTTP service (busybox httpd on guest port 8080).
func (vm *VM) HTTPAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(vm.httpPort)) }

// SSHAddr returns host:port of the guest's sshd.
func (vm *VM) SSHAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(vm.sshPort)) }

// Guest returns the kind of guest image the VM runs.
func (vm *VM) Guest() Guest { return vm.img.guest }

// Kernels returns the guest image's old kernel (the one QEMU boots) and the newer one.
func (vm *VM) Kernels() (old, new KernelInfo) { return vm.img.old, vm.img.new }

// KexecToolsDebs returns the .deb files that install kexec-tools into the guest.
func (vm *VM) KexecToolsDebs() []string { return append([]string(nil), vm.img.kexecDebs...) }

// MetricsDebs returns prometheus-node-exporter's .deb and those of the packages it
// needs that the image lacks.
func (vm *VM) MetricsDebs() []string { return append([]string(nil), vm.img.metricsDebs...) }

// BootMark returns the serial mark just after the last KU-BOOTED line the
// harness waited for: what the guest does on its own right after booting
// (a health gate that fails at the first run) may come before ssh answers,
// so a wait for it starts here, not at a mark taken once ssh is up.
func (vm *VM) BootMark() int {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.lastBootMark
}

// LastBoot returns the release and boot_id of the last KU-BOOTED line the harness waited for.
func (vm *VM) LastBoot() (release, bootID string) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.lastRel, vm.lastBootID
}

// SerialMark returns a position in the serial console: the number of lines so far.
// Take it before an action, and wait for the action's effect with the ...Since methods.
func (vm *VM) SerialMark() int { return vm.console.mark() }

// SerialSince returns the serial lines from mark on (cleaned of escape sequences).
func (vm *VM) SerialSince(mark int) []string { return vm.console.since(mark) }

// WaitSerial waits for a serial line printed after the call that matches re, and returns it.
// On timeout, or if QEMU exits, the test fails with the last serial lines.
func (vm *VM) WaitSerial(t *testing.T, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	return vm.WaitSerialSince(t, vm.SerialMark(), re, timeout)
}

// WaitSerialSince waits for a serial line at or after mark that matches re.
func (vm *VM) WaitSerialSince(t *testing.T, mark int, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	_, line := vm.waitSerialAt(t, mark, re, timeout)
	return line
}

// waitSerialAt is WaitSerialSince that also returns the matching line's mark.
func (vm *VM) waitSerialAt(t *testing.T, mark int, re *regexp.Regexp, timeout time.Duration) (int, string) {
	t.Helper()
	at, line, res := vm.console.wait(mark, re, time.Now().Add(timeout))
	switch res {
	case waitTimeout:
		vm.fatalf(t, "no serial line matching %q within %v", re, timeout)
	case waitClosed:
		vm.fatalf(t, "QEMU exited (%s) while waiting for a serial line matching %q", vm.exitStatus(), re)
	}
	return at, line
}

// WaitBooted waits for the next KU-BOOTED line after the call, then for ssh, and returns
// the booted release and boot_id.
func (vm *VM) WaitBooted(t *testing.T, timeout time.Duration) (release, bootID string) {
	t.Helper()
	return vm.WaitBootedSince(t, vm.SerialMark(), timeout)
}

// WaitBootedSince waits for a KU-BOOTED line at or after mark, then for ssh. A guest that
// boots through firmware gets more time (image.firmwareAllowance).
func (vm *VM) WaitBootedSince(t *testing.T, mark int, timeout time.Duration) (release, bootID string) {
	t.Helper()
	at, line := vm.waitSerialAt(t, mark, bootedLine, timeout+vm.img.firmwareAllowance())
	m := bootedLine.FindStringSubmatch(line)
	release, bootID = m[1], m[2]
	vm.mu.Lock()
	vm.lastRel, vm.lastBootID, vm.lastBootMark = release, bootID, at+1
	vm.mu.Unlock()
	vm.waitSSH(t)
	return release, bootID
}

// waitSSH polls sshd with a short backoff until a command succeeds; the guest already
// reported that ssh.service is up, so this covers only the network path settling.
func (vm *VM) waitSSH(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(sshReadyTimeout)
	delay := 200 * time.Millisecond
	for {
		_, stderr, code, err := vm.Try("true")
		if err == nil && code == 0 {
			return
		}
		if time.Now().After(deadline) {
			vm.fatalf(t, "ssh not ready %v after KU-BOOTED: exit %d, %v: %s", sshReadyTimeout, code, err, stderr)
		}
		select {
		case <-vm.exited:
			vm.fatalf(t, "QEMU exited (%s) while waiting for ssh", vm.exitStatus())
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// PowerCycle resets the guest like a power button: QEMU's system_reset, so the firmware
// starts again and boots QEMU's -kernel, the image's old kernel, whatever was staged.
// Wait for the boot with WaitBooted.
func (vm *VM) PowerCycle(t *testing.T) {
	t.Helper()
	if err := vm.qmp("system_reset"); err != nil {
		vm.fatalf(t, "QMP system_reset: %v", err)
	}
	vm.logCommand("(QMP system_reset)", "", "", 0, 0, nil)
}

// qmp runs one QMP command without arguments and waits for its reply.
func (vm *VM) qmp(command string) error {
	conn, err := net.DialTimeout("unix", vm.qmpPath, 10*time.Second)
	if err != nil {
		return fmt.Errorf("connect to QMP: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return fmt.Errorf("set QMP deadline: %w", err)
	}
	dec := json.NewDecoder(bufio.NewReader(conn))
	var greeting map[string]json.RawMessage
	if err := dec.Decode(&greeting); err != nil {
		return fmt.Errorf("read QMP greeting: %w", err)
	}
	for _, cmd := range []string{"qmp_capabilities", command} {
		if _, err := fmt.Fprintf(conn, "{\"execute\":%q}\n", cmd); err != nil {
			return fmt.Errorf("send %s: %w", cmd, err)
		}
		for {
			var reply struct {
				Return json.RawMessage `json:"return"`
				Error  *struct {
					Class string `json:"class"`
					Desc  string `json:"desc"`
				} `json:"error"`
				Event string `json:"event"`
			}
			if err := dec.Decode(&reply); err != nil {
				return fmt.Errorf("read reply to %s: %w", cmd, err)
			}
			if reply.Error != nil {
				return fmt.Errorf("%s: %s: %s", cmd, reply.Error.Class, reply.Error.Desc)
			}
			if reply.Return != nil {
				break
			}
			// Anything else is an asynchronous event (e.g. RESET): skip it.
		}
	}
	return nil
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. They are free when chosen;
// QEMU binds them a moment later (launch retries if one was taken meanwhile).
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("listen on a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// testLogDir returns the test's log directory, $KU_VM_LOGS (default logs/ in the package
// directory) /<test>-<timestamp>-p<pid>, creating it on the first call in this process.
func testLogDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("KU_VM_LOGS")
	if root == "" {
		root = "logs"
	}
	root, err := filepath.Abs(root)
	if err != nil {
		t.Fatalf("log directory: %v", err)
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	suffix := fmt.Sprintf("-p%d", os.Getpid())
	ours := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `-\d{8}-\d{6}` + suffix + `$`)
	if found, _ := filepath.Glob(filepath.Join(root, name+"-*"+suffix)); len(found) > 0 {
		for i := len(found) - 1; i >= 0; i-- {
			if ours.MatchString(filepath.Base(found[i])) {
				return found[i]
			}
		}
	}
	dir := filepath.Join(root, name+"-"+time.Now().Format("20060102-150405")+suffix)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create log directory: %v", err)
	}
	return dir
}
