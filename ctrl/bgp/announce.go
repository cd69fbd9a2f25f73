// Package bgp is dsrlb-ctrl's BGP side: which VIPs a balancer announces
// to its routers (Announcer, a state machine driven by the daemon's view
// of the services and the data plane) and the BGP speaker that announces
// them (Speaker, GoBGP embedded).
package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// Input is what the announcements depend on, sampled at Now.
type Input struct {
	Now time.Time
	// Dataplane is "" while the data plane is fit to receive the VIPs'
	// traffic (mapped, its process alive, its heartbeat fresh, and a
	// state of this control process applied), else why not.
	Dataplane string
	// Services are the services with bgp = true.
	Services []Service
	// Stopping: a clean stop has begun (drain, then withdraw).
	Stopping bool
}

// Service is one announced service's state.
type Service struct {
	Name  string
	VIP   netip.Addr
	Up    bool // quorum held and a real server healthy
	Sorry bool // the sorry server stands in
}

// Prefix is the announcement state of one VIP.
type Prefix struct {
	Prefix   netip.Prefix `json:"prefix"`
	Services []string     `json:"services"` // the services of the VIP, sorted
	Announce bool         `json:"announced"`
	// Graceful: announced with GRACEFUL_SHUTDOWN while draining.
	Graceful bool      `json:"graceful,omitempty"`
	Reason   string    `json:"reason"`
	Since    time.Time `json:"since"` // of the last change of Announce
	// Announcements and Withdrawals count the changes.
	Announcements uint64 `json:"announcements_total"`
	Withdrawals   uint64 `json:"withdrawals_total"`
}

// Announcer decides, for every VIP of the services announced by BGP,
// whether it is announced, with a reason for the operator. A VIP is
// announced while one of its services is up (or its sorry server stands
// in, with announceSorry) and the data plane is fit; on a clean stop
// every announced VIP stays announced with the GRACEFUL_SHUTDOWN
// community for the drain delay, then everything is withdrawn.
type Announcer struct {
	announceSorry bool
	drainDelay    time.Duration
	prefixes      map[netip.Prefix]*Prefix
	drainStart    time.Time // zero until Stopping
}

// NewAnnouncer returns an Announcer with nothing announced.
func NewAnnouncer(announceSorry bool, drainDelay time.Duration) *Announcer {
	return &Announcer{announceSorry: announceSorry, drainDelay: drainDelay, prefixes: map[netip.Prefix]*Prefix{}}
}

// HostPrefix is the /32 or /128 of a VIP.
func HostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// Update applies in and returns the prefixes whose announcement changed
// (announced, withdrawn, graceful or not), or that were removed (Announce
// false, no services).
func (a *Announcer) Update(in Input) []Prefix {
	if in.Stopping && a.drainStart.IsZero() {
		a.drainStart = in.Now
	}
	byVIP := map[netip.Prefix][]Service{}
	for _, s := range in.Services {
		p := HostPrefix(s.VIP)
		byVIP[p] = append(byVIP[p], s)
	}
	var changed []Prefix
	for p, cur := range a.prefixes {
		if _, ok := byVIP[p]; !ok {
			delete(a.prefixes, p)
			if cur.Announce {
				cur.Announce, cur.Graceful, cur.Reason, cur.Services, cur.Since = false, false, "no service announces it any more", nil, in.Now
				cur.Withdrawals++
				changed = append(changed, *cur)
			}
		}
	}
	for p, svcs := range byVIP {
		cur := a.prefixes[p]
		if cur == nil {
			cur = &Prefix{Prefix: p, Since: in.Now}
			a.prefixes[p] = cur
		}
		var names []string
		for _, s := range svcs {
			names = append(names, s.Name)
		}
		sort.Strings(names)
		cur.Services = names
		announce, graceful, reason := a.decide(in, cur, svcs)
		if announce != cur.Announce || graceful != cur.Graceful {
			if announce != cur.Announce {
				cur.Since = in.Now
				if announce {
					cur.Announcements++
				} else {
					cur.Withdrawals++
				}
			}
			cur.Announce, cur.Graceful, cur.Reason = announce, graceful, reason
			changed = append(changed, *cur)
			continue
		}
		cur.Reason = reason
	}
	slices.SortFunc(changed, func(x, y Prefix) int { return x.Prefix.Addr().Compare(y.Prefix.Addr()) })
	return changed
}

// decide is the rule for one VIP.
func (a *Announcer) decide(in Input, cur *Prefix, svcs []Service) (announce, graceful bool, reason string) {
	announce, reason = a.serving(in, svcs)
	if a.drainStart.IsZero() || !announce {
		return announce, false, reason
	}
	left := a.drainDelay - in.Now.Sub(a.drainStart)
	switch {
	case !cur.Announce:
		return false, false, "stopping"
	case left <= 0:
		return false, false, "stopped: drained for " + a.drainDelay.String()
	default:
		return true, true, fmt.Sprintf("draining with GRACEFUL_SHUTDOWN, withdrawn in %s", left.Round(time.Millisecond))
	}
}

// serving is the rule without a stop: the data plane fit and a service
// up (or its sorry server, with announce_sorry).
func (a *Announcer) serving(in Input, svcs []Service) (bool, string) {
	if in.Dataplane != "" {
		return false, "data plane: " + in.Dataplane
	}
	var up, sorry, down []string
	for _, s := range svcs {
		switch {
		case s.Up:
			up = append(up, s.Name)
		case s.Sorry:
			sorry = append(sorry, s.Name)
		default:
			down = append(down, s.Name)
		}
	}
	sort.Strings(up)
	sort.Strings(sorry)
	sort.Strings(down)
	switch {
	case len(up) > 0:
		return true, "service " + strings.Join(up, ", ") + " up"
	case len(sorry) > 0 && a.announceSorry:
		return true, "sorry server of " + strings.Join(sorry, ", ") + " stands in (announce_sorry)"
	case len(sorry) > 0:
		return false, "service " + strings.Join(sorry, ", ") + " down, its sorry server stands in (announce_sorry off)"
	default:
		return false, "service " + strings.Join(down, ", ") + " down"
	}
}

// Drained reports whether a clean stop has drained: every prefix is
// withdrawn and the drain delay has passed.
func (a *Announcer) Drained(now time.Time) bool {
	if a.drainStart.IsZero() || now.Sub(a.drainStart) < a.drainDelay {
		return false
	}
	for _, p := range a.prefixes {
		if p.Announce {
			return false
		}
	}
	return true
}

// Draining reports whether a clean stop has begun.
func (a *Announcer) Draining() bool { return !a.drainStart.IsZero() }

// Prefixes is every VIP's state, by address.
func (a *Announcer) Prefixes() []Prefix {
	out := make([]Prefix, 0, len(a.prefixes))
	for _, p := range a.prefixes {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(x, y Prefix) int { return x.Prefix.Addr().Compare(y.Prefix.Addr()) })
	return out
}

// Announced is the prefixes announced, with whether gracefully.
func (a *Announcer) Announced() map[netip.Prefix]bool {
	out := map[netip.Prefix]bool{}
	for p, st := range a.prefixes {
		if st.Announce {
			out[p] = st.Graceful
		}
	}
	return out
}
