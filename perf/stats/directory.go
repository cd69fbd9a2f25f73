package stats

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync/atomic"

	"dsrlb/perf/shm"
)

// ServiceID is a service's identity in the directory.
type ServiceID struct {
	Name   string     // at most MaxNameBytes are kept
	VIP    netip.Addr // IPv4 or IPv6
	Proto  uint8      // 6 (TCP) or 17 (UDP)
	Port   uint16     // 0: every port
	Method string     // forwarding method, e.g. "l2dsr"; at most MaxMethodBytes are kept
}

// BackendID is a real server's identity in the directory.
type BackendID struct {
	Service      uint32 // its service's slot
	ServiceEpoch uint64 // and that slot's epoch
	Addr         netip.Addr
	Method       string // the method packets to it take (its own or its service's)
}

// Record fields (see the package documentation).
const (
	recSeq    = 0
	recEpoch  = 8
	recInUse  = 16
	recFamily = 17
	// service records
	recProto   = 18
	recNameLen = 19
	recPort    = 20
	recMethod  = 24
	recAddr    = 32
	recName    = 48
	// real-server records
	recService      = 20
	recServiceEpoch = 48
)

var ne = binary.NativeEndian

// Writer is the data plane's side of the section: it lays it out and
// writes the directory. One goroutine (the main one) uses it; the workers
// write their own blocks, which Worker places.
type Writer struct {
	w []atomic.Uint64
	l layout
}

// Init lays out r's stats section for workers worker blocks, services
// service slots and backends real-server slots (each kind with one
// overflow slot more) and returns its writer. The section must be
// Bytes(workers, services, backends) long at least, and fresh (zero).
func Init(r *shm.Region, workers, services, backends int) (*Writer, error) {
	return initSection(r.Stats(), workers, services, backends)
}

func initSection(sec []byte, workers, services, backends int) (*Writer, error) {
	if workers < 0 || workers > MaxWorkers || services < 0 || services+1 > MaxServiceSlots || backends < 0 || backends+1 > MaxBackendSlots {
		return nil, fmt.Errorf("stats: %d workers, %d service slots, %d real-server slots out of range", workers, services, backends)
	}
	l := layoutFor(uint64(workers), uint64(services)+1, uint64(backends)+1)
	if len(sec) == 0 {
		return nil, ErrNoSection
	}
	w, ok := words(sec)
	if !ok || uint64(len(sec)) < l.size {
		return nil, fmt.Errorf("stats: the section has %d bytes, %d workers, %d and %d slots need %d", len(sec), workers, services, backends, l.size)
	}
	w[offWorkers/8].Store(l.workers)
	w[offServiceSlots/8].Store(l.services)
	w[offBackendSlots/8].Store(l.backends)
	w[offWorkerBytes/8].Store(l.workerBytes)
	w[offServiceDir/8].Store(l.serviceDir)
	w[offBackendDir/8].Store(l.backendDir)
	w[offWorkerBlocks/8].Store(l.workerBlocks)
	version(w).Store(Version) // last: a reader sees a complete header
	return &Writer{w: w, l: l}, nil
}

// ServiceSlots is the number of service slots besides the overflow slot
// 0: slots 1..ServiceSlots() are given to services.
func (w *Writer) ServiceSlots() int { return int(w.l.services) - 1 }

// BackendSlots is the number of real-server slots besides the overflow
// slot 0.
func (w *Writer) BackendSlots() int { return int(w.l.backends) - 1 }

// SetService writes the directory record of service slot slot (1..
// ServiceSlots()): in use by id, at epoch.
func (w *Writer) SetService(slot uint32, epoch uint64, id ServiceID) {
	var b [ServiceRecordBytes]byte
	b[recInUse] = 1
	putAddr(b[:], id.VIP)
	b[recProto] = id.Proto
	ne.PutUint16(b[recPort:], id.Port)
	copy(b[recMethod:recMethod+MaxMethodBytes], id.Method)
	b[recNameLen] = byte(copy(b[recName:recName+MaxNameBytes], id.Name))
	w.write(w.l.serviceDir+uint64(w.checkSlot(slot, w.l.services))*ServiceRecordBytes, epoch, b[:])
}

