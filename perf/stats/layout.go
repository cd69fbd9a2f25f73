package stats

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Version is the version of the section's layout this build reads and
// writes; a reader refuses any other (ErrVersion). Version 2 added the
// connection gauges (see the package documentation).
const Version = 2

// Sizes of the section's parts (see the package documentation).
const (
	HeaderBytes        = 128
	ServiceRecordBytes = 128
	BackendRecordBytes = 64
	WorkerGaugeBytes   = 64
	ServiceSlotBytes   = 8 * serviceSlotWords
	BackendSlotBytes   = 8 * backendSlotWords

	// MaxNameBytes is the longest service name the directory keeps.
	MaxNameBytes = 64
	// MaxMethodBytes is the longest method name the directory keeps.
	MaxMethodBytes = 8
)

// Drops per service: the pipeline's drop verdicts that happen once the
// packet's service is known, in the order of the service slot's drop
// counters; their names are the verdicts' (perf/counters).
const (
	DropNoBackend = iota
	DropNoMAC
	DropTooBig
	DropICMPRateLimit
	DropNoHeadroom
	DropMalformed
	DropTxFull
	NumDrops
)

// DropNames names each per-service drop, by index.
var DropNames = [NumDrops]string{
	DropNoBackend:     "no_backend",
	DropNoMAC:         "no_mac",
	DropTooBig:        "too_big",
	DropICMPRateLimit: "icmp_rate_limit",
	DropNoHeadroom:    "no_headroom",
	DropMalformed:     "malformed",
	DropTxFull:        "tx_full",
}

// Words of a counter slot, in order (the pipeline's structs match them):
// both kinds start with the same four.
const (
	slotEpoch = iota
	slotPackets
	slotBytes
	slotNewFlows
	slotCommonWords
)

// Words of a service slot after the common ones.
const (
	slotICMPErrors   = slotCommonWords + iota
	slotDrops                               // NumDrops words from here
	serviceSlotWords = slotDrops + NumDrops // epoch .. the last drop counter
)

// Words of a real-server slot after the common ones: gauges of the
// worker's connections to the real server (0 in the overflow slot, whose
// real servers have none).
const (
	slotActiveConns = slotCommonWords + iota
	slotInactiveConns
	backendSlotWords // epoch, packets, bytes, new_flows, active, inactive
)

// Worker gauges, words of the gauge line. The four by-state gauges add up
// to gaugeCTEntries.
const (
	gaugeCTEntries = iota
	gaugeCTCapacity
	gaugeCTExpired
	gaugeCTSyn
	gaugeCTEstablished
	gaugeCTClosing
	gaugeCTUDP
)

// The gauges fit their line (a negative array length does not compile).
var _ [WorkerGaugeBytes/8 - 1 - gaugeCTUDP]struct{}

// Header fields.
const (
	offVersion       = 0
	offWorkers       = 8
	offServiceSlots  = 16
	offBackendSlots  = 24
	offWorkerBytes   = 32
	offServiceDir    = 40
	offBackendDir    = 48
	offWorkerBlocks  = 56
	offUnslottedSvcs = 64
	offUnslottedBks  = 72
)

// Limits of the slot counts (overflow slot included) and workers.
const (
	MaxServiceSlots = 1 << 16
	MaxBackendSlots = 1 << 20
	MaxWorkers      = 1024
)

// Errors of Read and Init.
var (
	// ErrVersion: the section has another version than Version (a data
	// plane of another build); the rest of the file is still usable.
	ErrVersion = errors.New("stats: unsupported section version")
	// ErrNotReady: the section is not initialised yet (version 0).
	ErrNotReady = errors.New("stats: section not initialised yet")
	// ErrNoSection: the file has no stats section.
	ErrNoSection = errors.New("stats: no stats section")
	// ErrCorrupt: the section's header is inconsistent or does not fit.
	ErrCorrupt = errors.New("stats: corrupt section header")
)

