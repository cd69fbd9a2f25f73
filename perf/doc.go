// Package perf measures dsrlb: it writes benchmark captures (N TCP flows
// to a VIP, 64-byte or mixed-size frames, IPv6 and noise variants) and
// runs the throughput benchmark that compares dsrlb-dataplane with
// dpdk-testpmd on the same core, virtual devices and capture.
//
// Its subpackages hold what the two processes share about measuring: shm,
// the shared-memory file with its rings and counter blocks, and counters,
// the table of every counter in it.
package perf
