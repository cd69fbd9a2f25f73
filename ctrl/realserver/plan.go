package realserver

import (
	"dsrlb/conf"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Step is one action of a plan: why, and the command that does it.
type Step struct {
	// Comment says what the step does and why; it may span lines.
	Comment string
	// Argv is the command, run without a shell; nil for a step that is
	// only a comment (advice, or what is deliberately left alone).
	Argv []string
	// MayFail marks a step whose failure is reported and ignored:
	// teardown of something that may already be gone.
	MayFail bool
}

// The tc filter and the pinned maps of the eBPF decapsulation.
const (
	// FilterPref and FilterHandle identify dsrlb's filter on the
	// interface's clsact ingress hook, so replace and delete touch no
	// other filter.
	FilterPref   = 1000
	FilterHandle = 1
	// MapSelf and MapStats are the maps' names in decap.c; tc pins them
	// by name below MapPinDir.
	MapSelf   = "dsrlb_rs_self"
	MapStats  = "dsrlb_rs_stats"
	MapPinDir = BPFFSPath + "/tc/globals"
)

// Method codes in the keys of MapSelf (DSRLB_METHOD_* in decap.c).
const (
	bpfMethodIPIP = 1
	bpfMethodGRE  = 2
	bpfMethodGUE  = 3
)

// Lengths of a MapSelf key and value (struct self_key, self_val).
const (
	selfKeyLen = 20
	selfValLen = 4
)

// Plan returns the steps that set the real server up for spec. host
// decides between kernel and eBPF decapsulation (Decap "auto"), which
// modules need modprobe, whether the bpf file system must be mounted,
// and the interface MTU for ClampMSS. Running the steps again is
// harmless: addresses, qdiscs and filters are replaced, the nftables
// table is flushed and filled again.
func Plan(spec Spec, host HostInfo) ([]Step, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	p := newPlanner(spec, host, false)
	if err := p.resolveDecap(); err != nil {
		return nil, err
	}
	p.header()
	if spec.Style == StyleRedirect {
		p.redirect()
		return p.steps, nil
	}
	p.vips()
	switch spec.Method {
	case conf.MethodL2DSR:
		p.l2dsr()
	case conf.MethodDSCP:
		p.dscp()
	default:
		if p.decap == DecapKernel {
			p.kernelDecap()
		} else {
			p.ebpfDecap()
		}
		if spec.ClampMSS {
			p.clampMSS()
		}
		p.mtuAdvice()
	}
	return p.steps, nil
}

// Teardown returns the steps that undo Plan's: every one may fail (the
// thing may be gone already). Sysctls, loaded modules, the clsact qdisc
// and the pinned maps stay, as comments say: other users may rely on them.
func Teardown(spec Spec, host HostInfo) ([]Step, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	p := newPlanner(spec, host, true)
	if err := p.resolveDecap(); err != nil {
		return nil, err
	}
	p.header()
	if spec.Style == StyleRedirect {
		p.undo("remove the nftables table of this set-up (the redirection of the VIPs)",
			"nft", "delete", "table", "inet", p.table())
		return p.steps, nil
	}
	if spec.Method == conf.MethodDSCP || spec.ClampMSS {
		p.undo("remove the nftables table of this set-up",
			"nft", "delete", "table", "inet", p.table())
	}
	if spec.Method.Tunnels() {
		if p.decap == DecapKernel {
			p.undoKernelDecap()
		} else {
			p.undoEBPFDecap()
		}
	}
	for i, v := range spec.VIPs {
		c := ""
		if i == 0 {
			c = "remove the VIPs from lo"
		}
		if v.Is4() {
			p.undo(c, "ip", "addr", "del", v.String()+"/32", "dev", "lo")
		} else {
			p.undo(c, "ip", "-6", "addr", "del", v.String()+"/128", "dev", "lo")
		}
	}
	p.note("left as they are: the sysctls set by the plan (arp_ignore, arp_announce, rp_filter)\n" +
		"and loaded modules; set them back by hand if nothing else needs them")
	return p.steps, nil
}

type planner struct {
	spec         Spec
	host         HostInfo
	teardown     bool
	decap        string // kernel or ebpf, tunnels only
	decapWhy     string
	steps        []Step
	vip4, vip6   bool // VIPs of each version exist
	self4, self6 bool // own addresses of each version exist
}

func newPlanner(spec Spec, host HostInfo, teardown bool) *planner {
	p := &planner{spec: spec, host: host, teardown: teardown}
	p.vip4, p.vip6 = families(spec.VIPs)
	p.self4, p.self6 = families(spec.Self)
	return p
}

func (p *planner) add(comment string, argv ...string) {
	p.steps = append(p.steps, Step{Comment: comment, Argv: argv})
}

func (p *planner) undo(comment string, argv ...string) {
	p.steps = append(p.steps, Step{Comment: comment, Argv: argv, MayFail: true})
}

func (p *planner) note(comment string) {
	p.steps = append(p.steps, Step{Comment: comment})
}

// neededModules lists the kernel modules kernel decapsulation of spec
// needs, in load order.
func (p *planner) neededModules() []string {
	var mods []string
	need := func(m string) {
		if !slices.Contains(mods, m) {
			mods = append(mods, m)
		}
	}
	switch p.spec.Method {
	case conf.MethodIPIP:
		if p.self4 {
			need("ipip")
		}
		if p.self6 {
			need("ip6_tunnel")
		}
	case conf.MethodGRE:
		if p.self4 {
			need("ip_gre")
		}
		if p.self6 {
			need("ip6_gre")
		}
	case conf.MethodGUE:
		if p.self4 {
			need("fou")
			if p.vip4 {
				need("ipip")
			}
			if p.vip6 {
				need("sit")
			}
		}
		if p.self6 {
			need("fou6")
			need("ip6_tunnel")
		}
	}
	return mods
}

func (p *planner) resolveDecap() error {
	if !p.spec.Method.Tunnels() {
		return nil
	}
	var missing []string
	for _, m := range p.neededModules() {
		if !p.host.Modules[m].Available() {
			missing = append(missing, fmt.Sprintf("%s (%s)", m, tunnelModules[m]))
		}
	}
	switch p.spec.Decap {
	case DecapKernel:
		if len(missing) > 0 {
			return fmt.Errorf("decap kernel: this host lacks %s; use -decap ebpf", strings.Join(missing, ", "))
		}
		p.decap, p.decapWhy = DecapKernel, "as asked"
	case DecapEBPF:
		p.decap, p.decapWhy = DecapEBPF, "as asked"
	default:
		if len(missing) == 0 {
			p.decap, p.decapWhy = DecapKernel, "the kernel has the tunnel modules"
		} else {
			p.decap, p.decapWhy = DecapEBPF, "the kernel lacks "+strings.Join(missing, ", ")
		}
	}
	if p.decap == DecapEBPF && p.spec.BPFObject == "" && !p.teardown {
		return errors.New("bpf-object: decapsulation by eBPF needs the path of dsrlb-decap.o (make bpf)")
	}
	return nil
}

func (p *planner) header() {
	s := p.spec
	what := "set-up"
	if p.teardown {
		what = "teardown"
	}
	h := fmt.Sprintf("dsrlb real server %s: method %s, VIPs %s, interface %s",
		what, s.Method, joinAddrs(s.VIPs, " "), s.Interface)
	if len(s.Self) > 0 {
		h += ", own addresses " + joinAddrs(s.Self, " ")
	}
	if s.Method.Tunnels() {
		h += fmt.Sprintf("\ndecapsulation: %s (%s)", p.decap, p.decapWhy)
	}
	p.note(h)
}

func (p *planner) vips() {
	p.add("lo carries the VIPs", "ip", "link", "set", "lo", "up")
	for i, v := range p.spec.VIPs {
		c := ""
		if i == 0 {
			c = "each VIP is a local address on lo: the stack accepts packets for it and\n" +
				"answers from it, and no interface announces it"
		}
		if v.Is4() {
			p.add(c, "ip", "addr", "replace", v.String()+"/32", "dev", "lo")
		} else {
			p.add(c, "ip", "-6", "addr", "replace", v.String()+"/128", "dev", "lo", "nodad")
		}
	}
	if p.vip4 {
		ifc := p.spec.Interface
		p.add("answer ARP only for addresses of the asking interface (not for the VIPs on lo),\n"+
			"and never use a VIP as the source of the server's own ARP requests",
			"sysctl", "-w",
			sysctl("ipv4", "all", "arp_ignore")+"=1",
			sysctl("ipv4", "all", "arp_announce")+"=2",
			sysctl("ipv4", ifc, "arp_ignore")+"=1",
			sysctl("ipv4", ifc, "arp_announce")+"=2")
	}
}

func (p *planner) l2dsr() {
	if p.vip6 {
		p.note("IPv6: Linux answers neighbour solicitations only for addresses on the interface\n" +
			"they arrive on, so the VIPs on lo are never announced; nothing more is needed")
	}
}

// redirect is the l2dsr set-up without the VIPs on the host: the
// balancer delivers the client's packet unchanged (destination the VIP)
// to this host's MAC; a nat rule in prerouting redirects it to the
// address of the interface it came in on, conntrack remembers, and the
// reply leaves with the VIP as its source again, straight to the client.
func (p *planner) redirect() {
	s, t := p.spec, p.table()
	p.freshTable()
	p.add("a nat chain in prerouting: the VIPs' packets are redirected to the interface's\n"+
		"own address (the service listens there, or on the wildcard address)",
		"nft", "add", "chain", "inet", t, "prerouting",
		"{ type nat hook prerouting priority dstnat; policy accept; }")
	for _, v := range s.VIPs {
		fam := "ip"
		if v.Is6() {
			fam = "ip6"
		}
		p.add("", "nft", "add", "rule", "inet", t, "prerouting", "iifname", s.Interface, fam, "daddr", v.String(), "redirect")
	}
	p.note("no VIP on lo and no ARP or neighbour settings: the host never owns the VIPs, so it\n" +
		"never answers for them; conntrack gives the replies the VIP as their source")
}

// table names the nftables table of this spec: one per method and
// interface, so set-ups of several methods or interfaces do not meet.
func (p *planner) table() string {
	var b strings.Builder
	for _, r := range p.spec.Interface {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return "dsrlb_rs_" + p.spec.Method.String() + "_" + b.String()
}

// freshTable creates the spec's table, or empties it if a previous run
// left it, so that running a plan twice yields the same rules.
func (p *planner) freshTable() {
	t := p.table()
	p.add("nftables table of this set-up (emptied if it exists, so a second run does not add rules twice)",
		"nft", "add", "table", "inet", t)
	p.add("", "nft", "flush", "table", "inet", t)
}

func (p *planner) dscp() {
	s, t := p.spec, p.table()
	p.freshTable()
	p.add("stateless rewrite before conntrack (priority -300): DSCP code -> VIP, DSCP cleared, untracked.\n"+
		"Not a DNAT: conntrack would turn the reply's source back into the server's own address,\n"+
		"and the client, which sent to the VIP, would drop it",
		"nft", "add", "chain", "inet", t, "prerouting",
		"{ type filter hook prerouting priority -300 ; policy accept ; }")
	match := fmt.Sprintf("iifname %q ", s.Interface)
	if len(s.Self) > 0 {
		match += "ip daddr " + nftSet(s.Self) + " "
	}
	for _, v := range s.VIPs {
		p.add("", "nft", "add", "rule", "inet", t, "prerouting",
			fmt.Sprintf("%sip dscp %d ip daddr set %s ip dscp set 0 notrack", match, s.DSCP[v], v))
	}
	p.add("the replies from the VIPs need no conntrack entry either\n"+
		"(a host firewall must accept \"ct state untracked\")",
		"nft", "add", "chain", "inet", t, "output",
		"{ type filter hook output priority -300 ; policy accept ; }")
	p.add("", "nft", "add", "rule", "inet", t, "output",
		"ip saddr "+nftSet(s.VIPs)+" notrack")
}

// ebpfKey is the key of (addr, method) in MapSelf.
func ebpfKey(a netip.Addr, m conf.Method) []byte {
	k := make([]byte, selfKeyLen)
	a16 := a.As16() // IPv4 becomes ::ffff:a.b.c.d
	copy(k, a16[:])
	switch m {
	case conf.MethodIPIP:
		k[16] = bpfMethodIPIP
	case conf.MethodGRE:
		k[16] = bpfMethodGRE
	case conf.MethodGUE:
		k[16] = bpfMethodGUE
	}
	return k
}

func ebpfValue(s Spec) []byte {
	v := make([]byte, selfValLen)
	if s.Method == conf.MethodGUE {
		port := s.guePort()
		v[0], v[1] = byte(port>>8), byte(port)
	}
	return v
}

func hexArgs(b []byte) []string {
	out := make([]string, len(b))
	for i, c := range b {
		out[i] = fmt.Sprintf("%02x", c)
	}
	return out
}

func (p *planner) ebpfDecap() {
	s := p.spec
	if !p.host.BPFFS {
		p.add("the bpf file system holds the pinned map of the decap program",
			"mount", "-t", "bpf", "bpf", BPFFSPath)
	}
	p.add("tc hook on the interface facing the balancer", "tc", "qdisc", "replace", "dev", s.Interface, "clsact")
	p.add(fmt.Sprintf("dsrlb-decap strips the outer headers of %s packets whose outer destination is in the\n"+
		"map %s (pinned at %s/%s) and passes everything else untouched", s.Method, MapSelf, MapPinDir, MapSelf),
		"tc", "filter", "replace", "dev", s.Interface, "ingress",
		"pref", strconv.Itoa(FilterPref), "handle", strconv.Itoa(FilterHandle),
		"bpf", "direct-action", "obj", s.BPFObject, "sec", "tc")
	for i, a := range s.Self {
		c := ""
		if i == 0 {
			c = fmt.Sprintf("decapsulate %s packets to the server's own addresses", s.Method)
			if s.Method == conf.MethodGUE {
				c += fmt.Sprintf(" (UDP port %d)", s.guePort())
			}
			c += fmt.Sprintf(": key = address (IPv4 as ::ffff:a.b.c.d), method %d, 3 zero bytes", ebpfKey(a, s.Method)[16])
		}
		argv := []string{"bpftool", "map", "update", "pinned", MapPinDir + "/" + MapSelf, "key", "hex"}
		argv = append(argv, hexArgs(ebpfKey(a, s.Method))...)
		argv = append(argv, "value", "hex")
		argv = append(argv, hexArgs(ebpfValue(s))...)
		p.add(c, argv...)
	}
	if p.vip4 {
		p.add("loose reverse-path filter: the decapsulated packet's source is the client",
			"sysctl", "-w", sysctl("ipv4", s.Interface, "rp_filter")+"=2")
	}
}

func (p *planner) undoEBPFDecap() {
	s := p.spec
	p.undo("remove dsrlb's decap filter (the clsact qdisc stays: other filters may use it;\n"+
		"tc qdisc del dev "+s.Interface+" clsact removes it)",
		"tc", "filter", "del", "dev", s.Interface, "ingress", "pref", strconv.Itoa(FilterPref))
	for i, a := range s.Self {
		c := ""
		if i == 0 {
			c = fmt.Sprintf("forget this set-up's addresses (the pinned maps %s and %s stay,\n"+
				"shared by every interface running dsrlb-decap)", MapSelf, MapStats)
		}
		argv := []string{"bpftool", "map", "delete", "pinned", MapPinDir + "/" + MapSelf, "key", "hex"}
		argv = append(argv, hexArgs(ebpfKey(a, s.Method))...)
		p.undo(c, argv...)
	}
}

// tunnelDev is a fallback tunnel device that receives decapsulated
// packets in kernel mode.
type tunnelDev struct {
	name    string
	inner4  bool // IPv4 packets come out of it: rp_filter applies
	modeAny bool // ip6tnl0 must take IPv4 inner packets too
}

func (p *planner) tunnelDevs() []tunnelDev {
	var devs []tunnelDev
	switch p.spec.Method {
	case conf.MethodIPIP:
		if p.self4 {
			devs = append(devs, tunnelDev{name: "tunl0", inner4: true})
		}
		if p.self6 {
			devs = append(devs, tunnelDev{name: "ip6tnl0", inner4: p.vip4, modeAny: p.vip4})
		}
	case conf.MethodGRE:
		if p.self4 {
			devs = append(devs, tunnelDev{name: "gre0", inner4: p.vip4})
		}
		if p.self6 {
			devs = append(devs, tunnelDev{name: "ip6gre0", inner4: p.vip4})
		}
	case conf.MethodGUE:
		if p.self4 && p.vip4 {
			devs = append(devs, tunnelDev{name: "tunl0", inner4: true})
		}
		if p.self4 && p.vip6 {
			devs = append(devs, tunnelDev{name: "sit0"})
		}
		if p.self6 {
			devs = append(devs, tunnelDev{name: "ip6tnl0", inner4: p.vip4, modeAny: p.vip4})
		}
	}
	return devs
}

func (p *planner) fouArgs(verb string, v6 bool) []string {
	argv := []string{"ip", "fou", verb, "port", strconv.Itoa(int(p.spec.guePort()))}
	if verb == "add" {
		argv = append(argv, "gue")
	}
	if v6 {
		argv = append(argv, "-6")
	}
	return argv
}

func (p *planner) kernelDecap() {
	s := p.spec
	first := true
	for _, m := range p.neededModules() {
		if p.host.Modules[m] == ModuleBuiltin {
			continue
		}
		c := ""
		if first {
			c = "the kernel's tunnel modules"
			first = false
		}
		p.add(c, "modprobe", m)
	}
	if s.Method == conf.MethodGUE {
		for _, v6 := range []bool{false, true} {
			if (!v6 && !p.self4) || (v6 && !p.self6) {
				continue
			}
			p.undo(fmt.Sprintf("GUE receiver on UDP port %d (removed first so a second run does not fail)", s.guePort()),
				p.fouArgs("del", v6)...)
			p.add("fou hands the GUE payload (variant 1: the inner IP packet) to the IPIP/IPv6 tunnel receivers",
				p.fouArgs("add", v6)...)
		}
	}
	var rp []string
	for _, d := range p.tunnelDevs() {
		if d.modeAny {
			p.add("the fallback ip6tnl0 takes IPv4 and IPv6 inner packets",
				"ip", "-6", "tunnel", "change", "ip6tnl0", "mode", "any")
		}
		p.add(fmt.Sprintf("%s is the fallback device: it takes tunnel packets from any remote to any local address\n"+
			"(it exists in a network namespace only if net.core.fb_tunnels_only_for_init_net is 0)", d.name),
			"ip", "link", "set", d.name, "up")
		if d.inner4 {
			rp = append(rp, sysctl("ipv4", d.name, "rp_filter")+"=2")
		}
	}
	if len(rp) > 0 {
		p.add("loose reverse-path filter on the tunnel devices: the decapsulated packet's source is the client",
			append([]string{"sysctl", "-w"}, rp...)...)
	}
}

func (p *planner) undoKernelDecap() {
	s := p.spec
	if s.Method == conf.MethodGUE {
		c := "stop receiving GUE"
		for _, v6 := range []bool{false, true} {
			if (!v6 && p.self4) || (v6 && p.self6) {
				p.undo(c, p.fouArgs("del", v6)...)
				c = ""
			}
		}
	}
	var names []string
	for _, d := range p.tunnelDevs() {
		names = append(names, d.name)
	}
	p.note(fmt.Sprintf("left up: %s, shared with every other tunnel user of the host (Calico's IPIP uses tunl0);\n"+
		"without the VIPs on lo what they decapsulate for dsrlb is no longer delivered", strings.Join(names, ", ")))
}

// ClampedMSS returns the MSS the real server should advertise for IPv4
// and IPv6 VIPs so that a client's full-size segment, encapsulated by the
// balancer, fits the path MTU (Spec.PathMTU, else the interface's, else
// 1500), counting the larger outer header when Self has both versions.
func ClampedMSS(spec Spec, host HostInfo) (v4, v6 int) {
	mtu := spec.PathMTU
	if mtu == 0 {
		mtu = host.MTU
	}
	if mtu == 0 {
		mtu = 1500
	}
	self4, self6 := families(spec.Self)
	oh := 0
	if self4 {
		oh = spec.Method.Overhead(false)
	}
	if self6 {
		oh = max(oh, spec.Method.Overhead(true))
	}
	return mtu - oh - 20 - 20, mtu - oh - 40 - 20
}

func (p *planner) clampMSS() {
	s, t := p.spec, p.table()
	mss4, mss6 := ClampedMSS(s, p.host)
	p.freshTable()
	p.add("lower the MSS the server advertises in its SYN-ACKs: it is what limits the size of the\n"+
		"client's segments, which the balancer encapsulates",
		"nft", "add", "chain", "inet", t, "output",
		"{ type filter hook output priority -150 ; policy accept ; }")
	var v4s, v6s []netip.Addr
	for _, v := range s.VIPs {
		if v.Is4() {
			v4s = append(v4s, v)
		} else {
			v6s = append(v6s, v)
		}
	}
	const synack = "tcp flags & (syn | ack) == syn | ack"
	if len(v4s) > 0 {
		p.add("", "nft", "add", "rule", "inet", t, "output",
			fmt.Sprintf("ip saddr %s %s tcp option maxseg size > %d tcp option maxseg size set %d",
				nftSet(v4s), synack, mss4, mss4))
	}
	if len(v6s) > 0 {
		p.add("", "nft", "add", "rule", "inet", t, "output",
			fmt.Sprintf("ip6 saddr %s %s tcp option maxseg size > %d tcp option maxseg size set %d",
				nftSet(v6s), synack, mss6, mss6))
	}
}

func (p *planner) mtuAdvice() {
	s := p.spec
	var parts []string
	if p.self4 {
		parts = append(parts, fmt.Sprintf("%d bytes over IPv4", s.Method.Overhead(false)))
	}
	if p.self6 {
		parts = append(parts, fmt.Sprintf("%d bytes over IPv6", s.Method.Overhead(true)))
	}
	mss4, mss6 := ClampedMSS(s, p.host)
	var mss []string
	if p.vip4 {
		mss = append(mss, fmt.Sprintf("%d for IPv4", mss4))
	}
	if p.vip6 {
		mss = append(mss, fmt.Sprintf("%d for IPv6", mss6))
	}
	mssText := strings.Join(mss, ", ") + " VIPs"
	adv := fmt.Sprintf("MTU: the balancer adds %s to every client-to-VIP packet.\n"+
		"Clients send segments as large as the MSS this server advertises in its SYN-ACK, so\n"+
		"full-size requests no longer fit a path from the balancer that has the clients' MTU.\n"+
		"Remedies:\n"+
		"- raise the MTU between balancer and real servers by that much (jumbo frames);\n", strings.Join(parts, " and "))
	if s.ClampMSS {
		adv += "- advertise a smaller MSS (done above: " + mssText + ");\n"
	} else {
		adv += "- advertise a smaller MSS (" + mssText + "): -clamp-mss,\n" +
			"  or ip route change <route to the clients> advmss N;\n"
	}
	adv += "- have the balancer answer oversize packets with ICMP \"fragmentation needed\" or\n" +
		"  \"packet too big\" (path MTU discovery); for UDP services only this or a larger MTU helps.\n" +
		"The client's own SYN MSS limits only the replies, which DSR sends unencapsulated."
	p.note(adv)
}

// sysctl names a per-interface sysctl. Names with a dot (VLANs: eth0.10)
// need sysctl(8)'s slash form.
func sysctl(family, iface, key string) string {
	if strings.Contains(iface, ".") {
		return "net/" + family + "/conf/" + iface + "/" + key
	}
	return "net." + family + ".conf." + iface + "." + key
}

func nftSet(addrs []netip.Addr) string {
	if len(addrs) == 1 {
		return addrs[0].String()
	}
	return "{ " + joinAddrs(addrs, ", ") + " }"
}

func joinAddrs(addrs []netip.Addr, sep string) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, sep)
}
