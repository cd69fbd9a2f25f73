package pipeline

import (
	"dsrlb/conf"
	"encoding/binary"
	"net/netip"
	"unsafe"

	"dsrlb/pipeline/encap"
	"dsrlb/pipeline/header"
)

// MaxBurst is the largest burst a worker processes at once.
const MaxBurst = 256

// Checksum state of a received packet's IPv4 header, from the NIC's receive
// offload flags. ChecksumUnknown makes the worker verify it in software.
const (
	ChecksumUnknown uint8 = iota
	ChecksumGood
	ChecksumBad
)

// Packet is one frame of a burst: a view over the packet buffer and the
// worker's decision. The frame is Buf[Off:Off+Len]; the headroom before Off
// is where later methods prepend headers.
type Packet struct {
	Buf     []byte
	Off     int
	Len     int
	IPCsum  uint8   // ChecksumUnknown, ChecksumGood or ChecksumBad (input)
	OutPort uint8   // port index to transmit on (output)
	Verdict Verdict // what happened (output)
	// TxOffload: the checksums the egress device must compute
	// (encap.HWIPv4Checksum, encap.HWUDPChecksum; output, 0 for none).
	// The outer header is then at L3Offset, of the family the flag names.
	TxOffload uint8

	// Between the two passes of Process, for a packet to a service: the
	// service, the flow hash, where the IP header is, its version, the
	// port the packet came in on, its TCP flags or whether it is UDP.
	svc      uint32
	flow     uint64
	l3       uint16
	v6       bool
	inPort   uint8
	tcpFlags uint8
	udp      bool
	// After the second pass, for a packet of a service: the counter slots
	// of the service and of the real server it went to (for Relabel).
	sstat, bstat uint32
}

// scheduled marks a packet classified to a service whose real server is
// chosen in Process's second pass; it is never counted.
const scheduled = NumVerdicts

// L3Offset is where the (outer) IP header starts in the frame: the
// length of the Ethernet header, VLAN tag included.
func (p *Packet) L3Offset() int { return int(p.l3) }

// Frame is the packet's bytes.
func (p *Packet) Frame() []byte { return p.Buf[p.Off : p.Off+p.Len] }

// Learned is a MAC address seen in an ARP or NDP packet from a tracked
// neighbour.
type Learned struct {
	IP   netip.Addr
	MAC  header.MAC
	Port uint8
}

// Worker is one lcore's pipeline state. Only its own goroutine touches it,
// except Shared and the Stats it publishes to (published counters) and
// Learn (consumed by the resolver).
type Worker struct {
	ID int
	// Burst is the scratch burst the I/O loop fills; it lives with the
	// worker so nothing is allocated per burst.
	Burst [MaxBurst]Packet

	local   Counters
	Shared  *Counters
	Learn   *Ring[Learned]
	bursts  uint32
	pending bool
	stats   workerStats

	ct      *conntrack
	persist *PersistTable
	clock   *Clock
	now     uint16 // clock reading for the current burst, modulo 2^16

	icmpSec  uint16 // second of icmpSent
	icmpSent int    // ICMP errors sent in that second
}

// WorkerOptions size a worker.
type WorkerOptions struct {
	// Shared receives the published counters (e.g. in shared memory);
	// nil: a fresh Counters.
	Shared *Counters
	// Conntrack is the number of flow entries (default
	// DefaultConntrackEntries); Timeouts the idle seconds after which a
	// flow is forgotten, by state (zero: the defaults).
	Conntrack int
	Timeouts  CTTimeouts
	// Persist is the persistence table the workers share; nil: one of
	// the default size for this worker alone.
	Persist *PersistTable
	// Clock stamps flows; nil: a clock that stays at 0 (tests set it).
	Clock *Clock
	// Stats receives the per-service and per-real-server counters and
	// the flow table's gauges (e.g. in shared memory); zero: overflow
	// slots only, in ordinary memory.
	Stats Stats
}

// NewWorker makes the pipeline state of worker id with default options.
func NewWorker(id int) *Worker { return NewWorkerWith(id, WorkerOptions{}) }

// NewWorkerWith makes the pipeline state of worker id.
func NewWorkerWith(id int, o WorkerOptions) *Worker {
	if o.Shared == nil {
		o.Shared = new(Counters)
	}
	if o.Conntrack <= 0 {
		o.Conntrack = DefaultConntrackEntries
	}
	if o.Persist == nil {
		o.Persist = NewPersistTable(DefaultPersistEntries)
	}
	if o.Clock == nil {
		o.Clock = new(Clock)
	}
	w := &Worker{ID: id, Shared: o.Shared, Learn: NewRing[Learned](1024),
		ct: newConntrack(o.Conntrack, o.Timeouts), persist: o.Persist, clock: o.Clock, stats: newWorkerStats(o.Stats)}
	w.stats.publishGauges(w.ct) // the capacity, before any packet
	return w
}

