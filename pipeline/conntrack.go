package pipeline

import (
	"sync/atomic"
	"unsafe"
)

// Connection tracking keeps each flow on the real server it started on
// while the set of real servers changes (one added, one drained with weight
// 0, a reload): Maglev alone would move about 1/N of the flows, and the
// other schedulers would move nearly every flow.
//
// Each worker owns its own table (RSS keeps a flow on one worker), so there
// are no locks. The table is set-associative: a flow's 64-bit hash picks a
// bucket of four 16-byte entries (one cache line). Entries name the real
// server by its backend reference (refs.go), so they stay valid across
// snapshots: a flow whose real server is gone from its service is
// scheduled again.
//
// The key is the 64-bit flow hash of the 5-tuple. Two flows that share it
// share an entry; with 2^64 values and a table of millions of flows that is
// negligible, and it keeps an entry to 16 bytes.
//
// # States and timeouts
//
// DSR shows the balancer only the client's half of a connection, so the
// state is what that half says, as IPVS tracks it in DR mode: a TCP flow
// whose first packet was a SYN is half-open (ctSyn) until the client's
// first ACK, then established (ctEstablished) until a FIN or RST
// (ctClosing); a SYN on a closing entry opens it again (the 5-tuple
// reused). A TCP flow first seen mid-connection (no entry, no SYN: after a
// failover, or an entry that expired) is taken as established. UDP flows
// are ctUDP. Each state has its own idle timeout (WorkerOptions), so
// half-open and closed flows leave the table long before established
// ones. Half-open and closing flows are the real server's inactive
// connections, established and UDP flows its active ones, in the
// per-reference counts the lc, wlc and twos schedulers read and the
// per-real-server gauges publish.
//
// # A full bucket
//
// A new flow takes a free or expired entry of its bucket. Else it evicts
// the least recently seen half-open or closing entry (counted as
// conntrack_full); if every entry is an established or UDP flow, a flow
// that is itself past its handshake evicts the least recently seen of
// them, but a SYN evicts nothing: it is forwarded untracked
// (conntrack_untracked) and tracked from its next packet, which picks the
// same real server by Maglev. So a SYN flood, however fast, only cycles
// through the half-open entries and never pushes out a connection that
// completed its handshake: the defence of IPVS's secure_tcp (short
// timeouts for half-open entries) and of Katran's LRU bypass for new
// flows, without a mode switch. Memory stays what the configuration says.
//
// # Expiry
//
// Expiry is lazy on the lookup path (an entry older than its state's
// timeout is dead for find and free for insert), and a sweep frees expired
// entries for good, round the table: a bucket per burst until this
// second's budget (the table in sweepRound seconds) is spent, and more
// buckets per idle round of the I/O loop. live counts the entries in use
// (key not 0), byState the same by state: insert into a free entry adds
// one, the sweep freeing an expired entry takes one off, reusing an
// expired or evicting a live entry moves one between states. So they are
// exact for what the table holds, and an idle flow leaves them (and its
// real server's connection counts) at most one sweep round after its
// timeout. The sweep also keeps a stamp from outliving 2^16 seconds,
// after which modulo arithmetic would make it look fresh.
type conntrack struct {
	entries  []ctEntry
	mask     uint64 // buckets - 1
	timeouts [numCTStates]uint16
	live     uint64 // entries in use
	byState  [numCTStates]uint64
	expired  uint64 // entries the sweep freed
	cursor   uint64 // next bucket of the sweep
	// The bursts' sweep budget: buckets a second, and what is left of
	// it in second budgetSec.
	perSec, left uint32
	budgetSec    uint16

	// conns counts each backend reference's connections in this table.
	conns *refConns
}

// Connection-tracking states.
const (
	ctSyn         = iota // TCP: SYN seen, no ACK yet (inactive)
	ctEstablished        // TCP: past the handshake (active)
	ctClosing            // TCP: FIN or RST seen (inactive)
	ctUDP                // UDP (active)
	numCTStates
)

// ctActive tells the states counted as active connections.
var ctActive = [numCTStates]bool{ctEstablished: true, ctUDP: true}

// sweepRound is the time the bursts' sweep takes round the table, given a
// burst for each bucket; minSweepPerSec keeps small tables swept often.
const (
	sweepRound     = 10
	minSweepPerSec = 64
)

