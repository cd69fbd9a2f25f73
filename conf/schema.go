package conf

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// The raw structs below mirror the configuration file key by key: values are
// kept as written (addresses and durations as strings, integers as int64) and
// optional keys are pointers, nil when absent. They are the reference for the
// file format; validate() turns them into a Config.

// rawConfig is the whole file.
type rawConfig struct {
	// [dataplane]: the packet-processing side. Required.
	Dataplane *rawDataplane `toml:"dataplane"`
	// [ctrl]: the control process (dsrlb-ctrl). Optional.
	Ctrl *rawCtrl `toml:"ctrl"`
	// [[service]]: virtual services. Zero or more.
	Service []rawService `toml:"service"`
	// [[vrrp]]: VRRP instances of dsrlb-ctrl. Zero or more.
	VRRP []rawVRRP `toml:"vrrp"`
	// [bgp]: BGP announcement of VIPs by dsrlb-ctrl (active-active
	// balancers behind ECMP routers). Optional.
	BGP *rawBGP `toml:"bgp"`
}

// rawDataplane is the [dataplane] table.
type rawDataplane struct {
	// workers: CPU ids; one worker lcore polls on each. Required, non-empty,
	// unique, each 0..1023, at most 64 entries.
	// Example: workers = [1, 2]
	Workers []int64 `toml:"workers"`

	// main_cpu: CPU id of the EAL main lcore (control and housekeeping
	// thread). Default 0. Must not be one of workers.
	MainCPU *int64 `toml:"main_cpu"`

	// eal_args: extra DPDK EAL arguments, passed through unchanged, e.g.
	// ["--no-huge", "-m", "512", "--no-shconf"]. Default none. dsrlb sets the
	// core list, main lcore and devices itself, so these are rejected:
	// -l, -c, --lcores, --main-lcore, --master-lcore, --vdev, -a, -b, -w,
	// --allow, --block, --pci-whitelist, --pci-blacklist (also in the
	// "--flag=value" and "-lVALUE" forms). Empty arguments are rejected.
	EALArgs []string `toml:"eal_args"`

	// address: the balancer's own IPv4 address with its on-link prefix
	// length, e.g. "192.0.2.10/24". Required. Answers ARP, sources ARP
	// requests and ICMP errors, and is the outer source address of IPv4
	// tunnels; with method l2dsr every IPv4 real server must be on-link
	// (inside the prefix or an on-link [[dataplane.route]]). Must be a
	// unicast host address (not the network or broadcast address of its
	// prefix).
	Address *string `toml:"address"`

	// address6: the balancer's own IPv6 address with its on-link prefix
	// length, e.g. "2001:db8::10/64". Required as soon as anything is
	// IPv6: a VIP, a real server, a sorry server, a static neighbour, a
	// route or gateway6. Answers neighbour discovery, sources neighbour
	// solicitations and ICMPv6 errors, and is the outer source address of
	// IPv6 tunnels (also for IPv4 VIPs over IPv6 real servers); with method
	// l2dsr every IPv6 real server must be on-link. A unicast address, not
	// IPv4-mapped, loopback or multicast.
	Address6 *string `toml:"address6"`

	// burst_size: packets received/transmitted per poll. 1..256, default 32.
	BurstSize *int64 `toml:"burst_size"`

	// mbufs: packet buffers in the mbuf pool. 1023..16777215, default 8191
	// (a power of two minus one is most memory-efficient).
	Mbufs *int64 `toml:"mbufs"`
	// mbuf_size: bytes of each packet buffer, DPDK's data room with its
	// 128-byte headroom: 2176 by default; at least 128 + the largest
	// port MTU + 22 (Ethernet, VLAN tag), at most 65535. Smaller buffers
	// hold more packets in the same memory where frames are small.
	MbufSize *int64 `toml:"mbuf_size"`
	// share_main_cpu: main_cpu may also be one of the workers' CPUs (for
	// machines with few CPUs); the main goroutine's work then takes time
	// slices from that worker. Default false.
	ShareMainCPU *bool `toml:"share_main_cpu"`

	// arp_refresh: how often real servers' MAC addresses are re-resolved.
	// Go duration ("500ms", "5s", "1m"), at least 100ms, default "5s".
	ARPRefresh *string `toml:"arp_refresh"`

	// arp_expiry: a MAC address not confirmed within this time is
	// forgotten (traffic to that real server is dropped until it answers
	// again). Go duration, default "30s", must be greater than arp_refresh.
	ARPExpiry *string `toml:"arp_expiry"`

	// stats_interval: period of the counter log line. Go duration, "0s"
	// disables it, default "10s".
	StatsInterval *string `toml:"stats_interval"`

	// idle_sleep: a worker that received nothing for 256 polling rounds
	// sleeps this long before polling again; saves CPU on test beds at the
	// cost of latency. Go duration 0..1ms, default "0s" (pure busy polling).
	IdleSleep *string `toml:"idle_sleep"`
	// shm: the shared-memory file the data plane creates and dsrlb-ctrl
	// opens (commands, events, counters). Absolute path, default
	// "/dev/shm/dsrlb".
	SHM *string `toml:"shm"`
	// tap: name of the kernel interface of the exception path, e.g.
	// "dsrlb0". The data plane creates it (DPDK net_tap) with the
	// balancer's address and the first port's MAC; traffic for the
	// balancer itself that the data plane does not answer (TCP, UDP,
	// VRRP, ARP replies) goes to the kernel, and what the kernel sends
	// leaves through the first port. dsrlb-ctrl's health checks use it.
	// Default "" (no exception path: such traffic is dropped and counted).
	TAP *string `toml:"tap"`
	// conntrack_entries: flows each worker tracks (16 bytes each), 1024..
	// 67108864, default 1048576. Rounded up to a multiple of 4.
	ConntrackEntries *int64 `toml:"conntrack_entries"`
	// conntrack_timeout: an established TCP flow idle this long is
	// forgotten (its next packet is scheduled again). Go duration,
	// 1s..9h, default "300s".
	ConntrackTimeout *string `toml:"conntrack_timeout"`
	// conntrack_syn_timeout: the same for a TCP flow that has sent only
	// a SYN so far (a half-open connection, or a SYN flood). Go duration,
	// 1s..9h, default "30s".
	ConntrackSynTimeout *string `toml:"conntrack_syn_timeout"`
	// conntrack_fin_timeout: the same for a TCP flow after the client
	// sent a FIN or an RST. Go duration, 1s..9h, default "60s".
	ConntrackFinTimeout *string `toml:"conntrack_fin_timeout"`
	// conntrack_udp_timeout: the same for a UDP flow. Go duration,
	// 1s..9h, default the value of conntrack_timeout.
	ConntrackUDPTimeout *string `toml:"conntrack_udp_timeout"`
	// persistence_entries: size of the persistence table (clients of
	// services with persistence_timeout, 8 bytes each), shared by the
	// workers. 64..16777216, default 65536; rounded up to a power of
	// two. When it is full, a new client replaces the oldest entry of
	// its bucket.
	PersistenceEntries *int64 `toml:"persistence_entries"`
	// stats_services: services that get counters of their own (packets,
	// bytes, new flows, ICMP errors, drops by reason) in shared memory.
	// 0..65535, default 1024. Services beyond it are forwarded all the
	// same; their counts go to a shared overflow slot.
	StatsServices *int64 `toml:"stats_services"`
	// stats_backends: real servers (counted once per service they are in)
	// that get counters of their own. 0..1048575, default 8192; beyond it,
	// the overflow slot as for stats_services. Each worker keeps 96 bytes
	// per service and 32 per real server, in its memory and in the
	// shared-memory file.
	StatsBackends *int64 `toml:"stats_backends"`

	// [[dataplane.port]]: network ports. At least one, at most 8.
	Port []rawPort `toml:"port"`
	// [[dataplane.neighbor]]: static neighbours. Zero or more.
	Neighbor []rawNeighbor `toml:"neighbor"`
	// gateway: the IPv4 default gateway (inside the prefix of address)
	// for IPv4 real servers of the L3 methods (dscp, ipip, gre, gue) that
	// are not on-link and match no [[dataplane.route]]. Optional.
	Gateway *string `toml:"gateway"`
	// gateway6: the IPv6 default gateway, the same for IPv6 real servers
	// (ipip, gre, gue): a unicast IPv6 address inside the prefix of
	// address6 (not link-local), which it requires. Optional.
	Gateway6 *string `toml:"gateway6"`
	// [[dataplane.route]]: routes to real servers (IPv4 and IPv6).
	Route []rawRoute `toml:"route"`
}

