package keepalived

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"regexp"
	"slices"
	"strings"
)

// service is one [[service]] to write, with its check and real servers.
type service struct {
	t        table
	check    *table
	backends []*table
	checks   []*table // per backend; nil = none
}

// vsDef is a virtual_server block, read once: a virtual_server_group
// makes one service of it per address and port.
type vsDef struct {
	n        *Node
	protocol string
	protoSrc string
	keys     []entry // the service's keys after name, vip, protocol and port
	fwd      fwd
	reals    []*realServer
	sorry    *Node // sorry_server, for its port
	guePort  int64 // the service's gue_port; 0 = not written
}

// realServer is one converted real_server.
type realServer struct {
	n      *Node
	addr   netip.Addr
	port   int64 // -1: not given
	keys   []entry
	check  *checkSpec // nil: not checked
	portRS *Node      // where the port was given, for the report
}

// target is one address and port a virtual_server stands for.
type target struct {
	addr netip.Addr
	port int64
	n    *Node // the virtual_server, or its group's entry
}

// virtualServer converts `virtual_server IP [PORT]` and `virtual_server
// group NAME` blocks; `virtual_server fwmark N` has no dsrlb form.
func (c *converter) virtualServer(n *Node) {
	var targets []target
	switch n.Arg(0) {
	case "fwmark":
		c.rep.omit(n, "fwmark %s: dsrlb classifies packets by VIP, protocol and port and has no firewall marks; write a virtual_server IP PORT per VIP (block not converted)", n.Arg(1))
		return
	case "group":
		g, ok := c.groups[n.Arg(1)]
		if !ok {
			c.rep.omit(n, "no virtual_server_group %q (block not converted)", n.Arg(1))
			return
		}
		targets = c.groupTargets(g)
		if len(targets) == 0 {
			c.rep.omit(n, "virtual_server_group %s has no address to convert (block not converted)", n.Arg(1))
			return
		}
	default:
		a, err := parseIP(n.Arg(0))
		if err != nil {
			c.rep.omit(n, "%v (block not converted)", err)
			return
		}
		var port int64
		if len(n.Args) >= 2 {
			if port, err = parseUint(n.Arg(1), 0, 65535); err != nil {
				c.rep.omit(n, "port: %v (block not converted)", err)
				return
			}
		}
		if len(n.Args) > 2 {
			c.rep.omit(n, "extra arguments %q ignored", strings.Join(n.Args[2:], " "))
		}
		targets = []target{{a, port, n}}
	}
	def, ok := c.vsBody(n)
	if !ok {
		return
	}
	for _, t := range targets {
		c.instantiate(def, t)
	}
}

// groupTargets lists the addresses and ports of a virtual_server_group.
func (c *converter) groupTargets(g *Node) []target {
	var out []target
	for _, k := range g.Children {
		if k.Block {
			c.rep.fail(k, "unexpected block %q in virtual_server_group", k.Key)
			continue
		}
		if k.Key == "fwmark" {
			c.rep.omit(k, "dsrlb has no firewall marks: write the VIPs the mark stands for (entry not converted)")
			continue
		}
		addrs, err := parseRange(k.Key)
		if err != nil {
			c.rep.omitAt(k.Pos, k.Key, "%v (entry not converted)", err)
			continue
		}
		var port int64
		if len(k.Args) >= 1 {
			if port, err = parseUint(k.Arg(0), 0, 65535); err != nil {
				c.rep.omitAt(k.Pos, k.Key, "port: %v (entry not converted)", err)
				continue
			}
		}
		if len(k.Args) > 1 {
			c.rep.omitAt(k.Pos, k.Key, "extra arguments %q ignored", strings.Join(k.Args[1:], " "))
		}
		if len(out)+len(addrs) > maxGroup {
			c.rep.omitAt(k.Pos, k.Key, "virtual_server_group %s has more than %d addresses (each a service): the rest are not converted", g.Arg(0), maxGroup)
			break
		}
		for _, a := range addrs {
			out = append(out, target{a, port, k})
		}
	}
	return out
}

// maxGroup bounds the services one virtual_server_group makes.
const maxGroup = 4096

// src is the comment naming where a value comes from.
func src(n *Node) string { return n.Pos.String() + ": " + n.Text() }

// timing is the checker settings a virtual server passes to its real
// servers and a real server to its checkers.
type timing struct {
	delayLoop, connectTimeout, retry, delayBeforeRetry, warmup, alpha, host *Node
}

// set records a timing keyword; it reports whether k is one.
func (t *timing) set(k *Node) bool {
	switch k.Key {
	case "delay_loop":
		t.delayLoop = k
	case "connect_timeout":
		t.connectTimeout = k
	case "retry", "nb_get_retry":
		t.retry = k
	case "delay_before_retry":
		t.delayBeforeRetry = k
	case "warmup":
		t.warmup = k
	case "alpha":
		t.alpha = k
	case "virtualhost":
		t.host = k
	default:
		return false
	}
	return true
}

