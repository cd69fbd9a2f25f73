package pipeline

import (
	"dsrlb/conf"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"dsrlb/pipeline/encap"
	"dsrlb/pipeline/header"
	"dsrlb/pipeline/maglev"
)

// MaxPorts is the most ports a data plane drives.
const MaxPorts = 8

// Config is the static forwarding configuration, compiled from TOML by
// package conf. It holds no runtime state (MACs of real servers).
type Config struct {
	Own4 netip.Prefix // the balancer's address and its on-link prefix
	// Own6 is the balancer's IPv6 address and on-link prefix; needed by
	// IPv6 VIPs and real servers (neighbour discovery, ICMPv6 errors and
	// the outer source of IPv6 tunnels).
	Own6     netip.Prefix
	PortMACs []header.MAC // per port index, filled in when ports are open
	Services []ServiceConfig
	// Kernel: an exception path exists; traffic for the balancer itself
	// that the data plane does not answer goes to the kernel.
	Kernel bool
	// Routes and Gateway reach real servers outside Own4's prefix (the L3
	// methods); see NextHop.
	Routes   []Route
	Gateway  netip.Addr
	Gateway6 netip.Addr
	// PortMTUs is each port's MTU, for the tunnels' size check (1500 when
	// missing).
	PortMTUs []int
	// PortTxHW is, per port, the checksums its device computes on
	// transmit (encap.HWIPv4Checksum, encap.HWUDPChecksum); 0 or missing:
	// all in software.
	PortTxHW []uint8
}

// ServiceConfig is one virtual service.
type ServiceConfig struct {
	Name   string
	VIP    netip.Addr // IPv4 or IPv6
	Proto  uint8      // header.IPProtoTCP or header.IPProtoUDP
	Port   uint16     // 0: every port
	Method conf.Method
	// Scheduler picks the real server of a new flow (sched.go).
	Scheduler conf.Scheduler
	SourceIP  bool   // Maglev hashes the client address only (SchedSH sets it too)
	Size      uint32 // Maglev table size (prime)
	// PersistTimeout (seconds, 0: none) keeps a client's new flows on
	// the real server of its earlier ones (persist.go); PersistPrefix is
	// how much of the client address names the client (bits).
	PersistTimeout uint16
	PersistPrefix  uint8
	DSCP           uint8  // code of this VIP for conf.MethodDSCP, 1..63
	GUEPort        uint16 // UDP destination port for conf.MethodGUE
	// VRRP is the VRRP group (1..MaxVRRPGroup) whose master answers ARP
	// and neighbour solicitations for VIP; 0: always answered.
	VRRP     uint8
	Backends []BackendConfig
	// Probes steer the balancer's own packets to the VIP (DSR path
	// health checks, probe.go), by source port, to one real server each,
	// whatever its state.
	Probes []ProbeConfig
	// Stats is the service's counter slot (the zero StatSlot: the
	// overflow slot).
	Stats StatSlot
}

// ProbeConfig is one DSR path probe: the balancer's own packets to the
// service's VIP from source port Port go to real server Addr with Method
// (0: the service's).
type ProbeConfig struct {
	Addr   netip.Addr
	Method conf.Method
	Port   uint16
}

// MaxVRRPGroup is the highest VRRP group number.
const MaxVRRPGroup = 255

// Masters is the set of VRRP groups this balancer is master of, a bit per
// group number.
type Masters [4]uint64

// Has reports whether group g is in the set.
func (m Masters) Has(g uint8) bool { return m[g>>6]&(1<<(g&63)) != 0 }

// Set puts group g in the set or takes it out.
func (m *Masters) Set(g uint8, master bool) {
	if master {
		m[g>>6] |= 1 << (g & 63)
	} else {
		m[g>>6] &^= 1 << (g & 63)
	}
}

// BackendConfig is one real server of a service. Weight 0 keeps the real
// server's established flows (connection tracking) but gives it no new
// ones: draining, or inhibited after a failed health check.
type BackendConfig struct {
	Addr   netip.Addr
	Weight uint32
	Method conf.Method // 0: the service's
	Stats  StatSlot    // the real server's counter slot in this service
}

