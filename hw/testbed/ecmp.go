package testbed

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ECMP is the scale-out topology: a client behind a router that runs
// BIRD 2 with ECMP over the balancers that announce the VIP to it by BGP,
// and the real servers on the balancers' segment (L2 DSR: the balancers
// rewrite the MAC; the real servers answer through the router).
//
//	client -- br0 -- router (BIRD, ECMP, L4 hash) -- br1 --+-- lb, lb2, lb3, lb4
//	203.0.113.2      203.0.113.1 / 192.0.2.1               +-- rs1, rs2
//
// The VIP (198.51.100.100) is in no connected prefix: the router reaches
// it only through the balancers' BGP routes.
type ECMP struct {
	*Bed
	VIP       netip.Addr
	Client    netip.Addr
	Router    netip.Addr // on the balancers' segment
	Servers   []netip.Addr
	Balancers []Balancer
	// ASN is the balancers' AS, RouterASN the router's.
	ASN, RouterASN uint32
}

// ECMP roles besides RoleClient, RoleRouter and the real servers'.
var ecmpRoles = []string{RoleLB, "lb2", "lb3", "lb4"}

// ECMPRole is balancer i's role (0-based): lb, lb2, lb3, lb4.
func ECMPRole(i int) string { return ecmpRoles[i] }

// SetupECMP builds the topology with balancers balancers (at most 4) and
// n real servers, and starts BIRD on the router with a session for every
// balancer.
func SetupECMP(b *Bed, balancers, n int) (*ECMP, error) {
	if balancers > len(ecmpRoles) {
		return nil, fmt.Errorf("at most %d balancers", len(ecmpRoles))
	}
	t := &ECMP{
		Bed: b, VIP: netip.MustParseAddr("198.51.100.100"), Client: netip.MustParseAddr("203.0.113.2"),
		Router: netip.MustParseAddr("192.0.2.1"), ASN: 65001, RouterASN: 65000,
	}
	if err := b.twoBridges(); err != nil {
		return nil, err
	}
	link := b.link
	for _, role := range []string{RoleClient, RoleRouter} {
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
	for _, s := range []struct {
		role string
		args []string
	}{
		{RoleClient, []string{"addr", "add", t.Client.String() + "/24", "dev", "eth0"}},
		{RoleClient, []string{"route", "add", "default", "via", "203.0.113.1"}},
		{RoleRouter, []string{"addr", "add", "203.0.113.1/24", "dev", "eth0"}},
		{RoleRouter, []string{"addr", "add", t.Router.String() + "/24", "dev", "eth1"}},
	} {
		if err := b.IP(s.role, s.args...); err != nil {
			return nil, err
		}
	}
	if _, err := b.Exec(5*time.Second, RoleClient, "ethtool", "-K", "eth0", "tx", "off"); err != nil {
		return nil, err
	}
	// The router forwards and spreads flows over equal-cost next hops by
	// their addresses and ports.
	if err := b.routerForwards([2]string{"net.ipv4.fib_multipath_hash_policy", "1"}); err != nil {
		return nil, err
	}
	// The router's frames to a balancer go through the router's own
	// ethtool-less veth: checksums finished in software.
	if _, err := b.Exec(5*time.Second, RoleRouter, "ethtool", "-K", "eth1", "tx", "off"); err != nil {
		return nil, err
	}
	for i := 0; i < balancers; i++ {
		if err := t.addBalancer(i); err != nil {
			return nil, err
		}
	}
	for i := 0; i < n; i++ {
		role := ServerRole(i)
		a := netip.AddrFrom4([4]byte{192, 0, 2, byte(21 + i)})
		t.Servers = append(t.Servers, a)
		if err := b.AddNS(role); err != nil {
			return nil, err
		}
		if err := link(role, "eth0", "br1"); err != nil {
			return nil, err
		}
		if err := SetupRealServerL2(b, role, a.String()+"/24", t.VIP); err != nil {
			return nil, err
		}
		if err := b.IP(role, "route", "add", "default", "via", t.Router.String()); err != nil {
			return nil, err
		}
		if _, err := b.Exec(5*time.Second, role, "ethtool", "-K", "eth0", "tx", "off"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// addBalancer adds balancer i's namespace on br1 (192.0.2.10+i).
func (t *ECMP) addBalancer(i int) error {
	role := ECMPRole(i)
	if err := t.AddNS(role); err != nil {
		return err
	}
	if err := t.link(role, "eth0", "br1"); err != nil {
		return err
	}
	if err := t.quietBalancer(role); err != nil {
		return err
	}
	// af_packet reads every frame the veth gets: no unknown-unicast
	// flooding to the balancers, so each sees only its own frames (as a
	// NIC filtering by destination MAC would).
	port := "p-" + role + "-eth0"
	if _, err := t.Exec(5*time.Second, RoleBridge, "bridge", "link", "set", "dev", port, "flood", "off"); err != nil {
		return err
	}
	t.Balancers = append(t.Balancers, Balancer{Role: role, Addr: netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}), 24), TAP: "dsrlb0"})
	return nil
}

// LinkDown takes balancer role's link down from the bridge's side.
func (t *ECMP) LinkDown(role string) error {
	return t.IP(RoleBridge, "link", "set", "p-"+role+"-eth0", "down")
}

// BIRDConfig is the router's BIRD 2 configuration: a session to each of
// the four balancer addresses (idle until the balancer speaks), routes
// from them merged into ECMP kernel routes, GRACEFUL_SHUTDOWN honoured
// (RFC 8326: local preference 0, so the route leaves the multipath set),
// nothing exported to the balancers; hold time holdS seconds.
func (t *ECMP) BIRDConfig(holdS int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `router id %s;
protocol device { scan time 1; }
protocol kernel {
	ipv4 { import none; export all; };
	merge paths on limit 16;
}
filter from_balancers {
	if (65535, 0) ~ bgp_community then bgp_local_pref = 0;
	accept;
}
template bgp balancer {
	local %s as %d;
	hold time %d;
	keepalive time %d;
	connect retry time 1;
	error wait time 1, 5;
	ipv4 { import filter from_balancers; export none; };
}
`, t.Router, t.Router, t.RouterASN, holdS, max(1, holdS/3))
	for i := range ecmpRoles {
		fmt.Fprintf(&b, "protocol bgp balancer%d from balancer { neighbor 192.0.2.%d as %d; }\n", i+1, 10+i, t.ASN)
	}
	return b.String()
}