// Stats is where the worker publishes its per-service and per-real-server
// counters.
func (w *Worker) Stats() Stats { return w.stats.shared }

// publishEvery is how many bursts pass between counter publications.
const publishEvery = 64

// sweepPerIdle is how many connection-tracking buckets each Idle call
// sweeps for expired flows (bursts sweep one each, up to a budget): a
// table of 2^20 entries (2^18 buckets) takes 2^11 Idle calls.
const sweepPerIdle = 128

// Process runs the pipeline over pkts, all received on port index inPort,
// and sets each packet's Verdict and OutPort. Packets that transmit were
// rewritten in place.
//
// It works in two passes. The first parses and classifies every packet and,
// for packets to a service, prefetches the connection-tracking bucket of
// the flow; the second looks the flows up, schedules new ones with Maglev
// and rewrites. The buckets are likely cache misses, and this way the
// misses of a whole burst overlap instead of each packet waiting for its
// own.
func (w *Worker) Process(s *Snapshot, inPort int, pkts []Packet) {
	// Publish before the burst, so that what the I/O layer relabelled
	// after the previous one is in: published counters never go back.
	if w.bursts%publishEvery == 0 {
		w.Publish()
	}
	if s != w.stats.snap {
		w.stats.adopt(s, w.ct)
	}
	c := &w.local
	w.now = uint16(w.clock.Now())
	rxBytes := 0
	for i := range pkts {
		p := &pkts[i]
		rxBytes += p.Len
		p.TxOffload = 0
		p.Verdict = w.packet(s, uint8(inPort), p)
	}
	c.RxPackets += uint64(len(pkts))
	c.RxBytes += uint64(rxBytes)
	for i := range pkts {
		p := &pkts[i]
		v := p.Verdict
		if v == scheduled {
			v = w.schedule(s, p)
			p.Verdict = v
			if v != Forward { // counted by schedule
				w.stats.count(p, v)
			}
		}
		c.Verdicts[v]++
	}
	// The forwarded packets in their real servers' slots (folded into
	// their services' when published), and the bytes sent. A pass of its
	// own: here every slot is known, in the second pass each waits on its
	// flow's lookup, and adds to one slot that wait on one another cost
	// the lookups' overlap.
	c.TxBytes += w.stats.forwarded(pkts)
	w.ct.sweepBurst(w.now)
	w.pending = true
	w.bursts++
}

// Relabel changes the verdict of a processed packet that the I/O layer
// could not deliver (staging or the kernel queue full) to the drop v.
func (w *Worker) Relabel(p *Packet, v Verdict) {
	w.local.Verdicts[p.Verdict]--
	if p.Verdict.Transmits() {
		w.local.TxBytes -= uint64(p.Len)
	}
	// Forward, FragNeeded and PacketTooBig come from a service's packets
	// only.
	w.stats.relabel(p, p.Verdict, v)
	p.Verdict = v
	w.local.Verdicts[v]++
}

// Publish makes the worker's counters visible to other goroutines (and,
// in shared memory, to the control process). Process publishes every
// publishEvery bursts; Idle when the worker polls nothing.
func (w *Worker) Publish() {
	if w.pending {
		w.local.publish(w.Shared)
		w.stats.publish(w.ct)
		w.pending = false
	}
}

// Idle is the I/O loop's call when it polled nothing for a while: it
// sweeps part of the flow table for expired flows (which keeps its
// occupancy gauge right while no packet arrives) and publishes the
// counters when they changed.
func (w *Worker) Idle() {
	w.now = uint16(w.clock.Now())
	if w.ct.sweep(w.now, sweepPerIdle) {
		w.pending = true
	}
	w.Publish()
}

func (w *Worker) packet(s *Snapshot, inPort uint8, p *Packet) Verdict {
	f := p.Buf[p.Off : p.Off+p.Len]
	et, l3, ok := header.ParseL2(f)
	if !ok {
		if len(f) < header.EthernetLen {
			return DropMalformed
		}
		return DropUnsupportedL2
	}
	p.OutPort = inPort
	switch et {
	case header.EtherTypeIPv4:
		return w.ipv4(s, p, f, l3)
	case header.EtherTypeARP:
		return w.arp(s, inPort, f, l3)
	case header.EtherTypeIPv6:
		return w.ipv6(s, p, f, l3)
	}
	return DropUnsupportedL2
}

