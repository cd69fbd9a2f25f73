package ctrl

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestStatsRowsAndRates(t *testing.T) {
	mk := func(conns, pkts, bytes uint64) *Status {
		return &Status{Services: []ServiceStatus{{Name: "web", VIP: "192.0.2.100", Protocol: "tcp", Port: 80, Method: "l2dsr",
			NewFlows: conns, Packets: pkts, Bytes: bytes,
			RealServers: []RealServerStatus{
				{Address: "192.0.2.21", State: "up", EffectiveWeight: 2, NewFlows: conns, Packets: pkts, Bytes: bytes},
				{Address: "192.0.2.22", State: "removed"},
			}}}}
	}
	rows := StatsRows(mk(10, 100, 6400), nil, 0)
	if len(rows) != 3 || rows[0].Backend != "" || rows[1].Backend != "192.0.2.21" || rows[1].Conns != 10 || rows[2].State != "removed" {
		t.Fatalf("rows %+v", rows)
	}
	rates := StatsRows(mk(30, 300, 12800), mk(10, 100, 6400), 2*time.Second)
	if r := rates[1]; r.CPS != 10 || r.PPS != 100 || r.BPS != 3200 {
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
	for _, want := range []string{"web tcp 192.0.2.100:80 l2dsr", "-> 192.0.2.21", "CONNS", "6400"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stats text lacks %q:\n%s", want, out.String())
		}
	}
}
