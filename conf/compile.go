package conf

import (
	"net/netip"

	"dsrlb/pipeline"
)

// Compile turns a validated configuration into the data plane's static
// forwarding configuration. Port MACs are filled in by the data plane once
// its ports are open.
func Compile(c *Config) *pipeline.Config {
	pc := &pipeline.Config{Own4: c.Dataplane.Address}
	for _, s := range c.Services {
		sc := pipeline.ServiceConfig{
			Name:     s.Name,
			VIP:      s.VIP,
			Proto:    uint8(s.Protocol),
			Port:     s.Port,
			Method:   pipeline.MethodL2DSR,
			SourceIP: s.Hash == HashSourceIP,
			Size:     s.TableSize,
		}
		for _, b := range s.Backends {
			sc.Backends = append(sc.Backends, pipeline.BackendConfig{Addr: b.Address, Weight: b.Weight})
		}
		pc.Services = append(pc.Services, sc)
	}
	return pc
}

// BackendAddrs lists every distinct real server address of c, in
// configuration order.
func (c *Config) BackendAddrs() []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, s := range c.Services {
		for _, b := range s.Backends {
			if !seen[b.Address] {
				seen[b.Address] = true
				out = append(out, b.Address)
			}
		}
	}
	return out
}
