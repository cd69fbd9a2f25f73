package keepalived

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// vrrp_instance keywords dsrlb has no equivalent for, with the reason.
var vrrpUnsupported = map[string]string{
	"virtual_ipaddress_excluded": "dsrlb has no excluded addresses: put the VIPs in vips once both balancers run dsrlb (a keepalived peer compares the advertised list)",
	"virtual_routes":             "dsrlb does not configure the host's routes",
	"virtual_rules":              "dsrlb does not configure the host's routing rules",
	"track_interface":            "dsrlb watches its own port, not kernel interfaces; it tracks its services (track_services)",
	"track_file":                 "dsrlb tracks its services' health (track_services), not files",
	"track_process":              "dsrlb tracks its services' health (track_services), not processes",
	"track_bfd":                  "dsrlb has no BFD; it tracks its services' health (track_services)",
	"track_src_ip":               "dsrlb's source address is its own (dataplane.address)",
	"notify_stop":                "dsrlb's notify gets STOP; it has no notify_stop",
	"notify_deleted":             "dsrlb has no notify_deleted",
	"notify_master_rx_lower_pri": "dsrlb has no notify_master_rx_lower_pri",
	"notify_priority_changes":    "dsrlb sends no FIFO notifications",
	"smtp_alert":                 "dsrlb sends no e-mail: alert on its metrics",
	"dont_track_primary":         "dsrlb watches its own port and data plane, not the kernel interface",
	"skip_check_adv_addr":        "dsrlb always compares the advertised addresses with its own",
	"strict_mode":                "dsrlb has no strict mode: it refuses authentication with version 3 and always checks adverts",
	"accept":                     "dsrlb forwards the VIPs' traffic whether or not it is master; the host does not hold the VIPs",
	"no_accept":                  "dsrlb forwards the VIPs' traffic whether or not it is master; the host does not hold the VIPs",
	"use_vmac":                   "dsrlb announces the VIPs with its port's MAC; it has no virtual MAC",
	"use_vmac_addr":              "dsrlb announces the VIPs with its port's MAC; it has no virtual MAC",
	"vmac_xmit_base":             "dsrlb has no virtual MAC",
	"use_ipvlan":                 "dsrlb has no ipvlan interfaces",
	"promote_secondaries":        "dsrlb does not configure the host's addresses",
	"lvs_sync_daemon_interface":  "dsrlb has no connection synchronisation: both balancers compute the same Maglev table",
	"kernel_rx_buf_size":         "dsrlb has no socket buffer setting",
	"unicast_ttl":                "dsrlb sends adverts with TTL 255, as the RFC requires",
	"unicast_fault_no_peer":      "dsrlb needs its peers listed to use unicast",
	"old_unicast_checksum":       "dsrlb has no pre-1.3.6 checksum (see v3_checksum)",
	"down_timer_adverts":         "dsrlb's master-down interval is the RFC's 3 adverts plus skew",
	"lower_prio_no_advert":       "dsrlb's master answers a lower advert at once, as RFC 9568 and keepalived do",
	"higher_prio_send_advert":    "dsrlb has no advert before stepping down",
	"linkbeat_use_polling":       "dsrlb watches its own port, not kernel interfaces",
	"mcast_dst_ip":               "dsrlb sends to the VRRP multicast group (224.0.0.18, ff02::12) or to unicast_peers",
	"vrf":                        "dsrlb runs VRRP on its exception path, in no VRF",
	"garp_master_refresh_repeat": "dsrlb's refresh bursts send garp_repeat announcements",
	"garp_lower_prio_delay":      "dsrlb has no announcements on a lower advert",
	"garp_lower_prio_repeat":     "dsrlb has no announcements on a lower advert",
	"garp_extra_if":              "dsrlb announces on its own port only",
	"garp_extra_if_vmac":         "dsrlb announces on its own port only",
	"debug":                      "dsrlb's log level is its own",
}

// vrrp_instance keywords without an effect in dsrlb.
var vrrpIgnored = map[string]bool{
	"preempt":           true, // the default
	"check_unicast_src": true, // dsrlb accepts unicast adverts from its peers only
	"native_ipv6":       true, // the VIPs decide the family
}

