package keepalived

import "slices"

// Real server keywords without an effect on what dsrlb does.
var rsIgnored = map[string]bool{"snmp_name": true}

// Checker blocks of a real server.
var checkerKinds = []string{"HTTP_GET", "SSL_GET", "TCP_CHECK", "SMTP_CHECK", "DNS_CHECK", "MISC_CHECK", "BFD_CHECK", "UDP_CHECK", "PING_CHECK", "FILE_CHECK"}

// realServer converts `real_server IP [PORT] { ... }`. method is the
// service's method, which a real server forwarding otherwise overrides.
func (c *converter) realServer(n *Node, d *vsDef, vsTiming timing, svcMethod string) *realServer {
	a, err := parseIP(n.Arg(0))
	if err != nil {
		c.rep.omit(n, "%v (real server not converted)", err)
		return nil
	}
	rs := &realServer{n: n, addr: a, port: -1}
	if len(n.Args) >= 2 {
		if rs.port, err = parseUint(n.Arg(1), 0, 65535); err != nil {
			c.rep.omit(n, "port: %v", err)
			rs.port = -1
		}
	}
	rs.keys = append(rs.keys, entry{key: "address", value: tomlString(a.String()), comment: src(n)})
	weight := entry{key: "weight", value: "1", comment: "weight not set: keepalived's default"}
	f := d.fwd
	var (
		tuns     []*Node
		checkers []*Node
		rsTiming timing
		ownFwd   bool
	)
	for _, k := range n.Children {
		if k.Block && !slices.Contains(checkerKinds, k.Key) {
			c.rep.fail(k, "unexpected block %q in real_server", k.Key)
			continue
		}
		if rsIgnored[k.Key] || rsTiming.set(k) {
			continue
		}
		switch k.Key {
		case "weight":
			w, err := parseUint(k.Arg(0), 0, 1<<31-1)
			switch {
			case err != nil:
				c.rep.omit(k, "%v (keepalived's default 1 used)", err)
			case w > 65535:
				c.rep.omit(k, "%d is above dsrlb's largest weight, 65535: written as 65535", w)
				weight = entry{key: "weight", value: "65535", comment: src(k)}
			default:
				weight = entry{key: "weight", value: tomlInt(w), comment: src(k)}
			}
		case "lvs_method", "lb_kind":
			if g, ok := c.lvsMethod(k); ok {
				f, ownFwd = g, true
			}
		case "tun_type", "tun_port":
			tuns = append(tuns, k)
		case "notify_up", "notify_down":
			c.rep.omit(k, "dsrlb runs no command when a real server changes state: it logs it (real server up, real server down) and exports dsrlb_backend_up")
		case "uthreshold", "lthreshold":
			c.rep.omit(k, "dsrlb has no connection limits per real server")
		case "smtp_alert":
			c.rep.omit(k, "dsrlb sends no e-mail: alert on its metrics")
		case "inhibit_on_failure":
			// Read by inhibit, per service.
		default:
			if slices.Contains(checkerKinds, k.Key) {
				checkers = append(checkers, k)
				continue
			}
			c.unknown(k, "real_server")
		}
	}
	for _, k := range tuns {
		c.tunType(k, &f)
		ownFwd = true
	}
	rs.keys = append(rs.keys, weight)
	if f.isNAT() {
		if ownFwd {
			c.natReport(f, n)
		}
		f.method = "l2dsr"
	}
	if f.method != svcMethod {
		rs.keys = append(rs.keys, entry{key: "method", value: tomlString(f.method), comment: f.source()})
	}
	if f.method == "gue" && f.guePort != 0 && ownFwd {
		switch d.guePort {
		case 0:
			d.guePort = f.guePort
			d.keys = append(d.keys, entry{key: "gue_port", value: tomlInt(f.guePort), comment: src(f.node)})
		case f.guePort:
		default:
			c.rep.omit(f.node, "gue port %d: dsrlb's gue_port is per service (%d)", f.guePort, d.guePort)
		}
	}

	// keepalived runs every checker of a real server; dsrlb one check: the
	// first that converts.
	t := rsTiming.under(vsTiming)
	for _, k := range checkers {
		if rs.check != nil {
			c.rep.omit(k, "dsrlb runs one check per real server: the %s at %s is converted", rs.check.n.Key, rs.check.n.Pos)
			continue
		}
		rs.check = c.checker(k, rs, t)
	}
	return rs
}

