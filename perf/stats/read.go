package stats

import (
	"bytes"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"

	"dsrlb/perf/shm"
)

// Snapshot is the section's content at one moment: the counters summed over
// the workers.
type Snapshot struct {
	// Services are the services that have a slot, in slot order, each
	// with its real servers.
	Services []Service
	// Overflow is what services and real servers without a slot of their
	// own were counted in.
	Overflow Overflow
	// UnslottedServices and UnslottedBackends are how many services and
	// real servers have no slot now (gauges): their counts go to Overflow.
	UnslottedServices, UnslottedBackends uint64
	// Workers are the worker lcores' gauges, by worker index.
	Workers []Worker
	// Torn counts directory records skipped because the data plane was
	// rewriting them for the whole read (normally 0).
	Torn int
}

// Service is one service slot in use.
type Service struct {
	Slot  uint32
	Epoch uint64 // grows when the slot is given to another service
	// Identity.
	Name   string
	VIP    netip.Addr
	Proto  uint8  // 6 (TCP) or 17 (UDP)
	Port   uint16 // 0: every port
	Method string // "l2dsr", "dscp", "ipip", "gre", "gue"

	Counters ServiceCounters
	// Backends are its real servers that have a slot, in slot order.
	Backends []Backend
}

// ServiceCounters are a service's counters, summed over the workers. All
// are counters (they only grow while the service keeps its slot).
type ServiceCounters struct {
	// Packets and Bytes forwarded to a real server (bytes of the frames
	// as sent: Ethernet header and a tunnel's outer headers included).
	Packets, Bytes uint64
	// NewFlows: connection-tracking misses that picked a real server.
	NewFlows uint64
	// ICMPErrors: packets too large for their tunnel answered with ICMP
	// fragmentation needed (IPv4) or ICMPv6 Packet Too Big.
	ICMPErrors uint64
	// Drops by reason, indexed by DropNoBackend..DropTxFull; DropNames
	// names them.
	Drops [NumDrops]uint64
}

// Backend is one real-server slot in use.
type Backend struct {
	Slot  uint32
	Epoch uint64 // grows when the slot is given to another real server
	// Identity.
	Addr   netip.Addr
	Method string // the method its packets take

	Counters BackendCounters
}

// BackendCounters are a real server's counters and connection gauges,
// summed over the workers.
type BackendCounters struct {
	// Packets and Bytes forwarded to it (as ServiceCounters'), NewFlows
	// scheduled to it (counters).
	Packets, Bytes, NewFlows uint64
	// ActiveConns and InactiveConns are its connections in the workers'
	// tables now (gauges), from what the inbound direction shows, as
	// IPVS counts them in DR mode: active once the client acknowledged
	// the handshake (and every UDP flow), inactive after a SYN only or
	// once closing (after a FIN or RST). A connection leaves them when
	// its flow leaves the table.
	ActiveConns, InactiveConns uint64
}

// Overflow holds the counts of services and real servers without a slot.
// Its real servers have no connection gauges: Backends.ActiveConns and
// InactiveConns are 0.
type Overflow struct {
	Services ServiceCounters
	Backends BackendCounters
}

// Connections sums the connection gauges of the service's real servers
// that have a slot (those in the overflow slot have none).
func (s *Service) Connections() (active, inactive uint64) {
	for i := range s.Backends {
		active += s.Backends[i].Counters.ActiveConns
		inactive += s.Backends[i].Counters.InactiveConns
	}
	return active, inactive
}

// Worker is one worker lcore's gauges and counters of its flow table.
type Worker struct {
	// ConntrackEntries: flows in the table (a gauge). A flow idle past
	// conntrack_timeout leaves it when the worker's sweep finds it: the
	// sweep goes round the table in about 10 s under load, sooner when
	// the worker is idle.
	ConntrackEntries uint64
	// ConntrackCapacity: the table's size in flows (a gauge).
	ConntrackCapacity uint64
	// ConntrackExpired: flows the sweep removed after their idle timeout
	// (a counter). Evictions of live flows are conntrack_full in
	// perf/counters.
	ConntrackExpired uint64
	// The flows in the table by state (gauges; they add up to
	// ConntrackEntries, except when the worker published between two of
	// the reader's loads): ConntrackSyn, TCP flows that sent only a SYN
	// so far (half-open); ConntrackEstablished, TCP flows past their
	// handshake; ConntrackClosing, TCP flows after a FIN or RST;
	// ConntrackUDP, UDP flows.
	ConntrackSyn, ConntrackEstablished, ConntrackClosing, ConntrackUDP uint64
}

