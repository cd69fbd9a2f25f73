package ctrl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"dsrlb/ctrl/vrrp"
	"dsrlb/perf/counters"
	"dsrlb/perf/stats"
)

// The Prometheus exporter: /metrics on ctrl.metrics_listen. Everything
// the data plane counts is read from the shared memory at scrape time,
// by the daemon's loop (which owns the mapping: a scrape never reads a
// file being unmapped); the control process's own state comes from the
// same place dsrlbctl status gets it. While the data plane is gone, only
// dsrlb_dataplane_up 0 and the control process's series are exported.

// metrics holds the exporter's registry and the control process's own
// counters (updated by the loop, read by scrapes).
type metrics struct {
	reg      *prometheus.Registry
	pushed   prometheus.Counter
	applied  prometheus.Counter
	rejected prometheus.Counter
	ringFull prometheus.Counter
	latency  prometheus.Histogram
	reloads  *prometheus.CounterVec
	checks   *prometheus.HistogramVec
}

func newMetrics(d *Daemon) *metrics {
	m := &metrics{
		reg:      prometheus.NewRegistry(),
		pushed:   prometheus.NewCounter(prometheus.CounterOpts{Name: "dsrlb_ctrl_transactions_pushed_total", Help: docByName["dsrlb_ctrl_transactions_pushed_total"].Help}),
		applied:  prometheus.NewCounter(prometheus.CounterOpts{Name: "dsrlb_ctrl_transactions_applied_total", Help: docByName["dsrlb_ctrl_transactions_applied_total"].Help}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "dsrlb_ctrl_transactions_rejected_total", Help: docByName["dsrlb_ctrl_transactions_rejected_total"].Help}),
		ringFull: prometheus.NewCounter(prometheus.CounterOpts{Name: "dsrlb_ctrl_ring_full_total", Help: docByName["dsrlb_ctrl_ring_full_total"].Help}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dsrlb_ctrl_transaction_latency_seconds", Help: docByName["dsrlb_ctrl_transaction_latency_seconds"].Help,
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dsrlb_ctrl_reloads_total", Help: docByName["dsrlb_ctrl_reloads_total"].Help}, []string{"result"}),
		checks: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dsrlb_health_check_duration_seconds", Help: docByName["dsrlb_health_check_duration_seconds"].Help,
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"type"}),
	}
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("failed")
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dsrlb_build_info", Help: docByName["dsrlb_build_info"].Help}, []string{"version", "goversion"})
	info.WithLabelValues(buildVersion(), runtime.Version()).Set(1)
	m.reg.MustRegister(m.pushed, m.applied, m.rejected, m.ringFull, m.latency, m.reloads, m.checks, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&scrapeCollector{d: d})
	return m
}

// observeCheck is the health monitor's observer.
func (m *metrics) observeCheck(check string, took time.Duration, _ error) {
	typ, _, _ := strings.Cut(check, " ")
	m.checks.WithLabelValues(typ).Observe(took.Seconds())
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}

// listenMetrics opens the listener of ctrl.metrics_listen; nil when off.
func listenMetrics(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ctrl.metrics_listen %s: %w", addr, err)
	}
	return ln, nil
}

// serveHTTP runs the metrics and status page server on ln until Close.
func (d *Daemon) serveHTTP() {
	if d.httpLn == nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{ErrorLog: errLog{d}}))
	mux.HandleFunc("GET /{$}", d.serveStatusPage)
	mux.HandleFunc("GET /status.json", d.serveStatusJSON)
	d.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := d.httpSrv.Serve(d.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics listener stopped", "err", err)
		}
	}()
	d.log.Info("serving metrics and the status page", "listen", d.httpLn.Addr().String())
}

type errLog struct{ d *Daemon }

func (e errLog) Println(v ...any) { e.d.log.Warn("metrics: " + fmt.Sprint(v...)) }

// scrape is what one scrape reads, gathered by the loop.
type scrape struct {
	st        Status
	perWorker [][]uint64      // nil while the data plane is gone
	stats     *stats.Snapshot // nil without per-service counters
}

// scrape asks the loop for a scrape; nil when the daemon stops or the
// loop does not answer within 5 s.
func (d *Daemon) scrape(ctx context.Context) *scrape {
	reply := make(chan *scrape, 1)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	select {
	case d.scrapes <- reply:
	case <-d.done:
		return nil
	case <-ctx.Done():
		return nil
	}
	select {
	case s := <-reply:
		return s
	case <-ctx.Done():
		return nil
	}
}