// Neighbor is a resolved link-layer next hop.
type Neighbor struct {
	MAC  header.MAC
	Port uint8 // port index it answered on
}

// NeighborLookup tells Build which next hops have a known MAC.
type NeighborLookup func(ip netip.Addr) (Neighbor, bool)

// Snapshot is the immutable compiled forwarding state that workers read.
// A new one is built off the worker lcores and published with one atomic
// pointer swap; workers pick it up at a burst boundary.
type Snapshot struct {
	Gen      uint64
	own4     uint32
	own4b    [4]byte
	own6     [16]byte
	own6h    uint64 // own6 as two halves, for one-compare matching
	own6l    uint64
	has6     bool // own6 is configured
	portMACs [MaxPorts]header.MAC
	nPorts   int
	classify table4 // serviceKey4/serviceKey6 -> service index; vipKey4 -> vipMark
	vip6     table6 // IPv6 VIP -> its number in serviceKey6
	neigh    table4 // tracked neighbour IPv4 -> 1 (to learn from their ARP)
	neigh6   table6 // tracked neighbour IPv6 -> 1 (to learn from their NDP)
	// refs places each backend reference (refs.go) in this snapshot;
	// alloc is how they were given out, for the next Build.
	refs     []refHop
	refStats []uint32 // each reference's counter slot (for its connection gauges)
	alloc    *refAlloc
	services []service
	kernel   bool
	// VRRP: the group of each VRRP-managed VIP, and the groups this
	// balancer is master of (only their VIPs are answered).
	vrrp4   table4 // IPv4 VIP -> group
	vrrp6   table6 // IPv6 VIP -> group
	masters Masters
	// The counter slots the services and next hops count into, for the
	// workers to adopt (hot paths read service.stat and nextHop.stat).
	svcSlots []StatSlot
	hopSlots []hopSlot
}

const vipMark = ^uint32(0)

// hopSlot is a next hop's counter slot and its service's slot.
type hopSlot struct {
	StatSlot
	service uint32
}

type service struct {
	name     string
	stat     uint32 // counter slot
	sched    conf.Scheduler
	sourceIP bool
	table    []uint16  // Maglev lookup table: index into hops; nil when no hop has weight
	hops     []nextHop // real servers with a resolved MAC, weight 0 included
	// weighted lists the hops with weight > 0 (the candidates of new
	// flows), in configuration order; fo is the failover scheduler's
	// choice among them.
	weighted []uint16
	fo       uint16
	// Persistence: timeout in seconds (0: none), the client address
	// mask, and the service's seed of the persistence keys.
	persist     uint16
	persistMask [2]uint64 // IPv6 high and low halves; IPv4: the high half's low 32 bits
	persistSeed uint64
	size        uint32
	// key of the resolved set, to reuse a table across rebuilds
	setKey string
	// probes are the DSR path probes' next hops by source port (probe.go).
	probes []probeHop
}

type nextHop struct {
	// l2 is the Ethernet destination and source a packet to this hop
	// gets: its MAC, then the egress port's MAC (one 12-byte copy).
	l2     [12]byte
	mac    header.MAC
	port   uint8
	method conf.Method
	dscp   uint8
	ref    ref // the real server's backend reference
	weight uint32
	stat   uint32 // the real server's counter slot
	// For tunnels: the outer addresses, the GUE port, and the largest
	// inner packet that fits the egress port's MTU once encapsulated.
	outer    encap.Outer
	guePort  uint16
	maxInner int
	// txHW: the checksums of the encapsulation the egress port's device
	// computes (encap.HWFor), asked for in Packet.TxOffload.
	txHW uint8
}

// ServiceState describes a compiled service for status output and tests.
type ServiceState struct {
	Name       string
	Backends   int // configured
	Scheduled  int // weighted and with a known MAC: in the Maglev table
	Draining   int // weight 0 with a known MAC: keeps its flows, gets no new ones
	Unresolved int // MAC unknown
}

