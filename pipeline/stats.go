package pipeline

import (
	"sync/atomic"
	"unsafe"
)

// Per-service and per-real-server counters. The data plane's main
// goroutine gives each service and each real server of a service a slot
// (StatSlot, carried by the snapshot); a worker counts into its private
// copy of the slot with plain adds, marks the slot touched, and publishes
// the touched slots to its Stats (shared memory, laid out by perf/stats)
// with the other counters. A slot given to another owner gets a new epoch:
// a worker adopting a snapshot zeroes its copy of every slot whose epoch
// changed before counting into it, and publishes the epoch with the
// counts, so a reader can tell counts of the current owner from leftovers.

// StatSlot is where a service's or a real server's counts go: its slot and
// the slot's epoch. The zero StatSlot is the overflow slot, shared by
// everything that has no slot of its own.
type StatSlot struct {
	Slot  uint32
	Epoch uint64
}

// ServiceStats are one worker's counters of one service slot. The layout
// is perf/stats' service counter slot (uint64 words only). Packets, Bytes
// and NewFlows include what its real servers' slots counted up to their
// last publication.
type ServiceStats struct {
	Epoch      uint64
	Packets    uint64 // forwarded to a real server
	Bytes      uint64 // of those packets, as sent (outer headers included)
	NewFlows   uint64 // connection-tracking misses that picked a real server
	ICMPErrors uint64 // FragNeeded and PacketTooBig sent back
	Drops      [NumServiceDrops]uint64
}

// BackendStats are one worker's counters of one real-server slot (perf/stats'
// real-server counter slot). ActiveConns and InactiveConns are gauges: the
// worker's connection-tracking entries of the real server by state
// (conntrack.go); the overflow slot has none.
type BackendStats struct {
	Epoch         uint64
	Packets       uint64
	Bytes         uint64
	NewFlows      uint64
	ActiveConns   uint64
	InactiveConns uint64
}

// WorkerGauges are a worker's published view of its flow table
// (perf/stats' gauge line, 64 bytes).
type WorkerGauges struct {
	ConntrackEntries  uint64 // entries in use (gauge)
	ConntrackCapacity uint64 // entries in all (gauge)
	ConntrackExpired  uint64 // entries the sweep freed after their timeout (counter)
	// Entries in use by state (gauges; they add up to ConntrackEntries):
	// half-open TCP, established TCP, closing TCP, UDP.
	ConntrackSyn         uint64
	ConntrackEstablished uint64
	ConntrackClosing     uint64
	ConntrackUDP         uint64
	_                    [1]uint64
}

// Stats is where a worker publishes its per-service and per-real-server
// counters; index 0 of each slice is the overflow slot.
type Stats struct {
	Services []ServiceStats
	Backends []BackendStats
	Gauges   *WorkerGauges
}

// NewStats makes Stats in ordinary memory with services service slots and
// backends real-server slots besides the overflow slots.
func NewStats(services, backends int) Stats {
	return Stats{
		Services: make([]ServiceStats, services+1),
		Backends: make([]BackendStats, backends+1),
		Gauges:   new(WorkerGauges),
	}
}

// The drop verdicts a packet can get once its service is known, in the
// order of ServiceStats.Drops (perf/stats.DropNames).
var ServiceDrops = [...]Verdict{DropNoBackend, DropNoMAC, DropTooBig, DropICMPRateLimit, DropNoHeadroom, DropMalformed, DropTxFull}

// NumServiceDrops is the number of drop counters of a service.
const NumServiceDrops = 7

// serviceDrop is each verdict's index in ServiceStats.Drops.
var serviceDrop = func() (m [NumVerdicts]uint8) {
	for i, v := range ServiceDrops {
		m[v] = uint8(i)
	}
	return m
}()

// workerStats is a worker's private copy of its Stats and what it
// touched since the last publication.
//
// A packet forwarded to a real server is counted in the real server's
// slot only, with one add to an accumulator of packets (high bits) and
// bytes (low bits) since the last publication; publish moves it into the
// slot's counters and folds what each real-server slot gained into its
// service's slot (packets, bytes, new flows), so the per-packet path does
// one read-modify-write, not four. The overflow real-server slot has no
// one service: what it counts is added to the service's slot directly.
type workerStats struct {
	shared   Stats
	services []privService
	backends []privBackend
	// Slots touched since the last publication: the first nsvc and nbk
	// entries (a slot is listed once: its dirty flag).
	svcList, bkList []uint32
	nsvc, nbk       int
	snap            *Snapshot // the snapshot whose slots were adopted last
}

type privService struct {
	ServiceStats
	dirty bool
}

type privBackend struct {
	BackendStats
	// acc is what was forwarded since the last publication: packets
	// times accPacket plus bytes.
	acc   uint64
	owner uint32 // the service slot its counts fold into; noOwner for the overflow slot
	dirty bool
}

