package ctrl

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"dsrlb/conf"
	"dsrlb/perf/counters"
	"dsrlb/perf/shm"
	"dsrlb/perf/stats"
)

// scrapeMetrics GETs /metrics and parses it.
func (h *harness) scrapeMetrics() map[string][]sampleOf {
	h.t.Helper()
	resp, err := http.Get("http://" + h.d.httpLn.Addr().String() + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		h.t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		h.t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	out := map[string][]sampleOf{}
	for name, f := range fams {
		for _, m := range f.Metric {
			s := sampleOf{labels: map[string]string{}}
			for _, l := range m.Label {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.value = m.Counter.GetValue()
			case m.Gauge != nil:
				s.value = m.Gauge.GetValue()
			case m.Histogram != nil:
				s.value = float64(m.Histogram.GetSampleCount())
			case m.Untyped != nil:
				s.value = m.Untyped.GetValue()
			}
			out[name] = append(out[name], s)
		}
	}
	return out
}

// get GETs path on the metrics listener.
func (h *harness) get(path string) string {
	h.t.Helper()
	resp, err := http.Get("http://" + h.d.httpLn.Addr().String() + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		h.t.Fatalf("GET %s: %s\n%s", path, resp.Status, b)
	}
	return string(b)
}

type sampleOf struct {
	labels map[string]string
	value  float64
}

// value is the sample of name whose labels include want; ok false if none.
func value(m map[string][]sampleOf, name string, want ...string) (float64, bool) {
next:
	for _, s := range m[name] {
		for i := 0; i+1 < len(want); i += 2 {
			if s.labels[want[i]] != want[i+1] {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

// TestMetrics: a scrape exports the data plane's counters per worker, port
// and global, the control process's view of services, real servers and
// transactions; with the data plane gone, dsrlb_dataplane_up is 0 and no
// data plane series remain.
func TestMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b1, b2 := newBackend(t), newBackend(t)
	h.config(web("", b1.port, b2.port))
	f := startFakeDP(t, h.shmPath, testSlots, fakeState{})
	f.r.SetPID(shm.Dataplane, os.Getpid())
	w := f.r.Worker(0)
	shm.Counter(w, 8*counters.Index(counters.Worker, "rx_packets")).Store(42)
	shm.Counter(w, 8*counters.Index(counters.Worker, "forward")).Store(40)
	shm.Counter(w, 8*counters.Index(counters.Worker, "no_backend")).Store(2)
	shm.Counter(f.r.Port(0), 8*counters.Index(counters.Port, "imissed")).Store(7)
	shm.Counter(f.r.Global(), 8*counters.Index(counters.Global, "commits")).Store(3)
	// The per-service section as the data plane fills it: web in service
	// slot 1, 192.0.2.21 in real-server slot 1, worker 0's counts.
	sw, err := stats.Init(f.r, 1, conf.DefaultStatsServices, conf.DefaultStatsBackends)
	if err != nil {
		t.Fatal(err)
	}
	sw.SetService(1, 1, stats.ServiceID{Name: "web", VIP: netip.MustParseAddr("192.0.2.100"), Proto: 6, Port: 80, Method: "l2dsr"})
	sw.SetBackend(1, 1, stats.BackendID{Service: 1, ServiceEpoch: 1, Addr: netip.MustParseAddr("192.0.2.21"), Method: "l2dsr"})
	gauges, svcs, bks := sw.Worker(0)
	word := func(b []byte, slot, size, i int, v uint64) { shm.Counter(b, slot*size+8*i).Store(v) }
	for i, v := range []uint64{1, 40, 2560, 8, 1} { // epoch, packets, bytes, new flows, ICMP errors
		word(svcs, 1, stats.ServiceSlotBytes, i, v)
	}
	word(svcs, 1, stats.ServiceSlotBytes, 5+stats.DropNoBackend, 2)
	for i, v := range []uint64{1, 40, 2560, 8, 5, 2} { // epoch, packets, bytes, new flows, active and inactive connections
		word(bks, 1, stats.BackendSlotBytes, i, v)
	}
	word(gauges, 0, 0, 0, 8)     // connection table entries
	word(gauges, 0, 0, 1, 1<<20) // capacity
	// The entries by state: syn, established, closing, udp.
	for i, v := range []uint64{1, 5, 1, 1} {
		word(gauges, 0, 0, 3+i, v)
	}
	h.start()
	f.waitCommit(t, "both real servers up", func(s fakeState) bool { return len(s.backends("web")) == 2 })
	var m map[string][]sampleOf
	if !eventually(func() bool {
		m = h.scrapeMetrics()
		v, _ := value(m, "dsrlb_ctrl_transactions_applied_total")
		return v >= 1
	}) {
		t.Fatalf("no transaction applied in the metrics: %v", m["dsrlb_ctrl_transactions_applied_total"])
	}
	for _, c := range []struct {
		name string
		lbl  []string
		want float64
	}{
		{"dsrlb_dataplane_up", nil, 1},
		{"dsrlb_worker_rx_packets_total", []string{"worker", "0"}, 42},
		{"dsrlb_worker_verdicts_total", []string{"worker", "0", "verdict", "forward"}, 40},
		{"dsrlb_worker_drops_total", []string{"worker", "0", "reason", "no_backend"}, 2},
		{"dsrlb_port_imissed_total", []string{"port", "p0"}, 7},
		{"dsrlb_dataplane_commits_total", nil, 3},
		{"dsrlb_worker_conntrack_capacity", []string{"worker", "0"}, 1 << 20},
		{"dsrlb_worker_conntrack_entries", []string{"worker", "0"}, 8},
		{"dsrlb_service_packets_total", []string{"service", "web", "vip", "192.0.2.100", "protocol", "tcp", "service_port", "80", "method", "l2dsr"}, 40},
		{"dsrlb_service_new_flows_total", []string{"service", "web"}, 8},
		{"dsrlb_service_icmp_errors_total", []string{"service", "web"}, 1},
		{"dsrlb_service_drops_total", []string{"service", "web", "reason", "no_backend"}, 2},
		{"dsrlb_service_drops_total", []string{"service", "web", "reason", "no_mac"}, 0},
		{"dsrlb_backend_packets_total", []string{"service", "web", "backend", "192.0.2.21"}, 40},
		{"dsrlb_backend_bytes_total", []string{"backend", "192.0.2.21"}, 2560},
		{"dsrlb_backend_new_flows_total", []string{"backend", "192.0.2.21"}, 8},
		{"dsrlb_backend_connections_active", []string{"service", "web", "vip", "192.0.2.100", "protocol", "tcp", "service_port", "80", "method", "l2dsr", "backend", "192.0.2.21"}, 5},
		{"dsrlb_backend_connections_inactive", []string{"backend", "192.0.2.21"}, 2},
		{"dsrlb_service_connections_active", []string{"service", "web", "vip", "192.0.2.100", "protocol", "tcp", "service_port", "80", "method", "l2dsr"}, 5},
		{"dsrlb_service_connections_inactive", []string{"service", "web"}, 2},
		{"dsrlb_worker_conntrack_flows", []string{"worker", "0", "state", "syn"}, 1},
		{"dsrlb_worker_conntrack_flows", []string{"worker", "0", "state", "established"}, 5},
		{"dsrlb_worker_conntrack_flows", []string{"worker", "0", "state", "closing"}, 1},
		{"dsrlb_worker_conntrack_flows", []string{"worker", "0", "state", "udp"}, 1},
		{"dsrlb_stats_unslotted", []string{"kind", "backend"}, 0},
		{"dsrlb_backend_up", []string{"service", "web", "backend", "192.0.2.21"}, 1},
		{"dsrlb_backend_state", []string{"service", "web", "backend", "192.0.2.22", "state", "up"}, 1},
		{"dsrlb_backend_state", []string{"service", "web", "backend", "192.0.2.22", "state", "removed"}, 0},
		{"dsrlb_backend_effective_weight", []string{"service", "web", "backend", "192.0.2.22"}, 1},
		{"dsrlb_service_quorum_up", []string{"service", "web"}, 1},
		{"dsrlb_service_healthy_backends", []string{"service", "web"}, 2},
		{"dsrlb_ctrl_in_sync", nil, 1},
		{"dsrlb_ctrl_reloads_total", []string{"result", "failed"}, 0},
	} {
		if v, ok := value(m, c.name, c.lbl...); !ok || v != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.lbl, v, ok, c.want)
		}
	}
	st := h.status()
	if rs := st.Services[0].RealServers[0]; rs.Packets != 40 || rs.NewFlows != 8 || rs.Bytes != 2560 || rs.ActiveConns != 5 || rs.InactiveConns != 2 {
		t.Errorf("status of 192.0.2.21: %+v", rs)
	}
	if sv := st.Services[0]; sv.ActiveConns != 5 || sv.InactiveConns != 2 {
		t.Errorf("status of web: %d active, %d inactive connections", sv.ActiveConns, sv.InactiveConns)
	}
	// /status.json is the same status.
	js := h.get("/status.json")
	for _, want := range []string{`"active_conns":5`, `"inactive_conns":2`} {
		if !strings.Contains(js, want) {
			t.Errorf("/status.json lacks %s:\n%s", want, js)
		}
	}
	// Every family exported is documented (the README lists them).
	for name := range m {
		if _, ok := docByName[name]; !ok && strings.HasPrefix(name, "dsrlb_") {
			t.Errorf("%s is exported but not in MetricDocs", name)
		}
	}
	for _, name := range []string{"dsrlb_dataplane_info", "dsrlb_dataplane_heartbeat_age_seconds", "dsrlb_build_info",
		"dsrlb_ctrl_transaction_latency_seconds", "dsrlb_ctrl_transactions_pushed_total"} {
		if len(m[name]) == 0 {
			t.Errorf("no %s", name)
		}
	}
	// A health failure shows as the real server's health going to 0.
	b2.stop()
	if !eventually(func() bool {
		m = h.scrapeMetrics()
		v, ok := value(m, "dsrlb_backend_up", "backend", "192.0.2.22")
		return ok && v == 0
	}) {
		t.Fatalf("the stopped backend stays up: %v", m["dsrlb_backend_up"])
	}
	// The status page shows it down; it is read-only and self-contained.
	page := h.get("/")
	for _, want := range []string{`data-backend="192.0.2.22" data-health="down"`, `data-backend="192.0.2.21" data-health="up"`,
		`<meta http-equiv="refresh" content="2">`, `data-state="connected"`, "service web", "scheduler maglev",
		`data-state="up" data-active-conns="5" data-inactive-conns="2"`, "5 active, 2 inactive connections"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q:\n%s", want, page)
		}
	}
	for _, bad := range []string{"<script", "<form", "src=", "href=", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("status page has %q", bad)
		}
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, "http://"+h.d.httpLn.Addr().String()+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /: %s", method, resp.Status)
		}
	}
	if v, ok := value(m, "dsrlb_backend_check_failures_total", "backend", "192.0.2.22"); !ok || v == 0 {
		t.Errorf("failed probes of the stopped backend: %v %v", v, ok)
	}
	if v, ok := value(m, "dsrlb_backend_check_failures_total", "backend", "192.0.2.21"); !ok || v != 0 {
		t.Errorf("failed probes of the healthy backend: %v %v", v, ok)
	}
	if v, _ := value(m, "dsrlb_health_check_duration_seconds", "type", "tcp"); v == 0 {
		t.Errorf("no tcp check observed: %v", m["dsrlb_health_check_duration_seconds"])
	}
	// The data plane goes away: up 0, none of its series.
	f.close()
	if !eventually(func() bool {
		m = h.scrapeMetrics()
		v, ok := value(m, "dsrlb_dataplane_up")
		return ok && v == 0
	}) {
		t.Fatal("dsrlb_dataplane_up stays 1 without a data plane")
	}
	for name := range m {
		if strings.HasPrefix(name, "dsrlb_worker_") || strings.HasPrefix(name, "dsrlb_port_") ||
			strings.HasPrefix(name, "dsrlb_dataplane_") && name != "dsrlb_dataplane_up" {
			t.Errorf("stale data plane series %s without a data plane", name)
		}
	}
}

