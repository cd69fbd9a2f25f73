// Package bgptest is a BGP router for tests: a GoBGP server on loopback
// that stands for the upstream router, passive towards one balancer.
package bgptest

import (
	"context"
	"net"
	"strings"
	"testing"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/types/known/anypb"
)

// Router is the test router (AS 65000) on 127.0.0.1:Port.
type Router struct {
	t    testing.TB
	Srv  *server.BgpServer
	Port int
	peer string
}

// FreePort is a TCP port free on 127.0.0.1 now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// New starts a router listening on 127.0.0.1 (a free port) with a passive
// session to the balancer at peer (AS peerASN), hold time 9 s; it stops
// when the test ends.
func New(t testing.TB, peer string, peerASN uint32) *Router {
	return NewOn(t, "127.0.0.1", peer, peerASN)
}

// NewOn is New listening on listen (e.g. "::1" for IPv6 sessions).
func NewOn(t testing.TB, listen, peer string, peerASN uint32) *Router {
	t.Helper()
	port := FreePort(t)
	ctx := context.Background()
	s := server.NewBgpServer(server.LoggerOption(quiet{}))
	go s.Serve()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: 65000, RouterId: "127.0.0.1", ListenPort: int32(port), ListenAddresses: []string{listen},
	}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.StopBgp(context.Background(), &api.StopBgpRequest{}); s.Stop() })
	if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: peer, PeerAsn: peerASN},
		Transport: &api.Transport{PassiveMode: true},
		AfiSafis:  afiSafis(peer),
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 9, KeepaliveInterval: 3}},
	}}); err != nil {
		t.Fatal(err)
	}
	return &Router{t: t, Srv: s, Port: port, peer: peer}
}

// Route is a route the router learnt from the balancer.
type Route struct {
	NextHop     string
	Communities []uint32
}

// Routes are the IPv4 routes learnt from the balancer, by prefix.
func (r *Router) Routes() map[string]Route { return r.routes(api.Family_AFI_IP) }

// Routes6 are the IPv6 routes learnt from the balancer, by prefix.
func (r *Router) Routes6() map[string]Route { return r.routes(api.Family_AFI_IP6) }

func (r *Router) routes(afi api.Family_Afi) map[string]Route {
	out := map[string]Route{}
	fam := &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST}
	err := r.Srv.ListPath(context.Background(), &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: fam}, func(d *api.Destination) {
		for _, p := range d.Paths {
			if p.NeighborIp != r.peer {
				continue
			}
			var rt Route
			for _, a := range p.Pattrs {
				m, err := a.UnmarshalNew()
				if err != nil {
					continue
				}
				switch v := m.(type) {
				case *api.CommunitiesAttribute:
					rt.Communities = v.Communities
				case *api.NextHopAttribute:
					rt.NextHop = v.NextHop
				case *api.MpReachNLRIAttribute:
					if len(v.NextHops) > 0 {
						rt.NextHop = v.NextHops[0]
					}
				}
			}
			out[d.Prefix] = rt
		}
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// Announce makes the router send prefix (IPv4, "203.0.113.0/24") to the
// balancer.
func (r *Router) Announce(prefix string, bits uint32) {
	r.t.Helper()
	nlri, _ := anypb.New(&api.IPAddressPrefix{Prefix: prefix, PrefixLen: bits})
	origin, _ := anypb.New(&api.OriginAttribute{Origin: 0})
	nh, _ := anypb.New(&api.NextHopAttribute{NextHop: "127.0.0.1"})
	fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if _, err := r.Srv.AddPath(context.Background(), &api.AddPathRequest{Path: &api.Path{Family: fam, Nlri: nlri, Pattrs: []*anypb.Any{origin, nh}}}); err != nil {
		r.t.Fatal(err)
	}
}

// quiet discards GoBGP's log.
type quiet struct{}

func (quiet) Panic(string, gobgplog.Fields) {}
func (quiet) Fatal(string, gobgplog.Fields) {}
func (quiet) Error(string, gobgplog.Fields) {}
func (quiet) Warn(string, gobgplog.Fields)  {}
func (quiet) Info(string, gobgplog.Fields)  {}
func (quiet) Debug(string, gobgplog.Fields) {}
func (quiet) SetLevel(gobgplog.LogLevel)    {}
func (quiet) GetLevel() gobgplog.LogLevel   { return gobgplog.PanicLevel }

// afiSafis is the address family of a session to peer: IPv6 unicast for
// an IPv6 peer, IPv4 unicast otherwise.
func afiSafis(peer string) []*api.AfiSafi {
	afi := api.Family_AFI_IP
	if strings.Contains(peer, ":") {
		afi = api.Family_AFI_IP6
	}
	return []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: afi, Safi: api.Family_SAFI_UNICAST}, Enabled: true}}}
}