// gatherScrape runs in the loop.
func (d *Daemon) gatherScrape(now time.Time) *scrape {
	s := &scrape{stats: d.readStats()} // nil while the data plane is gone
	s.st = d.statusWith(now, s.stats)
	if d.region != nil && d.dpUp {
		s.perWorker = counters.Read(d.region).PerWorker
	}
	return s
}

// scrapeCollector turns a scrape into metrics.
type scrapeCollector struct{ d *Daemon }

// Describe sends nothing: the collector is unchecked (its series follow
// the configuration and the data plane's geometry).
func (c *scrapeCollector) Describe(chan<- *prometheus.Desc) {}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.d.scrape(context.Background())
	if s == nil {
		return
	}
	e := emitter{ch: ch, descs: map[string]*prometheus.Desc{}}
	st := &s.st
	up := 0.0
	if s.perWorker != nil {
		up = 1
	}
	e.emit("dsrlb_dataplane_up", nil, up)
	e.emit("dsrlb_ctrl_in_sync", nil, b2f(st.Dataplane.InSync))
	if s.perWorker != nil {
		dp := &st.Dataplane
		e.emit("dsrlb_dataplane_info", labels{"pid", strconv.Itoa(dp.PID), "boot_id", dp.BootID}, 1)
		e.emit("dsrlb_dataplane_heartbeat_age_seconds", nil, dp.HeartbeatAge)
		c.dataplane(&e, s)
	}
	c.services(&e, st)
	c.vrrp(&e, st)
	c.bgp(&e, st)
}

// bgp emits the BGP sessions and announcements.
func (c *scrapeCollector) bgp(e *emitter, st *Status) {
	b := st.BGP
	if b == nil {
		return
	}
	e.emit("dsrlb_bgp_draining", nil, b2f(b.Draining))
	for _, n := range b.Peers {
		pl := labels{"peer", n.Address.String(), "peer_asn", strconv.FormatUint(uint64(n.ASN), 10)}
		e.emit("dsrlb_bgp_peer_up", pl, b2f(n.State == "established"))
		e.emit("dsrlb_bgp_peer_established_total", pl, float64(n.Established))
		e.emit("dsrlb_bgp_peer_drops_total", pl, float64(n.Drops))
		e.emit("dsrlb_bgp_peer_routes_received", pl, float64(n.RoutesReceived))
		e.emit("dsrlb_bgp_peer_updates_received_total", pl, float64(n.UpdatesReceived))
		e.emit("dsrlb_bgp_peer_updates_sent_total", pl, float64(n.UpdatesSent))
		e.emit("dsrlb_bgp_peer_advertised_prefixes", pl, float64(n.Advertised))
	}
	for _, x := range b.Prefixes {
		xl := labels{"prefix", x.Prefix.String()}
		e.emit("dsrlb_bgp_prefix_announced", xl, b2f(x.Announce))
		e.emit("dsrlb_bgp_prefix_announcements_total", xl, float64(x.Announcements))
		e.emit("dsrlb_bgp_prefix_withdrawals_total", xl, float64(x.Withdrawals))
	}
}

// dataplane emits the counters of the shared memory's tables.
func (c *scrapeCollector) dataplane(e *emitter, s *scrape) {
	for w, vals := range s.perWorker {
		wl := strconv.Itoa(w)
		for i, v := range vals {
			d := counters.Workers[i]
			switch d.Class {
			case counters.ClassVerdict:
				e.emit("dsrlb_worker_verdicts_total", labels{"worker", wl, "verdict", d.Name}, float64(v))
			case counters.ClassDrop:
				e.emit("dsrlb_worker_drops_total", labels{"worker", wl, "reason", d.Name}, float64(v))
			default:
				e.value(d, "dsrlb_worker_"+d.Name, labels{"worker", wl}, v)
			}
		}
	}
	if sn := s.stats; sn != nil {
		c.perService(e, sn)
	}
	for _, pc := range s.st.Ports {
		for _, ct := range pc.Counters {
			e.value(descOf(counters.Ports, ct.Name), "dsrlb_port_"+ct.Name, labels{"port", pc.Port}, ct.Value)
		}
	}
	for _, ct := range s.st.Global {
		e.value(descOf(counters.Globals, ct.Name), "dsrlb_dataplane_"+ct.Name, nil, ct.Value)
	}
}

