package ctrl

import (
	"fmt"
	"slices"
	"strings"

	"dsrlb/perf/counters"
)

// MetricDoc describes one metric family dsrlb-ctrl exports: the README's
// metric list is generated from these (make readme), and a test checks
// that a scrape exports exactly these.
type MetricDoc struct {
	Name   string
	Type   string // counter, gauge, histogram
	Labels []string
	Help   string
}

var (
	svcLabels     = []string{"service", "vip", "protocol", "service_port", "method"}
	backendLabels = []string{"service", "vip", "protocol", "service_port", "method", "backend"}
	rsLabels      = []string{"service", "backend"}
	bgpPeerLabels = []string{"peer", "peer_asn"}
)

// staticDocs are the families not derived from the counters tables.
var staticDocs = []MetricDoc{
	{"dsrlb_build_info", "gauge", []string{"version", "goversion"}, "dsrlb-ctrl's version and Go version; always 1."},
	{"dsrlb_dataplane_up", "gauge", nil, "1 while the data plane's shared memory is mapped and its heartbeat fresh; 0 otherwise, and then no other dsrlb_dataplane_*, dsrlb_worker_*, dsrlb_port_*, dsrlb_service_*_total, dsrlb_backend_*_total or dsrlb_*_connections_* series are exported."},
	{"dsrlb_dataplane_info", "gauge", []string{"pid", "boot_id"}, "The data plane process; always 1."},
	{"dsrlb_dataplane_heartbeat_age_seconds", "gauge", nil, "Age of the data plane's heartbeat (it beats every 10 ms)."},
	{"dsrlb_worker_verdicts_total", "counter", []string{"worker", "verdict"}, "Packets by verdict that sent or handed them on (forward, arp_reply, ndp_reply, echo_reply, frag_needed, packet_too_big, to_kernel, arp_learned, ndp_learned), per worker."},
	{"dsrlb_worker_drops_total", "counter", []string{"worker", "reason"}, "Packets dropped, by reason (the drop counters of the counters table), per worker."},
	{"dsrlb_worker_conntrack_entries", "gauge", []string{"worker"}, "Flows in the worker's connection table."},
	{"dsrlb_worker_conntrack_capacity", "gauge", []string{"worker"}, "Size of the worker's connection table, in flows."},
	{"dsrlb_worker_conntrack_expired_total", "counter", []string{"worker"}, "Flows the worker's sweep removed after their idle timeout."},
	{"dsrlb_worker_conntrack_flows", "gauge", []string{"worker", "state"}, "Flows in the worker's connection table by state, as the inbound packets show it: syn (TCP, a SYN only so far: half-open), established (TCP, past the client's first ACK), closing (TCP, after a FIN or RST), udp; they add up to dsrlb_worker_conntrack_entries."},
	{"dsrlb_service_packets_total", "counter", svcLabels, "Packets forwarded to the service's real servers (not its drops: see dsrlb_service_drops_total)."},
	{"dsrlb_service_bytes_total", "counter", svcLabels, "Bytes of the frames forwarded to the service's real servers (Ethernet and tunnel headers included)."},
	{"dsrlb_service_new_flows_total", "counter", svcLabels, "New flows (connection-tracking misses) scheduled to a real server of the service."},
	{"dsrlb_service_icmp_errors_total", "counter", svcLabels, "ICMP fragmentation needed / ICMPv6 Packet Too Big sent for the service's packets too large for their tunnel."},
	{"dsrlb_service_drops_total", "counter", append(slices.Clone(svcLabels), "reason"), "The service's packets dropped, by reason (no_backend, no_mac, too_big, icmp_rate_limit, no_headroom, malformed, tx_full)."},
	{"dsrlb_service_connections_active", "gauge", svcLabels, "Active connections of the service: the sum of dsrlb_backend_connections_active over its real servers (those without a counter slot are not counted)."},
	{"dsrlb_service_connections_inactive", "gauge", svcLabels, "Inactive connections of the service: the sum of dsrlb_backend_connections_inactive over its real servers (those without a counter slot are not counted)."},
	{"dsrlb_backend_packets_total", "counter", backendLabels, "Packets forwarded to the real server."},
	{"dsrlb_backend_bytes_total", "counter", backendLabels, "Bytes of the frames forwarded to the real server."},
	{"dsrlb_backend_new_flows_total", "counter", backendLabels, "New flows scheduled to the real server."},
	{"dsrlb_backend_connections_active", "gauge", backendLabels, "Connections to the real server that completed their handshake (the client's first ACK seen), and its UDP flows, in the workers' connection tables now; like IPVS's ActiveConn, from the inbound packets only."},
	{"dsrlb_backend_connections_inactive", "gauge", backendLabels, "Connections to the real server that sent only a SYN, or are closing after a FIN or RST, in the workers' connection tables now; like IPVS's InActConn, from the inbound packets only."},
	{"dsrlb_stats_unslotted", "gauge", []string{"kind"}, "Services (kind=service) or real servers (kind=backend) without a counter slot of their own (stats_services / stats_backends too small): they are counted in the overflow series."},
	{"dsrlb_stats_overflow_packets_total", "counter", []string{"kind"}, "Packets of services or real servers without a counter slot."},
	{"dsrlb_service_quorum_up", "gauge", []string{"service"}, "1 while the service's healthy weight holds its quorum."},
	{"dsrlb_service_quorum", "gauge", []string{"service"}, "The service's configured quorum (minimum healthy weight)."},
	{"dsrlb_service_quorum_hysteresis", "gauge", []string{"service"}, "The service's configured quorum hysteresis."},
	{"dsrlb_service_sorry_active", "gauge", []string{"service"}, "1 while the sorry server stands in for the service."},
	{"dsrlb_service_healthy_weight", "gauge", []string{"service"}, "Sum of the weights of the service's healthy real servers."},
	{"dsrlb_service_healthy_backends", "gauge", []string{"service"}, "Healthy real servers of the service."},
	{"dsrlb_service_backends", "gauge", []string{"service"}, "Real servers of the service (the sorry server not counted)."},
	{"dsrlb_backend_up", "gauge", rsLabels, "1 while the real server is healthy (its checks, those it has, pass; or it has none), 0 while down; absent until its checks run (they start once the data plane has answered)."},
	{"dsrlb_backend_dsr_path_up", "gauge", rsLabels, "1 while the real server's DSR path check ([service.dsr_check]) passes, 0 while it fails; with dsrlb_backend_check_consecutive_failures at 0 it means: the server answers on its own address but its DSR set-up is broken. Absent without a DSR path check."},
	{"dsrlb_backend_dsr_path_checks_total", "counter", rsLabels, "Probes of the real server's DSR path check."},
	{"dsrlb_backend_dsr_path_check_failures_total", "counter", rsLabels, "Failed probes of the real server's DSR path check."},
	{"dsrlb_backend_weight", "gauge", rsLabels, "Configured weight of the real server (0 for the sorry server)."},
	{"dsrlb_backend_effective_weight", "gauge", rsLabels, "Weight the data plane was sent for the real server."},
	{"dsrlb_backend_state", "gauge", []string{"service", "backend", "state"}, "1 for the real server's current state (up, inhibited, standby: healthy but in a lower priority group, removed, pending; the sorry server: sorry, standby), 0 for the others."},
	{"dsrlb_backend_check_consecutive_successes", "gauge", rsLabels, "Consecutive successful probes of the real server's health check."},
	{"dsrlb_backend_check_consecutive_failures", "gauge", rsLabels, "Consecutive failed probes of the real server's health check."},
	{"dsrlb_backend_checks_total", "counter", rsLabels, "Probes of the real server's health check."},
	{"dsrlb_backend_check_failures_total", "counter", rsLabels, "Failed probes of the real server's health check (flapping shows here even between scrapes)."},
	{"dsrlb_health_check_duration_seconds", "histogram", []string{"type"}, "Duration of health check probes, by check type (tcp, http, https, icmp, udp, script)."},
	{"dsrlb_ctrl_in_sync", "gauge", nil, "1 when the data plane was sent the current state."},
	{"dsrlb_ctrl_transactions_pushed_total", "counter", nil, "Transactions pushed completely onto the command ring."},
	{"dsrlb_ctrl_transactions_applied_total", "counter", nil, "Transactions the data plane confirmed as applied."},
	{"dsrlb_ctrl_transactions_rejected_total", "counter", nil, "Transactions the data plane rejected (its forwarding unchanged)."},
	{"dsrlb_ctrl_transaction_latency_seconds", "histogram", nil, "From a transaction pushed completely to the data plane's Applied for it."},
	{"dsrlb_ctrl_ring_full_total", "counter", nil, "Times a push waited for room in the command ring."},
	{"dsrlb_ctrl_reloads_total", "counter", []string{"result"}, "Configuration reloads, by result (ok, failed)."},
	{"dsrlb_vrrp_state", "gauge", []string{"vrrp_instance", "vrid", "family", "state"}, "1 for the VRRP instance's current state (INIT, BACKUP, MASTER, FAULT), 0 for the others."},
	{"dsrlb_vrrp_priority", "gauge", []string{"vrrp_instance"}, "Configured VRRP priority."},
	{"dsrlb_vrrp_effective_priority", "gauge", []string{"vrrp_instance"}, "VRRP priority after tracking."},
	{"dsrlb_vrrp_adverts_sent_total", "counter", []string{"vrrp_instance"}, "VRRP adverts sent."},
	{"dsrlb_vrrp_adverts_received_total", "counter", []string{"vrrp_instance"}, "VRRP adverts received and acted on."},
	{"dsrlb_vrrp_transitions_total", "counter", []string{"vrrp_instance"}, "VRRP state transitions."},
	{"dsrlb_vrrp_send_errors_total", "counter", []string{"vrrp_instance"}, "VRRP adverts that could not be sent."},
	{"dsrlb_service_table_info", "gauge", []string{"service", "vip", "table", "config"}, "Fingerprints of the service's Maglev table: table is the one the data plane was given (health applied), config the configuration's with every real server healthy; always 1. Balancers of one VIP with equal table fingerprints send every flow to the same real server: count by (vip) (count by (vip, table) (dsrlb_service_table_info)) > 1 finds those that disagree."},
	{"dsrlb_bgp_draining", "gauge", nil, "1 while dsrlb-ctrl drains before stopping (VIPs announced with GRACEFUL_SHUTDOWN); absent without [bgp]."},
	{"dsrlb_bgp_peer_up", "gauge", bgpPeerLabels, "1 while the BGP session to the neighbour is established."},
	{"dsrlb_bgp_peer_established_total", "counter", bgpPeerLabels, "Times the BGP session to the neighbour came up."},
	{"dsrlb_bgp_peer_drops_total", "counter", bgpPeerLabels, "Times the established BGP session to the neighbour went down."},
	{"dsrlb_bgp_peer_routes_received", "gauge", bgpPeerLabels, "Routes the neighbour sends now: ignored (the balancer installs nothing it learns)."},
	{"dsrlb_bgp_peer_updates_received_total", "counter", bgpPeerLabels, "BGP UPDATE messages received from the neighbour."},
	{"dsrlb_bgp_peer_updates_sent_total", "counter", bgpPeerLabels, "BGP UPDATE messages sent to the neighbour."},
	{"dsrlb_bgp_peer_advertised_prefixes", "gauge", bgpPeerLabels, "Prefixes announced to the neighbour now."},
	{"dsrlb_bgp_prefix_announced", "gauge", []string{"prefix"}, "1 while the VIP's host route is announced (a service of it up and the data plane fit), 0 while withdrawn; dsrlbctl status gives the reason."},
	{"dsrlb_bgp_prefix_announcements_total", "counter", []string{"prefix"}, "Times the VIP was announced."},
	{"dsrlb_bgp_prefix_withdrawals_total", "counter", []string{"prefix"}, "Times the VIP was withdrawn."},
	{"dsrlb_vrrp_adverts_ignored_total", "counter", []string{"vrrp_instance", "cause"}, "Received VRRP adverts ignored, by cause (ttl, checksum, version, unknown_vrid, auth_type, auth_pass, interval, address_list, address_family, source, truncated, type)."},
}

