package fleetlock

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// MachineIDPath is where the machine id MachineID derives from is read.
const MachineIDPath = "/etc/machine-id"

// AppID is kexec-upgrade's fixed application id for app-specific machine ids
// (see machine-id(5) and sd_id128_get_machine_app_specific(3)). It was
// generated once at random and must never change: changing it changes every
// machine's default FleetLock id, so a slot taken before the change could no
// longer be released by the same machine. The shell equivalent of MachineID
// is:
//
//	systemd-id128 --app-specific=c5bc11f7afd34c6b8958cea542576959 machine-id
const AppID = "c5bc11f7afd34c6b8958cea542576959"

// ErrInvalidMachineID is wrapped by MachineID's errors about the content of
// /etc/machine-id.
var ErrInvalidMachineID = errors.New("invalid machine id")

// MachineID derives kexec-upgrade's default FleetLock client id from the
// content of /etc/machine-id (machineIDFileContent), so that the raw machine
// id, which machine-id(5) asks to keep confidential, never leaves the host.
//
// It computes what systemd's sd_id128_get_machine_app_specific() returns for
// AppID: HMAC-SHA256 keyed with the 16 machine-id bytes over the 16 AppID
// bytes, the first 16 bytes of the MAC, with the UUID version set to 4 and the
// variant to RFC 4122, formatted as 32 lowercase hex characters. The result
// is stable for a machine and identical to `systemd-id128 -a AppID
// machine-id`.
//
// Like systemd, it accepts exactly 32 hex characters (either case) optionally
// followed by one newline; it rejects "uninitialized" (the first-boot
// placeholder) and the all-zero id.
func MachineID(machineIDFileContent []byte) (string, error) {
	mid, err := parseMachineID(machineIDFileContent)
	if err != nil {
		return "", err
	}
	app, err := hex.DecodeString(AppID)
	if err != nil || len(app) != 16 {
		return "", fmt.Errorf("fleetlock: bad AppID constant %q", AppID)
	}
	mac := hmac.New(sha256.New, mid[:])
	mac.Write(app)
	sum := mac.Sum(nil)
	var id [16]byte
	copy(id[:], sum)
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // variant RFC 4122 (DCE)
	return hex.EncodeToString(id[:]), nil
}

// parseMachineID validates /etc/machine-id content and returns its 16 bytes.
func parseMachineID(content []byte) ([16]byte, error) {
	var id [16]byte
	s := content
	if n := len(s); n > 0 && s[n-1] == '\n' {
		s = s[:n-1]
	}
	if bytes.Equal(s, []byte("uninitialized")) {
		return id, fmt.Errorf("%w: machine id is %q (first boot not completed)", ErrInvalidMachineID, s)
	}
	if len(s) != 32 {
		return id, fmt.Errorf("%w: want 32 hex characters and an optional newline, got %d bytes", ErrInvalidMachineID, len(content))
	}
	if _, err := hex.Decode(id[:], s); err != nil {
		return id, fmt.Errorf("%w: want 32 hex characters: %w", ErrInvalidMachineID, err)
	}
	if id == ([16]byte{}) {
		return id, fmt.Errorf("%w: machine id is all zeros", ErrInvalidMachineID)
	}
	return id, nil
}
