package ctrl

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"

	"dsrlb/conf"
)

// Fingerprints of services' Maglev tables, so that an operator can see
// that every balancer of a VIP (ECMP behind BGP, or VRRP peers) would
// send a flow to the same real server. A Maglev table depends only on the
// set of (real server, weight) pairs and its size (package maglev's
// determinism, pinned by its tests), and the scheduler and hash mode say
// which fields of a packet pick its entry: the fingerprint is a hash of
// exactly these, so two balancers agree exactly when their fingerprints
// do. The order of the real servers in the file does not change it; a
// weight, a real server more or less, or a health change does. (The
// control process computes it from what it gives the data plane, without
// building the table: the layering keeps the data plane's packages out
// of it.)

// weighted is a real server with the weight its table entries get.
type weighted struct {
	addr   netip.Addr
	weight uint32
}

// fingerprint returns the fingerprint of service s's table over
// backends: 16 hex digits of FNV-1a over the canonical input ("-" when no
// real server has a weight above zero: no table).
func fingerprint(s *conf.Service, backends []weighted) string {
	if slices.IndexFunc(backends, func(b weighted) bool { return b.weight > 0 }) < 0 {
		return "-"
	}
	h := fnv.New64a()
	h.Write([]byte(fpKey(s, backends)))
	return fmt.Sprintf("%016x", h.Sum64())
}

// fpKey is the canonical input: the table's version, scheduler, hash
// mode, size and the sorted pairs of a weight above zero (a real server
// of weight 0 owns no entry).
func fpKey(s *conf.Service, backends []weighted) string {
	parts := make([]string, 0, len(backends))
	for _, b := range backends {
		if b.weight > 0 {
			parts = append(parts, fmt.Sprintf("%s/%d", b.addr, b.weight))
		}
	}
	slices.Sort(parts)
	return fmt.Sprintf("maglev-v1|%s|%s|%d|%s", s.Scheduler, s.Hash, s.TableSize, strings.Join(parts, ","))
}

// configured is the table a service's configuration gives with every
// real server healthy (configured weights).
func configured(s *conf.Service) []weighted {
	out := make([]weighted, 0, len(s.Backends))
	for _, b := range s.Backends {
		out = append(out, weighted{b.Address, b.Weight})
	}
	return out
}

// effective is the table of a plan's service: what the data plane is
// sent (health, drains and priority groups applied).
func effective(sp *ServicePlan) []weighted {
	out := make([]weighted, 0, len(sp.Backends))
	for _, b := range sp.Backends {
		out = append(out, weighted{b.Addr, b.Weight})
	}
	return out
}

// warnTableChanges logs the services shared with other balancers (BGP,
// or a VIP of a VRRP instance) whose table the new configuration changes:
// the other balancers must load the same change, or a flow that moves
// between them changes real server. A change of order only is not one.
func (d *Daemon) warnTableChanges(old, c *conf.Config) {
	prev := map[string]string{}
	for i := range old.Services {
		s := &old.Services[i]
		prev[s.Name] = fingerprint(s, configured(s))
	}
	for i := range c.Services {
		s := &c.Services[i]
		was, ok := prev[s.Name]
		if !ok || (!s.BGP && c.VRRPOf(s.VIP) == nil) {
			continue
		}
		if now := fingerprint(s, configured(s)); now != was {
			d.log.Warn("this configuration changes the service's table: load the same change on every balancer of its VIP, or flows moving between balancers change real server",
				"service", s.Name, "vip", s.VIP, "config_fingerprint", was, "new_config_fingerprint", now)
		}
	}
}