// MetricDocs lists every family: the static ones and those of the
// counters tables (worker counters without a class as
// dsrlb_worker_NAME_total, ports' as dsrlb_port_NAME_total, the global
// block's as dsrlb_dataplane_NAME[_total]).
func MetricDocs() []MetricDoc {
	out := slices.Clone(staticDocs)
	for _, d := range counters.Workers {
		if d.Class == counters.ClassNone {
			out = append(out, tableDoc(d, "dsrlb_worker_", []string{"worker"}))
		}
	}
	for _, d := range counters.Ports {
		out = append(out, tableDoc(d, "dsrlb_port_", []string{"port"}))
	}
	for _, d := range counters.Globals {
		out = append(out, tableDoc(d, "dsrlb_dataplane_", nil))
	}
	slices.SortFunc(out, func(a, b MetricDoc) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func tableDoc(d counters.Desc, prefix string, labels []string) MetricDoc {
	help := strings.ToUpper(d.Help[:1]) + d.Help[1:] + " (" + d.Unit + ")."
	if d.Kind == counters.Gauge {
		return MetricDoc{prefix + d.Name, "gauge", labels, help}
	}
	return MetricDoc{prefix + d.Name + "_total", "counter", labels, help}
}

var docByName = func() map[string]MetricDoc {
	m := map[string]MetricDoc{}
	for _, d := range MetricDocs() {
		m[d.Name] = d
	}
	return m
}()

// MetricsMarkdown is the README's metric list.
func MetricsMarkdown() string {
	var b strings.Builder
	b.WriteString("| metric | type | labels | meaning |\n|---|---|---|---|\n")
	for _, d := range MetricDocs() {
		l := "-"
		if len(d.Labels) > 0 {
			l = "`" + strings.Join(d.Labels, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", d.Name, d.Type, l, strings.ReplaceAll(d.Help, "|", "\\|"))
	}
	return b.String()
}

// README markers around the generated metric list.
const (
	MetricsBeginMarker = "<!-- metrics list: generated from ctrl/metricdocs.go; `make readme` rewrites it -->"
	MetricsEndMarker   = "<!-- end of metrics list -->"
)