// Build compiles cfg with the neighbours known now into a snapshot. prev,
// when not nil, lends its Maglev tables to services whose scheduled set did
// not change, so a MAC refresh does not rebuild tables.
func Build(cfg *Config, neigh NeighborLookup, prev *Snapshot, mb *maglev.Builder) (*Snapshot, []ServiceState, error) {
	if len(cfg.PortMACs) == 0 || len(cfg.PortMACs) > MaxPorts {
		return nil, nil, fmt.Errorf("pipeline: %d ports, want 1..%d", len(cfg.PortMACs), MaxPorts)
	}
	if mb == nil {
		mb = maglev.NewBuilder()
	}
	s := &Snapshot{nPorts: len(cfg.PortMACs), kernel: cfg.Kernel}
	if cfg.Own4.IsValid() {
		s.own4, s.own4b = addr4(cfg.Own4.Addr()), cfg.Own4.Addr().As4()
	}
	if cfg.Own6.IsValid() {
		if !is6(cfg.Own6.Addr()) {
			return nil, nil, fmt.Errorf("pipeline: own IPv6 address %s is not IPv6", cfg.Own6.Addr())
		}
		s.has6, s.own6 = true, cfg.Own6.Addr().As16()
		s.own6h, s.own6l = split6(s.own6)
	}
	copy(s.portMACs[:], cfg.PortMACs)
	if prev != nil {
		s.Gen = prev.Gen + 1
	}
	prevTables := map[string]*service{}
	if prev != nil {
		for i := range prev.services {
			prevTables[prev.services[i].name] = &prev.services[i]
		}
	}

	s.classify = newTable4(2 * len(cfg.Services))
	s.vip6 = newTable6(len(cfg.Services))
	s.vrrp4 = newTable4(len(cfg.Services))
	s.vrrp6 = newTable6(len(cfg.Services))
	if prev != nil {
		s.masters = prev.masters
	}
	groupOf := map[netip.Addr]ServiceConfig{}
	for _, sc := range cfg.Services {
		if o, seen := groupOf[sc.VIP]; seen && o.VRRP != sc.VRRP {
			return nil, nil, fmt.Errorf("service %s: VIP %s is in VRRP group %d, but in group %d for service %s", sc.Name, sc.VIP, sc.VRRP, o.VRRP, o.Name)
		}
		groupOf[sc.VIP] = sc
	}
	nb := 0
	for _, sc := range cfg.Services {
		nb += len(sc.Backends)
	}
	s.neigh = newTable4(nb)
	s.neigh6 = newTable6(nb)
	nVIP6 := uint32(0)
	var keys []refKey
	for _, sc := range cfg.Services {
		for _, b := range sc.Backends {
			keys = append(keys, refKey{sc.Name, b.Addr})
		}
	}
	var prevAlloc *refAlloc
	if prev != nil {
		prevAlloc = prev.alloc
	}
	alloc, err := prevAlloc.next(keys)
	if err != nil {
		return nil, nil, err
	}
	s.alloc = alloc
	s.refs = make([]refHop, len(alloc.gens))
	s.refStats = make([]uint32, len(alloc.gens))
	s.services = make([]service, len(cfg.Services))
	states := make([]ServiceState, len(cfg.Services))
	probePorts := map[uint16]string{}
	for i, sc := range cfg.Services {
		var key uint64
		switch {
		case sc.VIP.Is4():
			vip := addr4(sc.VIP)
			key = serviceKey4(vip, sc.Proto, sc.Port)
			s.classify.insert(vipKey4(vip), vipMark)
		case is6(sc.VIP):
			if !s.has6 {
				return nil, nil, fmt.Errorf("service %s: IPv6 VIP %s needs the balancer's own IPv6 address", sc.Name, sc.VIP)
			}
			hi, lo := split6(sc.VIP.As16())
			num, ok := s.vip6.lookup(hi, lo)
			if !ok {
				num = nVIP6
				nVIP6++
				s.vip6.insert(hi, lo, num)
			}
			key = serviceKey6(num, sc.Proto, sc.Port)
		default:
			return nil, nil, fmt.Errorf("service %s: VIP %q is neither IPv4 nor IPv6", sc.Name, sc.VIP)
		}
		if _, dup := s.classify.lookup(key); dup {
			return nil, nil, fmt.Errorf("service %s: %s %d/%d is already a service", sc.Name, sc.VIP, sc.Proto, sc.Port)
		}
		if sc.VRRP != 0 {
			if sc.VIP.Is4() {
				s.vrrp4.insert(uint64(addr4(sc.VIP)), uint32(sc.VRRP))
			} else {
				hi, lo := split6(sc.VIP.As16())
				s.vrrp6.insert(hi, lo, uint32(sc.VRRP))
			}
		}
		s.classify.insert(key, uint32(i))

		svc := &s.services[i]
		svc.name = sc.Name
		svc.stat = sc.Stats.Slot
		if sc.Stats.Slot != 0 {
			s.svcSlots = append(s.svcSlots, sc.Stats)
		}
		svc.sched = sc.Scheduler
		if !svc.sched.Valid() {
			return nil, nil, fmt.Errorf("service %s: %v is not a scheduler", sc.Name, sc.Scheduler)
		}
		svc.sourceIP = sc.SourceIP || sc.Scheduler == conf.SchedSH
		if err := svc.setPersistence(sc); err != nil {
			return nil, nil, err
		}
		svc.size = sc.Size
		st := &states[i]
		st.Name = sc.Name
		st.Backends = len(sc.Backends)

		var mbs []maglev.Backend
		var keyb []byte
		weighted := 0
		seen := map[netip.Addr]bool{}
		for _, b := range sc.Backends {
			m := b.Method
			if m == 0 {
				m = sc.Method
			}
			if m == 0 {
				m = conf.MethodL2DSR
			}
			if err := checkFamilies(cfg, sc, b.Addr, m); err != nil {
				return nil, nil, err
			}
			if seen[b.Addr] {
				return nil, nil, fmt.Errorf("service %s: real server %s listed twice", sc.Name, b.Addr)
			}
			seen[b.Addr] = true
			id := alloc.ids[refKey{sc.Name, b.Addr}]
			r := ref{idx: id, gen: alloc.gens[id]}
			s.refs[id] = makeRefHop(uint32(i), noHop, r.gen)
			s.refStats[id] = b.Stats.Slot
			via, reachable := cfg.NextHop(b.Addr)
			if m == conf.MethodL2DSR && via != b.Addr {
				own := cfg.Own4
				if !b.Addr.Is4() {
					own = cfg.Own6
				}
				return nil, nil, fmt.Errorf("service %s: real server %s is not on-link in %s (l2dsr)", sc.Name, b.Addr, own.Masked())
			}
			if !reachable {
				return nil, nil, fmt.Errorf("service %s: no route to real server %s", sc.Name, b.Addr)
			}
			if via.Is4() {
				s.neigh.insert(uint64(addr4(via)), 1)
			} else {
				hi, lo := split6(via.As16())
				s.neigh6.insert(hi, lo, 1)
			}
			n, ok := neigh(via)
			if !ok {
				st.Unresolved++
				continue
			}
			if int(n.Port) >= s.nPorts {
				return nil, nil, fmt.Errorf("service %s: neighbour %s on port %d of %d", sc.Name, b.Addr, n.Port, s.nPorts)
			}
			s.refs[id] = makeRefHop(uint32(i), uint16(len(svc.hops)), r.gen)
			hop, err := s.makeHop(cfg, sc, b.Addr, m, n)
			if err != nil {
				return nil, nil, err
			}
			hop.ref, hop.weight, hop.stat = r, b.Weight, b.Stats.Slot
			if b.Stats.Slot != 0 {
				s.hopSlots = append(s.hopSlots, hopSlot{b.Stats, sc.Stats.Slot})
			}
			svc.hops = append(svc.hops, hop)
			mbs = append(mbs, maglev.Backend{Key: b.Addr.String(), Weight: b.Weight})
			keyb = fmt.Appendf(keyb, "%s/%d,", b.Addr, b.Weight)
			if b.Weight > 0 {
				weighted++
				svc.weighted = append(svc.weighted, uint16(len(svc.hops)-1))
			} else {
				st.Draining++
			}
		}
		st.Scheduled = weighted
		if svc.probes, err = s.probeHops(cfg, sc, neigh, probePorts); err != nil {
			return nil, nil, err
		}
		svc.fo = failoverHop(svc)
		svc.setKey = fmt.Sprintf("%d|%s", sc.Size, keyb)
		if weighted == 0 {
			continue
		}
		if p := prevTables[sc.Name]; p != nil && p.setKey == svc.setKey {
			svc.table = p.table // immutable: safe to share
			continue
		}
		t, err := mb.Build(nil, mbs, sc.Size)
		if err != nil {
			return nil, nil, fmt.Errorf("service %s: %w", sc.Name, err)
		}
		svc.table = t
	}
	// Last, so that a real server listed twice gets that error.
	if err := checkStatSlots(cfg.Services); err != nil {
		return nil, nil, err
	}
	return s, states, nil
}

