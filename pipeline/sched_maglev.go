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
		h = sourceHash(p)
	}
	b := maglev.Lookup(svc.table, h)
	if int(b) >= len(svc.hops) {
		return noHop
	}
	return b
}

// sourceHash is the hash of p's client address (source hashing), from
// the header: only new flows need it.
func sourceHash(p *Packet) uint64 {
	hi, lo := p.source()
	if p.v6 {
		return SourceHash6(hi, lo)
	}
	return SourceHash4(uint32(lo))
}
