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
// TargetKey(service, address). startUp(key, service) is the initial state
// of each; probe maps a real server's address to the address its check
// probes (nil: the address itself; tests point it at loopback).
func Targets(c *conf.Config, startUp func(key string, s *conf.Service) bool, probe func(netip.Addr) netip.Addr) []health.Target {
	var out []health.Target
	for i := range c.Services {
		s := &c.Services[i]
		for _, b := range s.Backends {
			if b.Check == nil {
				continue
			}
			key := TargetKey(s.Name, b.Address)
			addr := b.Address
			if probe != nil {
				addr = probe(addr)
			}
			out = append(out, health.Target{Key: key, Addr: addr, Config: HealthConfig(b.Check, startUp(key, s))})
		}
	}
	return out
}
