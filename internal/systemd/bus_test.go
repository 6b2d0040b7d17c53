package systemd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// TestBusReadOnly talks to the host's system bus when there is one. It only
// reads (SystemState, UserspaceTimestamp, ListInhibitors); it never starts
// a unit.
func TestBusReadOnly(t *testing.T) {
	if _, err := os.Stat("/run/dbus/system_bus_socket"); err != nil {
		t.Skipf("no system D-Bus here: %v", err)
	}
	if os.Getenv("DBUS_SYSTEM_BUS_ADDRESS") != "" {
		t.Skip("DBUS_SYSTEM_BUS_ADDRESS points elsewhere")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus := connect(ctx, t)
	s, err := bus.SystemState(ctx)
	if err != nil {
		t.Fatalf("SystemState() error = %v", err)
	}
	known := map[string]bool{"initializing": true, "starting": true, "running": true, "degraded": true, "maintenance": true, "stopping": true, "offline": true, "unknown": true}
	if !known[s] {
		t.Errorf("SystemState() = %q; want one of systemd's states", s)
	}
	if bt, err := bus.BootTimes(ctx); err == nil && bt.Userspace.Before(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("BootTimes() = %+v; want a userspace start after 2000", bt)
	}
	inhibitors, err := bus.Inhibitors(ctx)
	if err != nil {
		t.Skipf("Inhibitors() error = %v (no logind on this bus?)", err)
	}
	for _, i := range inhibitors {
		if i.What == "" || (i.Mode != "block" && i.Mode != "delay") {
			t.Errorf("Inhibitors() has %+v; want a non-empty what and mode block or delay", i)
		}
	}
}

// connect connects to the bus DBUS_SYSTEM_BUS_ADDRESS names, or to the
// system bus, and closes the connection when the test ends.
func connect(ctx context.Context, t *testing.T) *Bus {
	t.Helper()
	bus, err := Connect(ctx)
	if err != nil {
		t.Fatalf("Connect() error = %v", err)
	}
	t.Cleanup(bus.Close)
	return bus
}

// fakeManagers plays systemd and logind on a private bus.
type fakeManagers struct {
	mu          sync.Mutex
	state       string
	userspaceUS uint64
	// userspaceMonoUS and finishUS are UserspaceTimestampMonotonic and
	// FinishTimestamp.
	userspaceMonoUS, finishUS uint64
	inhibitors                []Inhibitor
	started                   []string
	// onStart runs inside StartUnit before it replies.
	onStart func()
	// startErr is StartUnit's error reply, if any.
	startErr *dbus.Error
}

// systemdObject serves /org/freedesktop/systemd1.
type systemdObject struct{ f *fakeManagers }

// Get is org.freedesktop.DBus.Properties.Get.
func (o systemdObject) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	if iface != "org.freedesktop.systemd1.Manager" {
		return dbus.Variant{}, dbus.MakeFailedError(errors.New("unknown interface " + iface))
	}
	switch name {
	case "SystemState":
		return dbus.MakeVariant(o.f.state), nil
	case "UserspaceTimestamp":
		return dbus.MakeVariant(o.f.userspaceUS), nil
	case "UserspaceTimestampMonotonic":
		return dbus.MakeVariant(o.f.userspaceMonoUS), nil
	case "FinishTimestamp":
		return dbus.MakeVariant(o.f.finishUS), nil
	}
	return dbus.Variant{}, dbus.MakeFailedError(errors.New("unknown property " + name))
}

// StartUnit is org.freedesktop.systemd1.Manager.StartUnit.
func (o systemdObject) StartUnit(name, mode string) (dbus.ObjectPath, *dbus.Error) {
	o.f.mu.Lock()
	o.f.started = append(o.f.started, name+" "+mode)
	hook, err := o.f.onStart, o.f.startErr
	o.f.mu.Unlock()
	if hook != nil {
		hook()
	}
	if err != nil {
		return "", err
	}
	return "/org/freedesktop/systemd1/job/4242", nil
}

// logindObject serves /org/freedesktop/login1.
type logindObject struct{ f *fakeManagers }

// ListInhibitors is org.freedesktop.login1.Manager.ListInhibitors.
func (o logindObject) ListInhibitors() ([]Inhibitor, *dbus.Error) {
	o.f.mu.Lock()
	defer o.f.mu.Unlock()
	return o.f.inhibitors, nil
}

