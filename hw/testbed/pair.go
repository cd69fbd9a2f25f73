package testbed

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Pair is the L2 topology with a second balancer on the bridge, for VRRP:
// balancer A in namespace "lb" (192.0.2.10) and balancer B in "lb2"
// (192.0.2.11), each a data plane on its own veth with its own exception
// path, shared memory and control socket; optionally a third VRRP router
// "ka" (192.0.2.12) for keepalived.
//
//	client, rs1.. --+-- br --+-- lb  (A)
//	                         +-- lb2 (B)
//	                         +-- ka  (keepalived, AddKeepalived)
type Pair struct {
	*L2
	Balancers []Balancer
}

// Balancer is one of a Pair's balancers.
type Balancer struct {
	Role  string
	Addr  netip.Prefix
	Addr6 netip.Prefix // after EnableIPv6
	TAP   string
}

// RoleLB2 and RoleKA are the second balancer's and keepalived's roles.
const (
	RoleLB2 = "lb2"
	RoleKA  = "ka"
)

// KAAddr is keepalived's address in AddKeepalived.
var KAAddr = netip.MustParsePrefix("192.0.2.12/24")

// SetupPair builds the topology with n real servers.
func SetupPair(b *Bed, n int) (*Pair, error) {
	t, err := SetupL2(b, n)
	if err != nil {
		return nil, err
	}
	if err := b.AddNS(RoleLB2); err != nil {
		return nil, err
	}
	if err := b.plug(RoleLB2); err != nil {
		return nil, err
	}
	if err := b.quietBalancer(RoleLB2); err != nil {
		return nil, err
	}
	// A NIC that DPDK drives filters frames by destination MAC; a veth read
	// through af_packet does not. With the bridge flooding unknown
	// unicast, the backup would see (and answer) frames for the master's
	// MAC once the master's port is gone: no unknown-unicast flooding to
	// the balancers' ports.
	for _, role := range []string{RoleLB, RoleLB2} {
		if _, err := b.Exec(5*time.Second, RoleBridge, "bridge", "link", "set", "dev", "p-"+role, "flood", "off"); err != nil {
			return nil, err
		}
		// The exception path's link-local address (the source of IPv6
		// VRRP adverts) usable at once, without duplicate address
		// detection.
		if err := b.Sysctl(role, "net.ipv6.conf.default.accept_dad", "0"); err != nil {
			return nil, err
		}
	}
	return &Pair{L2: t, Balancers: []Balancer{
		{Role: RoleLB, Addr: t.LB, TAP: "dsrlb0"},
		{Role: RoleLB2, Addr: netip.MustParsePrefix("192.0.2.11/24"), TAP: "dsrlb1"},
	}}, nil
}

// AddKeepalived adds the namespace of a keepalived router on the bridge.
func (t *Pair) AddKeepalived() error {
	if err := t.AddNS(RoleKA); err != nil {
		return err
	}
	if err := t.plug(RoleKA); err != nil {
		return err
	}
	if err := t.Sysctl(RoleKA, "net.ipv6.conf.all.disable_ipv6", "1"); err != nil {
		return err
	}
	return t.IP(RoleKA, "addr", "add", KAAddr.String(), "dev", "eth0")
}

// EnableIPv6 adds the L2 topology's IPv6 (L2.EnableIPv6) with the
// balancers' own addresses 2001:db8::10 and ::11; Config then adds the
// service "web6" on the IPv6 VIP.
func (t *Pair) EnableIPv6() error {
	if err := t.L2.EnableIPv6(); err != nil {
		return err
	}
	t.Balancers[0].Addr6 = t.IPv6.LB
	t.Balancers[1].Addr6 = netip.PrefixFrom(host6(net6Client, 0x11), 64)
	return nil
}

// ConfigOf is balancer i's configuration file path.
func (t *Pair) ConfigOf(i int) string {
	return filepath.Join(t.Dir, fmt.Sprintf("dsrlb-%s.toml", t.Balancers[i].Role))
}

// SocketOf is balancer i's control socket.
func (t *Pair) SocketOf(i int) string {
	return filepath.Join(t.Dir, fmt.Sprintf("ctrl-%s.sock", t.Balancers[i].Role))
}