func (w *Worker) ipv4(s *Snapshot, p *Packet, f []byte, l3 int) Verdict {
	ip := header.IPv4(f[l3:])
	if !ip.IsValid(len(ip)) {
		return DropMalformed
	}
	switch p.IPCsum {
	case ChecksumBad:
		return DropBadChecksum
	case ChecksumUnknown:
		if !ip.ChecksumValid() {
			return DropBadChecksum
		}
	}
	dst := ip.DstUint32()
	proto := ip.Protocol()
	if dst == s.own4 {
		if proto == header.IPProtoICMP {
			l4 := ip[ip.HeaderLen():ip.TotalLen()]
			if header.ICMPv4(l4).IsValid(len(l4)) && header.ICMPv4(l4).Type() == header.ICMPv4EchoRequest {
				return echo(s, p, f, ip)
			}
		}
		if s.kernel {
			return ToKernel
		}
		return DropOwnAddress
	}
	if proto == ipProtoVRRP && dst == vrrpGroup4 && s.kernel {
		return ToKernel
	}
	if ip.IsFragment() {
		if _, ok := s.classify.lookup(vipKey4(dst)); !ok {
			return DropNotVIP
		}
		return DropFragment
	}
	var sport, dport uint16
	l4 := ip[ip.HeaderLen():ip.TotalLen()]
	switch proto {
	case header.IPProtoTCP:
		if !header.TCP(l4).IsValid(len(l4)) {
			return DropMalformed
		}
	case header.IPProtoUDP:
		if !header.UDP(l4).IsValid(len(l4)) {
			return DropMalformed
		}
	case header.IPProtoICMP:
		if _, ok := s.classify.lookup(vipKey4(dst)); !ok {
			return DropNotVIP
		}
		if header.ICMPv4(l4).IsValid(len(l4)) && header.ICMPv4(l4).Type() == header.ICMPv4EchoRequest {
			return echo(s, p, f, ip)
		}
		return DropICMPNotEcho
	default:
		if _, ok := s.classify.lookup(vipKey4(dst)); ok {
			return DropNoService
		}
		return DropNotVIP
	}
	// TCP and UDP keep their ports in the same place.
	sport = binary.BigEndian.Uint16(l4[0:])
	dport = binary.BigEndian.Uint16(l4[2:])
	idx, ok := s.classify.lookup(serviceKey4(dst, proto, dport))
	if !ok {
		idx, ok = s.classify.lookup(serviceKey4(dst, proto, 0))
		if !ok {
			if _, vip := s.classify.lookup(vipKey4(dst)); vip {
				return DropNoService
			}
			return DropNotVIP
		}
	}
	src := ip.SrcUint32()
	p.svc = idx
	p.l3 = uint16(l3)
	p.v6 = false
	p.inPort = p.OutPort
	p.udp, p.tcpFlags = proto == header.IPProtoUDP, 0
	if !p.udp {
		p.tcpFlags = l4[13] // a valid TCP header has 20 bytes or more
	}
	p.flow = ctKey(FlowHash4(src, dst, sport, dport, proto))
	prefetch(unsafe.Pointer(&w.ct.bucket(p.flow)[0]))
	return scheduled
}

// schedule picks the real server of a classified packet (its tracked one,
// or the scheduler's choice for a new flow) and rewrites the packet for it.
func (w *Worker) schedule(s *Snapshot, p *Packet) Verdict {
	idx := p.svc
	svc := &s.services[idx]
	p.sstat = svc.stat
	var hop *nextHop
	if e := w.ct.find(p.flow, w.now); e != nil {
		// An established flow stays with its real server as long as the
		// service still has it (weight 0 included).
		if hop = s.hopOf(ref{e.ref, e.gen}, svc, idx); hop != nil {
			w.local.CTHits++
			// Most packets are an established flow's ACKs: no change.
			if !p.udp && (e.state != ctEstablished || p.tcpFlags&(tcpSYN|tcpFIN|tcpRST) != 0) {
				w.ct.advance(e, p.tcpFlags)
			}
			if e.stamp != w.now {
				w.ct.touch(e, w.now)
				if svc.persist != 0 {
					w.persist.touch(svc.persistKey(p), hop.ref, w.now)
				}
			}
		}
	}
	if hop == nil {
		w.local.CTMisses++
		if hop = w.newFlow(s, svc, p); hop == nil {
			return DropNoBackend
		}
	}
	p.bstat = hop.stat
	if hop.mac.IsZero() {
		return DropNoMAC
	}
	switch hop.method {
	case conf.MethodL2DSR:
	case conf.MethodDSCP:
		if !encap.DSCP(p.Buf[p.Off:p.Off+p.Len], int(p.l3), [4]byte(hop.outer.Dst4), hop.dscp) {
			return DropMalformed
		}
	default:
		if v := w.tunnel(s, p, hop); v != Forward {
			return v
		}
	}
	// Destination MAC = the next hop's, source MAC = the egress port's.
	copy(p.Buf[p.Off:p.Off+12], hop.l2[:])
	p.OutPort = hop.port
	return Forward
}