// rawRoute is one [[dataplane.route]]: the longest matching prefix of the
// real server's family wins.
type rawRoute struct {
	// prefix: IPv4 or IPv6 prefix, e.g. "198.51.100.0/24" or
	// "2001:db8:1::/48". Required, unique. An IPv6 route requires
	// dataplane.address6.
	Prefix *string `toml:"prefix"`
	// gateway: next hop of the prefix's family, inside the on-link prefix
	// of dataplane.address (IPv4) or dataplane.address6 (IPv6). Optional:
	// without it the prefix is on-link (on the same segment; l2dsr real
	// servers may be inside it).
	Gateway *string `toml:"gateway"`
}

// rawCtrl is the [ctrl] table: settings of the control process
// (dsrlb-ctrl). The data plane ignores it.
type rawCtrl struct {
	// dsr_probe_ports: the source ports of the DSR path checks
	// ([service.dsr_check]), "FIRST-LAST". Each real server so checked
	// owns one port of the range (kept across reloads); the data plane
	// sends the balancer's own TCP packets from that port to a VIP to
	// that real server only. Keep the range out of the kernel's
	// ephemeral ports (net.ipv4.ip_local_port_range, 32768-60999 by
	// default) or reserve it (net.ipv4.ip_local_reserved_ports).
	// 1024..65535, at least as many ports as real servers with a DSR
	// path check; default "61000-61999".
	DSRProbePorts *string `toml:"dsr_probe_ports"`

	// socket: the Unix socket on which dsrlb-ctrl answers dsrlbctl
	// (status, reload). Absolute path, at most 107 bytes, default
	// "/run/dsrlb/ctrl.sock". dsrlb-ctrl creates it with mode 0600 (root
	// only) and its directory with mode 0755 if missing.
	Socket *string `toml:"socket"`

	// vrrp_dataplane_timeout: a data plane whose heartbeat is older than
	// this, or whose process is gone, puts every VRRP instance into
	// FAULT: a master gives up at once with a priority 0 advert, so its
	// peer takes over within its skew time. The data plane beats every
	// 10ms. Go duration 30ms..10s, default "200ms".
	VRRPDataplaneTimeout *string `toml:"vrrp_dataplane_timeout"`

	// metrics_listen: host:port of dsrlb-ctrl's HTTP listener for
	// Prometheus (/metrics) and the read-only status page (/). Default
	// "127.0.0.1:9842": on, but reachable from the balancer itself only;
	// set an address of a management network to scrape from elsewhere,
	// "" to turn it off. The host must be an IP address (or empty for
	// every address); port 0 picks a free one.
	MetricsListen *string `toml:"metrics_listen"`
}