// privateBus starts a dbus-daemon of its own, points
// DBUS_SYSTEM_BUS_ADDRESS at it, and serves fake managers on it.
func privateBus(t *testing.T) *fakeManagers {
	t.Helper()
	daemon, err := exec.LookPath("dbus-daemon")
	if err != nil {
		t.Skipf("no dbus-daemon to run a private bus: %v", err)
	}
	dir := t.TempDir()
	socket := filepath.Join(dir, "bus")
	conf := `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path=` + socket + `</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
  </policy>
</busconfig>
`
	confPath := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+confPath, "--nofork", "--nopidfile", "--print-address=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start dbus-daemon: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("dbus-daemon: %s", stderr.String())
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon did not print its address: %v", err)
	}
	address := strings.TrimSpace(line)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", address)

	f := &fakeManagers{state: "running"}
	server, err := dbus.Connect(address)
	if err != nil {
		t.Fatalf("connect the fake managers: %v", err)
	}
	t.Cleanup(func() { server.Close() })
	exports := []struct {
		obj   any
		path  dbus.ObjectPath
		iface string
		name  string
	}{
		{systemdObject{f}, "/org/freedesktop/systemd1", "org.freedesktop.DBus.Properties", "org.freedesktop.systemd1"},
		{systemdObject{f}, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "org.freedesktop.systemd1"},
		{logindObject{f}, "/org/freedesktop/login1", "org.freedesktop.login1.Manager", "org.freedesktop.login1"},
	}
	for _, e := range exports {
		if err := server.Export(e.obj, e.path, e.iface); err != nil {
			t.Fatalf("export %s: %v", e.iface, err)
		}
		reply, err := server.RequestName(e.name, dbus.NameFlagDoNotQueue)
		if err != nil || (reply != dbus.RequestNameReplyPrimaryOwner && reply != dbus.RequestNameReplyAlreadyOwner) {
			t.Fatalf("request name %s: %v (reply %d)", e.name, err, reply)
		}
	}
	return f
}

func TestBusPrivateDaemon(t *testing.T) {
	f := privateBus(t)
	inhibitors := []Inhibitor{
		{What: "shutdown:sleep", Who: "db", Why: "backup running", Mode: "block", UID: 106, PID: 777},
		{What: "sleep", Who: "ModemManager", Why: "ModemManager needs to reset devices", Mode: "delay", UID: 0, PID: 612},
	}
	f.mu.Lock()
	f.userspaceUS = uint64(time.Date(2026, 3, 28, 2, 30, 2, 250000000, time.UTC).UnixMicro())
	f.userspaceMonoUS = 8_500_000
	f.finishUS = uint64(time.Date(2026, 3, 28, 2, 30, 14, 0, time.UTC).UnixMicro())
	f.inhibitors = inhibitors
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus := connect(ctx, t)

	if s, err := bus.SystemState(ctx); err != nil || s != "running" {
		t.Errorf("SystemState() = %q, %v; want running", s, err)
	}
	want := BootTimes{Userspace: time.Date(2026, 3, 28, 2, 30, 2, 250000000, time.UTC), UserspaceMonotonic: 8500 * time.Millisecond,
		Finish: time.Date(2026, 3, 28, 2, 30, 14, 0, time.UTC)}
	if bt, err := bus.BootTimes(ctx); err != nil || !bt.Userspace.Equal(want.Userspace) || bt.UserspaceMonotonic != want.UserspaceMonotonic || !bt.Finish.Equal(want.Finish) {
		t.Errorf("BootTimes() = %+v, %v; want %+v", bt, err, want)
	}
	got, err := bus.Inhibitors(ctx)
	if err != nil {
		t.Fatalf("Inhibitors() error = %v", err)
	}
	if len(got) != 2 || got[0] != inhibitors[0] || got[1] != inhibitors[1] {
		t.Errorf("Inhibitors() = %+v; want %+v", got, inhibitors)
	}
	if err := bus.StartKexec(ctx); err != nil {
		t.Fatalf("StartKexec() error = %v", err)
	}
	f.mu.Lock()
	started := strings.Join(f.started, ", ")
	f.mu.Unlock()
	if started != "kexec.target replace-irreversibly" {
		t.Errorf("units started = %q; want kexec.target replace-irreversibly", started)
	}
}

func TestBusStartRefused(t *testing.T) {
	f := privateBus(t)
	f.mu.Lock()
	f.startErr = dbus.NewError("org.freedesktop.systemd1.TransactionIsDestructive", []any{"Transaction for kexec.target/start is destructive (poweroff.target has 'start' job queued, but 'stop' is included in transaction)."})
	f.mu.Unlock()
	ctx := context.Background()
	bus := connect(ctx, t)
	err := bus.StartKexec(ctx)
	if err == nil || !strings.Contains(err.Error(), "start kexec.target") || !strings.Contains(err.Error(), "destructive") {
		t.Fatalf("StartKexec() error = %v; want systemd's refusal, naming kexec.target", err)
	}
}

func TestBusBootNotFinished(t *testing.T) {
	privateBus(t)
	ctx := context.Background()
	bus := connect(ctx, t)
	if bt, err := bus.BootTimes(ctx); err != nil || !bt.Finish.IsZero() {
		t.Errorf("BootTimes() = %+v, %v; want no finish time while the boot has not finished", bt, err)
	}
}

