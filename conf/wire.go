package conf

import "dsrlb/ctrl/proto"

// Wire is s as the control process sends it to the data plane (and as the
// data plane boots from it).
func (s *Service) Wire() proto.Service {
	return proto.Service{
		Name: s.Name, VIP: s.VIP, Proto: uint8(s.Protocol), Port: s.Port, Method: s.Method.String(),
		SourceIP: s.Hash == HashSourceIP, TableSize: s.TableSize, DSCP: s.DSCP, GUEPort: s.GUEPort,
	}
}

// WireBackend is real server b of s on the wire, with the weight and state
// the sender gives it.
func (s *Service) WireBackend(b *Backend, weight uint32, state string) proto.Backend {
	w := proto.Backend{Service: s.Name, Addr: b.Address, Weight: weight, State: state}
	if b.Method != 0 {
		w.Method = b.Method.String()
	}
	return w
}
