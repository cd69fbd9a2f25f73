// Package counters describes every counter the data plane publishes in
// shared memory (package perf/shm): its name, kind, unit, scope and
// meaning. The tables are the layout: each block of the shared-memory file
// is a sequence of native-endian uint64 values in table order. The data
// plane writes them, dsrlb-ctrl reads them for dsrlbctl status, the data
// plane's counters log line lists them, and the README's table is generated
// from them (a test fails when any of these and the tables disagree).
// Changing a table changes the layout: bump shm.LayoutVersion.
package counters

// Kind is how a value behaves.
type Kind uint8

const (
	// Counter only grows while its process runs.
	Counter Kind = iota
	// Gauge goes up and down.
	Gauge
)

func (k Kind) String() string {
	if k == Gauge {
		return "gauge"
	}
	return "counter"
}

// Scope is which block of shared memory holds a value.
type Scope uint8

const (
	// Worker: one value per worker lcore; readers sum them.
	Worker Scope = iota
	// Port: one value per port, in the order of [[dataplane.port]].
	Port
	// Global: one value, written by the data plane's main goroutine.
	Global
)

func (s Scope) String() string {
	switch s {
	case Port:
		return "port"
	case Global:
		return "global"
	}
	return "worker"
}

// Desc describes one value.
type Desc struct {
	Name  string
	Kind  Kind
	Unit  string // what one unit counts: "packets", "bytes", ...
	Scope Scope
	Help  string // one sentence, for operators (and the README)
	// Class groups the worker counters that are verdicts: every received
	// packet gets one. ClassVerdict: sent or handed on; ClassDrop:
	// dropped, the name being the reason.
	Class Class
}

// Class is a counter's group.
type Class uint8

// Classes.
const (
	ClassNone Class = iota
	ClassVerdict
	ClassDrop
)

// counterIn returns the constructor of the counters (Kind Counter) of
// scope s.
func counterIn(s Scope) func(name, unit, help string) Desc {
	return func(name, unit, help string) Desc {
		return Desc{Name: name, Kind: Counter, Unit: unit, Scope: s, Help: help}
	}
}

var worker, port, global = counterIn(Worker), counterIn(Port), counterIn(Global)

// verdict and drop are the constructors of the worker's verdict counters.
func verdict(name, unit, help string) Desc {
	d := worker(name, unit, help)
	d.Class = ClassVerdict
	return d
}

func drop(name, unit, help string) Desc {
	d := worker(name, unit, help)
	d.Class = ClassDrop
	return d
}

