package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock/fleetlocktest"
)

func TestParse_fleetTLSKeys(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want FleetLock // only URL and the TLS keys are compared
	}{
		{"none", "[fleet_lock]\nurl = \"https://lock\"\n", FleetLock{URL: "https://lock"}},
		{"ca_only", "[fleet_lock]\nurl = \"https://lock\"\nca_file = \"/etc/kexec-upgrade/fleet-ca.pem\"\n",
			FleetLock{URL: "https://lock", CAFile: "/etc/kexec-upgrade/fleet-ca.pem"}},
		{"client_pair", "[fleet_lock]\nurl = \"https://lock\"\nclient_cert = \"/etc/ssl/fleet.crt\"\nclient_key = \"/etc/ssl/private/fleet.key\"\n",
			FleetLock{URL: "https://lock", ClientCert: "/etc/ssl/fleet.crt", ClientKey: "/etc/ssl/private/fleet.key"}},
		{"tls_keys_without_url", "[fleet_lock]\nca_file = \"/ca.pem\"\n", FleetLock{CAFile: "/ca.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(mainName, []byte(tt.toml), time.UTC)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			fl := c.FleetLock
			got := FleetLock{URL: fl.URL, CAFile: fl.CAFile, ClientCert: fl.ClientCert, ClientKey: fl.ClientKey}
			if got != tt.want {
				t.Errorf("Parse().FleetLock = %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestParse_fleetTLSErrors(t *testing.T) {
	tests := []parseErrorCase{
		{"cert_without_key", "[fleet_lock]\nurl = \"https://lock\"\nclient_cert = \"/c.pem\"\n",
			[]string{`/etc/kexec-upgrade/config.toml:3: fleet_lock.client_cert: is set without fleet_lock.client_key; set both or neither`}},
		{"key_without_cert", "[fleet_lock]\nurl = \"https://lock\"\n\nclient_key = \"/k.pem\"\n",
			[]string{`/etc/kexec-upgrade/config.toml:4: fleet_lock.client_key: is set without fleet_lock.client_cert; set both or neither`}},
		{"relative_ca_file", "[fleet_lock]\nurl = \"https://lock\"\nca_file = \"ca.pem\"\n",
			[]string{`/etc/kexec-upgrade/config.toml:3: fleet_lock.ca_file: "ca.pem" is not a clean absolute path`}},
		{"unclean_key_path", "[fleet_lock]\nurl = \"https://lock\"\nclient_cert = \"/c.pem\"\nclient_key = \"/etc/../k.pem\"\n",
			[]string{`/etc/kexec-upgrade/config.toml:4: fleet_lock.client_key: "/etc/../k.pem" is not a clean absolute path`,
				`/etc/kexec-upgrade/config.toml:3: fleet_lock.client_cert: is set without fleet_lock.client_key; set both or neither`}},
		{"ca_file_not_a_string", "[fleet_lock]\nurl = \"https://lock\"\nca_file = 1\n",
			[]string{`/etc/kexec-upgrade/config.toml:3: fleet_lock.ca_file: 1 is not a string`}},
		{"tls_keys_with_plain_http", "[fleet_lock]\nurl = \"HTTP://lock:8080\"\nca_file = \"/ca.pem\"\nclient_cert = \"/c.pem\"\nclient_key = \"/k.pem\"\n",
			[]string{
				`/etc/kexec-upgrade/config.toml:3: fleet_lock.ca_file: has no effect with the plain http:// url HTTP://lock:8080; use an https:// url`,
				`/etc/kexec-upgrade/config.toml:4: fleet_lock.client_cert: has no effect with the plain http:// url HTTP://lock:8080; use an https:// url`,
				`/etc/kexec-upgrade/config.toml:5: fleet_lock.client_key: has no effect with the plain http:// url HTTP://lock:8080; use an https:// url`,
			}},
	}
	checkParseErrors(t, time.UTC, tests)
}

// TestLoad_fleetTLSAcrossFiles: the pair is checked after every file is
// merged, and an error names the file and line that set the lone key.
func TestLoad_fleetTLSAcrossFiles(t *testing.T) {
	main := file{Path: MainFile, Body: "[fleet_lock]\nurl = \"https://lock\"\nclient_cert = \"/c.pem\"\n"}
	root := makeRoot(t, main, file{Path: DropInDir + "/50-key.toml", Body: "[fleet_lock]\nclient_key = \"/k.pem\"\n"})
	c, err := Load(root, ownerOpts())
	if err != nil || c.FleetLock.ClientCert != "/c.pem" || c.FleetLock.ClientKey != "/k.pem" {
		t.Errorf("Load(cert in main, key in drop-in) = %+v, %v; want both keys", c.FleetLock, err)
	}
	root = makeRoot(t, file{Path: DropInDir + "/10-url.toml", Body: "[fleet_lock]\nurl = \"https://lock\"\n"},
		file{Path: DropInDir + "/20-cert.toml", Body: "# the fleet's client certificate\n[fleet_lock]\nclient_cert = \"/c.pem\"\n"})
	_, err = Load(root, ownerOpts())
	want := []string{"/etc/kexec-upgrade/config.d/20-cert.toml:3: fleet_lock.client_cert: is set without fleet_lock.client_key; set both or neither"}
	if got := errorLines(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("Load(cert without key) errors = %q; want %q", got, want)
	}
}

// tlsFiles is a root with a CA bundle and a client pair, and a config that
// names them.
type tlsFiles struct {
	root                   string
	ca, otherCA            *fleetlocktest.PKI
	caPEM, certPEM, keyPEM string // paths as the config names them
}

func newTLSFiles(t *testing.T) tlsFiles {
	t.Helper()
	now := time.Date(2026, 3, 28, 2, 30, 0, 0, time.UTC)
	ca, err := fleetlocktest.NewPKI("fleet CA", now)
	if err != nil {
		t.Fatal(err)
	}
	other, err := fleetlocktest.NewPKI("other CA", now)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue("web-17", false)
	if err != nil {
		t.Fatal(err)
	}
	f := tlsFiles{root: t.TempDir(), ca: ca, otherCA: other,
		caPEM: "/etc/kexec-upgrade/fleet-ca.pem", certPEM: "/etc/kexec-upgrade/fleet.crt", keyPEM: "/etc/kexec-upgrade/fleet.key"}
	f.write(t, f.caPEM, ca.CAPEM, 0o644)
	f.write(t, f.certPEM, cert, 0o644)
	f.write(t, f.keyPEM, key, 0o600)
	return f
}

func (f tlsFiles) write(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(f.root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// config parses a [fleet_lock] with the given keys set.
func (f tlsFiles) config(t *testing.T, ca, cert, key string) FleetLock {
	t.Helper()
	doc := "[fleet_lock]\nurl = \"https://lock.example\"\n"
	for _, kv := range [][2]string{{"ca_file", ca}, {"client_cert", cert}, {"client_key", key}} {
		if kv[1] != "" {
			doc += kv[0] + " = \"" + kv[1] + "\"\n"
		}
	}
	c, err := Parse(mainName, []byte(doc), time.UTC)
	if err != nil {
		t.Fatalf("Parse(%q): %v", doc, err)
	}
	return c.FleetLock
}

func TestFleetLockTLSConfig(t *testing.T) {
	f := newTLSFiles(t)
	t.Run("nothing_set_is_nil", func(t *testing.T) {
		cfg, err := f.config(t, "", "", "").TLSConfig(f.root, ownerOpts())
		if cfg != nil || err != nil {
			t.Errorf("TLSConfig() = %v, %v; want nil, nil", cfg, err)
		}
	})
	t.Run("ca_and_client_pair", func(t *testing.T) {
		cfg, err := f.config(t, f.caPEM, f.certPEM, f.keyPEM).TLSConfig(f.root, ownerOpts())
		if err != nil || cfg == nil || cfg.RootCAs == nil || len(cfg.Certificates) != 1 {
			t.Fatalf("TLSConfig() = %+v, %v; want the CA as the only roots and one client certificate", cfg, err)
		}
		if !cfg.RootCAs.Equal(f.ca.Pool()) {
			t.Errorf("TLSConfig().RootCAs is not the CA bundle alone")
		}
	})
	t.Run("symlink_to_a_bundle_followed", func(t *testing.T) {
		if err := os.Symlink("fleet-ca.pem", filepath.Join(f.root, "etc/kexec-upgrade/ca-link.pem")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.config(t, "/etc/kexec-upgrade/ca-link.pem", "", "").TLSConfig(f.root, ownerOpts()); err != nil {
			t.Errorf("TLSConfig(ca_file a symlink to a root-owned bundle) error = %v; want none", err)
		}
	})

	fifo := "/etc/kexec-upgrade/fifo.pem"
	if err := unix.Mkfifo(filepath.Join(f.root, fifo), 0o644); err != nil {
		t.Fatal(err)
	}
	f.write(t, "/etc/kexec-upgrade/garbage.pem", []byte("not PEM at all\n"), 0o644)
	f.write(t, "/etc/kexec-upgrade/empty.pem", []byte("\n"), 0o644)
	f.write(t, "/etc/kexec-upgrade/writable.pem", f.ca.CAPEM, 0o666)
	f.write(t, "/etc/kexec-upgrade/readable.key", []byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"), 0o644)
	otherCert, _, err := f.otherCA.Issue("stranger", false)
	if err != nil {
		t.Fatal(err)
	}
	f.write(t, "/etc/kexec-upgrade/other.crt", otherCert, 0o644)

	tests := []struct {
		name          string
		ca, cert, key string
		want          string
	}{
		{"ca_missing", "/etc/kexec-upgrade/absent.pem", "", "",
			"/etc/kexec-upgrade/config.toml:3: fleet_lock.ca_file: /etc/kexec-upgrade/absent.pem: no such file or directory"},
		{"ca_a_fifo", fifo, "", "",
			"/etc/kexec-upgrade/config.toml:3: fleet_lock.ca_file: /etc/kexec-upgrade/fifo.pem is a FIFO (named pipe), not a regular file"},
		{"ca_a_directory", "/etc/kexec-upgrade", "", "",
			"/etc/kexec-upgrade/config.toml:3: fleet_lock.ca_file: /etc/kexec-upgrade is a directory, not a regular file"},
		{"ca_not_pem", "/etc/kexec-upgrade/garbage.pem", "", "",
			"/etc/kexec-upgrade/config.toml:3: fleet_lock.ca_file: /etc/kexec-upgrade/garbage.pem: CA bundle: no PEM certificate in it"},
		{"ca_empty", "/etc/kexec-upgrade/empty.pem", "", "",
			"/etc/kexec-upgrade/config.toml:3: fleet_lock.ca_file: /etc/kexec-upgrade/empty.pem is empty"},
		{"ca_writable_by_others", "/etc/kexec-upgrade/writable.pem", "", "",
			"/etc/kexec-upgrade/config.toml:3: fleet_lock.ca_file: /etc/kexec-upgrade/writable.pem: mode 0666 is writable by group or others (chmod go-w)"},
		{"key_readable_by_others", "", f.certPEM, "/etc/kexec-upgrade/readable.key",
			"/etc/kexec-upgrade/config.toml:4: fleet_lock.client_key: /etc/kexec-upgrade/readable.key: mode 0644 lets every user read the private key (chmod o-r)"},
		{"key_of_another_certificate", "", "/etc/kexec-upgrade/other.crt", f.keyPEM,
			"/etc/kexec-upgrade/config.toml:3: fleet_lock.client_cert: /etc/kexec-upgrade/other.crt with /etc/kexec-upgrade/fleet.key: client certificate and key: tls: private key does not match public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fl := f.config(t, tt.ca, tt.cert, tt.key)
			var cfgErr error
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, cfgErr = fl.TLSConfig(f.root, ownerOpts())
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("TLSConfig() has not returned after 10s")
			}
			if !errors.Is(cfgErr, ErrInvalid) {
				t.Fatalf("TLSConfig() error = %v; want config Errors", cfgErr)
			}
			if got := strings.Join(errorLines(t, cfgErr), "\n"); got != tt.want {
				t.Errorf("TLSConfig() error =\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
	t.Run("wrong_owner", func(t *testing.T) {
		opt := ownerOpts()
		opt.Owner++
		_, err := f.config(t, f.caPEM, "", "").TLSConfig(f.root, opt)
		if err == nil || !strings.Contains(err.Error(), "is owned by uid") {
			t.Errorf("TLSConfig(files of another owner) error = %v; want one naming the owner", err)
		}
	})
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name, toml string
		want       []string
	}{
		{"no_fleet_lock", "", nil},
		{"https", "[fleet_lock]\nurl = \"https://lock.example\"\n", nil},
		{"plain_http", "[fleet_lock]\nurl = \"http://lock.example:8080/\"\n",
			[]string{"fleet_lock.url http://lock.example:8080/ is plain HTTP: anyone on the network path can grant or withhold reboot slots; use https:// (ca_file for a private CA)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(mainName, []byte(tt.toml), time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Warnings(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Warnings() = %q; want %q", got, tt.want)
			}
		})
	}
}
