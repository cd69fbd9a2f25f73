package conf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// BGP is the validated [bgp] table.
type BGP struct {
	ASN      uint32
	RouterID netip.Addr
	// NextHop and NextHop6 are the next hops of the IPv4 and IPv6
	// announcements: the balancer's own addresses (NextHop6 invalid
	// without dataplane.address6).
	NextHop, NextHop6 netip.Addr
	// Communities are standard communities, ASN<<16 | VALUE.
	Communities      []uint32
	LocalPref        uint32
	HasLocalPref     bool
	DrainDelay       time.Duration
	DataplaneTimeout time.Duration
	AnnounceSorry    bool
	AllowVRRP        bool
	Neighbors        []BGPNeighbor
}

// BGPNeighbor is one validated [[bgp.neighbor]].
type BGPNeighbor struct {
	Address   netip.Addr
	ASN       uint32
	Password  string
	HoldTime  time.Duration // 0: no keepalives
	Keepalive time.Duration
	Multihop  uint8 // eBGP multihop TTL; 0: directly connected
	Port      uint16
}

// IBGP reports whether the session to n is internal.
func (b *BGP) IBGP(n *BGPNeighbor) bool { return n.ASN == b.ASN }

// CommunityString writes c as "ASN:VALUE".
func CommunityString(c uint32) string { return fmt.Sprintf("%d:%d", c>>16, c&0xffff) }

// GracefulShutdown is the well-known GRACEFUL_SHUTDOWN community (RFC
// 8326), 65535:0.
const GracefulShutdown uint32 = 0xffff0000

// Limits and defaults of [bgp].
const (
	maxASN                 = 4294967294
	defBGPDrainDelay       = 5 * time.Second
	maxBGPDrainDelay       = 5 * time.Minute
	defBGPDataplaneTimeout = time.Second
	minBGPDataplaneTimeout = 30 * time.Millisecond
	maxBGPDataplaneTimeout = 10 * time.Second
	defBGPHoldTime         = 90 * time.Second
	minBGPHoldTime         = 3 * time.Second
	maxBGPHoldTime         = 65535 * time.Second
	maxTCPMD5Key           = 80
	defBGPPort             = 179
	// MaxBGPNeighbors bounds the sessions of one balancer.
	MaxBGPNeighbors = 64
)

// consistentSchedulers are the schedulers whose choice for a flow depends
// only on the packet and the (identical) table: another balancer repeats
// it for a flow the routers move there.
var consistentSchedulers = map[Scheduler]bool{SchedMaglev: true, SchedSH: true, SchedFO: true}