// under returns t with the unset keywords taken from outer.
func (t timing) under(outer timing) timing {
	pick := func(a, b *Node) *Node {
		if a != nil {
			return a
		}
		return b
	}
	return timing{
		delayLoop:        pick(t.delayLoop, outer.delayLoop),
		connectTimeout:   pick(t.connectTimeout, outer.connectTimeout),
		retry:            pick(t.retry, outer.retry),
		delayBeforeRetry: pick(t.delayBeforeRetry, outer.delayBeforeRetry),
		warmup:           pick(t.warmup, outer.warmup),
		alpha:            pick(t.alpha, outer.alpha),
		host:             pick(t.host, outer.host),
	}
}

// Keywords without an effect on what dsrlb does, converted to nothing.
var vsIgnored = map[string]string{
	"hashed":      "obsolete IPVS flag",
	"snmp_name":   "names SNMP data, which dsrlb does not have",
	"ip_family":   "for fwmark services only",
	"flag-1":      "sh-fallback and mh-fallback: dsrlb never schedules to a real server out of scheduling",
	"sh-fallback": "dsrlb never schedules to a real server out of scheduling",
	"mh-fallback": "dsrlb never schedules to a real server out of scheduling",
}

// vsBody reads a virtual_server's settings and real servers.
func (c *converter) vsBody(n *Node) (*vsDef, bool) {
	d := &vsDef{n: n, fwd: fwd{}}
	var (
		sched, portFlag, proto, pto, pgr, sorry, sorryFwd, quorum, hyst, inhibit *Node
		tuns, reals                                                              []*Node
		vsTiming                                                                 timing
	)
	for _, k := range n.Children {
		if k.Block && k.Key != "real_server" {
			c.rep.fail(k, "unexpected block %q in virtual_server", k.Key)
			continue
		}
		if _, ok := vsIgnored[k.Key]; ok || vsTiming.set(k) {
			continue
		}
		switch k.Key {
		case "lvs_sched", "lb_algo":
			sched = k
		case "flag-2", "sh-port", "mh-port":
			portFlag = k
		case "flag-3":
			c.rep.omit(k, "no dsrlb scheduler has a third flag")
		case "ops":
			c.rep.omit(k, "dsrlb has no one-packet scheduling: a UDP flow is tracked like a TCP one (conntrack_udp_timeout)")
		case "lvs_method", "lb_kind":
			if f, ok := c.lvsMethod(k); ok {
				d.fwd = f
			}
		case "tun_type", "tun_port":
			tuns = append(tuns, k)
		case "persistence_engine":
			c.rep.omit(k, "dsrlb has no persistence engines: it sees layer 4 only")
		case "persistence_timeout":
			pto = k
		case "persistence_granularity":
			pgr = k
		case "protocol":
			proto = k
		case "ha_suspend":
			c.rep.omit(k, "dsrlb checks the real servers whether or not the VIP is up")
		case "smtp_alert":
			c.rep.omit(k, "dsrlb sends no e-mail: alert on its metrics")
		case "omega":
			c.rep.omit(k, "dsrlb runs no quorum or real server commands, at shutdown or otherwise")
		case "quorum":
			quorum = k
		case "hysteresis":
			hyst = k
		case "quorum_up", "quorum_down":
			c.rep.omit(k, "dsrlb runs no command when the quorum changes: it logs it (quorum lost, quorum restored) and exports dsrlb_service_quorum_up")
		case "sorry_server":
			sorry = k
		case "sorry_server_inhibit":
			c.rep.omit(k, "dsrlb's sorry server is not a real server: it is neither checked nor inhibited")
		case "sorry_server_lvs_method", "sorry_server_lb_kind":
			sorryFwd = k
		case "inhibit_on_failure":
			inhibit = k
		case "real_server":
			reals = append(reals, k)
		default:
			c.unknown(k, "virtual_server")
		}
	}
	for _, k := range tuns {
		c.tunType(k, &d.fwd)
	}

	// protocol: keepalived 2.2 defaults to UDP (the kernel's choice for 0).
	d.protocol, d.protoSrc = "udp", "protocol not set: keepalived's default is UDP"
	if proto != nil {
		switch strings.ToUpper(proto.Arg(0)) {
		case "TCP", "UDP":
			d.protocol, d.protoSrc = strings.ToLower(proto.Arg(0)), src(proto)
		case "SCTP":
			c.rep.omit(proto, "dsrlb balances TCP and UDP only (block not converted)")
			return nil, false
		default:
			c.rep.omit(proto, "%q is not TCP or UDP: UDP, keepalived's default, used", proto.Arg(0))
		}
	}

	// The service's method is the virtual server's; real servers that
	// differ say so.
	method := d.fwd.method
	if method == "" {
		method = "l2dsr"
	}
	d.keys = append(d.keys, entry{key: "method", value: tomlString(method), comment: d.fwd.source()})
	if method == "gue" && d.fwd.guePort != 0 {
		d.guePort = d.fwd.guePort
		d.keys = append(d.keys, entry{key: "gue_port", value: tomlInt(d.fwd.guePort), comment: src(d.fwd.node)})
	}
	d.keys = append(d.keys, c.scheduler(sched, portFlag)...)
	d.keys = append(d.keys, c.persistence(pto, pgr)...)

	// Real servers.
	for _, k := range reals {
		if rs := c.realServer(k, d, vsTiming, method); rs != nil {
			d.reals = append(d.reals, rs)
		}
	}
	if d.fwd.isNAT() {
		nat := false
		for _, k := range reals {
			if !hasKey(k, "lvs_method", "lb_kind") {
				nat = true
			}
		}
		if nat || len(reals) == 0 {
			c.natReport(d.fwd, n)
		}
	}

	d.keys = append(d.keys, c.inhibit(inhibit, d.reals)...)
	if sorry != nil {
		d.keys = append(d.keys, c.sorryServer(sorry, sorryFwd, d, method)...)
	} else if sorryFwd != nil {
		c.rep.omit(sorryFwd, "without a sorry_server")
	}
	for _, k := range []*Node{quorum, hyst} {
		if k == nil {
			continue
		}
		if v, err := parseUint(k.Arg(0), 0, 1<<32-1); err != nil {
			c.rep.omit(k, "%v", err)
		} else {
			d.keys = append(d.keys, entry{key: k.Key, value: tomlInt(v), comment: src(k)})
		}
	}
	d.keys = append(d.keys, c.alpha(vsTiming.alpha, d.reals)...)
	return d, true
}

