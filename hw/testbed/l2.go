package testbed

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// L2 is the L2 DSR topology of DESIGN.md section 4: a client, the balancer
// and real servers on one bridge, all in 192.0.2.0/24.
//
//	client ns --+
//	rs1 ns -----+-- br ns (bridge) --+-- lb ns (eth0: no address, IPv6 off;
//	rs2 ns -----+                           DPDK's af_packet owns it)
//
// Every namespace's interface is called eth0. Real servers carry the VIP on
// loopback and do not answer ARP for it (arp_ignore=1, arp_announce=2).
type L2 struct {
	*Bed
	VIP     netip.Addr
	Client  netip.Addr
	LB      netip.Prefix // the balancer's own address for its configuration
	Servers []netip.Addr
	// TAP names the exception-path interface the data plane creates in the
	// lb namespace ("" for none).
	TAP string
	// Backends is how many of the Servers are the service's real servers
	// in DataplaneConfig (0: all of them).
	Backends int
	// DataplaneKeys are added to the [dataplane] table of
	// DataplaneConfig.
	DataplaneKeys []string
	// Tail is appended to DataplaneConfig (more services, ports).
	Tail string
	// Workers are the data plane's worker CPUs (default [1]); with more
	// than one, the main lcore shares CPU 0 and eth0 gets a queue pair
	// per worker.
	Workers []int
	// BackendKeys are the keys of real server i's [[service.backend]]
	// table in DataplaneConfig besides its address, when set and not
	// empty (default "weight = 1").
	BackendKeys []string
	// IPv6 is the topology's IPv6 addressing, zero until EnableIPv6.
	IPv6 IPv6Addrs
	// ServiceIPv6 makes DataplaneConfig's service the IPv6 one: IPv6.VIP
	// over IPv6.Servers.
	ServiceIPv6 bool
}

// L2 roles.
const (
	RoleClient = "client"
	RoleLB     = "lb"
	RoleBridge = "br"
)

// ServerRole is the role name of real server i (0-based): "rs1", "rs2", ...
func ServerRole(i int) string { return fmt.Sprintf("rs%d", i+1) }