// vrrpInstance converts a vrrp_instance into a [[vrrp]].
func (c *converter) vrrpInstance(n *Node) {
	t := &table{header: "[[vrrp]]", comment: src(n)}
	name := safeName(n.Arg(0), "vrrp")
	if name != n.Arg(0) {
		c.rep.omit(n, "name %q: dsrlb names are 1-32 of a-z A-Z 0-9 _ . -; written as %q (notify commands get that name)", n.Arg(0), name)
	}
	t.add("name", tomlString(name), "")
	if c.instances == nil {
		c.instances = map[string]bool{}
	}
	c.instances[n.Arg(0)] = true

	var (
		state, iface, vrid, prio, advert, version, preemptDelay, unicastSrc, auth, v3sum *Node
		nopreempt, vipBlock, peerBlock                                                   *Node
		garp                                                                             = map[string]*Node{}
		notify                                                                           = map[string]*Node{}
		trackScript                                                                      *Node
	)
	blocks := []string{"virtual_ipaddress", "virtual_ipaddress_excluded", "virtual_routes", "virtual_rules", "authentication", "unicast_peer", "track_interface", "track_script", "track_file", "track_process", "track_bfd"}
	for _, k := range n.Children {
		if k.Block && !slices.Contains(blocks, k.Key) {
			c.rep.fail(k, "unexpected block %q in vrrp_instance", k.Key)
			continue
		}
		if why, ok := vrrpUnsupported[k.Key]; ok {
			c.rep.omit(k, "%s", why)
			continue
		}
		if vrrpIgnored[k.Key] {
			continue
		}
		switch k.Key {
		case "state":
			state = k
		case "interface":
			iface = k
		case "virtual_router_id":
			vrid = k
		case "priority":
			prio = k
		case "advert_int":
			advert = k
		case "version":
			version = k
		case "nopreempt":
			nopreempt = k
		case "preempt_delay":
			preemptDelay = k
		case "virtual_ipaddress":
			vipBlock = k
		case "unicast_peer":
			peerBlock = k
		case "unicast_src_ip", "mcast_src_ip":
			unicastSrc = k
		case "authentication":
			auth = k
		case "v3_checksum_as_v2":
			v3sum = k
		case "garp_master_delay", "garp_master_repeat", "garp_master_refresh":
			garp[k.Key] = k
		case "notify_master", "notify_backup", "notify_fault", "notify":
			notify[k.Key] = k // the last one counts, as in keepalived
		case "track_script":
			trackScript = k
		default:
			c.unknown(k, "vrrp_instance")
		}
	}

	c.vrrpInterface(iface)
	if vrid == nil {
		c.rep.omit(n, "no virtual_router_id (instance not converted)")
		return
	}
	if v, err := parseUint(vrid.Arg(0), 1, 255); err != nil {
		c.rep.omit(vrid, "%v (instance not converted)", err)
		return
	} else {
		t.add("vrid", tomlInt(v), src(vrid))
	}
	if prio != nil {
		if v, err := parseUint(prio.Arg(0), 1, 255); err != nil {
			c.rep.omit(prio, "%v (dsrlb's default 100 used)", err)
		} else {
			t.add("priority", tomlInt(v), src(prio))
		}
	}
	if state != nil {
		switch strings.ToUpper(state.Arg(0)) {
		case "MASTER", "BACKUP":
			t.add("state", tomlString(strings.ToLower(state.Arg(0))), src(state))
		default:
			c.rep.omit(state, "%q is not MASTER or BACKUP", state.Arg(0))
		}
	}

	vips := c.vrrpVIPs(vipBlock, n, iface)
	if len(vips) == 0 {
		c.rep.omit(n, "no VIP of a converted virtual server in virtual_ipaddress, and dsrlb's VRRP carries service VIPs only (instance not converted)")
		return
	}
	v6 := vips[0].Is6()

	ver, verSrc := int64(2), "version not set: keepalived's default 2 (global_defs vrrp_version)"
	if g := c.globals.vrrpVersion; g != nil {
		ver, verSrc = 0, src(g)
		if v, err := parseUint(g.Arg(0), 2, 3); err != nil {
			c.rep.omit(g, "%v", err)
			ver = 2
		} else {
			ver = v
		}
	}
	if version != nil {
		if v, err := parseUint(version.Arg(0), 2, 3); err != nil {
			c.rep.omit(version, "%v", err)
		} else {
			ver, verSrc = v, src(version)
		}
	}
	if v6 && ver == 2 {
		ver, verSrc = 3, "IPv6: keepalived always runs version 3"
	}

	interval, aSrc := time.Second, "advert_int not set: keepalived's default 1 s"
	if advert != nil {
		if d, err := parseTimer(advert.Arg(0)); err != nil || d == 0 {
			c.rep.omit(advert, "%q is not a positive number of seconds (keepalived's default 1 s used)", advert.Arg(0))
		} else {
			interval, aSrc = d, src(advert)
		}
	}
	interval = c.advertInterval(advert, interval, ver)
	t.add("advert_int", tomlString(goDuration(interval)), aSrc)
	t.add("version", tomlInt(ver), verSrc)
	if nopreempt != nil {
		t.add("preempt", "false", src(nopreempt))
	}
	if preemptDelay != nil && nopreempt != nil {
		c.rep.omit(preemptDelay, "keepalived ignores it with nopreempt (not converted)")
	} else if preemptDelay != nil {
		if d, err := parseTimer(preemptDelay.Arg(0)); err != nil || d > 1000*time.Second {
			c.rep.omit(preemptDelay, "%q is not 0..1000 seconds", preemptDelay.Arg(0))
		} else {
			t.add("preempt_delay", tomlString(goDuration(d)), src(preemptDelay))
		}
	}
	vs := make([]string, len(vips))
	for i, a := range vips {
		vs[i] = a.String()
	}
	t.add("vips", tomlStrings(vs), src(vipBlock))

	if peerBlock != nil {
		var peers []string
		for _, p := range peerBlock.Children {
			if p.Block {
				c.rep.fail(p, "unexpected block in unicast_peer")
				continue
			}
			a, err := parseIP(p.Key)
			if err != nil {
				c.rep.omitAt(p.Pos, p.Key, "%v (peer not converted)", err)
				continue
			}
			if len(p.Args) > 0 {
				c.rep.omitAt(p.Pos, p.Key, "%s: dsrlb accepts adverts with TTL 255 only, as the RFC requires", strings.Join(p.Args, " "))
			}
			peers = append(peers, a.String())
		}
		if len(peers) > 0 {
			t.add("unicast_peers", tomlStrings(peers), src(peerBlock))
		}
	}
	if unicastSrc != nil {
		c.vrrpSource(t, unicastSrc)
	}
	if auth != nil {
		c.vrrpAuth(t, auth, ver)
	}
	if v3sum != nil {
		if ver == 3 && !v6 {
			t.add("v3_checksum", tomlString("message-only"), src(v3sum))
		} else {
			c.rep.omit(v3sum, "applies to version 3 over IPv4 only")
		}
	}
	c.garp(t, garp)
	for _, key := range []string{"notify_master", "notify_backup", "notify_fault", "notify"} {
		if k := notify[key]; k != nil {
			if argv := c.notifyCommand(k); argv != nil {
				t.add(k.Key, tomlStrings(argv), src(k))
			}
		}
	}
	if g, ok := c.syncGroup[n.Arg(0)]; ok {
		t.add("sync_group", tomlString(safeName(g.Arg(0), "group")), src(g))
	}
	if trackScript != nil {
		var names []string
		for _, s := range c.services {
			for _, a := range vips {
				if s.t.entries[1].value == tomlString(a.String()) {
					names = append(names, strings.Trim(s.t.entries[0].value, `"`))
				}
			}
		}
		scripts := make([]string, 0, len(trackScript.Children))
		for _, k := range trackScript.Children {
			scripts = append(scripts, k.Key)
		}
		c.rep.omit(trackScript, "%s: dsrlb tracks its services' health instead of scripts (track_services, track_weight)", strings.Join(scripts, ", "))
		t.suggest("track_services", tomlStrings(names), "instead of "+src(trackScript)+": not converted")
	}
	c.vrrps = append(c.vrrps, t)
}