// layout is where everything is, from the start of the section.
type layout struct {
	workers, services, backends uint64 // slots include the overflow slot
	workerBytes                 uint64
	serviceDir, backendDir      uint64
	workerBlocks                uint64
	size                        uint64 // bytes needed
}

func roundUp(n, to uint64) uint64 { return (n + to - 1) / to * to }

// layoutFor computes the layout of workers blocks of services and backends
// slots (overflow slots included). Counts must be within the limits.
func layoutFor(workers, services, backends uint64) layout {
	l := layout{workers: workers, services: services, backends: backends}
	l.serviceDir = HeaderBytes
	l.backendDir = l.serviceDir + services*ServiceRecordBytes
	l.workerBlocks = roundUp(l.backendDir+backends*BackendRecordBytes, 64)
	l.workerBytes = roundUp(WorkerGaugeBytes+services*ServiceSlotBytes+backends*BackendSlotBytes, 64)
	l.size = l.workerBlocks + workers*l.workerBytes
	return l
}

// Bytes is the size of a section for workers worker blocks, services
// service slots and backends real-server slots, not counting the overflow
// slots (each kind has one more). It is what the data plane asks of
// shm.Geometry.StatsBytes.
func Bytes(workers, services, backends int) int {
	return int(layoutFor(uint64(workers), uint64(services)+1, uint64(backends)+1).size)
}

// Counts' offsets in a worker block.
func (l *layout) serviceSlot(w, slot uint64) uint64 {
	return l.workerBlocks + w*l.workerBytes + WorkerGaugeBytes + slot*ServiceSlotBytes
}

func (l *layout) backendSlot(w, slot uint64) uint64 {
	return l.workerBlocks + w*l.workerBytes + WorkerGaugeBytes + l.services*ServiceSlotBytes + slot*BackendSlotBytes
}

func (l *layout) gauges(w uint64) uint64 { return l.workerBlocks + w*l.workerBytes }

// words views sec as atomic 64-bit words; sec must be 8-byte aligned.
func words(sec []byte) ([]atomic.Uint64, bool) {
	if len(sec) < 8 || uintptr(unsafe.Pointer(&sec[0]))%8 != 0 {
		return nil, false
	}
	return unsafe.Slice((*atomic.Uint64)(unsafe.Pointer(&sec[0])), len(sec)/8), true
}

// version is the section's version word.
func version(w []atomic.Uint64) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&w[offVersion/8]))
}

// parseLayout validates the header of the section w (as words).
func parseLayout(w []atomic.Uint64) (layout, error) {
	if len(w) < HeaderBytes/8 {
		return layout{}, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrCorrupt, 8*len(w), HeaderBytes)
	}
	switch v := version(w).Load(); v {
	case Version:
	case 0:
		return layout{}, ErrNotReady
	default:
		return layout{}, fmt.Errorf("%w: version %d, this build reads %d", ErrVersion, v, Version)
	}
	workers, services, backends := w[offWorkers/8].Load(), w[offServiceSlots/8].Load(), w[offBackendSlots/8].Load()
	if workers > MaxWorkers || services < 1 || services > MaxServiceSlots || backends < 1 || backends > MaxBackendSlots {
		return layout{}, fmt.Errorf("%w: %d workers, %d service slots, %d real-server slots out of range", ErrCorrupt, workers, services, backends)
	}
	l := layoutFor(workers, services, backends)
	if w[offWorkerBytes/8].Load() != l.workerBytes || w[offServiceDir/8].Load() != l.serviceDir ||
		w[offBackendDir/8].Load() != l.backendDir || w[offWorkerBlocks/8].Load() != l.workerBlocks {
		return layout{}, fmt.Errorf("%w: offsets differ from the layout of %d workers, %d and %d slots", ErrCorrupt, workers, services, backends)
	}
	if l.size > uint64(8*len(w)) {
		return layout{}, fmt.Errorf("%w: %d workers, %d and %d slots need %d bytes, the section has %d", ErrCorrupt, workers, services, backends, l.size, 8*len(w))
	}
	return l, nil
}

// wordBytes views words as bytes again.
func wordBytes(w []atomic.Uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 8*len(w))
}