type ctEntry struct {
	key    uint64
	ref    uint16 // backend reference: index
	gen    uint8  // and generation
	state  uint8
	stamp  uint16 // last packet, Clock seconds modulo 2^16
	expire uint16 // stamp + its state's timeout: dead once the clock is past it
}

const ctWays = 4

// DefaultConntrackEntries is a worker's table size unless configured.
const DefaultConntrackEntries = 1 << 20

// Default idle timeouts in seconds, by state: established TCP (and UDP),
// half-open, closing.
const (
	DefaultConntrackTimeout    = 300
	DefaultConntrackSynTimeout = 30
	DefaultConntrackFinTimeout = 60
)

// MaxConntrackTimeout bounds the timeouts: stamps are 16-bit seconds and
// compared modulo 2^16.
const MaxConntrackTimeout = 1 << 15

// CTTimeouts are the idle timeouts of the states, in seconds (0: the
// default).
type CTTimeouts struct {
	Established, Syn, Closing, UDP uint16
}

func (t CTTimeouts) table() (out [numCTStates]uint16) {
	def := func(v, d uint16) uint16 {
		if v == 0 {
			v = d
		}
		return min(v, MaxConntrackTimeout)
	}
	out[ctEstablished] = def(t.Established, DefaultConntrackTimeout)
	out[ctSyn] = def(t.Syn, DefaultConntrackSynTimeout)
	out[ctClosing] = def(t.Closing, DefaultConntrackFinTimeout)
	out[ctUDP] = def(t.UDP, out[ctEstablished])
	return out
}

