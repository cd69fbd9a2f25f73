package ctrl

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestStatsRowsAndRates(t *testing.T) {
	mk := func(conns, pkts, bytes uint64) *Status {
		return &Status{Services: []ServiceStatus{{Name: "web", VIP: "192.0.2.100", Protocol: "tcp", Port: 80, Method: "l2dsr",
			NewFlows: conns, Packets: pkts, Bytes: bytes, ActiveConns: 1234, InactiveConns: 57,
			RealServers: []RealServerStatus{
				{Address: "192.0.2.21", State: "up", EffectiveWeight: 2, NewFlows: conns, Packets: pkts, Bytes: bytes, ActiveConns: 1234, InactiveConns: 56},
				{Address: "192.0.2.22", State: "removed", InactiveConns: 1},
			}}}}
	}
	rows := StatsRows(mk(10, 100, 6400), nil, 0)
	if len(rows) != 3 || rows[0].Backend != "" || rows[1].Backend != "192.0.2.21" || rows[1].Conns != 10 || rows[2].State != "removed" {
		t.Fatalf("rows %+v", rows)
	}
	if rows[0].ActiveConns != 1234 || rows[0].InactiveConns != 57 || rows[1].ActiveConns != 1234 || rows[1].InactiveConns != 56 ||
		rows[2].ActiveConns != 0 || rows[2].InactiveConns != 1 {
		t.Fatalf("connections %+v", rows)
	}
	rates := StatsRows(mk(30, 300, 12800), mk(10, 100, 6400), 2*time.Second)
	if r := rates[1]; r.CPS != 10 || r.PPS != 100 || r.BPS != 3200 || r.ActiveConns != 1234 {
		t.Fatalf("rates %+v", r)
	}
	// A counter that went backwards (a restarted data plane) has no rate.
	if r := StatsRows(mk(1, 1, 1), mk(10, 100, 6400), time.Second)[1]; r.CPS != 0 || r.PPS != 0 {
		t.Fatalf("rates after a restart %+v", r)
	}
	var out bytes.Buffer
	if err := WriteStats(&out, rows, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"web tcp 192.0.2.100:80 l2dsr", "-> 192.0.2.21", "CONNS", "6400", "ACTIVECONN  INACTCONN"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stats text lacks %q:\n%s", want, out.String())
		}
	}
	// The columns line up right-aligned, as ipvsadm's: a real server's
	// row ends with its active and inactive connections, then its totals.
	if !regexp.MustCompile(`(?m)-> 192\.0\.2\.21 +up +2 +1234 +56 +10 +100 +6400$`).MatchString(out.String()) ||
		!regexp.MustCompile(`(?m)^ *web tcp 192\.0\.2\.100:80 l2dsr +1234 +57 +10 +100 +6400$`).MatchString(out.String()) {
		t.Errorf("stats text:\n%s", out.String())
	}
	out.Reset()
	if err := WriteStats(&out, rates, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ACTIVECONN  INACTCONN  CPS") ||
		!regexp.MustCompile(`(?m)-> 192\.0\.2\.21 +up +2 +1234 +56 +10 +100 +3200$`).MatchString(out.String()) {
		t.Errorf("stats -rate text:\n%s", out.String())
	}
	// JSON names them as /status.json does.
	b, err := json.Marshal(rows[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"active_conns":1234,"inactive_conns":56`) {
		t.Errorf("JSON row %s", b)
	}
}
