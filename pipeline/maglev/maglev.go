// Package maglev builds Maglev consistent-hashing lookup tables as described
// in Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
// Balancer", NSDI 2016, section 3.4 ("Pseudocode 1: Populate Maglev hashing
// lookup table"), extended with backend weights.
//
// # Table
//
// A table has M entries, M prime (DefaultSize = 65537; larger tables such as
// 655373 give finer weight resolution and less churn at the cost of 2*M bytes
// and a slower build). Each entry holds the index of a backend in the slice
// passed to Build, or NoBackend when no backend has a weight above zero. The
// data path maps a flow hash onto an entry with Lookup.
//
// # Determinism
//
// The table depends only on the set of (Key, Weight) pairs and on M, never on
// the order in which the caller lists the backends, on the process, on the
// machine or on the Go version: backends are sorted by Key (byte-wise) before
// the population loop, and the permutation of each backend comes from two
// fixed-seed 64-bit hashes of its Key implemented here with integer
// arithmetic only (no hash/maphash, no map iteration). Two balancers that are
// given the same backend set therefore compute the same key for every entry,
// so a flow keeps its real server when it moves between balancers. Only the
// returned indices differ, because they index each caller's own slice.
//
// # Permutation
//
// For a backend with key K:
//
//	h(seed, K) = fmix64(FNV-1a-64(le64(seed) || K))
//	offset     = h(seedOffset, K) mod M
//	skip       = h(seedSkip, K) mod (M-1) + 1
//	permutation[j] = (offset + j*skip) mod M
//
// where le64(seed) is the 8-byte little-endian encoding of the seed, FNV-1a-64
// uses the standard offset basis 14695981039346656037 and prime
// 1099511628211, and fmix64 is MurmurHash3's 64-bit finaliser. The seeds are
// seedOffset = 0x6d61676c65762d6f ("maglev-o") and seedSkip =
// 0x6d61676c65762d73 ("maglev-s"). Because M is prime and 1 <= skip < M,
// every permutation visits all M entries. Changing any of this changes every
// table and breaks flow affinity between balancers running different
// versions; the tests pin the values.
//
// # Weights
//
// The paper (section 3.4) implements weights by "adjusting the relative
// frequency of the backends' turns". Here the population loop runs in rounds
// r = 0, 1, 2, ... and in each round the backends take their turns in key
// order; a backend of weight w takes
//
//	T(r) - T(r-1) turns in round r, where T(r) = floor(((r+1)*w + wmax/2) / wmax)
//
// (computed exactly with integers as floor(((r+1)*2w + wmax) / (2*wmax))) and
// wmax is the largest weight in the set. So a backend of maximal weight takes
// exactly one turn per round, a backend of half that weight one turn every
// other round, and with all weights equal the loop is exactly the paper's
// unweighted algorithm. Each turn fills exactly one entry (the backend's next
// preferred empty entry), so after r rounds a backend owns T(r-1) entries,
// i.e. (r*w/wmax) rounded to the nearest integer. Rounding to nearest rather
// than down (the "+ wmax/2" phase) matters for small weights: with a floor
// every backend would be up to one entry short of its ideal share, always in
// the same direction, which is more than 1% for a backend whose ideal share is
// under 100 entries (e.g. weights 1:100:1000 at M=65537 give the weight-1
// backend 59.5 ideal entries). With the half-turn phase the error stays around
// half an entry; the last, partial round (the loop stops as soon as all M
// entries are filled, part-way through a round) adds at most one more entry
// to the backends that come early in key order. Weight 0 means drained: the
// backend takes no turns and owns no entries; its presence in the set does
// not change the table at all.
//
// # Cost
//
// Permutations are never materialised: each backend keeps only its next
// candidate position and advances it with an addition and a conditional
// subtraction. A Builder keeps the per-backend buffers (O(N) memory, no O(N*M)
// permutation matrix) so rebuilding with the same or a smaller backend count
// allocates nothing when the caller passes the destination table in. With
// unequal weights, backends of at least an eighth of the largest weight are
// scanned every round and lighter ones are scheduled through a min-heap keyed
// by their next round, so a build costs O(M log N) at worst rather than
// O(rounds * N), even for very skewed weights.
package maglev

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// DefaultSize is the default table size M (a prime).
const DefaultSize = 65537

