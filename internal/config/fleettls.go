package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kexec-upgrade/kexec-upgrade/internal/fleetlock"
)

// PlainHTTP reports whether the FleetLock server is reached over plain
// http://, where anyone on the network path can grant or withhold reboot
// slots.
func (fl FleetLock) PlainHTTP() bool {
	base, err := fleetlock.NormalizeBaseURL(fl.URL)
	return err == nil && strings.HasPrefix(base, "http://")
}

// tlsSet reports whether any TLS key is set.
func (fl FleetLock) tlsSet() bool {
	return fl.CAFile != "" || fl.ClientCert != "" || fl.ClientKey != ""
}

// check finds what is wrong with the merged [fleet_lock] keys: a client
// certificate without its key (or the reverse), and TLS keys that a plain
// http:// URL would silently ignore.
func (fl FleetLock) check() Errors {
	var errs Errors
	switch {
	case fl.ClientCert != "" && fl.ClientKey == "":
		errs = append(errs, &Error{File: fl.certSrc.file, Line: fl.certSrc.line, Key: "fleet_lock.client_cert",
			Msg: "is set without fleet_lock.client_key; set both or neither"})
	case fl.ClientKey != "" && fl.ClientCert == "":
		errs = append(errs, &Error{File: fl.keySrc.file, Line: fl.keySrc.line, Key: "fleet_lock.client_key",
			Msg: "is set without fleet_lock.client_cert; set both or neither"})
	}
	if fl.PlainHTTP() {
		for _, k := range fl.tlsKeys() {
			errs = append(errs, &Error{File: k.src.file, Line: k.src.line, Key: k.name,
				Msg: fmt.Sprintf("has no effect with the plain http:// url %s; use an https:// url", fl.URL)})
		}
	}
	return errs
}

// tlsKey is one TLS key that is set.
type tlsKey struct {
	name, path string
	src        keySource
	secret     bool
}

func (fl FleetLock) tlsKeys() []tlsKey {
	var keys []tlsKey
	for _, k := range []tlsKey{
		{name: "fleet_lock.ca_file", path: fl.CAFile, src: fl.caSrc},
		{name: "fleet_lock.client_cert", path: fl.ClientCert, src: fl.certSrc},
		{name: "fleet_lock.client_key", path: fl.ClientKey, src: fl.keySrc, secret: true},
	} {
		if k.path != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// TLSConfig reads the files that ca_file, client_cert and client_key name,
// under root, and returns the FleetLock client's TLS settings (see
// fleetlock.TLSConfig); nil when none of the keys is set. Each file must be
// a regular file (a symbolic link to one is fine: /etc/ssl/certs is made of
// them) owned by opt.Owner and not writable by group or others, and the
// private key not readable by others either: they decide whom root trusts.
// Errors are Errors naming the configuration file, line and key.
func (fl FleetLock) TLSConfig(root string, opt Options) (*tls.Config, error) {
	if !fl.tlsSet() {
		return nil, nil
	}
	if errs := fl.check(); len(errs) > 0 {
		return nil, errs
	}
	var errs Errors
	data := make(map[string][]byte)
	for _, k := range fl.tlsKeys() {
		b, err := readPEMFile(root, k.path, opt.Owner, k.secret)
		if err != nil {
			errs = append(errs, &Error{File: k.src.file, Line: k.src.line, Key: k.name, Msg: err.Error()})
			continue
		}
		data[k.name] = b
	}
	if len(errs) > 0 {
		return nil, errs
	}
	ca, cert, key := data["fleet_lock.ca_file"], data["fleet_lock.client_cert"], data["fleet_lock.client_key"]
	// Each half on its own first, so that an error names the right key.
	if ca != nil {
		if _, err := fleetlock.TLSConfig(ca, nil, nil); err != nil {
			errs = append(errs, &Error{File: fl.caSrc.file, Line: fl.caSrc.line, Key: "fleet_lock.ca_file", Msg: fl.CAFile + ": " + tlsMsg(err)})
		}
	}
	if cert != nil {
		if _, err := fleetlock.TLSConfig(nil, cert, key); err != nil {
			errs = append(errs, &Error{File: fl.certSrc.file, Line: fl.certSrc.line, Key: "fleet_lock.client_cert",
				Msg: fl.ClientCert + " with " + fl.ClientKey + ": " + tlsMsg(err)})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	cfg, err := fleetlock.TLSConfig(ca, cert, key)
	if err != nil {
		return nil, Errors{{File: fl.caSrc.file, Line: fl.caSrc.line, Key: "fleet_lock", Msg: tlsMsg(err)}}
	}
	return cfg, nil
}

// tlsMsg drops the sentinel's words from a fleetlock.TLSConfig error: the
// key already says what it is about.
func tlsMsg(err error) string {
	return strings.TrimPrefix(err.Error(), fleetlock.ErrTLSConfig.Error()+": ")
}

// readPEMFile reads a certificate or key file under root. The checks come
// from stat before any open (opening a device can have effects) and again
// from fstat of what was opened; O_NONBLOCK keeps a FIFO swapped in between
// from blocking the open.
func readPEMFile(root, path string, owner int, secret bool) ([]byte, error) {
	full := filepath.Join(root, path)
	fi, err := os.Stat(full)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	if err := checkPEMInfo(path, fi, owner, secret); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(full, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := checkPEMInfo(path, fi, owner, secret); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxFileBytes)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return data, nil
}

func checkPEMInfo(path string, fi fs.FileInfo, owner int, secret bool) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is %s, not a regular file", path, fileKind(fi.Mode()))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != owner {
		return fmt.Errorf("%s is owned by uid %d, not %d (chown root: it decides whom root trusts)", path, st.Uid, owner)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s: mode %04o is writable by group or others (chmod go-w)", path, fi.Mode().Perm())
	}
	if secret && fi.Mode().Perm()&0o004 != 0 {
		return fmt.Errorf("%s: mode %04o lets every user read the private key (chmod o-r)", path, fi.Mode().Perm())
	}
	return nil
}

// unwrapPath keeps the reason of a *fs.PathError: the caller names the
// path as the admin wrote it, not as it is under a test root.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Warnings lists what an admin should know about a valid configuration
// that does not make it invalid, one line each.
func (c Config) Warnings() []string {
	var w []string
	if c.FleetLock.PlainHTTP() {
		w = append(w, fmt.Sprintf("fleet_lock.url %s is plain HTTP: anyone on the network path can grant or withhold reboot slots; use https:// (ca_file for a private CA)", c.FleetLock.URL))
	}
	return w
}