// rawNeighbor is one [[dataplane.neighbor]]: a permanent MAC address for a
// real server (or next hop), like "ip neigh add ... nud permanent". A
// static neighbour is never asked for by ARP and never expires; use it for
// real servers that do not answer ARP, or for benchmarks on devices without
// a peer.
type rawNeighbor struct {
	// address: the neighbour's IPv4 or IPv6 address. Required, unique,
	// inside the on-link prefix of dataplane.address (IPv4) or
	// dataplane.address6 (IPv6, which it requires).
	Address *string `toml:"address"`
	// mac: its MAC address. Required; unicast and not all zero.
	MAC *string `toml:"mac"`
	// port: name of the [[dataplane.port]] it is reached through. Required.
	Port *string `toml:"port"`
}

// rawPort is one [[dataplane.port]].
type rawPort struct {
	// name: the port's name in logs and statistics. Required, unique,
	// 1-15 characters of a-z, 0-9, "_" and "-".
	Name *string `toml:"name"`

	// device: which DPDK device to use. Required, unique. Either a vdev
	// string "net_DRIVERn[,key=value...]" (e.g.
	// "net_af_packet0,iface=veth-lb"; the part before the first comma is the
	// driver instance name and must be unique too; net_af_packet devices need
	// iface=INTERFACE) or a PCI address "DDDD:BB:DD.F" (e.g. "0000:01:00.0"),
	// optionally followed by ",key=value" device arguments.
	Device *string `toml:"device"`

	// mtu: IP MTU of the port. 68..9702, default 1500.
	MTU *int64 `toml:"mtu"`

	// mac: override the port's MAC address, e.g. "02:00:00:00:00:01".
	// Optional (default: the device's own address). Six colon-separated
	// hex octets; must be unicast and not all zero.
	MAC *string `toml:"mac"`

	// rx_descriptors: receive ring size. Power of two, 64..16384, default 1024.
	RxDescriptors *int64 `toml:"rx_descriptors"`

	// tx_descriptors: transmit ring size. Power of two, 64..16384, default 1024.
	TxDescriptors *int64 `toml:"tx_descriptors"`
}

