package shm

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// Layout constants (see the package documentation for the diagram).
const (
	LayoutVersion  = 6    // version of the file layout this build reads and writes
	HeaderSize     = 4096 // bytes of the header page
	CacheLine      = 64   // alignment of every hot field, slot and counter block
	SlotHeaderSize = 8    // length uint32 + kind uint32 at the start of each slot

	MinSlotSize    = 64
	MaxSlotSize    = 1 << 20
	MaxSlots       = 1 << 20
	MaxRingBytes   = 1 << 30 // SlotSize*Slots
	MaxWorkers     = 1024
	MaxWorkerBytes = 1 << 20
	MaxPorts       = 64
	MaxPortBytes   = 1 << 16
	MaxGlobalBytes = 1 << 24
	MaxStatsBytes  = 1 << 36
)

const (
	magic    = "DSRLBSHM"
	pageSize = 4096

	// Header fields.
	offMagic       = 0
	offVersion     = 8
	offHeaderSize  = 12
	offFileSize    = 16
	offCmdOff      = 24
	offCmdSize     = 32
	offEvtOff      = 40
	offEvtSize     = 48
	offCtrOff      = 56
	offCtrSize     = 64
	offSlotSize    = 72
	offSlots       = 76
	offWorkers     = 80
	offWorkerBytes = 84
	offGlobalBytes = 88
	offPorts       = 92
	offPortBytes   = 96
	offStatsOff    = 104
	offStatsSize   = 112

	// Liveness fields, one cache line each.
	offDataplanePID       = 128
	offBootID             = 192
	offDataplaneHeartbeat = 256
	offCtrlPID            = 320
	offCtrlHeartbeat      = 384
	offReady              = 448

	readyValue = 1

	// Ring region.
	ringHeadOff  = 0
	ringTailOff  = CacheLine
	ringSlotsOff = 2 * CacheLine
)

// Geometry is the shape of a shared-memory file: both rings have Slots slots
// of SlotSize bytes; the counters region has Workers blocks of WorkerBytes,
// Ports blocks of PortBytes and one block of GlobalBytes; the stats section
// has StatsBytes (its inner layout is package perf/stats').
type Geometry struct {
	SlotSize int // bytes per slot including the 8-byte slot header; multiple of 64, 64..MaxSlotSize
	Slots    int // slots per ring; power of two, 2..MaxSlots

	Workers     int // worker counter blocks, 0..MaxWorkers
	WorkerBytes int // bytes per worker block, rounded up to a multiple of 64 by Create
	Ports       int // port counter blocks, 0..MaxPorts
	PortBytes   int // bytes per port block, rounded up to a multiple of 64 by Create
	GlobalBytes int // bytes of the global block, rounded up to a multiple of 64 by Create
	StatsBytes  int // bytes of the stats section, 0..MaxStatsBytes, rounded up to a multiple of 64 by Create
}

// MaxPayload is the largest payload one slot holds.
func (g Geometry) MaxPayload() int { return g.SlotSize - SlotHeaderSize }

func (g Geometry) String() string {
	return fmt.Sprintf("%d slots of %d bytes, %d workers x %d bytes + %d ports x %d bytes + %d global bytes, %d stats bytes",
		g.Slots, g.SlotSize, g.Workers, g.WorkerBytes, g.Ports, g.PortBytes, g.GlobalBytes, g.StatsBytes)
}

// header is the static part of the header page, as computed by layoutFor or
// parsed from a file.
type header struct {
	version    uint32
	headerSize uint32
	fileSize   uint64
	cmdOff     uint64
	cmdSize    uint64
	evtOff     uint64
	evtSize    uint64
	ctrOff     uint64
	ctrSize    uint64
	statsOff   uint64
	statsSize  uint64

	slotSize    uint32
	slots       uint32
	workers     uint32
	workerBytes uint32
	globalBytes uint32
	ports       uint32
	portBytes   uint32

	// Liveness, only meaningful when parsed from a file.
	dataplanePID uint64
	bootID       uint64
	ready        uint64
}

func (h *header) geometry() Geometry {
	return Geometry{
		SlotSize:    int(h.slotSize),
		Slots:       int(h.slots),
		Workers:     int(h.workers),
		WorkerBytes: int(h.workerBytes),
		Ports:       int(h.ports),
		PortBytes:   int(h.portBytes),
		GlobalBytes: int(h.globalBytes),
		StatsBytes:  int(h.statsSize),
	}
}