// Config is balancer i's configuration: the L2 service (extra lines in
// its [[service]] table, before the real servers), then tail (e.g. the
// [[vrrp]] tables and [ctrl] keys; tail must not open [ctrl] itself:
// ctrlKeys are added to it).
func (t *Pair) Config(i int, ctrlKeys, tail string, extra ...string) string {
	bl := t.Balancers[i]
	var b strings.Builder
	writeDataplaneTable(&b, t.Bed, bl.Addr, IPv6Addrs{LB: bl.Addr6}, bl.TAP, nil)
	// Each balancer its own shared memory.
	cfg := strings.Replace(b.String(), filepath.Join(t.Dir, "dsrlb.shm"), filepath.Join(t.Dir, "dsrlb-"+bl.Role+".shm"), 1)
	b.Reset()
	b.WriteString(cfg)
	fmt.Fprintf(&b, "\n[ctrl]\nsocket = %q\n%s\n\n[[service]]\nname = \"web\"\nvip = %q\nprotocol = \"tcp\"\nport = 80\n", t.SocketOf(i), ctrlKeys, t.VIP)
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	servers := t.Servers
	if t.Backends > 0 {
		servers = servers[:t.Backends]
	}
	for _, s := range servers {
		fmt.Fprintf(&b, "\n  [[service.backend]]\n  address = %q\n  weight = 1\n", s)
	}
	if bl.Addr6.IsValid() {
		fmt.Fprintf(&b, "\n[[service]]\nname = \"web6\"\nvip = %q\nprotocol = \"tcp\"\nport = 80\n", t.IPv6.VIP)
		for _, s := range t.IPv6.Servers[:len(servers)] {
			fmt.Fprintf(&b, "\n  [[service.backend]]\n  address = %q\n  weight = 1\n", s)
		}
	}
	b.WriteString("\n" + tail)
	return b.String()
}

// StartBalancer writes config as balancer i's file, checks it, starts
// its data plane and waits until it scheduled every real server, then its
// dsrlb-ctrl and waits until the data plane applied its transaction.
func (t *Pair) StartBalancer(i int, dpBin, ctrlBin, config string) (dp, ctrl *Proc, err error) {
	dp, err = t.StartBalancerDataplane(i, dpBin, config)
	if err != nil {
		return dp, nil, err
	}
	ctrl, err = t.StartBalancerCtrl(i, ctrlBin, dp)
	return dp, ctrl, err
}

// StartBalancerDataplane writes config as balancer i's file and starts
// its data plane only.
func (t *Pair) StartBalancerDataplane(i int, dpBin, config string) (*Proc, error) {
	n := len(t.Servers)
	if t.Backends > 0 {
		n = t.Backends
	}
	return t.startBalancerDataplane(t.Balancers[i].Role, t.ConfigOf(i), dpBin, config, n)
}

// StartBalancerCtrl starts balancer i's dsrlb-ctrl on its file and waits
// until its data plane applied a transaction more.
func (t *Pair) StartBalancerCtrl(i int, ctrlBin string, dp *Proc) (*Proc, error) {
	return t.startBalancerCtrl(t.Balancers[i].Role, t.ConfigOf(i), ctrlBin, dp)
}

// startBalancerDataplane writes config to path, checks it, and starts the
// data plane of the balancer in role, waiting until its service "web"
// scheduled n real servers.
func (b *Bed) startBalancerDataplane(role, path, dpBin, config string, n int) (*Proc, error) {
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return nil, err
	}
	if out, err := b.Exec(30*time.Second, role, dpBin, "-check", "-c", path); err != nil {
		return nil, fmt.Errorf("config check: %w\n%s", err, out)
	}
	p, err := b.Start(role, "dataplane-"+role, dpBin, "-c", path)
	if err != nil {
		return nil, err
	}
	want := fmt.Sprintf("name=web backends=%d scheduled=%d", n, n)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.Output(), want) {
		if p.Exited() || time.Now().After(deadline) {
			return p, fmt.Errorf("data plane %s did not schedule the real servers (exited=%v):\n%s", role, p.Exited(), p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p, nil
}

// startBalancerCtrl starts the dsrlb-ctrl of the balancer in role on
// path and waits until its data plane applied a transaction more.
func (b *Bed) startBalancerCtrl(role, path, ctrlBin string, dp *Proc) (*Proc, error) {
	applied := strings.Count(dp.Output(), "transaction applied")
	p, err := b.Start(role, "ctrl-"+role, ctrlBin, "-c", path)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(dp.Output(), "transaction applied") <= applied {
		if p.Exited() || time.Now().After(deadline) {
			return p, fmt.Errorf("dsrlb-ctrl %s did not get a transaction applied (exited=%v):\n%s", role, p.Exited(), p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p, nil
}

// LinkDown takes role's eth0 down from the bridge's side (a node that
// lost its link).
func (t *Pair) LinkDown(role string) error { return t.IP(RoleBridge, "link", "set", "p-"+role, "down") }

// LinkUp brings it back.
func (t *Pair) LinkUp(role string) error { return t.IP(RoleBridge, "link", "set", "p-"+role, "up") }
