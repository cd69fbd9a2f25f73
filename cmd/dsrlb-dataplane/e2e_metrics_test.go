//go:build e2e

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"dsrlb/ctrl"
	"dsrlb/hw/testbed"
	"dsrlb/perf"
)

// End-to-end test of the metrics: Debian's prometheus scrapes dsrlb-ctrl
// in the balancer's namespace while real traffic flows; every query of
// the shipped dashboard and every alert expression is evaluated through
// Prometheus's HTTP API; the per-real-server counters are checked against
// the requests sent; a health failover shows in Prometheus and, through
// headless Chromium, on the status page.

const metricsAddr = "127.0.0.1:9842" // the default ctrl.metrics_listen, in the lb namespace

// promBed is a ctrlBed with a Prometheus server beside dsrlb-ctrl.
type promBed struct {
	*ctrlBed
	prom *testbed.Proc
}

func startPrometheus(t *testing.T, b *ctrlBed) *promBed {
	t.Helper()
	dir := filepath.Join(b.Dir, "prometheus")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rules, err := filepath.Abs("../../perf/alerts/dsrlb.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: dsrlb
    static_configs:
      - targets: ["%s"]
`, rules, metricsAddr)
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := b.Start(testbed.RoleLB, "prometheus", "prometheus", "--config.file="+path, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:9090", "--log.level=warn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("prometheus log:\n%s", p.Output())
		}
	})
	pb := &promBed{ctrlBed: b, prom: p}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if out, err := b.Exec(5*time.Second, testbed.RoleLB, "curl", "-sf", "http://127.0.0.1:9090/-/ready"); err == nil && strings.Contains(out, "Ready") {
			return pb
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("prometheus not ready:\n%s", p.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// promResult is an instant query's answer.
type promResult struct {
	Status    string `json:"status"`
	Error     string `json:"error"`
	ErrorType string `json:"errorType"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// query evaluates expr now.
func (b *promBed) query(expr string) promResult {
	b.t.Helper()
	out, err := b.Exec(10*time.Second, testbed.RoleLB, "curl", "-sS", "--data-urlencode", "query="+expr, "http://127.0.0.1:9090/api/v1/query")
	if err != nil {
		b.t.Fatalf("query %s: %v\n%s", expr, err, out)
	}
	var r promResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		b.t.Fatalf("query %s: %v\n%s", expr, err, out)
	}
	return r
}

// scalar is the value of a query with one result; ok false if none.
func (b *promBed) scalar(expr string) (float64, bool) {
	b.t.Helper()
	r := b.query(expr)
	if r.Status != "success" || len(r.Data.Result) == 0 {
		return 0, false
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// waitQuery waits until expr has a first value that ok accepts.
func (b *promBed) waitQuery(expr string, ok func(float64) bool) float64 {
	b.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		v, has := b.scalar(expr)
		if has && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s = %v (has %v): not reached in 60 s\n%+v", expr, v, has, b.query(expr))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metricsText GETs /metrics from dsrlb-ctrl.
func (b *promBed) metricsText() string {
	b.t.Helper()
	out, err := b.Exec(10*time.Second, testbed.RoleLB, "curl", "-sSf", "http://"+metricsAddr+"/metrics")
	if err != nil {
		b.t.Fatalf("scrape: %v\n%s", err, out)
	}
	return out
}

// sampleValue is the value of the sample of name with all of labels
// (given as `k="v"` strings) in a text exposition; -1 when absent.
func sampleValue(text, name string, labels ...string) float64 {
	if v := samplesOf(text, name, labels...); len(v) > 0 {
		return v[0]
	}
	return -1
}

// samplesOf are the values of the samples of family name in a scrape
// whose labels contain every one of labels.
func samplesOf(text, name string, labels ...string) []float64 {
	var out []float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			out = append(out, v)
		}
	}
	return out
}

var metricName = regexp.MustCompile(`\bdsrlb_[a-z0-9_]+`)

func TestMetricsPrometheus(t *testing.T) {
	vrrp := "\n[[vrrp]]\nname = \"vi1\"\nvrid = 51\nadvert_int = \"100ms\"\nvips = [\"192.0.2.100\"]\n"
	cb := newCtrlBed(t, 2, 2, httpCheck, vrrp)
	// Alone on the segment, the instance becomes master and the VIP answers.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(cb.statusText(), "MASTER") {
		if time.Now().After(deadline) {
			t.Fatalf("no VRRP master:\n%s", cb.statusText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	b := startPrometheus(t, cb)

	// promtool finds nothing to say about a real scrape.
	text := b.metricsText()
	check, err := b.Exec(30*time.Second, testbed.RoleLB, "sh", "-c", "curl -sSf http://"+metricsAddr+"/metrics | promtool check metrics")
	if err != nil || strings.TrimSpace(check) != "" {
		t.Errorf("promtool check metrics: %v\n%s", err, check)
	}

	// Traffic: 150 requests, one connection each.
	const requests = 150
	ld := b.startLoad(requests)
	samples := ld.wait(t, 120*time.Second)
	if failed := count(samples, time.Time{}, time.Now().Add(time.Hour))["FAIL"]; failed != 0 {
		t.Fatalf("%d of %d requests failed", failed, requests)
	}
	// The data plane publishes its counters every few bursts and when
	// idle: wait for them to settle, then check that the real servers'
	// counters add up and match the connections sent.
	text = b.metricsText()
	var flows, pkts float64
	for _, rs := range []string{"192.0.2.21", "192.0.2.22"} {
		flows += max(0, sampleValue(text, "dsrlb_backend_new_flows_total", `backend="`+rs+`"`))
		pkts += max(0, sampleValue(text, "dsrlb_backend_packets_total", `backend="`+rs+`"`))
	}
	svcPkts := sampleValue(text, "dsrlb_service_packets_total", `service="web"`)
	fwd := sampleValue(text, "dsrlb_worker_verdicts_total", `verdict="forward"`)
	t.Logf("%d requests: %v new flows, %v packets to the real servers, service %v, forwarded %v", requests, flows, pkts, svcPkts, fwd)
	if flows != requests {
		t.Errorf("real servers' new flows %v, want %d (one per request)", flows, requests)
	}
	if pkts != svcPkts || pkts != fwd {
		t.Errorf("real servers' packets %v, service's %v, forwarded %v: they must agree", pkts, svcPkts, fwd)
	}
	// A connection is at least SYN, ACK, request, FIN, ACK from the client;
	// retransmissions and window updates add a few.
	if pkts < 5*requests || pkts > 10*requests {
		t.Errorf("%v packets for %d connections", pkts, requests)
	}
	// Every connection is in a worker's table, closing (the client sent
	// its FIN) until conntrack_fin_timeout; the real servers' connection
	// gauges add up to the table's entries.
	var conns float64
	for _, rs := range []string{"192.0.2.21", "192.0.2.22"} {
		conns += max(0, sampleValue(text, "dsrlb_backend_connections_active", `backend="`+rs+`"`)) +
			max(0, sampleValue(text, "dsrlb_backend_connections_inactive", `backend="`+rs+`"`))
	}
	entries := sampleValue(text, "dsrlb_worker_conntrack_entries")
	closing := sampleValue(text, "dsrlb_worker_conntrack_flows", `state="closing"`)
	t.Logf("connections: %v on the real servers, %v table entries, %v closing", conns, entries, closing)
	if conns != entries || entries != requests || closing != requests {
		t.Errorf("real servers' connections %v, table entries %v, closing %v: want %d each", conns, entries, closing, requests)
	}

	// Prometheus has scraped enough for rates.
	b.waitQuery(`count_over_time(dsrlb_dataplane_up[1m])`, func(v float64) bool { return v >= 15 })
	ld = b.startLoad(400) // traffic while the queries run
	defer ld.p.Stop(syscall.SIGTERM, 5*time.Second)
	ld.waitAnswers(t, time.Now(), 5, "rs1", "rs2")

	// Every documented family is exported (and, by the ctrl tests,
	// nothing undocumented is), but those of a DSR path check and of BGP,
	// which this bed does not configure (TestDSRPathCheck and TestBGPECMP
	// scrape them).
	text = b.metricsText()
	for _, d := range ctrl.MetricDocs() {
		if conditionalFamily(d.Name) {
			if strings.Contains(text, "\n"+d.Name+"{") || strings.Contains(text, "\n"+d.Name+" ") {
				t.Errorf("%s is exported without its configuration", d.Name)
			}
			continue
		}
		if !strings.Contains(text, "\n"+d.Name+"{") && !strings.Contains(text, "\n"+d.Name+" ") &&
			!strings.Contains(text, "\n"+d.Name+"_bucket{") {
			t.Errorf("documented metric %s is not exported", d.Name)
		}
	}
	if out, err := b.Exec(10*time.Second, testbed.RoleLB, ctlBin, "stats", "-socket", b.CtrlSocket()); err != nil {
		t.Errorf("dsrlbctl stats: %v\n%s", err, out)
	} else {
		t.Logf("dsrlbctl stats:\n%s", out)
	}
	if out, err := b.Exec(10*time.Second, testbed.RoleLB, ctlBin, "stats", "-rate", "-socket", b.CtrlSocket()); err != nil {
		t.Errorf("dsrlbctl stats -rate: %v\n%s", err, out)
	} else {
		t.Logf("dsrlbctl stats -rate:\n%s", out)
	}

	// Every dashboard query returns data.
	qs, err := perf.DashboardQueries("../../perf/grafana/dsrlb.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		// A trailing "> 0" only hides idle series in a panel (no drops
		// here): the query is evaluated without it.
		expr := strings.TrimSuffix(strings.TrimSpace(q.Expr), " > 0")
		r := b.query(expr)
		if r.Status != "success" || len(r.Data.Result) == 0 {
			t.Errorf("dashboard panel %q: %s returns nothing (%s %s)", q.Name, expr, r.ErrorType, r.Error)
		}
	}
	// Every alert expression evaluates, and every metric it names has
	// series.
	as, err := perf.AlertExprs("../../perf/alerts/dsrlb.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if r := b.query(a.Expr); r.Status != "success" {
			t.Errorf("alert %s: %s: %s %s", a.Name, a.Expr, r.ErrorType, r.Error)
		}
		for _, name := range metricName.FindAllString(a.Expr, -1) {
			name = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
			if conditionalFamily(name) {
				continue
			}
			if v, ok := b.scalar("count({__name__=~\"" + name + "(_bucket|_count|_sum)?\"})"); !ok || v == 0 {
				t.Errorf("alert %s: metric %s has no series", a.Name, name)
			}
		}
	}

	// A health failover: rs2's health series goes to 0 and its share of
	// new flows to 0; the page, loaded in a browser, shows it down.
	// rs2's share of new flows (a removed real server's series end: no
	// series counts as no new flow).
	share := `(sum(increase(dsrlb_backend_new_flows_total{backend="192.0.2.22"}[5s])) or vector(0)) / sum(increase(dsrlb_service_new_flows_total{service="web"}[5s]))`
	before := b.waitQuery(share, func(v float64) bool { return v > 0 })
	at := b.stopServer(1)
	b.waitQuery(`dsrlb_backend_up{backend="192.0.2.22"}`, func(v float64) bool { return v == 0 })
	b.waitLog(b.dp, "scheduled=1", at, 30*time.Second)
	from := time.Now()
	ld.waitAnswers(t, from, 20, "rs1")
	b.waitQuery(share, func(v float64) bool { return v == 0 })
	b.waitQuery(`sum(increase(dsrlb_service_new_flows_total{service="web"}[5s]))`, func(v float64) bool { return v > 0 })
	t.Logf("rs2's share of new flows: %.2f before its failure, 0 after", before)
	b.waitQuery(`ALERTS{alertname=~".+",backend="192.0.2.22",alertstate=~"pending|firing"}`, func(float64) bool { return true })

	shot := filepath.Join(b.Dir, "status.png")
	dom, err := b.Exec(60*time.Second, testbed.RoleLB, "chromium", "--headless", "--no-sandbox", "--disable-gpu",
		"--user-data-dir="+filepath.Join(b.Dir, "chromium"), "--dump-dom", "http://"+metricsAddr+"/")
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, dom)
	}
	if !strings.Contains(dom, `data-backend="192.0.2.22" data-health="down"`) || !strings.Contains(dom, `data-backend="192.0.2.21" data-health="up"`) {
		t.Errorf("the status page's DOM does not show rs2 down and rs1 up:\n%s", dom)
	}
	if out, err := b.Exec(60*time.Second, testbed.RoleLB, "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(b.Dir, "chromium"), "--window-size=1280,900", "--screenshot="+shot, "http://"+metricsAddr+"/"); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	img, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := png.DecodeConfig(bytes.NewReader(img)); err != nil || cfg.Width != 1280 {
		t.Fatalf("screenshot: %v %+v", err, cfg)
	}
	if dst := os.Getenv("DSRLB_STATUS_SCREENSHOT"); dst != "" {
		if err := os.WriteFile(dst, img, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// statusText is dsrlbctl status.
func (b *ctrlBed) statusText() string {
	b.t.Helper()
	out, err := b.Exec(10*time.Second, testbed.RoleLB, ctlBin, "status", "-socket", b.CtrlSocket())
	if err != nil {
		b.t.Fatalf("dsrlbctl status: %v\n%s", err, out)
	}
	return out
}