// perService emits the data plane's per-service, per-real-server and
// connection-table counters and gauges.
func (c *scrapeCollector) perService(e *emitter, sn *stats.Snapshot) {
	for w, g := range sn.Workers {
		ws := strconv.Itoa(w)
		wl := labels{"worker", ws}
		e.emit("dsrlb_worker_conntrack_entries", wl, float64(g.ConntrackEntries))
		e.emit("dsrlb_worker_conntrack_capacity", wl, float64(g.ConntrackCapacity))
		e.emit("dsrlb_worker_conntrack_expired_total", wl, float64(g.ConntrackExpired))
		e.emit("dsrlb_worker_conntrack_flows", labels{"worker", ws, "state", "syn"}, float64(g.ConntrackSyn))
		e.emit("dsrlb_worker_conntrack_flows", labels{"worker", ws, "state", "established"}, float64(g.ConntrackEstablished))
		e.emit("dsrlb_worker_conntrack_flows", labels{"worker", ws, "state", "closing"}, float64(g.ConntrackClosing))
		e.emit("dsrlb_worker_conntrack_flows", labels{"worker", ws, "state", "udp"}, float64(g.ConntrackUDP))
	}
	for _, sv := range sn.Services {
		proto := strconv.Itoa(int(sv.Proto))
		switch sv.Proto {
		case 6:
			proto = "tcp"
		case 17:
			proto = "udp"
		}
		sl := labels{"service", sv.Name, "vip", sv.VIP.String(), "protocol", proto, "service_port", strconv.Itoa(int(sv.Port)), "method", sv.Method}
		k := sv.Counters
		e.emit("dsrlb_service_packets_total", sl, float64(k.Packets))
		e.emit("dsrlb_service_bytes_total", sl, float64(k.Bytes))
		e.emit("dsrlb_service_new_flows_total", sl, float64(k.NewFlows))
		e.emit("dsrlb_service_icmp_errors_total", sl, float64(k.ICMPErrors))
		for i, n := range k.Drops {
			e.emit("dsrlb_service_drops_total", append(slices.Clone(sl), "reason", stats.DropNames[i]), float64(n))
		}
		active, inactive := sv.Connections()
		e.emit("dsrlb_service_connections_active", sl, float64(active))
		e.emit("dsrlb_service_connections_inactive", sl, float64(inactive))
		for _, b := range sv.Backends {
			bl := append(slices.Clone(sl), "backend", b.Addr.Unmap().String())
			e.emit("dsrlb_backend_packets_total", bl, float64(b.Counters.Packets))
			e.emit("dsrlb_backend_bytes_total", bl, float64(b.Counters.Bytes))
			e.emit("dsrlb_backend_new_flows_total", bl, float64(b.Counters.NewFlows))
			e.emit("dsrlb_backend_connections_active", bl, float64(b.Counters.ActiveConns))
			e.emit("dsrlb_backend_connections_inactive", bl, float64(b.Counters.InactiveConns))
		}
	}
	e.emit("dsrlb_stats_unslotted", labels{"kind", "service"}, float64(sn.UnslottedServices))
	e.emit("dsrlb_stats_unslotted", labels{"kind", "backend"}, float64(sn.UnslottedBackends))
	e.emit("dsrlb_stats_overflow_packets_total", labels{"kind", "service"}, float64(sn.Overflow.Services.Packets))
	e.emit("dsrlb_stats_overflow_packets_total", labels{"kind", "backend"}, float64(sn.Overflow.Backends.Packets))
}

func descOf(table []counters.Desc, name string) counters.Desc {
	return table[counters.IndexIn(table, name)]
}