// bgp validates [bgp] and the services' bgp keys.
func (v *validator) bgp(r *rawBGP, raws []rawService, c *Config) {
	sp := fieldPath{}.key("service")
	if r == nil {
		for i := range c.Services {
			if c.Services[i].BGP {
				v.addf(sp.idx(i).key("bgp"), "service %q has bgp = true but there is no [bgp] table", c.Services[i].Name)
			}
		}
		return
	}
	p := fieldPath{}.key("bgp")
	dp := &c.Dataplane
	b := &BGP{NextHop: dp.Address.Addr(), NextHop6: dp.Address6.Addr()}
	if dp.TAP == "" && len(dp.Ports) > 0 {
		v.add(p, "BGP needs the exception path, through which its sessions reach the routers: set dataplane.tap")
	}
	if r.ASN == nil {
		v.missing(p.key("asn"))
	} else if n, ok := v.intIn(p.key("asn"), r.ASN, 0, 1, maxASN); ok {
		b.ASN = uint32(n)
	}
	b.RouterID = dp.Address.Addr()
	if r.RouterID != nil {
		a, err := netip.ParseAddr(*r.RouterID)
		if err != nil || !a.Is4() || a.IsUnspecified() {
			v.addf(p.key("router_id"), "router_id %q: the BGP identifier is an IPv4 address other than 0.0.0.0", *r.RouterID)
		} else {
			b.RouterID = a
		}
	}
	for i, s := range r.Communities {
		c, msg := parseCommunity(s)
		switch {
		case msg != "":
			v.add(p.key("communities").idx(i), msg)
		case c == GracefulShutdown:
			v.add(p.key("communities").idx(i), "65535:0 is GRACEFUL_SHUTDOWN, which dsrlb-ctrl attaches itself while it drains: remove it")
		default:
			b.Communities = append(b.Communities, c)
		}
	}
	if r.LocalPref != nil {
		if n, ok := v.intIn(p.key("local_pref"), r.LocalPref, 0, 0, 4294967295); ok {
			b.LocalPref, b.HasLocalPref = uint32(n), true
		}
	}
	if d, ok := v.duration(p.key("drain_delay"), r.DrainDelay, defBGPDrainDelay); ok {
		if d > maxBGPDrainDelay {
			v.addf(p.key("drain_delay"), "drain_delay %s longer than %s", d, maxBGPDrainDelay)
		}
		b.DrainDelay = d
	}
	if d, ok := v.duration(p.key("dataplane_timeout"), r.DataplaneTimeout, defBGPDataplaneTimeout); ok {
		if d < minBGPDataplaneTimeout || d > maxBGPDataplaneTimeout {
			v.addf(p.key("dataplane_timeout"), "dataplane_timeout %s out of range %s..%s", d, minBGPDataplaneTimeout, maxBGPDataplaneTimeout)
		}
		b.DataplaneTimeout = d
	}
	b.AnnounceSorry = r.AnnounceSorry != nil && *r.AnnounceSorry
	b.AllowVRRP = r.AllowVRRP != nil && *r.AllowVRRP

	np := p.key("neighbor")
	if len(r.Neighbor) == 0 && !v.bad[np.String()] {
		v.add(p, "[bgp] needs at least one [[bgp.neighbor]]")
	}
	if len(r.Neighbor) > MaxBGPNeighbors {
		v.addf(np.idx(MaxBGPNeighbors), "%d neighbours; at most %d", len(r.Neighbor), MaxBGPNeighbors)
	}
	seen := map[netip.Addr]int{}
	for i := range r.Neighbor {
		if i >= MaxBGPNeighbors {
			break
		}
		n, ok := v.bgpNeighbor(np.idx(i), &r.Neighbor[i], dp)
		if !ok {
			continue
		}
		if j, dup := seen[n.Address]; dup {
			v.addf(np.idx(i).key("address"), "neighbour %s already configured (line %s)", n.Address, v.lineOf(np.idx(j).key("address")))
			continue
		}
		seen[n.Address] = i
		b.Neighbors = append(b.Neighbors, n)
	}

	// The services announced.
	for i := range c.Services {
		s := &c.Services[i]
		if !s.BGP {
			continue
		}
		kp := sp.idx(i).key("bgp")
		if !s.VIP.IsValid() {
			continue
		}
		if !consistentSchedulers[s.Scheduler] {
			v.addf(kp, "service %q: scheduler %q keeps no flow on its real server when the routers move it to another balancer; BGP needs maglev, mh, sh or fo", s.Name, s.Scheduler)
		}
		if s.PersistenceTimeout > 0 {
			v.addf(kp, "service %q: persistence is a table of one balancer, which another balancer does not have; BGP services cannot use persistence_timeout", s.Name)
		}
		if s.VIP.Is6() && !b.NextHop6.IsValid() {
			v.addf(kp, "service %q: an IPv6 VIP is announced with dataplane.address6 as next hop: set it", s.Name)
		}
		if len(b.Neighbors) > 0 && !b.hasFamily(s.VIP.Is6()) {
			v.addf(kp, "service %q: no %s neighbour to announce %s to", s.Name, family(s.VIP), s.VIP)
		}
		if in := c.VRRPOf(s.VIP); in != nil && !b.AllowVRRP {
			v.addf(kp, "service %q: VIP %s is carried by VRRP instance %q and announced by BGP: use one of them, or set [bgp] allow_vrrp = true", s.Name, s.VIP, in.Name)
		}
	}
	c.BGP = b
}

