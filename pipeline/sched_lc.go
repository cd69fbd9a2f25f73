package pipeline

// leastConns is least connections (lc) and weighted least connections
// (wlc) as IPVS computes them: a real server's load is its active
// connections times 256 plus its inactive ones (half-open or closing,
// which cost a server little), from this worker's connection table (each
// worker counts the flows RSS gives it, so with even RSS the servers'
// loads are balanced in aggregate). lc takes the real server with the
// lowest load, wlc the lowest load per weight; the first in configuration
// order on a tie. Only real servers with weight > 0 are candidates.
func (w *Worker) leastConns(svc *service, weighted bool) uint16 {
	rc := w.ct.conns
	best, bestOH, bestW := noHop, uint64(0), uint64(1)
	for _, i := range svc.weighted {
		h := &svc.hops[i]
		oh := rc.overhead(h.ref)
		wt := uint64(1)
		if weighted {
			wt = uint64(h.weight)
		}
		// oh/wt < bestOH/bestW without a division.
		if best == noHop || oh*bestW < bestOH*wt {
			best, bestOH, bestW = i, oh, wt
		}
	}
	return best
}

// twoChoices is the power of two random choices (twos): two candidates
// drawn from the flow's hash, the one with the lower load per weight (as
// wlc) wins, the first drawn on a tie. It spreads nearly as well as wlc at
// a constant cost per new flow, whatever the number of real servers.
func (w *Worker) twoChoices(svc *service, h uint64) uint16 {
	n := uint64(len(svc.weighted))
	switch n {
	case 0:
		return noHop
	case 1:
		return svc.weighted[0]
	}
	i := (uint64(uint32(h)) * n) >> 32
	j := ((h >> 32) * (n - 1)) >> 32
	if j >= i {
		j++
	}
	a, b := &svc.hops[svc.weighted[i]], &svc.hops[svc.weighted[j]]
	rc := w.ct.conns
	if rc.overhead(b.ref)*uint64(a.weight) < rc.overhead(a.ref)*uint64(b.weight) {
		return svc.weighted[j]
	}
	return svc.weighted[i]
}