// NoBackend is the value of every entry of a table built from a set with no
// backend of weight > 0.
const NoBackend = 0xFFFF

// MaxBackends is the largest number of backends Build accepts: entries are
// uint16 and NoBackend is reserved.
const MaxBackends = 65535

// Hash seeds. They are part of the table format: see the package comment.
const (
	seedOffset uint64 = 0x6d61676c65762d6f // "maglev-o"
	seedSkip   uint64 = 0x6d61676c65762d73 // "maglev-s"
)

const (
	fnvOffset64 uint64 = 14695981039346656037
	fnvPrime64  uint64 = 1099511628211
)

// Errors returned by Build, wrapped with details; test with errors.Is.
var (
	ErrSize            = errors.New("maglev: table size is not a prime")
	ErrTooFewEntries   = errors.New("maglev: table size is smaller than the number of weighted backends")
	ErrTooManyBackends = errors.New("maglev: too many backends")
	ErrDuplicateKey    = errors.New("maglev: duplicate backend key")
	ErrEmptyKey        = errors.New("maglev: empty backend key")
	ErrDstLen          = errors.New("maglev: destination length differs from table size")
)

// Backend is one real server.
type Backend struct {
	// Key is the stable identity of the backend, typically its address text
	// ("192.0.2.21", "[2001:db8::21]", optionally with a port). It must be
	// non-empty and unique within a set; it alone determines the backend's
	// permutation.
	Key string
	// Weight is the backend's relative share of the table; 0 means drained
	// (no entries).
	Weight uint32
}

// slot is the population state of one weighted backend, in key order.
type slot struct {
	pos  uint32 // next candidate entry in this backend's permutation
	skip uint32 // permutation step, 1 <= skip < M
	id   uint16 // index of the backend in the caller's slice
}

// Builder holds the reusable buffers of Build. Its zero value is ready to
// use. A Builder is not safe for concurrent use.
type Builder struct {
	order  []int32     // caller indices sorted by key
	slots  []slot      // weighted backends in key order
	weight []uint32    // weight of slots[s]
	credit []uint64    // weighted path: credit of heap-scheduled slots[s]
	scan   []scanEntry // weighted path: slots scanned every round
	heap   []uint64    // weighted path: min-heap of next round<<16 | slot
}

// scanEntry is a backend scanned every round by the weighted loop.
type scanEntry struct {
	credit uint64 // see populateWeighted
	w2     uint64 // 2 * weight
	slot   int32
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder { return &Builder{} }

// Build is a convenience wrapper for NewBuilder().Build(nil, backends, m).
func Build(backends []Backend, m uint32) ([]uint16, error) {
	var b Builder
	return b.Build(nil, backends, m)
}

// Build fills dst with a Maglev table of m entries for backends and returns
// it. dst must have length m, or be nil to have a new table allocated. Each
// entry is the index into backends (as given) of the backend owning it, or
// NoBackend everywhere when no backend has a weight above zero.
//
// Build fails, leaving dst untouched, when m is not prime, when m is smaller
// than the number of backends with weight > 0, when there are more than
// MaxBackends backends, when a key is empty or appears twice, or when dst has
// the wrong length. The result does not depend on the order of backends
// beyond the indices it stores.
func (b *Builder) Build(dst []uint16, backends []Backend, m uint32) ([]uint16, error) {
	if len(backends) > MaxBackends {
		return nil, fmt.Errorf("%w: %d > %d", ErrTooManyBackends, len(backends), MaxBackends)
	}
	if !IsPrime(m) {
		return nil, fmt.Errorf("%w: %d", ErrSize, m)
	}
	if dst != nil && uint64(len(dst)) != uint64(m) {
		return nil, fmt.Errorf("%w: len %d, size %d", ErrDstLen, len(dst), m)
	}
	weighted := 0
	for i := range backends {
		if backends[i].Key == "" {
			return nil, fmt.Errorf("%w: backend %d", ErrEmptyKey, i)
		}
		if backends[i].Weight > 0 {
			weighted++
		}
	}
	if uint64(weighted) > uint64(m) {
		return nil, fmt.Errorf("%w: %d backends, size %d", ErrTooFewEntries, weighted, m)
	}

	order := grow(b.order, len(backends))
	b.order = order
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int {
		return strings.Compare(backends[x].Key, backends[y].Key)
	})
	for i := 1; i < len(order); i++ {
		if backends[order[i-1]].Key == backends[order[i]].Key {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateKey, backends[order[i]].Key)
		}
	}

	if dst == nil {
		dst = make([]uint16, m)
	}
	slots := grow(b.slots, weighted)
	weight := grow(b.weight, weighted)
	b.slots, b.weight = slots, weight
	s := 0
	for _, i := range order {
		be := &backends[i]
		if be.Weight == 0 {
			continue
		}
		offset, skip := permutation(be.Key, m)
		slots[s] = slot{pos: offset, skip: skip, id: uint16(i)}
		weight[s] = be.Weight
		s++
	}
	b.populate(dst, m)
	return dst, nil
}

