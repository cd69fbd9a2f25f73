package perf

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const (
	dashboardPath = "grafana/dsrlb.json"
	rulesPath     = "alerts/dsrlb.rules.yml"
	rulesTestPath = "alerts/dsrlb.rules.test.yml"
)

// metricScope says which labels a metric family has besides the target's
// instance and job.
type metricScope int

const (
	scopeGlobal      metricScope = iota
	scopeWorker                  // worker
	scopePort                    // port (the port's name)
	scopeServiceDP               // service, vip, protocol, port, method (data plane)
	scopeBackendDP               // the above and backend
	scopeServiceCtrl             // service (control process)
	scopeBackendCtrl             // service, backend (control process)
	scopeVRRP                    // vrrp_instance (dsrlb_vrrp_state also vrid, family)
)

type metricKind int

const (
	counter metricKind = iota
	gauge
	histogram
)

// metricSpec is one metric family of the exporter in dsrlb-ctrl: the
// contract between it and the dashboard and the alerts. extra is a label
// beyond the scope's, with the values it takes.
type metricSpec struct {
	name   string
	kind   metricKind
	scope  metricScope
	extra  string
	values []string
}

var (
	workerDropReasons = []string{"malformed", "bad_checksum", "unsupported_l2", "fragment", "ipv6_ext_unknown",
		"not_vip", "no_service", "no_backend", "no_mac", "own_address", "icmp_not_echo", "arp_ignored",
		"ndp_ignored", "arp_backup", "ndp_backup", "tx_full", "kernel_full", "too_big", "icmp_rate_limit", "no_headroom"}
	// The reasons a drop can be a service's (a guess for the fixture only;
	// the exporter decides).
	serviceDropReasons = []string{"no_backend", "no_mac", "tx_full", "too_big", "icmp_rate_limit", "no_headroom"}
	verdicts           = []string{"forward", "arp_reply", "ndp_reply", "echo_reply", "frag_needed", "packet_too_big",
		"to_kernel", "arp_learned", "ndp_learned"}
	// A real server's states, then the sorry server's.
	backendStates = []string{"up", "inhibited", "removed", "pending", "sorry", "standby"}
	// The states of a connection-table entry.
	conntrackStates = []string{"syn", "established", "closing", "udp"}
	vrrpStates      = []string{"INIT", "BACKUP", "MASTER", "FAULT"}
)

