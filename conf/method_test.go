package conf

import (
	"net/netip"
	"testing"
)

func TestMethodOverhead(t *testing.T) {
	for _, c := range []struct {
		m    Method
		v6   bool
		want int
	}{{MethodIPIP, false, 20}, {MethodGRE, false, 24}, {MethodGUE, false, 28}, {MethodIPIP, true, 40}, {MethodGRE, true, 44}, {MethodGUE, true, 48},
		{MethodL2DSR, false, 0}, {MethodDSCP, true, 0}, {0, false, 0}, {0, true, 0}, {numMethods, false, 0}} {
		if got := c.m.Overhead(c.v6); got != c.want {
			t.Errorf("%v.Overhead(%v) = %d, want %d", c.m, c.v6, got, c.want)
		}
	}
	most := 0
	for _, m := range Methods() {
		most = max(most, m.Overhead(false), m.Overhead(true))
	}
	if MaxOverhead != most || MaxOverhead != 48 {
		t.Fatalf("MaxOverhead %d, largest overhead %d", MaxOverhead, most)
	}
}

func TestMethodNames(t *testing.T) {
	want := []string{"l2dsr", "dscp", "ipip", "gre", "gue"}
	ms := Methods()
	if len(ms) != len(want) {
		t.Fatalf("methods %v", ms)
	}
	for i, m := range ms {
		if m.String() != want[i] || !m.Valid() {
			t.Errorf("method %d is %q, want %q", i, m, want[i])
		}
		if p, ok := ParseMethod(want[i]); !ok || p != m {
			t.Errorf("ParseMethod(%q) = %v, %v", want[i], p, ok)
		}
		if tun := m.Tunnels(); tun != (i >= 2) {
			t.Errorf("%s tunnels: %v", m, tun)
		}
	}
	for _, bad := range []string{"", "L2DSR", "vxlan", "ipip "} {
		if m, ok := ParseMethod(bad); ok {
			t.Errorf("ParseMethod(%q) = %v", bad, m)
		}
	}
	if Method(0).Valid() || Method(0).String() != "method(0)" || numMethods.Tunnels() || numMethods.Carries(false, false) {
		t.Error("invalid methods")
	}
}

// TestMethodFamilies is the address-family table of the README: which
// VIP / real server families each method carries.
func TestMethodFamilies(t *testing.T) {
	type fam struct{ vip6, rs6 bool }
	all := []fam{{false, false}, {false, true}, {true, false}, {true, true}}
	carries := map[Method][]fam{
		MethodL2DSR: {{false, false}, {true, true}},
		MethodDSCP:  {{false, false}},
		MethodIPIP:  {{false, false}, {false, true}, {true, true}},
		MethodGRE:   all,
		MethodGUE:   all,
	}
	for _, m := range Methods() {
		for _, f := range all {
			want := false
			for _, c := range carries[m] {
				want = want || c == f
			}
			if got := m.Carries(f.vip6, f.rs6); got != want {
				t.Errorf("%s carries VIP v6=%v to real server v6=%v: %v, want %v", m, f.vip6, f.rs6, got, want)
			}
		}
	}
	if MethodDSCP.CarriesVIP(true) || !MethodIPIP.CarriesVIP(true) {
		t.Error("CarriesVIP")
	}
	a := netip.MustParseAddr
	if err := MethodIPIP.FamilyError(a("2001:db8::100"), a("192.0.2.21")); err == nil ||
		err.Error() != "ipip cannot carry IPv6 inside IPv4 to IPv4 real server 192.0.2.21 for IPv6 VIP 2001:db8::100; use gre or gue" {
		t.Errorf("ipip 6-in-4: %v", err)
	}
	if err := MethodDSCP.FamilyError(netip.Addr{}, a("2001:db8::21")); err == nil {
		t.Error("dscp to an IPv6 real server accepted for an unknown VIP")
	}
	if err := MethodL2DSR.FamilyError(netip.Addr{}, a("2001:db8::21")); err != nil {
		t.Errorf("l2dsr, unknown VIP: %v", err)
	}
	if got := MethodL2DSR.Alternatives(false, true); got != "ipip, gre or gue" {
		t.Errorf("alternatives %q", got)
	}
}