// makeHop is the next hop towards real server rs (method m, resolved to
// n) of service sc: its Ethernet header, method, DSCP code and tunnel.
// The caller sets the reference, weight and counter slot.
func (s *Snapshot) makeHop(cfg *Config, sc ServiceConfig, rs netip.Addr, m conf.Method, n Neighbor) (nextHop, error) {
	if m == conf.MethodDSCP && (sc.DSCP == 0 || sc.DSCP > encap.MaxDSCPCode) {
		return nextHop{}, fmt.Errorf("service %s: DSCP code %d out of 1..%d", sc.Name, sc.DSCP, encap.MaxDSCPCode)
	}
	if m == conf.MethodGUE && sc.GUEPort == 0 {
		return nextHop{}, fmt.Errorf("service %s: GUE needs a UDP port", sc.Name)
	}
	mtu := 1500
	if int(n.Port) < len(cfg.PortMTUs) && cfg.PortMTUs[n.Port] > 0 {
		mtu = cfg.PortMTUs[n.Port]
	}
	hop := nextHop{mac: n.MAC, port: n.Port, method: m, dscp: sc.DSCP, guePort: sc.GUEPort}
	if rs.Is4() {
		hop.outer.Src4, hop.outer.Dst4 = s.own4b, rs.As4()
	} else {
		hop.outer.V6, hop.outer.Src6, hop.outer.Dst6 = true, s.own6, rs.As16()
	}
	if m.Tunnels() {
		hop.maxInner = mtu - m.Overhead(hop.outer.V6)
		if int(n.Port) < len(cfg.PortTxHW) {
			hop.txHW = encap.HWFor(cfg.PortTxHW[n.Port], m, hop.outer.V6)
		}
	}
	copy(hop.l2[:6], n.MAC[:])
	copy(hop.l2[6:], cfg.PortMACs[n.Port][:])
	return hop, nil
}

