// Package pipeline is dsrlb's packet path: the stages a worker lcore runs on
// each received burst (parse, classify, schedule, rewrite, answer ARP and
// ICMP echo), the immutable compiled Snapshot they read, and the slow-path
// pieces that build snapshots and resolve real servers' MAC addresses.
//
// The package is pure Go and knows nothing of DPDK: a burst is an array of
// Packet views over packet buffers, so every stage is tested on packets
// built in memory. Per packet it allocates nothing, takes no lock, makes no
// interface call and no syscall (see the AllocsPerRun tests).
package pipeline
