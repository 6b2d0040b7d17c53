package fleetlock

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// ErrTLSConfig is matched by every error of TLSConfig.
var ErrTLSConfig = errors.New("invalid FleetLock TLS settings")

// TLSConfig builds the TLS settings of a client from PEM data; it is pure.
//
// caPEM, when not empty, holds the certificates of the CAs that a server's
// certificate must chain to; they replace the system's pool, so that a
// fleet on a private CA trusts that CA only. Empty caPEM means the
// system's pool. Every PEM block of caPEM must be a parseable CERTIFICATE.
//
// certPEM and keyPEM, both or neither, are the client certificate (with its
// chain, leaf first) and its private key, presented to a server that asks
// for one (mutual TLS).
//
// The result asks for TLS 1.2 or later. It is nil when every argument is
// empty: the client's defaults apply.
func TLSConfig(caPEM, certPEM, keyPEM []byte) (*tls.Config, error) {
	if len(caPEM) == 0 && len(certPEM) == 0 && len(keyPEM) == 0 {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool, err := certPool(caPEM)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	switch {
	case len(certPEM) > 0 && len(keyPEM) > 0:
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%w: client certificate and key: %w", ErrTLSConfig, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case len(certPEM) > 0:
		return nil, fmt.Errorf("%w: a client certificate without its key", ErrTLSConfig)
	case len(keyPEM) > 0:
		return nil, fmt.Errorf("%w: a client key without its certificate", ErrTLSConfig)
	}
	return cfg, nil
}

// certPool parses every PEM block of data as a CA certificate. Unlike
// x509.CertPool.AppendCertsFromPEM, which skips what it cannot parse, it
// says what is wrong.
func certPool(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%w: CA bundle: PEM block %d is %q, not a CERTIFICATE", ErrTLSConfig, n, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: CA bundle: certificate %d: %w", ErrTLSConfig, n, err)
		}
		pool.AddCert(cert)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: CA bundle: no PEM certificate in it", ErrTLSConfig)
	}
	return pool, nil
}
