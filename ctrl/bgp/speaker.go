package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/types/known/anypb"

	"dsrlb/conf"
)

// Connection timers of every session: a balancer that lost a session
// tries again soon (GoBGP's defaults wait 120 s and 30 s).
const (
	connectRetry    = 5 // seconds
	idleHoldAfterRe = 5 // seconds
)

// Options configure a Speaker.
type Options struct {
	Config *conf.BGP
	Log    *slog.Logger
	// Changed gets a token (without blocking) when a session changes
	// state.
	Changed chan<- struct{}
	// ListenPort is GoBGP's listening port; 0 (production): none, the
	// balancer connects to its neighbours. Tests of a router use it.
	ListenPort int32
}

// Speaker runs the BGP sessions to the neighbours and announces the
// prefixes it is given. Routes the neighbours send are rejected on import
// (the balancer installs nothing it learns) and counted.
type Speaker struct {
	cfg     *conf.BGP
	log     *slog.Logger
	changed chan<- struct{}
	srv     *server.BgpServer
	listen  int32

	mu    sync.Mutex // guards peers (GoBGP's event goroutine writes them)
	peers map[netip.Addr]*PeerStatus

	// announced is what is in GoBGP's table (prefix -> graceful); only
	// Set, called by one goroutine, uses it.
	announced map[netip.Prefix]bool
}

// PeerStatus is one session's state for status, logs and metrics.
type PeerStatus struct {
	Address     netip.Addr `json:"address"`
	ASN         uint32     `json:"asn"`
	State       string     `json:"state"` // idle, connect, active, opensent, openconfirm, established
	Since       time.Time  `json:"since"` // of the last state change
	Transitions uint64     `json:"transitions"`
	// Established counts the sessions that came up; Drops the ones that
	// went down from established.
	Established uint64 `json:"established_total"`
	Drops       uint64 `json:"drops_total"`
	// RoutesReceived are the routes the router sent that are held (and
	// ignored) now; UpdatesReceived the UPDATE messages received.
	RoutesReceived  uint64 `json:"routes_received"`
	UpdatesReceived uint64 `json:"updates_received"`
	UpdatesSent     uint64 `json:"updates_sent"`
	// Advertised are the prefixes announced to the peer now.
	Advertised uint64 `json:"advertised"`
	HoldTime   uint64 `json:"hold_time_negotiated,omitempty"` // seconds
	LastError  string `json:"last_error,omitempty"`
}

// NewSpeaker prepares a speaker; Start runs it.
func NewSpeaker(opts Options) *Speaker {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Speaker{cfg: opts.Config, log: log, changed: opts.Changed, listen: opts.ListenPort,
		peers: map[netip.Addr]*PeerStatus{}, announced: map[netip.Prefix]bool{}}
	if s.listen == 0 {
		s.listen = -1
	}
	for _, n := range s.cfg.Neighbors {
		s.peers[n.Address] = &PeerStatus{Address: n.Address, ASN: n.ASN, State: "idle"}
	}
	return s
}

// Start starts GoBGP, its import policy and the sessions.
func (s *Speaker) Start(ctx context.Context) error {
	s.srv = server.NewBgpServer(server.LoggerOption(&logAdapter{s.log}))
	go s.srv.Serve()
	if err := s.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: s.cfg.ASN, RouterId: s.cfg.RouterID.String(), ListenPort: s.listen,
	}}); err != nil {
		s.srv.Stop()
		return fmt.Errorf("bgp: %w", err)
	}
	// Nothing learnt enters the table: a router's routes (internal or
	// external) are counted in its adj-RIB-in and go no further; the
	// balancer's own (local) routes pass.
	reject := func(name string, t api.Conditions_RouteType) *api.Statement {
		return &api.Statement{Name: name, Conditions: &api.Conditions{RouteType: t}, Actions: &api.Actions{RouteAction: api.RouteAction_REJECT}}
	}
	pol := &api.Policy{Name: "dsrlb-ignore-learnt", Statements: []*api.Statement{
		reject("dsrlb-ignore-ibgp", api.Conditions_ROUTE_TYPE_INTERNAL),
		reject("dsrlb-ignore-ebgp", api.Conditions_ROUTE_TYPE_EXTERNAL),
	}}
	err := s.srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: pol})
	if err == nil {
		err = s.srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
			Name: "global", Direction: api.PolicyDirection_IMPORT, Policies: []*api.Policy{{Name: pol.Name}}, DefaultAction: api.RouteAction_ACCEPT,
		}})
	}
	if err != nil {
		s.Stop(ctx)
		return fmt.Errorf("bgp: import policy: %w", err)
	}
	if err := s.srv.WatchEvent(ctx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, s.onPeerEvent); err != nil {
		s.Stop(ctx)
		return fmt.Errorf("bgp: %w", err)
	}
	for i := range s.cfg.Neighbors {
		if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: s.peerConf(&s.cfg.Neighbors[i])}); err != nil {
			s.Stop(ctx)
			return fmt.Errorf("bgp: neighbour %s: %w", s.cfg.Neighbors[i].Address, err)
		}
	}
	s.log.Info("BGP started", "asn", s.cfg.ASN, "router_id", s.cfg.RouterID, "neighbors", len(s.cfg.Neighbors))
	return nil
}