// maxTries bounds the attempts at a directory record being rewritten.
const maxTries = 64

// Read reads the stats section of r. It returns ErrNoSection when the
// file has none, ErrNotReady before the data plane initialised it,
// ErrVersion (wrapped) when the section has another version, ErrCorrupt
// (wrapped) when its header does not hold together. Everything else in
// the file stays usable in each case.
func Read(r *shm.Region) (*Snapshot, error) { return read(r.Stats()) }

func read(sec []byte) (*Snapshot, error) {
	if len(sec) == 0 {
		return nil, ErrNoSection
	}
	w, ok := words(sec)
	if !ok {
		return nil, ErrCorrupt
	}
	l, err := parseLayout(w)
	if err != nil {
		return nil, err
	}
	rd := reader{w: w, l: &l}
	s := &Snapshot{
		UnslottedServices: w[offUnslottedSvcs/8].Load(),
		UnslottedBackends: w[offUnslottedBks/8].Load(),
		Workers:           make([]Worker, l.workers),
	}
	for i := range s.Workers {
		g := l.gauges(uint64(i)) / 8
		s.Workers[i] = Worker{
			ConntrackEntries:     w[g+gaugeCTEntries].Load(),
			ConntrackCapacity:    w[g+gaugeCTCapacity].Load(),
			ConntrackExpired:     w[g+gaugeCTExpired].Load(),
			ConntrackSyn:         w[g+gaugeCTSyn].Load(),
			ConntrackEstablished: w[g+gaugeCTEstablished].Load(),
			ConntrackClosing:     w[g+gaugeCTClosing].Load(),
			ConntrackUDP:         w[g+gaugeCTUDP].Load(),
		}
	}
	// The overflow slots' epoch is always 0.
	rd.sumService(0, 0, &s.Overflow.Services)
	rd.sumBackend(0, 0, &s.Overflow.Backends)

	// Records in use now, as capacity hints (the reads below decide).
	nsvc, nbk := rd.inUse(l.serviceDir, l.services, ServiceRecordBytes), rd.inUse(l.backendDir, l.backends, BackendRecordBytes)
	s.Services = make([]Service, 0, nsvc)
	bySlot := make([]int32, l.services) // index+1 in s.Services
	for slot := uint32(1); uint64(slot) < l.services; slot++ {
		var svc Service
		switch rd.service(slot, &svc) {
		case recordUsed:
			s.Services = append(s.Services, svc)
			bySlot[slot] = int32(len(s.Services))
		case recordTorn:
			s.Torn++
		}
	}
	// Real servers, then each service's share of one array.
	type owned struct {
		b   Backend
		svc int32 // index in s.Services
	}
	all := make([]owned, 0, nbk)
	count := make([]int32, len(s.Services))
	for slot := uint32(1); uint64(slot) < l.backends; slot++ {
		var b Backend
		var owner uint32
		var ownerEpoch uint64
		switch rd.backend(slot, &b, &owner, &ownerEpoch) {
		case recordUsed:
			// A real server whose service is not in this read (being
			// replaced) is left out with it.
			if uint64(owner) < l.services && bySlot[owner] != 0 {
				if i := bySlot[owner] - 1; s.Services[i].Epoch == ownerEpoch {
					all = append(all, owned{b, i})
					count[i]++
				}
			}
		case recordTorn:
			s.Torn++
		}
	}
	backends := make([]Backend, len(all))
	for i := range s.Services {
		if n := count[i]; n > 0 {
			s.Services[i].Backends = backends[:0:n]
			backends = backends[n:]
		}
	}
	for _, o := range all {
		svc := &s.Services[o.svc]
		svc.Backends = append(svc.Backends, o.b)
	}
	return s, nil
}

// inUse counts the records of n at off whose in-use byte is set.
func (rd *reader) inUse(off, n, size uint64) int {
	c := 0
	for i := uint64(1); i < n; i++ {
		if uint8(rd.w[(off+i*size+recInUse)/8].Load()>>(8*(recInUse%8))) == 1 {
			c++
		}
	}
	return c
}