// collectFunc is a collector of a function, for tests.
type collectFunc func(chan<- prometheus.Metric)

func (f collectFunc) Describe(chan<- *prometheus.Desc)    {}
func (f collectFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

// TestPerServiceConnections: a snapshot's connection gauges are exported
// per real server, summed per service, and the connection tables by
// state per worker, each under its documented type and labels.
func TestPerServiceConnections(t *testing.T) {
	t.Parallel()
	vip := netip.MustParseAddr("192.0.2.100")
	rs := func(slot uint32, addr string, active, inactive uint64) stats.Backend {
		return stats.Backend{Slot: slot, Epoch: 1, Addr: netip.MustParseAddr(addr), Method: "l2dsr",
			Counters: stats.BackendCounters{Packets: 9, ActiveConns: active, InactiveConns: inactive}}
	}
	sn := &stats.Snapshot{
		Workers: []stats.Worker{
			{ConntrackEntries: 10, ConntrackCapacity: 1024, ConntrackSyn: 6, ConntrackEstablished: 3, ConntrackClosing: 1},
			{ConntrackEntries: 2, ConntrackCapacity: 1024, ConntrackUDP: 2},
		},
		Services: []stats.Service{
			{Slot: 1, Epoch: 1, Name: "web", VIP: vip, Proto: 6, Port: 80, Method: "l2dsr",
				Backends: []stats.Backend{rs(1, "192.0.2.21", 3, 5), rs(2, "::ffff:192.0.2.22", 0, 2)}},
			{Slot: 2, Epoch: 1, Name: "dns", VIP: vip, Proto: 17, Port: 53, Method: "l2dsr",
				Backends: []stats.Backend{rs(3, "192.0.2.31", 2, 0)}},
			{Slot: 3, Epoch: 1, Name: "idle", VIP: vip, Proto: 6, Port: 25, Method: "l2dsr"},
		},
		// The overflow slot's real servers have no connection gauges.
		Overflow: stats.Overflow{Backends: stats.BackendCounters{Packets: 4}},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectFunc(func(ch chan<- prometheus.Metric) {
		e := emitter{ch: ch, descs: map[string]*prometheus.Desc{}}
		(&scrapeCollector{}).perService(&e, sn)
	}))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]sampleOf{}
	for _, f := range fams {
		doc := docByName[f.GetName()]
		if strings.ToLower(f.GetType().String()) != doc.Type {
			t.Errorf("%s: type %s, documented %s", f.GetName(), f.GetType(), doc.Type)
		}
		for _, mt := range f.GetMetric() {
			s := sampleOf{labels: map[string]string{}, value: mt.GetGauge().GetValue() + mt.GetCounter().GetValue()}
			var names []string
			for _, l := range mt.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
				names = append(names, l.GetName())
			}
			if !slices.Equal(names, slices.Sorted(slices.Values(doc.Labels))) {
				t.Errorf("%s: labels %v, documented %v", f.GetName(), names, doc.Labels)
			}
			m[f.GetName()] = append(m[f.GetName()], s)
		}
	}
	for _, c := range []struct {
		name string
		lbl  []string
		want float64
	}{
		{"dsrlb_backend_connections_active", []string{"service", "web", "backend", "192.0.2.21", "protocol", "tcp", "service_port", "80"}, 3},
		{"dsrlb_backend_connections_inactive", []string{"service", "web", "backend", "192.0.2.21"}, 5},
		{"dsrlb_backend_connections_active", []string{"service", "web", "backend", "192.0.2.22"}, 0},
		{"dsrlb_backend_connections_inactive", []string{"service", "web", "backend", "192.0.2.22"}, 2},
		{"dsrlb_backend_connections_active", []string{"service", "dns", "backend", "192.0.2.31", "protocol", "udp"}, 2},
		{"dsrlb_service_connections_active", []string{"service", "web", "vip", "192.0.2.100", "protocol", "tcp", "service_port", "80", "method", "l2dsr"}, 3},
		{"dsrlb_service_connections_inactive", []string{"service", "web"}, 7},
		{"dsrlb_service_connections_active", []string{"service", "dns"}, 2},
		{"dsrlb_service_connections_inactive", []string{"service", "dns"}, 0},
		{"dsrlb_service_connections_active", []string{"service", "idle"}, 0},
		{"dsrlb_worker_conntrack_flows", []string{"worker", "0", "state", "syn"}, 6},
		{"dsrlb_worker_conntrack_flows", []string{"worker", "0", "state", "established"}, 3},
		{"dsrlb_worker_conntrack_flows", []string{"worker", "0", "state", "closing"}, 1},
		{"dsrlb_worker_conntrack_flows", []string{"worker", "0", "state", "udp"}, 0},
		{"dsrlb_worker_conntrack_flows", []string{"worker", "1", "state", "udp"}, 2},
		{"dsrlb_worker_conntrack_entries", []string{"worker", "1"}, 2},
	} {
		if v, ok := value(m, c.name, c.lbl...); !ok || v != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.lbl, v, ok, c.want)
		}
	}
	for name, n := range map[string]int{"dsrlb_worker_conntrack_flows": 8, "dsrlb_backend_connections_active": 3,
		"dsrlb_backend_connections_inactive": 3, "dsrlb_service_connections_active": 3, "dsrlb_service_connections_inactive": 3} {
		if len(m[name]) != n {
			t.Errorf("%d series of %s, want %d", len(m[name]), name, n)
		}
	}
}

