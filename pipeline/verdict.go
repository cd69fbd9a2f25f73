package pipeline

// Verdict is what happened to one packet. Every received packet gets
// exactly one, and each verdict is a counter, so the counters always add up
// to the packets received. A drop's verdict is its reason, and each reason
// is its own counter (perf/counters), so an operator sees why.
type Verdict uint8

// Transmit verdicts: the packet leaves on Packet.OutPort.
const (
	// Forward: sent to a real server (the load-balanced path).
	Forward Verdict = iota
	// ARPReply: an ARP request for a VIP or the balancer's own address,
	// answered in place.
	ARPReply
	// NDPReply: an IPv6 Neighbor Solicitation for a VIP or the balancer's
	// own IPv6 address, answered in place with a Neighbor Advertisement.
	NDPReply
	// EchoReply: an ICMP or ICMPv6 echo request to a VIP or an own
	// address, answered in place.
	EchoReply
	// FragNeeded: an IPv4 packet too large for its tunnel, DF set: turned
	// into an ICMP "fragmentation needed" back to its sender.
	FragNeeded
	// PacketTooBig: an IPv6 packet too large for its tunnel: turned into
	// an ICMPv6 Packet Too Big back to its sender.
	PacketTooBig

	// numTransmit separates verdicts that transmit from those that free.
	numTransmit
)

// ToKernel: for the balancer itself and not answered by the data plane
// (TCP, UDP, ICMP other than echo, VRRP, ARP replies to its address): the
// packet goes to the kernel through the exception path.
const ToKernel Verdict = numTransmit

// Consumed verdicts: the packet did its job and is freed; not a drop.
const (
	// ARPLearned: an ARP packet from a tracked real server or next hop;
	// its MAC went to the resolver.
	ARPLearned Verdict = ToKernel + 1 + iota
	// NDPLearned: a Neighbor Advertisement or Solicitation from a tracked
	// IPv6 real server or next hop; its MAC went to the resolver.
	NDPLearned
	numConsumed
)

// Drop verdicts, each a reason an operator can act on.
const (
	// DropMalformed: a header is truncated or inconsistent.
	DropMalformed Verdict = numConsumed + iota
	// DropBadChecksum: the IPv4 header checksum is wrong.
	DropBadChecksum
	// DropUnsupportedL2: stacked VLAN tags or an EtherType other than
	// IPv4, IPv6 and ARP.
	DropUnsupportedL2
	// DropFragment: an IPv4 or IPv6 fragment to a VIP (no L4 ports to
	// balance on).
	DropFragment
	// DropIPv6Ext: an IPv6 packet to a VIP with an extension header the
	// data plane does not walk (ESP, AH, Mobility, HIP, Shim6,
	// experimental); hop-by-hop, routing and destination options are
	// skipped.
	DropIPv6Ext
	// DropNotVIP: an IP packet for an address that is no VIP and not ours.
	DropNotVIP
	// DropNoService: for a VIP, but no service matches the protocol and port.
	DropNoService
	// DropNoBackend: the service has no real server that may take flows
	// (none configured, all weight 0, or none with a resolved MAC).
	DropNoBackend
	// DropNoMAC: the chosen real server's MAC is not known.
	DropNoMAC
	// DropOwnAddress: for the balancer's own address and not ICMP echo,
	// and no exception path to the kernel is configured.
	DropOwnAddress
	// DropICMPNotEcho: ICMP to a VIP that is not an echo request.
	DropICMPNotEcho
	// DropARPIgnored: ARP not for us and not from a tracked neighbour.
	DropARPIgnored
	// DropNDPIgnored: a Neighbor Solicitation or Advertisement not for an
	// address of ours and not from a tracked neighbour, or with extension
	// headers.
	DropNDPIgnored
	// DropARPBackup: an ARP request for a VIP of a VRRP instance this
	// balancer is not master of: the master answers.
	DropARPBackup
	// DropNDPBackup: a Neighbor Solicitation for such a VIP.
	DropNDPBackup
	// DropTxFull: the transmit staging area was full.
	DropTxFull
	// DropKernelFull: the exception path's queue to the kernel was full.
	DropKernelFull
	// DropTooBig: too large for its tunnel, and DF not set (no
	// fragmentation on the fast path) or no ICMP error possible.
	DropTooBig
	// DropICMPRateLimit: too large for its tunnel, and this second's
	// budget of ICMP errors is spent.
	DropICMPRateLimit
	// DropNoHeadroom: no room in the buffer for the outer headers.
	DropNoHeadroom

	// NumVerdicts is the number of verdicts.
	NumVerdicts
)

var verdictNames = [NumVerdicts]string{
	Forward:           "forward",
	ARPReply:          "arp_reply",
	NDPReply:          "ndp_reply",
	EchoReply:         "echo_reply",
	FragNeeded:        "frag_needed",
	PacketTooBig:      "packet_too_big",
	ToKernel:          "to_kernel",
	ARPLearned:        "arp_learned",
	NDPLearned:        "ndp_learned",
	DropMalformed:     "malformed",
	DropBadChecksum:   "bad_checksum",
	DropUnsupportedL2: "unsupported_l2",
	DropFragment:      "fragment",
	DropIPv6Ext:       "ipv6_ext_unknown",
	DropNotVIP:        "not_vip",
	DropNoService:     "no_service",
	DropNoBackend:     "no_backend",
	DropNoMAC:         "no_mac",
	DropOwnAddress:    "own_address",
	DropICMPNotEcho:   "icmp_not_echo",
	DropARPIgnored:    "arp_ignored",
	DropNDPIgnored:    "ndp_ignored",
	DropARPBackup:     "arp_backup",
	DropNDPBackup:     "ndp_backup",
	DropTxFull:        "tx_full",
	DropKernelFull:    "kernel_full",
	DropTooBig:        "too_big",
	DropICMPRateLimit: "icmp_rate_limit",
	DropNoHeadroom:    "no_headroom",
}

// String is the verdict's counter name.
func (v Verdict) String() string {
	if v < NumVerdicts {
		return verdictNames[v]
	}
	return "unknown"
}

// Transmits reports whether the packet is sent.
func (v Verdict) Transmits() bool { return v < numTransmit }

// IsDrop reports whether the verdict is a drop.
func (v Verdict) IsDrop() bool { return v >= numConsumed && v < NumVerdicts }