// contract is every metric the exporter writes, as agreed with its author
// (ctrl/metrics.go). The sorry server has only dsrlb_backend_state,
// dsrlb_backend_weight and dsrlb_backend_effective_weight; a real server
// without a health check no dsrlb_backend_check_* series; while the data
// plane is gone, of the data plane only dsrlb_dataplane_up 0.
var contract = []metricSpec{
	// data plane, read from shared memory at scrape time
	{name: "dsrlb_dataplane_up", kind: gauge},
	{name: "dsrlb_dataplane_info", kind: gauge, extra: "pid"}, // and boot_id
	{name: "dsrlb_dataplane_heartbeat_age_seconds", kind: gauge},
	{name: "dsrlb_worker_rx_packets_total", scope: scopeWorker},
	{name: "dsrlb_worker_rx_bytes_total", scope: scopeWorker},
	{name: "dsrlb_worker_tx_bytes_total", scope: scopeWorker},
	{name: "dsrlb_worker_learn_overflow_total", scope: scopeWorker},
	{name: "dsrlb_worker_conntrack_hits_total", scope: scopeWorker},
	{name: "dsrlb_worker_conntrack_misses_total", scope: scopeWorker},
	{name: "dsrlb_worker_conntrack_full_total", scope: scopeWorker},
	{name: "dsrlb_worker_verdicts_total", scope: scopeWorker, extra: "verdict", values: verdicts},
	{name: "dsrlb_worker_drops_total", scope: scopeWorker, extra: "reason", values: workerDropReasons},
	{name: "dsrlb_worker_conntrack_entries", kind: gauge, scope: scopeWorker},
	{name: "dsrlb_worker_conntrack_capacity", kind: gauge, scope: scopeWorker},
	{name: "dsrlb_worker_conntrack_flows", kind: gauge, scope: scopeWorker, extra: "state", values: conntrackStates},
	{name: "dsrlb_port_imissed_total", scope: scopePort},
	{name: "dsrlb_port_rx_nombuf_total", scope: scopePort},
	{name: "dsrlb_port_ierrors_total", scope: scopePort},
	{name: "dsrlb_port_oerrors_total", scope: scopePort},
	{name: "dsrlb_port_tx_sent_total", scope: scopePort},
	{name: "dsrlb_port_tx_refused_total", scope: scopePort},
	{name: "dsrlb_dataplane_snapshot_gen", kind: gauge},
	{name: "dsrlb_dataplane_vrrp_masters", kind: gauge},
	{name: "dsrlb_dataplane_commits_total"},
	{name: "dsrlb_dataplane_commit_errors_total"},
	{name: "dsrlb_dataplane_injected_total"},
	{name: "dsrlb_dataplane_inject_failed_total"},
	{name: "dsrlb_dataplane_from_kernel_total"},
	{name: "dsrlb_dataplane_from_kernel_dropped_total"},
	{name: "dsrlb_dataplane_to_kernel_sent_total"},
	{name: "dsrlb_dataplane_to_kernel_dropped_total"},
	{name: "dsrlb_dataplane_events_dropped_total"},
	{name: "dsrlb_dataplane_vrrp_states_total"},
	{name: "dsrlb_dataplane_vrrp_state_errors_total"},
	{name: "dsrlb_dataplane_vrrp_announcements_total"},
	{name: "dsrlb_dataplane_vrrp_ctrl_lost_total"},
	{name: "dsrlb_service_packets_total", scope: scopeServiceDP},
	{name: "dsrlb_service_bytes_total", scope: scopeServiceDP},
	{name: "dsrlb_service_new_flows_total", scope: scopeServiceDP},
	{name: "dsrlb_service_icmp_errors_total", scope: scopeServiceDP},
	{name: "dsrlb_service_drops_total", scope: scopeServiceDP, extra: "reason", values: serviceDropReasons},
	{name: "dsrlb_backend_packets_total", scope: scopeBackendDP},
	{name: "dsrlb_backend_bytes_total", scope: scopeBackendDP},
	{name: "dsrlb_backend_new_flows_total", scope: scopeBackendDP},
	{name: "dsrlb_service_connections_active", kind: gauge, scope: scopeServiceDP},
	{name: "dsrlb_service_connections_inactive", kind: gauge, scope: scopeServiceDP},
	{name: "dsrlb_backend_connections_active", kind: gauge, scope: scopeBackendDP},
	{name: "dsrlb_backend_connections_inactive", kind: gauge, scope: scopeBackendDP},
	// control process
	{name: "dsrlb_backend_up", kind: gauge, scope: scopeBackendCtrl},
	{name: "dsrlb_backend_weight", kind: gauge, scope: scopeBackendCtrl},
	{name: "dsrlb_backend_effective_weight", kind: gauge, scope: scopeBackendCtrl},
	{name: "dsrlb_backend_state", kind: gauge, scope: scopeBackendCtrl, extra: "state", values: backendStates},
	{name: "dsrlb_backend_check_consecutive_successes", kind: gauge, scope: scopeBackendCtrl},
	{name: "dsrlb_backend_check_consecutive_failures", kind: gauge, scope: scopeBackendCtrl},
	{name: "dsrlb_backend_checks_total", scope: scopeBackendCtrl},
	{name: "dsrlb_health_check_duration_seconds", kind: histogram, extra: "type",
		values: []string{"tcp", "http", "https", "icmp", "udp", "script"}},
	{name: "dsrlb_service_quorum_up", kind: gauge, scope: scopeServiceCtrl},
	{name: "dsrlb_service_sorry_active", kind: gauge, scope: scopeServiceCtrl},
	{name: "dsrlb_service_healthy_weight", kind: gauge, scope: scopeServiceCtrl},
	{name: "dsrlb_service_healthy_backends", kind: gauge, scope: scopeServiceCtrl},
	{name: "dsrlb_service_backends", kind: gauge, scope: scopeServiceCtrl},
	{name: "dsrlb_ctrl_transactions_pushed_total"},
	{name: "dsrlb_ctrl_transactions_applied_total"},
	{name: "dsrlb_ctrl_transactions_rejected_total"},
	{name: "dsrlb_ctrl_transaction_latency_seconds", kind: histogram},
	{name: "dsrlb_ctrl_ring_full_total"},
	{name: "dsrlb_ctrl_in_sync", kind: gauge},
	{name: "dsrlb_ctrl_reloads_total", extra: "result", values: []string{"ok", "failed"}},
	{name: "dsrlb_build_info", kind: gauge, extra: "version"}, // and goversion
	{name: "dsrlb_vrrp_state", kind: gauge, scope: scopeVRRP, extra: "state", values: vrrpStates},
	{name: "dsrlb_vrrp_priority", kind: gauge, scope: scopeVRRP},
	{name: "dsrlb_vrrp_effective_priority", kind: gauge, scope: scopeVRRP},
	{name: "dsrlb_vrrp_adverts_sent_total", scope: scopeVRRP},
	{name: "dsrlb_vrrp_adverts_received_total", scope: scopeVRRP},
	{name: "dsrlb_vrrp_transitions_total", scope: scopeVRRP},
	{name: "dsrlb_vrrp_adverts_ignored_total", scope: scopeVRRP, extra: "cause",
		values: []string{"ttl", "checksum", "version", "vrid", "auth", "interval", "addresses", "source"}},
	{name: "dsrlb_vrrp_send_errors_total", scope: scopeVRRP},
	// BGP (only with [bgp]): peer_asn beside peer; the table fingerprint
	// beside table: vip and config.
	{name: "dsrlb_bgp_peer_up", kind: gauge, extra: "peer", values: []string{"192.0.2.1"}},
	{name: "dsrlb_bgp_prefix_announced", kind: gauge, extra: "prefix", values: []string{"192.0.2.100/32"}},
	{name: "dsrlb_service_table_info", kind: gauge, scope: scopeServiceCtrl, extra: "table", values: []string{"44576a7a9f7ea60a"}},
}

