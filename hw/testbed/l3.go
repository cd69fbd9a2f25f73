package testbed

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// L3 is the routed topology of the L3 DSR methods: the client, the
// balancer and a router on one segment (192.0.2.0/24), the real servers
// behind the router on another (198.51.100.0/24).
//
//	client --+                        +-- rs1
//	lb ------+-- br0 -- router -- br1 +-- rs2
//	         (192.0.2.1)   (198.51.100.1)
//
// Real servers route everything through the router, so their replies
// reach the client without the balancer.
type L3 struct {
	*Bed
	VIP     netip.Addr
	Client  netip.Addr
	LB      netip.Prefix
	Router  netip.Addr // on the balancer's segment
	Servers []netip.Addr
	// IPv6 is the topology's IPv6 addressing, zero until EnableIPv6.
	IPv6 IPv6Addrs
	// ServiceIPv6 makes DataplaneConfig's service the IPv6 one: IPv6.VIP
	// over IPv6.Servers.
	ServiceIPv6 bool
}

// RoleRouter is the L3 topology's router.
const RoleRouter = "router"

// SetupL3 builds the routed topology with n real servers. The real
// servers get their own address and default route only; the method's
// set-up (VIP, decapsulation) is the caller's, with dsrlbctl realserver.
func SetupL3(b *Bed, n int) (*L3, error) {
	t := &L3{
		Bed:    b,
		VIP:    netip.MustParseAddr("192.0.2.100"),
		Client: netip.MustParseAddr("192.0.2.2"),
		LB:     netip.MustParsePrefix("192.0.2.10/24"),
		Router: netip.MustParseAddr("192.0.2.1"),
	}
	if err := b.twoBridges(); err != nil {
		return nil, err
	}
	link := b.link
	for _, role := range []string{RoleClient, RoleLB, RoleRouter} {
		if err := b.AddNS(role); err != nil {
			return nil, err
		}
		if err := link(role, "eth0", "br0"); err != nil {
			return nil, err
		}
	}
	if err := link(RoleRouter, "eth1", "br1"); err != nil {
		return nil, err
	}
	steps := []struct {
		role string
		args []string
	}{
		{RoleClient, []string{"addr", "add", t.Client.String() + "/24", "dev", "eth0"}},
		{RoleRouter, []string{"addr", "add", "192.0.2.1/24", "dev", "eth0"}},
		{RoleRouter, []string{"addr", "add", "198.51.100.1/24", "dev", "eth1"}},
	}
	for _, s := range steps {
		if err := b.IP(s.role, s.args...); err != nil {
			return nil, err
		}
	}
	if _, err := b.Exec(5*time.Second, RoleClient, "ethtool", "-K", "eth0", "tx", "off"); err != nil {
		return nil, err
	}
	if err := b.routerForwards(); err != nil {
		return nil, err
	}
	if err := b.quietBalancer(RoleLB); err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		role := ServerRole(i)
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(21 + i)})
		t.Servers = append(t.Servers, a)
		if err := b.AddNS(role); err != nil {
			return nil, err
		}
		if err := link(role, "eth0", "br1"); err != nil {
			return nil, err
		}
		if err := b.IP(role, "addr", "add", a.String()+"/24", "dev", "eth0"); err != nil {
			return nil, err
		}
		if err := b.IP(role, "route", "add", "default", "via", "198.51.100.1"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// DataplaneConfig is the balancer's configuration for method over the
// routed topology: the real servers through the router. After EnableIPv6
// it has address6 and gateway6 (the router) too; with ServiceIPv6 the
// service is on the IPv6 VIP over the real servers' IPv6 addresses.
func (t *L3) DataplaneConfig(method string, extra ...string) string {
	vip, servers := t.VIP, t.Servers
	if t.ServiceIPv6 {
		vip, servers = t.IPv6.VIP, t.IPv6.Servers
	}
	var b strings.Builder
	writeDataplaneTable(&b, t.Bed, t.LB, t.IPv6, "", nil)
	fmt.Fprintf(&b, `
[[dataplane.route]]
prefix = "198.51.100.0/24"
gateway = %q

[[service]]
name = "web"
vip = %q
protocol = "tcp"
port = 80
method = %q
`, t.Router.String(), vip.String(), method)
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	for _, s := range servers {
		fmt.Fprintf(&b, "\n  [[service.backend]]\n  address = %q\n", s)
	}
	return b.String()
}

// StartDataplane writes config and runs the data plane in the lb
// namespace until every real server is scheduled.
func (t *L3) StartDataplane(bin, config string) (*Proc, error) {
	return t.startDataplane(bin, config, len(t.Servers))
}

// routerForwards makes the router namespace forward IPv4, without
// dropping the real servers' replies whose source (the VIP) routes out of
// the other interface, and sets the extra sysctls.
func (b *Bed) routerForwards(extra ...[2]string) error {
	for _, kv := range append([][2]string{
		{"net.ipv4.ip_forward", "1"}, {"net.ipv4.conf.all.rp_filter", "0"},
		{"net.ipv4.conf.eth0.rp_filter", "0"}, {"net.ipv4.conf.eth1.rp_filter", "0"},
	}, extra...) {
		if err := b.Sysctl(RoleRouter, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// twoBridges creates the bridge namespace with bridges br0 and br1 (the
// routed topologies' two segments).
func (b *Bed) twoBridges() error {
	if err := b.AddNS(RoleBridge); err != nil {
		return err
	}
	for _, br := range []string{"br0", "br1"} {
		if err := b.IP(RoleBridge, "link", "add", br, "type", "bridge"); err != nil {
			return err
		}
		if err := b.IP(RoleBridge, "link", "set", br, "up"); err != nil {
			return err
		}
	}
	_ = b.Sysctl(RoleBridge, "net.ipv6.conf.all.disable_ipv6", "1")
	return nil
}

// link connects role's interface ifname to bridge through a veth whose
// bridge end is "p-ROLE-IFNAME" (cut to 15 characters).
func (b *Bed) link(role, ifname, bridge string) error {
	port := "p-" + role + "-" + ifname
	if len(port) > 15 {
		port = port[:15]
	}
	for _, s := range [][]string{
		{"link", "add", port, "type", "veth", "peer", "name", ifname, "netns", b.NS(role)},
		{"link", "set", port, "master", bridge},
		{"link", "set", port, "up"},
	} {
		if err := b.IP(RoleBridge, s...); err != nil {
			return err
		}
	}
	return b.IP(role, "link", "set", ifname, "up")
}

// StartDataplaneTap runs the data plane with config whose port is a DPDK
// net_tap device named iface instead of the af_packet device on eth0, and
// bridges that tap with eth0 in the lb namespace once the data plane has
// created it: a port whose driver offers transmit checksum offloads
// (net_tap computes them for the device). It waits, like StartDataplane,
// until every real server is scheduled.
func (t *L3) StartDataplaneTap(bin, config, iface string) (*Proc, error) {
	config = strings.Replace(config, "net_af_packet0,iface=eth0", "net_tap1,iface="+iface, 1)
	path := filepath.Join(t.Dir, "dsrlb.toml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return nil, err
	}
	p, err := t.Start(RoleLB, "dataplane", bin, "-c", path)
	if err != nil {
		return nil, err
	}
	// Once the port has started (the driver sets the kernel end's MAC
	// while it configures and starts the device), the tap is left alone.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.Output(), `msg="port started"`) {
		if p.Exited() || time.Now().After(deadline) {
			return p, fmt.Errorf("the data plane started no port %s (exited=%v):\n%s", iface, p.Exited(), p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// eth0 becomes a bridge port: the rule that hides it from the kernel
	// would drop the frames before the bridge.
	if _, err := t.Exec(5*time.Second, RoleLB, "nft", "delete", "table", "netdev", "dsrlb"); err != nil {
		return p, err
	}
	// The kernel's end of the tap gets a MAC of its own: with the port's
	// MAC (net_tap gives it the same), the bridge would take the frames to
	// the port's MAC for its own and never send them to the data plane.
	for _, s := range [][]string{
		{"link", "set", iface, "address", "02:00:00:00:0d:01"},
		{"link", "add", "brlb", "type", "bridge", "mcast_snooping", "0"},
		{"link", "set", "eth0", "master", "brlb"},
		{"link", "set", iface, "master", "brlb"},
		{"link", "set", iface, "up"},
		{"link", "set", "brlb", "up"},
	} {
		if err := t.IP(RoleLB, s...); err != nil {
			return p, err
		}
	}
	for _, dev := range []string{"brlb", iface} {
		_ = t.Sysctl(RoleLB, "net.ipv6.conf."+dev+".disable_ipv6", "1")
	}
	return p, waitResolved(p, len(t.Servers), deadline)
}