// checkStatSlots refuses counter slots (other than the overflow slot)
// given twice: two owners would count into one.
func checkStatSlots(services []ServiceConfig) error {
	svc := map[uint32]string{}
	bk := map[uint32]string{}
	for _, sc := range services {
		if k := sc.Stats.Slot; k != 0 {
			if o, dup := svc[k]; dup {
				return fmt.Errorf("service %s: counter slot %d is service %s's", sc.Name, k, o)
			}
			svc[k] = sc.Name
		}
		for _, b := range sc.Backends {
			if k := b.Stats.Slot; k != 0 {
				if o, dup := bk[k]; dup {
					return fmt.Errorf("service %s: real server %s: counter slot %d is %s's", sc.Name, b.Addr, k, o)
				}
				bk[k] = sc.Name + " " + b.Addr.String()
			}
		}
	}
	return nil
}

// vrrpGroup is the VRRP group of VIP a, 0 for none.
func (s *Snapshot) vrrpGroup(a netip.Addr) uint8 {
	var g uint32
	if a.Is4() {
		g, _ = s.vrrp4.lookup(uint64(addr4(a)))
	} else {
		g, _ = s.vrrp6.lookup(split6(a.As16()))
	}
	return uint8(g)
}

// answers4 reports whether ARP requests for IPv4 VIP vip are answered:
// the VIP is in no VRRP group, or in one this balancer is master of.
func (s *Snapshot) answers4(vip uint32) bool {
	g, ok := s.vrrp4.lookup(uint64(vip))
	return !ok || s.masters.Has(uint8(g))
}

// answers6 is answers4 for an IPv6 VIP (as two halves).
func (s *Snapshot) answers6(hi, lo uint64) bool {
	g, ok := s.vrrp6.lookup(hi, lo)
	return !ok || s.masters.Has(uint8(g))
}

