package fleetlock

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock/fleetlocktest"
)

// newPKI creates a throwaway CA whose certificates are valid now.
func newPKI(t *testing.T, name string) *fleetlocktest.PKI {
	t.Helper()
	p, err := fleetlocktest.NewPKI(name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func issue(t *testing.T, p *fleetlocktest.PKI, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	c, k, err := p.Issue(name, false)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

// startTLSServer serves a FleetLock test server over TLS with a certificate
// from serverCA, requiring a client certificate from clientCA when it is
// not nil.
func startTLSServer(t *testing.T, serverCA, clientCA *fleetlocktest.PKI) (*httptest.Server, *fleetlocktest.Server) {
	t.Helper()
	fl := fleetlocktest.New(fleetlocktest.Airlock, 1)
	hs, err := serverCA.StartTLS(fl, clientCA)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeServer(t, hs) })
	return hs, fl
}

func TestTLSServers(t *testing.T) {
	fleetCA := newPKI(t, "fleet CA")
	otherCA := newPKI(t, "other CA")
	clientCA := newPKI(t, "fleet client CA")
	goodCert, goodKey := issue(t, clientCA, me)
	strangerCert, strangerKey := issue(t, otherCA, me)

	tests := []struct {
		name string
		// mutual makes the server require a client certificate of clientCA.
		mutual           bool
		ca, cert, key    []byte
		wantOK           bool
		wantErrSubstring string
	}{
		{name: "private_ca_trusted", ca: fleetCA.CAPEM, wantOK: true},
		{name: "private_ca_not_in_the_system_pool", wantErrSubstring: "certificate"},
		{name: "ca_file_replaces_the_pool", ca: otherCA.CAPEM, wantErrSubstring: "certificate"},
		{name: "bundle_with_the_right_ca_second", ca: append(append([]byte{}, otherCA.CAPEM...), fleetCA.CAPEM...), wantOK: true},
		{name: "client_certificate_accepted", mutual: true, ca: fleetCA.CAPEM, cert: goodCert, key: goodKey, wantOK: true},
		{name: "client_certificate_missing", mutual: true, ca: fleetCA.CAPEM, wantErrSubstring: "certificate"},
		{name: "client_certificate_of_another_ca", mutual: true, ca: fleetCA.CAPEM, cert: strangerCert, key: strangerKey, wantErrSubstring: "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var clients *fleetlocktest.PKI
			if tt.mutual {
				clients = clientCA
			}
			hs, fl := startTLSServer(t, fleetCA, clients)
			cfg, err := TLSConfig(tt.ca, tt.cert, tt.key)
			if err != nil {
				t.Fatalf("TLSConfig() error = %v", err)
			}
			c, err := NewTLS(hs.URL, grp, me, 5*time.Second, cfg)
			if err != nil {
				t.Fatalf("NewTLS(%s) error = %v", hs.URL, err)
			}
			ans, err := bounded(t, c.PreReboot, context.Background())
			if tt.wantOK {
				if err != nil || !(ans.Status == http.StatusOK && ans.Error == "") {
					t.Fatalf("PreReboot() = %+v, %v; want the slot", ans, err)
				}
				if got := fl.Holders(grp); len(got) != 1 || got[0] != me {
					t.Errorf("server holders = %q; want [%s]", got, me)
				}
				return
			}
			if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), tt.wantErrSubstring) {
				t.Fatalf("PreReboot() error = %v; want ErrUnreachable mentioning %q", err, tt.wantErrSubstring)
			}
			if got := fl.Holders(grp); len(got) != 0 {
				t.Errorf("server holders = %q; want none: the request must not get through", got)
			}
		})
	}
}