const noOwner = ^uint32(0)

// The accumulator's packets are its top 24 bits, its bytes the low 40: a
// publication comes at least every publishEvery bursts of at most
// MaxBurst packets (2^14), of at most 2^16 bytes each (2^30).
const (
	accPacket = 1 << 40
	accBytes  = accPacket - 1
)

// forward counts a packet of n bytes forwarded: the per-packet path, to
// inline.
func (b *privBackend) forward(n int) (first bool) {
	old := b.acc
	b.acc = old + accPacket + uint64(n)
	return old == 0
}

// flush moves the accumulator into the counters.
func (b *privBackend) flush() {
	b.Packets += b.acc >> 40
	b.Bytes += b.acc & accBytes
	b.acc = 0
}

func newWorkerStats(shared Stats) workerStats {
	if len(shared.Services) == 0 || len(shared.Backends) == 0 || shared.Gauges == nil {
		shared = NewStats(0, 0)
	}
	ws := workerStats{
		shared:   shared,
		services: make([]privService, len(shared.Services)),
		backends: make([]privBackend, len(shared.Backends)),
		svcList:  make([]uint32, len(shared.Services)),
		bkList:   make([]uint32, len(shared.Backends)),
	}
	ws.backends[0].owner = noOwner
	return ws
}

// service is the private copy of service slot k, marked touched; a slot
// the worker has no room for is the overflow slot.
func (ws *workerStats) service(k uint32) *privService {
	st := ws.services
	if int(k) >= len(st) {
		k = 0
	}
	c := &st[k]
	if !c.dirty {
		ws.markService(k)
	}
	return c
}

func (ws *workerStats) markService(k uint32) {
	ws.services[k].dirty = true
	ws.svcList[ws.nsvc] = k
	ws.nsvc++
}

// backend is service for real-server slots.
func (ws *workerStats) backend(k uint32) *privBackend {
	st := ws.backends
	if int(k) >= len(st) {
		k = 0
	}
	c := &st[k]
	if !c.dirty {
		ws.markBackend(k)
	}
	return c
}

func (ws *workerStats) markBackend(k uint32) {
	ws.backends[k].dirty = true
	ws.bkList[ws.nbk] = k
	ws.nbk++
}

// adopt takes the slots and backend references of s: a slot whose epoch
// changed starts again from zero for its new owner, after what it counted
// for the previous one is published, and so do the connection counts of a
// reference given to another real server. It runs once per new snapshot,
// at a burst boundary.
func (ws *workerStats) adopt(s *Snapshot, ct *conntrack) {
	if ws.nsvc+ws.nbk > 0 {
		ws.publish(ct)
	}
	for _, st := range s.svcSlots {
		if k := st.Slot; int(k) < len(ws.services) && k != 0 && ws.services[k].Epoch != st.Epoch {
			ws.services[k].ServiceStats = ServiceStats{Epoch: st.Epoch}
			ws.service(k)
		}
	}
	for _, st := range s.hopSlots {
		if k := st.Slot; int(k) < len(ws.backends) && k != 0 {
			b := &ws.backends[k]
			if b.Epoch != st.Epoch {
				b.BackendStats = BackendStats{Epoch: st.Epoch}
				b.acc = 0
				ws.backend(k)
			}
			b.owner = st.service
		}
	}
	ws.snap = s
	ct.conns.adopt(s)
}

// newFlow counts a new flow of service slot ks scheduled to real-server
// slot kb.
func (ws *workerStats) newFlow(ks, kb uint32) {
	b := ws.backend(kb)
	b.NewFlows++
	if b.owner == noOwner {
		ws.service(ks).NewFlows++
	}
}

// forwarded counts the packets of a burst forwarded, each to real-server
// slot p.bstat, and returns the bytes of the packets that transmit.
func (ws *workerStats) forwarded(pkts []Packet) (txBytes uint64) {
	bks := ws.backends
	for i := range pkts {
		p := &pkts[i]
		if p.Verdict != Forward {
			if p.Verdict.Transmits() {
				txBytes += uint64(p.Len)
			}
			continue
		}
		txBytes += uint64(p.Len)
		k := p.bstat
		if int(k) >= len(bks) {
			k = 0
		}
		b := &bks[k]
		if b.forward(p.Len) && !b.dirty {
			ws.markBackend(k)
		}
		if k == 0 {
			ws.overflowForward(p.sstat, p.Len)
		}
	}
	return txBytes
}

// overflowForward counts a packet forwarded to a real server in the
// overflow slot on its service's slot ks.
func (ws *workerStats) overflowForward(ks uint32, n int) {
	c := ws.service(ks)
	c.Packets++
	c.Bytes += uint64(n)
}

