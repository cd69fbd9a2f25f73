package pipeline

import (
	"encoding/binary"
	"fmt"

	"dsrlb/conf"
	"dsrlb/pipeline/encap"
	"dsrlb/pipeline/header"
)

// DSR path probes. dsrlb-ctrl checks a real server's whole DSR set-up by
// connecting from the balancer's own address to the VIP: the kernel sends
// those packets through the exception path, and the worker that takes them
// from the kernel asks Probe whether one is a probe: TCP or UDP from the
// own address to a VIP's service, from a source port the service steers
// (ServiceConfig.Probes). A probe goes to its one real server with that
// server's method, exactly as a client's packet would, without connection
// tracking or scheduling; the real server answers from the VIP to the
// balancer's own address, which the workers hand to the kernel like any
// packet for the balancer. Every other packet of the kernel's leaves
// unchanged.
//
// The kernel must first resolve the VIP (it is on-link when it is in the
// own address's prefix): KernelNeighbor answers its ARP requests and
// neighbour solicitations for VIPs, whatever the VRRP state, with
// KernelVIPMAC, so that a backup balancer probes too.

// probeHop is where the probes from one source port go.
type probeHop struct {
	port uint16
	ok   bool // the real server's MAC is known
	hop  nextHop
}

// ProbeResult is what Probe did with one of the kernel's packets.
type ProbeResult uint8

const (
	// NotProbe: not a probe; it leaves through the first port unchanged.
	NotProbe ProbeResult = iota
	// ProbeSent: rewritten for its real server, to be sent on
	// Packet.OutPort.
	ProbeSent
	// ProbeDropped: a probe that cannot be sent (its real server's MAC
	// is unknown, or the packet does not fit the tunnel): to be freed.
	ProbeDropped
)

// probeHops compiles the probes of service sc; used holds the source
// ports of the services compiled so far (a port steers one real server).
func (s *Snapshot) probeHops(cfg *Config, sc ServiceConfig, neigh NeighborLookup, used map[uint16]string) ([]probeHop, error) {
	var out []probeHop
	for _, pc := range sc.Probes {
		m := pc.Method
		if m == 0 {
			m = sc.Method
		}
		if m == 0 {
			m = conf.MethodL2DSR
		}
		if pc.Port == 0 {
			return nil, fmt.Errorf("service %s: probe of %s without a source port", sc.Name, pc.Addr)
		}
		if o, dup := used[pc.Port]; dup {
			return nil, fmt.Errorf("service %s: probe source port %d of %s is already %s's", sc.Name, pc.Port, pc.Addr, o)
		}
		used[pc.Port] = sc.Name + " " + pc.Addr.String()
		if err := checkFamilies(cfg, sc, pc.Addr, m); err != nil {
			return nil, err
		}
		via, reachable := cfg.NextHop(pc.Addr)
		if m == conf.MethodL2DSR && via != pc.Addr {
			return nil, fmt.Errorf("service %s: probed real server %s is not on-link (l2dsr)", sc.Name, pc.Addr)
		}
		if !reachable {
			return nil, fmt.Errorf("service %s: no route to probed real server %s", sc.Name, pc.Addr)
		}
		if via.Is4() {
			s.neigh.insert(uint64(addr4(via)), 1)
		} else {
			hi, lo := split6(via.As16())
			s.neigh6.insert(hi, lo, 1)
		}
		ph := probeHop{port: pc.Port}
		if n, ok := neigh(via); ok && int(n.Port) < s.nPorts {
			hop, err := s.makeHop(cfg, sc, pc.Addr, m, n)
			if err != nil {
				return nil, err
			}
			ph.ok, ph.hop = true, hop
		}
		out = append(out, ph)
	}
	return out, nil
}

