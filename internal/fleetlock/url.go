package fleetlock

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// NormalizeBaseURL validates a FleetLock base URL and returns it in canonical
// form, to which the endpoint paths (PreRebootPath, SteadyStatePath) are
// appended.
//
// Rules:
//   - surrounding white space is ignored;
//   - the scheme must be http or https, a host is required, and a port, if
//     given, must be 1-65535;
//   - user info (user:password@), a query and a fragment are rejected: the
//     protocol has no use for them and credentials would end up in logs and
//     in the status output;
//   - "." and ".." path segments are rejected rather than resolved;
//   - trailing slashes are removed, so "https://h/lock/", "https://h/lock"
//     and "https://h/lock//" all give "https://h/lock", and "https://h/"
//     gives "https://h"; the rest of the path is kept as written.
//
// The base URL is the prefix the FleetLock server is mounted at, exactly as
// Zincati's base_url: "/v1/..." is always appended. A base path that already
// ends in "/v1" is NOT special: "https://h/v1" gives the endpoint
// "https://h/v1/v1/pre-reboot". (Unlike Zincati, which resolves "v1/pre-reboot"
// relative to the base URL and so silently drops the last path segment of a
// base URL that lacks a trailing slash, this function never loses a segment.)
func NormalizeBaseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", fmt.Errorf("fleetlock URL is empty")
	}
	if strings.ContainsAny(raw, "?#") {
		return "", fmt.Errorf("fleetlock URL %q: query and fragment are not supported", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("fleetlock URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("fleetlock URL %q: scheme must be http or https", raw)
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("fleetlock URL %q: host is missing", raw)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("fleetlock URL %q: invalid port %q", raw, port)
		}
	}
	if u.User != nil {
		return "", fmt.Errorf("fleetlock URL %q: user info (credentials) is not supported", raw)
	}
	p := strings.TrimRight(u.EscapedPath(), "/")
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return "", fmt.Errorf("fleetlock URL %q: path must not contain %q segments", raw, seg)
		}
	}
	return u.Scheme + "://" + u.Host + p, nil
}
