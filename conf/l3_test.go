package conf

import (
	"net/netip"
	"testing"
)

const l3Head = `[dataplane]
workers = [1]
address = "192.0.2.10/24"
gateway = "192.0.2.1"
[[dataplane.port]]
name = "p"
device = "net_ring0"
[[dataplane.route]]
prefix = "198.51.100.0/24"
gateway = "192.0.2.2"
[[dataplane.route]]
prefix = "203.0.113.0/28"
`

func TestL3Methods(t *testing.T) {
	c, err := Parse("t.toml", []byte(l3Head+`[[service]]
name = "a"
vip = "192.0.2.100"
method = "dscp"
dscp = 10
  [[service.backend]]
  address = "198.51.100.21"
  [[service.backend]]
  address = "192.0.2.21"
  method = "l2dsr"
[[service]]
name = "b"
vip = "192.0.2.101"
method = "gue"
gue_port = 7000
  [[service.backend]]
  address = "203.0.113.5"
  [[service.backend]]
  address = "192.0.2.77"
  method = "ipip"
`))
	if err != nil {
		t.Fatal(err)
	}
	dp := c.Dataplane
	if dp.Gateway != netip.MustParseAddr("192.0.2.1") || len(dp.Routes) != 2 ||
		dp.Routes[0] != (Route{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParseAddr("192.0.2.2")}) ||
		dp.Routes[1].Gateway.IsValid() {
		t.Fatalf("routes %+v gateway %v", dp.Routes, dp.Gateway)
	}
	a, b := c.Services[0], c.Services[1]
	if a.Method != MethodDSCP || a.DSCP != 10 || a.EffectiveMethod(&a.Backends[1]) != MethodL2DSR {
		t.Fatalf("service a %+v", a)
	}
	if b.Method != MethodGUE || b.GUEPort != 7000 || b.EffectiveMethod(&b.Backends[1]) != MethodIPIP {
		t.Fatalf("service b %+v", b)
	}

	svc := func(lines string) string {
		return l3Head + "[[service]]\nname = \"s\"\nvip = \"192.0.2.100\"\n" + lines
	}
	expect(t, "dscp without code", svc("method = \"dscp\"\n  [[service.backend]]\n  address = \"198.51.100.21\"\n"),
		"13: service[0].dscp: method dscp needs the service's dscp code")
	expect(t, "code without dscp", svc("dscp = 5\n  [[service.backend]]\n  address = \"192.0.2.21\"\n"),
		"16: service[0].dscp: dscp applies to method dscp only")
	expect(t, "code out of range", svc("method = \"dscp\"\ndscp = 64\n"),
		"17: service[0].dscp: dscp 64 out of range 1..63")
	expect(t, "gue port without gue", svc("gue_port = 7000\n"),
		"16: service[0].gue_port: gue_port applies to method gue only")
	expect(t, "backend method", svc("  [[service.backend]]\n  address = \"192.0.2.21\"\n  method = \"vxlan\"\n"),
		`18: service[0].backend[0].method: unknown method "vxlan"`)
	expect(t, "l2dsr override off-link", svc("method = \"ipip\"\n  [[service.backend]]\n  address = \"198.51.100.21\"\n  method = \"l2dsr\"\n"),
		"18: service[0].backend[0].address: backend 198.51.100.21 is outside 192.0.2.0/24")

	noGW := `[dataplane]
workers = [1]
address = "192.0.2.10/24"
[[dataplane.port]]
name = "p"
device = "net_ring0"
`
	expect(t, "no route", noGW+"[[service]]\nname = \"s\"\nvip = \"192.0.2.100\"\nmethod = \"gre\"\n  [[service.backend]]\n  address = \"203.0.113.9\"\n",
		"12: service[0].backend[0].address: no route to backend 203.0.113.9 (method gre)")
	expect(t, "gateway off-link", "[dataplane]\nworkers = [1]\naddress = \"192.0.2.10/24\"\ngateway = \"198.51.100.1\"\n[[dataplane.port]]\nname = \"p\"\ndevice = \"net_ring0\"\n",
		"4: dataplane.gateway: gateway 198.51.100.1 is outside 192.0.2.0/24")
	expect(t, "route prefix", noGW+"[[dataplane.route]]\nprefix = \"198.51.100.0/33\"\n", `8: dataplane.route[0].prefix: invalid IPv4 prefix "198.51.100.0/33"`)
	expect(t, "route duplicate", noGW+"[[dataplane.route]]\nprefix = \"198.51.100.0/24\"\n[[dataplane.route]]\nprefix = \"198.51.100.7/24\"\n",
		"10: dataplane.route[1].prefix: route to 198.51.100.0/24 already defined by dataplane.route[0] (line 8)")
	expect(t, "route gateway own", noGW+"[[dataplane.route]]\nprefix = \"198.51.100.0/24\"\ngateway = \"192.0.2.10\"\n",
		"9: dataplane.route[0].gateway: gateway 192.0.2.10 is the balancer's own address")

	// One real server, two VIPs with the same code: its rule could not
	// tell them apart.
	expect(t, "dscp code reused", l3Head+`[[service]]
name = "a"
vip = "192.0.2.100"
method = "dscp"
dscp = 10
  [[service.backend]]
  address = "198.51.100.21"
[[service]]
name = "b"
vip = "192.0.2.101"
method = "dscp"
dscp = 10
  [[service.backend]]
  address = "198.51.100.21"
`, `24: service[1].dscp: real server 198.51.100.21 would get DSCP 10 for VIP 192.0.2.101 and DSCP 10 for VIP 192.0.2.100 (service "a")`)
	// One VIP on two ports is one VIP: the same code is right.
	if _, err := Parse("t.toml", []byte(l3Head+`[[service]]
name = "a"
vip = "192.0.2.100"
port = 80
method = "dscp"
dscp = 10
  [[service.backend]]
  address = "198.51.100.21"
[[service]]
name = "b"
vip = "192.0.2.100"
port = 443
method = "dscp"
dscp = 10
  [[service.backend]]
  address = "198.51.100.21"
`)); err != nil {
		t.Fatalf("one VIP, one code, two ports: %v", err)
	}
}
