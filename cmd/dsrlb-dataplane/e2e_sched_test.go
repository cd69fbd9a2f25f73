//go:build e2e

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"dsrlb/hw/testbed"
)

// End-to-end tests of the schedulers, connection accounting and
// persistence, with nginx real servers and dsrlb-ctrl.

// seed004 is the service of a typical keepalived configuration (seed
// 004): wrr, an HTTP check of /health_check.html, inhibit_on_failure.
var seed004 = []string{`scheduler = "wrr"`, `inhibit_on_failure = true`, `
  [service.check]
  type = "http"
  path = "/health_check.html"
  interval = "500ms"
  timeout = "250ms"
  rise = 2
  fall = 2`}

// requests sends n HTTP requests to the VIP, each a new connection, from
// each of the client addresses srcs in turn (none: the client's own), and
// counts the answers by real server ("FAIL" for failures).
func (b *ctrlBed) requests(n int, srcs ...string) map[string]int {
	b.t.Helper()
	if len(srcs) == 0 {
		srcs = []string{b.Client.String()}
	}
	var script strings.Builder
	fmt.Fprintf(&script, "for i in $(seq %d); do", n)
	for _, src := range srcs {
		fmt.Fprintf(&script, ` curl -sS -m 3 --interface %s http://%s/ 2>/dev/null || echo FAIL;`, src, b.VIP)
	}
	script.WriteString(" done")
	out, err := b.Exec(time.Duration(n*len(srcs))*time.Second+30*time.Second, testbed.RoleClient, "bash", "-c", script.String())
	if err != nil {
		b.t.Fatalf("requests: %v\n%s", err, out)
	}
	got := map[string]int{}
	for _, line := range strings.Fields(out) {
		got[line]++
	}
	return got
}

// reconfigure writes the bed's configuration with the given real-server
// keys and extra service lines, reloads dsrlb-ctrl and waits until the
// data plane applied it.
func (b *ctrlBed) reconfigure(keys []string, extra ...string) {
	b.t.Helper()
	b.BackendKeys = keys
	if err := os.WriteFile(b.ConfigPath(), []byte(b.DataplaneConfig(extra...)), 0o644); err != nil {
		b.t.Fatal(err)
	}
	at := time.Now()
	out, err := b.Exec(10*time.Second, testbed.RoleLB, ctlBin, "reload", "-socket", b.CtrlSocket())
	if err != nil || !strings.Contains(out, "reloaded") {
		b.t.Fatalf("dsrlbctl reload: %v\n%s", err, out)
	}
	b.waitLog(b.dp, "transaction applied", at, 30*time.Second)
}

// statsRows is dsrlbctl stats -json.
func (b *ctrlBed) statsRows() []statsRow {
	b.t.Helper()
	out, err := b.Exec(10*time.Second, testbed.RoleLB, ctlBin, "stats", "-json", "-socket", b.CtrlSocket())
	if err != nil {
		b.t.Fatalf("dsrlbctl stats: %v\n%s", err, out)
	}
	var rows []statsRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		b.t.Fatalf("dsrlbctl stats -json: %v\n%s", err, out)
	}
	return rows
}

type statsRow struct {
	Service       string `json:"service"`
	Backend       string `json:"backend"`
	ActiveConns   uint64 `json:"active_conns"`
	InactiveConns uint64 `json:"inactive_conns"`
	Conns         uint64 `json:"conns"`
}

func rowOf(rows []statsRow, backend string) statsRow {
	for _, r := range rows {
		if r.Backend == backend {
			return r
		}
	}
	return statsRow{}
}

func within(got, want, margin int) bool { return got >= want-margin && got <= want+margin }

// TestSchedulerWRR: seed 004's service (wrr, weights 1 and 1, HTTP check,
// inhibit_on_failure): 200 requests split 100/100 within 2; weights 3 and
// 1 after a reload: 150/50 within 3; a real server that fails its check
// gets no new connections.
func TestSchedulerWRR(t *testing.T) {
	b := newCtrlBed(t, 2, 0, seed004...)
	got := b.requests(200)
	t.Logf("wrr 1:1, 200 requests: %v", got)
	if got["FAIL"] != 0 || !within(got["rs1"], 100, 2) || !within(got["rs2"], 100, 2) {
		t.Fatalf("wrr 1:1 gave %v, want 100/100 within 2", got)
	}

	b.reconfigure([]string{"weight = 3", "weight = 1"}, seed004...)
	got = b.requests(200)
	t.Logf("wrr 3:1, 200 requests: %v", got)
	if got["FAIL"] != 0 || !within(got["rs1"], 150, 3) || !within(got["rs2"], 50, 3) {
		t.Fatalf("wrr 3:1 gave %v, want 150/50 within 3", got)
	}

	at := b.stopServer(0)
	b.waitLog(b.ctrl, `msg="real server down" key=web/192.0.2.21`, at, 30*time.Second)
	b.waitLog(b.dp, "transaction applied", at, 30*time.Second)
	got = b.requests(20)
	if got["FAIL"] != 0 || got["rs2"] != 20 {
		t.Fatalf("with rs1 inhibited: %v, want every request on rs2", got)
	}
}