// lookupMetric finds the contract's family of a series name; a
// histogram's series are its name with _bucket, _sum or _count.
func lookupMetric(name string) (metricSpec, bool) {
	for _, m := range contract {
		if m.name == name {
			return m, true
		}
		if m.kind == histogram {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if name == m.name+suf {
					return m, true
				}
			}
		}
	}
	return metricSpec{}, false
}

// selector is a vector or range selector of a PromQL expression: the
// metric name and the text between its braces.
type selector struct {
	name, matchers string
}

// promqlKeywords are identifiers that are no metric names: operators,
// modifiers, and the aggregation operators, which may be followed by by
// or without instead of their parenthesis.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "offset": true, "bool": true, "atan2": true,
	"inf": true, "nan": true, "group_left": true, "group_right": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
}

// selectors lists the selectors of a PromQL expression: a small lexer
// that skips strings, comments, durations, numbers, function and
// aggregation names and the label lists of by, without, on, ignoring,
// group_left and group_right.
func selectors(expr string) ([]selector, error) {
	var out []selector
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
	}
	skipSpace := func(i int) int {
		for i < len(expr) && strings.ContainsRune(" \t\n\r", rune(expr[i])) {
			i++
		}
		return i
	}
	// until returns the index after the closing byte, honouring strings.
	until := func(i int, closing byte) (int, error) {
		for i < len(expr) {
			switch c := expr[i]; {
			case c == closing:
				return i + 1, nil
			case c == '"' || c == '\'' || c == '`':
				j := i + 1
				for j < len(expr) && expr[j] != c {
					if expr[j] == '\\' && c != '`' {
						j++
					}
					j++
				}
				if j >= len(expr) {
					return 0, fmt.Errorf("unterminated string at %d", i)
				}
				i = j + 1
			default:
				i++
			}
		}
		return 0, fmt.Errorf("missing %q", closing)
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j, err := until(i+1, c)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '[':
			j, err := until(i+1, ']')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '{':
			return nil, fmt.Errorf("selector without a metric name at %d", i)
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.') {
				i++
			}
		case isIdent(c, true):
			j := i
			for j < len(expr) && isIdent(expr[j], false) {
				j++
			}
			word := expr[i:j]
			k := skipSpace(j)
			switch {
			case word == "by" || word == "without" || word == "on" || word == "ignoring" ||
				(word == "group_left" || word == "group_right") && k < len(expr) && expr[k] == '(':
				if k >= len(expr) || expr[k] != '(' {
					return nil, fmt.Errorf("%s without a label list", word)
				}
				e, err := until(k+1, ')')
				if err != nil {
					return nil, err
				}
				i = e
			case promqlKeywords[word]:
				i = j
			case k < len(expr) && expr[k] == '(':
				i = j // a function or an aggregation
			case k < len(expr) && expr[k] == '{':
				e, err := until(k+1, '}')
				if err != nil {
					return nil, err
				}
				out = append(out, selector{word, expr[k+1 : e-1]})
				i = e
			default:
				out = append(out, selector{word, ""})
				i = j
			}
		default:
			i++
		}
	}
	return out, nil
}