// hasFamily reports whether a neighbour of the family exists.
func (b *BGP) hasFamily(v6 bool) bool {
	for i := range b.Neighbors {
		if b.Neighbors[i].Address.Is6() == v6 {
			return true
		}
	}
	return false
}

// neighbor validates one [[bgp.neighbor]].
func (v *validator) bgpNeighbor(p fieldPath, r *rawBGPNeighbor, dp *Dataplane) (n BGPNeighbor, ok bool) {
	ok = true
	ap := p.key("address")
	if r.Address == nil {
		v.missing(ap)
		ok = false
	} else if a, msg := parseAddr("neighbour address", *r.Address); msg != "" {
		v.add(ap, msg)
		ok = false
	} else {
		n.Address = a
	}
	if r.ASN == nil {
		v.missing(p.key("asn"))
	} else if x, good := v.intIn(p.key("asn"), r.ASN, 0, 1, maxASN); good {
		n.ASN = uint32(x)
	}
	if r.Password != nil {
		if l := len(*r.Password); l == 0 || l > maxTCPMD5Key {
			v.addf(p.key("password"), "password of %d bytes: a TCP MD5 key has 1..%d", l, maxTCPMD5Key)
		} else {
			n.Password = *r.Password
		}
	}
	hp := p.key("hold_time")
	n.HoldTime = defBGPHoldTime
	if d, good := v.duration(hp, r.HoldTime, defBGPHoldTime); good {
		switch {
		case d%time.Second != 0:
			v.addf(hp, "hold_time %s: BGP counts whole seconds", d)
		case d != 0 && (d < minBGPHoldTime || d > maxBGPHoldTime):
			v.addf(hp, "hold_time %s: \"0s\" or %s..%s (RFC 4271)", d, minBGPHoldTime, maxBGPHoldTime)
		default:
			n.HoldTime = d
		}
	}
	n.Keepalive = n.HoldTime / 3 / time.Second * time.Second
	if r.Keepalive != nil {
		kp := p.key("keepalive")
		if d, good := v.duration(kp, r.Keepalive, 0); good {
			switch {
			case d%time.Second != 0 || d == 0:
				v.addf(kp, "keepalive %s: whole seconds, at least 1s", d)
			case n.HoldTime == 0:
				v.add(kp, "keepalive with hold_time \"0s\": a session without hold time sends no keepalives")
			case d >= n.HoldTime:
				v.addf(kp, "keepalive %s must be shorter than hold_time %s", d, n.HoldTime)
			default:
				n.Keepalive = d
			}
		}
	}
	mh, _ := v.intIn(p.key("multihop"), r.Multihop, 0, 0, 255)
	n.Multihop = uint8(mh)
	port, _ := v.intIn(p.key("port"), r.Port, defBGPPort, 1, 65535)
	n.Port = uint16(port)
	if !n.Address.IsValid() {
		return n, ok
	}
	own := dp.Address
	if n.Address.Is6() {
		own = dp.Address6
	}
	switch {
	case !own.IsValid():
		v.addf(ap, "neighbour %s: an IPv6 session starts from dataplane.address6: set it", n.Address)
		ok = false
	case n.Address == own.Addr():
		v.addf(ap, "neighbour %s is the balancer's own address", n.Address)
		ok = false
	case n.Multihop == 0 && !own.Masked().Contains(n.Address):
		v.addf(ap, "neighbour %s is not in the balancer's on-link prefix %s: set multihop (the TTL to reach it) for a router further away", n.Address, own.Masked())
	}
	return n, ok
}

// parseCommunity parses "ASN:VALUE".
func parseCommunity(s string) (uint32, string) {
	a, b, found := strings.Cut(s, ":")
	x, err1 := strconv.ParseUint(a, 10, 16)
	y, err2 := strconv.ParseUint(b, 10, 16)
	if !found || err1 != nil || err2 != nil {
		return 0, fmt.Sprintf("community %q: write \"ASN:VALUE\", each 0..65535", s)
	}
	return uint32(x)<<16 | uint32(y), ""
}