// StartBIRD runs BIRD on the router with BIRDConfig(holdS).
func (t *ECMP) StartBIRD(holdS int) (*Proc, error) {
	dir := filepath.Join(t.Dir, "bird")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(cfg, []byte(t.BIRDConfig(holdS)), 0o644); err != nil {
		return nil, err
	}
	if out, err := t.Exec(10*time.Second, RoleRouter, "bird", "-p", "-c", cfg); err != nil {
		return nil, fmt.Errorf("bird -p: %v\n%s", err, out)
	}
	return t.Start(RoleRouter, "bird", "bird", "-f", "-c", cfg, "-s", t.BIRDSocket(), "-P", filepath.Join(dir, "bird.pid"))
}

// BIRDSocket is the control socket of the router's BIRD.
func (t *ECMP) BIRDSocket() string { return filepath.Join(t.Dir, "bird", "bird.ctl") }

// Birdc runs birdc on the router.
func (t *ECMP) Birdc(args ...string) (string, error) {
	return t.Exec(10*time.Second, RoleRouter, append([]string{"birdc", "-s", t.BIRDSocket()}, args...)...)
}

// NextHops are the router's kernel next hops for the VIP, sorted as the
// kernel prints them (none while no balancer announces it).
func (t *ECMP) NextHops() ([]netip.Addr, error) {
	out, err := t.Exec(5*time.Second, RoleRouter, "ip", "-4", "route", "show", t.VIP.String()+"/32")
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	var hops []netip.Addr
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "via" {
			if a, err := netip.ParseAddr(f[i+1]); err == nil {
				hops = append(hops, a)
			}
		}
	}
	return hops, nil
}

// ConfigOf is balancer i's configuration file.
func (t *ECMP) ConfigOf(i int) string {
	return filepath.Join(t.Dir, fmt.Sprintf("dsrlb-%s.toml", t.Balancers[i].Role))
}

// SocketOf is balancer i's control socket.
func (t *ECMP) SocketOf(i int) string {
	return filepath.Join(t.Dir, fmt.Sprintf("ctrl-%s.sock", t.Balancers[i].Role))
}

// Config is balancer i's configuration: its [dataplane] (own address,
// exception path, its own shared memory), [ctrl] with ctrlKeys, the
// service "web" on the VIP over every real server announced by BGP with
// svcKeys in its table, and [bgp] with the router as neighbour and
// bgpKeys (neighbour keys go in neighborKeys).
func (t *ECMP) Config(i int, ctrlKeys, svcKeys, bgpKeys, neighborKeys string) string {
	bl := t.Balancers[i]
	var b strings.Builder
	writeDataplaneTable(&b, t.Bed, bl.Addr, IPv6Addrs{}, bl.TAP, nil)
	cfg := strings.Replace(b.String(), filepath.Join(t.Dir, "dsrlb.shm"), filepath.Join(t.Dir, "dsrlb-"+bl.Role+".shm"), 1)
	b.Reset()
	b.WriteString(cfg)
	fmt.Fprintf(&b, "\n[ctrl]\nsocket = %q\n%s\n\n[[service]]\nname = \"web\"\nvip = %q\nprotocol = \"tcp\"\nport = 80\nbgp = true\n%s\n",
		t.SocketOf(i), ctrlKeys, t.VIP, svcKeys)
	for _, s := range t.Servers {
		fmt.Fprintf(&b, "\n  [[service.backend]]\n  address = %q\n  weight = 1\n", s)
	}
	fmt.Fprintf(&b, "\n[bgp]\nasn = %d\n%s\n\n[[bgp.neighbor]]\naddress = %q\nasn = %d\n%s\n", t.ASN, bgpKeys, t.Router, t.RouterASN, neighborKeys)
	return b.String()
}

// StartBalancer writes config as balancer i's file, checks it, starts its
// data plane (waiting until it scheduled every real server) and its
// dsrlb-ctrl (waiting until the data plane applied its transaction).
func (t *ECMP) StartBalancer(i int, dpBin, ctrlBin, config string) (dp, ctrl *Proc, err error) {
	role, path := t.Balancers[i].Role, t.ConfigOf(i)
	if dp, err = t.startBalancerDataplane(role, path, dpBin, config, len(t.Servers)); err != nil {
		return dp, nil, err
	}
	ctrl, err = t.startBalancerCtrl(role, path, ctrlBin, dp)
	return dp, ctrl, err
}