// rawService is one [[service]]: a virtual IP, protocol and port that is
// balanced over a set of real servers.
type rawService struct {
	// name: the service's name in logs, statistics and the control API.
	// Required, unique, 1-32 characters of a-z, A-Z, 0-9, "_", "." and "-".
	Name *string `toml:"name"`

	// vip: the virtual IPv4 or IPv6 address clients connect to.
	// Required. Not unspecified, multicast, broadcast, loopback or (IPv6)
	// link-local, not IPv4-mapped IPv6, without zone, and not the
	// balancer's own address (address or address6). An IPv6 VIP requires
	// dataplane.address6.
	VIP *string `toml:"vip"`

	// protocol: "tcp" or "udp". Default "tcp".
	Protocol *string `toml:"protocol"`

	// port: destination port, 0..65535; 0 means every port of the VIP for
	// this protocol. Default 0. (vip, protocol, port) must be unique across
	// services; a service with port 0 and one with a specific port on the
	// same VIP and protocol may coexist: the specific port wins.
	Port *int64 `toml:"port"`

	// method: forwarding method. Default "l2dsr": the destination MAC is
	// rewritten to the real server's, which must therefore be on the
	// balancer's L2 segment and accept the VIP locally (e.g. on loopback).
	// "dscp" (L3DSR: destination rewritten to the real server, DSCP set to
	// the service's dscp code), "ipip", "gre", "gue" (encapsulation from
	// the balancer's address of the real server's family to the real
	// server); these reach real servers on-link or through
	// dataplane.gateway / gateway6 / [[dataplane.route]]. Families (the
	// effective method of each real server counts): l2dsr needs a real
	// server of the VIP's family, on-link; dscp is IPv4 only (VIP and real
	// server); ipip carries IPv4 in IPv4 (RFC 2003), IPv6 in IPv6 and IPv4
	// in IPv6 (RFC 2473) but not IPv6 in IPv4; gre and gue carry either
	// family in either.
	Method *string `toml:"method"`

	// dscp: the DSCP code (1..63) that names this VIP for method dscp; a
	// real server must not see one code for two VIPs or two codes for one
	// VIP. Required when the service or one of its real servers uses dscp.
	DSCP *int64 `toml:"dscp"`

	// gue_port: UDP destination port of method gue, 1..65535, default 6080.
	GUEPort *int64 `toml:"gue_port"`

	// scheduler: how the real server of a new flow is chosen (see
	// Scheduler in scheduler.go). "maglev" (default; "mh", its IPVS name,
	// is the same): consistent hashing of the flow. "sh": Maglev over the
	// client address. "rr": round robin; "wrr": weighted round robin;
	// "lc": least connections; "wlc": weighted least connections; "fo":
	// the available real server with the highest weight takes every new
	// flow; "twos": two random choices. With the schedulers other than
	// maglev and sh at least one backend needs a weight above 0.
	Scheduler *string `toml:"scheduler"`

	// hash: scheduler maglev only: packet fields hashed to pick a real
	// server. "5-tuple" (default: addresses, ports, protocol) or
	// "source-ip" (all of a client's flows go to one real server).
	// With the other schedulers the key is an error (sh always hashes
	// the client address).
	Hash *string `toml:"hash"`

	// persistence_timeout: IPVS persistence: a client's new connections
	// go to the real server of its earlier ones while it has sent a
	// packet within this time. Go duration in whole seconds, "0s"
	// (default: no persistence) or 1s..9h.
	PersistenceTimeout *string `toml:"persistence_timeout"`

	// persistence_granularity: which clients count as one for
	// persistence: for an IPv4 VIP a netmask ("255.255.255.0") or a
	// prefix length ("/24" or 24, 1..32); for an IPv6 VIP a prefix length
	// ("/64" or 64, 1..128). Default the whole address (32 or 128).
	// Needs persistence_timeout.
	PersistenceGranularity *rawStrInt `toml:"persistence_granularity"`

	// priority_min: the highest priority group (see the backends'
	// priority) with at least this many healthy real servers of weight
	// above 0 takes the new flows; if none has that many, the highest
	// with at least one. 1..(number of backends), default 1.
	PriorityMin *int64 `toml:"priority_min"`

	// table_size: Maglev lookup table size. A prime 7..16777213, default
	// 65537, and at least the number of backends; larger tables balance
	// weights more evenly (aim for 100 entries per backend or more).
	TableSize *int64 `toml:"table_size"`

	// inhibit_on_failure: what happens to a real server that fails its
	// health check. true: it stays with weight 0 (state "inhibited": keeps
	// its established flows, gets no new ones). false (default): it is
	// removed, and its flows move to the other real servers.
	InhibitOnFailure *bool `toml:"inhibit_on_failure"`

	// sorry_server: optional IPv4 or IPv6 address of a server that takes
	// all of the service's traffic, alone, while no real server is healthy
	// or the quorum is lost. Not one of the service's backends, not the
	// VIP, not the balancer's own address; it follows the rules of a
	// backend with the service's method (address family, on-link for
	// l2dsr, reachable).
	SorryServer *string `toml:"sorry_server"`

	// quorum: the minimum sum of the weights of the healthy real servers
	// for the service to be "up". 0..(sum of the backends' weights) when
	// set; default 1. Below it the sorry server (if any) takes over.
	Quorum *int64 `toml:"quorum"`

	// hysteresis: with quorum up, the quorum is lost when the healthy
	// weight drops below quorum-hysteresis; once lost, it comes back at
	// quorum+hysteresis (keepalived semantics). 0..quorum, default 0.
	Hysteresis *int64 `toml:"hysteresis"`

	// alpha: true: real servers start down until their first successful
	// check (when dsrlb-ctrl starts while the data plane still runs its
	// boot configuration, and for real servers added by a reload).
	// false (default): they start up.
	Alpha *bool `toml:"alpha"`

	// [service.check]: the health check of every real server of the
	// service (see rawCheck). Optional: without it every real server
	// counts as healthy.
	Check *rawCheck `toml:"check"`

	// [service.dsr_check]: a second health check of every real server,
	// through the DSR path itself: dsrlb-ctrl connects from the
	// balancer's own address to the VIP, and the data plane sends those
	// packets to the one real server being checked with its forwarding
	// method (steered by the source port, see [ctrl] dsr_probe_ports), so
	// the real server's answer, from the VIP, proves its whole DSR set-up
	// (VIP accepted, ARP suppressed, decapsulation, DSCP rule, a service
	// listening on the VIP). Type "tcp", "http" or "https" (the keys of
	// [service.check]; port, when given, must be the service's). A real
	// server is up only while both checks pass; one that passes
	// [service.check] and fails this one is shown as "DSR path broken".
	// Needs dataplane.tap and a TCP service. Optional.
	DSRCheck *rawCheck `toml:"dsr_check"`

	// bgp: announce the VIP to the [bgp] neighbours while the service is
	// up (a /32 or /128 with the balancer's own address as next hop).
	// Needs [bgp]; the scheduler must be one whose choice the same table
	// repeats on every balancer (maglev, mh, sh or fo) and the service
	// without persistence, so a flow that routers move to another
	// balancer keeps its real server. A VIP of a [[vrrp]] instance is an
	// error unless [bgp] allow_vrrp. Default false.
	BGP *bool `toml:"bgp"`

	// [[service.backend]]: the real servers. Zero or more; a service
	// without backends drops (and counts) its traffic.
	Backend []rawBackend `toml:"backend"`
}

