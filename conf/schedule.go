package conf

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Limits of the service keys of scheduling.
const (
	// maxPersistenceTimeout: the data plane stamps persistence entries in
	// 16-bit seconds (at most 32767 s apart); 9h, like the idle timeouts
	// of connection tracking.
	maxPersistenceTimeout = maxConntrackTimeout
	maxPriority           = 255
)

// schedule validates the service keys that decide which real server a
// new flow gets: scheduler, hash, persistence_timeout,
// persistence_granularity, priority_min and the backends' priority. s
// has its VIP and backends (in the order of r.Backend) already.
func (v *validator) schedule(p fieldPath, r *rawService, s *Service) {
	scp := p.key("scheduler")
	s.Scheduler = SchedMaglev
	schedOK := true
	if r.Scheduler != nil {
		if sch, ok := ParseScheduler(*r.Scheduler); ok {
			s.Scheduler = sch
		} else {
			v.addf(scp, "unknown scheduler %q (valid: %s)", *r.Scheduler, schedulerNameList())
			schedOK = false
		}
	}
	// Maglev and sh keep today's rule: with every weight 0 the service
	// has no capacity (the sorry server, if any, stands in). The others
	// pick among the real servers with weight above 0 only: a service
	// without one is a mistake.
	if schedOK && !s.Scheduler.Consistent() && len(s.Backends) > 0 && s.TotalWeight() == 0 {
		v.addf(scp, "all backends have weight 0: scheduler %q gives new flows only to real servers with weight above 0", s.Scheduler)
	}

	if r.Hash != nil {
		hp := p.key("hash")
		hashOK := true
		switch *r.Hash {
		case "5-tuple":
			s.Hash = HashFiveTuple
		case "source-ip":
			s.Hash = HashSourceIP
		default:
			v.addf(hp, "unknown hash %q (valid: \"5-tuple\", \"source-ip\")", *r.Hash)
			hashOK = false
		}
		switch {
		case !schedOK || !hashOK: // reported
		case s.Scheduler == SchedSH:
			v.add(hp, `hash applies to scheduler "maglev" only: scheduler "sh" always hashes the client's address (remove hash)`)
		case s.Scheduler != SchedMaglev:
			v.addf(hp, `hash applies to scheduler "maglev" only, not to scheduler %q (remove hash)`, s.Scheduler)
		}
	}

	v.persistence(p, r, s)

	bp := p.key("backend")
	for i := range r.Backend {
		pr, _ := v.intIn(bp.idx(i).key("priority"), r.Backend[i].Priority, 0, 0, maxPriority)
		s.Backends[i].Priority = uint8(pr)
	}
	s.PriorityMin = 1
	if r.PriorityMin != nil {
		n := max(1, len(r.Backend))
		if pm := *r.PriorityMin; pm < 1 || pm > int64(n) {
			v.addf(p.key("priority_min"), "priority_min %d out of range 1..%d (the number of backends)", pm, n)
		} else {
			s.PriorityMin = int(pm)
		}
	}
}

// persistence validates persistence_timeout and persistence_granularity.
func (v *validator) persistence(p fieldPath, r *rawService, s *Service) {
	tp, gp := p.key("persistence_timeout"), p.key("persistence_granularity")
	persist := false // persistence_timeout asks for persistence (valid or not)
	if r.PersistenceTimeout != nil {
		d, ok := v.duration(tp, r.PersistenceTimeout, 0)
		persist = !ok || d != 0
		switch {
		case !ok || d == 0:
		case d < time.Second || d > maxPersistenceTimeout:
			v.addf(tp, "persistence_timeout %s out of range 1s..9h (\"0s\": no persistence)", d)
		case d%time.Second != 0:
			v.addf(tp, "persistence_timeout %s is not a whole number of seconds", d)
		default:
			s.PersistenceTimeout = d
		}
	}

	if r.PersistenceGranularity != nil {
		n, msg := parseGranularity(*r.PersistenceGranularity, s.VIP)
		switch {
		case msg != "":
			v.add(gp, msg)
		case !persist && r.PersistenceTimeout == nil:
			v.add(gp, "persistence_granularity needs persistence_timeout: without it the service has no persistence")
		case !persist:
			v.add(gp, "persistence_granularity needs persistence_timeout above 0s: with \"0s\" the service has no persistence")
		case s.PersistenceTimeout > 0:
			s.PersistenceGranularity = n
		}
	}
	if s.PersistenceTimeout > 0 && s.PersistenceGranularity == 0 {
		s.PersistenceGranularity = hostBits(s.VIP)
	}
}

// hostBits is the length of an address of vip's family: 32 or 128 (32
// when vip is invalid).
func hostBits(vip netip.Addr) int {
	if vip.Is6() {
		return 128
	}
	return 32
}

// parseGranularity parses persistence_granularity for a service with VIP
// vip (invalid: its family is unknown and any prefix length up to 128
// passes): an IPv4 netmask ("255.255.255.0", IPv4 VIPs only) or a prefix
// length ("/24" or 24). It returns the prefix length, or msg saying what
// is wrong.
func parseGranularity(g rawStrInt, vip netip.Addr) (n int, msg string) {
	maxBits := 128
	example := `a netmask such as "255.255.255.0" or a prefix length such as "/24"`
	if vip.Is4() {
		maxBits = 32
	}
	if vip.Is6() {
		example = `a prefix length such as "/64"`
	}
	inRange := func(n int64) (int, string) {
		if n < 1 || n > int64(maxBits) {
			what := "a VIP's"
			if vip.IsValid() {
				what = fmt.Sprintf("%s VIP %s", family(vip), vip)
			}
			return 0, fmt.Sprintf("persistence_granularity %s: prefix length %d out of range 1..%d for %s", g, n, maxBits, what)
		}
		return int(n), ""
	}
	if g.IsInt {
		return inRange(g.Int)
	}
	if rest, ok := strings.CutPrefix(g.Str, "/"); ok {
		n, err := strconv.ParseUint(rest, 10, 32)
		if err != nil {
			return 0, fmt.Sprintf("invalid persistence_granularity %s: use %s", g, example)
		}
		return inRange(int64(n))
	}
	mask, err := netip.ParseAddr(g.Str)
	switch {
	case err != nil || mask.Zone() != "":
		return 0, fmt.Sprintf("invalid persistence_granularity %s: use %s", g, example)
	case !mask.Is4():
		return 0, fmt.Sprintf("persistence_granularity %s: netmasks are written for IPv4 VIPs only; use %s", g, example)
	case vip.Is6():
		return 0, fmt.Sprintf("persistence_granularity %s is an IPv4 netmask but VIP %s is IPv6: use %s", g, vip, example)
	}
	b := mask.As4()
	m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := bits.LeadingZeros32(^m)
	if ones < 32 && m != ^uint32(0)<<(32-ones) {
		return 0, fmt.Sprintf("persistence_granularity %s is not a contiguous netmask (ones, then zeros, such as \"255.255.255.0\")", g)
	}
	return inRange(int64(ones))
}

// schedulerNameList is the list of valid scheduler names for messages:
// "maglev", "mh", "rr", ...
func schedulerNameList() string {
	var names []string
	for _, s := range Schedulers() {
		names = append(names, strconv.Quote(s.String()))
		if s == SchedMaglev {
			names = append(names, `"mh"`)
		}
	}
	return strings.Join(names, ", ")
}
