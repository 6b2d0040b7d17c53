package config

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// fuzzSeeds are configurations that reach every branch of the validator.
var fuzzSeeds = []string{
	"",
	"enabled = false\nmin_uptime = \"1h30m\"\nrebuilds = false\n",
	"[kernel]\ncmdline_append = \"console=ttyS0\"\ncmdline_remove = \"quiet splash\"\n",
	"[[window]]\ndays = [\"Sat\", \"Sun\"]\nstart = \"02:00\"\nend = \"04:00\"\ntime_zone = \"UTC\"\n",
	"[[window]]\nstart = \"23:00\"\nend = \"01:00\"\ntime_zone = \"Europe/Berlin\"\n[[window]]\nstart = \"02:00\"\nend = \"25:00\"\nfoo = 1\n",
	"window = [{start = \"01:00\", end = \"02:00\"}, {start = \"x\"}]\n",
	"enabled = 1\nrebuilds = \"x\"\nmin_uptime = \"-5m\"\n[kernel]\nfoo = 1\ncmdline_append = \"a\\\"\"\n[[window]]\ndays = []\n",
	"[window]\nstart = 02:00:00\n",
	"kernel = 3\n[[window]\n",
	"a = \"\"\"\n[[window]]\n\"\"\"\nb = '''x\n'''\n",
	"\ufeffenabled = true\n",
	"[fleet_lock]\nurl = \"https://lock/\"\nca_file = \"/etc/ca.pem\"\nclient_cert = \"/c.pem\"\nclient_key = \"/k.pem\"\n",
	"[fleet_lock]\nurl = \"http://lock\"\nca_file = \"ca.pem\"\nclient_key = 3\n",
	"[[window]]\ndays_of_month = [1, 15, -1]\nstart = \"02:00\"\nend = \"04:00\"\n[[window]]\nweekdays_of_month = [\"2nd Tue\", \"last Sun\"]\nstart = \"22:00\"\nend = \"01:00\"\n",
	"[[window]]\ndays = [\"Sat\"]\ndays_of_month = [32, \"1\"]\nweekdays_of_month = [\"6th Tue\", 2]\nstart = \"02:00\"\nend = \"04:00\"\n",
	"window = [{days_of_month = [], weekdays_of_month = \"last Sun\", start = \"01:00\", end = \"02:00\"}]\n",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	const name = "/etc/kexec-upgrade/config.d/fuzz.toml"
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(name, data, time.UTC)
		c2, err2 := Parse(name, data, time.UTC)
		if summary(c) != summary(c2) || errString(err) != errString(err2) {
			t.Fatalf("Parse(%q) twice = %s / %v, then %s / %v; want the same result", data, summary(c), err, summary(c2), err2)
		}
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) error = %v (%T); want a non-empty config.Errors matching ErrInvalid", data, err, err)
			}
			lines := bytes.Count(data, []byte("\n")) + 1
			for _, e := range es {
				if e.File != name {
					t.Errorf("Parse(%q) error %q names file %q; want %q", data, e, e.File, name)
				}
				if e.Line < 0 || e.Line > lines {
					t.Errorf("Parse(%q) error %q has line %d; want 0..%d", data, e, e.Line, lines)
				}
				if e.Msg == "" {
					t.Errorf("Parse(%q) error %q has no message", data, e)
				}
			}
			return
		}
		if c.MinUptime < 0 {
			t.Errorf("Parse(%q).MinUptime = %s; want >= 0", data, c.MinUptime)
		}
		for i, w := range c.Windows {
			if w.Location == nil {
				t.Errorf("Parse(%q).Windows[%d] has no Location", data, i)
			}
			if w.Start < 0 || w.Start >= 24*60 || w.End < 0 || w.End >= 24*60 {
				t.Errorf("Parse(%q).Windows[%d] = %v-%v (%d, %d minutes); want both in 0..1439", data, i, w.Start, w.End, int(w.Start), int(w.End))
			}
			if w.Days>>7 != 0 {
				t.Errorf("Parse(%q).Windows[%d].Days = %08b; want only weekday bits", data, i, uint8(w.Days))
			}
			if w.MonthWeekdays>>42 != 0 {
				t.Errorf("Parse(%q).Windows[%d].MonthWeekdays = %#x; want only bits of 1st..5th and last weekdays", data, i, uint64(w.MonthWeekdays))
			}
			// A window opens on weekdays, days of the month or weekdays of
			// the month: never on a mix, so it always opens.
			kinds := 0
			for _, set := range []bool{w.Days != 0, w.MonthDays != 0, w.MonthWeekdays != 0} {
				if set {
					kinds++
				}
			}
			if kinds > 1 {
				t.Errorf("Parse(%q).Windows[%d] = %s / %s / %s; want at most one kind of days", data, i, w.Days, w.MonthDays, w.MonthWeekdays)
			}
			now := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC)
			if sp := w.Next(now); !sp.End.After(sp.Start) || !sp.End.After(now) {
				t.Errorf("Parse(%q).Windows[%d].Next(%s) = %v; want a span containing or after it", data, i, now.Format(time.RFC3339), sp)
			}
		}
		if fl := c.FleetLock; (fl.ClientCert == "") != (fl.ClientKey == "") || fl.PlainHTTP() && fl.tlsSet() {
			t.Errorf("Parse(%q) accepted fleet_lock %+v; want a client pair or none, and no TLS key with http://", data, fl)
		}
		if bytes.ContainsAny([]byte(c.CmdlineAppend+c.CmdlineRemove), "\n\r\x00") {
			t.Errorf("Parse(%q) cmdline edits %q / %q; want single lines", data, c.CmdlineAppend, c.CmdlineRemove)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
