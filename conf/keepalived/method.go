package keepalived

import "strings"

// fwd is a keepalived forwarding method (lvs_method) as dsrlb names it.
type fwd struct {
	method  string // "l2dsr", "ipip", "gre", "gue"; "" for NAT, which is not DSR
	guePort int64  // gue only; 0 = not given
	node    *Node  // where it was set; nil = keepalived's default (NAT)
}

func (f fwd) isNAT() bool { return f.method == "" }

// source is the comment of a converted method.
func (f fwd) source() string {
	if f.node == nil {
		return "lvs_method not set"
	}
	return src(f.node)
}

// lvsMethod reads `lvs_method NAT|DR` or `lvs_method TUN [type
// {ipip|gue port NUM|gre} [nocsum|csum|remcsum]]` (keepalived 2.2; lb_kind
// is the old name). DSR needs DR or TUN: NAT sends the replies back
// through the balancer.
func (c *converter) lvsMethod(n *Node) (fwd, bool) {
	f := fwd{node: n}
	switch strings.ToUpper(n.Arg(0)) {
	case "DR":
		f.method = "l2dsr"
		if len(n.Args) > 1 {
			c.rep.omit(n, "extra arguments %q ignored", strings.Join(n.Args[1:], " "))
		}
		return f, true
	case "NAT":
		return f, true
	case "TUN":
		f.method = "ipip"
	default:
		c.rep.omit(n, "%q is not NAT, DR or TUN", n.Arg(0))
		return f, false
	}
	args := n.Args[1:]
	if len(args) >= 2 && args[0] == "type" {
		switch args[1] {
		case "ipip", "gre":
			f.method = args[1]
			args = args[2:]
		case "gue":
			f.method = "gue"
			args = args[2:]
			if len(args) >= 2 && args[0] == "port" {
				p, err := parseUint(args[1], 1, 65535)
				if err != nil {
					c.rep.omit(n, "gue port: %v", err)
				} else {
					f.guePort = p
				}
				args = args[2:]
			} else {
				c.rep.omit(n, "type gue needs a port (keepalived requires one): gue_port is a real server's, or dsrlb's default %d", 6080)
			}
		default:
			c.rep.omit(n, "tunnel type %q is not ipip, gre or gue; ipip used", args[1])
			args = args[2:]
		}
	}
	for _, a := range args {
		switch a {
		case "nocsum":
			// dsrlb's GUE over IPv4 carries no UDP checksum: the same.
		case "csum", "remcsum":
			c.rep.omit(n, "%s: dsrlb sends GUE over IPv4 without a UDP checksum (over IPv6 with one)", a)
		default:
			c.rep.omit(n, "unknown tunnel option %q", a)
		}
	}
	return f, true
}

// tunType applies the tun_type and tun_port keywords, which ipvsadm has
// (--tun-type, --tun-port) but keepalived 2.2 does not: it logs "Unknown
// keyword" and tunnels with ipip. They are converted as written (the
// operator meant them) and reported, since the running keepalived did not
// do that.
func (c *converter) tunType(n *Node, f *fwd) {
	if !c.noBlock(n) {
		return
	}
	switch n.Key {
	case "tun_type":
		switch n.Arg(0) {
		case "ipip", "gre", "gue":
			f.method = n.Arg(0)
			f.node = n
			c.rep.omit(n, "not a keepalived 2.2 keyword (keepalived ignores it and tunnels with ipip; it writes `lvs_method TUN type %s`): converted as written", n.Arg(0))
		default:
			c.rep.omit(n, "%q is not ipip, gre or gue", n.Arg(0))
		}
	case "tun_port":
		p, err := parseUint(n.Arg(0), 1, 65535)
		if err != nil {
			c.rep.omit(n, "%v", err)
			return
		}
		f.guePort = p
		c.rep.omit(n, "not a keepalived 2.2 keyword (it writes `lvs_method TUN type gue port %d`): converted as written", p)
	}
}

// natReport reports a real server forwarded with NAT, at the keyword that
// chose NAT (or at vs when keepalived's default did).
func (c *converter) natReport(f fwd, vs *Node) {
	const why = "is not direct server return (the replies go back through the balancer): written as l2dsr; the real servers need the VIP on loopback and their default route towards the clients (dsrlbctl realserver -method l2dsr)"
	if f.node == nil {
		c.rep.omitAt(vs.Pos, "lvs_method", "not set: keepalived's default, NAT, "+why)
		return
	}
	c.rep.omit(f.node, "NAT "+why)
}