// populate fills dst (len m) from b.slots and b.weight, which hold the
// weighted backends in key order with their permutation start and step.
func (b *Builder) populate(dst []uint16, m uint32) {
	for i := range dst {
		dst[i] = NoBackend
	}
	slots := b.slots
	if len(slots) == 0 {
		return
	}
	weight := b.weight[:len(slots)]
	wmax := slices.Max(weight)
	if slices.ContainsFunc(weight, func(w uint32) bool { return w != wmax }) {
		b.populateWeighted(dst, m, wmax)
		return
	}
	// Equal weights: the paper's loop. Every round each backend in turn
	// takes its next preferred empty entry; stop when all m are filled.
	mm := uint64(m)
	left := m
	for {
		for s := range slots {
			take(dst, &slots[s], mm)
			left--
			if left == 0 {
				return
			}
		}
	}
}

// take gives sl the first still empty entry of its permutation (its next
// preferred entry) and advances its position past it. There is always an
// empty entry when take is called, and a permutation visits every entry, so
// the loop ends.
func take(dst []uint16, sl *slot, m uint64) {
	c, skip := uint64(sl.pos), uint64(sl.skip)
	for dst[c] != NoBackend {
		c += skip
		if c >= m {
			c -= m
		}
	}
	dst[c] = sl.id
	c += skip
	if c >= m {
		c -= m
	}
	sl.pos = uint32(c)
}

// populateWeighted runs the weighted rounds of the package comment.
//
// The number of turns backend s has taken after round r follows from its
// credit, the fractional part of T(r) scaled by 2*wmax:
//
//	credit(r) = ((r+1)*2w + wmax) mod 2*wmax,  credit(-1) = wmax (half a turn)
//
// Each round adds 2w; a turn is due when the credit reaches 2*wmax, which
// then is subtracted. This is exact integer arithmetic (values < 2^35).
//
// Two schedulers feed the same turn sequence. Backends with w >= wmax/8 are
// scanned every round in slot (= key) order, so the scan costs at most eight
// credit updates per turn taken. Lighter backends would make a per-round scan
// O(rounds * N) for skewed weights (one heavy backend and many light ones
// means up to M rounds), so they sit in a min-heap keyed by round<<16 | slot
// and are merged into the scan in key order. With credit c < 2w left after a
// turn, such a backend's next turn is g = ceil((2*wmax-c)/2w) rounds later,
// with credit c + 2w*g - 2*wmax. Backends of weight wmax are scanned and take
// a turn every round, so every round fills at least one entry and the loop
// ends after at most m rounds.
func (b *Builder) populateWeighted(dst []uint16, m uint32, wmax32 uint32) {
	slots := b.slots
	weight := b.weight[:len(slots)]
	credit := grow(b.credit, len(slots))
	scan := b.scan[:0]
	heap := b.heap[:0]
	wmax := uint64(wmax32)
	w2max := 2 * wmax
	for s, w32 := range weight {
		w2 := 2 * uint64(w32)
		if 8*uint64(w32) >= wmax {
			scan = append(scan, scanEntry{credit: wmax, w2: w2, slot: int32(s)})
			continue
		}
		g := (w2max - wmax + w2 - 1) / w2 // >= 1: first turn in round g-1
		credit[s] = wmax + g*w2 - w2max
		heap = append(heap, (g-1)<<16|uint64(s))
	}
	b.credit, b.scan, b.heap = credit, scan, heap
	for i := len(heap)/2 - 1; i >= 0; i-- {
		siftDown(heap, i)
	}
	top := uint64(math.MaxUint64) // heap[0], or "never" when empty
	if len(heap) > 0 {
		top = heap[0]
	}

	mm := uint64(m)
	left := m
	// heapTurn gives the heap's first backend its turn and reschedules it.
	heapTurn := func(r uint64) bool {
		s := int(top & 0xFFFF)
		w2 := 2 * uint64(weight[s])
		c := credit[s]
		g := (w2max - c + w2 - 1) / w2
		credit[s] = c + g*w2 - w2max
		heap[0] = (r+g)<<16 | uint64(s)
		siftDown(heap, 0)
		top = heap[0]
		take(dst, &slots[s], mm)
		left--
		return left == 0
	}
	for r := uint64(0); ; r++ {
		for k := range scan {
			e := &scan[k]
			e.credit += e.w2
			if e.credit < w2max {
				continue
			}
			e.credit -= w2max
			for key := r<<16 | uint64(e.slot); top < key; {
				if heapTurn(r) {
					return
				}
			}
			take(dst, &slots[e.slot], mm)
			left--
			if left == 0 {
				return
			}
		}
		for end := (r + 1) << 16; top < end; {
			if heapTurn(r) {
				return
			}
		}
	}
}