func roundUp(n, to uint64) uint64 { return (n + to - 1) / to * to }

func ringBytes(slotSize, slots uint64) uint64 { return ringSlotsOff + slotSize*slots }

// layoutFor checks g and computes the header of a new file. WorkerBytes,
// PortBytes, GlobalBytes and StatsBytes are rounded up to multiples of
// CacheLine.
func layoutFor(g Geometry) (header, error) {
	bad := func(format string, args ...any) (header, error) {
		return header{}, fmt.Errorf("shm: %w: "+format, append([]any{ErrGeometry}, args...)...)
	}
	switch {
	case g.SlotSize < MinSlotSize || g.SlotSize > MaxSlotSize || g.SlotSize%CacheLine != 0:
		return bad("slot size %d: want a multiple of %d in %d..%d", g.SlotSize, CacheLine, MinSlotSize, MaxSlotSize)
	case g.Slots < 2 || g.Slots > MaxSlots || g.Slots&(g.Slots-1) != 0:
		return bad("slot count %d: want a power of two in 2..%d", g.Slots, MaxSlots)
	case uint64(g.Slots)*uint64(g.SlotSize) > MaxRingBytes:
		return bad("ring of %d slots of %d bytes exceeds %d bytes", g.Slots, g.SlotSize, MaxRingBytes)
	case g.Workers < 0 || g.Workers > MaxWorkers:
		return bad("worker count %d: want 0..%d", g.Workers, MaxWorkers)
	case g.WorkerBytes < 0 || g.WorkerBytes > MaxWorkerBytes:
		return bad("bytes per worker %d: want 0..%d", g.WorkerBytes, MaxWorkerBytes)
	case g.Ports < 0 || g.Ports > MaxPorts:
		return bad("port count %d: want 0..%d", g.Ports, MaxPorts)
	case g.PortBytes < 0 || g.PortBytes > MaxPortBytes:
		return bad("bytes per port %d: want 0..%d", g.PortBytes, MaxPortBytes)
	case g.GlobalBytes < 0 || g.GlobalBytes > MaxGlobalBytes:
		return bad("global bytes %d: want 0..%d", g.GlobalBytes, MaxGlobalBytes)
	case g.StatsBytes < 0 || g.StatsBytes > MaxStatsBytes:
		return bad("stats bytes %d: want 0..%d", g.StatsBytes, MaxStatsBytes)
	}
	h := header{
		version:     LayoutVersion,
		headerSize:  HeaderSize,
		slotSize:    uint32(g.SlotSize),
		slots:       uint32(g.Slots),
		workers:     uint32(g.Workers),
		workerBytes: uint32(roundUp(uint64(g.WorkerBytes), CacheLine)),
		ports:       uint32(g.Ports),
		portBytes:   uint32(roundUp(uint64(g.PortBytes), CacheLine)),
		globalBytes: uint32(roundUp(uint64(g.GlobalBytes), CacheLine)),
	}
	rb := ringBytes(uint64(h.slotSize), uint64(h.slots))
	h.cmdOff, h.cmdSize = HeaderSize, rb
	h.evtOff, h.evtSize = h.cmdOff+roundUp(h.cmdSize, pageSize), rb
	h.ctrOff = h.evtOff + roundUp(h.evtSize, pageSize)
	h.ctrSize = h.countersSize()
	h.statsOff = h.ctrOff + roundUp(h.ctrSize, pageSize)
	h.statsSize = roundUp(uint64(g.StatsBytes), CacheLine)
	h.fileSize = h.statsOff + roundUp(h.statsSize, pageSize)
	return h, nil
}

var ne = binary.NativeEndian