// count records any verdict but Forward that schedule gave a packet of a
// service.
func (ws *workerStats) count(p *Packet, v Verdict) {
	c := ws.service(p.sstat)
	switch v {
	case FragNeeded, PacketTooBig:
		c.ICMPErrors++
	default:
		c.Drops[serviceDrop[v]]++
	}
}

// relabel moves a packet of a service counted as v (a transmit verdict)
// to the drop to.
func (ws *workerStats) relabel(p *Packet, v, to Verdict) {
	switch v {
	case Forward:
		b := ws.backend(p.bstat)
		b.flush()
		b.Packets--
		b.Bytes -= uint64(p.Len)
		if b.owner == noOwner {
			c := ws.service(p.sstat)
			c.Packets--
			c.Bytes -= uint64(p.Len)
		}
	case FragNeeded, PacketTooBig:
		ws.service(p.sstat).ICMPErrors--
	default:
		return
	}
	ws.service(p.sstat).Drops[serviceDrop[to]]++
}

// publish folds the touched real-server slots into their services, then
// copies the touched slots and the flow table's gauges to the shared
// Stats with atomic stores. A slot whose epoch changed is written with
// epoch 0 first and its new epoch last, so a reader never takes the
// previous owner's counts for the new one's.
func (ws *workerStats) publish(ct *conntrack) {
	ws.connGauges(ct)
	for _, k := range ws.bkList[:ws.nbk] {
		b := &ws.backends[k]
		b.flush()
		dst := &ws.shared.Backends[k]
		if b.owner != noOwner {
			// What the slot gained since it was published (from zero if
			// it was published for another owner).
			var packets, bytes, flows uint64
			if atomic.LoadUint64(&dst.Epoch) == b.Epoch {
				packets, bytes, flows = atomic.LoadUint64(&dst.Packets), atomic.LoadUint64(&dst.Bytes), atomic.LoadUint64(&dst.NewFlows)
			}
			c := ws.service(b.owner)
			c.Packets += b.Packets - packets
			c.Bytes += b.Bytes - bytes
			c.NewFlows += b.NewFlows - flows
		}
		publishSlot(b.words(), dst.words())
		b.dirty = false
	}
	ws.nbk = 0
	for _, k := range ws.svcList[:ws.nsvc] {
		c := &ws.services[k]
		publishSlot(c.words(), ws.shared.Services[k].words())
		c.dirty = false
	}
	ws.nsvc = 0
	ws.publishGauges(ct)
}

// connGauges moves the connection counts of the references that changed
// into their real servers' slots (none for the overflow slot: it stands
// for many real servers).
func (ws *workerStats) connGauges(ct *conntrack) {
	rc := ct.conns
	var refs []refHop
	var slots []uint32
	if ws.snap != nil {
		refs, slots = ws.snap.refs, ws.snap.refStats
	}
	for _, i := range rc.dirty[:rc.nd] {
		c := &rc.c[i]
		c.dirty = false
		if int(i) >= len(refs) || refs[i].gen() != c.gen || slots[i] == 0 || int(slots[i]) >= len(ws.backends) {
			continue
		}
		b := ws.backend(slots[i])
		b.ActiveConns, b.InactiveConns = uint64(c.active), uint64(c.inactive)
	}
	rc.nd = 0
}

func (ws *workerStats) publishGauges(ct *conntrack) {
	g := ws.shared.Gauges
	store(&g.ConntrackEntries, ct.live)
	store(&g.ConntrackCapacity, uint64(len(ct.entries)))
	store(&g.ConntrackExpired, ct.expired)
	store(&g.ConntrackSyn, ct.byState[ctSyn])
	store(&g.ConntrackEstablished, ct.byState[ctEstablished])
	store(&g.ConntrackClosing, ct.byState[ctClosing])
	store(&g.ConntrackUDP, ct.byState[ctUDP])
}

func (s *ServiceStats) words() []uint64 {
	return (*[unsafe.Sizeof(ServiceStats{}) / 8]uint64)(unsafe.Pointer(s))[:]
}

func (s *BackendStats) words() []uint64 {
	return (*[unsafe.Sizeof(BackendStats{}) / 8]uint64)(unsafe.Pointer(s))[:]
}

// publishSlot copies src (epoch first) to dst.
func publishSlot(src, dst []uint64) {
	fresh := atomic.LoadUint64(&dst[0]) != src[0]
	if fresh {
		atomic.StoreUint64(&dst[0], 0)
	}
	for i := 1; i < len(src); i++ {
		store(&dst[i], src[i])
	}
	if fresh {
		atomic.StoreUint64(&dst[0], src[0])
	}
}

// store writes v to a published word if it changed: a load is a plain
// move, a store a locked exchange on amd64.
func store(dst *uint64, v uint64) {
	if atomic.LoadUint64(dst) != v {
		atomic.StoreUint64(dst, v)
	}
}
