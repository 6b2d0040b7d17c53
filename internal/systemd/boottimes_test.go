package systemd

import (
	"reflect"
	"testing"
	"time"
)

func TestParseBlame(t *testing.T) {
	out := []byte(`1min 30.003s mariadb.service
         3.052s apt-daily-upgrade.service
          845ms systemd-networkd-wait-online.service
           12ms \x1b[31mbogus.service
garbage
`)
	want := []UnitTime{{"mariadb.service", 90.003}, {"apt-daily-upgrade.service", 3.052}, {"systemd-networkd-wait-online.service", 0.845}}
	if got := ParseBlame(out, 3); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseBlame = %v; want %v", got, want)
	}
	if got := ParseBlame(out, 1); len(got) != 1 {
		t.Errorf("ParseBlame(n=1) = %v; want one unit", got)
	}
}

func TestParseSpan(t *testing.T) {
	tests := map[string]time.Duration{
		"850ms": 850 * time.Millisecond, "2.5s": 2500 * time.Millisecond, "1min 30.123s": 90*time.Second + 123*time.Millisecond,
		"1h 2min": time.Hour + 2*time.Minute, "120us": 120 * time.Microsecond,
	}
	for in, want := range tests {
		if got, err := parseSpan(in); err != nil || got != want {
			t.Errorf("parseSpan(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "s", "1 fortnight", "x1s"} {
		if _, err := parseSpan(bad); err == nil {
			t.Errorf("parseSpan(%q) = nil error; want one", bad)
		}
	}
}

func TestParseStopTimes(t *testing.T) {
	out := []byte(`{"UNIT":"mariadb.service","MESSAGE_ID":"de5b426a63be47a7b6ac3eaac82e2f6f","__REALTIME_TIMESTAMP":"1000000000"}
{"UNIT":"ssh.service","MESSAGE_ID":"de5b426a63be47a7b6ac3eaac82e2f6f","__REALTIME_TIMESTAMP":"1000100000"}
{"UNIT":"ssh.service","MESSAGE_ID":"9d1aaa27d60140bd96365438aad20286","__REALTIME_TIMESTAMP":"1000300000"}
{"UNIT":"cron.service","MESSAGE_ID":"9d1aaa27d60140bd96365438aad20286","__REALTIME_TIMESTAMP":"1000400000"}
{"UNIT":"mariadb.service","MESSAGE_ID":"9d1aaa27d60140bd96365438aad20286","__REALTIME_TIMESTAMP":"1090000000"}
not json
`)
	want := []UnitTime{{"mariadb.service", 90}, {"ssh.service", 0.2}}
	if got := ParseStopTimes(out, 3); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseStopTimes = %v; want %v", got, want)
	}
}

func FuzzParseBlame(f *testing.F) {
	f.Add([]byte("1min 30.003s mariadb.service\n845ms x.service\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, u := range ParseBlame(data, 3) {
			if u.Seconds < 0 || u.Unit == "" {
				t.Fatalf("ParseBlame gave %+v", u)
			}
		}
	})
}