func newConntrack(entries int, timeouts CTTimeouts) *conntrack {
	buckets := 1
	for buckets*ctWays < entries {
		buckets <<= 1
	}
	t := &conntrack{mask: uint64(buckets - 1), timeouts: timeouts.table(),
		perSec: uint32(max(buckets/sweepRound+1, minSweepPerSec)), conns: newRefConns()}
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

// dead reports whether e (in use) is older than its state's timeout. The
// difference is signed: an entry is freed by the sweep long before its
// expiry is 2^15 seconds past.
func (t *conntrack) dead(e *ctEntry, now uint16) bool {
	return int16(now-e.expire) > 0
}

// touch stamps e with now, its last packet.
func (t *conntrack) touch(e *ctEntry, now uint16) {
	e.stamp = now
	e.expire = now + t.timeouts[e.state&(numCTStates-1)]
}

// find returns the live entry of key, or nil.
func (t *conntrack) find(key uint64, now uint16) *ctEntry {
	bk := t.bucket(key)
	for i := range bk {
		e := &bk[i]
		if e.key == key {
			if t.dead(e, now) {
				return nil
			}
			return e
		}
	}
	return nil
}

// Outcomes of insert.
const (
	ctInserted           = iota
	ctEvicted            // a live half-open or closing flow was evicted
	ctEvictedEstablished // a live established or UDP flow was evicted
	ctRefused            // the bucket holds established flows only and st is ctSyn
)

// insert records key -> r in state st.
func (t *conntrack) insert(key uint64, r ref, st uint8, now uint16) int {
	bk := t.bucket(key)
	victim, oldest, oldestAny := -1, -1, 0
	for i := range bk {
		e := &bk[i]
		if e.key == key || e.key == 0 || t.dead(e, now) {
			victim = i
			break
		}
		if age := now - e.stamp; !ctActive[e.state&(numCTStates-1)] && (oldest < 0 || age > now-bk[oldest].stamp) {
			oldest = i
		}
		if now-e.stamp > now-bk[oldestAny].stamp {
			oldestAny = i
		}
	}
	out := ctInserted
	if victim < 0 {
		switch {
		case oldest >= 0:
			victim, out = oldest, ctEvicted
		case st == ctSyn:
			return ctRefused
		default:
			victim, out = oldestAny, ctEvictedEstablished
		}
	}
	e := &bk[victim]
	if e.key == 0 {
		t.live++
	} else {
		t.release(e)
	}
	*e = ctEntry{key: key, ref: r.idx, gen: r.gen, state: st, stamp: now, expire: now + t.timeouts[st&(numCTStates-1)]}
	t.byState[st]++
	t.conns.add(r, st, 1)
	return out
}

// release takes e's flow off the counts of its state and reference (the
// entry is being reused, evicted or freed).
func (t *conntrack) release(e *ctEntry) {
	t.byState[e.state]--
	t.conns.add(ref{e.ref, e.gen}, e.state, -1)
}

// setState moves e to state st.
func (t *conntrack) setState(e *ctEntry, st uint8) {
	if e.state == st {
		return
	}
	r := ref{e.ref, e.gen}
	t.byState[e.state]--
	t.conns.add(r, e.state, -1)
	e.state = st
	e.expire = e.stamp + t.timeouts[st&(numCTStates-1)]
	t.byState[st]++
	t.conns.add(r, st, 1)
}

// TCP flags (RFC 9293), as the worker reads them from the header.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// stateOf is the state of a flow first seen with TCP flags fl (udp: a
// UDP flow).
func stateOf(fl uint8, udp bool) uint8 {
	switch {
	case udp:
		return ctUDP
	case fl&(tcpFIN|tcpRST) != 0:
		return ctClosing
	case fl&(tcpSYN|tcpACK) == tcpSYN:
		return ctSyn
	}
	return ctEstablished
}

// advance moves a TCP flow's entry on for a packet with flags fl.
func (t *conntrack) advance(e *ctEntry, fl uint8) {
	switch st := e.state; {
	case fl&(tcpFIN|tcpRST) != 0:
		if st != ctClosing {
			t.setState(e, ctClosing)
		}
	case st == ctSyn && fl&(tcpSYN|tcpACK) == tcpACK:
		t.setState(e, ctEstablished)
	case st == ctClosing && fl&(tcpSYN|tcpACK) == tcpSYN:
		t.setState(e, ctSyn)
	}
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
			if e := &bk[i]; e.key != 0 && t.dead(e, now) {
				t.release(e)
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

// refConns are a worker's connection counts per backend reference (and
// the round-robin schedulers' state), with the generation they count for:
// a reference given to another real server starts again from zero, and
// the entries of the previous owner no longer count. References whose
// counts changed are listed for publication.
type refConns struct {
	c     []connCount
	dirty []uint16
	nd    int
}

type connCount struct {
	active, inactive uint32
	cw               int64 // smooth weighted round robin's current weight (sched_rr.go)
	gen              uint8
	dirty            bool
}

func newRefConns() *refConns {
	return &refConns{c: make([]connCount, MaxRefs), dirty: make([]uint16, MaxRefs)}
}

// add adds n to r's count of state st, if r is of its index's generation.
func (rc *refConns) add(r ref, st uint8, n int32) {
	c := &rc.c[r.idx]
	if c.gen != r.gen {
		return
	}
	if ctActive[st&(numCTStates-1)] {
		c.active += uint32(n)
	} else {
		c.inactive += uint32(n)
	}
	rc.mark(r.idx)
}

func (rc *refConns) mark(i uint16) {
	if c := &rc.c[i]; !c.dirty {
		c.dirty = true
		rc.dirty[rc.nd] = i
		rc.nd++
	}
}

// adopt takes the generations of s's references: an index given to
// another real server starts from zero. Every reference in use is marked,
// so its gauges are published to its (maybe new) counter slot.
func (rc *refConns) adopt(s *Snapshot) {
	for i, h := range s.refs {
		if h.gen() == 0 {
			continue
		}
		if c := &rc.c[i]; c.gen != h.gen() {
			*c = connCount{gen: h.gen(), dirty: c.dirty}
		}
		rc.mark(uint16(i))
	}
}

// overhead is IPVS's load of a real server: active connections weigh 256
// times an inactive one (half-open or closing).
func (rc *refConns) overhead(r ref) uint64 {
	c := &rc.c[r.idx]
	if c.gen != r.gen {
		return 0
	}
	return uint64(c.active)<<8 + uint64(c.inactive)
}

// Clock is the coarse time workers stamp flows with: seconds, advanced by
// the main goroutine, read by each worker once per burst.
type Clock struct{ sec atomic.Uint32 }

// Set sets the clock to sec.
func (c *Clock) Set(sec uint32) { c.sec.Store(sec) }

// Now reads the clock.
func (c *Clock) Now() uint32 { return c.sec.Load() }
