package testbed

import (
	"fmt"
	"net/netip"
	"strings"
)

// IPv6Addrs is a topology's IPv6 addressing, in the documentation prefix
// 2001:db8::/32. EnableIPv6 sets it; IPv4 stays as it was.
type IPv6Addrs struct {
	VIP    netip.Addr   // the IPv6 VIP of DataplaneConfig's service with ServiceIPv6
	Client netip.Addr   // the client's address
	LB     netip.Prefix // the balancer's own address (dataplane.address6)
	// Router is the router's address on the balancer's segment, the
	// balancer's dataplane.gateway6 (L3 only).
	Router netip.Addr
	// Servers are the real servers' own addresses, in the order of the
	// topology's Servers.
	Servers []netip.Addr
}

// IPv6 addresses of the topologies: the client's segment (the L2
// topology's only one) and the L3 real servers' segment.
var (
	net6Client  = netip.MustParsePrefix("2001:db8::/64")
	net6Servers = netip.MustParsePrefix("2001:db8:1::/64")
)

// host6 is the address of net with the last 16 bits set to h.
func host6(net netip.Prefix, h uint16) netip.Addr {
	a := net.Addr().As16()
	a[14], a[15] = byte(h>>8), byte(h)
	return netip.AddrFrom16(a)
}

// EnableIPv6 adds IPv6 to the L2 topology, leaving its IPv4 untouched:
// client, balancer and real servers share 2001:db8::/64 (client ::2,
// balancer's address6 ::10, real servers ::21, ::22, ...), and the real
// servers carry the VIP 2001:db8::100/128 on loopback. Linux answers
// neighbour solicitations only for addresses of the receiving interface,
// so the VIP on lo needs nothing like arp_ignore. Addresses skip duplicate
// address detection (nodad): usable at once. The balancer's eth0 keeps
// IPv6 off, as DPDK owns it.
func (t *L2) EnableIPv6() error {
	t.IPv6 = IPv6Addrs{
		VIP:    host6(net6Client, 0x100),
		Client: host6(net6Client, 2),
		LB:     netip.PrefixFrom(host6(net6Client, 0x10), 64),
	}
	if err := t.bridge6("br0"); err != nil {
		return err
	}
	if err := t.addr6(RoleClient, "eth0", netip.PrefixFrom(t.IPv6.Client, 64)); err != nil {
		return err
	}
	for i := range t.Servers {
		a := host6(net6Client, uint16(0x21+i))
		t.IPv6.Servers = append(t.IPv6.Servers, a)
		if err := t.addr6(ServerRole(i), "eth0", netip.PrefixFrom(a, 64)); err != nil {
			return err
		}
		if err := t.addr6(ServerRole(i), "lo", netip.PrefixFrom(t.IPv6.VIP, 128)); err != nil {
			return err
		}
	}
	return nil
}

// EnableIPv6 adds IPv6 to the L3 topology, leaving its IPv4 untouched:
// the client, the balancer and the router share 2001:db8::/64 (client
// ::2 routing through the router ::1, balancer's address6 ::10), the real
// servers sit in 2001:db8:1::/64 (::21, ::22, ...) routing through the
// router (2001:db8:1::1), which forwards IPv6. The VIP is 2001:db8::100,
// on the client's segment like the IPv4 VIP; as with IPv4, putting it on
// the real servers (dsrlbctl realserver) is the caller's.
func (t *L3) EnableIPv6() error {
	t.IPv6 = IPv6Addrs{
		VIP:    host6(net6Client, 0x100),
		Client: host6(net6Client, 2),
		LB:     netip.PrefixFrom(host6(net6Client, 0x10), 64),
		Router: host6(net6Client, 1),
	}
	router1 := host6(net6Servers, 1)
	for _, br := range []string{"br0", "br1"} {
		if err := t.bridge6(br); err != nil {
			return err
		}
	}
	if err := t.addr6(RoleClient, "eth0", netip.PrefixFrom(t.IPv6.Client, 64)); err != nil {
		return err
	}
	if err := t.IP(RoleClient, "-6", "route", "add", "default", "via", t.IPv6.Router.String()); err != nil {
		return err
	}
	if err := t.addr6(RoleRouter, "eth0", netip.PrefixFrom(t.IPv6.Router, 64)); err != nil {
		return err
	}
	if err := t.addr6(RoleRouter, "eth1", netip.PrefixFrom(router1, 64)); err != nil {
		return err
	}
	if err := t.Sysctl(RoleRouter, "net.ipv6.conf.all.forwarding", "1"); err != nil {
		return err
	}
	for i := range t.Servers {
		role := ServerRole(i)
		a := host6(net6Servers, uint16(0x21+i))
		t.IPv6.Servers = append(t.IPv6.Servers, a)
		if err := t.addr6(role, "eth0", netip.PrefixFrom(a, 64)); err != nil {
			return err
		}
		if err := t.IP(role, "-6", "route", "add", "default", "via", router1.String()); err != nil {
			return err
		}
	}
	return nil
}

// bridge6 makes the bridge flood multicast (neighbour solicitations to
// solicited-node groups) to every port instead of following MLD
// snooping: the balancer, whose kernel has IPv6 off, never reports the
// groups of the addresses DPDK answers for. The bridge namespace's own
// IPv6 stays off: bridging IPv6 frames does not need it.
func (b *Bed) bridge6(br string) error {
	return b.IP(RoleBridge, "link", "set", br, "type", "bridge", "mcast_snooping", "0")
}

// addr6 turns IPv6 on for dev in role's namespace and adds p to it
// without duplicate address detection.
func (b *Bed) addr6(role, dev string, p netip.Prefix) error {
	if err := b.Sysctl(role, "net.ipv6.conf."+dev+".disable_ipv6", "0"); err != nil {
		return err
	}
	return b.IP(role, "-6", "addr", "replace", p.String(), "dev", dev, "nodad")
}

// config6 is the [dataplane] lines of the IPv6 addressing: address6 and,
// for the L3 topology, gateway6; none before EnableIPv6.
func (a IPv6Addrs) config6() string {
	var b strings.Builder
	if a.LB.IsValid() {
		fmt.Fprintf(&b, "address6 = %q\n", a.LB)
	}
	if a.Router.IsValid() {
		fmt.Fprintf(&b, "gateway6 = %q\n", a.Router)
	}
	return b.String()
}