// peerConf is GoBGP's configuration of neighbour n.
func (s *Speaker) peerConf(n *conf.BGPNeighbor) *api.Peer {
	fam := familyOf(n.Address.Is6())
	local := s.cfg.NextHop
	if n.Address.Is6() {
		local = s.cfg.NextHop6
	}
	p := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: n.Address.String(), PeerAsn: n.ASN, AuthPassword: n.Password},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime: uint64(n.HoldTime / time.Second), KeepaliveInterval: uint64(n.Keepalive / time.Second),
			ConnectRetry: connectRetry, IdleHoldTimeAfterReset: idleHoldAfterRe,
		}},
		Transport: &api.Transport{LocalAddress: local.String(), RemotePort: uint32(n.Port)},
		AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}}},
	}
	if n.Multihop > 0 {
		p.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(n.Multihop)}
	}
	return p
}

func familyOf(v6 bool) *api.Family {
	if v6 {
		return &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
	}
	return &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
}

// Set makes the announced prefixes exactly want (prefix -> graceful):
// new ones and those whose graceful flag changed are (re-)announced, the
// others withdrawn. One goroutine calls it (the daemon's loop); it holds
// no lock while GoBGP works.
func (s *Speaker) Set(ctx context.Context, want map[netip.Prefix]bool) error {
	var errs []error
	for p := range s.announced {
		if _, ok := want[p]; !ok {
			if err := s.srv.DeletePath(ctx, &api.DeletePathRequest{Family: familyOf(p.Addr().Is6()), Path: s.path(p, false)}); err != nil {
				errs = append(errs, fmt.Errorf("withdraw %s: %w", p, err))
				continue
			}
			delete(s.announced, p)
		}
	}
	for p, graceful := range want {
		if g, ok := s.announced[p]; ok && g == graceful {
			continue
		}
		if _, err := s.srv.AddPath(ctx, &api.AddPathRequest{Path: s.path(p, graceful)}); err != nil {
			errs = append(errs, fmt.Errorf("announce %s: %w", p, err))
			continue
		}
		s.announced[p] = graceful
	}
	return errors.Join(errs...)
}

// path is the route of prefix p: next hop the balancer's own address of
// its family, the configured communities (and GRACEFUL_SHUTDOWN when
// graceful), LOCAL_PREF when configured (GoBGP sends it on iBGP sessions
// only).
func (s *Speaker) path(p netip.Prefix, graceful bool) *api.Path {
	fam := familyOf(p.Addr().Is6())
	nlri, _ := anypb.New(&api.IPAddressPrefix{Prefix: p.Addr().String(), PrefixLen: uint32(p.Bits())})
	origin, _ := anypb.New(&api.OriginAttribute{Origin: 0}) // IGP
	attrs := []*anypb.Any{origin}
	if p.Addr().Is6() {
		nh, _ := anypb.New(&api.MpReachNLRIAttribute{Family: fam, NextHops: []string{s.cfg.NextHop6.String()}, Nlris: []*anypb.Any{nlri}})
		attrs = append(attrs, nh)
	} else {
		nh, _ := anypb.New(&api.NextHopAttribute{NextHop: s.cfg.NextHop.String()})
		attrs = append(attrs, nh)
	}
	comms := slices.Clone(s.cfg.Communities)
	if graceful {
		comms = append(comms, conf.GracefulShutdown)
	}
	if len(comms) > 0 {
		c, _ := anypb.New(&api.CommunitiesAttribute{Communities: comms})
		attrs = append(attrs, c)
	}
	if s.cfg.HasLocalPref {
		lp, _ := anypb.New(&api.LocalPrefAttribute{LocalPref: s.cfg.LocalPref})
		attrs = append(attrs, lp)
	}
	return &api.Path{Family: fam, Nlri: nlri, Pattrs: attrs}
}

// Stop closes every session (a CEASE to each neighbour, which drops the
// balancer's routes there) and stops GoBGP.
func (s *Speaker) Stop(ctx context.Context) {
	if s.srv == nil {
		return
	}
	if err := s.srv.StopBgp(ctx, &api.StopBgpRequest{}); err != nil {
		s.log.Warn("BGP stop", "err", err)
	}
	s.srv.Stop()
	s.srv = nil
}