// Workers is the layout of one worker's block: pipeline.Counters. Every
// received packet gets exactly one verdict, forward through no_headroom,
// so those add up to rx_packets.
var Workers = []Desc{
	worker("rx_packets", "packets", "packets received"),
	worker("rx_bytes", "bytes", "bytes of the packets received"),
	worker("tx_bytes", "bytes", "bytes of the packets sent (forwarded or answered)"),

	// Verdicts that transmit, in pipeline.Verdict order.
	verdict("forward", "packets", "sent to a real server (the load-balanced path)"),
	verdict("arp_reply", "packets", "ARP requests for a VIP or the balancer's address, answered"),
	verdict("ndp_reply", "packets", "neighbour solicitations for a VIP or `address6`, answered with an advertisement"),
	verdict("echo_reply", "packets", "ICMP or ICMPv6 echo requests to a VIP or an own address, answered"),
	verdict("frag_needed", "packets", "IPv4 packets too large for their tunnel with DF set, turned into ICMP fragmentation needed"),
	verdict("packet_too_big", "packets", "IPv6 packets too large for their tunnel, turned into ICMPv6 Packet Too Big"),
	// Handed on or consumed.
	verdict("to_kernel", "packets", "for the balancer itself and not answered here, handed to the kernel on the exception path"),
	verdict("arp_learned", "packets", "ARP packets from a tracked real server or next hop, whose MAC went to the resolver"),
	verdict("ndp_learned", "packets", "neighbour advertisements or solicitations from a tracked IPv6 next hop, whose MAC went to the resolver"),
	// Drops, each a reason.
	drop("malformed", "packets", "dropped: truncated or inconsistent header"),
	drop("bad_checksum", "packets", "dropped: wrong IPv4 header checksum (checked by the NIC when it can, else in software), or wrong ICMPv6 checksum of a neighbour solicitation/advertisement"),
	drop("unsupported_l2", "packets", "dropped: stacked VLAN tags, or an EtherType other than IPv4, IPv6, ARP"),
	drop("fragment", "packets", "dropped: IPv4 or IPv6 fragment to a VIP (no ports to balance on)"),
	drop("ipv6_ext_unknown", "packets", "dropped: IPv6 packet to a VIP with an extension header other than hop-by-hop, routing and destination options (those are skipped): ESP, AH, Mobility, HIP, Shim6, experimental"),
	drop("not_vip", "packets", "dropped: IP packet for an address that is neither a VIP nor the balancer's"),
	drop("no_service", "packets", "dropped: for a VIP, but no service for that protocol and port"),
	drop("no_backend", "packets", "dropped: the service has no real server that can take flows (none, all weight 0, or none with a known MAC)"),
	drop("no_mac", "packets", "dropped: the chosen real server's MAC is unknown"),
	drop("own_address", "packets", "dropped: for the balancer's own address and not ICMP echo, with no exception path"),
	drop("icmp_not_echo", "packets", "dropped: ICMP or ICMPv6 to a VIP other than echo request (and neighbour discovery)"),
	drop("arp_ignored", "packets", "dropped: ARP neither for us nor from a real server we track"),
	drop("ndp_ignored", "packets", "dropped: neighbour solicitation/advertisement neither for an address of ours nor from a next hop we track, or behind extension headers"),
	drop("arp_backup", "packets", "dropped: ARP request for a VIP of a VRRP instance this balancer is not master of (the master answers)"),
	drop("ndp_backup", "packets", "dropped: neighbour solicitation for a VIP of a VRRP instance this balancer is not master of"),
	drop("tx_full", "packets", "dropped: transmit staging area full"),
	drop("kernel_full", "packets", "dropped: the exception path's queue to the kernel full"),
	drop("too_big", "packets", "dropped: too large for its tunnel once encapsulated, IPv4 without DF (no fragmentation on the fast path)"),
	drop("icmp_rate_limit", "packets", "dropped: too large for its tunnel, and this second's budget of 1000 ICMP errors per worker is spent"),
	drop("no_headroom", "packets", "dropped: no room in the packet buffer for the outer headers or the reply"),

	worker("learn_overflow", "packets", "MACs seen that the resolver did not get because its ring was full"),
	worker("conntrack_hits", "lookups", "connection-tracking lookups that found the flow"),
	worker("conntrack_misses", "lookups", "connection-tracking lookups that did not: new flows, or flows idle longer than their state's timeout (`conntrack_timeout`, `conntrack_syn_timeout`, ...)"),
	worker("conntrack_full", "entries", "live flows evicted because their bucket of the flow table was full (half-open and closing flows go first)"),
	worker("conntrack_untracked", "flows", "SYNs not tracked because their bucket of the flow table held established flows only (forwarded; the flow is tracked from its next packet)"),
	worker("conntrack_full_established", "entries", "of `conntrack_full`, flows past their handshake (established TCP, UDP) evicted by another such flow: the table is too small for the established flows (a SYN flood never evicts them)"),
	worker("persistence_hits", "flows", "new flows sent to the real server their client is persisted to"),
	worker("dsr_probes", "packets", "packets of DSR path health checks (`[service.dsr_check]`) from the kernel, sent to the real server their source port names"),
	worker("dsr_probe_drops", "packets", "packets of DSR path health checks that could not be sent: the real server's MAC is unknown, or the packet does not fit its tunnel"),
}

