package wire

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"dsrlb/conf"
)

// The control protocol carries IPv6 addresses as text; an IPv6 service
// and its real servers survive the trip to the data plane.
func TestIPv6WireRoundTrip(t *testing.T) {
	c, err := conf.Load("../testdata/mixed.toml")
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Services {
		s := &c.Services[i]
		ws := ServiceOf(c, s)
		b, err := Encode(ws)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if !strings.Contains(string(b), `"vip":"`+s.VIP.String()+`"`) {
			t.Errorf("%s: VIP not as text in %s", s.Name, b)
		}
		var got Service
		if err := Decode(b, &got); err != nil || got != ws || got.VIP != s.VIP {
			t.Errorf("%s: service round trip: %+v (%v), want %+v", s.Name, got, err, ws)
		}
		for j := range s.Backends {
			wb := BackendOf(s, &s.Backends[j], s.Backends[j].Weight, StateUp)
			b, err := Encode(wb)
			if err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
			var got Backend
			if err := Decode(b, &got); err != nil || got != wb || got.Addr != s.Backends[j].Address {
				t.Errorf("%s: backend round trip: %+v (%v), want %+v", s.Name, got, err, wb)
			}
		}
	}
	// The longest possible IPv6 text still fits a ring slot.
	long := Backend{Service: strings.Repeat("n", 32), Addr: netip.MustParseAddr("2001:db8:1234:5678:9abc:def0:1234:5678"),
		Weight: 65535, State: StateInhibited, Method: "l2dsr"}
	if _, err := Encode(long); err != nil {
		t.Error(err)
	}
}

// The boot model is the configuration file's services with every real
// server up at its weight, weight 0 inhibited.
func TestBootModel(t *testing.T) {
	c, err := conf.Load("../testdata/mixed.toml")
	if err != nil {
		t.Fatal(err)
	}
	m := BootModel(c)
	if len(m.Services) != len(c.Services) {
		t.Fatalf("%d services, want %d", len(m.Services), len(c.Services))
	}
	for i, sm := range m.Services {
		s := &c.Services[i]
		if sm.Service != ServiceOf(c, s) || len(sm.Backends) != len(s.Backends) {
			t.Fatalf("service %d: %+v", i, sm)
		}
		for j, b := range sm.Backends {
			want := StateUp
			if s.Backends[j].Weight == 0 {
				want = StateInhibited
			}
			if b.Addr != s.Backends[j].Address || b.Weight != s.Backends[j].Weight || b.State != want || b.Service != s.Name {
				t.Errorf("%s backend %d: %+v", s.Name, j, b)
			}
		}
	}
}

// A VRRP instance's VIPs carry its group id, and the boot model defines
// every group, none of them master (there is no VRRPState in a model).
func TestBootModelVRRP(t *testing.T) {
	c, err := conf.Parse("t.toml", []byte(`[dataplane]
workers = [1]
address = "192.0.2.10/24"
tap = "dsrlb0"
[[dataplane.port]]
name = "p0"
device = "net_null0"
[[service]]
name = "a"
vip = "192.0.2.100"
[[service]]
name = "b"
vip = "192.0.2.101"
[[service]]
name = "c"
vip = "192.0.2.102"
[[vrrp]]
name = "one"
vrid = 1
vips = ["192.0.2.101"]
[[vrrp]]
name = "two"
vrid = 2
priority = 200
advert_int = "100ms"
garp_repeat = 2
garp_delay = "0s"
garp_refresh = "30s"
vips = ["192.0.2.102"]
`))
	if err != nil {
		t.Fatal(err)
	}
	m := BootModel(c)
	var ids []uint8
	for _, sm := range m.Services {
		ids = append(ids, sm.Service.VRRP)
	}
	if fmt.Sprint(ids) != "[0 1 2]" {
		t.Errorf("service groups %v", ids)
	}
	want := []VRRPGroup{
		{ID: 1, Name: "one", DownMS: 3000 + 610, GARPRepeat: 5, GARPDelayMS: 5000}, // v2 skew: 156/256 s, rounded up
		{ID: 2, Name: "two", DownMS: 300 + 22, GARPRepeat: 2, GARPRefreshMS: 30000},
	}
	if fmt.Sprint(m.Groups) != fmt.Sprint(want) {
		t.Errorf("groups\n got %+v\nwant %+v", m.Groups, want)
	}
}