// rawCheck is a [service.check] or [service.backend.check] table: how
// dsrlb-ctrl probes a real server. Keys that do not apply to the chosen
// type are errors.
type rawCheck struct {
	// type: "tcp" (connect), "http" or "https" (GET, expected status and
	// optionally body), "icmp" (echo), "udp" (datagram, optionally
	// expecting a reply; an ICMP port unreachable fails it) or "script"
	// (external command, exit status 0 = healthy). Required.
	Type *string `toml:"type"`

	// port: destination port of tcp, http, https and udp checks, 1..65535.
	// Default the service's port; required when the service's port is 0.
	Port *int64 `toml:"port"`

	// path: http and https: request path with optional query, starting
	// with "/". Default "/".
	Path *string `toml:"path"`

	// status: http and https: the status codes that count as healthy,
	// each 100..599, at least one. Default [200]. Redirects are not
	// followed.
	Status []int64 `toml:"status"`

	// body: http and https: a substring the response body (its first 64
	// KiB) must contain. Default "" (not checked).
	Body *string `toml:"body"`

	// host: http and https: Host header, and TLS server name for https.
	// Default "" (the real server's address).
	Host *string `toml:"host"`

	// tls_verify: https: verify the server's certificate (against host,
	// or the address). Default true.
	TLSVerify *bool `toml:"tls_verify"`

	// payload: udp: the datagram sent. Default "" (an empty datagram).
	Payload *string `toml:"payload"`

	// expect_reply: udp: true: healthy only if a reply arrives within the
	// timeout. false (default): healthy unless an ICMP port unreachable
	// comes back.
	ExpectReply *bool `toml:"expect_reply"`

	// command: script: absolute path of the program, then its arguments.
	// Required for script. The real server's address is appended as the
	// last argument and set in the environment as DSRLB_TARGET. Exit
	// status 0 is healthy. (-check verifies that the program exists and
	// is executable.)
	Command []string `toml:"command"`

	// interval: time between the starts of two probes. Go duration, at
	// least 100ms, default "2s".
	Interval *string `toml:"interval"`

	// timeout: limit of one probe. Go duration, default "1s", shorter
	// than interval.
	Timeout *string `toml:"timeout"`

	// rise: consecutive successes that bring a down real server up.
	// 1..100, default 2.
	Rise *int64 `toml:"rise"`

	// fall: consecutive failures that take an up real server down.
	// 1..100, default 3.
	Fall *int64 `toml:"fall"`

	// jitter: probes are spread by ± this fraction of the interval.
	// 0..0.5, default 0.1.
	Jitter *float64 `toml:"jitter"`
}

// rawBackend is one [[service.backend]] (a real server).
type rawBackend struct {
	// address: the real server's IPv4 or IPv6 address. Required, unique
	// within the service, not the VIP and not the balancer's own address;
	// not unspecified, multicast, loopback or (IPv6) link-local, not
	// IPv4-mapped IPv6, without zone. An IPv6 real server requires
	// dataplane.address6. With method l2dsr it must be of the VIP's family
	// and on-link (inside the prefix of dataplane.address or address6, or
	// an on-link [[dataplane.route]]); with the other methods reachable
	// (on-link, a route or the gateway of its family). See method for
	// which families each method carries.
	Address *string `toml:"address"`

	// weight: relative share of the flows, 0..65535, default 1. 0 takes
	// the real server out of scheduling (its Maglev slots go to the
	// others). dsrlb-ctrl sends it as "inhibited" (draining: tracked
	// connections stay on it).
	Weight *int64 `toml:"weight"`

	// method: this real server's forwarding method, overriding the
	// service's (appliances call it "directreturn" per server). Optional.
	Method *string `toml:"method"`

	// priority: the real server's priority group, 0..255, default 0;
	// higher is preferred. Only the active group (see the service's
	// priority_min) gets new flows; the healthy real servers of the
	// other groups are sent as "standby" (weight 0, keeping their
	// established flows).
	Priority *int64 `toml:"priority"`

	// [service.backend.check]: a health check for this real server only,
	// replacing the service's [service.check] entirely (same keys; keys
	// not given take their defaults, not the service check's values).
	Check *rawCheck `toml:"check"`
}