// SetupL2 builds the topology with n real servers.
func SetupL2(b *Bed, n int) (*L2, error) {
	t := &L2{
		Bed:    b,
		VIP:    netip.MustParseAddr("192.0.2.100"),
		Client: netip.MustParseAddr("192.0.2.2"),
		LB:     netip.MustParsePrefix("192.0.2.10/24"),
	}
	if err := b.AddNS(RoleBridge); err != nil {
		return nil, err
	}
	steps := [][]string{
		{"link", "add", "br0", "type", "bridge"},
		{"link", "set", "br0", "up"},
	}
	for _, s := range steps {
		if err := b.IP(RoleBridge, s...); err != nil {
			return nil, err
		}
	}
	_ = b.Sysctl(RoleBridge, "net.ipv6.conf.all.disable_ipv6", "1")

	roles := []string{RoleClient, RoleLB}
	for i := 0; i < n; i++ {
		roles = append(roles, ServerRole(i))
		t.Servers = append(t.Servers, netip.AddrFrom4([4]byte{192, 0, 2, byte(21 + i)}))
	}
	for _, role := range roles {
		if err := b.AddNS(role); err != nil {
			return nil, err
		}
		if err := b.plug(role); err != nil {
			return nil, err
		}
	}

	// Client: checksums finished in software, because its packets reach the
	// balancer through a packet socket that would forward them unfinished.
	if err := b.IP(RoleClient, "addr", "add", t.Client.String()+"/24", "dev", "eth0"); err != nil {
		return nil, err
	}
	if _, err := b.Exec(5*time.Second, RoleClient, "ethtool", "-K", "eth0", "tx", "off"); err != nil {
		return nil, err
	}
	if err := b.quietBalancer(RoleLB); err != nil {
		return nil, err
	}
	for i, a := range t.Servers {
		if err := SetupRealServerL2(b, ServerRole(i), a.String()+"/24", t.VIP); err != nil {
			return nil, err
		}
		// What a real server sends to the balancer itself (health-check
		// answers) crosses the balancer's packet socket too.
		if _, err := b.Exec(5*time.Second, ServerRole(i), "ethtool", "-K", "eth0", "tx", "off"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// plug connects role's eth0 to the bridge.
func (b *Bed) plug(role string) error {
	port := "p-" + role
	steps := [][]string{
		{"link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", b.NS(role)},
		{"link", "set", port, "master", "br0"},
		{"link", "set", port, "up"},
	}
	for _, s := range steps {
		if err := b.IP(RoleBridge, s...); err != nil {
			return err
		}
	}
	return b.IP(role, "link", "set", "eth0", "up")
}

// SetupRealServerL2 does what dsrlb's real-server guide says for l2dsr:
// the server's own address on eth0, the VIP on loopback, and no ARP
// answers or announcements for the VIP.
func SetupRealServerL2(b *Bed, role, addr string, vip netip.Addr) error {
	if err := b.IP(role, "addr", "add", addr, "dev", "eth0"); err != nil {
		return err
	}
	for _, kv := range [][2]string{
		{"net.ipv4.conf.all.arp_ignore", "1"}, {"net.ipv4.conf.all.arp_announce", "2"},
		{"net.ipv4.conf.eth0.arp_ignore", "1"}, {"net.ipv4.conf.eth0.arp_announce", "2"},
	} {
		if err := b.Sysctl(role, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return b.IP(role, "addr", "add", vip.String()+"/32", "dev", "lo")
}

// listens is nginx's listen directives for port 80 of addrs
// ("192.0.2.100:80", "[2001:db8::100]:80").
func listens(addrs []netip.Addr) string {
	var s string
	for _, a := range addrs {
		s += fmt.Sprintf("        listen %s;\n", netip.AddrPortFrom(a, 80))
	}
	return s
}

// StartNginx serves files (name -> content) on port 80 of each address
// inside role with Debian's nginx, as a foreground process the Bed stops on
// Close. It waits until the first address accepts connections.
func (b *Bed) StartNginx(role string, files map[string][]byte, addrs ...netip.Addr) (*Proc, error) {
	addr := addrs[0]
	dir := filepath.Join(b.Dir, "nginx-"+role)
	www := filepath.Join(dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		return nil, err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(www, name), data, 0o644); err != nil {
			return nil, err
		}
	}
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    default_type application/octet-stream;
    server {
%[2]s        root %[3]s;
    }
}
`, dir, listens(addrs), www)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	p, err := b.Start(role, "nginx-"+role, "nginx", "-c", path, "-p", dir)
	if err != nil {
		return nil, err
	}
	// Ready when it accepts connections on the address.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if p.Exited() {
			return nil, fmt.Errorf("nginx in %s exited: %s", role, p.Output())
		}
		out, _ := b.Exec(2*time.Second, role, "ss", "-Hltn", "src", netip.AddrPortFrom(addr, 80).String())
		if strings.Contains(out, "LISTEN") {
			return p, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("nginx in %s not listening after 60s: %s", role, p.Output())
}

// quietBalancer keeps the balancer namespace's kernel out of the way of
// DPDK. A NIC bound to DPDK is invisible to the kernel; a veth read through
// af_packet is not: the kernel would also accept packets for the balancer's
// own address (set on the exception path's TAP) arriving on eth0 and answer
// ARP there. An ingress rule drops everything on eth0 for the kernel after
// packet sockets (DPDK) have had their copy.
func (b *Bed) quietBalancer(role string) error {
	if err := b.Sysctl(role, "net.ipv6.conf.eth0.disable_ipv6", "1"); err != nil {
		return err
	}
	_, err := b.Exec(5*time.Second, role, "nft",
		"add table netdev dsrlb; "+
			"add chain netdev dsrlb eth0-ingress { type filter hook ingress device eth0 priority 0; policy drop; }")
	return err
}