// inhibit converts inhibit_on_failure, which keepalived sets per virtual
// server or per real server and dsrlb per service.
func (c *converter) inhibit(vs *Node, reals []*realServer) []entry {
	eff := func(rs *realServer) (bool, *Node) {
		for _, k := range rs.n.Children {
			if k.Key == "inhibit_on_failure" {
				v, err := parseBool(k, 0)
				if err != nil {
					c.rep.omit(k, "%v", err)
					continue
				}
				return v, k
			}
		}
		if vs != nil {
			return true, vs
		}
		return false, nil
	}
	var on, off []*Node
	var onNodes []*realServer
	for _, rs := range reals {
		v, k := eff(rs)
		if v {
			on = append(on, k)
			onNodes = append(onNodes, rs)
		} else {
			off = append(off, rs.n)
		}
	}
	switch {
	case len(on) == 0:
		if vs != nil && len(reals) == 0 {
			return []entry{{key: "inhibit_on_failure", value: "true", comment: src(vs)}}
		}
		return nil
	case len(off) > 0:
		c.rep.omitAt(on[0].Pos, "inhibit_on_failure", "real servers disagree (%s inhibited, %s removed on failure) and dsrlb's inhibit_on_failure is per service: true for all, so that no failing real server loses its established flows", onNodes[0].addr, addrOf(off[0]))
	}
	return []entry{{key: "inhibit_on_failure", value: "true", comment: src(on[0])}}
}

func addrOf(rs *Node) string { return rs.Arg(0) }

// alpha converts alpha: keepalived's per virtual server, real server or
// checker, dsrlb's per service.
func (c *converter) alpha(vs *Node, reals []*realServer) []entry {
	var on, off []*realServer
	for _, rs := range reals {
		switch {
		case rs.check == nil:
		case rs.check.alpha != nil:
			on = append(on, rs)
		default:
			off = append(off, rs)
		}
	}
	if len(on) == 0 {
		if vs != nil && len(reals) == 0 {
			if v, _ := parseBool(vs, 0); v {
				return []entry{{key: "alpha", value: "true", comment: src(vs)}}
			}
		}
		return nil
	}
	first := on[0].check.alpha
	if len(off) > 0 {
		c.rep.omitAt(first.Pos, "alpha", "real servers disagree (%s starts down, %s up) and dsrlb's alpha is per service: true for all", on[0].addr, off[0].addr)
	}
	return []entry{{key: "alpha", value: "true", comment: src(first)}}
}

// sorryServer converts sorry_server IP [PORT]; dsrlb forwards to it with
// the service's method.
func (c *converter) sorryServer(k, fwdNode *Node, d *vsDef, method string) []entry {
	a, err := parseIP(k.Arg(0))
	if err != nil {
		c.rep.omit(k, "%v (not converted)", err)
		return nil
	}
	if len(k.Args) > 1 {
		if _, err := parseUint(k.Arg(1), 0, 65535); err != nil {
			c.rep.omit(k, "port: %v", err)
		} else {
			d.sorry = k
		}
	}
	if fwdNode != nil {
		if f, ok := c.lvsMethod(fwdNode); ok {
			m := f.method
			if m == "" {
				m = "NAT"
			}
			if m != method {
				c.rep.omit(fwdNode, "dsrlb forwards to the sorry server with the service's method, %s, not %s", method, m)
			}
		}
	}
	return []entry{{key: "sorry_server", value: tomlString(a.String()), comment: src(k)}}
}
