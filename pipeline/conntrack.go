package pipeline

import (
	"sync/atomic"
	"unsafe"
)

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
//
// Expiry is lazy on the lookup path (an entry older than the timeout is
// dead for find and free for insert), and a sweep frees expired entries
// for good, round the table: a bucket per burst until this second's
// budget (the table in sweepRound seconds) is spent, and more buckets per
// idle round of the I/O loop. live counts the entries in use (key not 0):
// insert into a free entry adds one, the sweep freeing an expired entry
// takes one off, reusing an expired or evicting a live entry changes
// nothing. So live is exact for what the table holds, and an idle flow
// leaves it at most one sweep round after its timeout. The sweep also
// keeps a stamp from outliving 2^16 seconds, after which modulo
// arithmetic would make it look fresh.
type conntrack struct {
	entries []ctEntry
	mask    uint64 // buckets - 1
	timeout uint16 // idle seconds before an entry is free again
	live    uint64 // entries in use
	expired uint64 // entries the sweep freed
	cursor  uint64 // next bucket of the sweep
	// The bursts' sweep budget: buckets a second, and what is left of
	// it in second budgetSec.
	perSec, left uint32
	budgetSec    uint16
}

// sweepRound is the time the bursts' sweep takes round the table, given a
// burst for each bucket; minSweepPerSec keeps small tables swept often.
const (
	sweepRound     = 10
	minSweepPerSec = 64
)

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
	t := &conntrack{mask: uint64(buckets - 1), timeout: timeout,
		perSec: uint32(max(buckets/sweepRound+1, minSweepPerSec))}
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
	if bk[victim].key == 0 {
		t.live++
	}
	bk[victim] = ctEntry{key: key, addr: addr, stamp: now, hop: hop}
	return evicted
}

// sweepBurst is a burst's share of the sweep: a bucket, while this
// second's budget lasts.
func (t *conntrack) sweepBurst(now uint16) {
	if t.budgetSec != now {
		t.budgetSec, t.left = now, t.perSec
	}
	if t.left != 0 {
		t.left--
		t.sweep(now, 1)
	}
}

// sweep frees the expired entries of the next n buckets and reports
// whether it freed any.
func (t *conntrack) sweep(now uint16, n int) bool {
	freed := uint64(0)
	b := t.cursor
	for range n {
		bk := t.entries[b*ctWays : b*ctWays+ctWays : b*ctWays+ctWays]
		for i := range bk {
			if e := &bk[i]; e.key != 0 && now-e.stamp > t.timeout {
				e.key = 0
				freed++
			}
		}
		b = (b + 1) & t.mask
	}
	t.cursor = b
	// The next sweep's bucket is a cache miss: start it now.
	prefetch(unsafe.Pointer(&t.entries[b*ctWays]))
	t.live -= freed
	t.expired += freed
	return freed != 0
}

// Clock is the coarse time workers stamp flows with: seconds, advanced by
// the main goroutine, read by each worker once per burst.
type Clock struct{ sec atomic.Uint32 }

// Set sets the clock to sec.
func (c *Clock) Set(sec uint32) { c.sec.Store(sec) }

// Now reads the clock.
func (c *Clock) Now() uint32 { return c.sec.Load() }
