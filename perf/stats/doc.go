// Package stats is the shared-memory section of the per-service and
// per-real-server counters: its layout, the data plane's writer of the
// directory, and [Read], which dsrlb-ctrl calls at every scrape. It imports
// only perf/shm and the standard library, so dsrlb-ctrl (CGO_ENABLED=0)
// uses it.
//
// # Slots, epochs, workers
//
// The data plane's main goroutine gives every service a service slot and
// every real server of a service a real-server slot. A slot stays with its
// key (the service's name; the service's name and the real server's
// address) across transactions and snapshot rebuilds; a freed slot may be
// given to another key, and then its epoch grows. Slot 0 of each kind is the
// overflow slot: services and real servers that found no free slot are
// still forwarded, and counted there (epoch 0, always valid).
//
// Each worker lcore has its own block with a counter slot per service slot
// and per real-server slot. Only that worker writes it: it counts into a
// private copy with plain adds and publishes the slots it touched every few
// bursts with atomic stores, the slot's epoch with them (0 while it
// rewrites a slot for a new epoch). A reader sums the workers and counts a
// worker's slot only when its epoch is the directory's: a worker that has
// not yet seen the slot's new owner contributes nothing to it.
//
// The directory (written only by the main goroutine) holds each slot's
// epoch and identity, each record under a sequence counter: odd while the
// record is rewritten. A reader reads a record and the workers' counts of
// its slot between two loads of the counter and retries while they differ
// or are odd; a record that stays torn is skipped, never returned.
//
// # Connection gauges
//
// Besides its counters, a worker's real-server slot holds two gauges: the
// worker's connections to the real server that are active (the client
// acknowledged the handshake; every UDP flow) and inactive (a SYN only,
// or closing after a FIN or RST), as IPVS counts ActiveConn and InActConn
// in DR mode from the inbound direction alone. They count, like the
// counters, only while the worker's slot has the directory's epoch, and
// a reader sums them over the workers the same way. The overflow slot
// has no gauges (zero): its real servers' connections are not counted.
// The worker's gauge line holds its flow table's entries, also by state
// (syn, established, closing, udp: they add up to the entries).
//
// # Layout (section version 2)
//
// All words are native-endian uint64 at 8-byte aligned offsets from the
// start of the section (a page of the shared-memory file), read and
// written with atomic 64-bit operations, except the version, a uint32.
//
//	offset  size  field                          written by / when
//	------  ----  -----------------------------  ----------------------------
//	header (HeaderBytes = 128)
//	     0     4  section version (uint32) = 2   data plane, LAST at Init
//	     4     4  reserved, zero
//	     8     8  workers                        data plane, at Init
//	    16     8  service slots (S, overflow incl.)  at Init
//	    24     8  real-server slots (B, overflow incl.)  at Init
//	    32     8  bytes per worker block         at Init
//	    40     8  service directory offset       at Init
//	    48     8  real-server directory offset   at Init
//	    56     8  first worker block offset      at Init
//	    64     8  services without a slot        main goroutine (gauge)
//	    72     8  real servers without a slot    main goroutine (gauge)
//	    80    48  reserved, zero
//
//	service directory: S records of ServiceRecordBytes = 128
//	    +0     8  sequence (odd while written)
//	    +8     8  epoch (0: never used)
//	   +16     1  in use (1) or free (0)
//	   +17     1  VIP family: 4 or 6
//	   +18     1  IP protocol (6 TCP, 17 UDP)
//	   +19     1  length of the name
//	   +20     2  port (0: every port)
//	   +24     8  forwarding method name, zero-padded ("l2dsr", "dscp", ...)
//	   +32    16  VIP (IPv4 in the first 4 bytes)
//	   +48    64  name, zero-padded (longer names are cut)
//	  +112    16  reserved
//
//	real-server directory: B records of BackendRecordBytes = 64
//	    +0     8  sequence (odd while written)
//	    +8     8  epoch (0: never used)
//	   +16     1  in use (1) or free (0)
//	   +17     1  address family: 4 or 6
//	   +20     4  its service's slot (uint32)
//	   +24     8  forwarding method name, zero-padded (the real server's own)
//	   +32    16  address (IPv4 in the first 4 bytes)
//	   +48     8  its service's epoch
//	   +56     8  reserved
//
//	worker block w (at first worker block offset + w * bytes per worker)
//	    +0    64  gauges: conntrack_entries, conntrack_capacity,
//	              conntrack_expired (a counter), conntrack_syn,
//	              conntrack_established, conntrack_closing,
//	              conntrack_udp, 1 reserved
//	   +64        S service counter slots of ServiceSlotBytes = 96:
//	              epoch, packets, bytes, new_flows, icmp_errors,
//	              then one drop counter per DropNames entry
//	              B real-server counter slots of BackendSlotBytes = 48:
//	              epoch, packets, bytes, new_flows,
//	              active_conns, inactive_conns (gauges)
//	              (the block is rounded up to 64 bytes)
//
// The directory starts right after the header, the worker blocks after the
// directory (each on a 64-byte boundary); the offsets are stored anyway and
// a reader refuses a header whose offsets or sizes differ from what this
// layout computes for its slot counts.
//
// Version 1 had real-server slots of 4 words (no connection gauges) and
// 3 gauges per worker. A reader refuses a section of any version but its
// own (ErrVersion), so a data plane and a dsrlb-ctrl of different
// versions keep everything else of the file readable.
package stats