// vrrpInterface checks an instance's interface: dsrlb runs every VRRP
// instance on its first port.
func (c *converter) vrrpInterface(iface *Node) {
	if iface == nil {
		return
	}
	want := c.opt.Iface
	if want == "" || pciRE.MatchString(want) {
		if c.vrrpIface == nil {
			c.vrrpIface = iface
			return
		}
		want = c.vrrpIface.Arg(0)
	}
	if iface.Arg(0) != want {
		c.rep.omit(iface, "dsrlb runs every VRRP instance on its first port (%s), not on %s", want, iface.Arg(0))
	}
}

// vrrpVIPs reads virtual_ipaddress: the addresses that are VIPs of
// converted services, each in one instance.
func (c *converter) vrrpVIPs(block, inst, iface *Node) []netip.Addr {
	if block == nil {
		return nil
	}
	var out []netip.Addr
	for _, k := range block.Children {
		if k.Block {
			c.rep.fail(k, "unexpected block in virtual_ipaddress")
			continue
		}
		addr, _, _ := strings.Cut(k.Key, "/")
		a, err := parseIP(addr)
		if err != nil {
			c.rep.omitAt(k.Pos, k.Key, "%v (not converted)", err)
			continue
		}
		for i := 0; i < len(k.Args); i++ {
			switch k.Args[i] {
			case "dev":
				if i+1 < len(k.Args) && iface != nil && k.Args[i+1] != iface.Arg(0) {
					c.rep.omitAt(k.Pos, k.Key, "dev %s: dsrlb answers for the VIPs on its own port", k.Args[i+1])
				}
				i++
			case "use_vmac":
				c.rep.omitAt(k.Pos, k.Key, "use_vmac: dsrlb announces the VIPs with its port's MAC")
			}
			// The rest (brd, scope, label, ...) configure a kernel
			// address, which dsrlb does not have: the data plane answers.
		}
		switch owner, taken := c.vipOwner[a]; {
		case !c.vips[a]:
			c.rep.omitAt(k.Pos, k.Key, "not the VIP of a converted virtual_server: dsrlb's VRRP carries service VIPs only (not converted)")
		case taken && owner != inst:
			c.rep.omitAt(k.Pos, k.Key, "already in vrrp_instance %s (%s): a VIP belongs to one instance (not converted)", owner.Arg(0), owner.Pos)
		case slices.Contains(out, a):
		case len(out) > 0 && out[0].Is6() != a.Is6():
			c.rep.omitAt(k.Pos, k.Key, "not of the family of %s: a dsrlb instance carries one address family (not converted)", out[0])
		default:
			out = append(out, a)
			if c.vipOwner == nil {
				c.vipOwner = map[netip.Addr]*Node{}
			}
			c.vipOwner[a] = inst
		}
	}
	return out
}