// put writes the static header fields into b (the header page). Liveness
// fields are written separately with atomic stores.
func (h *header) put(b []byte) {
	copy(b[offMagic:offMagic+8], magic)
	ne.PutUint32(b[offVersion:], h.version)
	ne.PutUint32(b[offHeaderSize:], h.headerSize)
	ne.PutUint64(b[offFileSize:], h.fileSize)
	ne.PutUint64(b[offCmdOff:], h.cmdOff)
	ne.PutUint64(b[offCmdSize:], h.cmdSize)
	ne.PutUint64(b[offEvtOff:], h.evtOff)
	ne.PutUint64(b[offEvtSize:], h.evtSize)
	ne.PutUint64(b[offCtrOff:], h.ctrOff)
	ne.PutUint64(b[offCtrSize:], h.ctrSize)
	ne.PutUint32(b[offSlotSize:], h.slotSize)
	ne.PutUint32(b[offSlots:], h.slots)
	ne.PutUint32(b[offWorkers:], h.workers)
	ne.PutUint32(b[offWorkerBytes:], h.workerBytes)
	ne.PutUint32(b[offGlobalBytes:], h.globalBytes)
	ne.PutUint32(b[offPorts:], h.ports)
	ne.PutUint32(b[offPortBytes:], h.portBytes)
	ne.PutUint64(b[offStatsOff:], h.statsOff)
	ne.PutUint64(b[offStatsSize:], h.statsSize)
}

// countersSize is the size the counter blocks need.
func (h *header) countersSize() uint64 {
	return uint64(h.workers)*uint64(h.workerBytes) + uint64(h.ports)*uint64(h.portBytes) + uint64(h.globalBytes)
}

// parseHeader validates a header page read from path, whose file is
// fileSize bytes long; b holds the first min(fileSize, HeaderSize) bytes.
// It checks everything except the ready flag.
func parseHeader(path string, b []byte, fileSize int64) (header, error) {
	fail := func(kind error, format string, args ...any) (header, error) {
		return header{}, &Error{Path: path, Kind: kind, msg: path + ": " + fmt.Sprintf(format, args...)}
	}
	if len(b) < len(magic) || string(b[:len(magic)]) != magic {
		if len(b) < len(magic) {
			return fail(ErrForeign, "not a dsrlb shared-memory file (%d bytes, too short for the magic)", fileSize)
		}
		return fail(ErrForeign, "not a dsrlb shared-memory file (magic %q, want %q)", b[:len(magic)], magic)
	}
	if len(b) < offVersion+4 {
		return fail(ErrTorn, "torn: file is %d bytes, shorter than the %d-byte header", fileSize, HeaderSize)
	}
	var h header
	if h.version = ne.Uint32(b[offVersion:]); h.version != LayoutVersion {
		return fail(ErrVersion, "layout version %d, this build speaks %d", h.version, LayoutVersion)
	}
	if len(b) < HeaderSize {
		return fail(ErrTorn, "torn: file is %d bytes, shorter than the %d-byte header", fileSize, HeaderSize)
	}
	h.headerSize = ne.Uint32(b[offHeaderSize:])
	h.fileSize = ne.Uint64(b[offFileSize:])
	h.cmdOff = ne.Uint64(b[offCmdOff:])
	h.cmdSize = ne.Uint64(b[offCmdSize:])
	h.evtOff = ne.Uint64(b[offEvtOff:])
	h.evtSize = ne.Uint64(b[offEvtSize:])
	h.ctrOff = ne.Uint64(b[offCtrOff:])
	h.ctrSize = ne.Uint64(b[offCtrSize:])
	h.slotSize = ne.Uint32(b[offSlotSize:])
	h.slots = ne.Uint32(b[offSlots:])
	h.workers = ne.Uint32(b[offWorkers:])
	h.workerBytes = ne.Uint32(b[offWorkerBytes:])
	h.globalBytes = ne.Uint32(b[offGlobalBytes:])
	h.ports = ne.Uint32(b[offPorts:])
	h.portBytes = ne.Uint32(b[offPortBytes:])
	h.statsOff = ne.Uint64(b[offStatsOff:])
	h.statsSize = ne.Uint64(b[offStatsSize:])
	h.dataplanePID = ne.Uint64(b[offDataplanePID:])
	h.bootID = ne.Uint64(b[offBootID:])
	h.ready = ne.Uint64(b[offReady:])

	if h.headerSize != HeaderSize {
		return fail(ErrGeometry, "header size %d, layout version %d has %d", h.headerSize, LayoutVersion, HeaderSize)
	}
	if uint64(fileSize) < h.fileSize {
		return fail(ErrTorn, "torn: file is %d bytes, header claims %d", fileSize, h.fileSize)
	}
	if uint64(fileSize) != h.fileSize {
		return fail(ErrGeometry, "file is %d bytes, header claims %d", fileSize, h.fileSize)
	}
	if h.fileSize > math.MaxInt {
		return fail(ErrGeometry, "file size %d does not fit in memory", h.fileSize)
	}
	if err := h.checkGeometry(); err != "" {
		return fail(ErrGeometry, "%s", err)
	}
	return h, nil
}

