package dataplane

import (
	"net/netip"
	"time"

	"dsrlb/pipeline/header"
)

// bootAnnouncements is how many times the data plane announces its
// addresses after it starts, a second apart, as keepalived does after a
// takeover: one lost frame does not leave a neighbour pointing elsewhere.
const bootAnnouncements = 3

// announcer sends the balancer's addresses in bursts: gratuitous ARP for
// IPv4, unsolicited Neighbor Advertisements for IPv6, count times, every
// apart. A new burst replaces one still running.
type announcer struct {
	left  int
	every time.Duration
	next  time.Time
}

// schedule starts a burst of count announcements; the first goes at the
// next tick.
func (a *announcer) schedule(now time.Time, count int, every time.Duration) {
	a.left, a.every, a.next = count, every, now
}

// tick sends the announcement that is due, if any.
func (a *announcer) tick(dp *Dataplane, now time.Time) {
	if a.left == 0 || now.Before(a.next) {
		return
	}
	a.left--
	a.next = now.Add(a.every)
	dp.announce(dp.announced())
}

// announced lists what the data plane answers ARP and neighbour discovery
// for: the VIPs (of VRRP groups only those it is master of) and the own
// addresses.
func (dp *Dataplane) announced() []netip.Addr {
	addrs := append(dp.snap.Load().Announced(), netip.AddrFrom4(dp.own4))
	if dp.own6 != ([16]byte{}) {
		addrs = append(addrs, netip.AddrFrom16(dp.own6))
	}
	return addrs
}

// announce sends addrs on every port: a gratuitous ARP request for an IPv4
// address, an unsolicited Neighbor Advertisement (override flag, to all
// nodes; RFC 4861 section 7.2.6) for an IPv6 one.
func (dp *Dataplane) announce(addrs []netip.Addr) {
	if dp.pool == nil {
		return // no packet pool: a data plane without DPDK, in tests
	}
	allNodes := header.MulticastMAC6(header.AllNodes6)
	for _, p := range dp.ports {
		for _, a := range addrs {
			if a.Is4() {
				ip := a.As4()
				dp.inject(p, func(b []byte) int {
					return header.BuildARP(b, header.ARPRequest, p.MAC, header.BroadcastMAC, p.MAC, ip, header.MAC{}, ip)
				})
				continue
			}
			ip := a.As16()
			dp.inject(p, func(b []byte) int {
				return header.BuildNDP(b, header.ICMPv6NeighborAdvert, p.MAC, allNodes, ip, header.AllNodes6, ip, header.NAFlagOverride)
			})
		}
	}
}