type reader struct {
	w []atomic.Uint64
	l *layout
}

type recordState int

const (
	recordFree recordState = iota
	recordUsed
	recordTorn
)

// service reads service slot slot's record and counts into svc.
func (rd *reader) service(slot uint32, svc *Service) recordState {
	off := rd.l.serviceDir + uint64(slot)*ServiceRecordBytes
	var b [ServiceRecordBytes]byte
	return rd.record(off, b[:], func(epoch uint64) {
		*svc = Service{Slot: slot, Epoch: epoch}
		rd.sumService(slot, epoch, &svc.Counters)
	}, func() {
		svc.Name = text(b[recName : recName+min(int(b[recNameLen]), MaxNameBytes)])
		svc.VIP = getAddr(b[:])
		svc.Proto = b[recProto]
		svc.Port = ne.Uint16(b[recPort:])
		svc.Method = method(b[recMethod : recMethod+MaxMethodBytes])
	})
}

// backend reads real-server slot slot's record and counts into bk.
func (rd *reader) backend(slot uint32, bk *Backend, owner *uint32, ownerEpoch *uint64) recordState {
	off := rd.l.backendDir + uint64(slot)*BackendRecordBytes
	var b [BackendRecordBytes]byte
	return rd.record(off, b[:], func(epoch uint64) {
		*bk = Backend{Slot: slot, Epoch: epoch}
		rd.sumBackend(slot, epoch, &bk.Counters)
	}, func() {
		bk.Addr = getAddr(b[:])
		bk.Method = method(b[recMethod : recMethod+MaxMethodBytes])
		*owner = ne.Uint32(b[recService:])
		*ownerEpoch = ne.Uint64(b[recServiceEpoch:])
	})
}

// record copies the record at off into b under its sequence counter and,
// when it is in use, has count sum the workers' slots within the same
// window (so counts and identity belong together); parse then decodes b.
func (rd *reader) record(off uint64, b []byte, count func(epoch uint64), parse func()) recordState {
	w := rd.w[off/8 : off/8+uint64(len(b)/8)]
	for range maxTries {
		s1 := w[0].Load()
		if s1&1 != 0 {
			runtime.Gosched()
			continue
		}
		for i := 1; i < len(w); i++ {
			ne.PutUint64(b[8*i:], w[i].Load())
		}
		used := b[recInUse] == 1
		if used {
			count(ne.Uint64(b[recEpoch:]))
		}
		if w[0].Load() != s1 {
			continue
		}
		if !used {
			return recordFree
		}
		parse()
		return recordUsed
	}
	return recordTorn
}

// sumService adds every worker's counts of service slot slot at epoch.
func (rd *reader) sumService(slot uint32, epoch uint64, c *ServiceCounters) {
	for k := range rd.l.workers {
		v := rd.w[rd.l.serviceSlot(k, uint64(slot))/8:][:serviceSlotWords]
		if v[slotEpoch].Load() != epoch {
			continue
		}
		c.Packets += v[slotPackets].Load()
		c.Bytes += v[slotBytes].Load()
		c.NewFlows += v[slotNewFlows].Load()
		c.ICMPErrors += v[slotICMPErrors].Load()
		for d := range c.Drops {
			c.Drops[d] += v[slotDrops+d].Load()
		}
	}
}

// sumBackend adds every worker's counts and connection gauges of
// real-server slot slot at epoch.
func (rd *reader) sumBackend(slot uint32, epoch uint64, c *BackendCounters) {
	for k := range rd.l.workers {
		v := rd.w[rd.l.backendSlot(k, uint64(slot))/8:][:backendSlotWords]
		if v[slotEpoch].Load() != epoch {
			continue
		}
		c.Packets += v[slotPackets].Load()
		c.Bytes += v[slotBytes].Load()
		c.NewFlows += v[slotNewFlows].Load()
		c.ActiveConns += v[slotActiveConns].Load()
		c.InactiveConns += v[slotInactiveConns].Load()
	}
}

// methods are the names a method usually has, to read them without
// allocating.
var methods = []string{"l2dsr", "dscp", "ipip", "gre", "gue"}

// method is a zero-padded method name.
func method(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	for _, m := range methods {
		if string(b) == m {
			return m
		}
	}
	return text(b)
}

// text is a zero-padded name as a valid UTF-8 string (a label value).
func text(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
