package ctrl

import (
	"net/netip"

	"dsrlb/conf"
	"dsrlb/conf/wire"
)

// StateRemoved is the state of a real server that is not sent to the data
// plane at all (down without inhibit_on_failure, or replaced by the sorry
// server): its flows move.
const StateRemoved = "removed"

// Health is the state of every checked real server, by target key
// (TargetKey, and DSRTargetKey for DSR path checks): true = up. Real
// servers without a health check are not in it; they always count as
// healthy. A checked real server missing from it counts as down; one with
// both checks is healthy only while both are up.
type Health map[string]bool

// TargetKey is the key of the health target of real server addr of
// service svc: "SERVICE/ADDR".
func TargetKey(svc string, addr netip.Addr) string {
	return svc + "/" + addr.String()
}

// QuorumState is each service's quorum state (true = up), carried from
// one evaluation to the next so that hysteresis works.
type QuorumState map[string]bool

// RealServer is the outcome of the policy for one configured real server.
type RealServer struct {
	Addr            netip.Addr
	Weight          uint32 // configured
	Checked         bool   // has a health check
	Healthy         bool   // up, or not checked
	Priority        uint8  // configured priority group
	EffectiveWeight uint32 // as sent; 0 unless up
	// State is wire.StateUp, wire.StateStandby (healthy, outside the
	// active priority group), wire.StateInhibited or StateRemoved.
	State string
}

// ServicePlan is the effective state of one service.
type ServicePlan struct {
	Service  wire.Service
	Backends []wire.Backend // what the data plane gets, in configuration order
	Real     []RealServer   // every configured real server, in configuration order

	Healthy       int    // healthy real servers
	HealthyWeight uint64 // sum of the configured weights of the healthy real servers, of every priority group
	Quorum        uint32
	Hysteresis    uint32
	QuorumUp      bool
	SorryServer   netip.Addr // invalid if none
	SorryActive   bool       // the sorry server stands in for the real servers

	// Capacity: a healthy real server has a weight above 0 (in any
	// priority group). ActivePriority is the priority group that gets
	// the new flows (conf.Service.ActivePriority), meaningful with
	// Capacity. PriorityGroups: the real servers are in more than one
	// group.
	Capacity       bool
	ActivePriority uint8
	PriorityGroups bool
}

// QuorumChange reports a service whose quorum state flipped.
type QuorumChange struct {
	Service       string
	Up            bool
	HealthyWeight uint64
	Quorum        uint32
	Hysteresis    uint32
	Sorry         bool // the sorry server takes over (Up false) or steps back (Up true)
}

// Plan is the effective state of every service, as computed by Evaluate.
type Plan struct {
	Services []ServicePlan
	Quorum   QuorumState // pass to the next Evaluate
	Changes  []QuorumChange
}

