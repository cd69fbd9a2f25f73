package pipeline

// roundRobin is round robin (rr: every real server with weight > 0 in
// turn) and smooth weighted round robin (wrr), the interleaving nginx
// uses: each pick adds every candidate's weight to its current value,
// takes the candidate with the highest (the first in configuration order
// on a tie) and subtracts the weights' total from it. Weights 5, 1, 1
// give a a b a c a a: every cycle of total-weight picks gives each server
// exactly its weight, spread out rather than in bursts. rr is the same
// with every weight 1.
//
// The current values are per worker and per backend reference, so they
// survive snapshot swaps; each worker runs its own sequence, so the shares
// hold on each worker and therefore in aggregate. A pick visits every
// candidate: O(n) per new flow, like IPVS's wrr.
func (w *Worker) roundRobin(svc *service, weighted bool) uint16 {
	rc := w.ct.conns.c
	best, bestCW := noHop, int64(0)
	total := int64(0)
	for _, i := range svc.weighted {
		h := &svc.hops[i]
		wt := int64(1)
		if weighted {
			wt = int64(h.weight)
		}
		c := &rc[h.ref.idx]
		c.cw += wt
		total += wt
		if best == noHop || c.cw > bestCW {
			best, bestCW = i, c.cw
		}
	}
	if best != noHop {
		rc[svc.hops[best].ref.idx].cw -= total
	}
	return best
}
