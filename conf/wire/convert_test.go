package wire

import (
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
		ws := ServiceOf(s)
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
	if len(m) != len(c.Services) {
		t.Fatalf("%d services, want %d", len(m), len(c.Services))
	}
	for i, sm := range m {
		s := &c.Services[i]
		if sm.Service != ServiceOf(s) || len(sm.Backends) != len(s.Backends) {
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
