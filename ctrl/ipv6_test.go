package ctrl

import (
	"net/netip"
	"reflect"
	"testing"

	"dsrlb/conf"
	"dsrlb/conf/wire"
)

// ipv6Config has an IPv6 service (real servers and sorry server IPv6) and
// an IPv4 service with an IPv6 real server (ipip 4in6).
func ipv6Config(t *testing.T) *conf.Config {
	t.Helper()
	c, err := conf.Parse("p.toml", []byte(`[dataplane]
workers = [1]
address = "192.0.2.10/24"
address6 = "2001:db8::10/64"
[[dataplane.port]]
name = "p0"
device = "net_ring0"
[[service]]
name = "web6"
vip = "2001:db8::100"
port = 80
sorry_server = "2001:db8::30"
[service.check]
type = "http"
path = "/healthz"
[[service.backend]]
address = "2001:db8::21"
[[service.backend]]
address = "2001:db8::22"
weight = 2
[[service]]
name = "mixed"
vip = "192.0.2.100"
port = 53
protocol = "udp"
method = "ipip"
[service.check]
type = "udp"
[[service.backend]]
address = "2001:db8::23"
[[service.backend]]
address = "192.0.2.24"
`))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIPv6Targets(t *testing.T) {
	c := ipv6Config(t)
	ts := Targets(c, func(string, *conf.Service) bool { return true }, nil, nil)
	want := []struct{ key, addr, check string }{
		{"web6/2001:db8::21", "2001:db8::21", "http GET :80/healthz"},
		{"web6/2001:db8::22", "2001:db8::22", "http GET :80/healthz"},
		{"mixed/2001:db8::23", "2001:db8::23", `udp :53 payload=""`},
		{"mixed/192.0.2.24", "192.0.2.24", `udp :53 payload=""`},
	}
	if len(ts) != len(want) {
		t.Fatalf("targets %+v", ts)
	}
	for i, w := range want {
		// Without a probe mapping the check goes to the real server's own
		// IPv6 address.
		if ts[i].Key != w.key || ts[i].Addr != netip.MustParseAddr(w.addr) || ts[i].Config.Checker.String() != w.check {
			t.Errorf("target %d: %s %s %s, want %+v", i, ts[i].Key, ts[i].Addr, ts[i].Config.Checker, w)
		}
	}
}

func TestIPv6EvaluateAndSeed(t *testing.T) {
	c := ipv6Config(t)
	a := netip.MustParseAddr
	h := Health{"web6/2001:db8::21": true, "web6/2001:db8::22": false, "mixed/2001:db8::23": true, "mixed/192.0.2.24": true}
	p := Evaluate(c, h, nil)
	if got, want := p.Services[0].Backends, []wire.Backend{{Service: "web6", Addr: a("2001:db8::21"), Weight: 1, State: "up"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("web6 sends %+v, want %+v", got, want)
	}
	if got := p.Services[0].Service; got.VIP != a("2001:db8::100") || got.Method != "l2dsr" {
		t.Errorf("web6 service %+v", got)
	}
	if got := sent(p, 1); got != "2001:db8::23:1:up 24:1:up" { // sent shortens 192.0.2.x
		t.Errorf("mixed sends %q", got)
	}

	// Quorum lost (the only healthy real server goes down): the IPv6
	// sorry server stands in.
	h["web6/2001:db8::21"] = false
	p = Evaluate(c, h, nil)
	if got, want := p.Services[0].Backends, []wire.Backend{{Service: "web6", Addr: a("2001:db8::30"), Weight: 1, State: "sorry"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("web6 without healthy real servers sends %+v, want %+v", got, want)
	}

	// A dump with IPv6 real servers seeds their health; an IPv4 real
	// server reported IPv4-mapped is recognised too.
	seeded := Seed(c, &Applied{Backends: map[string][]wire.Backend{
		"web6":  {{Service: "web6", Addr: a("2001:db8::22"), Weight: 2, State: "up"}},
		"mixed": {{Service: "mixed", Addr: a("2001:db8::23"), Weight: 1, State: "inhibited"}, {Service: "mixed", Addr: a("::ffff:192.0.2.24"), Weight: 1, State: "up"}},
	}})
	want := Health{"web6/2001:db8::21": false, "web6/2001:db8::22": true, "mixed/2001:db8::23": false, "mixed/192.0.2.24": true}
	if !reflect.DeepEqual(seeded, want) {
		t.Errorf("seed:\n got %v\nwant %v", seeded, want)
	}
}