// TestBusSurvivesCancel: the SIGTERM that cancels a run's context can come
// while StartKexec's call is on the wire; the call, made with a context
// that is not cancelled, must still get its reply.
func TestBusSurvivesCancel(t *testing.T) {
	f := privateBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bus := connect(ctx, t)
	f.mu.Lock()
	f.onStart = func() {
		cancel()
		time.Sleep(200 * time.Millisecond) // let a connection bound to ctx go down
	}
	f.mu.Unlock()
	if err := bus.StartKexec(context.WithoutCancel(ctx)); err != nil {
		t.Fatalf("StartKexec() after the run's context was cancelled: %v; want the queued job", err)
	}
	// Calls made with the cancelled context itself fail, as they should.
	if _, err := bus.SystemState(ctx); err == nil {
		t.Errorf("SystemState(cancelled ctx) = nil error; want the cancellation")
	}
}

func TestBusConnectCancelled(t *testing.T) {
	privateBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if bus, err := Connect(ctx); err == nil {
		bus.Close()
		t.Fatalf("Connect(cancelled ctx) = nil error; want one")
	} else if !strings.Contains(err.Error(), "connect to the system D-Bus") {
		t.Errorf("Connect(cancelled ctx) error = %q; want it to say D-Bus is unreachable", err)
	}
}

func TestBusConnectNoDaemon(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "absent"))
	_, err := Connect(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connect to the system D-Bus") {
		t.Fatalf("Connect() error = %v; want one saying D-Bus is unreachable", err)
	}
}

func TestCleanInhibitor(t *testing.T) {
	flood := strings.Repeat("\x1b[1A\x1b[2K\r\n", 10000) + "forged line"
	tests := []struct {
		name string
		in   Inhibitor
		want Inhibitor
	}{
		{
			name: "ordinary_inhibitor_unchanged",
			in:   Inhibitor{What: "shutdown:sleep", Who: "db", Why: "backup running", Mode: "block", UID: 106, PID: 777},
			want: Inhibitor{What: "shutdown:sleep", Who: "db", Why: "backup running", Mode: "block", UID: 106, PID: 777},
		},
		{
			name: "escape_sequences_and_newlines_removed",
			in:   Inhibitor{What: "shutdown", Who: "\x1b]0;root\x07evil\nuser", Why: "a\r\nkexec-upgrade: switched\u202e", Mode: "block"},
			want: Inhibitor{What: "shutdown", Who: "]0;rootevil user", Why: "a kexec-upgrade: switched", Mode: "block"},
		},
		{
			name: "invalid_utf8_replaced",
			in:   Inhibitor{What: "shutdown", Who: "x\xff", Why: "y", Mode: "delay"},
			want: Inhibitor{What: "shutdown", Who: "x\ufffd", Why: "y", Mode: "delay"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CleanInhibitor(tc.in); got != tc.want {
				t.Errorf("CleanInhibitor(%+v) = %+v; want %+v", tc.in, got, tc.want)
			}
		})
	}
	t.Run("100_kb_why_capped", func(t *testing.T) {
		got := CleanInhibitor(Inhibitor{What: "shutdown", Who: flood, Why: flood, Mode: "block"})
		for name, v := range map[string]string{"who": got.Who, "why": got.Why} {
			if len(v) > MaxInhibitorText || strings.ContainsAny(v, "\x1b\r\n") || !strings.HasSuffix(v, "…") {
				t.Errorf("CleanInhibitor(100 KB %s).%s = %d bytes %.120q; want at most %d bytes, no ESC or newline, ending in …", name, name, len(v), v, MaxInhibitorText)
			}
		}
	})
}

// TestBusHostileInhibitor: any logged-in user can take an inhibitor whose
// why is 100 KB of escape sequences and newlines; what reaches the caller
// is one short harmless line.
func TestBusHostileInhibitor(t *testing.T) {
	f := privateBus(t)
	why := strings.Repeat("\x1b[2J\x1b[H\x1b]0;pwned\x07\r\nkexec-upgrade: switched to 6.6.6\n", 2000)
	f.mu.Lock()
	f.inhibitors = []Inhibitor{{What: "shutdown", Who: "mallory\x1b[8m", Why: why, Mode: "block", UID: 1000, PID: 4242}}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus := connect(ctx, t)
	got, err := bus.Inhibitors(ctx)
	if err != nil {
		t.Fatalf("Inhibitors() error = %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("Inhibitors() = %d inhibitors; want 1", len(got))
	}
	i := got[0]
	if i.Who != "mallory[8m" || i.Mode != "block" || i.What != "shutdown" || i.UID != 1000 || i.PID != 4242 {
		t.Errorf("Inhibitors() = %+v; want who mallory[8m, block, shutdown, uid 1000, pid 4242", i)
	}
	if len(i.Why) > MaxInhibitorText || strings.ContainsAny(i.Why, "\x1b\x07\r\n") || !strings.HasPrefix(i.Why, "[2J[H]0;pwned kexec-upgrade") {
		t.Errorf("Inhibitors() why = %d bytes %.120q…; want one line of at most %d bytes without control characters", len(i.Why), i.Why, MaxInhibitorText)
	}
}
