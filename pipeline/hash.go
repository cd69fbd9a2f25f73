package pipeline

// Flow hashes must be identical on every balancer that shares a
// configuration, so that after a VRRP failover the standby sends each
// established flow to the same real server. They therefore use fixed
// constants, never a per-process random seed.
const (
	flowSeed = 0x6a09e667f3bcc908 // sqrt(2) fraction bits
	mulA     = 0x9e3779b97f4a7c15 // golden ratio
	mulB     = 0xc2b2ae3d27d4eb4f
)

// mix64 is the MurmurHash3 64-bit finaliser: full avalanche in a few
// multiplies.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// FlowHash4 hashes an IPv4 5-tuple.
func FlowHash4(src, dst uint32, sport, dport uint16, proto uint8) uint64 {
	a := uint64(src)<<32 | uint64(dst)
	b := uint64(sport)<<24 | uint64(dport)<<8 | uint64(proto)
	return mix64(a*mulA ^ b*mulB ^ flowSeed)
}

// SourceHash4 hashes only the client address (source-IP persistence).
func SourceHash4(src uint32) uint64 {
	return mix64(uint64(src)*mulA ^ flowSeed)
}

// FlowHash6 hashes an IPv6 5-tuple; each address is given as its high and
// low 64 bits (big-endian).
func FlowHash6(srcHi, srcLo, dstHi, dstLo uint64, sport, dport uint16, proto uint8) uint64 {
	b := uint64(sport)<<24 | uint64(dport)<<8 | uint64(proto)
	x := mix64(srcHi*mulA ^ srcLo ^ flowSeed)
	return mix64(x ^ dstHi*mulB ^ dstLo ^ b*mulA)
}

// SourceHash6 hashes only the IPv6 client address (source-IP persistence).
func SourceHash6(srcHi, srcLo uint64) uint64 {
	return mix64(srcHi*mulA ^ srcLo*mulB ^ flowSeed)
}
