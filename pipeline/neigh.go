package pipeline

import (
	"net/netip"
	"slices"
	"time"

	"dsrlb/pipeline/header"
)

// Resolver keeps the MAC addresses of real servers fresh. It runs on the
// data plane's main goroutine: workers hand it what they learn from ARP
// packets (Learned, through each worker's ring), and it says which
// addresses to ask for next. It is not safe for concurrent use.
//
// An address is asked for every retry interval until it answers, then again
// every refresh interval; an answer not renewed within expiry makes the
// address unresolved again, so scheduling skips that real server.
type Resolver struct {
	refresh, expiry, retry time.Duration
	entries                map[netip.Addr]*neighEntry
}

type neighEntry struct {
	n         Neighbor
	resolved  bool
	static    bool      // configured: never asked for, never expires
	confirmed time.Time // last answer
	asked     time.Time // last request
}

// NewResolver makes a resolver. retry is how often an unresolved address
// is asked for: the smaller of refresh and one second.
func NewResolver(refresh, expiry time.Duration) *Resolver {
	retry := min(refresh, time.Second)
	return &Resolver{refresh: refresh, expiry: expiry, retry: retry, entries: map[netip.Addr]*neighEntry{}}
}

// Track sets the addresses to keep resolved; others are forgotten. It
// reports whether a resolved address was dropped.
func (r *Resolver) Track(ips []netip.Addr) (changed bool) {
	want := map[netip.Addr]bool{}
	for _, ip := range ips {
		want[ip] = true
		if r.entries[ip] == nil {
			r.entries[ip] = &neighEntry{}
		}
	}
	for ip, e := range r.entries {
		if !want[ip] && !e.static {
			changed = changed || e.resolved
			delete(r.entries, ip)
		}
	}
	return changed
}

// SetStatic makes ip a permanent neighbour (like "ip neigh ... nud
// permanent"): it is never asked for, never expires and ARP does not change
// it.
func (r *Resolver) SetStatic(ip netip.Addr, n Neighbor) {
	r.entries[ip] = &neighEntry{n: n, resolved: true, static: true}
}

// Learn records an ARP answer. It reports whether forwarding must change:
// the address was unresolved, or its MAC or port moved.
func (r *Resolver) Learn(l Learned, now time.Time) (changed bool) {
	e := r.entries[l.IP]
	if e == nil || e.static {
		return false
	}
	n := Neighbor{MAC: l.MAC, Port: l.Port}
	changed = !e.resolved || e.n != n
	e.n = n
	e.resolved = true
	e.confirmed = now
	return changed
}

// Expire forgets answers older than the expiry. It appends the addresses
// that became unresolved to out, in order, and returns it.
func (r *Resolver) Expire(now time.Time, out []netip.Addr) []netip.Addr {
	start := len(out)
	for ip, e := range r.entries {
		if e.resolved && !e.static && now.Sub(e.confirmed) >= r.expiry {
			e.resolved = false
			out = append(out, ip)
		}
	}
	slices.SortFunc(out[start:], netip.Addr.Compare)
	return out
}

// Request is an ARP request the main goroutine should send.
type Request struct {
	IP netip.Addr
	// Unicast to MAC on Port when refreshing a known neighbour; broadcast
	// on every port when the address is unresolved.
	Unicast bool
	MAC     header.MAC
	Port    uint8
}

// Due appends the requests to send now, in address order, and marks them
// asked.
func (r *Resolver) Due(now time.Time, out []Request) []Request {
	start := len(out)
	for ip, e := range r.entries {
		switch {
		case e.static:
			continue
		case !e.resolved && now.Sub(e.asked) >= r.retry:
			out = append(out, Request{IP: ip})
		case e.resolved && now.Sub(e.confirmed) >= r.refresh && now.Sub(e.asked) >= r.retry:
			out = append(out, Request{IP: ip, Unicast: true, MAC: e.n.MAC, Port: e.n.Port})
		default:
			continue
		}
		e.asked = now
	}
	slices.SortFunc(out[start:], func(a, b Request) int { return a.IP.Compare(b.IP) })
	return out
}

// Lookup returns the resolved neighbour of ip; it is a NeighborLookup.
func (r *Resolver) Lookup(ip netip.Addr) (Neighbor, bool) {
	e := r.entries[ip]
	if e == nil || !e.resolved {
		return Neighbor{}, false
	}
	return e.n, true
}

// NeighborState is one tracked address for status output.
type NeighborState struct {
	IP        netip.Addr
	Resolved  bool
	MAC       header.MAC
	Port      uint8
	Static    bool
	Confirmed time.Time
}

// State lists the tracked addresses in order.
func (r *Resolver) State() []NeighborState {
	out := make([]NeighborState, 0, len(r.entries))
	for ip, e := range r.entries {
		out = append(out, NeighborState{IP: ip, Resolved: e.resolved, MAC: e.n.MAC, Port: e.n.Port, Static: e.static, Confirmed: e.confirmed})
	}
	slices.SortFunc(out, func(a, b NeighborState) int { return a.IP.Compare(b.IP) })
	return out
}