// newFlow schedules a flow that has no connection-tracking entry: to its
// client's persisted real server while that one takes new flows, else to
// the scheduler's choice (Maglev's for a packet that does not open a
// connection), and tracks it. It returns nil when no real server takes
// new flows.
func (w *Worker) newFlow(s *Snapshot, svc *service, p *Packet) *nextHop {
	var hop *nextHop
	var pkey uint64
	if svc.persist != 0 {
		pkey = svc.persistKey(p)
		if r, ok := w.persist.lookup(pkey, w.now, svc.persist); ok {
			if h := s.hopOf(r, svc, p.svc); h != nil && h.weight > 0 {
				hop = h
				w.local.PersistHits++
				w.persist.touch(pkey, r, w.now)
			}
		}
	}
	if hop == nil {
		b := w.pick(svc, p, opens(p))
		if b == noHop {
			return nil
		}
		hop = &svc.hops[b]
		if svc.persist != 0 {
			r := w.persist.store(pkey, hop.ref, w.now, svc.persist)
			if r != hop.ref {
				// Another worker persisted this client first.
				if h := s.hopOf(r, svc, p.svc); h != nil && h.weight > 0 {
					hop = h
				}
			}
		}
	}
	// A RST without an entry closes nothing worth remembering.
	if p.udp || p.tcpFlags&tcpRST == 0 {
		switch w.ct.insert(p.flow, hop.ref, stateOf(p.tcpFlags, p.udp), w.now) {
		case ctEvicted:
			w.local.CTFull++
		case ctEvictedEstablished:
			w.local.CTFull++
			w.local.CTFullEstablished++
		case ctRefused:
			w.local.CTUntracked++
		}
	}
	w.stats.newFlow(svc.stat, hop.stat)
	return hop
}

// tunnel encapsulates p towards hop's real server. A packet too large for
// the egress MTU once encapsulated is not fragmented: its sender gets an
// ICMP "fragmentation needed" (IPv4 with DF set) or an ICMPv6 Packet Too
// Big with the usable MTU, so path MTU discovery shrinks the flow; an IPv4
// packet without DF is dropped.
func (w *Worker) tunnel(s *Snapshot, p *Packet, hop *nextHop) Verdict {
	inner := p.Buf[p.Off+int(p.l3) : p.Off+p.Len]
	if p.v6 {
		if header.IPv6Len+int(header.IPv6(inner).PayloadLen()) > hop.maxInner {
			return w.tooBig(s, p, hop.maxInner)
		}
	} else if ip := header.IPv4(inner); int(ip.TotalLen()) > hop.maxInner {
		if !ip.DontFragment() {
			return DropTooBig
		}
		return w.tooBig(s, p, hop.maxInner)
	}
	off, n, ok := encap.EncapHW(p.Buf, p.Off, p.Len, int(p.l3), p.v6, hop.method, &hop.outer, p.flow, hop.guePort, hop.txHW)
	if !ok {
		return DropNoHeadroom
	}
	p.Off, p.Len, p.TxOffload = off, n, hop.txHW
	return Forward
}

// tooBig turns p, too large for its tunnel, into the ICMP error that tells
// its sender the usable MTU, sent back out of the port it came in on:
// "fragmentation needed" for IPv4, Packet Too Big for IPv6.
func (w *Worker) tooBig(s *Snapshot, p *Packet, mtu int) Verdict {
	if !w.icmpAllowed() {
		return DropICMPRateLimit
	}
	mac := s.portMACs[p.inPort&(MaxPorts-1)]
	v := FragNeeded
	var off, n int
	var ok bool
	if p.v6 {
		v = PacketTooBig
		off, n, ok = encap.PacketTooBig6(p.Buf, p.Off, p.Len, int(p.l3), s.own6, mac, uint32(mtu))
	} else {
		off, n, ok = encap.FragNeeded4(p.Buf, p.Off, p.Len, int(p.l3), s.own4b, mac, uint16(mtu))
	}
	if !ok {
		return DropTooBig
	}
	p.Off, p.Len, p.OutPort = off, n, p.inPort
	return v
}

