package ctrl

import (
	"net/netip"

	"dsrlb/conf"
	"dsrlb/conf/wire"
)

// DSRTargetKey is the key of the DSR path check of real server addr of
// service svc: "SERVICE/ADDR/dsr".
func DSRTargetKey(svc string, addr netip.Addr) string {
	return TargetKey(svc, addr) + "/dsr"
}

// probePorts gives each real server with a DSR path check its source port
// from [ctrl] dsr_probe_ports, by TargetKey. A real server keeps its port
// across reloads while it stays in its service and the range still holds
// the port, so that a probe under way during a reload still reaches the
// real server it names; a new one takes the lowest free port.
type probePorts map[string]uint16

// assign returns the ports for configuration c, derived from old: first
// for the real servers with a DSR path check (the configuration's
// validation guarantees the range holds them), then, while ports are left,
// for the other real servers of TCP services on one port, which dsrlbctl
// doctor probes on demand. Without the exception path nothing is probed.
// A real server that finds no port gets none (and is not probed).
func (old probePorts) assign(c *conf.Config) probePorts {
	lo, hi := c.Ctrl.DSRProbePorts[0], c.Ctrl.DSRProbePorts[1]
	want := map[string]bool{}
	var keys []string
	for _, checked := range []bool{true, false} {
		for i := range c.Services {
			s := &c.Services[i]
			if (s.DSRCheck != nil) != checked || !probeable(c, s) {
				continue
			}
			for _, b := range s.Backends {
				k := TargetKey(s.Name, b.Address)
				want[k] = true
				keys = append(keys, k)
			}
		}
	}
	out := probePorts{}
	used := map[uint16]bool{}
	for k, p := range old {
		if want[k] && p >= lo && p <= hi {
			out[k] = p
			used[p] = true
		}
	}
	next := uint32(lo)
	for _, k := range keys {
		if _, ok := out[k]; ok {
			continue
		}
		for next <= uint32(hi) && used[uint16(next)] {
			next++
		}
		if next > uint32(hi) {
			break
		}
		out[k] = uint16(next)
		used[uint16(next)] = true
	}
	return out
}

// probeable reports whether the DSR path of service s can be probed: a
// TCP service with a port to probe (its own, or its DSR path check's),
// and the exception path the probes leave by.
func probeable(c *conf.Config, s *conf.Service) bool {
	return c.Dataplane.TAP != "" && s.Protocol == conf.ProtoTCP && (s.Port != 0 || s.DSRCheck != nil)
}

// probes lists the DSR path probes of service s for the data plane, in
// configuration order; every real server with a port is probed, whatever
// its health.
func (pp probePorts) probes(s *conf.Service) []wire.Probe {
	var out []wire.Probe
	for j := range s.Backends {
		b := &s.Backends[j]
		if port, ok := pp[TargetKey(s.Name, b.Address)]; ok {
			out = append(out, wire.ProbeOf(s, b, port))
		}
	}
	return out
}