// Evaluate computes the effective forwarding state from the configuration
// and the health of the real servers. It is a pure function: prev is the
// quorum state of the previous evaluation (nil or missing services: no
// history) and is not modified.
//
// Per service:
//   - the healthy weight is the sum of the configured weights of the
//     healthy real servers, of every priority group;
//   - quorum, with hysteresis H (keepalived's semantics): without history
//     it is up when the healthy weight is at least quorum; an up quorum is
//     lost when the weight drops below quorum-H; a lost quorum comes back
//     when the weight reaches quorum+H;
//   - the active priority group (conf.Service.ActivePriority) is the
//     highest with at least priority_min healthy real servers of weight
//     above 0, else the highest with one; the service has capacity when
//     there is one;
//   - if the quorum is down, or the service has no capacity, and a sorry
//     server is configured, the sorry server is the only backend (weight
//     1, state "sorry");
//   - otherwise: a healthy real server of the active group is sent with
//     its weight (state "up"); a healthy one of another group with weight
//     0 as "standby" (it keeps its flows, gets no new ones); a healthy
//     one whose configured weight is 0 with weight 0 as "inhibited"
//     (draining); a down real server is sent with weight 0 as "inhibited"
//     with inhibit_on_failure, and is left out (its flows move) without.
//     With the quorum down and no sorry server, the healthy real servers
//     are sent all the same (the caller logs it).
func Evaluate(c *conf.Config, h Health, prev QuorumState) *Plan {
	p := &Plan{Quorum: make(QuorumState, len(c.Services))}
	for i := range c.Services {
		s := &c.Services[i]
		sp := ServicePlan{
			Service:        wire.ServiceOf(c, s),
			Quorum:         s.Quorum,
			Hysteresis:     s.Hysteresis,
			SorryServer:    s.SorryServer,
			PriorityGroups: s.PriorityGroups(),
		}
		for _, b := range s.Backends {
			r := RealServer{Addr: b.Address, Weight: b.Weight, Priority: b.Priority, Checked: b.Check != nil || s.DSRCheck != nil, Healthy: true}
			if b.Check != nil {
				r.Healthy = h[TargetKey(s.Name, b.Address)]
			}
			if s.DSRCheck != nil && !h[DSRTargetKey(s.Name, b.Address)] {
				r.Healthy = false
			}
			if r.Healthy {
				sp.Healthy++
				sp.HealthyWeight += uint64(b.Weight)
			}
			sp.Real = append(sp.Real, r)
		}
		sp.ActivePriority, sp.Capacity = s.ActivePriority(func(j int) bool { return sp.Real[j].Healthy })

		was, known := prev[s.Name]
		q, hy, w := int64(s.Quorum), int64(s.Hysteresis), int64(sp.HealthyWeight)
		switch {
		case !known:
			sp.QuorumUp = w >= q
		case was:
			sp.QuorumUp = w >= q-hy
		default:
			sp.QuorumUp = w >= q+hy
		}
		p.Quorum[s.Name] = sp.QuorumUp
		sp.SorryActive = s.SorryServer.IsValid() && (!sp.QuorumUp || !sp.Capacity)
		if known && was != sp.QuorumUp {
			p.Changes = append(p.Changes, QuorumChange{
				Service: s.Name, Up: sp.QuorumUp, HealthyWeight: sp.HealthyWeight,
				Quorum: s.Quorum, Hysteresis: s.Hysteresis, Sorry: s.SorryServer.IsValid(),
			})
		}

		for j := range sp.Real {
			r := &sp.Real[j]
			switch {
			case sp.SorryActive:
				r.State = StateRemoved
			case r.Healthy && r.Weight > 0 && r.Priority == sp.ActivePriority:
				r.State, r.EffectiveWeight = wire.StateUp, r.Weight
			case r.Healthy && r.Weight > 0:
				r.State = wire.StateStandby
			case r.Healthy || s.InhibitOnFailure:
				r.State = wire.StateInhibited
			default:
				r.State = StateRemoved
			}
			if r.State != StateRemoved {
				sp.Backends = append(sp.Backends, wire.BackendOf(s, &s.Backends[j], r.EffectiveWeight, r.State))
			}
		}
		if sp.SorryActive {
			sp.Backends = []wire.Backend{{Service: s.Name, Addr: s.SorryServer, Weight: 1, State: wire.StateSorry}}
		}
		p.Services = append(p.Services, sp)
	}
	return p
}

// Applied is the data plane's applied state as a Dump reports it.
type Applied struct {
	Services   map[string]wire.Service
	Backends   map[string][]wire.Backend // by service name
	Snapshot   uint64
	FromConfig bool // the data plane runs its boot configuration (no ctrl has committed)
}

// Seed returns the initial health of every checked real server of c, so
// that starting (or restarting) dsrlb-ctrl moves no flow:
//   - if the data plane still runs its boot configuration (a == nil or
//     a.FromConfig), the alpha rule decides: alpha = true starts down,
//     alpha = false starts up;
//   - otherwise a real server the data plane applies with state "up" or
//     "standby" (healthy, outside the active priority group) starts up,
//     and one it applies as "inhibited" (or not at all, e.g. while the
//     sorry server stands in) starts down.
func Seed(c *conf.Config, a *Applied) Health {
	h := Health{}
	for i := range c.Services {
		s := &c.Services[i]
		up := map[netip.Addr]bool{}
		if a != nil && !a.FromConfig {
			for _, b := range a.Backends[s.Name] {
				if b.State == wire.StateUp || b.State == wire.StateStandby {
					// Configured addresses are never IPv4-mapped; a data
					// plane that keeps IPv4 in 16 bytes may send them so.
					up[b.Addr.Unmap()] = true
				}
			}
		}
		for _, b := range s.Backends {
			st := !s.Alpha
			if a != nil && !a.FromConfig {
				st = up[b.Address]
			}
			if b.Check != nil {
				h[TargetKey(s.Name, b.Address)] = st
			}
			if s.DSRCheck != nil {
				h[DSRTargetKey(s.Name, b.Address)] = st
			}
		}
	}
	return h
}
