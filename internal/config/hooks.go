package config

import (
	"fmt"
	"time"
)

// DefaultHookTimeout bounds each hook when [hooks] timeout is not set.
const DefaultHookTimeout = 5 * time.Minute

// maxHookTimeout keeps a hook from outliving the unit's TimeoutStartSec.
const maxHookTimeout = 8 * time.Minute

// Hooks configures the programs in /etc/kexec-upgrade/hooks/*.d.
type Hooks struct {
	// Timeout bounds each hook; one that runs longer is killed and counts
	// as failed.
	Timeout time.Duration
}

func (v *validator) hooks(h *Hooks, val any) {
	v.tableKeys("hooks", val, func(k, key string, val any) {
		switch k {
		case "timeout":
			d, ok := v.duration(key, val)
			if !ok {
				return
			}
			if d <= 0 || d > maxHookTimeout {
				v.add(key, fmt.Sprintf("%s is not between 1s and %s (the service's own limit is 10 minutes)", d, maxHookTimeout))
				return
			}
			h.Timeout = d
		default:
			v.unknown(key)
		}
	})
}

// maxNotice is the longest notice: a window is rarely longer than hours.
const maxNotice = time.Hour

func (v *validator) notice(n *time.Duration, val any) {
	d, ok := v.duration("notice", val)
	if !ok {
		return
	}
	if d < 0 || d > maxNotice {
		v.add("notice", fmt.Sprintf("%s is not between 0s (no notice) and %s", d, maxNotice))
		return
	}
	*n = d
}
