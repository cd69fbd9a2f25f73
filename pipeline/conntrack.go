package pipeline

import "sync/atomic"

// Connection tracking keeps each flow on the real server it started on
// while the set of real servers changes (one added, one drained with weight
// 0, a reload): Maglev alone would move about 1/N of the flows.
//
// Each worker owns its own table (RSS keeps a flow on one worker), so there
// are no locks. The table is set-associative: a flow's 64-bit hash picks a
// bucket of four 16-byte entries (one cache line); a new flow takes a free
// or expired entry of its bucket, else the least recently seen one (counted
// as conntrack_full). Entries remember the real server's address, so they
// stay valid across snapshots: a flow whose real server is gone from its
// service is scheduled again. They also cache the server's index in the
// service, checked against the address, which spares a table lookup per
// packet while the snapshot stays the same.
//
// The key is the 64-bit flow hash of the 5-tuple. Two flows that share it
// share an entry; with 2^64 values and a table of millions of flows that is
// negligible, and it keeps an entry to 16 bytes.
type conntrack struct {
	entries []ctEntry
	mask    uint64 // buckets - 1
	timeout uint16 // idle seconds before an entry is free again
}

type ctEntry struct {
	key   uint64
	addr  uint32 // real server IPv4
	stamp uint16 // last packet, Clock seconds modulo 2^16
	hop   uint16 // the real server's index in its service's hops (a hint)
}

const ctWays = 4

// DefaultConntrackEntries is a worker's table size unless configured.
const DefaultConntrackEntries = 1 << 20

// DefaultConntrackTimeout is the idle time after which a flow is forgotten.
const DefaultConntrackTimeout = 300

// MaxConntrackTimeout bounds the timeout: stamps are 16-bit seconds and
// compared modulo 2^16.
const MaxConntrackTimeout = 1 << 15

func newConntrack(entries int, timeout uint16) *conntrack {
	buckets := 1
	for buckets*ctWays < entries {
		buckets <<= 1
	}
	t := &conntrack{mask: uint64(buckets - 1), timeout: timeout}
	var ok bool
	if t.entries, ok = hugeSlice[ctEntry](buckets*ctWays, t); !ok {
		t.entries = make([]ctEntry, buckets*ctWays)
	}
	return t
}

func ctKey(h uint64) uint64 {
	if h == 0 {
		return 1 // 0 marks a free entry
	}
	return h
}

// bucket returns the four entries of key's bucket.
func (t *conntrack) bucket(key uint64) []ctEntry {
	b := (key >> 20) & t.mask * ctWays
	return t.entries[b : b+ctWays : b+ctWays]
}

// find returns the live entry of key, or nil.
func (t *conntrack) find(key uint64, now uint16) *ctEntry {
	bk := t.bucket(key)
	for i := range bk {
		e := &bk[i]
		if e.key == key {
			if now-e.stamp > t.timeout {
				return nil
			}
			return e
		}
	}
	return nil
}

// insert records key -> addr. It reports whether a live flow was evicted.
func (t *conntrack) insert(key uint64, addr uint32, hop, now uint16) (evicted bool) {
	bk := t.bucket(key)
	victim, oldest := -1, 0
	for i := range bk {
		e := &bk[i]
		if e.key == key || e.key == 0 || now-e.stamp > t.timeout {
			victim = i
			break
		}
		if now-e.stamp > now-bk[oldest].stamp {
			oldest = i
		}
	}
	if victim < 0 {
		victim, evicted = oldest, true
	}
	bk[victim] = ctEntry{key: key, addr: addr, stamp: now, hop: hop}
	return evicted
}

// Clock is the coarse time workers stamp flows with: seconds, advanced by
// the main goroutine, read by each worker once per burst.
type Clock struct{ sec atomic.Uint32 }

// Set sets the clock to sec.
func (c *Clock) Set(sec uint32) { c.sec.Store(sec) }

// Now reads the clock.
func (c *Clock) Now() uint32 { return c.sec.Load() }