// Masters is the set of VRRP groups whose VIPs this snapshot answers for.
func (s *Snapshot) Masters() Masters { return s.masters }

// WithMasters returns a copy of s (the next generation) that answers for
// the VIPs of the VRRP groups in m. The compiled tables are shared: a
// VRRP transition rebuilds nothing.
func (s *Snapshot) WithMasters(m Masters) *Snapshot {
	c := *s
	c.Gen++
	c.masters = m
	return &c
}

// Announced lists the VIPs this snapshot answers ARP or neighbour
// solicitations for: those in no VRRP group or in a group it is master
// of; IPv4 first, each family sorted.
func (s *Snapshot) Announced() []netip.Addr {
	var out []netip.Addr
	for _, a := range append(s.VIPs4(), s.VIPs6()...) {
		if g := s.vrrpGroup(a); g == 0 || s.masters.Has(g) {
			out = append(out, a)
		}
	}
	return out
}

// GroupVIPs lists the VIPs of VRRP group g.
func (s *Snapshot) GroupVIPs(g uint8) []netip.Addr {
	var out []netip.Addr
	for _, a := range append(s.VIPs4(), s.VIPs6()...) {
		if s.vrrpGroup(a) == g {
			out = append(out, a)
		}
	}
	return out
}

// IsVIP reports whether a is a configured VIP.
func (s *Snapshot) IsVIP(a netip.Addr) bool {
	if a.Is4() {
		v, ok := s.classify.lookup(vipKey4(addr4(a)))
		return ok && v == vipMark
	}
	_, ok := s.vip6.lookup(split6(a.As16()))
	return ok
}

// Tracked reports whether a is a next hop whose MAC is tracked.
func (s *Snapshot) Tracked(a netip.Addr) bool {
	if a.Is4() {
		_, ok := s.neigh.lookup(uint64(addr4(a)))
		return ok
	}
	_, ok := s.neigh6.lookup(split6(a.As16()))
	return ok
}

// VIPs6 lists the distinct IPv6 VIPs (for unsolicited advertisements).
func (s *Snapshot) VIPs6() []netip.Addr {
	var out []netip.Addr
	for i := range s.vip6.hi {
		if s.vip6.hi[i] != 0 || s.vip6.lo[i] != 0 {
			var b [16]byte
			binary.BigEndian.PutUint64(b[:8], s.vip6.hi[i])
			binary.BigEndian.PutUint64(b[8:], s.vip6.lo[i])
			out = append(out, netip.AddrFrom16(b))
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// VIPs4 lists the distinct IPv4 VIPs (for gratuitous ARP).
func (s *Snapshot) VIPs4() []netip.Addr {
	var out []netip.Addr
	for i, k := range s.classify.keys {
		if k != 0 && s.classify.vals[i] == vipMark {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], uint32(k>>24))
			out = append(out, netip.AddrFrom4(b))
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func addr4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func is6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() && a.Zone() == "" }

// checkFamilies refuses address-family combinations method m cannot
// carry (conf.Method.Carries has the rules) and real servers of a family
// the balancer has no own address of: that address is the source of
// neighbour discovery and the outer source of tunnels.
func checkFamilies(cfg *Config, sc ServiceConfig, rs netip.Addr, m conf.Method) error {
	if !rs.Is4() && !is6(rs) {
		return fmt.Errorf("service %s: real server %q is neither IPv4 nor IPv6", sc.Name, rs)
	}
	if !m.Valid() {
		return fmt.Errorf("service %s: real server %s: %v is not a forwarding method", sc.Name, rs, m)
	}
	if err := m.FamilyError(sc.VIP, rs); err != nil {
		return fmt.Errorf("service %s: %w", sc.Name, err)
	}
	switch {
	case rs.Is4() && !cfg.Own4.IsValid():
		return fmt.Errorf("service %s: IPv4 real server %s needs the balancer's own IPv4 address", sc.Name, rs)
	case !rs.Is4() && !cfg.Own6.IsValid():
		return fmt.Errorf("service %s: IPv6 real server %s needs the balancer's own IPv6 address", sc.Name, rs)
	}
	return nil
}