// onPeerEvent records a session's state change.
func (s *Speaker) onPeerEvent(r *api.WatchEventResponse) {
	pe := r.GetPeer()
	if pe == nil || pe.Type != api.WatchEventResponse_PeerEvent_STATE || pe.Peer == nil || pe.Peer.State == nil {
		return
	}
	st := pe.Peer.State
	addr, err := netip.ParseAddr(st.NeighborAddress)
	if err != nil {
		return
	}
	state := sessionState(st.SessionState)
	s.mu.Lock()
	ps := s.peers[addr.Unmap()]
	if ps == nil || ps.State == state {
		s.mu.Unlock()
		return
	}
	old := ps.State
	ps.State, ps.Since = state, time.Now()
	ps.Transitions++
	switch {
	case state == "established":
		ps.Established++
		ps.LastError = ""
	case old == "established":
		ps.Drops++
	}
	s.mu.Unlock()
	switch {
	case state == "established":
		s.log.Info("BGP session up", "peer", addr, "asn", ps.ASN)
	case old == "established":
		s.log.Warn("BGP session down: the router drops this balancer's routes", "peer", addr, "asn", ps.ASN, "state", state)
	default:
		s.log.Debug("BGP session state", "peer", addr, "from", old, "to", state)
	}
	if s.changed != nil {
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}
}

func sessionState(st api.PeerState_SessionState) string {
	switch st {
	case api.PeerState_IDLE:
		return "idle"
	case api.PeerState_CONNECT:
		return "connect"
	case api.PeerState_ACTIVE:
		return "active"
	case api.PeerState_OPENSENT:
		return "opensent"
	case api.PeerState_OPENCONFIRM:
		return "openconfirm"
	case api.PeerState_ESTABLISHED:
		return "established"
	}
	return "unknown"
}

// Peers is every session's state, with GoBGP's counters read now, in
// configuration order.
func (s *Speaker) Peers(ctx context.Context) []PeerStatus {
	type counts struct {
		received, accepted, advertised, updIn, updOut, hold uint64
	}
	got := map[netip.Addr]counts{}
	if s.srv != nil {
		_ = s.srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
			if p.Conf == nil {
				return
			}
			a, err := netip.ParseAddr(p.Conf.NeighborAddress)
			if err != nil {
				return
			}
			var c counts
			for _, af := range p.AfiSafis {
				if af.State != nil {
					c.received += af.State.Received
					c.accepted += af.State.Accepted
					c.advertised += af.State.Advertised
				}
			}
			if p.State != nil && p.State.Messages != nil {
				if m := p.State.Messages.Received; m != nil {
					c.updIn = m.Update
				}
				if m := p.State.Messages.Sent; m != nil {
					c.updOut = m.Update
				}
			}
			if p.Timers != nil && p.Timers.State != nil {
				c.hold = p.Timers.State.NegotiatedHoldTime
			}
			got[a.Unmap()] = c
		})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PeerStatus, 0, len(s.cfg.Neighbors))
	for _, n := range s.cfg.Neighbors {
		ps := *s.peers[n.Address]
		c := got[n.Address]
		ps.RoutesReceived, ps.Advertised, ps.UpdatesReceived, ps.UpdatesSent = c.received, c.advertised, c.updIn, c.updOut
		if ps.State == "established" {
			ps.HoldTime = c.hold
		}
		out = append(out, ps)
	}
	return out
}

// logAdapter sends GoBGP's log to slog: its errors and warnings as
// debug-level lines (sessions failing to connect are reported by state
// instead), at most.
type logAdapter struct{ log *slog.Logger }

func (l *logAdapter) attrs(f gobgplog.Fields) []any {
	out := make([]any, 0, 2*len(f))
	for k, v := range f {
		out = append(out, k, fmt.Sprint(v))
	}
	return out
}

func (l *logAdapter) Panic(msg string, f gobgplog.Fields) { l.log.Error("gobgp: "+msg, l.attrs(f)...) }
func (l *logAdapter) Fatal(msg string, f gobgplog.Fields) { l.log.Error("gobgp: "+msg, l.attrs(f)...) }
func (l *logAdapter) Error(msg string, f gobgplog.Fields) { l.log.Debug("gobgp: "+msg, l.attrs(f)...) }
func (l *logAdapter) Warn(msg string, f gobgplog.Fields)  { l.log.Debug("gobgp: "+msg, l.attrs(f)...) }
func (l *logAdapter) Info(msg string, f gobgplog.Fields)  { l.log.Debug("gobgp: "+msg, l.attrs(f)...) }
func (l *logAdapter) Debug(msg string, f gobgplog.Fields) {}
func (l *logAdapter) SetLevel(gobgplog.LogLevel)          {}
func (l *logAdapter) GetLevel() gobgplog.LogLevel         { return gobgplog.InfoLevel }