// rawVRRP is one [[vrrp]]: a VRRP instance (keepalived's vrrp_instance)
// that dsrlb-ctrl runs on the exception path. While this balancer is
// master of an instance the data plane answers ARP / neighbour
// solicitations for its VIPs and announces them; while backup it only
// forwards what reaches it.
type rawVRRP struct {
	// name: the instance's name in logs, status and notify commands
	// (keepalived: vrrp_instance NAME). Required, unique, like a service
	// name.
	Name *string `toml:"name"`
	// port: the [[dataplane.port]] whose segment the instance runs on
	// (keepalived: interface). Default the first port. Adverts go through
	// the exception path, which sends through the first port: other
	// ports are rejected.
	Port *string `toml:"port"`
	// vrid: virtual router id, 1..255 (virtual_router_id). Required;
	// unique per port and address family.
	VRID *int64 `toml:"vrid"`
	// priority: 1..255 (priority); 255 is the address owner, which is
	// master at once. Default 100.
	Priority *int64 `toml:"priority"`
	// advert_int: advertisement interval (advert_int). Go duration;
	// version 3: 10ms..40.95s in steps of 10ms; version 2: whole seconds
	// 1s..255s. Default "1s".
	AdvertInt *string `toml:"advert_int"`
	// version: VRRP version, 2 (RFC 3768) or 3 (RFC 9568)
	// (vrrp_version). Default 3. IPv6 needs 3.
	Version *int64 `toml:"version"`
	// preempt: a higher-priority backup takes over from a lower-priority
	// master (keepalived: the opposite of nopreempt). Default true.
	Preempt *bool `toml:"preempt"`
	// preempt_delay: after start, a backup waits this long before
	// preempting a lower-priority master (preempt_delay). Go duration
	// 0..1000s, default "0s". A starting instance never preempts before
	// it has heard the master for one master-down interval.
	PreemptDelay *string `toml:"preempt_delay"`
	// state: "backup" (default) or "master" (state). As in keepalived
	// 2.2, an instance always starts as backup and listens for one
	// master-down interval (the address owner, priority 255, is master at
	// once); "master" then preempts a lower-priority master without
	// preempt_delay, even with preempt = false.
	State *string `toml:"state"`
	// vips: the virtual addresses the instance carries
	// (virtual_ipaddress): VIPs of [[service]]s, all IPv4 or all IPv6,
	// each in at most one instance. Required. VIPs of services that no
	// instance carries are always answered, as without VRRP.
	VIPs []string `toml:"vips"`
	// unicast_peers: send adverts to these addresses instead of the
	// multicast group (unicast_peer), for networks without multicast;
	// adverts from other sources are then ignored. Default none.
	UnicastPeers []string `toml:"unicast_peers"`
	// unicast_src: the source of unicast adverts (unicast_src_ip).
	// Default the balancer's address of the instance's family; it must
	// be that address.
	UnicastSrc *string `toml:"unicast_src"`
	// auth_pass: version 2 simple password, 1..8 bytes (authentication {
	// auth_type PASS auth_pass }). Version 3 has no authentication.
	AuthPass *string `toml:"auth_pass"`
	// v3_checksum: how the checksum of version 3 adverts over IPv4 is
	// computed, where implementations disagree. "pseudo-header" (default):
	// over the IPv4 pseudo-header and the message, as keepalived does
	// unless told otherwise (RFC 5798 as keepalived reads it; the only
	// form keepalived 2.2.7 sends). "message-only": over the message only,
	// as RFC 9568 section 5.2.8 says and Cisco, Juniper and keepalived
	// 2.2.8+ with v3_checksum_as_v2 do. Adverts in the other form are
	// ignored (cause checksum).
	V3Checksum *string `toml:"v3_checksum"`
	// track_services: services whose health lowers this instance's
	// priority (track_script, with dsrlb's own health checks): while one
	// has lost its quorum or has no healthy real server, the priority
	// drops by track_weight. Default none.
	TrackServices []string `toml:"track_services"`
	// track_weight: 0..254, default 0: how much each failed tracked
	// service lowers the priority (never below 1); 0 puts the instance
	// into FAULT instead (keepalived's track without weight). Not with
	// priority 255.
	TrackWeight *int64 `toml:"track_weight"`
	// garp_repeat: gratuitous ARPs / unsolicited neighbour advertisements
	// per VIP sent at once on becoming master (garp_master_repeat).
	// 1..100, default 5.
	GARPRepeat *int64 `toml:"garp_repeat"`
	// garp_delay: a second burst this long after becoming master
	// (garp_master_delay). Go duration, "0s" for none, default "5s".
	GARPDelay *string `toml:"garp_delay"`
	// garp_refresh: while master, a burst this often (garp_master_refresh).
	// Go duration, "0s" (default) for none, else at least 1s.
	GARPRefresh *string `toml:"garp_refresh"`
	// notify_master, notify_backup, notify_fault: a command run on each
	// transition into that state (notify_master...): absolute path of the
	// program, then its arguments. notify: a command run on every
	// transition with "INSTANCE", the name, the new state ("MASTER",
	// "BACKUP", "FAULT", "STOP") and the priority appended, as keepalived's
	// notify. The environment carries DSRLB_VRRP_INSTANCE,
	// DSRLB_VRRP_STATE, DSRLB_VRRP_PRIORITY and DSRLB_VRRP_CAUSE. They
	// run detached, at most 10s each.
	NotifyMaster []string `toml:"notify_master"`
	NotifyBackup []string `toml:"notify_backup"`
	NotifyFault  []string `toml:"notify_fault"`
	Notify       []string `toml:"notify"`
	// sync_group: instances with the same sync_group name change state
	// together (vrrp_sync_group): one that becomes master takes the
	// others along, one in FAULT puts the others in FAULT. Default none.
	SyncGroup *string `toml:"sync_group"`
}

