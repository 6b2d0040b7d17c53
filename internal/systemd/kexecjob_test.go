package systemd

import (
	"testing"

	"github.com/godbus/dbus/v5"
)

// TestJobQueued reads a unit's Job property, (uo), as systemd sends it.
func TestJobQueued(t *testing.T) {
	tests := []struct {
		name    string
		v       dbus.Variant
		queued  bool
		wantErr bool
	}{
		{"no_job", dbus.MakeVariant([]any{uint32(0), dbus.ObjectPath("/")}), false, false},
		{"job_queued", dbus.MakeVariant([]any{uint32(4242), dbus.ObjectPath("/org/freedesktop/systemd1/job/4242")}), true, false},
		{"not_a_struct", dbus.MakeVariant("running"), false, true},
		{"short_struct", dbus.MakeVariant([]any{uint32(1)}), false, true},
		{"wrong_id_type", dbus.MakeVariant([]any{"1", dbus.ObjectPath("/")}), false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			queued, err := jobQueued(tc.v)
			if queued != tc.queued || (err != nil) != tc.wantErr {
				t.Errorf("jobQueued(%s) = %v, %v; want %v, error %v", tc.v, queued, err, tc.queued, tc.wantErr)
			}
		})
	}
}
