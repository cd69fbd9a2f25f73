package ctrl

import (
	"net/netip"

	"dsrlb/conf"
	"dsrlb/ctrl/health"
)

// Checker builds the health checker of a configured check.
func Checker(c *conf.Check) health.Checker {
	switch c.Type {
	case conf.CheckTCP:
		return health.TCP{Port: c.Port}
	case conf.CheckHTTP, conf.CheckHTTPS:
		return health.HTTP{
			Port:               c.Port,
			Path:               c.Path,
			TLS:                c.Type == conf.CheckHTTPS,
			Host:               c.Host,
			ExpectStatus:       c.Status,
			ExpectBody:         c.Body,
			InsecureSkipVerify: c.Type == conf.CheckHTTPS && !c.TLSVerify,
		}
	case conf.CheckICMP:
		return health.ICMP{}
	case conf.CheckUDP:
		return health.UDP{Port: c.Port, Payload: []byte(c.Payload), ExpectReply: c.ExpectReply}
	case conf.CheckScript:
		return health.Script{Path: c.Command[0], Args: c.Command[1:]}
	}
	return nil
}

// HealthConfig is the health.Config of a configured check; startUp is the
// state of a new target before its first probe.
func HealthConfig(c *conf.Check, startUp bool) health.Config {
	return health.Config{
		Checker:  Checker(c),
		Interval: c.Interval,
		Timeout:  c.Timeout,
		Rise:     c.Rise,
		Fall:     c.Fall,
		Jitter:   c.Jitter,
		StartUp:  startUp,
	}
}

// Targets lists one health target per checked real server of c, keyed
// TargetKey(service, address), and one per real server of a service with
// a DSR path check, keyed DSRTargetKey, whose probes leave from the
// balancer's own address and the source port ports gives the real server
// (one without a port is not probed). startUp(key, service) is the
// initial state of each; probe maps a real server's address to the
// address its check probes, and the VIP and the own address of DSR path
// checks likewise (nil: the addresses themselves; tests point them at
// loopback).
func Targets(c *conf.Config, startUp func(key string, s *conf.Service) bool, probe func(netip.Addr) netip.Addr, ports map[string]uint16) []health.Target {
	if probe == nil {
		probe = func(a netip.Addr) netip.Addr { return a }
	}
	var out []health.Target
	for i := range c.Services {
		s := &c.Services[i]
		for _, b := range s.Backends {
			if b.Check != nil {
				key := TargetKey(s.Name, b.Address)
				out = append(out, health.Target{Key: key, Addr: probe(b.Address), Config: HealthConfig(b.Check, startUp(key, s))})
			}
			port, ok := ports[TargetKey(s.Name, b.Address)]
			if s.DSRCheck == nil || !ok {
				continue
			}
			key := DSRTargetKey(s.Name, b.Address)
			hc := HealthConfig(s.DSRCheck, startUp(key, s))
			hc.Checker = dsrChecker(c, s, port, probe, hc.Checker)
			out = append(out, health.Target{Key: key, Addr: b.Address, Config: hc})
		}
	}
	return out
}
