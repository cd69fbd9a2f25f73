package realserver

// The doctor: Examine inspects a real server for one Spec and reports, per
// check, what is right, what is wrong (with the commands that fix it:
// Plan's own steps, or the removal of what is in the way) and what it
// could not inspect, and why. It only reads; `dsrlbctl doctor` is its
// command-line face.
//
// The checks, in the order they run and are reported:
//
//   - interface: the interface facing the balancer exists and is up.
//   - vip: style vip: lo is up and every VIP is on it (and on no other
//     interface, where the server would answer ARP or neighbour
//     solicitations for it). Style redirect: no VIP is on the host.
//   - arp: style vip, IPv4 VIPs: arp_ignore and arp_announce, whose
//     effective value is the larger of conf.all and conf.IF.
//   - decap: tunnels. eBPF: dsrlb-decap attached to IF's clsact ingress at
//     pref 1000 in direct-action mode, and in the map of that very program
//     an entry for every Self address with the method and GUE port.
//     Kernel: the modules loaded or built in, the fallback devices up,
//     ip6tnl0 in mode any where IPv4 rides over IPv6, the fou port for gue.
//   - rp_filter: IPv4 VIPs. The kernel evaluates the reverse-path filter
//     on the interface a packet is received on, with the effective value
//     max(conf.all, conf.IF), looking up the route back to the packet's
//     source: the client. Tunnel receivers (IF for eBPF, which hands the
//     inner packet to the stack as if it had arrived on IF; the tunnel
//     devices for kernel decapsulation) must not be strict (1), because
//     the route to the client does not lead back through a tunnel device,
//     and Plan sets them loose. For l2dsr and dscp the packet arrives on
//     IF with the client's address too, so strict mode drops it exactly
//     when the route back to that client leaves through another
//     interface: the doctor reports strict mode on IF as a problem when
//     the default route leaves elsewhere, a warning when there is none,
//     and fine when it leaves through IF (it cannot know every client's
//     route). lo is not inspected: the VIP's packets are received on IF,
//     not on lo, and traffic that does pass lo carries the route it was
//     sent with, so lo's rp_filter is never consulted for DSR traffic.
//   - dscp: method dscp: per VIP, a stateless rule in a filter chain at
//     prerouting before conntrack (priority below -200) that matches the
//     VIP's DSCP code on what arrives (interface, own addresses) and sets
//     the destination to the VIP, with notrack; and a notrack rule for the
//     replies from the VIPs in output before conntrack.
//   - redirect: style redirect: per VIP, a nat prerouting rule that
//     redirects the VIP's packets on IF (or DNATs them to an address of
//     the host), and no notrack rule before conntrack for those packets or
//     their replies: conntrack is what gives the replies the VIP back.
//   - nat: no nat rule breaks DSR: for dscp, a DNAT to a VIP of the
//     packets that arrive for it (conntrack would turn the reply's source
//     back into the server's own address); for style vip, any DNAT or
//     redirect of the VIPs' packets; for style redirect, a DNAT of them to
//     an address that is not the host's. The fix deletes the rule by its
//     handle.
//   - mtu: tunnels. With ClampMSS, a rule on the SYN-ACKs from each VIP
//     that sets the MSS to at most ClampedMSS; without it, a warning when
//     the path MTU does not carry 1500 bytes plus the outer headers (the
//     balancer also answers oversize packets with ICMP, so it is not a
//     failure), with Plan's remedies.
//   - listener: a socket for the service's protocol and port that takes
//     the packets: bound to the VIP or the wildcard address (style
//     redirect: to the address the redirect delivers to, or the wildcard);
//     an IPv6 wildcard takes IPv4 only without IPV6_V6ONLY (ss shows
//     v6only). A service bound to the server's own address only is named
//     as such. UDP on a wildcard address gets a warning: the reply's source
//     is the VIP only if the service sets it (IP_PKTINFO).
//
// Where a tool or file is missing, the check says what it could not
// inspect and why; the report is then not healthy, since the doctor
// cannot say all is well.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"dsrlb/conf"
)

// Service is the real server's service whose listener the doctor looks
// for.
type Service struct {
	Proto string // "tcp" or "udp"
	// Port is the service's port; 0 for a service of every port, whose
	// listener is not checked (and rules that test ports may apply).
	Port uint16
}

func (s Service) validate() error {
	if s.Proto != "tcp" && s.Proto != "udp" {
		return fmt.Errorf("proto: %q is not tcp or udp", s.Proto)
	}
	return nil
}

func (s Service) protoNum() uint8 {
	if s.Proto == "udp" {
		return 17
	}
	return 6
}

// Status is a finding's verdict.
type Status string

const (
	StatusOK      Status = "ok"
	StatusWarning Status = "warning" // worth knowing; DSR still works
	StatusProblem Status = "problem" // breaks DSR for some traffic
	StatusUnknown Status = "unknown" // could not be inspected
)

// The checks, in the order they run and are reported.
const (
	CheckInterface = "interface"
	CheckVIP       = "vip"
	CheckARP       = "arp"
	CheckDecap     = "decap"
	CheckRPFilter  = "rp_filter"
	CheckDSCP      = "dscp"
	CheckRedirect  = "redirect"
	CheckNAT       = "nat"
	CheckMTU       = "mtu"
	CheckListener  = "listener"
)

// Finding is one verdict of one check about one thing.
type Finding struct {
	Check  string
	Status Status
	// Subject is what it is about: a VIP, an interface, an address, a
	// rule.
	Subject string
	Message string
	// Advice is a remedy no command gives (the service's configuration,
	// the MTU of the path).
	Advice string
	// Fix are the commands that fix a problem, in order.
	Fix []Step
}

// Report is what Examine found.
type Report struct {
	Spec    Spec
	Service Service
	// Decap is the decapsulation inspected (tunnels): kernel or ebpf,
	// and why.
	Decap, DecapWhy string
	Findings        []Finding
}

// Count returns the number of findings with status s.
func (r *Report) Count(s Status) int {
	n := 0
	for _, f := range r.Findings {
		if f.Status == s {
			n++
		}
	}
	return n
}

// Healthy reports whether nothing is wrong and everything was inspected.
func (r *Report) Healthy() bool {
	return r.Count(StatusProblem) == 0 && r.Count(StatusUnknown) == 0
}

