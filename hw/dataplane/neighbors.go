package dataplane

import (
	"net/netip"
	"time"

	"dsrlb/conf"
	"dsrlb/conf/wire"
	"dsrlb/pipeline"
	"dsrlb/pipeline/header"
)

// neighbors keeps the real servers' and next hops' MAC addresses: it takes
// what the workers learnt from ARP and neighbour discovery, expires what
// stopped answering and asks again when a refresh is due.
type neighbors struct {
	resolver *pipeline.Resolver
	reqs     []pipeline.Request // scratch
	expired  []netip.Addr       // scratch
}

func newNeighbors(d *conf.Dataplane) *neighbors {
	n := &neighbors{resolver: pipeline.NewResolver(d.ARPRefresh, d.ARPExpiry)}
	for _, s := range d.Neighbors {
		n.resolver.SetStatic(s.Address, pipeline.Neighbor{MAC: s.MAC, Port: uint8(s.Port)})
	}
	return n
}

// tick learns, expires and sends the requests that are due. It reports
// whether a MAC changed, so the snapshot must be rebuilt.
func (n *neighbors) tick(dp *Dataplane, now time.Time) (changed bool) {
	for _, lc := range dp.lcores {
		for {
			l, ok := lc.Worker.Learn.Pop()
			if !ok {
				break
			}
			if n.resolver.Learn(l, now) {
				changed = true
				dp.log.Info("real server resolved", "ip", l.IP, "mac", l.MAC, "port", dp.ports[l.Port].Name)
				dp.Send(wire.KindNeighbor, wire.Neighbor{Addr: l.IP, MAC: l.MAC.String(), Port: dp.ports[l.Port].Name, Resolved: true})
			}
		}
	}
	n.expired = n.resolver.Expire(now, n.expired[:0])
	for _, ip := range n.expired {
		changed = true
		dp.log.Warn("real server MAC expired (no ARP/NDP answer)", "ip", ip, "expiry", dp.cfg.Dataplane.ARPExpiry)
		dp.Send(wire.KindNeighbor, wire.Neighbor{Addr: ip, Resolved: false})
	}
	n.reqs = n.resolver.Due(now, n.reqs[:0])
	for _, r := range n.reqs {
		if r.IP.Is6() {
			dp.sendSolicitation(r)
		} else {
			dp.sendARPRequest(r)
		}
	}
	return changed
}

// sendARPRequest asks for a real server's MAC: unicast on its known port
// when refreshing, broadcast on every port otherwise.
func (dp *Dataplane) sendARPRequest(r pipeline.Request) {
	target := r.IP.As4()
	for _, p := range dp.ports {
		if r.Unicast && p.Index != int(r.Port) {
			continue
		}
		dst := header.BroadcastMAC
		if r.Unicast {
			dst = r.MAC
		}
		dp.inject(p, func(b []byte) int {
			return header.BuildARP(b, header.ARPRequest, p.MAC, dst, p.MAC, dp.own4, header.MAC{}, target)
		})
	}
}

// sendSolicitation asks for an IPv6 next hop's MAC with a Neighbor
// Solicitation to its solicited-node group (or unicast when refreshing).
func (dp *Dataplane) sendSolicitation(r pipeline.Request) {
	target := r.IP.As16()
	dst := header.SolicitedNode6(target)
	dstMAC := header.MulticastMAC6(dst)
	if r.Unicast {
		dst, dstMAC = target, r.MAC
	}
	for _, p := range dp.ports {
		if r.Unicast && p.Index != int(r.Port) {
			continue
		}
		dp.inject(p, func(b []byte) int {
			return header.BuildNDP(b, header.ICMPv6NeighborSolicit, p.MAC, dstMAC, dp.own6, dst, target, 0)
		})
	}
}