// icmpRate is how many ICMP errors a worker sends per second at most
// (RFC 1812 section 4.3.2.8, RFC 4443 section 2.4(f)).
const icmpRate = 1000

// icmpAllowed takes one ICMP error from this second's budget.
func (w *Worker) icmpAllowed() bool {
	if w.icmpSec != w.now {
		w.icmpSec, w.icmpSent = w.now, 0
	}
	if w.icmpSent >= icmpRate {
		return false
	}
	w.icmpSent++
	return true
}

// VRRP (RFC 5798) advertisements go to the kernel, where the control
// process runs VRRP.
const (
	ipProtoVRRP = 112
	vrrpGroup4  = 0xe0000012 // 224.0.0.18
)

// echo turns an ICMP echo request into the reply in place. Swapping the
// addresses leaves the IP checksum unchanged (same 16-bit words); the type
// change and the new TTL are patched incrementally.
func echo(s *Snapshot, p *Packet, f []byte, ip header.IPv4) Verdict {
	l4 := ip[ip.HeaderLen():ip.TotalLen()]
	icmp := header.ICMPv4(l4)
	if !icmp.IsValid(len(l4)) {
		return DropMalformed
	}
	if icmp.Type() != header.ICMPv4EchoRequest || icmp.Code() != 0 {
		return DropICMPNotEcho
	}
	src, dst := ip.Src(), ip.Dst()
	ip.SetSrc(dst)
	ip.SetDst(src)
	ip.SetChecksum(header.UpdateChecksum16(ip.Checksum(), uint16(ip.TTL())<<8|uint16(ip.Protocol()), 64<<8|uint16(ip.Protocol())))
	ip.SetTTL(64)
	icmp.SetTypeWithChecksumUpdate(header.ICMPv4EchoReply)
	eth := header.Ethernet(f)
	eth.SetDst(eth.Src())
	eth.SetSrc(s.portMACs[p.OutPort&(MaxPorts-1)])
	return EchoReply
}

// arp answers requests for VIPs and the own address in place, and passes
// the sender's MAC of packets from tracked neighbours to the resolver.
func (w *Worker) arp(s *Snapshot, inPort uint8, f []byte, l3 int) Verdict {
	a := header.ARP(f[l3:])
	if !a.IsValid() {
		return DropMalformed
	}
	sender := a.SenderIP()
	senderKey := uint64(binary.BigEndian.Uint32(sender[:]))
	if senderKey != 0 {
		if _, tracked := s.neigh.lookup(senderKey); tracked {
			mac := a.SenderMAC()
			if !mac.IsMulticast() && !mac.IsZero() {
				if !w.Learn.Push(Learned{IP: netip.AddrFrom4(sender), MAC: mac, Port: inPort}) {
					w.local.LearnOverflow++
				}
			}
		}
	}
	if a.Op() == header.ARPRequest {
		target := a.TargetIP()
		t := binary.BigEndian.Uint32(target[:])
		ours := t == s.own4
		if !ours {
			v, ok := s.classify.lookup(vipKey4(t))
			ours = ok && v == vipMark
			if ours && !s.answers4(t) {
				return DropARPBackup
			}
		}
		if ours && sender != target { // not a gratuitous ARP/probe of ours
			mine := s.portMACs[inPort&(MaxPorts-1)]
			eth := header.Ethernet(f)
			reqMAC := a.SenderMAC()
			eth.SetDst(eth.Src())
			eth.SetSrc(mine)
			a.SetOp(header.ARPReply)
			a.SetTargetMAC(reqMAC)
			a.SetTargetIP(sender)
			a.SetSenderMAC(mine)
			a.SetSenderIP(target)
			return ARPReply
		}
	}
	// ARP replies to the balancer's own address also teach the kernel (it
	// asked, through the exception path).
	if s.kernel && a.Op() == header.ARPReply {
		if t := a.TargetIP(); binary.BigEndian.Uint32(t[:]) == s.own4 {
			return ToKernel
		}
	}
	if senderKey != 0 {
		if _, tracked := s.neigh.lookup(senderKey); tracked {
			return ARPLearned
		}
	}
	return DropARPIgnored
}

// source is the client address of a classified packet, read from its IP
// header: IPv4 in the low 32 bits of lo, IPv6 as two halves.
func (p *Packet) source() (hi, lo uint64) {
	ip := p.Buf[p.Off+int(p.l3) : p.Off+p.Len]
	if p.v6 {
		return binary.BigEndian.Uint64(ip[8:16]), binary.BigEndian.Uint64(ip[16:24])
	}
	return 0, uint64(binary.BigEndian.Uint32(ip[12:16]))
}