func TestTLSConfig(t *testing.T) {
	ca := newPKI(t, "fleet CA")
	cert, key := issue(t, ca, me)
	_, otherKey := issue(t, ca, "someone else")
	tests := []struct {
		name           string
		ca, cert, key  []byte
		wantNil        bool
		wantRoots      bool
		wantClientCert bool
		wantErr        string
	}{
		{name: "nothing_set_means_defaults", wantNil: true},
		{name: "ca_only", ca: ca.CAPEM, wantRoots: true},
		{name: "client_pair_only", cert: cert, key: key, wantClientCert: true},
		{name: "all", ca: ca.CAPEM, cert: cert, key: key, wantRoots: true, wantClientCert: true},
		{name: "ca_not_pem", ca: []byte("not a certificate\n"), wantErr: "no PEM certificate"},
		{name: "ca_bundle_with_a_key", ca: append(append([]byte{}, ca.CAPEM...), key...), wantErr: `PEM block 2 is "PRIVATE KEY"`},
		{name: "ca_garbled", ca: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), wantErr: "certificate 1"},
		{name: "cert_without_key", cert: cert, wantErr: "without its key"},
		{name: "key_without_cert", key: key, wantErr: "without its certificate"},
		{name: "key_of_another_cert", cert: cert, key: otherKey, wantErr: "client certificate and key"},
		{name: "cert_and_key_swapped", cert: key, key: cert, wantErr: "client certificate and key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := TLSConfig(tt.ca, tt.cert, tt.key)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrTLSConfig) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("TLSConfig() error = %v; want ErrTLSConfig containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("TLSConfig() error = %v", err)
			}
			if tt.wantNil {
				if cfg != nil {
					t.Fatalf("TLSConfig() = %+v; want nil", cfg)
				}
				return
			}
			if cfg.MinVersion < tls.VersionTLS12 || (cfg.RootCAs != nil) != tt.wantRoots || (len(cfg.Certificates) == 1) != tt.wantClientCert {
				t.Errorf("TLSConfig() = min %x, roots %v, %d client certificates; want min TLS 1.2, roots %v, client certificate %v",
					cfg.MinVersion, cfg.RootCAs != nil, len(cfg.Certificates), tt.wantRoots, tt.wantClientCert)
			}
		})
	}
}

func TestNewTLSNeedsHTTPS(t *testing.T) {
	ca := newPKI(t, "fleet CA")
	cfg, err := TLSConfig(ca.CAPEM, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewTLS("http://lock.example:8080", grp, me, time.Second, cfg); err == nil || !strings.Contains(err.Error(), "https://") {
		t.Errorf("NewTLS(http://…, TLS settings) error = %v; want one asking for https://", err)
	}
	if _, err := NewTLS("http://lock.example:8080", grp, me, time.Second, nil); err != nil {
		t.Errorf("NewTLS(http://…, nil) error = %v; want none", err)
	}
}

func FuzzTLSConfig(f *testing.F) {
	ca, err := fleetlocktest.NewPKI("fuzz CA", time.Date(2026, 3, 28, 2, 30, 0, 0, time.UTC))
	if err != nil {
		f.Fatal(err)
	}
	cert, key, err := ca.Issue("fuzz client", false)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ca.CAPEM, cert, key)
	f.Add([]byte{}, cert, key)
	f.Add(ca.CAPEM, []byte{}, []byte{})
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), key, cert)
	f.Add(append(append([]byte{}, ca.CAPEM...), key...), []byte("x"), []byte{})
	f.Fuzz(func(t *testing.T, caPEM, certPEM, keyPEM []byte) {
		cfg, err := TLSConfig(caPEM, certPEM, keyPEM)
		if err != nil {
			if !errors.Is(err, ErrTLSConfig) || cfg != nil {
				t.Fatalf("TLSConfig() = %v, %v; want nil and an error matching ErrTLSConfig", cfg, err)
			}
			return
		}
		none := len(caPEM) == 0 && len(certPEM) == 0 && len(keyPEM) == 0
		if (cfg == nil) != none {
			t.Fatalf("TLSConfig() = %v; want nil exactly when nothing is given", cfg)
		}
		if none {
			return
		}
		if cfg.MinVersion < tls.VersionTLS12 {
			t.Fatalf("TLSConfig().MinVersion = %x; want TLS 1.2 or later", cfg.MinVersion)
		}
		// A CA bundle given is the only trust; a client pair is both halves.
		if (cfg.RootCAs != nil) != (len(caPEM) > 0) {
			t.Fatalf("TLSConfig() RootCAs set = %v with %d bytes of CA", cfg.RootCAs != nil, len(caPEM))
		}
		if (len(cfg.Certificates) == 1) != (len(certPEM) > 0 && len(keyPEM) > 0) {
			t.Fatalf("TLSConfig() has %d client certificates with %d/%d bytes of certificate/key", len(cfg.Certificates), len(certPEM), len(keyPEM))
		}
	})
}