// advertInterval fits advert_int to what the version carries: whole
// seconds (1..255) in version 2, centiseconds (10ms..40.95s) in 3.
func (c *converter) advertInterval(k *Node, d time.Duration, ver int64) time.Duration {
	fit := d
	if ver == 2 {
		fit = (d + time.Second - 1).Truncate(time.Second)
		fit = min(max(fit, time.Second), 255*time.Second)
	} else {
		fit = (d + 5*time.Millisecond).Truncate(10 * time.Millisecond)
		fit = min(max(fit, 10*time.Millisecond), 40950*time.Millisecond)
	}
	if fit != d && k != nil {
		c.rep.omit(k, "version %d advertises %s: written as %s", ver, map[bool]string{true: "whole seconds, 1..255", false: "centiseconds, 10ms..40.95s"}[ver == 2], goDuration(fit))
	}
	return fit
}

// vrrpSource converts unicast_src_ip (and checks mcast_src_ip): dsrlb
// sends adverts from its own address, which must be that address.
func (c *converter) vrrpSource(t *table, k *Node) {
	a, err := parseIP(k.Arg(0))
	if err != nil {
		c.rep.omit(k, "%v", err)
		return
	}
	if c.opt.Address.IsValid() && a != c.opt.Address.Addr() {
		c.rep.omit(k, "dsrlb sends adverts from its own address (-address %s), not %s", c.opt.Address.Addr(), a)
		return
	}
	if k.Key == "unicast_src_ip" {
		t.add("unicast_src", tomlString(a.String()), src(k)+" (must be dataplane.address)")
	}
}

// vrrpAuth converts authentication { auth_type PASS auth_pass X }, which
// only version 2 has.
func (c *converter) vrrpAuth(t *table, auth *Node, ver int64) {
	var typ, pass *Node
	for _, k := range auth.Children {
		switch {
		case k.Block:
			c.rep.fail(k, "unexpected block in authentication")
		case k.Key == "auth_type":
			typ = k
		case k.Key == "auth_pass":
			pass = k
		default:
			c.unknown(k, "authentication")
		}
	}
	switch {
	case typ != nil && strings.ToUpper(typ.Arg(0)) != "PASS":
		c.rep.omit(typ, "dsrlb has simple password authentication (PASS) only")
	case ver == 3:
		c.rep.omit(auth, "version 3 has no authentication (keepalived ignores it too)")
	case pass == nil || pass.Arg(0) == "":
		c.rep.omit(auth, "no auth_pass")
	default:
		p := pass.Arg(0)
		comment := src(pass)
		if len(p) > 8 {
			p = p[:8]
			comment += " (keepalived uses the first 8 bytes)"
		}
		t.add("auth_pass", tomlString(p), comment)
	}
}