func hasKey(n *Node, keys ...string) bool {
	return slices.ContainsFunc(n.Children, func(k *Node) bool { return slices.Contains(keys, k.Key) })
}

// instantiate writes the service of def for one address and port.
func (c *converter) instantiate(def *vsDef, t target) {
	s := &service{}
	s.t.header = "[[service]]"
	s.t.comment = src(def.n)
	s.t.add("name", tomlString(c.serviceName(t.addr, t.port, def.protocol)), "")
	s.t.add("vip", tomlString(t.addr.String()), src(t.n))
	s.t.add("protocol", tomlString(def.protocol), def.protoSrc)
	s.t.add("port", tomlInt(t.port), src(t.n))
	s.t.entries = append(s.t.entries, def.keys...)
	c.vips[t.addr] = true

	if def.sorry != nil && t.port != 0 {
		if sp, _ := parseUint(def.sorry.Arg(1), 0, 65535); sp != t.port {
			c.rep.omit(def.sorry, "port %d differs from the virtual server's port %d: DSR cannot change ports, the sorry server receives port %d", sp, t.port, t.port)
		}
	}
	checks := make([][]entry, len(def.reals))
	shared := len(def.reals) > 0
	for i, rs := range def.reals {
		if rs.port >= 0 && t.port != 0 && rs.port != t.port {
			c.rep.omit(rs.n, "port %d differs from the virtual server's port %d: DSR cannot change ports, the real server receives port %d", rs.port, t.port, t.port)
		}
		if rs.check != nil {
			checks[i] = rs.check.entries(c, t.port)
		}
		if checks[i] == nil || !sameEntries(checks[i], checks[0]) {
			shared = false
		}
	}
	if shared {
		s.check = &table{header: "[service.check]", entries: checks[0]}
	}
	for i, rs := range def.reals {
		b := &table{header: "[[service.backend]]", entries: rs.keys}
		s.backends = append(s.backends, b)
		var bc *table
		if !shared && checks[i] != nil {
			bc = &table{header: "[service.backend.check]", entries: checks[i]}
		}
		s.checks = append(s.checks, bc)
	}
	c.services = append(c.services, s)
}

// sameEntries compares keys and values, not comments.
func sameEntries(a, b []entry) bool {
	return slices.EqualFunc(a, b, func(x, y entry) bool { return x.key == y.key && x.value == y.value && x.off == y.off })
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,32}$`)

// serviceName derives a name, as conf's rule allows (1-32 of a-z A-Z 0-9
// _ . -): "vs-192.0.2.100-80", "-udp" added for UDP; an IPv6 address has
// its colons as dots; a name too long ends in a hash of the whole; a
// name already used gets a number.
func (c *converter) serviceName(a netip.Addr, port int64, proto string) string {
	name := fmt.Sprintf("vs-%s-%d", strings.ReplaceAll(a.String(), ":", "."), port)
	if proto == "udp" {
		name += "-udp"
	}
	if len(name) > 32 {
		h := fnv.New32a()
		h.Write([]byte(name))
		name = fmt.Sprintf("%s-%08x", name[:23], h.Sum32())
	}
	base := name
	for i := 2; c.names[name]; i++ {
		suffix := fmt.Sprintf("-%d", i)
		name = base[:min(len(base), 32-len(suffix))] + suffix
	}
	if c.names == nil {
		c.names = map[string]bool{}
	}
	c.names[name] = true
	return name
}
