package pipeline

import "dsrlb/pipeline/maglev"

// maglevPick is Maglev consistent hashing (maglev, IPVS "mh"), of the
// 5-tuple or, for source hashing (sh, or hash = "source-ip"), of the
// client address: the same flow, or the same client, reaches the same
// real server on every balancer with the same configuration, and a change
// of the set moves only the flows of the servers that changed.
func maglevPick(svc *service, p *Packet) uint16 {
	h := p.flow
	if svc.sourceIP {
		h = p.shash
	}
	b := maglev.Lookup(svc.table, h)
	if int(b) >= len(svc.hops) {
		return noHop
	}
	return b
}
