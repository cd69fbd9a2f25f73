package pipeline

import "net/netip"

// Route sends traffic for Prefix through Gateway; a Route without a
// gateway marks Prefix as on-link.
type Route struct {
	Prefix  netip.Prefix
	Gateway netip.Addr
}

// NextHop is the address whose MAC a packet to a leaves with: a itself
// when it is on-link (inside the balancer's own prefix, or inside a route
// without gateway), else the gateway of the longest matching route, else
// the default gateway. ok is false when a is unreachable.
func (c *Config) NextHop(a netip.Addr) (hop netip.Addr, ok bool) {
	if (c.Own4.IsValid() && c.Own4.Masked().Contains(a)) || (c.Own6.IsValid() && c.Own6.Masked().Contains(a)) {
		return a, true
	}
	best := -1
	for _, r := range c.Routes {
		if r.Prefix.Contains(a) && r.Prefix.Bits() > best {
			best = r.Prefix.Bits()
			hop = r.Gateway
			if !hop.IsValid() {
				hop = a
			}
		}
	}
	if best >= 0 {
		return hop, true
	}
	if gw := c.Gateway; a.Is4() && gw.IsValid() {
		return gw, true
	}
	if gw := c.Gateway6; !a.Is4() && gw.IsValid() {
		return gw, true
	}
	return netip.Addr{}, false
}

// NextHops lists the distinct next hops of every real server and every
// probed one, in configuration order: the addresses the resolver must keep
// resolved.
func (c *Config) NextHops() []netip.Addr {
	seen := map[netip.Addr]bool{}
	var out []netip.Addr
	for _, s := range c.Services {
		for _, b := range s.Backends {
			if h, ok := c.NextHop(b.Addr); ok && !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
		for _, p := range s.Probes {
			if h, ok := c.NextHop(p.Addr); ok && !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out
}