// FixSteps returns the fixes of every finding, in report order, each
// command once.
func (r *Report) FixSteps() []Step {
	var out []Step
	seen := map[string]bool{}
	for _, f := range r.Findings {
		for _, s := range f.Fix {
			k := strings.Join(s.Argv, "\x00")
			if !seen[k] {
				seen[k] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// Examine inspects host for spec and svc. info is what DetectHost found
// (modules, bpf file system); the doctor reads the interface's MTU
// itself. The error is for an invalid spec or service only: everything
// the host does not tell is a finding.
func Examine(ctx context.Context, spec Spec, svc Service, info HostInfo, host Host) (*Report, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := svc.validate(); err != nil {
		return nil, err
	}
	d := &doctor{ctx: ctx, spec: spec, svc: svc, info: info, host: host}
	d.prepare()
	d.checkInterface()
	if d.spec.Style == StyleRedirect {
		d.checkNoVIPs()
	} else {
		d.checkVIPs()
		d.checkARP()
	}
	if spec.Method.Tunnels() {
		if d.decap == DecapKernel {
			d.checkKernelDecap()
		} else {
			d.checkEBPF()
		}
	}
	d.checkRPFilter()
	if spec.Method == conf.MethodDSCP {
		d.checkDSCP()
	}
	if spec.Style == StyleRedirect {
		d.checkRedirect()
	}
	d.checkNAT()
	if spec.Method.Tunnels() {
		d.checkMTU()
	}
	d.checkListeners()
	return &Report{Spec: spec, Service: svc, Decap: d.decap, DecapWhy: d.decapWhy, Findings: d.findings}, nil
}

type doctor struct {
	ctx      context.Context
	spec     Spec // Decap resolved
	svc      Service
	info     HostInfo
	host     Host
	p        *planner
	decap    string
	decapWhy string
	plan     []Step
	teardown []Step
	planErr  error
	findings []Finding

	links      lazy[[]ipLink]
	routes     lazy[[]ipRoute]
	ruleset    lazy[*nftRuleset]
	listeners  lazy[[]listener]
	filters    lazy[[]tcFilter]
	dscpUntrkd map[netip.Addr]bool // VIPs whose stateless rule is in place
	redirectTo map[netip.Addr]netip.Addr
}

// lazy holds what one command said, read once.
type lazy[T any] struct {
	done bool
	v    T
	why  string // why it could not be read
}

func (l *lazy[T]) get(load func() (T, string)) (T, string) {
	if !l.done {
		l.v, l.why = load()
		l.done = true
	}
	return l.v, l.why
}

func (d *doctor) add(f Finding) { d.findings = append(d.findings, f) }

func (d *doctor) ok(check, subject, format string, args ...any) {
	d.add(Finding{Check: check, Status: StatusOK, Subject: subject, Message: fmt.Sprintf(format, args...)})
}

func (d *doctor) unknown(check, subject, format string, args ...any) {
	d.add(Finding{Check: check, Status: StatusUnknown, Subject: subject,
		Message: "could not inspect " + fmt.Sprintf(format, args...)})
}

func (d *doctor) problem(check, subject string, fix []Step, format string, args ...any) {
	d.add(Finding{Check: check, Status: StatusProblem, Subject: subject, Message: fmt.Sprintf(format, args...), Fix: fix})
}

// prepare reads the interface's MTU for the plan, decides which
// decapsulation to inspect (Decap auto: the eBPF one if dsrlb-decap is
// attached, else Plan's choice) and makes the plan whose steps are the
// fixes.
func (d *doctor) prepare() {
	if links, why := d.getLinks(); why == "" {
		if l := findLink(links, d.spec.Interface); l != nil && l.MTU > 0 {
			d.info.MTU = l.MTU
		}
	}
	if d.spec.Method.Tunnels() && (d.spec.Decap == "" || d.spec.Decap == DecapAuto) {
		if fs, why := d.getFilters(); why == "" && ourFilter(fs) != nil {
			d.spec.Decap = DecapEBPF
			d.decapWhy = "dsrlb-decap is attached to " + d.spec.Interface
		}
	}
	d.p = newPlanner(d.spec, d.info, false)
	if err := d.p.resolveDecap(); err != nil {
		d.planErr = err
		if d.spec.Decap == DecapKernel {
			// Asked for, impossible here: inspect it all the same.
			d.p.decap, d.p.decapWhy = DecapKernel, "as asked"
		}
	}
	d.decap = d.p.decap
	if d.decapWhy == "" {
		d.decapWhy = d.p.decapWhy
	}
	if d.planErr == nil {
		d.plan, d.planErr = Plan(d.spec, d.info)
		d.teardown, _ = Teardown(d.spec, d.info)
	}
	if d.planErr != nil {
		d.problem(CheckDecap, d.spec.Interface, nil, "the set-up cannot be planned, so no fix is shown: %v", d.planErr)
	}
}

// planSteps returns the plan's steps whose command passes keep.
func (d *doctor) planSteps(keep func(argv []string) bool) []Step {
	var out []Step
	for _, s := range d.plan {
		if len(s.Argv) > 0 && keep(s.Argv) {
			out = append(out, s)
		}
	}
	return out
}

func (d *doctor) teardownSteps(keep func(argv []string) bool) []Step {
	var out []Step
	for _, s := range d.teardown {
		if len(s.Argv) > 0 && keep(s.Argv) {
			out = append(out, s)
		}
	}
	return out
}

// hasPrefix reports whether argv starts with prefix.
func hasPrefix(argv []string, prefix ...string) bool {
	return len(argv) >= len(prefix) && slices.Equal(argv[:len(prefix)], prefix)
}

// --- interface and addresses

type ipLink struct {
	Ifname   string   `json:"ifname"`
	Flags    []string `json:"flags"`
	MTU      int      `json:"mtu"`
	Linkinfo *struct {
		InfoKind string         `json:"info_kind"`
		InfoData map[string]any `json:"info_data"`
	} `json:"linkinfo"`
	AddrInfo []ipAddr `json:"addr_info"`
}

type ipAddr struct {
	Family    string `json:"family"`
	Local     string `json:"local"`
	Prefixlen int    `json:"prefixlen"`
	Scope     string `json:"scope"`
	Tentative bool   `json:"tentative"`
	Dadfailed bool   `json:"dadfailed"`
}

func (a ipAddr) addr() netip.Addr {
	ad, _ := netip.ParseAddr(a.Local)
	return ad
}

func (l *ipLink) up() bool { return slices.Contains(l.Flags, "UP") }

func findLink(links []ipLink, name string) *ipLink {
	for i := range links {
		if links[i].Ifname == name {
			return &links[i]
		}
	}
	return nil
}

// run runs an inspection command and returns its output, or why not.
func (d *doctor) run(argv ...string) ([]byte, string) {
	out, err := d.host.Output(d.ctx, argv...)
	if err != nil {
		return nil, whyNot(argv[0], err)
	}
	return out, ""
}

func (d *doctor) getLinks() ([]ipLink, string) {
	return d.links.get(func() ([]ipLink, string) {
		argv := []string{"ip", "-j", "-d", "addr", "show"}
		out, why := d.run(argv...)
		if why != "" {
			return nil, why
		}
		var links []ipLink
		if err := json.Unmarshal(out, &links); err != nil {
			return nil, fmt.Sprintf("%s: %v", strings.Join(argv, " "), err)
		}
		return links, ""
	})
}

// ownAddrs returns every address of the host but the VIPs, with its
// interface.
func (d *doctor) ownAddrs(links []ipLink) map[netip.Addr]string {
	m := map[netip.Addr]string{}
	for _, l := range links {
		for _, a := range l.AddrInfo {
			if ad := a.addr(); ad.IsValid() && !slices.Contains(d.spec.VIPs, ad) {
				m[ad] = l.Ifname
			}
		}
	}
	return m
}

func (d *doctor) checkInterface() {
	ifc := d.spec.Interface
	links, why := d.getLinks()
	if why != "" {
		d.unknown(CheckInterface, ifc, "the interfaces and addresses: %s", why)
		return
	}
	l := findLink(links, ifc)
	switch {
	case l == nil:
		d.problem(CheckInterface, ifc, nil, "%s does not exist: the balancer's packets have nowhere to arrive", ifc)
	case !l.up():
		d.problem(CheckInterface, ifc, []Step{{Argv: []string{"ip", "link", "set", ifc, "up"}}},
			"%s is down", ifc)
	default:
		var addrs []string
		for _, a := range l.AddrInfo {
			if a.Scope != "link" {
				addrs = append(addrs, a.Local)
			}
		}
		d.ok(CheckInterface, ifc, "%s is up, MTU %d, addresses %s", ifc, l.MTU, strings.Join(addrs, " "))
	}
}

// vipPlaces returns where v is configured: interface and prefix length.
func vipPlaces(links []ipLink, v netip.Addr) (on []ipLink, at []ipAddr) {
	for _, l := range links {
		for _, a := range l.AddrInfo {
			if a.addr() == v {
				on, at = append(on, l), append(at, a)
			}
		}
	}
	return on, at
}

// addrDel removes address a from device dev.
func addrDel(a ipAddr, dev string) Step {
	argv := []string{"ip", "addr", "del", fmt.Sprintf("%s/%d", a.Local, a.Prefixlen), "dev", dev}
	if a.addr().Is6() {
		argv = []string{"ip", "-6", "addr", "del", fmt.Sprintf("%s/%d", a.Local, a.Prefixlen), "dev", dev}
	}
	return Step{Argv: argv}
}

func (d *doctor) checkVIPs() {
	links, why := d.getLinks()
	if why != "" {
		d.unknown(CheckVIP, "lo", "the addresses on lo: %s", why)
		return
	}
	lo := findLink(links, "lo")
	switch {
	case lo == nil:
		d.unknown(CheckVIP, "lo", "lo: ip does not list it")
	case !lo.up():
		d.problem(CheckVIP, "lo", d.planSteps(func(a []string) bool { return hasPrefix(a, "ip", "link", "set", "lo", "up") }),
			"lo is down: the VIPs on it are not local addresses")
	default:
		d.ok(CheckVIP, "lo", "lo is up")
	}
	for _, v := range d.spec.VIPs {
		replace := d.planSteps(func(a []string) bool {
			return slices.Contains(a, "replace") && slices.Contains(a, "lo") && slices.Contains(a, v.String()+"/"+strconv.Itoa(v.BitLen()))
		})
		on, at := vipPlaces(links, v)
		var onLo *ipAddr
		var fix []Step
		var elsewhere []string
		for i, l := range on {
			if l.Ifname == "lo" {
				onLo = &at[i]
				continue
			}
			elsewhere = append(elsewhere, l.Ifname)
			fix = append(fix, addrDel(at[i], l.Ifname))
		}
		nd := "ARP requests"
		if v.Is6() {
			nd = "neighbour solicitations"
		}
		switch {
		case onLo == nil && len(elsewhere) == 0:
			d.problem(CheckVIP, v.String(), replace,
				"%s is not on lo: the server does not take the VIP's packets as its own and drops them", v)
		case onLo == nil:
			d.problem(CheckVIP, v.String(), append(fix, replace...),
				"%s is on %s, not on lo: the server answers %s for it there, so the segment sends clients straight to it, past the balancer",
				v, strings.Join(elsewhere, ", "), nd)
		case len(elsewhere) > 0:
			d.problem(CheckVIP, v.String(), fix,
				"%s is on lo but also on %s: the server answers %s for it there, so the segment sends clients straight to it, past the balancer",
				v, strings.Join(elsewhere, ", "), nd)
		case onLo.Dadfailed || onLo.Tentative:
			d.problem(CheckVIP, v.String(), append([]Step{addrDel(*onLo, "lo")}, replace...),
				"%s on lo is not usable (duplicate address detection: tentative or failed); the plan adds it with nodad", v)
		case onLo.Prefixlen != v.BitLen():
			pfx, _ := v.Prefix(onLo.Prefixlen)
			d.add(Finding{Check: CheckVIP, Status: StatusWarning, Subject: v.String(),
				Message: fmt.Sprintf("%s is on lo as /%d: every address of %s is local to this server, not only the VIP", v, onLo.Prefixlen, pfx),
				Fix:     nil, Advice: "put the VIP on lo alone: " + stepsShell(append([]Step{addrDel(*onLo, "lo")}, replace...))})
		default:
			d.ok(CheckVIP, v.String(), "%s/%d is on lo", v, onLo.Prefixlen)
		}
	}
}

// checkNoVIPs is style redirect's: the host must not own the VIPs.
func (d *doctor) checkNoVIPs() {
	links, why := d.getLinks()
	if why != "" {
		d.unknown(CheckVIP, d.spec.Interface, "the host's addresses: %s", why)
		return
	}
	clean := true
	for _, v := range d.spec.VIPs {
		on, at := vipPlaces(links, v)
		for i, l := range on {
			clean = false
			del := []Step{addrDel(at[i], l.Ifname)}
			if l.Ifname != "lo" {
				nd := "ARP requests"
				if v.Is6() {
					nd = "neighbour solicitations"
				}
				d.problem(CheckVIP, v.String(), del,
					"%s is an address of %s: the server answers %s for it, so the segment sends clients straight to it, past the balancer",
					v, l.Ifname, nd)
				continue
			}
			if suppressed, known := d.arpSuppressed(); v.Is4() && !suppressed {
				why := "with arp_ignore 0"
				if !known {
					why = "unless arp_ignore is 1 or 2"
				}
				d.problem(CheckVIP, v.String(), del,
					"%s is on lo, and %s the server answers ARP for it on every interface; style redirect needs no VIP on the host", v, why)
			} else {
				d.add(Finding{Check: CheckVIP, Status: StatusWarning, Subject: v.String(),
					Message: fmt.Sprintf("%s is on lo, which style redirect does not need (the redirect takes its packets before routing)", v),
					Advice:  "remove it: " + stepsShell(del)})
			}
		}
	}
	if clean {
		d.ok(CheckVIP, d.spec.Interface, "no VIP is an address of this host, as style redirect wants")
	}
}

// --- sysctls

// sysctlPath is the /proc/sys file of a per-interface IPv4 setting.
func sysctlPath(dev, key string) string {
	return "/proc/sys/net/ipv4/conf/" + dev + "/" + key
}

// readConf reads conf.all.KEY and conf.DEV.KEY; why says what could not
// be read.
func (d *doctor) readConf(dev, key string) (all, own int, why string) {
	read := func(dv string) (int, string) {
		p := sysctlPath(dv, key)
		b, err := d.host.ReadFile(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && dv != "all" {
				return 0, fmt.Sprintf("%s: no such file (does %s exist?)", p, dv)
			}
			return 0, whyNot(p, err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return 0, fmt.Sprintf("%s: %q is not a number", p, strings.TrimSpace(string(b)))
		}
		return n, ""
	}
	all, why = read("all")
	if why != "" {
		return 0, 0, why
	}
	own, why = read(dev)
	return all, own, why
}

// arpSuppressed reports whether the effective arp_ignore keeps the
// server from answering ARP for the VIPs on lo; known is false when it
// could not be read.
func (d *doctor) arpSuppressed() (suppressed, known bool) {
	all, own, why := d.readConf(d.spec.Interface, "arp_ignore")
	eff := max(all, own)
	return why == "" && (eff == 1 || eff == 2 || eff == 8), why == ""
}

func (d *doctor) checkARP() {
	v4, _ := families(d.spec.VIPs)
	if !v4 {
		return
	}
	ifc := d.spec.Interface
	fix := d.planSteps(func(a []string) bool {
		return a[0] == "sysctl" && strings.Contains(strings.Join(a, " "), "arp_ignore")
	})
	for _, key := range []string{"arp_ignore", "arp_announce"} {
		all, own, why := d.readConf(ifc, key)
		if why != "" {
			d.unknown(CheckARP, key, "%s: %s", key, why)
			continue
		}
		eff := max(all, own)
		values := fmt.Sprintf("%s is %d (all %d, %s %d; the larger counts)", key, eff, all, ifc, own)
		var bad string
		if key == "arp_ignore" {
			switch eff {
			case 1, 2:
			case 0:
				bad = "the server answers ARP for the VIPs on lo, so the segment sends clients straight to it, past the balancer"
			case 3:
				bad = "3 ignores only host-scope addresses, and the VIPs have global scope: the server answers ARP for them"
			case 8:
				bad = "8 answers no ARP at all, not even for the server's own address, so the balancer cannot reach it"
			default:
				bad = "values 4 to 7 are reserved and answer like 0: the server answers ARP for the VIPs"
			}
		} else {
			switch eff {
			case 2:
			case 1:
				bad = "1 still uses a VIP as the source of the server's own ARP requests when the target is in its subnet"
			default:
				bad = "the server may use a VIP as the source of its own ARP requests, teaching the segment that the VIP is here"
			}
		}
		if bad == "" {
			d.ok(CheckARP, key, "%s", values)
		} else {
			d.problem(CheckARP, key, fix, "%s: %s", values, bad)
		}
	}
}

type ipRoute struct {
	Dst      string `json:"dst"`
	Dev      string `json:"dev"`
	Nexthops []struct {
		Dev string `json:"dev"`
	} `json:"nexthops"`
}

func (d *doctor) getRoutes() ([]ipRoute, string) {
	return d.routes.get(func() ([]ipRoute, string) {
		argv := []string{"ip", "-j", "-4", "route", "show", "default"}
		out, why := d.run(argv...)
		if why != "" {
			return nil, why
		}
		var rs []ipRoute
		if err := json.Unmarshal(out, &rs); err != nil {
			return nil, fmt.Sprintf("%s: %v", strings.Join(argv, " "), err)
		}
		return rs, ""
	})
}

func (d *doctor) checkRPFilter() {
	v4, _ := families(d.spec.VIPs)
	if !v4 {
		return // rp_filter is IPv4's; IPv6 has no such sysctl
	}
	fix := d.planSteps(func(a []string) bool {
		return a[0] == "sysctl" && strings.Contains(strings.Join(a, " "), "rp_filter")
	})
	var devs []string
	switch {
	case d.spec.Method.Tunnels() && d.decap == DecapKernel:
		for _, t := range d.p.tunnelDevs() {
			if t.inner4 {
				devs = append(devs, t.name)
			}
		}
	default:
		devs = []string{d.spec.Interface}
	}
	links, lwhy := d.getLinks()
	for _, dev := range devs {
		if lwhy == "" && dev != d.spec.Interface && findLink(links, dev) == nil {
			continue // a missing tunnel device is the decap check's problem
		}
		all, own, why := d.readConf(dev, "rp_filter")
		if why != "" {
			d.unknown(CheckRPFilter, dev, "rp_filter of %s: %s", dev, why)
			continue
		}
		eff := max(all, own)
		values := fmt.Sprintf("rp_filter on %s is %d (all %d, %s %d; the larger counts)", dev, eff, all, dev, own)
		if eff != 1 {
			d.ok(CheckRPFilter, dev, "%s: not strict", values)
			continue
		}
		if d.spec.Method.Tunnels() {
			d.problem(CheckRPFilter, dev, fix,
				"%s, strict: the decapsulated packet's source is the client, whose route does not lead back through %s, so it is dropped",
				values, dev)
			continue
		}
		d.strictOnReceiver(dev, values)
	}
}

// strictOnReceiver judges strict mode on the interface that receives
// the clients' packets unencapsulated (l2dsr, dscp): fine while the
// route back to the clients leaves through it.
func (d *doctor) strictOnReceiver(dev, values string) {
	loose := []Step{{Argv: []string{"sysctl", "-w", sysctl("ipv4", dev, "rp_filter") + "=2"}}}
	routes, why := d.getRoutes()
	if why != "" {
		d.unknown(CheckRPFilter, dev, "the default route, which decides whether strict mode on %s drops clients: %s", dev, why)
		return
	}
	var out []string
	for _, r := range routes {
		devs := []string{r.Dev}
		if r.Dev == "" {
			devs = nil
			for _, nh := range r.Nexthops {
				devs = append(devs, nh.Dev)
			}
		}
		for _, x := range devs {
			if x != dev && !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
	}
	switch {
	case len(routes) == 0:
		d.add(Finding{Check: CheckRPFilter, Status: StatusWarning, Subject: dev,
			Message: values + ", strict, and there is no IPv4 default route: a client's packet is dropped unless a route back to it leaves through " + dev,
			Advice:  "loose mode accepts any client with a route back: " + stepsShell(loose)})
	case len(out) > 0:
		d.problem(CheckRPFilter, dev, loose,
			"%s, strict, and the default route leaves through %s: packets from clients reached that way are dropped on %s",
			values, strings.Join(out, ", "), dev)
	default:
		d.ok(CheckRPFilter, dev, "%s, strict: the clients' packets pass while the route back to them leaves through %s, as the default route does", values, dev)
	}
}

func stepsShell(steps []Step) string {
	var lines []string
	for _, s := range steps {
		lines = append(lines, s.Shell())
	}
	return strings.Join(lines, "; ")
}

// --- nftables

func (d *doctor) getRuleset() (*nftRuleset, string) {
	return d.ruleset.get(func() (*nftRuleset, string) {
		out, why := d.run("nft", "-j", "list", "ruleset")
		if why != "" {
			return nil, why
		}
		rs, err := parseRuleset(out)
		if err != nil {
			return nil, err.Error()
		}
		return rs, ""
	})
}

// chainSpec is what `nft add chain ... { type T hook H priority P ; ... }`
// asks for.
type chainSpec struct {
	typ, hook string
	prio      int
}

func parseChainSpec(s string) (chainSpec, bool) {
	f := strings.Fields(strings.NewReplacer("{", " ", "}", " ", ";", " ").Replace(s))
	var c chainSpec
	okPrio := false
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "type":
			c.typ = f[i+1]
		case "hook":
			c.hook = f[i+1]
		case "priority":
			if n, err := strconv.Atoi(f[i+1]); err == nil {
				c.prio, okPrio = n, true
			} else if n, ok := namedPrio[f[i+1]]; ok {
				c.prio, okPrio = n, true
			}
		}
	}
	return c, okPrio && c.typ != "" && c.hook != ""
}

// nftFix returns what restores rules (steps of the plan) in this
// set-up's table: only those steps when the table and the plan's chains
// are in place as the plan makes them; else every nft step of the plan
// (the table is flushed and filled again), after deleting the table when a
// chain of the same name has another type, hook or priority, which nft
// would refuse to change.
func (d *doctor) nftFix(rs *nftRuleset, rules []Step) []Step {
	t := d.p.table()
	chains := d.planSteps(func(a []string) bool { return hasPrefix(a, "nft", "add", "chain", "inet", t) })
	intact, conflict := rs.hasTable("inet", t), false
	for _, c := range chains {
		if len(c.Argv) < 7 {
			continue
		}
		want, ok := parseChainSpec(c.Argv[6])
		have := rs.chain("inet", t, c.Argv[5])
		switch {
		case have == nil:
			intact = false
		case !ok || have.Type != want.typ || have.Hook != want.hook || have.Prio != want.prio:
			intact, conflict = false, true
		}
	}
	if intact {
		return rules
	}
	all := d.planSteps(func(a []string) bool { return a[0] == "nft" })
	if conflict {
		del := d.teardownSteps(func(a []string) bool { return hasPrefix(a, "nft", "delete", "table", "inet", t) })
		return append(del, all...)
	}
	return all
}

// planRule returns the plan's `nft add rule` steps for chain whose rule
// text passes keep.
func (d *doctor) planRule(chain string, keep func(argv []string) bool) []Step {
	return d.planSteps(func(a []string) bool {
		return hasPrefix(a, "nft", "add", "rule", "inet", d.p.table(), chain) && keep(a[6:])
	})
}

// receivers are the devices the VIPs' packets are received on, as the
// stack sees them: the tunnel devices for kernel decapsulation, else the
// interface.
func (d *doctor) receivers() []string {
	if d.spec.Method.Tunnels() && d.decap == DecapKernel {
		var out []string
		for _, t := range d.p.tunnelDevs() {
			out = append(out, t.name)
		}
		return out
	}
	return []string{d.spec.Interface}
}

// vipPacket is a client's packet to v as the stack receives it on iif.
func (d *doctor) vipPacket(v netip.Addr, iif string) nftPacket {
	dscp := -1
	if d.spec.Method == conf.MethodDSCP {
		dscp = 0 // the stateless rule clears it
	}
	return nftPacket{v6: v.Is6(), iif: iif, daddr: v, proto: d.svc.protoNum(), dport: d.svc.Port, dscp: dscp}
}

// matchAny evaluates r against the packet for each receiver and returns
// the strongest answer.
func (d *doctor) matchAny(rs *nftRuleset, r *nftRule, pkt func(iif string) nftPacket) match {
	best := matchNo
	for _, dev := range d.receivers() {
		best = max(best, rs.matches(r, pkt(dev)))
	}
	return best
}

func maybeWord(m match) string {
	if m == matchMaybe {
		return " (it also tests what the doctor cannot know, so it may)"
	}
	return ""
}

func beforeConntrack(c *nftChain) bool { return c.Prio < conntrackPrio }

func (d *doctor) checkDSCP() {
	rs, why := d.getRuleset()
	if why != "" {
		d.unknown(CheckDSCP, "", "the nftables rules: %s", why)
		return
	}
	d.dscpUntrkd = map[netip.Addr]bool{}
	pre := rs.rulesIn(func(c *nftChain) bool { return c.Hook == "prerouting" && c.Type == "filter" })
	selfs := d.spec.Self
	if len(selfs) == 0 {
		selfs = []netip.Addr{{}} // any destination
	}
	for _, v := range d.spec.VIPs {
		code := int(d.spec.DSCP[v])
		var good *nftRule
		var late []string
		for _, r := range pre {
			to, ok := r.setsDaddr(code)
			if !ok || to != v {
				continue
			}
			m := matchYes
			for _, s := range selfs {
				m = min(m, rs.matches(r, nftPacket{iif: d.spec.Interface, daddr: s, dscp: code,
					proto: d.svc.protoNum(), dport: d.svc.Port}))
			}
			switch {
			case m == matchNo:
			case !beforeConntrack(r.chain):
				late = append(late, fmt.Sprintf("%s sets it at priority %d, after conntrack", r.where(), r.chain.Prio))
			case !r.hasStatement("notrack"):
				late = append(late, fmt.Sprintf("%s sets it without notrack", r.where()))
			default:
				if good == nil {
					good = r
				}
			}
		}
		if good != nil {
			d.dscpUntrkd[v] = true
			d.ok(CheckDSCP, v.String(), "DSCP %d -> %s, untracked, before conntrack: %s (priority %d)", code, v, good.where(), good.chain.Prio)
			continue
		}
		fix := d.nftFix(rs, d.planRule("prerouting", func(a []string) bool {
			return strings.Contains(a[0], fmt.Sprintf("ip daddr set %s ", v))
		}))
		msg := fmt.Sprintf("no stateless rule turns DSCP %d on %s back into %s before conntrack: the packets stay addressed to the server's own address and miss the VIP",
			code, d.spec.Interface, v)
		if len(late) > 0 {
			msg += "; " + strings.Join(late, "; ")
		}
		d.problem(CheckDSCP, v.String(), fix, "%s", msg)
	}

	// The replies from the VIPs.
	out := rs.rulesIn(func(c *nftChain) bool { return c.Hook == "output" && beforeConntrack(c) })
	var tracked []string
	for _, v := range d.spec.VIPs {
		found := false
		for _, r := range out {
			if r.hasStatement("notrack") && rs.matches(r, nftPacket{saddr: v, proto: d.svc.protoNum(), sport: d.svc.Port}) != matchNo {
				found = true
				break
			}
		}
		if !found {
			tracked = append(tracked, v.String())
		}
	}
	if len(tracked) == 0 {
		d.ok(CheckDSCP, "replies", "the replies from the VIPs are untracked (output, before conntrack)")
		return
	}
	d.problem(CheckDSCP, "replies", d.nftFix(rs, d.planRule("output", func([]string) bool { return true })),
		"the replies from %s are tracked while their requests are not: conntrack sees one direction only, and a host firewall may take them for invalid",
		strings.Join(tracked, ", "))
}

// firstAddr is the address a redirect of a packet to v on dev delivers
// to: the first IPv4 address of dev, or its first usable IPv6 address of
// v's scope (the kernel's choice, in the order ip lists them).
func firstAddr(links []ipLink, dev string, v netip.Addr) (netip.Addr, bool) {
	l := findLink(links, dev)
	if l == nil {
		return netip.Addr{}, false
	}
	for _, a := range l.AddrInfo {
		ad := a.addr()
		if !ad.IsValid() || ad.Is4() != v.Is4() || a.Tentative || a.Dadfailed {
			continue
		}
		if v.Is6() && (ad.IsLinkLocalUnicast() != v.IsLinkLocalUnicast() || ad.Is4In6()) {
			continue
		}
		return ad, true
	}
	return netip.Addr{}, false
}

// redirectOK reports whether t delivers the VIP's packet to the host
// on its own port, as style redirect wants.
func (d *doctor) redirectOK(t natTarget, own map[netip.Addr]string) bool {
	if t.port != 0 && t.port != int(d.svc.Port) {
		return false
	}
	if t.redirect {
		return true
	}
	_, local := own[t.addr]
	return local
}

// natRules returns the rules of nat chains at hook, in the order the
// kernel tries them: chain priority, then listing order.
func natRules(rs *nftRuleset, hook string) []*nftRule {
	rules := rs.rulesIn(func(c *nftChain) bool { return c.Type == "nat" && c.Hook == hook })
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].chain.Prio < rules[j].chain.Prio })
	return rules
}

func (d *doctor) checkRedirect() {
	rs, why := d.getRuleset()
	if why != "" {
		d.unknown(CheckRedirect, "", "the nftables rules: %s", why)
		return
	}
	links, lwhy := d.getLinks()
	own := d.ownAddrs(links)
	d.redirectTo = map[netip.Addr]netip.Addr{}
	ifc := d.spec.Interface
	for _, v := range d.spec.VIPs {
		pkt := d.vipPacket(v, ifc)
		var first *nftRule
		var target natTarget
		// The first nat rule that applies binds the connection. One that
		// only may apply (it tests marks, say) is passed over here; the
		// nat check names it.
		for _, r := range natRules(rs, "prerouting") {
			t, ok := r.natTarget()
			if m := rs.matches(r, pkt); ok && (m == matchYes || m == matchMaybe && d.redirectOK(t, own)) {
				first, target = r, t
				break
			}
		}
		if first != nil && d.redirectOK(target, own) {
			to := target.addr
			if target.redirect {
				if lwhy != "" {
					d.unknown(CheckRedirect, v.String(), "where %s redirects %s: %s", first.where(), v, lwhy)
					continue
				}
				a, ok := firstAddr(links, ifc, v)
				if !ok {
					d.problem(CheckRedirect, v.String(), nil,
						"%s redirects %s, but %s has no address of its family to redirect to: the packets are dropped", first.where(), v, ifc)
					continue
				}
				to = a
			}
			d.redirectTo[v] = to
			d.ok(CheckRedirect, v.String(), "%s on %s: %s to %s", v, ifc, first.where(), to)
		} else if first == nil {
			fix := d.nftFix(rs, d.planRule("prerouting", func(a []string) bool {
				return slices.Contains(a, v.String()) && slices.Contains(a, "redirect")
			}))
			d.problem(CheckRedirect, v.String(), fix,
				"no nat rule redirects %s on %s: the host does not own the VIP, so its packets are not delivered", v, ifc)
		}
		// A first rule that sends the packets elsewhere is the nat check's.

		// notrack before conntrack: the redirect never happens (nat needs
		// conntrack), and the replies would not get the VIP back.
		for _, r := range rs.rulesIn(func(c *nftChain) bool { return c.Hook == "prerouting" && beforeConntrack(c) }) {
			if m := rs.matches(r, pkt); r.hasStatement("notrack") && m != matchNo {
				d.problem(CheckRedirect, v.String(), []Step{r.deleteStep("")},
					"%s untracks the packets to %s%s: nat needs conntrack, so they are not redirected and the replies would not get the VIP back",
					r.where(), v, maybeWord(m))
			}
		}
		if to, ok := d.redirectTo[v]; ok {
			reply := nftPacket{v6: v.Is6(), saddr: to, proto: d.svc.protoNum(), sport: d.svc.Port}
			for _, r := range rs.rulesIn(func(c *nftChain) bool { return c.Hook == "output" && beforeConntrack(c) }) {
				if m := rs.matches(r, reply); r.hasStatement("notrack") && m != matchNo {
					d.problem(CheckRedirect, v.String(), []Step{r.deleteStep("")},
						"%s untracks the replies from %s port %d%s: conntrack cannot give them the VIP %s back as their source",
						r.where(), to, d.svc.Port, maybeWord(m), v)
				}
			}
		}
	}
}

func (d *doctor) checkNAT() {
	rs, why := d.getRuleset()
	if why != "" {
		d.unknown(CheckNAT, "", "the nftables rules: %s", why)
		return
	}
	links, _ := d.getLinks()
	own := d.ownAddrs(links)
	selfs := d.spec.Self
	if len(selfs) == 0 {
		selfs = []netip.Addr{{}}
	}
	bad := 0
	for _, r := range natRules(rs, "prerouting") {
		t, ok := r.natTarget()
		if !ok {
			continue
		}
		// dscp: a DNAT to the VIP of what arrives with its code.
		if d.spec.Method == conf.MethodDSCP && slices.Contains(d.spec.VIPs, t.addr) {
			v := t.addr
			m := matchNo
			for _, s := range selfs {
				m = max(m, rs.matches(r, nftPacket{iif: d.spec.Interface, daddr: s, dscp: int(d.spec.DSCP[v]),
					proto: d.svc.protoNum(), dport: d.svc.Port}))
			}
			if m != matchNo {
				msg := fmt.Sprintf("%s DNATs the packets for %s (DSCP %d) to it%s: conntrack turns the reply's source back into the server's own address, and the client, which sent to the VIP, drops it",
					r.where(), v, d.spec.DSCP[v], maybeWord(m))
				if d.dscpUntrkd[v] {
					msg += " (today the stateless rule untracks these packets first, so this rule takes over as soon as that rule is gone)"
				}
				d.problem(CheckNAT, r.where(), []Step{r.deleteStep("")}, "%s", msg)
				bad++
				continue
			}
		}
		var hit []string
		worst := matchNo
		for _, v := range d.spec.VIPs {
			m := d.matchAny(rs, r, func(iif string) nftPacket { return d.vipPacket(v, iif) })
			if m == matchNo || (!t.redirect && t.addr == v && t.port == 0) {
				continue
			}
			if d.spec.Style == StyleRedirect && d.redirectOK(t, own) {
				continue // the redirect check's business
			}
			hit = append(hit, v.String())
			worst = max(worst, m)
		}
		if len(hit) == 0 {
			continue
		}
		var msg string
		if d.spec.Style == StyleRedirect {
			msg = fmt.Sprintf("%s (%s) sends the packets to %s%s off this host: the reply comes from another host's own address, which the client drops",
				r.where(), t, strings.Join(hit, ", "), maybeWord(worst))
		} else {
			msg = fmt.Sprintf("%s (%s) rewrites the packets to %s%s: they no longer reach the VIP on lo",
				r.where(), t, strings.Join(hit, ", "), maybeWord(worst))
			if !t.redirect {
				if _, local := own[t.addr]; !local {
					msg += ", and the host they go to answers from its own address, which the client drops"
				}
			}
		}
		d.problem(CheckNAT, r.where(), []Step{r.deleteStep("")}, "%s", msg)
		bad++
	}
	if bad == 0 {
		what := "no nat rule rewrites the packets to the VIPs"
		switch {
		case d.spec.Method == conf.MethodDSCP:
			what = "no nat rule DNATs to a VIP or rewrites the packets to the VIPs"
		case d.spec.Style == StyleRedirect:
			what = "no nat rule sends the packets to the VIPs off this host"
		}
		d.ok(CheckNAT, "", "%s", what)
	}
}

// --- MTU and MSS

func (d *doctor) checkMTU() {
	mtu, from := d.spec.PathMTU, "-path-mtu"
	if mtu == 0 {
		links, why := d.getLinks()
		l := findLink(links, d.spec.Interface)
		if why != "" || l == nil || l.MTU == 0 {
			if why == "" {
				why = d.spec.Interface + " not found"
			}
			d.unknown(CheckMTU, d.spec.Interface, "the MTU of %s: %s", d.spec.Interface, why)
			return
		}
		mtu, from = l.MTU, d.spec.Interface
	}
	self4, self6 := families(d.spec.Self)
	oh, over := 0, ""
	if self4 {
		oh, over = d.spec.Method.Overhead(false), "IPv4"
	}
	if self6 && d.spec.Method.Overhead(true) > oh {
		oh, over = d.spec.Method.Overhead(true), "IPv6"
	}
	if !d.spec.ClampMSS {
		if mtu >= 1500+oh {
			d.ok(CheckMTU, from, "MTU %d (%s) carries a 1500-byte packet plus the %d bytes of %s over %s", mtu, from, oh, d.spec.Method, over)
			return
		}
		var advice string
		for _, s := range d.plan {
			if len(s.Argv) == 0 && strings.HasPrefix(s.Comment, "MTU:") {
				advice = s.Comment
			}
		}
		d.add(Finding{Check: CheckMTU, Status: StatusWarning, Subject: from,
			Message: fmt.Sprintf("MTU %d (%s) is below 1500 + %d (%s over %s): a client's full-size segment, encapsulated, no longer fits; the balancer answers it with ICMP, and clients that do not hear that stall",
				mtu, from, oh, d.spec.Method, over),
			Advice: advice})
		return
	}
	rs, why := d.getRuleset()
	if why != "" {
		d.unknown(CheckMTU, "", "the MSS clamp rules: %s", why)
		return
	}
	info := d.info
	info.MTU = mtu
	mss4, mss6 := ClampedMSS(d.spec, info)
	rules := rs.rulesIn(func(c *nftChain) bool { return c.Hook == "output" || c.Hook == "postrouting" })
	for _, fam := range []struct {
		v6    bool
		limit int
		name  string
	}{{false, mss4, "IPv4"}, {true, mss6, "IPv6"}} {
		var vips, missing, high []string
		for _, v := range d.spec.VIPs {
			if v.Is6() != fam.v6 {
				continue
			}
			vips = append(vips, v.String())
			pkt := nftPacket{v6: v.Is6(), saddr: v, proto: 6, sport: d.svc.Port}
			found := false
			for _, r := range rules {
				n, ok := r.mssSet()
				if !ok || rs.matches(r, pkt) == matchNo {
					continue
				}
				if n > fam.limit {
					high = append(high, fmt.Sprintf("%s sets %d for %s", r.where(), n, v))
					continue
				}
				found = true
				break
			}
			if !found {
				missing = append(missing, v.String())
			}
		}
		if len(vips) == 0 {
			continue
		}
		subject := fam.name + " VIPs"
		if len(missing) == 0 {
			d.ok(CheckMTU, subject, "the SYN-ACKs from %s advertise an MSS of at most %d (MTU %d from %s)", strings.Join(vips, ", "), fam.limit, mtu, from)
			continue
		}
		prefix := "ip saddr "
		if fam.v6 {
			prefix = "ip6 saddr "
		}
		fix := d.nftFix(rs, d.planRule("output", func(a []string) bool { return strings.HasPrefix(a[0], prefix) }))
		msg := fmt.Sprintf("no rule lowers the MSS of the SYN-ACKs from %s to %d or less (MTU %d from %s, %s over %s): clients send segments that no longer fit once encapsulated",
			strings.Join(missing, ", "), fam.limit, mtu, from, d.spec.Method, over)
		if len(high) > 0 {
			msg += "; " + strings.Join(high, "; ")
		}
		d.problem(CheckMTU, subject, fix, "%s", msg)
	}
}

// --- listeners

// listener is a listening (TCP) or bound (UDP) socket as ss shows it.
type listener struct {
	addr   netip.Addr // unspecified for a wildcard, IPv4 for ::ffff:a.b.c.d
	v6     bool       // an IPv6 socket
	v6only bool
	dev    string // SO_BINDTODEVICE
	port   uint16
	text   string // as ss printed it
}

// parseSS reads `ss -Hln{t,u}e`: state, queues, local address:port, peer,
// then extended fields with v6only:N for IPv6 sockets. ss writes an
// IPv6 wildcard without IPV6_V6ONLY as *, with it as [::].
func parseSS(b []byte) ([]listener, error) {
	var out []listener
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("ss: cannot read %q", strings.TrimSpace(line))
		}
		local := f[3]
		i := strings.LastIndex(local, ":")
		if i < 0 {
			return nil, fmt.Errorf("ss: no port in %q", local)
		}
		port, err := strconv.ParseUint(local[i+1:], 10, 16)
		if err != nil {
			return nil, fmt.Errorf("ss: port of %q: %v", local, err)
		}
		l := listener{port: uint16(port), text: local}
		host := local[:i]
		host, l.dev, _ = strings.Cut(host, "%")
		switch {
		case host == "*":
			l.addr, l.v6 = netip.IPv6Unspecified(), true
		case strings.HasPrefix(host, "["):
			a, err := netip.ParseAddr(strings.Trim(host, "[]"))
			if err != nil {
				return nil, fmt.Errorf("ss: address of %q: %v", local, err)
			}
			l.addr, l.v6, l.v6only = a.Unmap(), true, a.IsUnspecified()
		default:
			a, err := netip.ParseAddr(host)
			if err != nil {
				return nil, fmt.Errorf("ss: address of %q: %v", local, err)
			}
			l.addr = a
		}
		for _, x := range f[5:] {
			if v, ok := strings.CutPrefix(x, "v6only:"); ok {
				l.v6only = v == "1"
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// takes reports whether l receives packets to dst on port arriving on
// one of devs.
func (l listener) takes(dst netip.Addr, port uint16, devs []string) bool {
	if l.port != port || (l.dev != "" && !slices.Contains(devs, l.dev)) {
		return false
	}
	if dst.Is4() {
		if l.v6 && l.v6only {
			return false
		}
		return l.addr == dst || (l.addr.IsUnspecified() && (l.addr.Is4() || l.v6))
	}
	return l.v6 && (l.addr == dst || l.addr.IsUnspecified())
}

func (l listener) wildcard() bool { return l.addr.IsUnspecified() }

func (d *doctor) getListeners() ([]listener, string) {
	return d.listeners.get(func() ([]listener, string) {
		flags := "-Hlnte"
		if d.svc.Proto == "udp" {
			flags = "-Hlnue"
		}
		out, why := d.run("ss", flags)
		if why != "" {
			return nil, why
		}
		ls, err := parseSS(out)
		if err != nil {
			return nil, err.Error()
		}
		return ls, ""
	})
}

func (d *doctor) checkListeners() {
	if d.svc.Port == 0 {
		return // every port: the report's header says no listener is checked
	}
	svc := fmt.Sprintf("%s port %d", d.svc.Proto, d.svc.Port)
	ls, why := d.getListeners()
	if why != "" {
		d.unknown(CheckListener, svc, "the listening sockets: %s", why)
		return
	}
	links, lwhy := d.getLinks()
	own := d.ownAddrs(links)
	devs := d.receivers()

	type target struct {
		dst  netip.Addr
		what string
	}
	var targets []target
	if d.spec.Style == StyleRedirect {
		if lwhy != "" {
			d.unknown(CheckListener, svc, "where the redirect delivers: %s", lwhy)
			return
		}
		seen := map[netip.Addr]bool{}
		for _, v := range d.spec.VIPs {
			to, ok := d.redirectTo[v]
			if !ok {
				to, ok = firstAddr(links, d.spec.Interface, v)
			}
			if ok && !seen[to] {
				seen[to] = true
				targets = append(targets, target{to, fmt.Sprintf("%s (where the redirect of the VIPs delivers)", to)})
			}
		}
	} else {
		for _, v := range d.spec.VIPs {
			targets = append(targets, target{v, v.String() + " (the VIP)"})
		}
	}
	for _, tg := range targets {
		var takers []listener
		for _, l := range ls {
			if l.takes(tg.dst, d.svc.Port, devs) {
				takers = append(takers, l)
			}
		}
		if len(takers) > 0 {
			var names []string
			wild := true
			for _, l := range takers {
				names = append(names, l.text)
				wild = wild && l.wildcard()
			}
			if d.svc.Proto == "udp" && wild && d.spec.Style != StyleRedirect {
				d.add(Finding{Check: CheckListener, Status: StatusWarning, Subject: tg.dst.String(),
					Message: fmt.Sprintf("%s for %s: bound to the wildcard address (%s); a UDP reply leaves from the VIP only if the service sets its source",
						svc, tg.what, strings.Join(names, ", ")),
					Advice: "bind the service to the VIP, or check that it answers from the address it was asked on (IP_PKTINFO / IPV6_PKTINFO, as most DNS servers do)"})
				continue
			}
			d.ok(CheckListener, tg.dst.String(), "%s for %s: %s", svc, tg.what, strings.Join(names, ", "))
			continue
		}
		var why []string
		for _, l := range ls {
			if l.port != d.svc.Port {
				continue
			}
			switch {
			case l.dev != "" && !slices.Contains(devs, l.dev):
				why = append(why, fmt.Sprintf("%s is bound to device %s, and the packets arrive on %s", l.text, l.dev, strings.Join(devs, ", ")))
			case l.v6 && l.v6only && l.wildcard() && tg.dst.Is4():
				why = append(why, fmt.Sprintf("%s is an IPv6 wildcard with IPV6_V6ONLY, which takes no IPv4", l.text))
			case l.wildcard() || l.addr.Is4() != tg.dst.Is4():
				// the other family's wildcard or address: says nothing here
			case slices.Contains(d.spec.VIPs, l.addr):
				why = append(why, fmt.Sprintf("%s is bound to the VIP %s", l.text, l.addr))
			case own[l.addr] != "":
				why = append(why, fmt.Sprintf("%s is bound to the server's own address %s only", l.text, l.addr))
			default:
				why = append(why, fmt.Sprintf("%s is bound to %s", l.text, l.addr))
			}
		}
		msg := fmt.Sprintf("nothing listens on %s for %s", svc, tg.what)
		if len(why) > 0 {
			msg += ": " + strings.Join(why, "; ")
		}
		var advice string
		if d.spec.Style == StyleRedirect {
			advice = fmt.Sprintf("make the service listen on %s or on the wildcard address (0.0.0.0 / [::])", tg.dst)
		} else {
			advice = fmt.Sprintf("make the service listen on %s or on the wildcard address (0.0.0.0 / [::]), e.g. nginx: listen %d; rather than listen <own address>:%d;",
				tg.dst, d.svc.Port, d.svc.Port)
		}
		d.add(Finding{Check: CheckListener, Status: StatusProblem, Subject: tg.dst.String(), Message: msg, Advice: advice})
	}
}

// --- output

// Format writes the report for a terminal: one line per finding, with the
// fixing commands and advice below it, a summary, and every fix once, in
// order, ready to paste.
func (r *Report) Format(w io.Writer) error {
	var b strings.Builder
	s := r.Spec
	fmt.Fprintf(&b, "dsrlb doctor, real server: method %s", s.Method)
	if s.Style == StyleRedirect {
		b.WriteString(" (style redirect)")
	}
	fmt.Fprintf(&b, ", VIPs %s, interface %s", joinAddrs(s.VIPs, " "), s.Interface)
	if len(s.Self) > 0 {
		fmt.Fprintf(&b, ", own addresses %s", joinAddrs(s.Self, " "))
	}
	if r.Service.Port == 0 {
		fmt.Fprintf(&b, ", service %s, every port (no listener checked)\n", r.Service.Proto)
	} else {
		fmt.Fprintf(&b, ", service %s port %d\n", r.Service.Proto, r.Service.Port)
	}
	if r.Decap != "" {
		fmt.Fprintf(&b, "decapsulation: %s (%s)\n", r.Decap, r.DecapWhy)
	}
	b.WriteByte('\n')
	labels := map[Status]string{StatusOK: "ok", StatusWarning: "warning", StatusProblem: "PROBLEM", StatusUnknown: "UNKNOWN"}
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%-8s %-11s %s\n", labels[f.Status], f.Check, f.Message)
		for i, st := range f.Fix {
			head := "fix:"
			if i > 0 {
				head = ""
			}
			fmt.Fprintf(&b, "%9s%-12s%s\n", "", head, st.Shell())
		}
		if f.Advice != "" {
			for i, line := range strings.Split(f.Advice, "\n") {
				head := "advice:"
				if i > 0 {
					head = ""
				}
				fmt.Fprintf(&b, "%9s%-12s%s\n", "", head, line)
			}
		}
	}
	fmt.Fprintf(&b, "\n%s, %d not inspected, %s, %d ok: ",
		plural(r.Count(StatusProblem), "problem"), r.Count(StatusUnknown), plural(r.Count(StatusWarning), "warning"), r.Count(StatusOK))
	switch {
	case r.Count(StatusProblem) > 0:
		b.WriteString("DSR is broken for some traffic\n")
	case r.Count(StatusUnknown) > 0:
		b.WriteString("nothing wrong found, but not everything could be inspected\n")
	default:
		b.WriteString("nothing wrong\n")
	}
	if fix := r.FixSteps(); len(fix) > 0 {
		b.WriteString("\n# the fixes, in order (as root):\n")
		for _, st := range fix {
			b.WriteString(st.Shell() + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

type jsonStep struct {
	Argv    []string `json:"argv"`
	Shell   string   `json:"shell"`
	MayFail bool     `json:"may_fail,omitempty"`
}

func jsonSteps(steps []Step) []jsonStep {
	out := make([]jsonStep, 0, len(steps))
	for _, s := range steps {
		out = append(out, jsonStep{Argv: s.Argv, Shell: s.Shell(), MayFail: s.MayFail})
	}
	return out
}

// MarshalJSON is the machine-readable report of dsrlbctl doctor -json.
func (r *Report) MarshalJSON() ([]byte, error) {
	type finding struct {
		Check   string     `json:"check"`
		Status  Status     `json:"status"`
		Subject string     `json:"subject,omitempty"`
		Message string     `json:"message"`
		Advice  string     `json:"advice,omitempty"`
		Fix     []jsonStep `json:"fix,omitempty"`
	}
	fs := make([]finding, 0, len(r.Findings))
	for _, f := range r.Findings {
		var fix []jsonStep
		if len(f.Fix) > 0 {
			fix = jsonSteps(f.Fix)
		}
		fs = append(fs, finding{f.Check, f.Status, f.Subject, f.Message, f.Advice, fix})
	}
	strs := func(a []netip.Addr) []string {
		out := make([]string, len(a))
		for i, x := range a {
			out[i] = x.String()
		}
		return out
	}
	style := r.Spec.Style
	if style == "" {
		style = StyleVIP
	}
	return json.Marshal(struct {
		Method    string         `json:"method"`
		Style     string         `json:"style"`
		VIPs      []string       `json:"vips"`
		Interface string         `json:"interface"`
		Self      []string       `json:"self,omitempty"`
		Proto     string         `json:"proto"`
		Port      uint16         `json:"port,omitempty"`
		Decap     string         `json:"decap,omitempty"`
		Healthy   bool           `json:"healthy"`
		Counts    map[Status]int `json:"counts"`
		Findings  []finding      `json:"findings"`
		Fix       []jsonStep     `json:"fix"`
	}{
		Method: r.Spec.Method.String(), Style: style, VIPs: strs(r.Spec.VIPs), Interface: r.Spec.Interface,
		Self: strs(r.Spec.Self), Proto: r.Service.Proto, Port: r.Service.Port, Decap: r.Decap,
		Healthy: r.Healthy(),
		Counts: map[Status]int{StatusOK: r.Count(StatusOK), StatusWarning: r.Count(StatusWarning),
			StatusProblem: r.Count(StatusProblem), StatusUnknown: r.Count(StatusUnknown)},
		Findings: fs, Fix: jsonSteps(r.FixSteps()),
	})
}
