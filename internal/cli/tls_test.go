package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock/fleetlocktest"
)

const plainHTTPWarning = "fleet_lock.url http://lock.example:8080 is plain HTTP: anyone on the network path can grant or withhold reboot slots; use https:// (ca_file for a private CA)"

func TestCheckConfigWarnings(t *testing.T) {
	tests := []struct {
		name   string
		config string
		// want is the exact JSON line: warnings appear only when there are some.
		want string
	}{
		{
			name:   "plain_http_warns",
			config: "[fleet_lock]\nurl = \"http://lock.example:8080\"\n",
			want:   `{"valid":true,"next_windows":[],"warnings":["` + plainHTTPWarning + `"]}`,
		},
		{
			name:   "https_no_warnings_key",
			config: "[fleet_lock]\nurl = \"https://lock.example\"\n",
			want:   `{"valid":true,"next_windows":[]}`,
		},
		{
			name:   "contract_shape_unchanged",
			config: contractWindow,
			want: `{"valid":true,"next_windows":[{"start":"2026-03-29T02:00:00Z","end":"2026-03-29T04:00:00Z"},` +
				`{"start":"2026-04-04T02:00:00Z","end":"2026-04-04T04:00:00Z"},{"start":"2026-04-05T02:00:00Z","end":"2026-04-05T04:00:00Z"},` +
				`{"start":"2026-04-11T02:00:00Z","end":"2026-04-11T04:00:00Z"},{"start":"2026-04-12T02:00:00Z","end":"2026-04-12T04:00:00Z"}]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := configRoot(t, map[string]string{"etc/kexec-upgrade/config.toml": tc.config})
			stdout, stderr, code := runCLI(t, ownedByTester, "check-config", "--root", root, "--at", "2026-03-29T00:30:00Z", "--json")
			if code != ExitOK || stdout != tc.want+"\n" {
				t.Errorf("check-config --json = %d %q (stderr %q); want 0 and\n%s", code, stdout, stderr, tc.want)
			}
		})
	}
	t.Run("text_says_it_on_one_line", func(t *testing.T) {
		root := configRoot(t, map[string]string{"etc/kexec-upgrade/config.toml": tests[0].config})
		stdout, _, code := runCLI(t, ownedByTester, "check-config", "--root", root)
		if code != ExitOK || !strings.Contains(stdout, "\nwarning: "+plainHTTPWarning+"\n") {
			t.Errorf("check-config = %d:\n%s\nwant 0 and the line %q", code, stdout, "warning: "+plainHTTPWarning)
		}
	})
}

// pkiFiles writes a CA bundle and a client certificate and key under root,
// as an admin would, and returns the CA.
func pkiFiles(t *testing.T, root string) (serverCA, clientCA *fleetlocktest.PKI) {
	t.Helper()
	serverCA, err := fleetlocktest.NewPKI("fleet CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	clientCA, err = fleetlocktest.NewPKI("fleet client CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := clientCA.Issue("web-17", false)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, root, map[string]string{
		"etc/kexec-upgrade/fleet-ca.pem": string(serverCA.CAPEM),
		"etc/kexec-upgrade/fleet.crt":    string(cert),
		"etc/kexec-upgrade/fleet.key":    string(key),
	})
	if err := os.Chmod(filepath.Join(root, "etc/kexec-upgrade/fleet.key"), 0o600); err != nil {
		t.Fatal(err)
	}
	return serverCA, clientCA
}

const tlsKeys = "ca_file = \"/etc/kexec-upgrade/fleet-ca.pem\"\nclient_cert = \"/etc/kexec-upgrade/fleet.crt\"\nclient_key = \"/etc/kexec-upgrade/fleet.key\"\n"

func TestCheckConfigReadsTLSFiles(t *testing.T) {
	root := configRoot(t, nil)
	pkiFiles(t, root)
	config := "[fleet_lock]\nurl = \"https://lock.example\"\n" + tlsKeys
	writeFiles(t, root, map[string]string{"etc/kexec-upgrade/config.toml": config})
	stdout, stderr, code := runCLI(t, ownedByTester, "check-config", "--root", root, "--json")
	if code != ExitOK || !strings.HasPrefix(stdout, `{"valid":true`) {
		t.Fatalf("check-config with good TLS files = %d %q %q; want valid", code, stdout, stderr)
	}

	writeFiles(t, root, map[string]string{"etc/kexec-upgrade/fleet-ca.pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"})
	stdout, _, code = runCLI(t, ownedByTester, "check-config", "--root", root, "--json")
	var got struct {
		Valid  bool     `json:"valid"`
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("check-config --json printed %q: %v", stdout, err)
	}
	want := "/etc/kexec-upgrade/config.toml:3: fleet_lock.ca_file: /etc/kexec-upgrade/fleet-ca.pem: CA bundle: certificate 1: "
	if code != ExitError || got.Valid || len(got.Errors) != 1 || !strings.HasPrefix(got.Errors[0], want) {
		t.Errorf("check-config with a garbled CA bundle = %d %+v; want exit 1 and one error starting %q", code, got, want)
	}

	writeFiles(t, root, map[string]string{"etc/kexec-upgrade/config.toml": "[fleet_lock]\nurl = \"https://lock.example\"\nclient_cert = \"/etc/kexec-upgrade/fleet.crt\"\n"})
	_, stderr, code = runCLI(t, ownedByTester, "check-config", "--root", root)
	if want := "kexec-upgrade: /etc/kexec-upgrade/config.toml:3: fleet_lock.client_cert: is set without fleet_lock.client_key; set both or neither"; code != ExitError || !strings.Contains(stderr, want) {
		t.Errorf("check-config with a certificate without its key = %d %q; want exit 1 and %q", code, stderr, want)
	}
}

func TestStatusWarnsAboutFleetTransport(t *testing.T) {
	t.Run("plain_http", func(t *testing.T) {
		root := fixtureRoot(t, "debian_cloud", fleetFiles())
		stdout, _, code := runCLI(t, (&fakeEnv{}).adjust, "status", "--root", root, "--json")
		var s jsonStatus
		if err := json.Unmarshal([]byte(stdout), &s); err != nil || code != ExitOK {
			t.Fatalf("status --json = %d %v", code, err)
		}
		if !slices.Contains(s.Warnings, plainHTTPWarning) {
			t.Errorf("status --json warnings = %q; want %q", s.Warnings, plainHTTPWarning)
		}
		text, _, _ := runCLI(t, (&fakeEnv{}).adjust, "status", "--root", root)
		if !strings.Contains(text, "Warning:      "+plainHTTPWarning+"\n") {
			t.Errorf("status does not warn about plain HTTP:\n%s", text)
		}
	})
	t.Run("unusable_tls_files", func(t *testing.T) {
		root := fixtureRoot(t, "debian_cloud", map[string]string{
			"etc/kexec-upgrade/config.toml": "[fleet_lock]\nurl = \"https://lock.example\"\nca_file = \"/etc/kexec-upgrade/absent.pem\"\n",
		})
		stdout, _, code := runCLI(t, (&fakeEnv{}).adjust, "status", "--root", root, "--json")
		var s jsonStatus
		if err := json.Unmarshal([]byte(stdout), &s); err != nil || code != ExitOK {
			t.Fatalf("status --json = %d %v", code, err)
		}
		want := "the fleet lock's TLS settings cannot be used, so switches wait: /etc/kexec-upgrade/config.toml:3: fleet_lock.ca_file: /etc/kexec-upgrade/absent.pem: no such file or directory"
		if !slices.Contains(s.Warnings, want) {
			t.Errorf("status --json warnings = %q; want %q", s.Warnings, want)
		}
	})
}

// TestRunTakesSlotOverMutualTLS: a run takes its slot from an https://
// server on a private CA that requires a client certificate, with the
// files the configuration names; without ca_file it cannot, and does not
// switch.
func TestRunTakesSlotOverMutualTLS(t *testing.T) {
	tests := []struct {
		name      string
		keys      string
		wantSlot  bool
		wantInOut string
	}{
		{name: "ca_and_client_certificate", keys: tlsKeys, wantSlot: true, wantInOut: "kexec.target queued"},
		{name: "system_pool_does_not_know_the_ca", keys: "", wantInOut: "certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := fixtureRoot(t, "debian_cloud", nil)
			serverCA, clientCA := pkiFiles(t, root)
			fl := fleetlocktest.New(fleetlocktest.Airlock, 1)
			hs, err := serverCA.StartTLS(fl, clientCA)
			if err != nil {
				t.Fatal(err)
			}
			defer hs.Close()
			writeFiles(t, root, map[string]string{"etc/kexec-upgrade/config.toml": "min_uptime = \"0s\"\n" + contractWindow +
				"\n[fleet_lock]\nurl = \"" + hs.URL + "\"\ngroup = \"web\"\nid = \"web-17\"\n" + tc.keys})
			f := &fakeEnv{}
			stdout, stderr, code := runCLI(t, f.adjust, "run", "--root", root)
			if code != ExitOK || !strings.Contains(stdout, tc.wantInOut) {
				t.Errorf("run = %d, stdout %q, stderr %q; want 0 and %q", code, stdout, stderr, tc.wantInOut)
			}
			if holders := fl.Holders("web"); (len(holders) == 1 && holders[0] == "web-17") != tc.wantSlot {
				t.Errorf("the server's holders = %q; want web-17 holding the slot: %v", holders, tc.wantSlot)
			}
			if f.started != tc.wantSlot {
				t.Errorf("kexec.target started = %v; want %v", f.started, tc.wantSlot)
			}
		})
	}
}