// rawStrInt is a value that may be written as a string or as an integer
// (persistence_granularity = "/24" or 24).
type rawStrInt struct {
	Str   string
	Int   int64
	IsInt bool // written as an integer: Int, else Str
}

// String is the value as written in the file, for messages.
func (r rawStrInt) String() string {
	if r.IsInt {
		return fmt.Sprint(r.Int)
	}
	return fmt.Sprintf("%q", r.Str)
}

var strIntType = reflect.TypeFor[rawStrInt]()

// parseTOML parses data into a generic tree. Syntax errors (including
// duplicate keys) are returned as a positioned *Error.
func parseTOML(file string, data []byte) (map[string]any, error) {
	var root map[string]any
	_, err := toml.Decode(string(data), &root)
	if err == nil {
		return root, nil
	}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		line := pe.Position.Line
		if start := pe.Position.Start; line > 0 && start >= 0 && start <= len(data) {
			// The lexer's line is one too far when the error is at a line
			// break (e.g. "[table" without "]"); the byte offset is exact.
			line = 1 + bytes.Count(data[:start], []byte("\n"))
		}
		return nil, &Error{File: file, Line: line, Msg: "invalid TOML: " + pe.Message}
	}
	return nil, &Error{File: file, Msg: "invalid TOML: " + strings.TrimPrefix(err.Error(), "toml: ")}
}

// decode copies the generic TOML tree node into dst (a pointer to one of the
// raw structs), reporting unknown keys and mismatched types at path p.
// Values of the wrong type are left unset and their paths remembered in
// v.bad, so that validation does not report them again as missing; an array
// of scalars with one bad element is left unset as a whole.
func (v *validator) decode(node any, p fieldPath, dst any) {
	v.decodeValue(node, p, reflect.ValueOf(dst).Elem())
}

func (v *validator) decodeValue(node any, p fieldPath, dst reflect.Value) bool {
	if dst.Type() == strIntType {
		switch n := node.(type) {
		case string:
			dst.Set(reflect.ValueOf(rawStrInt{Str: n}))
		case int64:
			dst.Set(reflect.ValueOf(rawStrInt{Int: n, IsInt: true}))
		default:
			return v.typeError(p, dst.Type(), node)
		}
		return true
	}
	switch dst.Kind() {
	case reflect.Pointer:
		e := reflect.New(dst.Type().Elem())
		if !v.decodeValue(node, p, e.Elem()) {
			return false
		}
		dst.Set(e)
		return true

	case reflect.Struct:
		m, ok := node.(map[string]any)
		if !ok {
			return v.typeError(p, dst.Type(), node)
		}
		fields := tomlFields(dst.Type())
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			i, ok := fields[k]
			if !ok {
				v.add(p.key(k), "unknown key"+suggest(k, fields))
				continue
			}
			v.decodeValue(m[k], p.key(k), dst.Field(i))
		}
		return true

	case reflect.Slice:
		var elems []any
		switch n := node.(type) {
		case []any:
			elems = n
		case []map[string]any:
			for _, e := range n {
				elems = append(elems, e)
			}
		default:
			return v.typeError(p, dst.Type(), node)
		}
		s := reflect.MakeSlice(dst.Type(), len(elems), len(elems))
		ok := true
		for i, e := range elems {
			if !v.decodeValue(e, p.idx(i), s.Index(i)) {
				ok = false
			}
		}
		if !ok && dst.Type().Elem().Kind() != reflect.Struct {
			// A list of scalars with a bad element is not validated further.
			v.bad[p.String()] = true
			return false
		}
		dst.Set(s)
		return true

	case reflect.String:
		s, ok := node.(string)
		if !ok {
			return v.typeError(p, dst.Type(), node)
		}
		dst.SetString(s)
		return true

	case reflect.Int64:
		n, ok := node.(int64)
		if !ok {
			return v.typeError(p, dst.Type(), node)
		}
		dst.SetInt(n)
		return true

	case reflect.Bool:
		b, ok := node.(bool)
		if !ok {
			return v.typeError(p, dst.Type(), node)
		}
		dst.SetBool(b)
		return true

	case reflect.Float64:
		switch n := node.(type) {
		case float64:
			dst.SetFloat(n)
		case int64: // "jitter = 0" is an integer in TOML
			dst.SetFloat(float64(n))
		default:
			return v.typeError(p, dst.Type(), node)
		}
		return true
	}
	panic("conf: unsupported raw field type " + dst.Type().String())
}

// typeError reports that node does not have the type dst needs.
func (v *validator) typeError(p fieldPath, want reflect.Type, node any) bool {
	got := tomlTypeName(node)
	switch n := node.(type) {
	case string:
		if len(n) > 40 {
			n = n[:40] + "..."
		}
		got += fmt.Sprintf(" %q", n)
	case int64, float64, bool:
		got += fmt.Sprintf(" %v", n)
	}
	v.add(p, fmt.Sprintf("wrong type: expected %s, found %s", goTypeName(want), got))
	v.bad[p.String()] = true
	return false
}