// TestSchedulerLeastConnections: with lc, a real server holding 20 open
// long downloads gets no new short requests while the other is less
// loaded; the downloads show as its active connections.
func TestSchedulerLeastConnections(t *testing.T) {
	lc := []string{`scheduler = "lc"`, httpCheck}
	// rs2 drains while the downloads start: they all go to rs1.
	b := newCtrlBedWith(t, 2, 0, func(l *testbed.L2) { l.BackendKeys = []string{"weight = 1", "weight = 0"} }, lc...)
	for i := range 20 {
		if _, err := b.Start(testbed.RoleClient, "download", "curl", "-sS", "-m", "120", "--limit-rate", "20K",
			"-o", "/dev/null", "http://"+b.VIP.String()+"/big.bin"); err != nil {
			t.Fatalf("download %d: %v", i, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for rowOf(b.statsRows(), "192.0.2.21").ActiveConns < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("rs1 never showed the 20 downloads as active connections: %+v", b.statsRows())
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.reconfigure([]string{"weight = 1", "weight = 1"}, lc...)
	got := b.requests(30)
	rows := b.statsRows()
	t.Logf("30 short requests with rs1 holding 20 downloads: %v; stats %+v", got, rows)
	if got["FAIL"] != 0 || got["rs2"] != 30 {
		t.Fatalf("lc sent short requests to the loaded server: %v", got)
	}
	r1, r2 := rowOf(rows, "192.0.2.21"), rowOf(rows, "192.0.2.22")
	// The short connections closed (FIN): inactive until the FIN timeout.
	if r1.ActiveConns != 20 || r2.InactiveConns < 30 || r2.ActiveConns > 1 {
		t.Fatalf("connections: rs1 %+v, rs2 %+v; want rs1 20 active, rs2 30 inactive", r1, r2)
	}
}

// TestPersistence: rr would alternate, but with persistence_timeout and a
// /24 granularity, 50 requests from two client addresses of one /24 all
// reach one real server, and still do after a reload that adds a server.
func TestPersistence(t *testing.T) {
	keys := []string{`scheduler = "rr"`, `persistence_timeout = "60s"`, `persistence_granularity = "255.255.255.0"`, httpCheck}
	b := newCtrlBed(t, 3, 2, keys...)
	second := "192.0.2.3"
	if err := b.IP(testbed.RoleClient, "addr", "add", second+"/24", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	srcs := []string{b.Client.String(), second}
	got := b.requests(25, srcs...)
	t.Logf("50 requests from %v: %v", srcs, got)
	if got["FAIL"] != 0 || len(got) != 1 {
		t.Fatalf("requests from one /24 spread over %v", got)
	}
	var server string
	for s := range got {
		server = s
	}
	b.Backends = 3
	b.reconfigure(nil, keys...)
	b.waitLog(b.dp, "scheduled=3", time.Time{}, 30*time.Second)
	got = b.requests(25, srcs...)
	t.Logf("after adding rs3: %v", got)
	if got[server] != 50 {
		t.Fatalf("after a reload that adds a server: %v, want all 50 on %s", got, server)
	}
}

// TestTwoWorkers: two worker lcores (the main lcore sharing the first
// one's CPU), each with its own queue pair of the balancer's port
// (net_af_packet qpairs=2, which spreads flows over the queues by hash):
// connections land on both workers, every request succeeds, and the
// workers' counters add up to the real servers'.
func TestTwoWorkers(t *testing.T) {
	b := newCtrlBedWith(t, 2, 0, func(l *testbed.L2) { l.Workers = []int{0, 1} }, httpCheck)
	got := b.requests(200)
	t.Logf("200 requests over two workers: %v", got)
	if got["FAIL"] != 0 || got["rs1"] == 0 || got["rs2"] == 0 {
		t.Fatalf("requests over two workers: %v", got)
	}
	text := b.metricsOf()
	var fwd [2]float64
	for w := range fwd {
		fwd[w] = sumOf(text, "dsrlb_worker_verdicts_total", fmt.Sprintf(`worker="%d"`, w), `verdict="forward"`)
	}
	flows := sumOf(text, "dsrlb_backend_new_flows_total")
	pkts := sumOf(text, "dsrlb_backend_packets_total")
	t.Logf("forwarded by worker 0: %v, by worker 1: %v; real servers: %v packets, %v new flows", fwd[0], fwd[1], pkts, flows)
	if fwd[0] == 0 || fwd[1] == 0 {
		t.Errorf("one worker forwarded nothing: %v", fwd)
	}
	if pkts != fwd[0]+fwd[1] || flows != 200 {
		t.Errorf("real servers' %v packets and %v new flows, workers forwarded %v: they must agree, with 200 flows", pkts, flows, fwd[0]+fwd[1])
	}
}
