package conf

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// VRRP is one validated [[vrrp]] instance.
type VRRP struct {
	Name         string
	Port         int // index into Dataplane.Ports
	VRID         uint8
	Priority     uint8 // 1..255
	Interval     time.Duration
	Version      int // 2 or 3
	Preempt      bool
	PreemptDelay time.Duration
	StartMaster  bool
	VIPs         []netip.Addr // one family, each a service's VIP
	UnicastPeers []netip.Addr
	// UnicastSrc is the source of the adverts: the balancer's address of
	// the instance's family (IPv6 multicast adverts go from the link-local
	// address instead, as RFC 9568 wants).
	UnicastSrc    netip.Addr
	AuthPass      string
	MessageOnly   bool // v3 IPv4 checksum over the message only (RFC 9568), not the pseudo-header
	TrackServices []string
	TrackWeight   uint8 // 0: FAULT while a tracked service is down
	GARPRepeat    int
	GARPDelay     time.Duration // 0: no second burst
	GARPRefresh   time.Duration // 0: no periodic refresh
	NotifyMaster  []string
	NotifyBackup  []string
	NotifyFault   []string
	Notify        []string
	SyncGroup     string
}

// MasterDownInterval is the instance's master-down interval as its own
// priority and interval give it (a version 3 backup learns the master's
// interval later).
func (r *VRRP) MasterDownInterval() time.Duration {
	return MasterDown(r.Version, r.Interval, r.Priority)
}

// IPv6 reports whether the instance carries IPv6 VIPs.
func (r *VRRP) IPv6() bool { return len(r.VIPs) > 0 && r.VIPs[0].Is6() }

// VRRPOf returns the instance that carries vip, or nil.
func (c *Config) VRRPOf(vip netip.Addr) *VRRP {
	for i := range c.VRRP {
		if slices.Contains(c.VRRP[i].VIPs, vip) {
			return &c.VRRP[i]
		}
	}
	return nil
}

// Limits and defaults of [[vrrp]] and the VRRP keys of [ctrl].
const (
	defVRRPPriority         = 100
	defVRRPInterval         = time.Second
	defVRRPVersion          = 3
	minVRRPInterval3        = 10 * time.Millisecond
	maxVRRPInterval3        = 40950 * time.Millisecond
	maxVRRPInterval2        = 255 * time.Second
	maxPreemptDelay         = 1000 * time.Second
	defGARPRepeat           = 5
	maxGARPRepeat           = 100
	defGARPDelay            = 5 * time.Second
	minGARPRefresh          = time.Second
	maxVRRPAuthPass         = 8
	defVRRPDataplaneTimeout = 200 * time.Millisecond
	minVRRPDataplaneTimeout = 30 * time.Millisecond
	maxVRRPDataplaneTimeout = 10 * time.Second
	// MaxVRRPInstances bounds the instances of one balancer: the data
	// plane numbers them 1..255.
	MaxVRRPInstances = 255
)

// vrrps validates the [[vrrp]] instances against the validated services.
func (v *validator) vrrps(raws []rawVRRP, c *Config) {
	base := fieldPath{}.key("vrrp")
	if len(raws) > MaxVRRPInstances {
		v.addf(base.idx(MaxVRRPInstances), "%d VRRP instances; at most %d", len(raws), MaxVRRPInstances)
		return
	}
	names := map[string]int{}
	type vridKey struct {
		port int
		v6   bool
		vrid uint8
	}
	vrids := map[vridKey]int{}
	vipOwner := map[netip.Addr]int{}
	for i := range raws {
		p := base.idx(i)
		r, ok := v.vrrp(p, &raws[i], c)
		if r.Name != "" {
			if j, dup := names[r.Name]; dup {
				v.addf(p.key("name"), "VRRP instance name %q already used by vrrp[%d] (line %s)", r.Name, j, v.lineOf(base.idx(j).key("name")))
			} else {
				names[r.Name] = i
			}
		}
		if ok {
			k := vridKey{r.Port, r.IPv6(), r.VRID}
			if j, dup := vrids[k]; dup {
				v.addf(p.key("vrid"), "vrid %d already used on port %s for %s by instance %q (line %s)",
					r.VRID, c.Dataplane.Ports[r.Port].Name, familyName(r.IPv6()), c.VRRP[j].Name, v.lineOf(base.idx(j).key("vrid")))
			} else {
				vrids[k] = i
			}
		}
		for k, a := range r.VIPs {
			if j, dup := vipOwner[a]; dup {
				v.addf(p.key("vips").idx(k), "VIP %s is already carried by instance %q (line %s): a VIP belongs to one instance", a, c.VRRP[j].Name, v.lineOf(base.idx(j).key("vips")))
			} else {
				vipOwner[a] = i
			}
		}
		c.VRRP = append(c.VRRP, r)
	}
}

