package bgp

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"dsrlb/conf"
	"dsrlb/ctrl/bgp/bgptest"
)

// eventually polls ok every 20 ms for up to 20 s (BGP sessions and
// updates take their time; the bound is for a busy machine).
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSpeakerAgainstRouter runs the speaker against a GoBGP router on
// loopback: the session comes up, prefixes are announced with the
// configured community and the balancer as next hop, the graceful
// shutdown community is added and removed, withdrawals reach the router,
// a route the router sends is counted and not installed, and a stop
// closes the session.
func TestSpeakerAgainstRouter(t *testing.T) {
	r := bgptest.New(t, "127.0.0.2", 65001)
	port := r.Port
	cfg := &conf.BGP{ASN: 65001, RouterID: netip.MustParseAddr("127.0.0.2"), NextHop: netip.MustParseAddr("127.0.0.2"),
		Communities: []uint32{65001<<16 | 100},
		Neighbors: []conf.BGPNeighbor{{Address: netip.MustParseAddr("127.0.0.1"), ASN: 65000, HoldTime: 9 * time.Second,
			Keepalive: 3 * time.Second, Port: uint16(port)}}}
	changed := make(chan struct{}, 1)
	sp := NewSpeaker(Options{Config: cfg, Changed: changed})
	ctx := context.Background()
	if err := sp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer sp.Stop(ctx)
	eventually(t, "the session", func() bool { return sp.Peers(ctx)[0].State == "established" })
	select {
	case <-changed:
	default:
		t.Error("no change signalled for the session coming up")
	}

	a, b := netip.MustParsePrefix("198.51.100.100/32"), netip.MustParsePrefix("198.51.100.101/32")
	if err := sp.Set(ctx, map[netip.Prefix]bool{a: false, b: false}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both prefixes at the router", func() bool {
		got := r.Routes()
		return len(got) == 2 && slices.Equal(got[a.String()].Communities, []uint32{65001<<16 | 100}) && got[a.String()].NextHop == "127.0.0.2"
	})
	// Draining: GRACEFUL_SHUTDOWN added to one.
	if err := sp.Set(ctx, map[netip.Prefix]bool{a: true, b: false}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the graceful shutdown community", func() bool {
		return slices.Contains(r.Routes()[a.String()].Communities, conf.GracefulShutdown)
	})
	// Withdrawn.
	if err := sp.Set(ctx, map[netip.Prefix]bool{b: false}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the withdrawal", func() bool {
		got := r.Routes()
		_, has := got[a.String()]
		return len(got) == 1 && !has
	})
	if ps := sp.Peers(ctx)[0]; ps.Advertised != 1 || ps.UpdatesSent == 0 || ps.Established != 1 || ps.HoldTime != 9 {
		t.Errorf("%+v", ps)
	}

	// The router sends a route: counted, never in the balancer's table.
	r.Announce("203.0.113.0", 24)
	eventually(t, "the router's route counted", func() bool { return sp.Peers(ctx)[0].RoutesReceived == 1 })
	var learnt []string
	if err := sp.srv.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: familyOf(false)}, func(d *api.Destination) {
		learnt = append(learnt, d.Prefix)
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(learnt, []string{b.String()}) {
		t.Errorf("the balancer's table holds %v, want only its own %s", learnt, b)
	}

	// Stop: the router loses the session and the route.
	sp.Stop(ctx)
	eventually(t, "the routes gone at the router", func() bool { return len(r.Routes()) == 0 })
}

// TestSpeakerIPv6 announces an IPv6 VIP over an IPv6 session (MP-BGP):
// the router gets the /128 with the balancer's IPv6 address as next hop,
// and the withdrawal.
func TestSpeakerIPv6(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatalf("IPv6 loopback: %v", err)
	}
	l.Close()
	r := bgptest.NewOn(t, "::1", "::1", 65001)
	cfg := &conf.BGP{ASN: 65001, RouterID: netip.MustParseAddr("127.0.0.2"), NextHop6: netip.MustParseAddr("::1"),
		Neighbors: []conf.BGPNeighbor{{Address: netip.MustParseAddr("::1"), ASN: 65000, HoldTime: 9 * time.Second,
			Keepalive: 3 * time.Second, Port: uint16(r.Port)}}}
	sp := NewSpeaker(Options{Config: cfg})
	ctx := context.Background()
	if err := sp.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer sp.Stop(ctx)
	eventually(t, "the session", func() bool { return sp.Peers(ctx)[0].State == "established" })
	p := netip.MustParsePrefix("2001:db8:1::100/128")
	if err := sp.Set(ctx, map[netip.Prefix]bool{p: false}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the /128 at the router", func() bool { rt, ok := r.Routes6()[p.String()]; return ok && rt.NextHop == "::1" })
	if err := sp.Set(ctx, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the withdrawal", func() bool { return len(r.Routes6()) == 0 })
}
