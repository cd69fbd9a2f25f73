package pipeline

import "encoding/binary"

// table4 is an open-addressing hash table from a 64-bit key to a 32-bit
// value, built once on the slow path and read by the workers. Key 0 marks an
// empty slot; no real key is 0 because a VIP is never 0.0.0.0. Linear
// probing in a power-of-two array at most half full keeps a lookup to one
// or two cache lines.
type table4 struct {
	keys  []uint64
	vals  []uint32
	mask  uint64
	shift uint8
}

func newTable4(n int) table4 {
	size, bits := tableSize(n)
	return table4{keys: make([]uint64, size), vals: make([]uint32, size), mask: uint64(size - 1), shift: 64 - bits}
}

// tableSize is the slot count for n keys (a power of two, at least 8, at
// most half full) and its log2.
func tableSize(n int) (size int, bits uint8) {
	size, bits = 8, 3
	for size < 2*n {
		size <<= 1
		bits++
	}
	return size, bits
}

// slot is Fibonacci hashing: one multiply, the top bits index the table.
func (t *table4) slot(k uint64) uint64 { return (k * 0x9e3779b97f4a7c15) >> t.shift }

// insert adds or replaces key k.
func (t *table4) insert(k uint64, v uint32) {
	for i := t.slot(k); ; i = (i + 1) & t.mask {
		if t.keys[i] == 0 || t.keys[i] == k {
			t.keys[i] = k
			t.vals[i] = v
			return
		}
	}
}

// lookup returns the value of k.
func (t *table4) lookup(k uint64) (uint32, bool) {
	keys := t.keys
	for i := t.slot(k); ; i = (i + 1) & t.mask {
		kk := keys[i&uint64(len(keys)-1)]
		if kk == k {
			return t.vals[i&uint64(len(keys)-1)], true
		}
		if kk == 0 {
			return 0, false
		}
	}
}

// Classification keys: the VIP in the top 32 bits, then protocol and port.
// A key with protocol 0 marks the VIP itself (for ARP and ICMP).
func serviceKey4(vip uint32, proto uint8, port uint16) uint64 {
	return uint64(vip)<<24 | uint64(proto)<<16 | uint64(port)
}

func vipKey4(vip uint32) uint64 { return uint64(vip) << 24 }

// Keys of IPv6 services: the VIP's number in table6 (from vip6), then
// protocol and port, with the top bit set so they never meet an IPv4 key
// (those stay below 2^56).
func serviceKey6(vip uint32, proto uint8, port uint16) uint64 {
	return 1<<63 | uint64(vip)<<24 | uint64(proto)<<16 | uint64(port)
}

// table6 is table4 for 128-bit keys (IPv6 addresses as high and low
// halves). The key :: marks an empty slot; it is never a VIP or neighbour.
type table6 struct {
	hi, lo []uint64
	vals   []uint32
	mask   uint64
	shift  uint8
}

func newTable6(n int) table6 {
	size, bits := tableSize(n)
	return table6{hi: make([]uint64, size), lo: make([]uint64, size), vals: make([]uint32, size), mask: uint64(size - 1), shift: 64 - bits}
}

func (t *table6) slot(hi, lo uint64) uint64 { return ((hi*mulB ^ lo) * 0x9e3779b97f4a7c15) >> t.shift }

func (t *table6) insert(hi, lo uint64, v uint32) {
	for i := t.slot(hi, lo); ; i = (i + 1) & t.mask {
		if (t.hi[i] == 0 && t.lo[i] == 0) || (t.hi[i] == hi && t.lo[i] == lo) {
			t.hi[i], t.lo[i], t.vals[i] = hi, lo, v
			return
		}
	}
}

func (t *table6) lookup(hi, lo uint64) (uint32, bool) {
	his, los := t.hi, t.lo
	if len(his) == 0 {
		return 0, false
	}
	m := uint64(len(his) - 1)
	for i := t.slot(hi, lo); ; i = (i + 1) & t.mask {
		h, l := his[i&m], los[i&m]
		if h == hi && l == lo {
			return t.vals[i&m], true
		}
		if h == 0 && l == 0 {
			return 0, false
		}
	}
}

// split6 returns an IPv6 address's high and low 64 bits.
func split6(a [16]byte) (hi, lo uint64) {
	return binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])
}