func TestSelectors(t *testing.T) {
	got, err := selectors(`sum by (service, backend) (rate(a_total{x=~"$i", y="}"}[1m])) / on (service) group_left
		sum without (le) (b) > bool 0.5e3 or histogram_quantile(0.9, c_bucket[5m:1m] offset 1h) # d`)
	if err != nil {
		t.Fatal(err)
	}
	want := []selector{{"a_total", `x=~"$i", y="}"`}, {"b", ""}, {"c_bucket", ""}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for _, bad := range []string{`{__name__="x"}`, `a{x="1"`, `sum by x`} {
		if _, err := selectors(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// The dashboard is what Grafana 9 and 10 load: ids unique, every panel
// with targets on the datasource variable, the template variables, every
// selector filtered by balancer and, where it has one, by service.
func TestDashboard(t *testing.T) {
	d, err := readDashboard(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	if d.UID != "dsrlb" || d.Title == "" {
		t.Errorf("uid %q title %q", d.UID, d.Title)
	}
	// 36 is Grafana 9.0..9.3, 37 9.4..9.5, 38 10.0..10.1, 39 10.2..10.4
	if d.SchemaVersion < 36 || d.SchemaVersion > 39 {
		t.Errorf("schemaVersion %d is not Grafana 9 or 10's", d.SchemaVersion)
	}
	vars := map[string]templateVar{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	query := func(v templateVar) string {
		var s string
		if json.Unmarshal(v.Query, &s) == nil {
			return s
		}
		var o struct{ Query string }
		json.Unmarshal(v.Query, &o)
		return o.Query
	}
	if v := vars["datasource"]; v.Type != "datasource" || query(v) != "prometheus" {
		t.Errorf("datasource variable %+v", v)
	}
	for name, q := range map[string]string{
		"instance": `label_values(dsrlb_dataplane_up, instance)`,
		"service":  `label_values(dsrlb_service_packets_total{instance=~"$instance"}, service)`,
	} {
		v := vars[name]
		if v.Type != "query" || query(v) != q || !v.Multi || !v.IncludeAll || v.AllValue != ".*" ||
			v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("variable %s: %+v (query %q)", name, v, query(v))
		}
	}
	if len(vars) != 3 {
		t.Errorf("variables %v", vars)
	}

	ids := map[int]string{}
	titles := map[string]int{}
	targets := 0
	for _, p := range d.allPanels() {
		if other, dup := ids[p.ID]; dup || p.ID <= 0 {
			t.Errorf("panel %q: id %d (also %q)", p.Title, p.ID, other)
		}
		ids[p.ID] = p.Title
		if p.Title == "" {
			t.Errorf("panel %d without a title", p.ID)
		}
		if _, dup := titles[p.Title]; dup {
			t.Errorf("panel title %q twice", p.Title)
		}
		titles[p.Title] = p.ID
		if p.Type == "row" {
			if len(p.Targets) > 0 {
				t.Errorf("row %d has targets", p.ID)
			}
			continue
		}
		if !slices.Contains([]string{"timeseries", "stat", "state-timeline"}, p.Type) {
			t.Errorf("panel %d: type %q", p.ID, p.Type)
		}
		isDS := func(ds *datasource) bool { return ds != nil && ds.Type == "prometheus" && ds.UID == "${datasource}" }
		if !isDS(p.Datasource) {
			t.Errorf("panel %d: datasource %+v", p.ID, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %d %q has no target", p.ID, p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			targets++
			where := fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID)
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: refId empty or twice", where)
			}
			refs[tg.RefID] = true
			if !isDS(tg.Datasource) {
				t.Errorf("%s: datasource %+v", where, tg.Datasource)
			}
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s: no expr", where)
			}
			sels, err := selectors(tg.Expr)
			if err != nil {
				t.Errorf("%s: %v", where, err)
			}
			if len(sels) == 0 {
				t.Errorf("%s: no selector", where)
			}
			for _, s := range sels {
				m, ok := lookupMetric(s.name)
				if !ok {
					continue // TestMetricNames says so
				}
				if !strings.Contains(s.matchers, `instance=~"$instance"`) {
					t.Errorf("%s: %s not filtered by instance=~\"$instance\"", where, s.name)
				}
				hasService := m.scope == scopeServiceDP || m.scope == scopeBackendDP ||
					m.scope == scopeServiceCtrl || m.scope == scopeBackendCtrl
				if hasService != strings.Contains(s.matchers, `service=~"$service"`) {
					t.Errorf("%s: %s: filtered by service=~\"$service\" should be %v", where, s.name, hasService)
				}
			}
		}
	}
	qs, err := DashboardQueries(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != targets {
		t.Errorf("DashboardQueries: %d queries for %d targets", len(qs), targets)
	}
	for _, q := range qs {
		if strings.Contains(q.Expr, "$") || q.Name == "" || q.PanelID == 0 || q.RefID == "" {
			t.Errorf("query %+v", q)
		}
	}
}

func TestSubstituteVars(t *testing.T) {
	got, err := SubstituteVars(`rate(a{instance=~"$instance", service=~"${service}", x=~"${instance:regex}"}[$__rate_interval]) + increase(b[$__range]) + c[$__interval] + label_replace(d, "e", "$1", "f", "(.*)")`)
	want := `rate(a{instance=~".*", service=~".*", x=~".*"}[1m]) + increase(b[5m]) + c[1m] + label_replace(d, "e", "$1", "f", "(.*)")`
	if err != nil || got != want {
		t.Errorf("got %q, %v\nwant %q", got, err, want)
	}
	for _, bad := range []string{`a[$__range_s]`, `a{x="$datasource"}`, `a{x="[[instance]]"}`} {
		if _, err := SubstituteVars(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// Every dashboard and alert expression names only metrics of the
// contract.
func TestMetricNames(t *testing.T) {
	dq, err := DashboardQueries(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	aq, err := AlertExprs(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, q := range append(dq, aq...) {
		sels, err := selectors(q.Expr)
		if err != nil {
			t.Errorf("%s %s: %v", q.Name, q.RefID, err)
		}
		for _, s := range sels {
			m, ok := lookupMetric(s.name)
			if !ok {
				t.Errorf("%s %s: %s is no metric of the exporter", q.Name, q.RefID, s.name)
			}
			used[m.name] = true
		}
	}
	var unused []string
	for _, m := range contract {
		if !used[m.name] {
			unused = append(unused, m.name)
		}
	}
	t.Logf("metrics neither on the dashboard nor in an alert: %s", strings.Join(unused, " "))
}

// The rules file reads with AlertRules; every alert has a severity, a
// summary and a description.
func TestAlertRules(t *testing.T) {
	rules, err := AlertRules(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) < 12 {
		t.Fatalf("%d rules", len(rules))
	}
	names := map[string]bool{}
	for _, r := range rules {
		if r.Group != "dsrlb" || r.Alert == "" || names[r.Alert] {
			t.Errorf("line %d: group %q alert %q (unique?)", r.Line, r.Group, r.Alert)
		}
		names[r.Alert] = true
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("%s: severity %q", r.Alert, s)
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" || len(r.Annotations) != 2 {
			t.Errorf("%s: annotations %v", r.Alert, r.Annotations)
		}
	}
	qs, err := AlertExprs(rulesPath)
	if err != nil || len(qs) != len(rules) {
		t.Fatalf("AlertExprs: %d, %v", len(qs), err)
	}
	if q := qs[0]; q.Name != rules[0].Alert || q.Expr != rules[0].Expr || q.PanelID != 0 {
		t.Errorf("AlertExprs[0] %+v", q)
	}
}

// Every alert has a test case where it fires and one where it does not.
func TestAlertRuleTestsCoverEveryAlert(t *testing.T) {
	rules, err := AlertRules(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(rulesTestPath)
	if err != nil {
		t.Fatal(err)
	}
	root, err := parseYAMLSubset(string(b))
	if err != nil {
		t.Fatalf("%s: %v", rulesTestPath, err)
	}
	files, err := root.seq("rule_files", true)
	if err != nil || len(files) != 1 || files[0].str != filepath.Base(rulesPath) {
		t.Fatalf("rule_files %v %v", files, err)
	}
	tests, err := root.seq("tests", true)
	if err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]int{}, map[string]int{}
	for _, tc := range tests {
		cases, err := tc.seq("alert_rule_test", false)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			name, err := c.scalarOf("alertname", true)
			if err != nil {
				t.Fatal(err)
			}
			exp, err := c.seq("exp_alerts", true)
			if err != nil {
				t.Fatal(err)
			}
			if len(exp) > 0 {
				fires[name]++
			} else {
				quiet[name]++
			}
		}
	}
	known := map[string]bool{}
	for _, r := range rules {
		known[r.Alert] = true
		if fires[r.Alert] == 0 || quiet[r.Alert] == 0 {
			t.Errorf("%s: %d cases where it fires, %d where it does not", r.Alert, fires[r.Alert], quiet[r.Alert])
		}
	}
	for name := range fires {
		if !known[name] {
			t.Errorf("test of unknown alert %s", name)
		}
	}
}

func TestYAMLSubset(t *testing.T) {
	n, err := parseYAMLSubset(`# comment
a: plain value # comment
b: "dq \"x\" {{ $labels.y }}"
c: 'sq ''x'''
d: |
  line 1
    line 2

e:
  - one
  - k: v
    l: |-
      text
  -
    m: n
f: []
g:
- x
`)
	if err != nil {
		t.Fatal(err)
	}
	str := func(k string) string { return n.m[k].str }
	if str("a") != "plain value" || str("b") != `dq "x" {{ $labels.y }}` || str("c") != "sq 'x'" || str("d") != "line 1\n  line 2\n" {
		t.Errorf("scalars %q %q %q %q", str("a"), str("b"), str("c"), str("d"))
	}
	e := n.m["e"].items
	if len(e) != 3 || e[0].str != "one" || e[1].m["k"].str != "v" || e[1].m["l"].str != "text" || e[2].m["m"].str != "n" {
		t.Errorf("sequence %+v", e)
	}
	if n.m["f"].kind != yamlSeq || len(n.m["f"].items) != 0 || len(n.m["g"].items) != 1 {
		t.Errorf("f %+v g %+v", n.m["f"], n.m["g"])
	}
	for _, bad := range []string{
		"a: 1\na: 2\n",
		"a:\n\tb: 1\n",
		"a: {b: 1}\n",
		"a: [1]\n",
		"a: &x 1\n",
		"a: b: c\n",
		"a: \"open\n  close\"\n",
		"a:\nb: 1\n",
		"a: 1\n  b: 2\n",
		"---\na: 1\n",
		"a: 'x' y\n",
		"a: \"\\x41\"\n",
	} {
		if _, err := parseYAMLSubset(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	_, err = rulesFrom(mustYAML(t, "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: x\n        keep_firing_for: 1m\n"))
	if err == nil || !strings.Contains(err.Error(), "keep_firing_for") {
		t.Errorf("unknown rule key: %v", err)
	}
	_, err = rulesFrom(mustYAML(t, "groups:\n  - name: g\n    rules:\n      - alert: A\n        for: 1m\n"))
	if err == nil || !strings.Contains(err.Error(), "expr") {
		t.Errorf("missing expr: %v", err)
	}
}

func mustYAML(t *testing.T, s string) *yamlNode {
	t.Helper()
	n, err := parseYAMLSubset(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// promtool finds Prometheus's promtool, which the Debian package
// prometheus installs.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: it comes with Debian's prometheus package (apt-get install prometheus; make deps installs it)")
	}
	return p
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	runPromtool(t, "check", "rules", rulesPath)
}

func TestPromtoolTestRules(t *testing.T) {
	runPromtool(t, "test", "rules", rulesTestPath)
}

// yamlSingleQuoted quotes s as a one-line YAML scalar.
func yamlSingleQuoted(s string) string {
	return "'" + strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "'", "''") + "'"
}

// Prometheus's own parser takes every dashboard expression: promtool
// checks them as recording rules.
func TestPromtoolParsesDashboardQueries(t *testing.T) {
	qs, err := DashboardQueries(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dsrlb_dashboard\n    rules:\n")
	for _, q := range qs {
		fmt.Fprintf(&b, "      - record: dsrlb_dashboard:panel_%d_%s\n        expr: %s\n", q.PanelID, q.RefID, yamlSingleQuoted(q.Expr))
	}
	path := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "check", "rules", path)
}

// fixtureSeries is a data set of two balancers with every metric of the
// contract, in promtool's series notation, 15 s apart for 10 minutes.
func fixtureSeries() []string {
	type svc struct{ name, vip, proto, port, method string }
	svcs := []svc{{"web", "192.0.2.100", "tcp", "80", "l2dsr"}, {"dns", "192.0.2.101", "udp", "53", "ipip"}}
	backends := map[string][]string{"web": {"192.0.2.21", "192.0.2.22"}, "dns": {"192.0.2.31"}}
	const sorry = "192.0.2.30" // web's sorry server
	sorryOnly := map[string]bool{"dsrlb_backend_state": true, "dsrlb_backend_weight": true, "dsrlb_backend_effective_weight": true}
	var out []string
	add := func(name, labels, values string) {
		out = append(out, fmt.Sprintf("      - series: %s\n        values: '%s'", yamlSingleQuoted(name+"{"+labels+"}"), values))
	}
	for i, inst := range []string{"lb1:9842", "lb2:9842"} {
		base := fmt.Sprintf(`instance="%s", job="dsrlb"`, inst)
		var sets []string
		for _, m := range contract {
			switch m.scope {
			case scopeGlobal:
				sets = []string{base}
			case scopeWorker:
				sets = []string{base + `, worker="0"`, base + `, worker="1"`}
			case scopePort:
				sets = []string{base + `, port="lan0"`}
			case scopeServiceDP, scopeBackendDP:
				sets = nil
				for _, s := range svcs {
					l := fmt.Sprintf(`%s, service="%s", vip="%s", protocol="%s", service_port="%s", method="%s"`, base, s.name, s.vip, s.proto, s.port, s.method)
					if m.scope == scopeServiceDP {
						sets = append(sets, l)
						continue
					}
					for _, be := range backends[s.name] {
						sets = append(sets, l+fmt.Sprintf(`, backend="%s"`, be))
					}
				}
			case scopeServiceCtrl:
				sets = []string{base + `, service="web"`, base + `, service="dns"`}
			case scopeBackendCtrl:
				sets = nil
				for _, s := range svcs {
					for _, be := range backends[s.name] {
						sets = append(sets, fmt.Sprintf(`%s, service="%s", backend="%s"`, base, s.name, be))
					}
				}
				if sorryOnly[m.name] {
					sets = append(sets, fmt.Sprintf(`%s, service="web", backend="%s"`, base, sorry))
				}
			case scopeVRRP:
				sets = []string{base + `, vrrp_instance="vi1"`}
				if m.name == "dsrlb_vrrp_state" {
					sets[0] += `, vrid="51", family="ipv4"`
				}
			}
			for _, l := range sets {
				switch {
				case m.name == "dsrlb_dataplane_info":
					add(m.name, l+fmt.Sprintf(`, pid="%d", boot_id="5f0c3a9e12d47b6%d"`, 4242+i, i), "1x40")
				case m.name == "dsrlb_build_info":
					add(m.name, l+`, version="1.0.0", goversion="go1.26.8"`, "1x40")
				case m.name == "dsrlb_vrrp_state" || m.name == "dsrlb_backend_state":
					current, states := []string{"MASTER", "BACKUP"}[i], m.values
					if m.name == "dsrlb_backend_state" {
						current, states = "up", m.values[:4]
						if strings.Contains(l, sorry) {
							current, states = "standby", m.values[4:]
						}
					}
					for _, v := range states {
						val := "0x40"
						if v == current {
							val = "1x40"
						}
						add(m.name, l+fmt.Sprintf(`, state="%s"`, v), val)
					}
				case m.kind == histogram:
					types := m.values
					if m.extra == "" {
						types = []string{""}
					}
					for _, ty := range types {
						ll := l
						if ty != "" {
							ll += fmt.Sprintf(`, %s="%s"`, m.extra, ty)
						}
						for j, le := range []string{"0.001", "0.01", "0.1", "1", "+Inf"} {
							add(m.name+"_bucket", ll+fmt.Sprintf(`, le="%s"`, le), fmt.Sprintf("0+%dx40", 2*j+1))
						}
						add(m.name+"_sum", ll, "0+0.5x40")
						add(m.name+"_count", ll, "0+9x40")
					}
				case m.extra != "":
					for _, v := range m.values {
						add(m.name, l+fmt.Sprintf(`, %s="%s"`, m.extra, v), "0+10x40")
					}
				case m.kind == counter:
					add(m.name, l, "0+10x40")
				case m.name == "dsrlb_worker_conntrack_capacity":
					add(m.name, l, "1048576x40")
				case m.name == "dsrlb_dataplane_heartbeat_age_seconds":
					add(m.name, l, "0.01x40")
				default:
					add(m.name, l, "1x40")
				}
			}
		}
	}
	return out
}

// On a data set of two balancers with every metric of the contract,
// every dashboard query returns something (and none fails, as a
// many-to-many match would): promtool evaluates them. The state
// timelines' encodings give the values their mappings expect.
func TestPromtoolEvaluatesDashboardQueries(t *testing.T) {
	qs, err := DashboardQueries(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("rule_files: []\nevaluation_interval: 15s\ntests:\n  - interval: 15s\n    input_series:\n")
	for _, s := range fixtureSeries() {
		b.WriteString(s + "\n")
	}
	b.WriteString("    promql_expr_test:\n")
	// The state encodings of the state timelines, exactly: lb1 is master,
	// lb2 backup; every real server is up, web's sorry server standby.
	exact := map[string][]string{
		"71A": {`{instance="lb1:9842", vrrp_instance="vi1"} 3`, `{instance="lb2:9842", vrrp_instance="vi1"} 2`},
		"72A": {`{vrrp_instance="vi1"} 1`},
	}
	for _, inst := range []string{"lb1:9842", "lb2:9842"} {
		for _, be := range []string{`service="dns", backend="192.0.2.31"} 1`, `service="web", backend="192.0.2.21"} 1`,
			`service="web", backend="192.0.2.22"} 1`, `service="web", backend="192.0.2.30"} 5`} {
			exact["22A"] = append(exact["22A"], fmt.Sprintf(`{instance="%s", %s`, inst, be))
		}
	}
	for _, q := range qs {
		fmt.Fprintf(&b, "      # panel %d %s, target %s\n      - expr: %s\n        eval_time: 10m\n        exp_samples:\n          - labels: '{}'\n            value: 1\n",
			q.PanelID, q.Name, q.RefID, yamlSingleQuoted("clamp_max(count("+q.Expr+"), 1)"))
		want, ok := exact[fmt.Sprintf("%d%s", q.PanelID, q.RefID)]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "      - expr: %s\n        eval_time: 10m\n        exp_samples:\n", yamlSingleQuoted(q.Expr))
		for _, w := range want {
			i := strings.LastIndex(w, " ")
			fmt.Fprintf(&b, "          - labels: %s\n            value: %s\n", yamlSingleQuoted(w[:i]), w[i+1:])
		}
		delete(exact, fmt.Sprintf("%d%s", q.PanelID, q.RefID))
	}
	if len(exact) > 0 {
		t.Errorf("no panel target for %v", exact)
	}
	path := filepath.Join(t.TempDir(), "dashboard.test.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "test", "rules", path)
}

// The contract lists each family once.
func TestContractUnique(t *testing.T) {
	var names []string
	for _, m := range contract {
		names = append(names, m.name)
	}
	sort.Strings(names)
	if c := slices.Compact(slices.Clone(names)); len(c) != len(names) {
		t.Errorf("duplicate metric names in the contract")
	}
}

// The provisioning files have the shape Grafana's provisioning documents:
// a Prometheus data source, and a file provider.
func TestGrafanaProvisioning(t *testing.T) {
	read := func(path string) *yamlNode {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n, err := parseYAMLSubset(string(b))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if v, _ := n.scalarOf("apiVersion", true); v != "1" {
			t.Errorf("%s: apiVersion %q", path, v)
		}
		return n
	}
	ds := read("grafana/provisioning/datasources/dsrlb.yml")
	list, err := ds.seq("datasources", true)
	if err != nil || len(list) != 1 {
		t.Fatalf("datasources: %v %v", list, err)
	}
	d := list[0]
	if err := d.onlyKeys("name", "uid", "type", "access", "orgId", "url", "isDefault", "editable", "jsonData"); err != nil {
		t.Error(err)
	}
	for k, want := range map[string]string{"type": "prometheus", "access": "proxy", "uid": "dsrlb-prometheus"} {
		if v, _ := d.scalarOf(k, true); v != want {
			t.Errorf("datasource %s %q, want %q", k, v, want)
		}
	}
	if u, _ := d.scalarOf("url", true); !strings.HasPrefix(u, "http") {
		t.Errorf("datasource url %q", u)
	}
	// The dashboard's datasource variable starts on this data source.
	db, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var model struct {
		Templating struct {
			List []struct {
				Name    string
				Current json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(db, &model); err != nil {
		t.Fatal(err)
	}
	name, _ := d.scalarOf("name", true)
	for _, v := range model.Templating.List {
		if v.Name != "datasource" {
			continue
		}
		var cur struct{ Text, Value string }
		if err := json.Unmarshal(v.Current, &cur); err != nil || cur.Value != "dsrlb-prometheus" || cur.Text != name {
			t.Errorf("datasource variable starts on %s (%v)", v.Current, err)
		}
	}

	dp := read("grafana/provisioning/dashboards/dsrlb.yml")
	provs, err := dp.seq("providers", true)
	if err != nil || len(provs) != 1 {
		t.Fatalf("providers: %v %v", provs, err)
	}
	p := provs[0]
	if err := p.onlyKeys("name", "orgId", "folder", "folderUid", "type", "disableDeletion", "allowUiUpdates", "updateIntervalSeconds", "options"); err != nil {
		t.Error(err)
	}
	if v, _ := p.scalarOf("type", true); v != "file" {
		t.Errorf("provider type %q", v)
	}
	opts, err := p.get("options", true, yamlMap)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := opts.scalarOf("path", true); !strings.HasPrefix(v, "/") {
		t.Errorf("provider path %q", v)
	}
}