// garp converts the gratuitous ARP settings, the instance's or else
// global_defs'.
func (c *converter) garp(t *table, own map[string]*Node) {
	for _, g := range []struct {
		kw, key string
		def     *Node // global_defs' vrrp_ form
	}{
		{"garp_master_delay", "garp_delay", c.globals.garpDelay},
		{"garp_master_repeat", "garp_repeat", c.globals.garpRepeat},
		{"garp_master_refresh", "garp_refresh", c.globals.garpRefresh},
	} {
		k := own[g.kw]
		if k == nil {
			k = g.def
		}
		if k == nil {
			continue
		}
		if g.key == "garp_repeat" {
			v, err := parseUint(k.Arg(0), 1, 100)
			if err != nil {
				c.rep.omit(k, "%v", err)
				continue
			}
			t.add(g.key, tomlInt(v), src(k))
			continue
		}
		d, err := parseTimer(k.Arg(0))
		if err != nil {
			c.rep.omit(k, "%v", err)
			continue
		}
		if g.key == "garp_refresh" && d != 0 && d < time.Second {
			c.rep.omit(k, "dsrlb refreshes at most once a second: written as 1s")
			d = time.Second
		}
		t.add(g.key, tomlString(goDuration(d)), src(k))
	}
}

// notifyCommand converts notify_master "/path/script args" [user
// [group]] into a command; dsrlb needs an absolute program path.
func (c *converter) notifyCommand(k *Node) []string {
	if len(k.Args) > 1 {
		c.rep.omit(k, "user %q: dsrlb runs notify commands as its own user", strings.Join(k.Args[1:], " "))
	}
	argv := splitCommand(k.Arg(0))
	if len(argv) == 0 || !filepath.IsAbs(argv[0]) {
		c.rep.omit(k, "dsrlb needs the program's absolute path (not converted)")
		return nil
	}
	return argv
}

// syncGroupDef reads a vrrp_sync_group: the instances it names get its
// name as sync_group.
func (c *converter) syncGroupDef(n *Node) {
	blocks := []string{"group", "track_interface", "track_script", "track_file", "track_process", "track_bfd"}
	for _, k := range n.Children {
		if k.Block && !slices.Contains(blocks, k.Key) {
			c.rep.fail(k, "unexpected block %q in vrrp_sync_group", k.Key)
			continue
		}
		switch k.Key {
		case "group":
			for _, m := range k.Children {
				for _, name := range append([]string{m.Key}, m.Args...) {
					if prev, dup := c.syncGroup[name]; dup {
						c.rep.omitAt(m.Pos, name, "already in vrrp_sync_group %s (%s)", prev.Arg(0), prev.Pos)
						continue
					}
					c.syncGroup[name] = n
					c.syncMembers = append(c.syncMembers, member{name, m})
				}
			}
		case "notify_master", "notify_backup", "notify_fault", "notify", "notify_stop", "notify_deleted":
			c.rep.omit(k, "dsrlb runs notify commands per instance: set them on the instances")
		case "track_interface", "track_script", "track_file", "track_process", "track_bfd":
			c.rep.omit(k, "dsrlb tracks services per instance (track_services)")
		case "smtp_alert":
			c.rep.omit(k, "dsrlb sends no e-mail: alert on its metrics")
		case "global_tracking", "sync_group_tracking_weight", "notify_priority_changes":
			c.rep.omit(k, "dsrlb has no tracking per sync group")
		default:
			c.unknown(k, "vrrp_sync_group")
		}
	}
	if safe := safeName(n.Arg(0), "group"); safe != n.Arg(0) {
		c.rep.omit(n, "name %q: dsrlb names are 1-32 of a-z A-Z 0-9 _ . -; written as %q", n.Arg(0), safe)
	}
}

type member struct {
	name string
	n    *Node
}

// checkSyncGroups reports members of sync groups that are no instance.
func (c *converter) checkSyncGroups() {
	for _, m := range c.syncMembers {
		if !c.instances[m.name] {
			c.rep.omitAt(m.n.Pos, m.name, "no vrrp_instance of this name")
		}
	}
}

// safeName makes s a dsrlb name (1-32 of a-z A-Z 0-9 _ . -).
func safeName(s, fallback string) string {
	if nameRE.MatchString(s) {
		return s
	}
	b := []byte(s)
	for i, ch := range b {
		if !(isAlpha(ch) || ch >= '0' && ch <= '9' || ch == '_' || ch == '.' || ch == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 32 {
		b = b[:32]
	}
	if len(b) == 0 {
		return fallback
	}
	return string(b)
}
