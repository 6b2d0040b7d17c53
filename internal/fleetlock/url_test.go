package fleetlock

import (
	"strings"
	"testing"
)

// endpointURL is the pre-reboot endpoint under a normalised base URL, as
// the client builds it.
func endpointURL(raw string) (string, error) {
	base, err := NormalizeBaseURL(raw)
	if err != nil {
		return "", err
	}
	return base + PreRebootPath, nil
}

func TestEndpointURL(t *testing.T) {
	tests := []struct {
		raw     string
		want    string // pre-reboot endpoint
		wantErr string // substring of the error
	}{
		{raw: "https://h", want: "https://h/v1/pre-reboot"},
		{raw: "https://h/", want: "https://h/v1/pre-reboot"},
		{raw: "https://h//", want: "https://h/v1/pre-reboot"},
		{raw: "https://h/lock", want: "https://h/lock/v1/pre-reboot"},
		{raw: "https://h/lock/", want: "https://h/lock/v1/pre-reboot"},
		{raw: "https://h/lock///", want: "https://h/lock/v1/pre-reboot"},
		{raw: "https://h/a/b/lock/", want: "https://h/a/b/lock/v1/pre-reboot"},
		{raw: "https://h/v1", want: "https://h/v1/v1/pre-reboot"}, // /v1 is not special
		{raw: "https://h/v1/", want: "https://h/v1/v1/pre-reboot"},
		{raw: "http://10.0.2.2:8080", want: "http://10.0.2.2:8080/v1/pre-reboot"},
		{raw: "http://[::1]:3333/", want: "http://[::1]:3333/v1/pre-reboot"},
		{raw: "HTTPS://Lock.Example.COM:443/x", want: "https://Lock.Example.COM:443/x/v1/pre-reboot"},
		{raw: "  https://h/lock \n", want: "https://h/lock/v1/pre-reboot"},
		{raw: "https://h/with%20space/", want: "https://h/with%20space/v1/pre-reboot"},
		{raw: "https://h/a%2Fb", want: "https://h/a%2Fb/v1/pre-reboot"},
		{raw: "https://h//lock", want: "https://h//lock/v1/pre-reboot"}, // inner path kept as written
		{raw: "", wantErr: "empty"},
		{raw: "   ", wantErr: "empty"},
		{raw: "h", wantErr: "scheme must be http or https"},
		{raw: "h:8080", wantErr: "scheme must be http or https"},
		{raw: "ftp://h/", wantErr: "scheme must be http or https"},
		{raw: "unix:///run/lock.sock", wantErr: "scheme must be http or https"},
		{raw: "https://", wantErr: "host is missing"},
		{raw: "https:///lock", wantErr: "host is missing"},
		{raw: "https://:8080/", wantErr: "host is missing"},
		{raw: "https:h/lock", wantErr: "host is missing"},
		{raw: "https://h/lock?x=1", wantErr: "query and fragment"},
		{raw: "https://h/lock?", wantErr: "query and fragment"},
		{raw: "https://h/lock#frag", wantErr: "query and fragment"},
		{raw: "https://h/#", wantErr: "query and fragment"},
		{raw: "https://user:pw@h/", wantErr: "user info"},
		{raw: "https://h/a/../b", wantErr: `".." segments`},
		{raw: "https://h/./b", wantErr: `"." segments`},
		{raw: "https://h:99999999/", wantErr: "invalid port"},
		{raw: "https://h:0/", wantErr: "invalid port"},
		{raw: "https://h:x/", wantErr: "invalid port"},
		{raw: "https://h\x00/", wantErr: "invalid control character"},
		{raw: "https://h /", wantErr: "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := endpointURL(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("endpoint of %q = %q, %v; want error containing %q", tt.raw, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("endpoint of %q = %q, %v; want %q", tt.raw, got, err, tt.want)
			}
			// The normalised base URL is a fixed point.
			base, err := NormalizeBaseURL(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := NormalizeBaseURL(base); err != nil || again != base {
				t.Errorf("NormalizeBaseURL(%q) = %q, %v; not idempotent", base, again, err)
			}
		})
	}
}

func FuzzNormalizeBaseURL(f *testing.F) {
	for _, s := range []string{"https://h/lock/", "http://[::1]:80", "https://h/v1", "https://u@h", "https://h/%zz", "http://h/a/../b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		base, err := NormalizeBaseURL(raw)
		if err != nil {
			return
		}
		if strings.HasSuffix(base, "/") || strings.ContainsAny(base, "?#") {
			t.Fatalf("NormalizeBaseURL(%q) = %q", raw, base)
		}
		if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
			t.Fatalf("NormalizeBaseURL(%q) = %q: bad scheme", raw, base)
		}
		again, err := NormalizeBaseURL(base)
		if err != nil || again != base {
			t.Fatalf("NormalizeBaseURL(%q) = %q, %v; want %q", base, again, err, base)
		}
	})
}