// TestMetricsListenTaken: a taken listen address fails New with a clear
// error and leaves nothing behind (the API socket is removed).
func TestMetricsListenTaken(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	h := newHarness(t)
	h.config("")
	src, _ := os.ReadFile(h.cfgPath)
	if err := os.WriteFile(h.cfgPath, []byte(strings.Replace(string(src), `metrics_listen = "127.0.0.1:0"`, `metrics_listen = "`+ln.Addr().String()+`"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{ConfigPath: h.cfgPath})
	if err == nil || !strings.Contains(err.Error(), "ctrl.metrics_listen "+ln.Addr().String()) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("New with a taken address: %v", err)
	}
	if _, err := os.Stat(h.sock); !os.IsNotExist(err) {
		t.Errorf("API socket left behind: %v", err)
	}
}

// TestMetricsStatsOtherVersion: a stats section of another version (1,
// real-server slots without connection gauges) is ignored with one log
// line; the rest is still exported.
func TestMetricsStatsOtherVersion(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.config(web("", newBackend(t).port))
	f := startFakeDP(t, h.shmPath, testSlots, fakeState{})
	f.r.SetPID(shm.Dataplane, os.Getpid())
	shm.Counter(f.r.Stats(), 0).Store(1) // the section's version word
	shm.Counter(f.r.Worker(0), 8*counters.Index(counters.Worker, "rx_packets")).Store(5)
	h.start()
	f.waitCommit(t, "the state", func(s fakeState) bool { return len(s.backends("web")) == 1 })
	for range 3 {
		m := h.scrapeMetrics()
		if v, ok := value(m, "dsrlb_worker_rx_packets_total", "worker", "0"); !ok || v != 5 {
			t.Fatalf("worker counters not exported beside a section of another version: %v %v", v, ok)
		}
		if len(m["dsrlb_service_packets_total"]) != 0 {
			t.Fatal("per-service series from a section of another version")
		}
	}
	if n := logged(h.logs, "per-service counters cannot be read"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, h.logs)
	}
	if !strings.Contains(h.logs.String(), fmt.Sprintf("version 1, this build reads %d", stats.Version)) {
		t.Errorf("the log does not name the version:\n%s", h.logs)
	}
}
