package fleetlock

import "time"

// New is NewTLS without TLS settings, as the tests build most clients.
func New(rawURL, group, id string, timeout time.Duration) (*Client, error) {
	return NewTLS(rawURL, group, id, timeout, nil)
}
