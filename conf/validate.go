package conf

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Limits and defaults of the configuration (see the raw structs in schema.go).
const (
	maxCPU         = 1023 // highest CPU id (CPU_SETSIZE-1)
	maxWorkers     = 64
	maxPorts       = 8
	defBurstSize   = 32
	defMbufs       = 8191
	defARPRefresh  = 5 * time.Second
	defARPExpiry   = 30 * time.Second
	defStats       = 10 * time.Second
	minARPRefresh  = 100 * time.Millisecond
	maxIdleSleep   = time.Millisecond
	defSHM         = "/dev/shm/dsrlb"
	defMTU         = 1500
	defDescriptors = 1024
	defTableSize   = 65537
	minTableSize   = 7
	maxTableSize   = 16777213
	defWeight      = 1

	// health checks
	defCheckInterval = 2 * time.Second
	defCheckTimeout  = time.Second
	minCheckInterval = 100 * time.Millisecond
	defRise          = 2
	defFall          = 3
	maxRiseFall      = 100
	defJitter        = 0.1
	maxJitter        = 0.5
	maxUDPPayload    = 65507
	defQuorum        = 1

	maxSocketPath = 107 // sun_path holds 108 bytes with the terminating NUL
)

var (
	portNameRE    = regexp.MustCompile(`^[a-z0-9_-]{1,15}$`)
	serviceNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,32}$`)
	vdevNameRE    = regexp.MustCompile(`^net_[a-zA-Z0-9_]+$`)
	pciAddrRE     = regexp.MustCompile(`^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[01][0-9a-fA-F]\.[0-7]$`)
)

// validator collects positioned errors while turning raw structs into a Config.
type validator struct {
	file string
	loc  *locator
	errs []*Error
	bad  map[string]bool // paths whose value had the wrong TOML type
}

func (v *validator) add(p fieldPath, msg string) { v.addAt(p, p, msg) }

func (v *validator) addf(p fieldPath, format string, args ...any) {
	v.addAt(p, p, fmt.Sprintf(format, args...))
}

// addAt reports msg for the field shown, positioned at the line of at (an
// element or sibling that points the reader to the right line).
func (v *validator) addAt(at, shown fieldPath, msg string) {
	v.errs = append(v.errs, &Error{File: v.file, Line: v.loc.line(at), Path: shown.String(), Msg: msg})
}

func (v *validator) err() error { return joinErrors(v.errs) }

// missing reports an absent required key, unless it was present with a
// wrong type (already reported).
func (v *validator) missing(p fieldPath) {
	if !v.bad[p.String()] {
		v.add(p, "required key is missing")
	}
}

// lineOf returns the line of p for use inside messages.
func (v *validator) lineOf(p fieldPath) string {
	if ln := v.loc.line(p); ln > 0 {
		return strconv.Itoa(ln)
	}
	return "?"
}

// intIn returns *val, or def when val is nil; ok is false (and an error
// reported) when *val is outside lo..hi.
func (v *validator) intIn(p fieldPath, val *int64, def, lo, hi int64) (int64, bool) {
	if val == nil {
		return def, true
	}
	if *val < lo || *val > hi {
		v.addf(p, "%s %d out of range %d..%d", p.last(), *val, lo, hi)
		return def, false
	}
	return *val, true
}

// duration parses a non-negative Go duration, or returns def when val is nil.
func (v *validator) duration(p fieldPath, val *string, def time.Duration) (time.Duration, bool) {
	if val == nil {
		return def, true
	}
	d, err := time.ParseDuration(*val)
	if err != nil {
		v.addf(p, "invalid duration %q: use a Go duration such as \"500ms\", \"5s\" or \"1m30s\"", *val)
		return def, false
	}
	if d < 0 {
		v.addf(p, "negative duration %q", *val)
		return def, false
	}
	return d, true
}

func (v *validator) validate(raw *rawConfig) *Config {
	c := &Config{}
	dp, own := v.dataplane(raw.Dataplane)
	c.Dataplane = dp
	c.Ctrl = v.ctrl(raw.Ctrl)
	v.services(raw.Service, &c.Dataplane, own, c)
	v.vrrps(raw.VRRP, c)
	v.bgp(raw.BGP, raw.Service, c)
	v.dsrProbePorts(c)
	return c
}

// ownAddrs says which of the balancer's own addresses are valid: other
// addresses are checked against an own address only when it is (an
// invalid one has been reported already).
type ownAddrs struct {
	v4 bool // dataplane.address is valid
	v6 bool // dataplane.address6 is valid
	// v6Missing: the [dataplane] table has no address6 at all, so every
	// IPv6 VIP, real server, neighbour and next hop is an error.
	v6Missing bool
}

// ok reports whether the own address of a's family is valid.
func (o ownAddrs) ok(a netip.Addr) bool {
	if a.Is4() {
		return o.v4
	}
	return o.v6
}

// ownKey names the key of the own address of a's family.
func ownKey(a netip.Addr) string {
	if a.Is4() {
		return "dataplane.address"
	}
	return "dataplane.address6"
}

// family names a's address family.
func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// ctrl validates [ctrl]; an absent table means all defaults.
func (v *validator) ctrl(r *rawCtrl) Ctrl {
	c := Ctrl{Socket: DefaultSocket, VRRPDataplaneTimeout: defVRRPDataplaneTimeout, MetricsListen: DefaultMetricsListen,
		DSRProbePorts: DefaultDSRProbePorts}
	if r == nil {
		return c
	}
	if r.DSRProbePorts != nil {
		p := fieldPath{}.keys("ctrl", "dsr_probe_ports")
		if pr, ok := parsePortRange(*r.DSRProbePorts); !ok {
			v.addf(p, "dsr_probe_ports %q: want \"FIRST-LAST\" with 1024 <= FIRST <= LAST <= 65535, e.g. \"61000-61999\"", *r.DSRProbePorts)
		} else {
			c.DSRProbePorts = pr
		}
	}
	if r.MetricsListen != nil {
		p := fieldPath{}.keys("ctrl", "metrics_listen")
		if msg := listenAddrError(*r.MetricsListen); msg != "" {
			v.add(p, msg)
		} else {
			c.MetricsListen = *r.MetricsListen
		}
	}
	if r.VRRPDataplaneTimeout != nil {
		p := fieldPath{}.keys("ctrl", "vrrp_dataplane_timeout")
		if d, ok := v.duration(p, r.VRRPDataplaneTimeout, defVRRPDataplaneTimeout); ok {
			if d < minVRRPDataplaneTimeout || d > maxVRRPDataplaneTimeout {
				v.addf(p, "vrrp_dataplane_timeout %s out of range %s..%s", d, minVRRPDataplaneTimeout, maxVRRPDataplaneTimeout)
			} else {
				c.VRRPDataplaneTimeout = d
			}
		}
	}
	if r.Socket == nil {
		return c
	}
	sp := fieldPath{}.keys("ctrl", "socket")
	switch s := *r.Socket; {
	case !strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "\x00"):
		v.addf(sp, "socket %q must be an absolute file path", s)
	case len(s) > maxSocketPath:
		v.addf(sp, "socket path is %d bytes long; a Unix socket path holds at most %d", len(s), maxSocketPath)
	default:
		c.Socket = s
	}
	return c
}

// parsePortRange parses "FIRST-LAST" (1024 <= FIRST <= LAST <= 65535).
func parsePortRange(s string) ([2]uint16, bool) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return [2]uint16{}, false
	}
	lo, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	hi, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if err1 != nil || err2 != nil || lo < 1024 || lo > hi {
		return [2]uint16{}, false
	}
	return [2]uint16{uint16(lo), uint16(hi)}, true
}

// listenAddrError checks a "host:port" listen address ("" is off): the
// host an IP address or empty, the port 0..65535.
func listenAddrError(s string) string {
	if s == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("metrics_listen %q: want host:port, e.g. \"127.0.0.1:9842\" or \"[2001:db8::10]:9842\" (%v)", s, err)
	}
	if host != "" {
		if a, err := netip.ParseAddr(host); err != nil || a.Zone() != "" {
			return fmt.Sprintf("metrics_listen %q: host %q is not an IP address", s, host)
		}
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("metrics_listen %q: port %q is not 0..65535", s, port)
	}
	return ""
}

// dataplane validates [dataplane]. own reports which of dp.Address and
// dp.Address6 are valid (services are checked against them only then).
func (v *validator) dataplane(r *rawDataplane) (dp Dataplane, own ownAddrs) {
	base := fieldPath{}.key("dataplane")
	if r == nil {
		if !v.bad[base.String()] {
			v.add(base, "missing [dataplane] table (workers, address and at least one [[dataplane.port]] are required)")
		}
		return dp, own
	}

	// workers
	wp := base.key("workers")
	workerAt := map[int64]int{} // CPU -> index in workers
	switch {
	case r.Workers == nil:
		v.missing(wp)
	case len(r.Workers) == 0:
		v.add(wp, "at least one worker CPU is required")
	case len(r.Workers) > maxWorkers:
		v.addAt(wp.idx(maxWorkers), wp, fmt.Sprintf("too many workers: %d (at most %d)", len(r.Workers), maxWorkers))
	}
	for i, w := range r.Workers {
		at := wp.idx(i)
		if w < 0 || w > maxCPU {
			v.addAt(at, wp, fmt.Sprintf("CPU %d out of range 0..%d", w, maxCPU))
			continue
		}
		if j, dup := workerAt[w]; dup {
			v.addAt(at, wp, fmt.Sprintf("CPU %d listed twice (entries %d and %d): one worker per CPU", w, j, i))
			continue
		}
		workerAt[w] = i
		dp.Workers = append(dp.Workers, int(w))
	}

	// main_cpu
	mp := base.key("main_cpu")
	if m, ok := v.intIn(mp, r.MainCPU, 0, 0, maxCPU); ok {
		dp.MainCPU = int(m)
		if r.ShareMainCPU != nil {
			dp.ShareMainCPU = *r.ShareMainCPU
		}
		if i, clash := workerAt[m]; clash && !dp.ShareMainCPU {
			if r.MainCPU != nil {
				v.addf(mp, "main_cpu %d is also listed in workers: set share_main_cpu = true to let the main lcore share a worker's CPU", m)
			} else {
				v.addAt(wp.idx(i), wp, fmt.Sprintf("CPU %d is the main lcore (main_cpu defaults to 0) and cannot also be a worker: remove it, set main_cpu to another CPU, or set share_main_cpu = true", m))
			}
		}
	}

	// eal_args
	ep := base.key("eal_args")
	for i, a := range r.EALArgs {
		if a == "" {
			v.addAt(ep.idx(i), ep, fmt.Sprintf("argument %d is empty", i))
			continue
		}
		if flag, from := forbiddenEALFlag(a); flag != "" {
			v.addAt(ep.idx(i), ep, fmt.Sprintf("EAL flag %s is not allowed: dsrlb sets it from %s", flag, from))
		}
	}
	dp.EALArgs = append([]string(nil), r.EALArgs...)

	// address, address6
	ap := base.key("address")
	if r.Address == nil {
		v.missing(ap)
	} else if pfx, msg := parseOwnPrefix4(*r.Address); msg != "" {
		v.add(ap, msg)
	} else {
		dp.Address, own.v4 = pfx, true
	}
	if r.Address6 == nil {
		own.v6Missing = !v.bad[base.key("address6").String()]
	} else if pfx, msg := parseOwnPrefix6(*r.Address6); msg != "" {
		v.add(base.key("address6"), msg)
	} else {
		dp.Address6, own.v6 = pfx, true
	}

	b, _ := v.intIn(base.key("burst_size"), r.BurstSize, defBurstSize, 1, 256)
	dp.BurstSize = int(b)
	n, _ := v.intIn(base.key("mbufs"), r.Mbufs, defMbufs, 1023, 1<<24-1)
	dp.Mbufs = int(n)

	// durations
	rp, xp := base.key("arp_refresh"), base.key("arp_expiry")
	refresh, refreshOK := v.duration(rp, r.ARPRefresh, defARPRefresh)
	if refreshOK && refresh < minARPRefresh {
		v.addf(rp, "arp_refresh %s is too short (minimum %s)", refresh, minARPRefresh)
		refreshOK = false
	}
	expiry, expiryOK := v.duration(xp, r.ARPExpiry, defARPExpiry)
	if refreshOK && expiryOK && expiry <= refresh {
		if r.ARPExpiry != nil {
			v.addf(xp, "arp_expiry %s must be greater than arp_refresh (%s)", expiry, refresh)
		} else {
			v.addf(rp, "arp_refresh %s must be less than arp_expiry (%s, the default): raise arp_expiry too", refresh, expiry)
		}
	}
	dp.ARPRefresh, dp.ARPExpiry = refresh, expiry
	dp.StatsInterval, _ = v.duration(base.key("stats_interval"), r.StatsInterval, defStats)
	ip := base.key("idle_sleep")
	if d, ok := v.duration(ip, r.IdleSleep, 0); ok {
		if d > maxIdleSleep {
			v.addf(ip, "idle_sleep %s out of range 0..%s", d, maxIdleSleep)
		} else {
			dp.IdleSleep = d
		}
	}

	dp.SHM = defSHM
	if r.SHM != nil {
		if !strings.HasPrefix(*r.SHM, "/") || strings.HasSuffix(*r.SHM, "/") || strings.Contains(*r.SHM, "\x00") {
			v.addf(base.key("shm"), "shm %q must be an absolute file path", *r.SHM)
		} else {
			dp.SHM = *r.SHM
		}
	}
	v.conntrack(base, r, &dp)
	ss, _ := v.intIn(base.key("stats_services"), r.StatsServices, DefaultStatsServices, 0, MaxStatsServices)
	sb, _ := v.intIn(base.key("stats_backends"), r.StatsBackends, DefaultStatsBackends, 0, MaxStatsBackends)
	dp.StatsServices, dp.StatsBackends = int(ss), int(sb)
	if r.TAP != nil {
		t := *r.TAP
		if t != "" && (len(t) > 15 || t == "." || t == ".." || strings.ContainsAny(t, "/: \t")) {
			v.addf(base.key("tap"), "invalid interface name %q (1-15 characters, no '/', ':' or spaces)", t)
		} else {
			dp.TAP = t
		}
	}

	// ports
	pp := base.key("port")
	switch {
	case len(r.Port) == 0:
		if !v.bad[pp.String()] {
			v.add(pp, "at least one [[dataplane.port]] is required")
		}
	case len(r.Port) > maxPorts:
		v.addAt(pp.idx(maxPorts), pp, fmt.Sprintf("too many ports: %d (at most %d)", len(r.Port), maxPorts))
	}
	names := map[string]int{}
	devices := map[string]int{}
	instances := map[string]int{}
	for i := range r.Port {
		dp.Ports = append(dp.Ports, v.port(pp.idx(i), &r.Port[i], i, names, devices, instances))
	}
	v.queues(base, r, &dp)
	np := base.key("neighbor")
	seen := map[netip.Addr]int{}
	for i := range r.Neighbor {
		if n, ok := v.neighbor(np.idx(i), &r.Neighbor[i], &dp, own, names, seen, i); ok {
			dp.Neighbors = append(dp.Neighbors, n)
		}
	}
	if r.Gateway != nil {
		if a, ok := v.nextHop(base.key("gateway"), "gateway", *r.Gateway, 4,
			"is IPv6: the IPv6 default gateway goes into dataplane.gateway6", &dp, own); ok {
			dp.Gateway = a
		}
	}
	if r.Gateway6 != nil {
		if a, ok := v.nextHop(base.key("gateway6"), "gateway6", *r.Gateway6, 6,
			"is IPv4: the IPv4 default gateway goes into dataplane.gateway", &dp, own); ok {
			dp.Gateway6 = a
		}
	}
	rtp := base.key("route")
	prefixes := map[netip.Prefix]int{}
	for i := range r.Route {
		p, raw := rtp.idx(i), &r.Route[i]
		var rt Route
		ok := true
		fam := 0 // of the prefix; 0 = unknown
		if raw.Prefix == nil {
			v.missing(p.key("prefix"))
			ok = false
		} else if pfx, msg := parseRoutePrefix(*raw.Prefix); msg != "" {
			v.add(p.key("prefix"), msg)
			ok = false
		} else {
			rt.Prefix = pfx.Masked()
			fam = 4
			if pfx.Addr().Is6() {
				fam = 6
			}
			if j, dup := prefixes[rt.Prefix]; dup {
				v.addf(p.key("prefix"), "route to %s already defined by dataplane.route[%d] (line %s)", rt.Prefix, j, v.lineOf(rtp.idx(j).key("prefix")))
				ok = false
			} else if fam == 6 && own.v6Missing && raw.Gateway == nil {
				// With a gateway, the gateway is reported instead.
				v.addf(p.key("prefix"), "IPv6 route to %s needs dataplane.address6 (neighbour discovery for on-link real servers is sent from it)", rt.Prefix)
				ok = false
			}
			prefixes[rt.Prefix] = i
		}
		if raw.Gateway != nil {
			wrong := ""
			if fam != 0 {
				other := 10 - fam // 4 <-> 6
				wrong = fmt.Sprintf("is IPv%d but the prefix %s is IPv%d: a route's gateway must be of its prefix's family", other, rt.Prefix, fam)
			}
			a, gwOK := v.nextHop(p.key("gateway"), "gateway", *raw.Gateway, fam, wrong, &dp, own)
			ok = ok && gwOK
			rt.Gateway = a
		}
		if ok {
			dp.Routes = append(dp.Routes, rt)
		}
	}
	return dp, own
}

// parseRoutePrefix parses a route's IPv4 or IPv6 prefix; msg says what is
// wrong, "" if nothing.
func parseRoutePrefix(s string) (netip.Prefix, string) {
	pfx, err := netip.ParsePrefix(s)
	switch {
	case err != nil && strings.Contains(s, ":"):
		return pfx, fmt.Sprintf("invalid IPv6 prefix %q (e.g. \"2001:db8:1::/48\")", s)
	case err != nil:
		return pfx, fmt.Sprintf("invalid IPv4 prefix %q (e.g. \"198.51.100.0/24\")", s)
	case pfx.Addr().Is4In6():
		return pfx, fmt.Sprintf("prefix %q: write IPv4 prefixes in dotted form, not IPv4-mapped IPv6", s)
	}
	return pfx, ""
}

// nextHop parses a gateway (the default gateway of a family or a route's):
// a unicast address of family fam (4 or 6; 0 when the route's prefix is
// invalid: either) inside the on-link prefix of the own address of its
// family (dataplane.address or dataplane.address6), other than the
// balancer's own. wrongFamily completes "WHAT ADDR " for an address of the
// other family.
func (v *validator) nextHop(p fieldPath, what, s string, fam int, wrongFamily string, dp *Dataplane, own ownAddrs) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		switch fam {
		case 4:
			v.addf(p, "%s %q is not an IPv4 address", what, s)
		case 6:
			v.addf(p, "%s %q is not an IPv6 address", what, s)
		default:
			v.addf(p, "%s %q is not an IP address", what, s)
		}
	case a.Zone() != "" || a.Is4In6():
		_, msg := parseAddr(what, s)
		v.add(p, msg)
	case fam == 4 && !a.Is4(), fam == 6 && !a.Is6():
		v.addf(p, "%s %s %s", what, a, wrongFamily)
	case a.Is6() && a.IsLinkLocalUnicast():
		v.addf(p, "%s %s is a link-local address: give the router's address inside the on-link prefix of dataplane.address6", what, a)
	case badUnicast(a) != "":
		v.addf(p, "%s %s %s", what, a, badUnicast(a))
	case a.Is6() && own.v6Missing:
		v.addf(p, "%s %s needs dataplane.address6: a next hop must be inside its on-link prefix (neighbour discovery is sent from it)", what, a)
	case own.ok(a) && !dp.ownPrefix(a).Contains(a):
		v.addf(p, "%s %s is outside %s, the on-link prefix of %s", what, a, dp.ownPrefix(a).Masked(), ownKey(a))
	case own.ok(a) && a == dp.ownPrefix(a).Addr():
		v.addf(p, "%s %s is the balancer's own address", what, a)
	default:
		return a, true
	}
	return netip.Addr{}, false
}

// parseMethod maps a method name onto a Method (0 when unknown).
func parseMethod(name string) Method {
	m, _ := ParseMethod(name)
	return m
}

// unknownMethod is the error for an unknown method name.
var unknownMethod = "unknown method %q (valid: " + methodNameList() + ")"

// neighbor validates one [[dataplane.neighbor]]: an IPv4 neighbour is
// inside the on-link prefix of dataplane.address, an IPv6 one inside that
// of dataplane.address6.
func (v *validator) neighbor(p fieldPath, r *rawNeighbor, dp *Dataplane, own ownAddrs, ports map[string]int, seen map[netip.Addr]int, i int) (Neighbor, bool) {
	var n Neighbor
	ok := true
	ap := p.key("address")
	switch {
	case r.Address == nil:
		v.missing(ap)
		ok = false
	default:
		a, msg := parseAddr("neighbour", *r.Address)
		switch {
		case msg != "":
			v.add(ap, msg)
			ok = false
		case a.Is6() && own.v6Missing:
			v.addf(ap, "IPv6 neighbour %s needs dataplane.address6: a static neighbour must be inside its on-link prefix", a)
			ok = false
		case own.ok(a) && !dp.ownPrefix(a).Masked().Contains(a):
			v.addf(ap, "neighbour %s is outside %s, the on-link prefix of %s", a, dp.ownPrefix(a).Masked(), ownKey(a))
			ok = false
		case own.ok(a) && a == dp.ownPrefix(a).Addr():
			v.addf(ap, "neighbour %s is the balancer's own address", a)
			ok = false
		default:
			if j, dup := seen[a]; dup {
				v.addf(ap, "neighbour %s already defined by dataplane.neighbor[%d] (line %s)", a, j, v.lineOf(p.idxSibling(j).key("address")))
				ok = false
			}
			seen[a] = i
			n.Address = a
		}
	}
	mp := p.key("mac")
	if r.MAC == nil {
		v.missing(mp)
		ok = false
	} else if mac, msg := parseMAC(*r.MAC); msg != "" {
		v.add(mp, msg)
		ok = false
	} else {
		n.MAC = mac
	}
	pp := p.key("port")
	if r.Port == nil {
		v.missing(pp)
		ok = false
	} else if idx, found := ports[*r.Port]; !found {
		v.addf(pp, "no [[dataplane.port]] is named %q", *r.Port)
		ok = false
	} else {
		n.Port = idx
	}
	return n, ok
}

// forbiddenEALFlag returns the flag in arg that dsrlb sets itself, and the
// configuration key it is set from; "" if arg is allowed.
func forbiddenEALFlag(arg string) (flag, from string) {
	long := map[string]string{
		"--lcores": "dataplane.workers", "--main-lcore": "dataplane.main_cpu", "--master-lcore": "dataplane.main_cpu",
		"--vdev": "dataplane.port", "--allow": "dataplane.port", "--block": "dataplane.port",
		"--pci-whitelist": "dataplane.port", "--pci-blacklist": "dataplane.port",
	}
	short := map[byte]string{'l': "dataplane.workers", 'c': "dataplane.workers", 'a': "dataplane.port", 'b': "dataplane.port", 'w': "dataplane.port"}
	if strings.HasPrefix(arg, "--") {
		name, _, _ := strings.Cut(arg, "=")
		if from, ok := long[name]; ok {
			return name, from
		}
		return "", ""
	}
	if len(arg) >= 2 && arg[0] == '-' {
		if from, ok := short[arg[1]]; ok {
			return arg[:2], from
		}
	}
	return "", ""
}

// parseOwnPrefix4 parses the balancer's own "a.b.c.d/len"; msg explains
// what is wrong, "" if nothing.
func parseOwnPrefix4(s string) (netip.Prefix, string) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		if !strings.Contains(s, "/") {
			if _, err := netip.ParseAddr(s); err == nil {
				return pfx, fmt.Sprintf("address %q needs an on-link prefix length, e.g. \"192.0.2.10/24\"", s)
			}
		}
		return pfx, fmt.Sprintf("invalid address %q: expected an IPv4 address with prefix length, e.g. \"192.0.2.10/24\"", s)
	}
	a := pfx.Addr()
	if !a.Is4() {
		return pfx, fmt.Sprintf("address %q is not IPv4 (an own IPv6 address goes into address6)", s)
	}
	if pfx.Bits() == 0 {
		return pfx, fmt.Sprintf("address %q: prefix length /0 is not an on-link prefix", s)
	}
	if msg := badUnicast4(a); msg != "" {
		return pfx, fmt.Sprintf("address %s %s", a, msg)
	}
	if pfx.Bits() <= 30 {
		if a == pfx.Masked().Addr() {
			return pfx, fmt.Sprintf("address %s is the network address of %s", a, pfx.Masked())
		}
		if a == broadcast4(pfx) {
			return pfx, fmt.Sprintf("address %s is the broadcast address of %s", a, pfx.Masked())
		}
	}
	return pfx, ""
}

func parseOwnPrefix6(s string) (netip.Prefix, string) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return pfx, fmt.Sprintf("invalid address6 %q: expected an IPv6 address with prefix length, e.g. \"2001:db8::10/64\"", s)
	}
	a := pfx.Addr()
	switch {
	case !a.Is6() || a.Is4In6():
		return pfx, fmt.Sprintf("address6 %q is not an IPv6 address", s)
	case pfx.Bits() == 0:
		return pfx, fmt.Sprintf("address6 %q: prefix length /0 is not an on-link prefix", s)
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast():
		return pfx, fmt.Sprintf("address6 %s is not a unicast host address", a)
	}
	return pfx, ""
}

// parseAddr parses an IPv4 or IPv6 address written in the form of its own
// family: no zone, no IPv4-mapped IPv6. what names the key in messages;
// msg says what is wrong, "" if nothing.
func parseAddr(what, s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil && strings.Contains(s, ":"):
		return a, fmt.Sprintf("invalid IPv6 address %q", s)
	case err != nil && strings.Contains(s, "."):
		return a, fmt.Sprintf("invalid IPv4 address %q", s)
	case err != nil:
		return a, fmt.Sprintf("invalid IP address %q: expected IPv4 (\"192.0.2.21\") or IPv6 (\"2001:db8::21\")", s)
	case a.Zone() != "":
		return a, fmt.Sprintf("%s %q: zones are not allowed (remove %q)", what, s, "%"+a.Zone())
	case a.Is4In6():
		return a, fmt.Sprintf("%s %q: write IPv4 addresses in dotted form (%s), not as IPv4-mapped IPv6", what, s, a.Unmap())
	}
	return a, ""
}

// badUnicast says why address a cannot be a VIP's or a real server's
// address, "" if it can.
func badUnicast(a netip.Addr) string {
	if a.Is4() {
		return badUnicast4(a)
	}
	return badUnicast6(a)
}

// badUnicast6 says why IPv6 address a cannot be a VIP's or a real
// server's address, "" if it can.
func badUnicast6(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "is unspecified"
	case a.IsLoopback():
		return "is a loopback address"
	case a.IsMulticast():
		return "is a multicast address"
	case a.IsLinkLocalUnicast():
		return "is a link-local address (fe80::/10 is not routed and is ambiguous without a zone): use a global or unique local address"
	}
	return ""
}

// badUnicast4 says why IPv4 address a cannot be a host's address, "" if it can.
func badUnicast4(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "is unspecified"
	case a.IsLoopback():
		return "is a loopback address"
	case a.IsMulticast():
		return "is a multicast address"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "is the broadcast address"
	}
	return ""
}

// broadcast4 returns the last address of IPv4 prefix p.
func broadcast4(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// port validates one [[dataplane.port]]; names, devices and instances map
// already seen values to their port index.
func (v *validator) port(p fieldPath, r *rawPort, i int, names, devices, instances map[string]int) Port {
	var pt Port
	np := p.key("name")
	switch {
	case r.Name == nil:
		v.missing(np)
	case !portNameRE.MatchString(*r.Name):
		v.addf(np, "invalid port name %q: use 1-15 characters a-z, 0-9, '_' or '-'", *r.Name)
	default:
		if j, dup := names[*r.Name]; dup {
			v.addf(np, "port name %q already used by dataplane.port[%d] (line %s)", *r.Name, j, v.lineOf(p.idxSibling(j).key("name")))
		} else {
			names[*r.Name] = i
		}
		pt.Name = *r.Name
	}

	dvp := p.key("device")
	if r.Device == nil {
		v.missing(dvp)
	} else if name, isVdev, msg := parseDevice(*r.Device); msg != "" {
		v.add(dvp, msg)
	} else {
		pt.Device, pt.DeviceName, pt.IsVdev = *r.Device, name, isVdev
		if j, dup := devices[*r.Device]; dup {
			v.addf(dvp, "device %q already used by dataplane.port[%d] (line %s)", *r.Device, j, v.lineOf(p.idxSibling(j).key("device")))
		} else if j, dup := instances[name]; dup {
			v.addf(dvp, "device name %s already used by dataplane.port[%d] (line %s): each device needs its own instance name (e.g. net_af_packet0, net_af_packet1)", name, j, v.lineOf(p.idxSibling(j).key("device")))
		} else {
			devices[*r.Device] = i
			instances[name] = i
		}
	}

	mtu, _ := v.intIn(p.key("mtu"), r.MTU, defMTU, 68, 9702)
	pt.MTU = int(mtu)

	if r.MAC != nil {
		mac, msg := parseMAC(*r.MAC)
		if msg != "" {
			v.add(p.key("mac"), msg)
		} else {
			pt.MAC, pt.HasMAC = mac, true
		}
	}
	pt.RxDescriptors = v.descriptors(p.key("rx_descriptors"), r.RxDescriptors)
	pt.TxDescriptors = v.descriptors(p.key("tx_descriptors"), r.TxDescriptors)
	return pt
}

// idxSibling replaces the trailing index of p by j (p must end in an index).
func (p fieldPath) idxSibling(j int) fieldPath {
	q := make(fieldPath, len(p))
	copy(q, p)
	if n := len(q); n > 0 && q[n-1].isIndex {
		q[n-1].index = j
	}
	return q
}

func (v *validator) descriptors(p fieldPath, val *int64) int {
	n, ok := v.intIn(p, val, defDescriptors, 64, 16384)
	if ok && n&(n-1) != 0 {
		v.addf(p, "%s %d is not a power of two", p.last(), n)
		return defDescriptors
	}
	return int(n)
}

// parseDevice checks a port's device string and returns its DPDK device
// name (vdev instance name or lower-case PCI address); msg says what is
// wrong, "" if nothing.
func parseDevice(dev string) (name string, isVdev bool, msg string) {
	if strings.ContainsAny(dev, " \t\r\n") {
		return "", false, fmt.Sprintf("device %q must not contain white space", dev)
	}
	name, args, hasArgs := strings.Cut(dev, ",")
	if hasArgs && args == "" {
		return "", false, fmt.Sprintf("device %q has an empty argument list after the comma", dev)
	}
	if strings.HasPrefix(name, "net_") {
		if !vdevNameRE.MatchString(name) || len(name) > 63 {
			return "", false, fmt.Sprintf("invalid vdev name %q in device %q: expected net_DRIVERn, e.g. net_af_packet0", name, dev)
		}
		if strings.HasPrefix(name, "net_af_packet") {
			iface, ok := deviceArg(dev, "iface")
			if !ok {
				return "", false, fmt.Sprintf("device %q: net_af_packet needs the interface to attach to, e.g. \"%s,iface=eth1\"", dev, name)
			}
			if iface == "" || len(iface) > 15 || iface == "." || iface == ".." || strings.ContainsAny(iface, "/:") {
				return "", false, fmt.Sprintf("device %q: invalid interface name %q", dev, iface)
			}
		}
		return name, true, ""
	}
	if pciAddrRE.MatchString(name) {
		return strings.ToLower(name), false, ""
	}
	return "", false, fmt.Sprintf("device %q is neither a DPDK vdev (\"net_af_packet0,iface=eth1\") nor a PCI address (\"0000:01:00.0\")", dev)
}

// parseMAC parses "xx:xx:xx:xx:xx:xx" and requires a unicast, non-zero
// address.
func parseMAC(s string) (mac [6]byte, msg string) {
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return mac, fmt.Sprintf("invalid MAC address %q: expected six hex octets like \"02:00:00:00:00:01\"", s)
	}
	for i, part := range parts {
		b, err := strconv.ParseUint(part, 16, 8)
		if err != nil || len(part) != 2 {
			return mac, fmt.Sprintf("invalid MAC address %q: expected six hex octets like \"02:00:00:00:00:01\"", s)
		}
		mac[i] = byte(b)
	}
	if mac == [6]byte{} {
		return mac, fmt.Sprintf("MAC address %s is all zero", s)
	}
	if mac[0]&1 != 0 {
		return mac, fmt.Sprintf("MAC address %s is a multicast address (lowest bit of the first octet set); a port needs a unicast address", s)
	}
	return mac, ""
}

type serviceKey struct {
	vip   netip.Addr
	proto Protocol
	port  uint16
}

func (v *validator) services(raws []rawService, dp *Dataplane, own ownAddrs, c *Config) {
	base := fieldPath{}.key("service")
	names := map[string]int{}
	keys := map[serviceKey]int{}
	for i := range raws {
		p := base.idx(i)
		s, keyOK := v.service(p, &raws[i], dp, own)
		if s.Name != "" {
			if j, dup := names[s.Name]; dup {
				v.addf(p.key("name"), "service name %q already used by service[%d] (line %s)", s.Name, j, v.lineOf(base.idx(j).key("name")))
			} else {
				names[s.Name] = i
			}
		}
		if keyOK {
			k := serviceKey{s.VIP, s.Protocol, s.Port}
			if j, dup := keys[k]; dup {
				port := "all ports"
				if s.Port != 0 {
					port = "port " + strconv.Itoa(int(s.Port))
				}
				v.addf(p.key("vip"), "service %q (line %s) has the same VIP, protocol and port (%s %s %s) as service %q (line %s)",
					s.Name, v.lineOf(p.key("vip")), s.VIP, s.Protocol, port, c.Services[j].Name, v.lineOf(base.idx(j).key("vip")))
			} else {
				keys[k] = i
			}
		}
		c.Services = append(c.Services, s)
	}
	v.dscpMap(c)
}

// dscpMap checks that each real server of method dscp sees every code for
// one VIP only and every VIP under one code only: the real server's rule
// maps the code back to the VIP. (dscp is IPv4-only; IPv6 VIPs and real
// servers with it are reported elsewhere.)
func (v *validator) dscpMap(c *Config) {
	type use struct {
		vip  netip.Addr
		code uint8
		svc  int
	}
	byServer := map[netip.Addr][]use{}
	for i := range c.Services {
		s := &c.Services[i]
		if s.DSCP == 0 || !s.VIP.Is4() {
			continue
		}
		for j := range s.Backends {
			b := &s.Backends[j]
			if s.EffectiveMethod(b) != MethodDSCP || !b.Address.Is4() {
				continue
			}
			for _, u := range byServer[b.Address] {
				if (u.code == s.DSCP) != (u.vip == s.VIP) {
					v.addf(fieldPath{}.key("service").idx(i).key("dscp"),
						"real server %s would get DSCP %d for VIP %s and DSCP %d for VIP %s (service %q): a code names one VIP and a VIP one code on each real server",
						b.Address, s.DSCP, s.VIP, u.code, u.vip, c.Services[u.svc].Name)
				}
			}
			byServer[b.Address] = append(byServer[b.Address], use{s.VIP, s.DSCP, i})
		}
	}
}

// service validates one [[service]]; keyOK reports whether VIP, protocol
// and port are all valid (for the uniqueness check).
func (v *validator) service(p fieldPath, r *rawService, dp *Dataplane, own ownAddrs) (s Service, keyOK bool) {
	keyOK = true
	np := p.key("name")
	switch {
	case r.Name == nil:
		v.missing(np)
	case !serviceNameRE.MatchString(*r.Name):
		v.addf(np, "invalid service name %q: use 1-32 characters a-z, A-Z, 0-9, '_', '.' or '-'", *r.Name)
	default:
		s.Name = *r.Name
	}

	vp := p.key("vip")
	if r.VIP == nil {
		v.missing(vp)
		keyOK = false
	} else if a, msg := parseVIP(*r.VIP); msg != "" {
		v.add(vp, msg)
		keyOK = false
	} else {
		s.VIP = a
		switch {
		case own.ok(a) && a == dp.ownPrefix(a).Addr():
			v.addf(vp, "vip %s is the balancer's own address (%s)", a, ownKey(a))
		case a.Is6() && own.v6Missing:
			v.addf(vp, "vip %s: an IPv6 service needs dataplane.address6 (neighbour discovery and ICMPv6 errors are sent from it)", a)
		}
	}

	prp := p.key("protocol")
	s.Protocol = ProtoTCP
	if r.Protocol != nil {
		switch *r.Protocol {
		case "tcp":
		case "udp":
			s.Protocol = ProtoUDP
		default:
			v.addf(prp, "unknown protocol %q (valid: \"tcp\", \"udp\")", *r.Protocol)
			keyOK = false
		}
	}

	port, ok := v.intIn(p.key("port"), r.Port, 0, 0, 65535)
	s.Port = uint16(port)
	keyOK = keyOK && ok

	mp := p.key("method")
	s.Method = MethodL2DSR
	if r.Method != nil {
		if s.Method = parseMethod(*r.Method); s.Method == 0 {
			v.addf(mp, unknownMethod, *r.Method)
			s.Method = MethodL2DSR // check the rest as l2dsr
		} else if s.VIP.IsValid() && !s.Method.CarriesVIP(s.VIP.Is6()) {
			v.add(mp, vipFamilyError(s.Method, s.VIP))
		}
	}
	if r.DSCP != nil {
		c, _ := v.intIn(p.key("dscp"), r.DSCP, 0, 1, 63)
		s.DSCP = uint8(c)
	}
	gp, _ := v.intIn(p.key("gue_port"), r.GUEPort, 6080, 1, 65535)
	s.GUEPort = uint16(gp)

	tp := p.key("table_size")
	ts, tsOK := v.intIn(tp, r.TableSize, defTableSize, minTableSize, maxTableSize)
	if tsOK && !isPrime(ts) {
		v.addf(tp, "table_size %d is not a prime number (e.g. 65537, 131071, 262139)", ts)
		tsOK = false
	}
	s.TableSize = uint32(ts)
	if tsOK && int64(len(r.Backend)) > ts {
		what := "table_size"
		if r.TableSize == nil {
			what = "table_size (default)"
		}
		v.addf(tp, "%s %d is smaller than the number of backends (%d)", what, ts, len(r.Backend))
	}

	if r.Check != nil {
		s.Check = v.check(p.key("check"), r.Check, s.Port, ok)
	}
	if r.DSRCheck != nil {
		s.DSRCheck = v.dsrCheck(p.key("dsr_check"), r.DSRCheck, &s, dp, ok)
	}
	s.BGP = r.BGP != nil && *r.BGP

	bp := p.key("backend")
	seen := map[netip.Addr]int{}
	for i := range r.Backend {
		b := v.backend(bp.idx(i), &r.Backend[i], &s, dp, own, seen, i)
		if r.Backend[i].Check != nil {
			b.Check, b.OwnCheck = v.check(bp.idx(i).key("check"), r.Backend[i].Check, s.Port, ok), true
		} else {
			b.Check = s.Check
		}
		s.Backends = append(s.Backends, b)
	}
	v.schedule(p, r, &s)
	v.healthPolicy(p, r, &s, dp, own, seen)
	v.methodKeys(p, r, &s)
	return s, keyOK
}

// methodKeys checks that dscp and gue_port go with a service using those
// methods (itself or through a real server's override).
func (v *validator) methodKeys(p fieldPath, r *rawService, s *Service) {
	uses := map[Method]bool{s.Method: true}
	for i := range s.Backends {
		uses[s.EffectiveMethod(&s.Backends[i])] = true
	}
	switch {
	case uses[MethodDSCP] && r.DSCP == nil && !s.VIP.Is6(): // IPv6: the method is the error
		v.addf(p.key("dscp"), "method dscp needs the service's dscp code (1..63) that names the VIP on the real servers")
	case !uses[MethodDSCP] && r.DSCP != nil:
		v.addf(p.key("dscp"), "dscp applies to method dscp only")
	}
	if !uses[MethodGUE] {
		if r.GUEPort != nil {
			v.addf(p.key("gue_port"), "gue_port applies to method gue only")
		}
		s.GUEPort = 0
	}
}

// healthPolicy validates the service keys dsrlb-ctrl acts on:
// inhibit_on_failure, sorry_server, quorum, hysteresis, alpha. seen maps
// the service's backend addresses to their index.
func (v *validator) healthPolicy(p fieldPath, r *rawService, s *Service, dp *Dataplane, own ownAddrs, seen map[netip.Addr]int) {
	if r.InhibitOnFailure != nil {
		s.InhibitOnFailure = *r.InhibitOnFailure
	}
	if r.Alpha != nil {
		s.Alpha = *r.Alpha
	}

	if r.SorryServer != nil {
		sp := p.key("sorry_server")
		a, msg := parseAddr("sorry_server", *r.SorryServer)
		switch {
		case msg != "":
			v.add(sp, msg)
		case badUnicast(a) != "":
			v.addf(sp, "sorry_server %s %s", a, badUnicast(a))
		case s.VIP.IsValid() && a == s.VIP:
			v.addf(sp, "sorry_server %s is the service's own VIP", a)
		case own.ok(a) && a == dp.ownPrefix(a).Addr():
			v.addf(sp, "sorry_server %s is the balancer's own address (%s)", a, ownKey(a))
		case !v.forwardable(sp, "sorry_server", a, s.Method, s.VIP, dp, own):
		default:
			if j, dup := seen[a]; dup {
				v.addf(sp, "sorry_server %s is also a backend of this service (line %s): the sorry server stands in for the real servers", a, v.lineOf(p.key("backend").idx(j).key("address")))
			} else {
				s.SorryServer = a
			}
		}
	}

	qp, hp := p.key("quorum"), p.key("hysteresis")
	total := s.TotalWeight()
	s.Quorum = defQuorum
	quorumOK := true
	if r.Quorum != nil {
		q := *r.Quorum
		if q < 0 || uint64(q) > total {
			v.addf(qp, "quorum %d out of range 0..%d (the sum of the backends' weights)", q, total)
			quorumOK = false
		} else {
			s.Quorum = uint32(q)
		}
	}
	if r.Hysteresis != nil {
		h := *r.Hysteresis
		switch {
		case h < 0:
			v.addf(hp, "hysteresis %d must not be negative", h)
		case !quorumOK:
		case uint64(h) > uint64(s.Quorum):
			what := "quorum"
			if r.Quorum == nil {
				what = "quorum (1, the default)"
			} else {
				what += fmt.Sprintf(" (%d)", s.Quorum)
			}
			v.addf(hp, "hysteresis %d must not exceed %s", h, what)
		default:
			s.Hysteresis = uint32(h)
		}
	}
}

// dsrCheck validates a [service.dsr_check] table at p: a check of the
// types that can run over a TCP connection to the VIP, on the service's
// port, with the exception path that carries the balancer's own packets.
func (v *validator) dsrCheck(p fieldPath, r *rawCheck, s *Service, dp *Dataplane, portOK bool) *Check {
	c := v.check(p, r, s.Port, portOK)
	switch c.Type {
	case 0, CheckTCP, CheckHTTP, CheckHTTPS:
	default:
		v.addf(p.key("type"), "a DSR path check is \"tcp\", \"http\" or \"https\": it connects to the VIP through the data plane (%s cannot)", c.Type)
	}
	if r.Port != nil && s.Port != 0 && c.Port != 0 && c.Port != s.Port {
		v.addf(p.key("port"), "port %d: a DSR path check probes the service itself, port %d (leave port out)", c.Port, s.Port)
	}
	if s.Protocol != ProtoTCP {
		v.addf(p, "a DSR path check needs a TCP service; this one is %s", s.Protocol)
	}
	if dp.TAP == "" {
		v.addf(p, "a DSR path check needs the exception path: set dataplane.tap (dsrlb-ctrl's probes leave through it)")
	}
	return c
}

// dsrProbePorts checks that [ctrl] dsr_probe_ports has a port for every
// real server with a DSR path check.
func (v *validator) dsrProbePorts(c *Config) {
	n := 0
	for i := range c.Services {
		if c.Services[i].DSRCheck != nil {
			n += len(c.Services[i].Backends)
		}
	}
	r := c.Ctrl.DSRProbePorts
	if size := int(r[1]) - int(r[0]) + 1; n > size {
		v.addf(fieldPath{}.keys("ctrl", "dsr_probe_ports"), "%d real servers have a DSR path check, but dsr_probe_ports %d-%d has %d ports", n, r[0], r[1], size)
	}
}

// check validates a [service.check] or [service.backend.check] table at
// p. svcPort is the service's port, portOK whether it was valid.
func (v *validator) check(p fieldPath, r *rawCheck, svcPort uint16, portOK bool) *Check {
	c := &Check{}
	tp := p.key("type")
	if r.Type == nil {
		v.missing(tp)
	} else {
		for t, name := range checkTypeNames {
			if name != "" && name == *r.Type {
				c.Type = CheckType(t)
			}
		}
		if c.Type == 0 {
			v.addf(tp, "unknown check type %q (valid: \"tcp\", \"http\", \"https\", \"icmp\", \"udp\", \"script\")", *r.Type)
		}
	}
	hasPort := c.Type == CheckTCP || c.Type == CheckHTTP || c.Type == CheckHTTPS || c.Type == CheckUDP
	isHTTP := c.Type == CheckHTTP || c.Type == CheckHTTPS
	if c.Type != 0 {
		// Keys of other check types are mistakes: say which types they belong to.
		for _, k := range []struct {
			key     string
			set, ok bool
			types   string
		}{
			{"port", r.Port != nil, hasPort, "tcp, http, https and udp"},
			{"path", r.Path != nil, isHTTP, "http and https"},
			{"status", r.Status != nil, isHTTP, "http and https"},
			{"body", r.Body != nil, isHTTP, "http and https"},
			{"host", r.Host != nil, isHTTP, "http and https"},
			{"tls_verify", r.TLSVerify != nil, c.Type == CheckHTTPS, "https"},
			{"payload", r.Payload != nil, c.Type == CheckUDP, "udp"},
			{"expect_reply", r.ExpectReply != nil, c.Type == CheckUDP, "udp"},
			{"command", r.Command != nil, c.Type == CheckScript, "script"},
		} {
			if k.set && !k.ok {
				v.addf(p.key(k.key), "%s applies to %s checks only", k.key, k.types)
			}
		}
	}

	if hasPort {
		pp := p.key("port")
		switch {
		case r.Port != nil:
			n, _ := v.intIn(pp, r.Port, 0, 1, 65535)
			c.Port = uint16(n)
		case svcPort != 0:
			c.Port = svcPort
		case portOK:
			v.addAt(p, pp, fmt.Sprintf("a %s check needs a port: the service's port is 0 (all ports)", c.Type))
		}
	}

	if isHTTP {
		c.Path = "/"
		if r.Path != nil {
			pp := p.key("path")
			if u, err := url.ParseRequestURI(*r.Path); err != nil || !strings.HasPrefix(*r.Path, "/") || u.Host != "" || strings.ContainsAny(*r.Path, " \t\r\n") {
				v.addf(pp, "invalid path %q: expected an absolute request path such as \"/healthz?full=1\"", *r.Path)
			} else {
				c.Path = *r.Path
			}
		}
		c.Status = []int{200}
		if r.Status != nil {
			sp := p.key("status")
			if len(r.Status) == 0 {
				v.add(sp, "status needs at least one status code")
			}
			var st []int
			for i, code := range r.Status {
				if code < 100 || code > 599 {
					v.addAt(sp.idx(i), sp, fmt.Sprintf("status %d out of range 100..599", code))
					continue
				}
				st = append(st, int(code))
			}
			if len(st) > 0 {
				c.Status = st
			}
		}
		if r.Body != nil {
			c.Body = *r.Body
		}
		if r.Host != nil {
			if h := *r.Host; strings.ContainsAny(h, " \t\r\n/") || strings.Contains(h, "\x00") {
				v.addf(p.key("host"), "invalid host %q: expected a host name (optionally with :port)", h)
			} else {
				c.Host = h
			}
		}
		c.TLSVerify = c.Type == CheckHTTPS
		if r.TLSVerify != nil && c.Type == CheckHTTPS {
			c.TLSVerify = *r.TLSVerify
		}
	}

	if c.Type == CheckUDP {
		if r.Payload != nil {
			if len(*r.Payload) > maxUDPPayload {
				v.addf(p.key("payload"), "payload of %d bytes does not fit in a UDP datagram (at most %d)", len(*r.Payload), maxUDPPayload)
			} else {
				c.Payload = *r.Payload
			}
		}
		if r.ExpectReply != nil {
			c.ExpectReply = *r.ExpectReply
		}
	}

	if c.Type == CheckScript {
		cp := p.key("command")
		switch {
		case r.Command == nil:
			v.missing(cp)
		case len(r.Command) == 0:
			v.add(cp, "command needs at least the absolute path of the program")
		case !strings.HasPrefix(r.Command[0], "/"):
			v.addAt(cp.idx(0), cp, fmt.Sprintf("program %q must be an absolute path", r.Command[0]))
		default:
			ok := true
			for i, a := range r.Command {
				if strings.Contains(a, "\x00") {
					v.addAt(cp.idx(i), cp, fmt.Sprintf("argument %d contains a NUL byte", i))
					ok = false
				}
			}
			if ok {
				c.Command = append([]string(nil), r.Command...)
			}
		}
	}

	ip, top := p.key("interval"), p.key("timeout")
	interval, intervalOK := v.duration(ip, r.Interval, defCheckInterval)
	if intervalOK && interval < minCheckInterval {
		v.addf(ip, "interval %s is too short (minimum %s)", interval, minCheckInterval)
		intervalOK = false
	}
	timeout, timeoutOK := v.duration(top, r.Timeout, defCheckTimeout)
	if timeoutOK && timeout == 0 {
		v.add(top, "timeout must be longer than 0s")
		timeoutOK = false
	}
	if intervalOK && timeoutOK && timeout >= interval {
		if r.Timeout != nil {
			v.addf(top, "timeout %s must be shorter than interval %s", timeout, interval)
		} else {
			v.addf(ip, "interval %s must be longer than timeout (%s, the default): set a shorter timeout", interval, timeout)
		}
	}
	c.Interval, c.Timeout = interval, timeout

	rise, _ := v.intIn(p.key("rise"), r.Rise, defRise, 1, maxRiseFall)
	fall, _ := v.intIn(p.key("fall"), r.Fall, defFall, 1, maxRiseFall)
	c.Rise, c.Fall = int(rise), int(fall)
	c.Jitter = defJitter
	if r.Jitter != nil {
		if j := *r.Jitter; !(j >= 0 && j <= maxJitter) { // also rejects NaN
			v.addf(p.key("jitter"), "jitter %g out of range 0..%g (a fraction of the interval)", j, maxJitter)
		} else {
			c.Jitter = j
		}
	}
	return c
}

// parseVIP parses a service's virtual IPv4 or IPv6 address.
func parseVIP(str string) (netip.Addr, string) {
	a, msg := parseAddr("vip", str)
	if msg != "" {
		return a, msg
	}
	if msg := badUnicast(a); msg != "" {
		return a, fmt.Sprintf("vip %s %s", a, msg)
	}
	return a, ""
}

// vipFamilyError is the error for a method that carries no packet to a VIP
// of vip's family (dscp and IPv6).
func vipFamilyError(m Method, vip netip.Addr) string {
	return m.Why() + "; use " + m.Alternatives(vip.Is6(), vip.Is6()) + " for " + family(vip)
}

func (v *validator) backend(p fieldPath, r *rawBackend, s *Service, dp *Dataplane, own ownAddrs, seen map[netip.Addr]int, i int) Backend {
	var b Backend
	if r.Method != nil {
		if b.Method = parseMethod(*r.Method); b.Method == 0 {
			v.addf(p.key("method"), unknownMethod, *r.Method)
		} else if s.VIP.IsValid() && !b.Method.CarriesVIP(s.VIP.Is6()) {
			v.add(p.key("method"), vipFamilyError(b.Method, s.VIP))
		}
	}
	method := s.EffectiveMethod(&b)
	ap := p.key("address")
	if r.Address == nil {
		v.missing(ap)
	} else if a, msg := parseAddr("backend", *r.Address); msg != "" {
		v.add(ap, msg)
	} else if msg := badUnicast(a); msg != "" {
		v.addf(ap, "backend %s %s", a, msg)
	} else {
		b.Address = a
		switch j, dup := seen[a]; {
		case dup:
			v.addf(ap, "backend %s is listed twice in this service (see line %s)", a, v.lineOf(p.idxSibling(j).key("address")))
		case s.VIP.IsValid() && a == s.VIP:
			v.addf(ap, "backend %s is the service's own VIP", a)
		case own.ok(a) && a == dp.ownPrefix(a).Addr():
			v.addf(ap, "backend %s is the balancer's own address (%s)", a, ownKey(a))
		default:
			v.forwardable(ap, "backend", a, method, s.VIP, dp, own)
		}
		if _, dup := seen[a]; !dup {
			seen[a] = i
		}
	}
	w, _ := v.intIn(p.key("weight"), r.Weight, defWeight, 0, 65535)
	b.Weight = uint32(w)
	return b
}

// forwardable checks that method m can carry the packets of a service with
// VIP vip (invalid if it was not valid) to server a, a real server or the
// sorry server (called what in messages), and that the balancer reaches a
// with it. It reports the first problem at p and returns false, or returns
// true.
//
// Address families: l2dsr forwards the client's packet unchanged, so the
// server is of the VIP's family; dscp is IPv4 only; ipip carries IPv4 in
// IPv4 or IPv6 and IPv6 in IPv6, not IPv6 in IPv4; gre and gue carry
// either in either. An IPv6 server needs dataplane.address6.
func (v *validator) forwardable(p fieldPath, what string, a netip.Addr, m Method, vip netip.Addr, dp *Dataplane, own ownAddrs) bool {
	switch {
	case vip.IsValid() && !m.CarriesVIP(vip.Is6()):
		return false // reported at the method
	case !m.CarriesTo(vip, a):
		v.add(p, familyError(what, a, m, vip))
	case a.Is6() && own.v6Missing:
		if vip.Is6() {
			return false // reported at the VIP
		}
		role, why := "real server", "neighbour discovery is sent from it"
		if what == "sorry_server" {
			role = "sorry server"
		}
		if m != MethodL2DSR {
			why = fmt.Sprintf("it is the outer source address of method %s", m)
		}
		v.addf(p, "%s %s: an IPv6 %s needs dataplane.address6 (%s)", what, a, role, why)
	case !own.ok(a):
		return false // the own address of a's family is invalid: reported
	case m == MethodL2DSR && !dp.OnLink(a):
		l3 := joinMethods(m.alternatives(a.Is6(), a.Is6()), ", ")
		v.addf(p, "%s %s is outside %s, the on-link prefix of %s: method l2dsr only rewrites the destination MAC address, so the server must be on the balancer's L2 segment (inside that prefix or an on-link [[dataplane.route]]), or use an L3 method: %s",
			what, a, dp.ownPrefix(a).Masked(), ownKey(a), l3)
	case a.Is4() && dp.Address.Contains(a) && dp.Address.Bits() <= 30 && (a == dp.Address.Masked().Addr() || a == broadcast4(dp.Address)):
		v.addf(p, "%s %s is the network or broadcast address of %s", what, a, dp.Address.Masked())
	case !dp.Reachable(a) && a.Is4():
		v.addf(p, "no route to %s %s (method %s): add a [[dataplane.route]] or dataplane.gateway", what, a, m)
	case !dp.Reachable(a):
		v.addf(p, "no route to %s %s (method %s): add an IPv6 [[dataplane.route]] or dataplane.gateway6", what, a, m)
	default:
		return true
	}
	return false
}

// familyError says why method m does not carry packets for vip (invalid:
// not known) to server a, a real server or the sorry server (called what).
func familyError(what string, a netip.Addr, m Method, vip netip.Addr) string {
	switch {
	case m == MethodL2DSR:
		return fmt.Sprintf("%s %s is %s but VIP %s is %s: %s (or use %s)",
			what, a, family(a), vip, family(vip), m.Why(), m.Alternatives(vip.Is6(), a.Is6()))
	case m == MethodIPIP:
		return fmt.Sprintf("%s %s: %s; use %s, or an %s real server", what, a, m.Why(), m.Alternatives(vip.Is6(), a.Is6()), family(vip))
	}
	return fmt.Sprintf("%s %s: %s; use %s for %s real servers", what, a, m.Why(), m.Alternatives(vip.Is6(), a.Is6()), family(a))
}

// isPrime reports whether n is prime (trial division; n <= maxTableSize).
func isPrime(n int64) bool {
	if n < 2 {
		return false
	}
	for d := int64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}
