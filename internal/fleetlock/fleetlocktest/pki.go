package fleetlocktest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"time"
)

// PKI is a throwaway certificate authority for tests of FleetLock over TLS:
// it issues server certificates for the loopback addresses and client
// certificates, all valid for a day around the time it was created at.
type PKI struct {
	// CAPEM is the CA's certificate, PEM-encoded (what ca_file holds).
	CAPEM []byte

	ca     *x509.Certificate
	key    *ecdsa.PrivateKey
	now    time.Time
	serial int64
}

// NewPKI creates a CA named name whose certificates are valid from an hour
// before now to a day after.
func NewPKI(name string, now time.Time) (*PKI, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("fleetlocktest: CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("fleetlocktest: CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("fleetlocktest: CA certificate: %w", err)
	}
	return &PKI{CAPEM: pemBlock("CERTIFICATE", der), ca: ca, key: key, now: now, serial: 1}, nil
}

// Pool returns a pool holding the CA.
func (p *PKI) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return pool
}

// Issue returns a certificate signed by the CA and its key, both
// PEM-encoded. A server certificate is valid for 127.0.0.1, ::1 and
// localhost; a client certificate for client authentication.
func (p *PKI) Issue(commonName string, server bool) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("fleetlocktest: key for %s: %w", commonName, err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    p.now.Add(-time.Hour),
		NotAfter:     p.now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		return nil, nil, fmt.Errorf("fleetlocktest: certificate for %s: %w", commonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("fleetlocktest: key for %s: %w", commonName, err)
	}
	return pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", keyDER), nil
}

// serverTLS returns the TLS settings of a test server with a certificate
// the CA issued. With clients non-nil the server requires a client
// certificate that clients issued.
func (p *PKI) serverTLS(clients *PKI) (*tls.Config, error) {
	certPEM, keyPEM, err := p.Issue("fleetlock server", true)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("fleetlocktest: server key pair: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if clients != nil {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = clients.Pool()
	}
	return cfg, nil
}

// StartTLS serves h on a loopback httptest server over TLS with a
// certificate the CA issued; with clients non-nil the server requires a
// client certificate that clients issued. The caller closes the server.
func (p *PKI) StartTLS(h http.Handler, clients *PKI) (*httptest.Server, error) {
	cfg, err := p.serverTLS(clients)
	if err != nil {
		return nil, err
	}
	hs := httptest.NewUnstartedServer(h)
	hs.TLS = cfg
	hs.StartTLS()
	return hs, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
