package pipeline

// failoverHop is the weighted failover scheduler's (fo) choice, fixed
// when the snapshot is built: the real server with the highest weight
// among those with weight > 0 takes every new flow (the first in
// configuration order on a tie); when it fails (weight 0 or removed), the
// next snapshot names the next one.
func failoverHop(svc *service) uint16 {
	best := noHop
	for _, i := range svc.weighted {
		if best == noHop || svc.hops[i].weight > svc.hops[best].weight {
			best = i
		}
	}
	return best
}
