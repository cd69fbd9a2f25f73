package wire

import "dsrlb/conf"

// ServiceOf is service s as the control process sends it to the data plane
// (and as the data plane boots from it).
func ServiceOf(s *conf.Service) Service {
	return Service{
		Name: s.Name, VIP: s.VIP, Proto: uint8(s.Protocol), Port: s.Port, Method: s.Method.String(),
		SourceIP: s.Hash == conf.HashSourceIP, TableSize: s.TableSize, DSCP: s.DSCP, GUEPort: s.GUEPort,
	}
}

// BackendOf is real server b of s on the wire, with the weight and state
// the sender gives it.
func BackendOf(s *conf.Service, b *conf.Backend, weight uint32, state string) Backend {
	w := Backend{Service: s.Name, Addr: b.Address, Weight: weight, State: state}
	if b.Method != 0 {
		w.Method = b.Method.String()
	}
	return w
}

// BootModel is the state a data plane boots with, before any control
// process commits one: the configuration file's services with every real
// server up at its configured weight (weight 0: inhibited, draining).
func BootModel(c *conf.Config) Model {
	var out Model
	for i := range c.Services {
		s := &c.Services[i]
		m := ServiceModel{Service: ServiceOf(s)}
		for j := range s.Backends {
			b := &s.Backends[j]
			st := StateUp
			if b.Weight == 0 {
				st = StateInhibited
			}
			m.Backends = append(m.Backends, BackendOf(s, b, b.Weight, st))
		}
		out = append(out, m)
	}
	return out
}