// services emits the control process's view of services and real servers.
func (c *scrapeCollector) services(e *emitter, st *Status) {
	for _, sv := range st.Services {
		sl := labels{"service", sv.Name}
		e.emit("dsrlb_service_quorum_up", sl, b2f(sv.QuorumUp))
		e.emit("dsrlb_service_quorum", sl, float64(sv.Quorum))
		e.emit("dsrlb_service_quorum_hysteresis", sl, float64(sv.Hysteresis))
		e.emit("dsrlb_service_sorry_active", sl, b2f(sv.SorryActive))
		e.emit("dsrlb_service_healthy_weight", sl, float64(sv.HealthyWeight))
		e.emit("dsrlb_service_healthy_backends", sl, float64(sv.Healthy))
		e.emit("dsrlb_service_backends", sl, float64(sv.Total))
		if sv.TableFingerprint != "" {
			e.emit("dsrlb_service_table_info", labels{"service", sv.Name, "vip", sv.VIP, "table", sv.TableFingerprint, "config", sv.ConfigFingerprint}, 1)
		}
		for _, r := range sv.RealServers {
			bl := labels{"service", sv.Name, "backend", r.Address}
			state := r.State
			if state == "" {
				state = "pending"
			}
			states := []string{"up", "inhibited", "standby", "removed", "pending"}
			if r.SorryServer {
				states = []string{"sorry", "standby"}
			}
			for _, s := range states {
				e.emit("dsrlb_backend_state", append(bl, "state", s), b2f(state == s))
			}
			e.emit("dsrlb_backend_weight", bl, float64(r.Weight))
			e.emit("dsrlb_backend_effective_weight", bl, float64(r.EffectiveWeight))
			if r.SorryServer {
				continue
			}
			if (r.Health != nil && !r.Health.Running) || (r.DSRPath != nil && !r.DSRPath.Running) {
				continue // its checks have not started: neither up nor down yet
			}
			e.emit("dsrlb_backend_up", bl, b2f(r.Healthy()))
			if p := r.DSRPath; p != nil {
				e.emit("dsrlb_backend_dsr_path_up", bl, b2f(p.Up))
				e.emit("dsrlb_backend_dsr_path_checks_total", bl, float64(p.Checks))
				e.emit("dsrlb_backend_dsr_path_check_failures_total", bl, float64(p.Failures))
			}
			if h := r.Health; h != nil {
				e.emit("dsrlb_backend_check_consecutive_successes", bl, float64(h.ConsecutiveOK))
				e.emit("dsrlb_backend_check_consecutive_failures", bl, float64(h.ConsecutiveFail))
				e.emit("dsrlb_backend_checks_total", bl, float64(h.Checks))
				e.emit("dsrlb_backend_check_failures_total", bl, float64(h.Failures))
			}
		}
	}
}

// vrrp emits every VRRP instance.
func (c *scrapeCollector) vrrp(e *emitter, st *Status) {
	for _, v := range st.VRRP {
		il := labels{"vrrp_instance", v.Name}
		for _, s := range []string{"INIT", "BACKUP", "MASTER", "FAULT"} {
			e.emit("dsrlb_vrrp_state", labels{"vrrp_instance", v.Name, "vrid", strconv.Itoa(int(v.VRID)), "family", v.Family, "state", s}, b2f(v.State == s))
		}
		e.emit("dsrlb_vrrp_priority", il, float64(v.Priority))
		e.emit("dsrlb_vrrp_effective_priority", il, float64(v.Effective))
		e.emit("dsrlb_vrrp_adverts_sent_total", il, float64(v.AdvertsSent))
		e.emit("dsrlb_vrrp_adverts_received_total", il, float64(v.AdvertsRecv))
		e.emit("dsrlb_vrrp_transitions_total", il, float64(v.Transitions))
		e.emit("dsrlb_vrrp_send_errors_total", il, float64(v.SendErrors))
		for c := vrrp.Cause(1); c < vrrp.CauseCount; c++ {
			e.emit("dsrlb_vrrp_adverts_ignored_total", append(slices.Clone(il), "cause", c.String()), float64(v.Errors[c.String()]))
		}
	}
}

// labels are alternating names and values, in the order MetricDocs
// gives the names.
type labels []string

// emitter builds const metrics from the documented families.
type emitter struct {
	ch    chan<- prometheus.Metric
	descs map[string]*prometheus.Desc
}

// emit sends the sample of family name; the labels' names must be the
// family's (a mismatch is a bug the metrics tests catch).
func (e *emitter) emit(name string, l labels, v float64) {
	doc, ok := docByName[name]
	if !ok {
		panic("ctrl: undocumented metric " + name)
	}
	var vals []string
	for i := 0; i+1 < len(l); i += 2 {
		if i/2 >= len(doc.Labels) || doc.Labels[i/2] != l[i] {
			panic(fmt.Sprintf("ctrl: metric %s: label %q, documented %v", name, l[i], doc.Labels))
		}
		vals = append(vals, l[i+1])
	}
	d, ok := e.descs[name]
	if !ok {
		d = prometheus.NewDesc(name, doc.Help, doc.Labels, nil)
		e.descs[name] = d
	}
	t := prometheus.GaugeValue
	if doc.Type == "counter" {
		t = prometheus.CounterValue
	}
	e.ch <- prometheus.MustNewConstMetric(d, t, v, vals...)
}

// value emits a counters-table value under its documented family.
func (e *emitter) value(d counters.Desc, name string, l labels, v uint64) {
	if d.Kind == counters.Gauge {
		e.emit(name, l, float64(v))
		return
	}
	e.emit(name+"_total", l, float64(v))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