// Probe rewrites p, a packet the kernel sent, for its real server if it is
// a DSR path probe (see above).
func (w *Worker) Probe(s *Snapshot, p *Packet) ProbeResult {
	p.TxOffload = 0
	f := p.Buf[p.Off : p.Off+p.Len]
	et, l3, ok := header.ParseL2(f)
	if !ok {
		return NotProbe
	}
	var idx uint32
	var sport, dport uint16
	var proto uint8
	switch et {
	case header.EtherTypeIPv4:
		ip := header.IPv4(f[l3:])
		if !ip.IsValid(len(ip)) || ip.SrcUint32() != s.own4 || ip.IsFragment() {
			return NotProbe
		}
		proto = ip.Protocol()
		l4 := ip[ip.HeaderLen():ip.TotalLen()]
		if !ports(proto, l4) {
			return NotProbe
		}
		sport, dport = binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[2:])
		dst := ip.DstUint32()
		if idx, ok = s.classify.lookup(serviceKey4(dst, proto, dport)); !ok {
			if idx, ok = s.classify.lookup(serviceKey4(dst, proto, 0)); !ok {
				return NotProbe
			}
		}
		p.v6 = false
		p.flow = FlowHash4(ip.SrcUint32(), dst, sport, dport, proto)
	case header.EtherTypeIPv6:
		ip := header.IPv6(f[l3:])
		if !s.has6 || !ip.IsValid(len(ip)) {
			return NotProbe
		}
		sh, sl := binary.BigEndian.Uint64(ip[8:16]), binary.BigEndian.Uint64(ip[16:24])
		if sh != s.own6h || sl != s.own6l {
			return NotProbe
		}
		proto = ip.NextHeader()
		l4 := ip[header.IPv6Len : header.IPv6Len+int(ip.PayloadLen())]
		if !ports(proto, l4) {
			return NotProbe
		}
		sport, dport = binary.BigEndian.Uint16(l4[0:]), binary.BigEndian.Uint16(l4[2:])
		dh, dl := binary.BigEndian.Uint64(ip[24:32]), binary.BigEndian.Uint64(ip[32:40])
		num, vip := s.vip6.lookup(dh, dl)
		if !vip {
			return NotProbe
		}
		if idx, ok = s.classify.lookup(serviceKey6(num, proto, dport)); !ok {
			if idx, ok = s.classify.lookup(serviceKey6(num, proto, 0)); !ok {
				return NotProbe
			}
		}
		p.v6 = true
		p.flow = FlowHash6(sh, sl, dh, dl, sport, dport, proto)
	default:
		return NotProbe
	}
	svc := &s.services[idx]
	var ph *probeHop
	for i := range svc.probes {
		if svc.probes[i].port == sport {
			ph = &svc.probes[i]
			break
		}
	}
	if ph == nil {
		return NotProbe
	}
	if !ph.ok {
		w.local.ProbeDrops++
		return ProbeDropped
	}
	hop := &ph.hop
	p.l3, p.inPort, p.svc = uint16(l3), 0, idx
	switch hop.method {
	case conf.MethodL2DSR:
	case conf.MethodDSCP:
		if !encap.DSCP(p.Buf[p.Off:p.Off+p.Len], l3, [4]byte(hop.outer.Dst4), hop.dscp) {
			w.local.ProbeDrops++
			return ProbeDropped
		}
	default:
		// A probe too large for its tunnel is dropped: the ICMP error
		// tunnel would send is not for the kernel's own packets.
		if w.tunnel(s, p, hop) != Forward {
			w.local.ProbeDrops++
			return ProbeDropped
		}
	}
	copy(p.Buf[p.Off:p.Off+12], hop.l2[:])
	p.OutPort = hop.port
	w.local.Probes++
	w.pending = true
	return ProbeSent
}

// ports reports whether l4 is a TCP or UDP header with its ports.
func ports(proto uint8, l4 []byte) bool {
	switch proto {
	case header.IPProtoTCP:
		return header.TCP(l4).IsValid(len(l4))
	case header.IPProtoUDP:
		return header.UDP(l4).IsValid(len(l4))
	}
	return false
}

// KernelVIPMAC is the MAC KernelNeighbor gives the kernel for every VIP:
// the first port's with the locally administered bit flipped, so that it
// is not the kernel's own (the TAP has the first port's MAC).
func (s *Snapshot) KernelVIPMAC() header.MAC {
	m := s.portMACs[0]
	m[0] ^= 0x02
	return m
}

// KernelNeighbor answers, in place, the kernel's ARP request or neighbour
// solicitation for a VIP: buf[off:off+n] is the kernel's frame, and buf
// has room after it (an NA may be longer than the NS). It returns the
// reply's length and true, or false for any other frame.
func (s *Snapshot) KernelNeighbor(buf []byte, off, n int) (int, bool) {
	f := buf[off : off+n]
	et, l3, ok := header.ParseL2(f)
	if !ok {
		return 0, false
	}
	mac := s.KernelVIPMAC()
	switch et {
	case header.EtherTypeARP:
		a := header.ARP(f[l3:])
		if !a.IsValid() || a.Op() != header.ARPRequest {
			return 0, false
		}
		target, sender := a.TargetIP(), a.SenderIP()
		if v, ok := s.classify.lookup(vipKey4(binary.BigEndian.Uint32(target[:]))); !ok || v != vipMark || target == sender {
			return 0, false
		}
		eth := header.Ethernet(f)
		req := a.SenderMAC()
		eth.SetDst(eth.Src())
		eth.SetSrc(mac)
		a.SetOp(header.ARPReply)
		a.SetTargetMAC(req)
		a.SetTargetIP(sender)
		a.SetSenderMAC(mac)
		a.SetSenderIP(target)
		return n, true
	case header.EtherTypeIPv6:
		ip := header.IPv6(f[l3:])
		if !s.has6 || !ip.IsValid(len(ip)) || ip.NextHeader() != header.IPProtoICMPv6 {
			return 0, false
		}
		end := header.IPv6Len + int(ip.PayloadLen())
		if icmpType6(ip, header.IPv6Len, end) != header.ICMPv6NeighborSolicit {
			return 0, false
		}
		c := header.ICMPv6(ip[header.IPv6Len:end])
		if !c.IsValidNDP(len(c)) {
			return 0, false
		}
		target := c.NDPTarget()
		if _, vip := s.vip6.lookup(split6(target)); !vip {
			return 0, false
		}
		src := ip.Src()
		if src == [16]byte{} || off+l3+header.NDPLen > len(buf) {
			return 0, false // the kernel's duplicate address detection: nothing to answer
		}
		eth := header.Ethernet(f)
		dstMAC := eth.Src()
		if m, ok := c.NDPLinkLayerOption(len(c), header.NDPOptSourceLinkLayer); ok {
			dstMAC = m
		}
		out := buf[off : off+l3+header.NDPLen]
		eth = header.Ethernet(out)
		eth.SetDst(dstMAC)
		eth.SetSrc(mac)
		header.PutNDP(out[l3:], header.ICMPv6NeighborAdvert, mac, target, src, target, header.NAFlagSolicited|header.NAFlagOverride)
		return l3 + header.NDPLen, true
	}
	return 0, false
}
