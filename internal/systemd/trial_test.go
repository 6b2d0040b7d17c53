package systemd

import "testing"

func TestUnitState(t *testing.T) {
	tests := []struct {
		active string
		props  map[string]any
		want   string
	}{
		{"active", map[string]any{"ConditionResult": false, "ConditionTimestamp": uint64(1)}, "active"},
		{"failed", nil, "failed"},
		{"inactive", map[string]any{"ConditionResult": false, "ConditionTimestamp": uint64(1700000000000000)}, UnitConditionFailed},
		{"inactive", map[string]any{"ConditionResult": false, "ConditionTimestamp": uint64(0)}, "inactive"},
		{"inactive", map[string]any{"ConditionResult": true, "ConditionTimestamp": uint64(5), "AssertResult": false, "AssertTimestamp": uint64(5)}, UnitAssertFailed},
		{"inactive", map[string]any{"ConditionResult": true, "ConditionTimestamp": uint64(5)}, "inactive"},
	}
	for _, tc := range tests {
		if got := UnitState(tc.active, tc.props); got != tc.want {
			t.Errorf("UnitState(%s, %v) = %s; want %s", tc.active, tc.props, got, tc.want)
		}
	}
}
