// Package shm is the shared-memory file through which the data plane
// (dsrlb-dataplane) and the control process (dsrlb-ctrl) talk: a versioned
// header, two single-producer/single-consumer rings of fixed-size slots, a
// counters region and a stats section (per-service and per-real-server
// counters, laid out by package perf/stats). Both processes map the same file with MAP_SHARED; the
// package is pure Go (no cgo) so that dsrlb-ctrl builds with CGO_ENABLED=0.
// With conf/wire (the messages in the rings) and perf/counters (what the
// counters mean) it is the contract between the two processes, which
// import neither each other nor anything of the other's.
//
// # Roles
//
// The data plane calls [Create]: it builds the file as a memfd (mode 0600
// exactly) sealed against shrinking and growing, so that no process, root
// included, can cut pages off under the data plane's mapping (its workers
// would fault); initialises everything, sets the ready flag last, and
// points the path at it with a symbolic link to its descriptor
// (/proc/PID/fd/N), made under a temporary name and renamed into place, so
// the path always names either nothing, the previous file, or a complete
// new one. The link dangles when the data plane exits and is removed when
// it closes the file. The control process calls [Open] on the path (which
// takes the rights to inspect the data plane's process: both run as
// root, in one PID namespace), and validates the header before touching
// anything; Open also takes a regular file, as earlier data planes made.
//
// The command ring carries messages from dsrlb-ctrl (producer) to the data
// plane (consumer); the event ring carries messages from the data plane
// (producer) to dsrlb-ctrl (consumer). Each ring has exactly one producer and
// one consumer at a time; the package does not lock, and two goroutines (or
// processes) pushing into the same ring corrupt it.
//
// # Layout (LayoutVersion 6)
//
// All integers are in the host's native byte order (little-endian on amd64
// and arm64, the only targets; both processes always run on the same host).
// Offsets are from the start of the file; every field that is written while
// the other side runs (liveness fields, ring indices) sits alone on its own
// 64-byte cache line, and every region starts on a 4096-byte page.
//
//	offset  size  field                          written by / when
//	------  ----  -----------------------------  ----------------------------
//	header page (HeaderSize = 4096 bytes)
//	     0     8  magic "DSRLBSHM"                creator, before ready
//	     8     4  layout version (uint32) = 5     creator, before ready
//	    12     4  header size (uint32) = 4096     creator, before ready
//	    16     8  file size (uint64)              creator, before ready
//	    24     8  command ring offset             creator, before ready
//	    32     8  command ring size               creator, before ready
//	    40     8  event ring offset               creator, before ready
//	    48     8  event ring size                 creator, before ready
//	    56     8  counters offset                 creator, before ready
//	    64     8  counters size                   creator, before ready
//	    72     4  slot size (uint32, both rings)  creator, before ready
//	    76     4  slot count (uint32, power of 2) creator, before ready
//	    80     4  worker count (uint32)           creator, before ready
//	    84     4  bytes per worker (uint32, x64)  creator, before ready
//	    88     4  global block bytes (uint32,x64) creator, before ready
//	    92     4  port count (uint32)             creator, before ready
//	    96     4  bytes per port (uint32, x64)    creator, before ready
//	   100     4  reserved, zero
//	   104     8  stats section offset            creator, before ready
//	   112     8  stats section size (x64)        creator, before ready
//	   120     8  reserved, zero
//	   128     8  data plane pid                  data plane (atomic)
//	   192     8  data plane boot id (random)     creator (atomic)
//	   256     8  data plane heartbeat (unix ns)  data plane (atomic)
//	   320     8  ctrl pid                        ctrl (atomic)
//	   384     8  ctrl heartbeat (unix ns)        ctrl (atomic)
//	   448     8  ready (1 = initialised)         creator, LAST (atomic store)
//	   512  3584  reserved, zero
//
//	ring (command ring at "command ring offset", event ring likewise)
//	   +0      8  head: consumer index (uint64)   consumer (atomic)
//	   +64     8  tail: producer index (uint64)   producer (atomic)
//	   +128       slot[0] .. slot[count-1], SlotSize bytes each (x64):
//	              +0  length  uint32  (payload bytes, <= SlotSize-8)
//	              +4  kind    uint32  (caller-defined message type)
//	              +8  payload [SlotSize-8]byte
//
//	counters (at "counters offset")
//	   +0                   worker 0 block   (bytes per worker)
//	   +1*bytes per worker  worker 1 block
//	   ...
//	   +W = workers*bytes per worker      port 0 block (bytes per port)
//	   +W + 1*bytes per port              port 1 block
//	   ...
//	   +W + ports*bytes per port          global block (global block bytes)
//
//	stats (at "stats section offset", a page after the counters)
//	   +0      4  section version (uint32)        then perf/stats' layout
//
//	+--------+-------------------+-------------------+----------+----------+
//	| header | command ring      | event ring        | counters | stats    |
//	| 4096 B | ctrl -> data pl.  | data pl. -> ctrl  | workers, | services,|
//	|        | (page-rounded)    | (page-rounded)    | ports,   | real     |
//	|        |                   |                   | global   | servers  |
//	+--------+-------------------+-------------------+----------+----------+
//
// # Ring protocol
//
// Indices are free-running uint64 counters; the slot of index i is
// i & (count-1), the ring is empty when head == tail and full when
// tail-head == count. The producer writes the slot with ordinary stores and
// then publishes it with an atomic store of tail; the consumer loads tail
// atomically, copies the slot out and then publishes its progress with an
// atomic store of head. A message is never split: a payload larger than
// SlotSize-8 is refused with [ErrTooLarge].
//
// # Counters
//
// The counters region holds one block per worker, one per port and one
// global block. What each block holds is package perf/counters' table (the
// data plane places fixed-layout structs of uint64 there, through
// [Region.WorkerPtr], or stores single counters through [Counter]); the
// control process reads them with atomic 64-bit loads, for example through
// [Counter]. The package only guarantees that every block starts on a 64-byte
// boundary and that block sizes are multiples of 64 bytes.
//
// # Stats
//
// The stats section holds the per-service and per-real-server counters and
// their directory. This package only places it (on a page of its own,
// [Region.Stats]); its first 4 bytes are its own version, so that a reader
// of another build ignores the section and still reads the rest of the
// file. Package perf/stats defines, writes and reads what follows.
//
// # Liveness
//
// The data plane writes its pid and a fresh random boot id when it creates
// the file, and a heartbeat (unix nanoseconds) periodically; the control
// process writes its own pid and heartbeat. A control process that sees the
// boot id change (after reopening the path) knows the data plane restarted
// and must resynchronise.
package shm
