package proto

// Counter layout in shared memory. Each worker's block is a sequence of
// little-endian uint64 counters in this order; the data plane writes them
// with atomic stores, the control process reads them with atomic loads.
// Changing the list changes the layout: bump shm.LayoutVersion.
var WorkerCounters = []string{
	"rx_packets", "rx_bytes", "tx_bytes",
	// one per pipeline verdict, in verdict order
	"forward", "arp_reply", "ndp_reply", "echo_reply", "frag_needed", "packet_too_big",
	"to_kernel", "arp_learned", "ndp_learned",
	"malformed", "bad_checksum", "unsupported_l2", "fragment", "ipv6_ext_unknown", "not_vip",
	"no_service", "no_backend", "no_mac", "own_address", "icmp_not_echo", "arp_ignored",
	"ndp_ignored", "tx_full", "kernel_full",
	"too_big", "icmp_rate_limit", "no_headroom",
	"learn_overflow",
	"conntrack_hits", "conntrack_misses", "conntrack_full",
}

// WorkerBytes is the size of one worker's counter block.
var WorkerBytes = 8 * len(WorkerCounters)

// Global counters written by the data plane's main goroutine.
var GlobalCounters = []string{
	"snapshot_gen", "commits", "commit_errors", "injected", "inject_failed",
	"from_kernel", "from_kernel_dropped", "to_kernel_sent", "to_kernel_dropped",
	"events_dropped",
}

// GlobalBytes is the size of the global counter block.
var GlobalBytes = 8 * len(GlobalCounters)
