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

// assign returns the ports for configuration c, derived from old. The
// configuration's validation guarantees the range is large enough; a real
// server that finds no port gets none (and its probes are not steered).
func (old probePorts) assign(c *conf.Config) probePorts {
	lo, hi := c.Ctrl.DSRProbePorts[0], c.Ctrl.DSRProbePorts[1]
	want := map[string]bool{}
	var keys []string
	for i := range c.Services {
		s := &c.Services[i]
		if s.DSRCheck == nil {
			continue
		}
		for _, b := range s.Backends {
			k := TargetKey(s.Name, b.Address)
			want[k] = true
			keys = append(keys, k)
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

// probes lists the DSR path probes of service s for the data plane, in
// configuration order; every real server is probed, whatever its health.
func (pp probePorts) probes(s *conf.Service) []wire.Probe {
	if s.DSRCheck == nil {
		return nil
	}
	var out []wire.Probe
	for j := range s.Backends {
		b := &s.Backends[j]
		if port, ok := pp[TargetKey(s.Name, b.Address)]; ok {
			out = append(out, wire.ProbeOf(s, b, port))
		}
	}
	return out
}
