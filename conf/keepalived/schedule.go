package keepalived

import (
	"net/netip"
	"time"
)

// IPVS schedulers dsrlb does not have, with the nearest dsrlb one.
var nearestScheduler = map[string][2]string{
	"lblc":  {"wlc", "locality-based least-connection, for caches, by destination address"},
	"lblcr": {"wlc", "locality-based least-connection with replication, for caches"},
	"dh":    {"fo", "destination hashing: one real server per destination"},
	"sed":   {"wlc", "shortest expected delay"},
	"nq":    {"wlc", "never queue"},
	"ovf":   {"fo", "weighted overflow: the heaviest real server up to its connection limit"},
}

// scheduler converts lvs_sched and the port flag of sh and mh. IPVS's mh
// and sh hash the client address, and with sh-port / mh-port (flag-2) its
// port too: dsrlb's maglev with hash "source-ip", and "5-tuple" (the
// destination is the service's, fixed).
func (c *converter) scheduler(sched, portFlag *Node) []entry {
	if sched == nil {
		if portFlag != nil {
			c.rep.omit(portFlag, "applies to the sh and mh schedulers only")
		}
		return []entry{{key: "scheduler", value: tomlString("wlc"), comment: "lvs_sched not set: keepalived's default is wlc"}}
	}
	name := sched.Arg(0)
	e := entry{key: "scheduler", comment: src(sched)}
	switch name {
	case "rr", "wrr", "lc", "wlc", "fo", "twos":
		e.value = tomlString(name)
	case "sh", "mh":
		if portFlag != nil {
			return []entry{
				{key: "scheduler", value: tomlString("maglev"), comment: src(sched)},
				{key: "hash", value: tomlString("5-tuple"), comment: src(portFlag)},
			}
		}
		if name == "sh" {
			e.value = tomlString("sh")
			return []entry{e}
		}
		return []entry{
			{key: "scheduler", value: tomlString("maglev"), comment: src(sched)},
			{key: "hash", value: tomlString("source-ip"), comment: "IPVS mh hashes the client address"},
		}
	default:
		if alt, ok := nearestScheduler[name]; ok {
			c.rep.omit(sched, "%s (%s) has no dsrlb equivalent; nearest: scheduler = %q (the service keeps dsrlb's default, maglev)", name, alt[1], alt[0])
			return []entry{{key: "scheduler", value: tomlString(alt[0]), comment: "nearest to " + src(sched) + ": not converted", off: true}}
		}
		c.rep.omit(sched, "unknown scheduler %q (the service keeps dsrlb's default, maglev)", name)
		return nil
	}
	if portFlag != nil {
		c.rep.omit(portFlag, "applies to the sh and mh schedulers only")
	}
	return []entry{e}
}

// maxPersistence is dsrlb's longest persistence_timeout.
const maxPersistence = 9 * time.Hour

// persistence converts persistence_timeout (keepalived's default, when
// given without a value or implied by persistence_granularity, is 360 s)
// and persistence_granularity.
func (c *converter) persistence(pto, pgr *Node) []entry {
	if pto == nil && pgr == nil {
		return nil
	}
	var out []entry
	timeout, comment := 360*time.Second, "persistence_granularity without persistence_timeout: keepalived's default 360 s"
	if pto != nil {
		comment = src(pto)
		if len(pto.Args) > 0 {
			v, err := parseUint(pto.Arg(0), 1, 1<<32-1)
			if err != nil {
				c.rep.omit(pto, "%v (persistence not converted)", err)
				return nil
			}
			timeout = time.Duration(v) * time.Second
		}
		if timeout > maxPersistence {
			c.rep.omit(pto, "%s is longer than dsrlb's longest, %s: written as %s", goDuration(timeout), goDuration(maxPersistence), goDuration(maxPersistence))
			timeout = maxPersistence
		}
	}
	out = append(out, entry{key: "persistence_timeout", value: tomlString(goDuration(timeout)), comment: comment})
	if pgr != nil {
		g := pgr.Arg(0)
		if a, err := netip.ParseAddr(g); err == nil && a.Is4() {
			out = append(out, entry{key: "persistence_granularity", value: tomlString(g), comment: src(pgr)})
		} else if n, err := parseUint(g, 1, 128); err == nil {
			out = append(out, entry{key: "persistence_granularity", value: tomlInt(n), comment: src(pgr)})
		} else {
			c.rep.omit(pgr, "%q is not a netmask or a prefix length", g)
		}
	}
	return out
}
