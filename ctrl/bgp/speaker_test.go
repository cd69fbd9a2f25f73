package bgp

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/types/known/anypb"

	"dsrlb/conf"
)

// router is a GoBGP server standing for the upstream router, on
// 127.0.0.1, passive towards the balancer at 127.0.0.2.
type router struct {
	t   *testing.T
	srv *server.BgpServer
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newRouter(t *testing.T, port int) *router {
	t.Helper()
	ctx := context.Background()
	s := server.NewBgpServer(server.LoggerOption(&logAdapter{slog.New(slog.DiscardHandler)}))
	go s.Serve()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: 65000, RouterId: "127.0.0.1", ListenPort: int32(port), ListenAddresses: []string{"127.0.0.1"},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.StopBgp(context.Background(), &api.StopBgpRequest{}); s.Stop() })
	if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.2", PeerAsn: 65001},
		Transport: &api.Transport{PassiveMode: true},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 9, KeepaliveInterval: 3}},
	}}); err != nil {
		t.Fatal(err)
	}
	return &router{t: t, srv: s}
}

// routes are the router's routes learnt from the balancer: prefix ->
// communities.
func (r *router) routes() map[string][]uint32 {
	out := map[string][]uint32{}
	err := r.srv.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: familyOf(false)}, func(d *api.Destination) {
		for _, p := range d.Paths {
			if p.NeighborIp != "127.0.0.2" {
				continue
			}
			var comms []uint32
			var nh string
			for _, a := range p.Pattrs {
				m, err := a.UnmarshalNew()
				if err != nil {
					continue
				}
				switch v := m.(type) {
				case *api.CommunitiesAttribute:
					comms = v.Communities
				case *api.NextHopAttribute:
					nh = v.NextHop
				}
			}
			if nh != "127.0.0.2" {
				r.t.Errorf("%s: next hop %q, want the balancer's address", d.Prefix, nh)
			}
			out[d.Prefix] = comms
		}
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

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
	port := freePort(t)
	r := newRouter(t, port)
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
		got := r.routes()
		return len(got) == 2 && slices.Equal(got[a.String()], []uint32{65001<<16 | 100})
	})
	// Draining: GRACEFUL_SHUTDOWN added to one.
	if err := sp.Set(ctx, map[netip.Prefix]bool{a: true, b: false}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the graceful shutdown community", func() bool {
		return slices.Contains(r.routes()[a.String()], conf.GracefulShutdown)
	})
	// Withdrawn.
	if err := sp.Set(ctx, map[netip.Prefix]bool{b: false}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the withdrawal", func() bool {
		got := r.routes()
		_, has := got[a.String()]
		return len(got) == 1 && !has
	})
	if ps := sp.Peers(ctx)[0]; ps.Advertised != 1 || ps.UpdatesSent == 0 || ps.Established != 1 || ps.HoldTime != 9 {
		t.Errorf("%+v", ps)
	}

	// The router sends a route: counted, never in the balancer's table.
	nlri, _ := anypb.New(&api.IPAddressPrefix{Prefix: "203.0.113.0", PrefixLen: 24})
	origin, _ := anypb.New(&api.OriginAttribute{Origin: 0})
	nh, _ := anypb.New(&api.NextHopAttribute{NextHop: "127.0.0.1"})
	if _, err := r.srv.AddPath(ctx, &api.AddPathRequest{Path: &api.Path{Family: familyOf(false), Nlri: nlri, Pattrs: []*anypb.Any{origin, nh}}}); err != nil {
		t.Fatal(err)
	}
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
	eventually(t, "the routes gone at the router", func() bool { return len(r.routes()) == 0 })
}