// FreeService marks service slot slot free; its epoch stays.
func (w *Writer) FreeService(slot uint32) {
	off := w.l.serviceDir + uint64(w.checkSlot(slot, w.l.services))*ServiceRecordBytes
	var b [ServiceRecordBytes]byte
	w.write(off, w.w[(off+recEpoch)/8].Load(), b[:])
}

// SetBackend writes the directory record of real-server slot slot (1..
// BackendSlots()).
func (w *Writer) SetBackend(slot uint32, epoch uint64, id BackendID) {
	var b [BackendRecordBytes]byte
	b[recInUse] = 1
	putAddr(b[:], id.Addr)
	ne.PutUint32(b[recService:], id.Service)
	copy(b[recMethod:recMethod+MaxMethodBytes], id.Method)
	ne.PutUint64(b[recServiceEpoch:], id.ServiceEpoch)
	w.write(w.l.backendDir+uint64(w.checkSlot(slot, w.l.backends))*BackendRecordBytes, epoch, b[:])
}

// FreeBackend marks real-server slot slot free; its epoch stays.
func (w *Writer) FreeBackend(slot uint32) {
	off := w.l.backendDir + uint64(w.checkSlot(slot, w.l.backends))*BackendRecordBytes
	var b [BackendRecordBytes]byte
	w.write(off, w.w[(off+recEpoch)/8].Load(), b[:])
}

// SetUnslotted records how many services and real servers have no slot
// of their own (they are counted in the overflow slots).
func (w *Writer) SetUnslotted(services, backends int) {
	w.w[offUnslottedSvcs/8].Store(uint64(services))
	w.w[offUnslottedBks/8].Store(uint64(backends))
}

// Worker returns worker i's block: its gauge line, its service counter
// slots and its real-server counter slots, for the worker to publish
// into (8-byte aligned).
func (w *Writer) Worker(i int) (gauges, services, backends []byte) {
	if i < 0 || uint64(i) >= w.l.workers {
		panic(fmt.Sprintf("stats: worker %d out of range 0..%d", i, w.l.workers-1))
	}
	b := wordBytes(w.w)
	g := w.l.gauges(uint64(i))
	s := w.l.serviceSlot(uint64(i), 0)
	k := w.l.backendSlot(uint64(i), 0)
	e := k + w.l.backends*BackendSlotBytes
	return b[g : g+WorkerGaugeBytes : g+WorkerGaugeBytes], b[s:k:k], b[k:e:e]
}

func (w *Writer) checkSlot(slot uint32, n uint64) uint32 {
	if slot == 0 || uint64(slot) >= n {
		panic(fmt.Sprintf("stats: slot %d out of range 1..%d", slot, n-1))
	}
	return slot
}

// write rewrites the record at off under its sequence counter: odd while
// the words change, even again when they are complete. b holds the record
// from its in-use byte on (the sequence and epoch words are ignored).
func (w *Writer) write(off, epoch uint64, b []byte) {
	seq := &w.w[off/8]
	s := seq.Load()
	seq.Store(s + 1)
	w.w[(off+recEpoch)/8].Store(epoch)
	for i := 16; i < len(b); i += 8 {
		w.w[(off+uint64(i))/8].Store(ne.Uint64(b[i:]))
	}
	seq.Store(s + 2)
}

func putAddr(b []byte, a netip.Addr) {
	switch {
	case a.Is4():
		b[recFamily] = 4
		v := a.As4()
		copy(b[recAddr:], v[:])
	case a.Is6():
		b[recFamily] = 6
		v := a.As16()
		copy(b[recAddr:], v[:])
	}
}

func getAddr(b []byte) netip.Addr {
	switch b[recFamily] {
	case 4:
		return netip.AddrFrom4([4]byte(b[recAddr : recAddr+4]))
	case 6:
		return netip.AddrFrom16([16]byte(b[recAddr : recAddr+16]))
	}
	return netip.Addr{}
}