// checkGeometry returns a description of the first inconsistency in h, or "".
func (h *header) checkGeometry() string {
	ss, n := h.slotSize, h.slots
	switch {
	case ss < MinSlotSize || ss > MaxSlotSize || ss%CacheLine != 0:
		return fmt.Sprintf("slot size %d is not a multiple of %d in %d..%d", ss, CacheLine, MinSlotSize, MaxSlotSize)
	case n < 2 || n > MaxSlots || bits.OnesCount32(n) != 1:
		return fmt.Sprintf("slot count %d is not a power of two in 2..%d", n, MaxSlots)
	case uint64(ss)*uint64(n) > MaxRingBytes:
		return fmt.Sprintf("ring of %d slots of %d bytes exceeds %d bytes", n, ss, MaxRingBytes)
	case h.workers > MaxWorkers:
		return fmt.Sprintf("worker count %d exceeds %d", h.workers, MaxWorkers)
	case h.workerBytes > MaxWorkerBytes || h.workerBytes%CacheLine != 0:
		return fmt.Sprintf("bytes per worker %d is not a multiple of %d up to %d", h.workerBytes, CacheLine, MaxWorkerBytes)
	case h.ports > MaxPorts:
		return fmt.Sprintf("port count %d exceeds %d", h.ports, MaxPorts)
	case h.portBytes > MaxPortBytes || h.portBytes%CacheLine != 0:
		return fmt.Sprintf("bytes per port %d is not a multiple of %d up to %d", h.portBytes, CacheLine, MaxPortBytes)
	case h.globalBytes > MaxGlobalBytes || h.globalBytes%CacheLine != 0:
		return fmt.Sprintf("global bytes %d is not a multiple of %d up to %d", h.globalBytes, CacheLine, MaxGlobalBytes)
	case h.statsSize > MaxStatsBytes || h.statsSize%CacheLine != 0:
		return fmt.Sprintf("stats bytes %d is not a multiple of %d up to %d", h.statsSize, CacheLine, MaxStatsBytes)
	}
	rb := ringBytes(uint64(ss), uint64(n))
	if h.cmdSize != rb || h.evtSize != rb {
		return fmt.Sprintf("ring sizes %d and %d, %d slots of %d bytes need %d", h.cmdSize, h.evtSize, n, ss, rb)
	}
	if cb := h.countersSize(); h.ctrSize != cb {
		return fmt.Sprintf("counters size %d, %d workers x %d bytes + %d ports x %d bytes + %d global bytes need %d",
			h.ctrSize, h.workers, h.workerBytes, h.ports, h.portBytes, h.globalBytes, cb)
	}
	type span struct {
		name      string
		off, size uint64
	}
	spans := [4]span{{"command ring", h.cmdOff, h.cmdSize}, {"event ring", h.evtOff, h.evtSize}, {"counters", h.ctrOff, h.ctrSize},
		{"stats", h.statsOff, h.statsSize}}
	for _, s := range spans {
		// Sizes are bounded above, so off+size cannot overflow once off <= fileSize.
		if s.off%CacheLine != 0 || s.off < HeaderSize || s.off > h.fileSize || s.off+s.size > h.fileSize {
			return fmt.Sprintf("%s at %d..%d is not %d-byte aligned inside %d..%d",
				s.name, s.off, s.off+s.size, CacheLine, HeaderSize, h.fileSize)
		}
	}
	for i := range spans {
		for j := i + 1; j < len(spans); j++ {
			a, b := spans[i], spans[j]
			if a.size != 0 && b.size != 0 && a.off < b.off+b.size && b.off < a.off+a.size {
				return fmt.Sprintf("%s at %d..%d overlaps %s at %d..%d",
					a.name, a.off, a.off+a.size, b.name, b.off, b.off+b.size)
			}
		}
	}
	return ""
}
