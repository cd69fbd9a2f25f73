package wire

import (
	"net/netip"
	"slices"
	"time"

	"dsrlb/conf"
)

// ServiceOf is service s as the control process sends it to the data plane
// (and as the data plane boots from it).
// c is the configuration s belongs to (for its VRRP instance).
func ServiceOf(c *conf.Config, s *conf.Service) Service {
	w := Service{
		Name: s.Name, VIP: s.VIP, Proto: uint8(s.Protocol), Port: s.Port, Method: s.Method.String(),
		SourceIP:  s.Hash == conf.HashSourceIP || s.Scheduler == conf.SchedSH,
		TableSize: s.TableSize, DSCP: s.DSCP, GUEPort: s.GUEPort,
		VRRP: GroupID(c, s.VIP),
	}
	if s.Scheduler != conf.SchedMaglev {
		w.Scheduler = s.Scheduler.String()
	}
	if s.PersistenceTimeout > 0 {
		w.PersistTimeout = uint32(s.PersistenceTimeout / time.Second)
		w.PersistPrefix = uint8(s.PersistenceGranularity)
		if w.PersistPrefix == 0 { // a hand-made Config: the whole address
			w.PersistPrefix = uint8(s.VIP.BitLen())
		}
	}
	return w
}

// GroupID is the data plane's number of the VRRP instance that carries
// vip: its position among [[vrrp]] plus one; 0 when none does.
func GroupID(c *conf.Config, vip netip.Addr) uint8 {
	for i := range c.VRRP {
		if slices.Contains(c.VRRP[i].VIPs, vip) {
			return uint8(i + 1)
		}
	}
	return 0
}

// GroupOf is VRRP instance i of c (0-based) as the data plane knows it.
func GroupOf(c *conf.Config, i int) VRRPGroup {
	r := &c.VRRP[i]
	return VRRPGroup{
		ID: uint8(i + 1), Name: r.Name, DownMS: ms(r.MasterDownInterval()),
		GARPRepeat: uint32(r.GARPRepeat), GARPDelayMS: ms(r.GARPDelay), GARPRefreshMS: ms(r.GARPRefresh),
	}
}

// ms is d in whole milliseconds, rounded up.
func ms(d time.Duration) uint32 { return uint32((d + time.Millisecond - 1) / time.Millisecond) }

// MS is ms for the senders of VRRPState.
func MS(d time.Duration) uint32 { return ms(d) }

// BackendOf is real server b of s on the wire, with the weight and state
// the sender gives it.
func BackendOf(s *conf.Service, b *conf.Backend, weight uint32, state string) Backend {
	w := Backend{Service: s.Name, Addr: b.Address, Weight: weight, State: state}
	if b.Method != 0 {
		w.Method = b.Method.String()
	}
	return w
}

// ProbeOf is the DSR path probe of real server b of s from source port
// port.
func ProbeOf(s *conf.Service, b *conf.Backend, port uint16) Probe {
	p := Probe{Service: s.Name, Addr: b.Address, Port: port}
	if b.Method != 0 {
		p.Method = b.Method.String()
	}
	return p
}

// BootModel is the state a data plane boots with, before any control
// process commits one: the configuration file's services with every real
// server healthy. Those of the highest priority group are up at their
// configured weight; those of lower groups are standby (weight 0); weight
// 0 is inhibited (draining).
func BootModel(c *conf.Config) Model {
	var out Model
	for i := range c.Services {
		s := &c.Services[i]
		m := ServiceModel{Service: ServiceOf(c, s)}
		active, _ := s.ActivePriority(func(int) bool { return true })
		for j := range s.Backends {
			b := &s.Backends[j]
			st, w := StateUp, b.Weight
			switch {
			case b.Weight == 0:
				st = StateInhibited
			case b.Priority != active:
				st, w = StateStandby, 0
			}
			m.Backends = append(m.Backends, BackendOf(s, b, w, st))
		}
		out.Services = append(out.Services, m)
	}
	// Until a control process says otherwise, this balancer is master of
	// no group: two balancers booting together must not both answer.
	for i := range c.VRRP {
		out.Groups = append(out.Groups, GroupOf(c, i))
	}
	return out
}