// tomlTypeName names the TOML type of a value from the generic tree.
func tomlTypeName(node any) string {
	switch node.(type) {
	case map[string]any:
		return "table"
	case []map[string]any:
		return "array of tables"
	case []any:
		return "array"
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case time.Time:
		return "datetime"
	}
	return fmt.Sprintf("%T", node)
}

// goTypeName names the TOML type a raw struct field expects.
func goTypeName(t reflect.Type) string {
	if t == strIntType {
		return "string or integer"
	}
	switch t.Kind() {
	case reflect.Struct:
		return "table"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Struct {
			return "array of tables"
		}
		return "array of " + goTypeName(t.Elem()) + "s"
	case reflect.String:
		return "string"
	case reflect.Int64:
		return "integer"
	case reflect.Bool:
		return "boolean"
	case reflect.Float64:
		return "number"
	}
	return t.String()
}

// tomlFields maps the toml tags of struct type t to field indices.
func tomlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" {
			m[tag] = i
		}
	}
	return m
}

// suggest returns ` (did you mean "x"?)` for the known key closest to k, if
// it is close enough to be a plausible typo.
func suggest(k string, fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for f := range fields {
		names = append(names, f)
	}
	sort.Strings(names)
	best, bestDist := "", 3
	for _, f := range names {
		if d := editDistance(strings.ToLower(k), f); d < bestDist {
			best, bestDist = f, d
		}
	}
	if best == "" || bestDist >= len(k) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// rawBGP is the [bgp] table: dsrlb-ctrl speaks BGP (embedded GoBGP) to the
// upstream routers, over the exception path, and announces the VIPs of the
// services with bgp = true.
type rawBGP struct {
	// asn: the balancer's AS number, 1..4294967294. Required.
	ASN *int64 `toml:"asn"`
	// router_id: the BGP identifier, an IPv4 address. Default
	// dataplane.address.
	RouterID *string `toml:"router_id"`
	// communities: standard communities ("ASN:VALUE", each 0..65535)
	// attached to every announcement. Default none. 65535:0
	// (GRACEFUL_SHUTDOWN) is added by dsrlb-ctrl itself while it drains.
	Communities []string `toml:"communities"`
	// local_pref: LOCAL_PREF attached on iBGP sessions (a neighbour of
	// the balancer's own AS), 0..4294967295. Default not sent (the
	// router's default, usually 100).
	LocalPref *int64 `toml:"local_pref"`
	// drain_delay: on a clean stop (SIGTERM), how long dsrlb-ctrl keeps
	// the VIPs announced with the GRACEFUL_SHUTDOWN community (RFC 8326)
	// before it withdraws them and exits, so that routers move new flows
	// to the other balancers first. Go duration 0s..5m, default "5s".
	DrainDelay *string `toml:"drain_delay"`
	// dataplane_timeout: a data plane heartbeat older than this (or its
	// process gone) withdraws every VIP. Go duration 30ms..10s, default
	// "1s".
	DataplaneTimeout *string `toml:"dataplane_timeout"`
	// announce_sorry: keep announcing a service's VIP while its sorry
	// server stands in (no healthy real server or quorum lost). Default
	// false: such a VIP is withdrawn, so the routers send its clients to
	// the other balancers.
	AnnounceSorry *bool `toml:"announce_sorry"`
	// allow_vrrp: let a VIP be both announced by BGP and carried by a
	// [[vrrp]] instance. Default false (a configuration error).
	AllowVRRP *bool `toml:"allow_vrrp"`
	// [[bgp.neighbor]]: the routers. At least one.
	Neighbor []rawBGPNeighbor `toml:"neighbor"`
}

// rawBGPNeighbor is one [[bgp.neighbor]]: a BGP session to a router. An IPv4
// neighbour carries the IPv4 VIPs (next hop dataplane.address), an IPv6
// neighbour the IPv6 VIPs (next hop dataplane.address6).
type rawBGPNeighbor struct {
	// address: the router's address. Required, unique. Without multihop
	// it must be in the on-link prefix of dataplane.address (or
	// address6).
	Address *string `toml:"address"`
	// asn: the router's AS number, 1..4294967294. Required. The
	// balancer's own asn makes the session iBGP.
	ASN *int64 `toml:"asn"`
	// password: TCP MD5 signature key (RFC 2385), 1..80 bytes. Default
	// none.
	Password *string `toml:"password"`
	// hold_time: BGP hold time proposed, "0s" (no keepalives) or 3s..65535s
	// in whole seconds. Default "90s". A killed balancer's routes go
	// after the negotiated hold time.
	HoldTime *string `toml:"hold_time"`
	// keepalive: keepalive interval, whole seconds, less than hold_time.
	// Default a third of hold_time.
	Keepalive *string `toml:"keepalive"`
	// multihop: eBGP multihop TTL, 1..255, for a router not on the
	// balancer's segment. Default 0 (directly connected).
	Multihop *int64 `toml:"multihop"`
	// port: the router's BGP port. Default 179.
	Port *int64 `toml:"port"`
}
