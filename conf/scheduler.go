package conf

import "strconv"

// Scheduler is how a service picks the real server of a new flow. This
// file is its only definition: the names the configuration, the wire and
// dsrlbctl use. The data plane compiles it into each service's snapshot
// (pipeline/sched_*.go); only a flow's first packet is scheduled,
// connection tracking keeps the rest.
type Scheduler uint8

// Schedulers. The zero Scheduler is Maglev, the default.
const (
	// SchedMaglev is Maglev consistent hashing of the flow (IPVS "mh").
	SchedMaglev Scheduler = iota
	// SchedRR is round robin over the real servers with weight > 0.
	SchedRR
	// SchedWRR is smooth weighted round robin.
	SchedWRR
	// SchedLC is least connections.
	SchedLC
	// SchedWLC is weighted least connections.
	SchedWLC
	// SchedSH is source hashing: Maglev over the client address.
	SchedSH
	// SchedFO is weighted failover: the available real server with the
	// highest weight takes every new flow.
	SchedFO
	// SchedTwoS is two random choices: of two real servers picked by the
	// flow's hash, the one with fewer connections per weight.
	SchedTwoS

	numSchedulers
)

var schedulerNames = [numSchedulers]string{
	SchedMaglev: "maglev", SchedRR: "rr", SchedWRR: "wrr", SchedLC: "lc", SchedWLC: "wlc",
	SchedSH: "sh", SchedFO: "fo", SchedTwoS: "twos",
}

// Schedulers lists every scheduler, in the order of the documentation.
func Schedulers() []Scheduler {
	out := make([]Scheduler, 0, numSchedulers)
	for s := range numSchedulers {
		out = append(out, s)
	}
	return out
}

func (s Scheduler) String() string {
	if s < numSchedulers {
		return schedulerNames[s]
	}
	return "scheduler(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is a scheduler.
func (s Scheduler) Valid() bool { return s < numSchedulers }

// ParseScheduler returns the scheduler of name; "mh", IPVS's name of
// Maglev hashing, is "maglev".
func ParseScheduler(name string) (Scheduler, bool) {
	if name == "mh" {
		return SchedMaglev, true
	}
	for s, n := range schedulerNames {
		if n == name {
			return Scheduler(s), true
		}
	}
	return 0, false
}

// Consistent reports whether s picks a flow's real server from the flow
// alone (and the set of real servers), so that another balancer with the
// same configuration picks the same one: Maglev and source hashing. The
// other schedulers' choices depend on this balancer's own history; after
// a failover their established flows are rescheduled by Maglev, and may
// move.
func (s Scheduler) Consistent() bool { return s == SchedMaglev || s == SchedSH }
