package conf

import (
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// mixed (testdata/mixed.toml) is a configuration with IPv4 and IPv6
// services over every method and family combination the data plane
// forwards.
var mixed = func() string {
	b, err := os.ReadFile("testdata/mixed.toml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func TestIPv6MixedConfig(t *testing.T) {
	c, err := Parse("t.toml", []byte(mixed))
	if err != nil {
		t.Fatal(err)
	}
	a, pfx := netip.MustParseAddr, netip.MustParsePrefix
	dp := c.Dataplane
	if dp.Address6 != pfx("2001:db8::10/64") || dp.Gateway6 != a("2001:db8::1") || dp.Gateway != a("192.0.2.1") {
		t.Errorf("address6 %v gateway6 %v gateway %v", dp.Address6, dp.Gateway6, dp.Gateway)
	}
	wantRoutes := []Route{
		{pfx("198.51.100.0/24"), a("192.0.2.2")},
		{pfx("2001:db8:100::/48"), a("2001:db8::2")},
		{pfx("2001:db8:200::/64"), netip.Addr{}},
	}
	if !reflect.DeepEqual(dp.Routes, wantRoutes) {
		t.Errorf("routes %+v, want %+v", dp.Routes, wantRoutes)
	}
	if len(dp.Neighbors) != 2 || dp.Neighbors[0].Address != a("2001:db8::21") || dp.Neighbors[1].Address != a("192.0.2.21") {
		t.Errorf("neighbours %+v", dp.Neighbors)
	}

	type be struct {
		addr   string
		method Method // effective
	}
	want := []struct {
		name, vip string
		method    Method
		backends  []be
		sorry     string
	}{
		{"web4", "192.0.2.100", MethodL2DSR, []be{{"192.0.2.21", MethodL2DSR}}, ""},
		{"web6-l2dsr", "2001:db8::100", MethodL2DSR, []be{{"2001:db8::21", MethodL2DSR}, {"2001:db8:200::21", MethodL2DSR}}, "2001:db8::30"},
		{"ipip-6in6", "2001:db8::101", MethodIPIP, []be{{"2001:db8:100::21", MethodIPIP}, {"2001:db8:ffff::21", MethodIPIP}, {"2001:db8::22", MethodIPIP}}, ""},
		{"ipip-4in6", "192.0.2.101", MethodIPIP, []be{{"2001:db8:100::22", MethodIPIP}, {"198.51.100.22", MethodIPIP}}, "2001:db8:100::30"},
		{"gre-6in4", "2001:db8::102", MethodGRE, []be{{"198.51.100.23", MethodGRE}, {"203.0.113.23", MethodGRE}, {"2001:db8::23", MethodGUE}}, ""},
		{"gue-4in6", "192.0.2.102", MethodGUE, []be{{"2001:db8:100::24", MethodGUE}, {"198.51.100.24", MethodDSCP}, {"192.0.2.24", MethodL2DSR}}, ""},
	}
	if len(c.Services) != len(want) {
		t.Fatalf("%d services, want %d", len(c.Services), len(want))
	}
	for i, w := range want {
		s := &c.Services[i]
		if s.Name != w.name || s.VIP != a(w.vip) || s.Method != w.method || len(s.Backends) != len(w.backends) {
			t.Errorf("service %d: %+v, want %+v", i, s, w)
			continue
		}
		for j, wb := range w.backends {
			b := &s.Backends[j]
			if b.Address != a(wb.addr) || s.EffectiveMethod(b) != wb.method {
				t.Errorf("service %s backend %d: %v %v, want %v %v", s.Name, j, b.Address, s.EffectiveMethod(b), wb.addr, wb.method)
			}
		}
		if (w.sorry == "") == s.SorryServer.IsValid() || (w.sorry != "" && s.SorryServer != a(w.sorry)) {
			t.Errorf("service %s sorry server %v, want %q", s.Name, s.SorryServer, w.sorry)
		}
	}
	if s := c.Services[5]; s.DSCP != 12 || s.GUEPort != 6081 {
		t.Errorf("gue-4in6 dscp %d gue_port %d", s.DSCP, s.GUEPort)
	}
	if s := c.Services[1]; s.Check == nil || s.Check.Type != CheckHTTP || s.Check.Port != 80 {
		t.Errorf("web6-l2dsr check %+v", s.Check)
	}
}

func TestReachableByFamily(t *testing.T) {
	a, pfx := netip.MustParseAddr, netip.MustParsePrefix
	d := Dataplane{
		Address:  pfx("192.0.2.10/24"),
		Address6: pfx("2001:db8::10/64"),
		Gateway:  a("192.0.2.1"),
		Routes: []Route{
			{pfx("2001:db8:100::/48"), a("2001:db8::2")},
			{pfx("2001:db8:200::/64"), netip.Addr{}},
			{pfx("198.51.100.0/24"), netip.Addr{}},
		},
	}
	for _, tt := range []struct {
		addr              string
		reachable, onLink bool
	}{
		{"192.0.2.21", true, true},
		{"198.51.100.21", true, true}, // on-link route
		{"203.0.113.21", true, false}, // IPv4 default gateway
		{"2001:db8::21", true, true},  // address6's prefix
		{"2001:db8:100::21", true, false},
		{"2001:db8:200::21", true, true},
		{"2001:db8:ffff::21", false, false}, // the IPv4 gateway does not count
	} {
		if got := d.Reachable(a(tt.addr)); got != tt.reachable {
			t.Errorf("Reachable(%s) = %v, want %v", tt.addr, got, tt.reachable)
		}
		if got := d.OnLink(a(tt.addr)); got != tt.onLink {
			t.Errorf("OnLink(%s) = %v, want %v", tt.addr, got, tt.onLink)
		}
	}
	// The longest matching route decides: a routed part of an on-link
	// prefix is not on-link.
	d.Routes = append(d.Routes, Route{pfx("2001:db8:200::/80"), a("2001:db8::2")})
	if d.OnLink(a("2001:db8:200::21")) || !d.OnLink(a("2001:db8:200:0:1::21")) {
		t.Error("OnLink does not follow the longest matching route")
	}
	d.Gateway6 = a("2001:db8::1")
	if !d.Reachable(a("2001:db8:ffff::21")) {
		t.Error("gateway6 does not reach an IPv6 address")
	}
	d.Gateway = netip.Addr{}
	if d.Reachable(a("203.0.113.21")) {
		t.Error("gateway6 reaches an IPv4 address")
	}
	// Without address6 nothing IPv6 is on-link.
	d = Dataplane{Address: pfx("192.0.2.10/24"), Gateway: a("192.0.2.1")}
	if d.OnLink(a("2001:db8::21")) || d.Reachable(a("2001:db8::21")) {
		t.Error("IPv6 address reachable without address6")
	}
}

// wantAt returns "LINE: msg" for expect, LINE being the line of src that
// contains marker (which must occur once).
func wantAt(t *testing.T, src, marker, msg string) string {
	t.Helper()
	if strings.Count(src, marker) != 1 {
		t.Fatalf("marker %q occurs %d times", marker, strings.Count(src, marker))
	}
	line := 1 + strings.Count(src[:strings.Index(src, marker)], "\n")
	return strconv.Itoa(line) + ": " + msg
}

func TestIPv6Errors(t *testing.T) {
	const (
		w     = `workers = [1]`
		addr  = `address = "192.0.2.10/24"`
		addr6 = `address6 = "2001:db8::10/64"`
	)
	// head6 has address6; head4 has not. Both have an IPv4 gateway.
	head6 := dp(w, addr, addr6, `gateway = "192.0.2.1"`)
	head4 := dp(w, addr, `gateway = "192.0.2.1"`)
	service := func(head, vip string, lines ...string) string {
		return head + "[[service]]\nname = \"s\"\nvip = \"" + vip + "\"\n" + strings.Join(lines, "\n") + "\n"
	}
	route := func(head string, lines ...string) string {
		return head + "[[dataplane.route]]\n" + strings.Join(lines, "\n") + "\n"
	}
	neighbor := func(head, address string) string {
		return head + "[[dataplane.neighbor]]\naddress = \"" + address + "\"\nmac = \"02:00:00:00:00:21\"\nport = \"p0\"\n"
	}

	type tc struct {
		name, src, marker, msg string
	}
	cases := []tc{
		// [dataplane] gateway6, gateway
		{"gateway6 without address6", dp(w, addr, `gateway6 = "2001:db8::1"`), "gateway6",
			"dataplane.gateway6: gateway6 2001:db8::1 needs dataplane.address6: a next hop must be inside its on-link prefix"},
		{"gateway6 outside address6", dp(w, addr, addr6, `gateway6 = "2001:db8:1::1"`), "gateway6",
			"dataplane.gateway6: gateway6 2001:db8:1::1 is outside 2001:db8::/64, the on-link prefix of dataplane.address6"},
		{"gateway6 IPv4", dp(w, addr, addr6, `gateway6 = "192.0.2.1"`), "gateway6",
			"dataplane.gateway6: gateway6 192.0.2.1 is IPv4: the IPv4 default gateway goes into dataplane.gateway"},
		{"gateway IPv6", dp(w, addr, addr6, `gateway = "2001:db8::1"`), "gateway =",
			"dataplane.gateway: gateway 2001:db8::1 is IPv6: the IPv6 default gateway goes into dataplane.gateway6"},
		{"gateway6 link-local", dp(w, addr, addr6, `gateway6 = "fe80::1"`), "gateway6",
			"dataplane.gateway6: gateway6 fe80::1 is a link-local address: give the router's address inside the on-link prefix of dataplane.address6"},
		{"gateway6 multicast", dp(w, addr, addr6, `gateway6 = "ff02::2"`), "gateway6", "gateway6 ff02::2 is a multicast address"},
		{"gateway6 own", dp(w, addr, addr6, `gateway6 = "2001:db8::10"`), "gateway6", "gateway6 2001:db8::10 is the balancer's own address"},
		{"gateway6 garbage", dp(w, addr, addr6, `gateway6 = "2001:db8::g"`), "gateway6", `gateway6 "2001:db8::g" is not an IPv6 address`},
		{"gateway6 zone", dp(w, addr, addr6, `gateway6 = "2001:db8::1%eth0"`), "gateway6", `gateway6 "2001:db8::1%eth0": zones are not allowed (remove "%eth0")`},
		{"gateway6 mapped", dp(w, addr, addr6, `gateway6 = "::ffff:192.0.2.1"`), "gateway6", `write IPv4 addresses in dotted form (192.0.2.1)`},

		// [[dataplane.route]]
		{"route v6 via v4", route(head6, `prefix = "2001:db8:1::/48"`, `gateway = "192.0.2.2"`), `gateway = "192.0.2.2"`,
			"dataplane.route[0].gateway: gateway 192.0.2.2 is IPv4 but the prefix 2001:db8:1::/48 is IPv6: a route's gateway must be of its prefix's family"},
		{"route v4 via v6", route(head6, `prefix = "198.51.100.0/24"`, `gateway = "2001:db8::2"`), `gateway = "2001:db8::2"`,
			"dataplane.route[0].gateway: gateway 2001:db8::2 is IPv6 but the prefix 198.51.100.0/24 is IPv4"},
		{"route v6 gateway outside", route(head6, `prefix = "2001:db8:1::/48"`, `gateway = "2001:db8:2::1"`), "2001:db8:2::1",
			"dataplane.route[0].gateway: gateway 2001:db8:2::1 is outside 2001:db8::/64, the on-link prefix of dataplane.address6"},
		{"route v6 on-link without address6", route(head4, `prefix = "2001:db8:1::/48"`), "prefix",
			"dataplane.route[0].prefix: IPv6 route to 2001:db8:1::/48 needs dataplane.address6"},
		{"route v6 gateway without address6", route(head4, `prefix = "2001:db8:1::/48"`, `gateway = "2001:db8::2"`), "2001:db8::2",
			"dataplane.route[0].gateway: gateway 2001:db8::2 needs dataplane.address6"},
		{"route v6 invalid", route(head6, `prefix = "2001:db8::/129"`), "prefix", `dataplane.route[0].prefix: invalid IPv6 prefix "2001:db8::/129"`},
		{"route v4-mapped", route(head6, `prefix = "::ffff:198.51.100.0/120"`), "prefix", "write IPv4 prefixes in dotted form"},
		{"route v6 duplicate", route(head6, `prefix = "2001:db8:1::/48"`, "[[dataplane.route]]", `prefix = "2001:db8:1:2::/48"`), "2001:db8:1:2::/48",
			"dataplane.route[1].prefix: route to 2001:db8:1::/48 already defined by dataplane.route[0]"},

		// [[dataplane.neighbor]]
		{"neighbour v6 without address6", neighbor(head4, "2001:db8::21"), "2001:db8::21",
			"dataplane.neighbor[0].address: IPv6 neighbour 2001:db8::21 needs dataplane.address6"},
		{"neighbour v6 outside", neighbor(head6, "2001:db8:1::21"), "2001:db8:1::21",
			"dataplane.neighbor[0].address: neighbour 2001:db8:1::21 is outside 2001:db8::/64, the on-link prefix of dataplane.address6"},
		{"neighbour v6 own", neighbor(head6, "2001:db8::10"), `address = "2001:db8::10"`, "neighbour 2001:db8::10 is the balancer's own address"},

		// vip
		{"vip without address6", service(head4, "2001:db8::100"), "vip",
			"service[0].vip: vip 2001:db8::100: an IPv6 service needs dataplane.address6 (neighbour discovery and ICMPv6 errors are sent from it)"},
		{"vip is address6", service(head6, "2001:db8::10"), "vip", "service[0].vip: vip 2001:db8::10 is the balancer's own address (dataplane.address6)"},
		{"vip v4-mapped", service(head6, "::ffff:192.0.2.100"), "vip", `service[0].vip: vip "::ffff:192.0.2.100": write IPv4 addresses in dotted form (192.0.2.100)`},
		{"vip zone", service(head6, "2001:db8::100%eth0"), "vip", `service[0].vip: vip "2001:db8::100%eth0": zones are not allowed`},
		{"vip link-local", service(head6, "fe80::100"), "vip", "service[0].vip: vip fe80::100 is a link-local address"},
		{"vip multicast", service(head6, "ff05::1"), "vip", "service[0].vip: vip ff05::1 is a multicast address"},
		{"vip unspecified", service(head6, "::"), "vip", "service[0].vip: vip :: is unspecified"},
		{"vip loopback", service(head6, "::1"), "vip", "service[0].vip: vip ::1 is a loopback address"},
		{"vip invalid", service(head6, "2001:db8::zz"), "vip", `service[0].vip: invalid IPv6 address "2001:db8::zz"`},
		// One error for the service, not one per real server too.
		{"vip and backends without address6", service(head4, "2001:db8::100", "  [[service.backend]]", `  address = "2001:db8::21"`,
			"  [[service.backend]]", `  address = "2001:db8::22"`), "vip", "service[0].vip: vip 2001:db8::100: an IPv6 service needs dataplane.address6"},

		// methods and families
		{"dscp v6 vip", service(head6, "2001:db8::100", `method = "dscp"`, "  [[service.backend]]", `  address = "2001:db8::21"`), "method",
			"service[0].method: method dscp is IPv4-only (L3DSR carries the VIP in the IPv4 DSCP field); use ipip, gre or gue for IPv6"},
		{"dscp override v6 vip", service(head6, "2001:db8::100", `method = "gre"`, "dscp = 10", "  [[service.backend]]", `  address = "192.0.2.21"`, `  method = "dscp"`),
			`method = "dscp"`, "service[0].backend[0].method: method dscp is IPv4-only"},
		{"dscp v6 real server", service(head6, "192.0.2.100", `method = "dscp"`, "dscp = 10", "  [[service.backend]]", `  address = "2001:db8::21"`), "2001:db8::21",
			"service[0].backend[0].address: backend 2001:db8::21: method dscp is IPv4-only (L3DSR carries the VIP in the IPv4 DSCP field); use ipip, gre or gue for IPv6 real servers"},
		{"l2dsr v6 vip, v4 server", service(head6, "2001:db8::100", "  [[service.backend]]", `  address = "192.0.2.21"`), "192.0.2.21",
			"service[0].backend[0].address: backend 192.0.2.21 is IPv4 but VIP 2001:db8::100 is IPv6: method l2dsr forwards the client's packet unchanged, so the server must be of the VIP's address family (or use gre or gue)"},
		{"l2dsr v4 vip, v6 server", service(head6, "192.0.2.100", "  [[service.backend]]", `  address = "2001:db8::21"`), "2001:db8::21",
			"backend 2001:db8::21 is IPv6 but VIP 192.0.2.100 is IPv4: method l2dsr forwards the client's packet unchanged, so the server must be of the VIP's address family (or use ipip, gre or gue)"},
		{"l2dsr v6 off-link", service(head6, "2001:db8::100", "  [[service.backend]]", `  address = "2001:db8:1::21"`), "2001:db8:1::21",
			"service[0].backend[0].address: backend 2001:db8:1::21 is outside 2001:db8::/64, the on-link prefix of dataplane.address6: method l2dsr only rewrites the destination MAC address"},
		{"l2dsr v6 routed is still off-link", service(route(head6, `prefix = "2001:db8:1::/48"`, `gateway = "2001:db8::2"`), "2001:db8::100",
			"  [[service.backend]]", `  address = "2001:db8:1::21"`), "2001:db8:1::21", "backend 2001:db8:1::21 is outside 2001:db8::/64"},
		{"ipip 6 in 4", service(head6, "2001:db8::100", `method = "ipip"`, "  [[service.backend]]", `  address = "192.0.2.21"`), "192.0.2.21",
			"service[0].backend[0].address: backend 192.0.2.21: ipip cannot carry IPv6 inside IPv4; use gre or gue, or an IPv6 real server"},
		{"ipip 6 in 4 by override", service(head6, "2001:db8::100", `method = "gre"`, "  [[service.backend]]", `  address = "192.0.2.21"`, `  method = "ipip"`), "192.0.2.21",
			"ipip cannot carry IPv6 inside IPv4"},
		{"tunnel v6 no route", service(head6, "192.0.2.100", `method = "gre"`, "  [[service.backend]]", `  address = "2001:db8:1::21"`), "2001:db8:1::21",
			"service[0].backend[0].address: no route to backend 2001:db8:1::21 (method gre): add an IPv6 [[dataplane.route]] or dataplane.gateway6"},
		{"4in6 without address6", service(head4, "192.0.2.100", `method = "ipip"`, "  [[service.backend]]", `  address = "2001:db8::21"`), "2001:db8::21",
			"service[0].backend[0].address: backend 2001:db8::21: an IPv6 real server needs dataplane.address6 (it is the outer source address of method ipip)"},
		{"backend is address6", service(head6, "2001:db8::100", "  [[service.backend]]", `  address = "2001:db8::10"`), `address = "2001:db8::10"`,
			"backend 2001:db8::10 is the balancer's own address (dataplane.address6)"},
		{"backend link-local", service(head6, "2001:db8::100", "  [[service.backend]]", `  address = "fe80::21"`), "fe80::21", "backend fe80::21 is a link-local address"},
		{"backend multicast", service(head6, "2001:db8::100", "  [[service.backend]]", `  address = "ff02::1"`), "ff02::1", "backend ff02::1 is a multicast address"},
		{"backend zone", service(head6, "2001:db8::100", "  [[service.backend]]", `  address = "2001:db8::21%lan0"`), "2001:db8::21%lan0", "zones are not allowed"},
		{"backend v4-mapped", service(head6, "192.0.2.100", "  [[service.backend]]", `  address = "::ffff:192.0.2.21"`), "::ffff:192.0.2.21",
			`backend "::ffff:192.0.2.21": write IPv4 addresses in dotted form (192.0.2.21)`},

		// sorry_server follows the rules of a backend with the service's method
		{"sorry v6 without address6", service(head4, "192.0.2.100", `method = "gre"`, `sorry_server = "2001:db8::30"`), "sorry_server",
			"service[0].sorry_server: sorry_server 2001:db8::30: an IPv6 sorry server needs dataplane.address6 (it is the outer source address of method gre)"},
		{"sorry v6 dscp", service(head6, "192.0.2.100", `method = "dscp"`, "dscp = 10", `sorry_server = "2001:db8::30"`), "sorry_server",
			"service[0].sorry_server: sorry_server 2001:db8::30: method dscp is IPv4-only"},
		{"sorry v6 l2dsr off-link", service(head6, "2001:db8::100", `sorry_server = "2001:db8:1::30"`), "sorry_server",
			"service[0].sorry_server: sorry_server 2001:db8:1::30 is outside 2001:db8::/64, the on-link prefix of dataplane.address6"},
		{"sorry v4 for v6 ipip", service(head6, "2001:db8::100", `method = "ipip"`, `sorry_server = "192.0.2.30"`), "sorry_server",
			"sorry_server 192.0.2.30: ipip cannot carry IPv6 inside IPv4"},
		{"sorry is address6", service(head6, "2001:db8::100", `sorry_server = "2001:db8::10"`), "sorry_server",
			"sorry_server 2001:db8::10 is the balancer's own address (dataplane.address6)"},
		{"sorry link-local", service(head6, "2001:db8::100", `sorry_server = "fe80::30"`), "sorry_server", "sorry_server fe80::30 is a link-local address"},
	}
	for _, c := range cases {
		expect(t, c.name, c.src, wantAt(t, c.src, c.marker, c.msg))
	}

	// Problems are all reported together, in file order.
	src := dp(w, addr, `gateway6 = "2001:db8::1"`) + `[[dataplane.route]]
prefix = "2001:db8:1::/48"
[[service]]
name = "a"
vip = "2001:db8::100"
method = "dscp"
[[service]]
name = "b"
vip = "192.0.2.100"
method = "ipip"
  [[service.backend]]
  address = "2001:db8:1::21"
  [[service.backend]]
  address = "198.51.100.21"
`
	expect(t, "several", src,
		wantAt(t, src, "gateway6", "dataplane.gateway6: gateway6 2001:db8::1 needs dataplane.address6"),
		wantAt(t, src, "2001:db8:1::/48", "dataplane.route[0].prefix: IPv6 route to 2001:db8:1::/48 needs dataplane.address6"),
		wantAt(t, src, "2001:db8::100", "service[0].vip: vip 2001:db8::100: an IPv6 service needs dataplane.address6"),
		wantAt(t, src, `"dscp"`, "service[0].method: method dscp is IPv4-only"),
		wantAt(t, src, "2001:db8:1::21", "service[1].backend[0].address: backend 2001:db8:1::21: an IPv6 real server needs dataplane.address6"),
		wantAt(t, src, "198.51.100.21", "service[1].backend[1].address: no route to backend 198.51.100.21 (method ipip)"),
	)
}

// The DSCP code rules (one code per VIP and one VIP per code on each real
// server) still hold in a configuration with IPv6 services.
func TestDSCPUniquenessInMixedConfig(t *testing.T) {
	src := strings.Replace(mixed, "[[service]]\nname = \"web4\"", `[[service]]
name = "dscp-a"
vip = "192.0.2.110"
method = "dscp"
dscp = 12
  [[service.backend]]
  address = "198.51.100.24"

[[service]]
name = "web4"`, 1)
	// gue-4in6 gives 198.51.100.24 code 12 for 192.0.2.102 and dscp-a
	// code 12 for 192.0.2.110: a code for two VIPs.
	expect(t, "code reused", src, wantAt(t, src, "dscp = 12\n  [[service.backend]]\n  address = \"2001:db8:100::24\"", "service[6].dscp: real server 198.51.100.24 would get DSCP 12 for VIP 192.0.2.102 and DSCP 12 for VIP 192.0.2.110"))
}