func familyName(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// vrrp validates one instance; ok reports whether port, family and vrid
// are valid (for the uniqueness check).
func (v *validator) vrrp(p fieldPath, r *rawVRRP, c *Config) (out VRRP, ok bool) {
	ok = true
	dp := &c.Dataplane
	np := p.key("name")
	switch {
	case r.Name == nil:
		v.missing(np)
	case !serviceNameRE.MatchString(*r.Name):
		v.addf(np, "invalid name %q: use 1-32 characters of a-z, A-Z, 0-9, \"_\", \".\" and \"-\"", *r.Name)
	default:
		out.Name = *r.Name
	}
	if r.Port != nil {
		idx := slices.IndexFunc(dp.Ports, func(pt Port) bool { return pt.Name == *r.Port })
		switch {
		case idx < 0:
			v.addf(p.key("port"), "unknown port %q (the [[dataplane.port]] names are %s)", *r.Port, portNames(dp.Ports))
			ok = false
		case idx != 0:
			v.addf(p.key("port"), "port %q: VRRP runs on the first port (%s), through which the exception path sends", *r.Port, dp.Ports[0].Name)
			ok = false
		default:
			out.Port = idx
		}
	}
	if dp.TAP == "" && len(dp.Ports) > 0 {
		v.add(p, "VRRP needs the exception path: set dataplane.tap")
	}
	if r.VRID == nil {
		v.missing(p.key("vrid"))
		ok = false
	} else if n, good := v.intIn(p.key("vrid"), r.VRID, 0, 1, 255); good {
		out.VRID = uint8(n)
	} else {
		ok = false
	}
	prio, _ := v.intIn(p.key("priority"), r.Priority, defVRRPPriority, 1, 255)
	out.Priority = uint8(prio)
	ver, good := v.intIn(p.key("version"), r.Version, defVRRPVersion, 2, 3)
	out.Version = int(ver)
	verOK := good

	ip := p.key("advert_int")
	if d, good := v.duration(ip, r.AdvertInt, defVRRPInterval); good {
		out.Interval = d
		switch {
		case !verOK:
		case out.Version == 2 && (d%time.Second != 0 || d < time.Second || d > maxVRRPInterval2):
			v.addf(ip, "advert_int %s: version 2 advertises whole seconds, 1s..255s (use version 3 for shorter intervals)", d)
		case out.Version == 3 && (d < minVRRPInterval3 || d > maxVRRPInterval3):
			v.addf(ip, "advert_int %s out of range 10ms..40.95s for version 3", d)
		case out.Version == 3 && d%minVRRPInterval3 != 0:
			v.addf(ip, "advert_int %s: version 3 advertises centiseconds, use a multiple of 10ms", d)
		}
	}
	out.Preempt = r.Preempt == nil || *r.Preempt
	if d, good := v.duration(p.key("preempt_delay"), r.PreemptDelay, 0); good {
		if d > maxPreemptDelay {
			v.addf(p.key("preempt_delay"), "preempt_delay %s longer than %s", d, maxPreemptDelay)
		}
		out.PreemptDelay = d
	}
	if r.State != nil {
		switch strings.ToLower(*r.State) {
		case "backup":
		case "master":
			out.StartMaster = true
		default:
			v.addf(p.key("state"), "state %q: use \"backup\" or \"master\"", *r.State)
		}
	}

	// VIPs: the services' VIPs, one family.
	vp := p.key("vips")
	if len(r.VIPs) == 0 && !v.bad[vp.String()] {
		v.add(vp, "an instance needs at least one VIP (the vip of a [[service]])")
		ok = false
	}
	for k, s := range r.VIPs {
		ep := vp.idx(k)
		a, msg := parseVIP(s)
		if msg != "" {
			v.add(ep, msg)
			ok = false
			continue
		}
		if slices.Contains(out.VIPs, a) {
			v.addf(ep, "VIP %s listed twice", a)
			continue
		}
		if !slices.ContainsFunc(c.Services, func(s Service) bool { return s.VIP == a }) {
			v.addf(ep, "VIP %s belongs to no [[service]]", a)
		}
		if len(out.VIPs) > 0 && out.VIPs[0].Is6() != a.Is6() {
			v.addf(ep, "VIP %s is %s but %s is %s: an instance carries one address family (use one instance per family)", a, family(a), out.VIPs[0], family(out.VIPs[0]))
			ok = false
			continue
		}
		out.VIPs = append(out.VIPs, a)
	}
	v6 := out.IPv6()
	if v6 && verOK && out.Version == 2 {
		v.add(p.key("version"), "version 2 is IPv4 only; IPv6 VIPs need version 3")
	}
	if v6 && !dp.Address6.IsValid() {
		v.add(vp, "IPv6 VIPs need dataplane.address6")
	}
	own := dp.Address.Addr()
	if v6 {
		own = dp.Address6.Addr()
	}
	out.UnicastSrc = own
	if r.UnicastSrc != nil {
		sp := p.key("unicast_src")
		if a, msg := parseAddr("unicast_src", *r.UnicastSrc); msg != "" {
			v.add(sp, msg)
		} else if own.IsValid() && a != own {
			v.addf(sp, "unicast_src %s is not the balancer's %s address %s, the only source the exception path has", a, family(own), own)
		}
	}
	for k, s := range r.UnicastPeers {
		ep := p.key("unicast_peers").idx(k)
		a, msg := parseAddr("unicast peer", s)
		switch {
		case msg != "":
			v.add(ep, msg)
		case len(out.VIPs) > 0 && a.Is6() != v6:
			v.addf(ep, "unicast peer %s is not of the instance's family (%s)", a, familyName(v6))
		case a == own:
			v.addf(ep, "unicast peer %s is the balancer's own address", a)
		case slices.Contains(out.UnicastPeers, a):
			v.addf(ep, "unicast peer %s listed twice", a)
		default:
			out.UnicastPeers = append(out.UnicastPeers, a)
		}
	}
	if r.AuthPass != nil {
		ap := p.key("auth_pass")
		switch n := len(*r.AuthPass); {
		case verOK && out.Version == 3:
			v.add(ap, "auth_pass: version 3 has no authentication (RFC 9568 removed it); use version 2 or remove auth_pass")
		case n == 0 || n > maxVRRPAuthPass:
			v.addf(ap, "auth_pass of %d bytes: 1..%d (keepalived truncates longer ones; write the 8 bytes the peer uses)", n, maxVRRPAuthPass)
		default:
			out.AuthPass = *r.AuthPass
		}
	}
	if r.V3Checksum != nil {
		cp := p.key("v3_checksum")
		switch *r.V3Checksum {
		case "pseudo-header":
		case "message-only":
			if verOK && out.Version != 3 || v6 {
				v.add(cp, "v3_checksum \"message-only\" applies to version 3 over IPv4 only")
			}
			out.MessageOnly = true
		default:
			v.addf(cp, "v3_checksum %q: use \"pseudo-header\" or \"message-only\"", *r.V3Checksum)
		}
	}
	for k, name := range r.TrackServices {
		ep := p.key("track_services").idx(k)
		switch {
		case !slices.ContainsFunc(c.Services, func(s Service) bool { return s.Name == name }):
			v.addf(ep, "unknown service %q", name)
		case slices.Contains(out.TrackServices, name):
			v.addf(ep, "service %q tracked twice", name)
		default:
			out.TrackServices = append(out.TrackServices, name)
		}
	}
	tw, _ := v.intIn(p.key("track_weight"), r.TrackWeight, 0, 0, 254)
	out.TrackWeight = uint8(tw)
	if r.TrackWeight != nil && len(r.TrackServices) == 0 {
		v.add(p.key("track_weight"), "track_weight without track_services")
	}
	if out.Priority == 255 && len(r.TrackServices) > 0 {
		v.add(p.key("track_services"), "the address owner (priority 255) cannot track services: its priority never changes")
	}
	g, _ := v.intIn(p.key("garp_repeat"), r.GARPRepeat, defGARPRepeat, 1, maxGARPRepeat)
	out.GARPRepeat = int(g)
	out.GARPDelay, _ = v.duration(p.key("garp_delay"), r.GARPDelay, defGARPDelay)
	if d, good := v.duration(p.key("garp_refresh"), r.GARPRefresh, 0); good {
		if d != 0 && d < minGARPRefresh {
			v.addf(p.key("garp_refresh"), "garp_refresh %s: \"0s\" or at least %s", d, minGARPRefresh)
		}
		out.GARPRefresh = d
	}
	out.NotifyMaster = v.command(p.key("notify_master"), r.NotifyMaster)
	out.NotifyBackup = v.command(p.key("notify_backup"), r.NotifyBackup)
	out.NotifyFault = v.command(p.key("notify_fault"), r.NotifyFault)
	out.Notify = v.command(p.key("notify"), r.Notify)
	if r.SyncGroup != nil {
		if !serviceNameRE.MatchString(*r.SyncGroup) {
			v.addf(p.key("sync_group"), "invalid sync_group %q: use 1-32 characters of a-z, A-Z, 0-9, \"_\", \".\" and \"-\"", *r.SyncGroup)
		} else {
			out.SyncGroup = *r.SyncGroup
		}
	}
	return out, ok
}

// command validates a notify command: an absolute program path, then
// arguments. Whether it can run is checked by CheckScripts.
func (v *validator) command(p fieldPath, argv []string) []string {
	if argv == nil {
		return nil
	}
	if len(argv) == 0 || !strings.HasPrefix(argv[0], "/") {
		v.add(p, "the command's first element must be the program's absolute path")
		return nil
	}
	return argv
}

func portNames(ports []Port) string {
	var names []string
	for _, p := range ports {
		names = append(names, fmt.Sprintf("%q", p.Name))
	}
	return strings.Join(names, ", ")
}

// MasterDown is the master-down interval of an instance of version ver
// whose master advertises every interval, seen by a backup of priority
// prio (RFC 9568 section 6.1; RFC 3768 section 6.1 for version 2, whose
// skew is in seconds whatever the interval).
func MasterDown(ver int, interval time.Duration, prio uint8) time.Duration {
	skew := time.Duration(256-int(prio)) * interval / 256
	if ver == 2 {
		skew = time.Duration(256-int(prio)) * time.Second / 256
	}
	return 3*interval + skew
}