// siftDown restores the min-heap property of h below index i.
func siftDown(h []uint64, i int) {
	n := len(h)
	x := h[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && h[r] < h[c] {
			c = r
		}
		if h[c] >= x {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = x
}

// grow returns s resized to n, reusing its array when large enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// permutation returns the first entry and the step of key's preference list
// in a table of prime size m >= 2.
func permutation(key string, m uint32) (offset, skip uint32) {
	offset = uint32(hash64(seedOffset, key) % uint64(m))
	skip = uint32(hash64(seedSkip, key)%uint64(m-1)) + 1
	return offset, skip
}

// hash64 is fmix64(FNV-1a-64(le64(seed) || key)).
func hash64(seed uint64, key string) uint64 {
	h := fnvOffset64
	for i := 0; i < 8; i++ {
		h ^= (seed >> (8 * i)) & 0xFF
		h *= fnvPrime64
	}
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= fnvPrime64
	}
	return fmix64(h)
}

// fmix64 is the MurmurHash3 64-bit finaliser.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// IsPrime reports whether n is prime. It is exact for every uint32:
// trial division by the primes up to 61, then a deterministic Miller-Rabin
// test with bases 2, 7 and 61 (sufficient below 4,759,123,141).
func IsPrime(n uint32) bool {
	if n < 2 {
		return false
	}
	for _, p := range [...]uint32{2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61} {
		if n == p {
			return true
		}
		if n%p == 0 {
			return false
		}
	}
	if n < 67*67 { // no prime factor <= 61 and none in 62..66
		return true
	}
	nn := uint64(n)
	d := nn - 1
	s := 0
	for d&1 == 0 {
		d >>= 1
		s++
	}
	for _, a := range [...]uint64{2, 7, 61} {
		x := powMod(a, d, nn)
		if x == 1 || x == nn-1 {
			continue
		}
		composite := true
		for i := 1; i < s; i++ {
			x = x * x % nn
			if x == nn-1 {
				composite = false
				break
			}
		}
		if composite {
			return false
		}
	}
	return true
}

// powMod returns a^e mod n for n < 2^32.
func powMod(a, e, n uint64) uint64 {
	r := uint64(1)
	a %= n
	for e > 0 {
		if e&1 != 0 {
			r = r * a % n
		}
		a = a * a % n
		e >>= 1
	}
	return r
}

// Lookup returns the entry of table t for a flow hash. Only the low 32 bits
// of hash are used; they are mapped onto [0, len(t)) with Lemire's
// multiply-shift reduction,
//
//	index = (uint64(uint32(hash)) * uint64(len(t))) >> 32
//
// which needs no division. Every index receives floor or ceil of
// 2^32/len(t) hash values, a bias below len(t)/2^32 (1.5e-5 for M = 65537).
// The reduction uses the high bits of the product, so the low 32 bits of hash
// must be uniformly distributed as a whole (a Toeplitz/RSS hash or any
// well-mixed hash is; a raw port number is not). An empty table yields
// NoBackend. Lookup is inlinable and does not allocate.
func Lookup(t []uint16, hash uint64) uint16 {
	if len(t) == 0 {
		return NoBackend
	}
	return t[(uint64(uint32(hash))*uint64(len(t)))>>32]
}