// Ports is the layout of one port's block.
var Ports = []Desc{
	port("imissed", "packets", "dropped by the device: no free receive descriptor (the workers fell behind)"),
	port("rx_nombuf", "packets", "dropped by the device: no packet buffer left in the pool"),
	port("ierrors", "packets", "received with errors, as the device counts them"),
	port("oerrors", "packets", "failed to transmit, as the device counts them"),
	port("tx_sent", "packets", "accepted by the device's transmit queues, over all workers"),
	port("tx_refused", "packets", "refused by the device's transmit queues (full) and freed"),
}

// Globals is the layout of the global block.
var Globals = []Desc{
	{Name: "snapshot_gen", Kind: Gauge, Unit: "generation", Scope: Global,
		Help: "generation of the forwarding snapshot in force; it grows with every rebuild"},
	global("commits", "transactions", "transactions of the control process applied"),
	global("commit_errors", "transactions", "transactions of the control process rejected (forwarding unchanged)"),
	global("injected", "packets", "packets the main goroutine built (ARP, neighbour discovery, announcements) and handed to a worker"),
	global("inject_failed", "packets", "packets the main goroutine could not build or hand on (no buffer, worker queue full)"),
	global("from_kernel", "packets", "packets from the kernel's TAP handed to a worker to send"),
	global("from_kernel_dropped", "packets", "packets from the kernel's TAP dropped: worker queue full"),
	global("to_kernel_sent", "packets", "packets written to the kernel's TAP"),
	global("to_kernel_dropped", "packets", "packets for the kernel dropped: TAP queue full"),
	global("events_dropped", "messages", "events for the control process dropped: event ring full or no reader"),
	global("vrrp_states", "messages", "VRRP state changes of the control process applied"),
	global("vrrp_state_errors", "messages", "VRRP state messages rejected (unknown group, or master while the control process's heartbeat is too old)"),
	{Name: "vrrp_masters", Kind: Gauge, Unit: "groups", Scope: Global,
		Help: "VRRP groups this balancer is master of: their VIPs are answered and announced"},
	global("vrrp_announcements", "bursts", "bursts of gratuitous ARP / unsolicited neighbour advertisements for a VRRP group's VIPs"),
	global("vrrp_ctrl_lost", "groups", "VRRP groups given up because the control process's heartbeat grew older than their master-down interval"),
	{Name: "mbufs", Kind: Gauge, Unit: "buffers", Scope: Global,
		Help: "packet buffers in the pool (`mbufs`)"},
	{Name: "mbufs_in_use", Kind: Gauge, Unit: "buffers", Scope: Global,
		Help: "packet buffers out of the pool: in receive and transmit rings, bursts, the exception path's queues; back to its idle level once a load has passed (a leak would keep it up)"},
	global("command_ring_resets", "resets", "command ring found corrupt (another process wrote into it) and reset: the transaction under way dropped, forwarding unchanged"),
	global("kernel_neighbor_replies", "packets", "ARP requests and neighbour solicitations of the kernel for a VIP, answered on the TAP (for the DSR path checks)"),
}

// Table returns the table of scope s.
func Table(s Scope) []Desc {
	switch s {
	case Port:
		return Ports
	case Global:
		return Globals
	}
	return Workers
}

// All lists every value: workers', ports', global.
func All() []Desc {
	out := append([]Desc(nil), Workers...)
	out = append(out, Ports...)
	return append(out, Globals...)
}

// Bytes is the size of one block of scope s.
func Bytes(s Scope) int { return 8 * len(Table(s)) }

// Index returns the position of the value called name in the table of
// scope s, or -1.
func Index(s Scope, name string) int { return IndexIn(Table(s), name) }

// IndexIn is the position of name in table, or -1.
func IndexIn(table []Desc, name string) int {
	for i, d := range table {
		if d.Name == name {
			return i
		}
	}
	return -1
}
