package pipeline

import (
	"fmt"
	"net/netip"
)

// Backend references. Connection-tracking entries, persistence entries and
// the workers' per-real-server state (connection counts, round-robin
// weights) name a real server of a service by a reference: a dense index
// that stays with the (service name, real server address) pair across
// snapshots while the pair stays configured, and a generation that grows
// each time a freed index is given to another pair. An entry whose
// generation is not its index's current one belongs to a real server that
// was removed: it is ignored (its flow is scheduled again), never taken
// for the new owner's.
//
// The snapshot carries, per index, where the real server is in it
// (service, next hop) and its generation, so a lookup costs one load from
// a small array instead of a hash.

// MaxRefs is the number of (service, real server) pairs a data plane
// schedules to at once; Build refuses a configuration with more. Every
// worker keeps state for each (8 bytes of connection counts, 4 of
// round-robin weight).
const MaxRefs = 1 << 16

// refKey is what a reference stands for.
type refKey struct {
	service string
	addr    netip.Addr
}

// refAlloc assigns references. Build derives a new one from the previous
// snapshot's: the snapshots are immutable, so it is copied, never changed.
type refAlloc struct {
	ids  map[refKey]uint16
	gens []uint8  // current generation of each index given out so far
	free []uint16 // freed indexes, oldest first (generations wrap late)
}

// next derives the allocator of a configuration with the pairs of keys:
// pairs that stay keep their reference, the others' references are freed,
// new pairs take the oldest free index (its generation one higher) or a
// new one.
func (a *refAlloc) next(keys []refKey) (*refAlloc, error) {
	n := &refAlloc{ids: make(map[refKey]uint16, len(keys))}
	want := make(map[refKey]bool, len(keys))
	for _, k := range keys {
		want[k] = true
	}
	if a != nil {
		n.gens = append([]uint8(nil), a.gens...)
		n.free = append([]uint16(nil), a.free...)
		for k, id := range a.ids {
			if want[k] {
				n.ids[k] = id
			} else {
				n.free = append(n.free, id)
			}
		}
	}
	for _, k := range keys {
		if _, ok := n.ids[k]; ok {
			continue
		}
		var id uint16
		switch {
		case len(n.free) > 0:
			id = n.free[0]
			n.free = n.free[1:]
			n.gens[id]++
		case len(n.gens) < MaxRefs:
			id = uint16(len(n.gens))
			n.gens = append(n.gens, 1)
		default:
			return nil, fmt.Errorf("more than %d (service, real server) pairs", MaxRefs)
		}
		n.ids[k] = id
	}
	return n, nil
}

// refHop is where reference i's real server is in a snapshot: the service
// index (low 32 bits), the index in the service's hops (bits 32..47;
// noHop when its MAC is unknown) and the reference's generation (bits
// 48..55; 0 when the index is not in use). One word: one load and one
// compare on the per-packet path.
type refHop uint64

func makeRefHop(svc uint32, hop uint16, gen uint8) refHop {
	return refHop(uint64(svc) | uint64(hop)<<32 | uint64(gen)<<48)
}

func (h refHop) svc() uint32 { return uint32(h) }
func (h refHop) hop() uint16 { return uint16(h >> 32) }
func (h refHop) gen() uint8  { return uint8(h >> 48) }

const noHop = ^uint16(0)

// ref is a reference as entries store it: index and generation.
type ref struct {
	idx uint16
	gen uint8
}

// hopOf returns the next hop of reference r if it is in force in service
// svc (index idx) with a known MAC.
func (s *Snapshot) hopOf(r ref, svc *service, idx uint32) *nextHop {
	refs := s.refs
	if int(r.idx) >= len(refs) {
		return nil
	}
	h := refs[r.idx]
	// Generation and service in one compare.
	const genSvc = 0xff<<48 | 0xffffffff
	if uint64(h)&genSvc != uint64(r.gen)<<48|uint64(idx) || int(h.hop()) >= len(svc.hops) {
		return nil
	}
	return &svc.hops[h.hop()]
}
