package shm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseHeader feeds the header parser what another process (or
// anything else) may have left at the path: it must not panic, and a
// header it accepts must describe regions that fit the file without
// overlapping, so that mapping them is safe.
func FuzzParseHeader(f *testing.F) {
	h, err := layoutFor(Geometry{SlotSize: 512, Slots: 64, Workers: 2, WorkerBytes: 64, Ports: 2, PortBytes: 64, GlobalBytes: 128})
	if err != nil {
		f.Fatal(err)
	}
	valid := make([]byte, HeaderSize)
	h.put(valid)
	f.Add(valid, int64(h.fileSize))
	f.Add(valid, int64(h.fileSize)-1)
	// With a stats section, and with its size or place broken.
	hs, err := layoutFor(Geometry{SlotSize: 512, Slots: 64, Workers: 2, WorkerBytes: 64, Ports: 2, PortBytes: 64, GlobalBytes: 128, StatsBytes: 70000})
	if err != nil {
		f.Fatal(err)
	}
	withStats := make([]byte, HeaderSize)
	hs.put(withStats)
	f.Add(withStats, int64(hs.fileSize))
	f.Add(withStats, int64(hs.fileSize)+4096)
	for _, p := range []struct {
		off int
		v   uint64
	}{{offStatsSize, 70001}, {offStatsSize, 1 << 40}, {offStatsOff, hs.ctrOff}, {offStatsOff, hs.fileSize}, {offStatsOff, 0}} {
		b := append([]byte(nil), withStats...)
		ne.PutUint64(b[p.off:], p.v)
		f.Add(b, int64(hs.fileSize))
	}
	// A file of layout version 3 (no stats section).
	v3 := append([]byte(nil), valid...)
	ne.PutUint32(v3[offVersion:], 3)
	f.Add(v3, int64(h.fileSize))
	f.Add(valid[:100], int64(100))
	f.Add([]byte("DSRLBSHM"), int64(8))
	f.Add([]byte{}, int64(0))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		if len(b) > HeaderSize {
			b = b[:HeaderSize]
		}
		if size < int64(len(b)) {
			size = int64(len(b))
		}
		h, err := parseHeader("fuzz", b, size)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Kind == nil {
				t.Fatalf("error %v is not a *shm.Error with a kind", err)
			}
			return
		}
		if h.fileSize != uint64(size) || h.version != LayoutVersion {
			t.Fatalf("accepted a header of file size %d for a %d-byte file, version %d", h.fileSize, size, h.version)
		}
		type span struct{ off, size uint64 }
		spans := []span{{0, HeaderSize}, {h.cmdOff, h.cmdSize}, {h.evtOff, h.evtSize}, {h.ctrOff, h.ctrSize}, {h.statsOff, h.statsSize}}
		for i, a := range spans {
			if a.off+a.size > h.fileSize || a.off+a.size < a.off {
				t.Fatalf("region %d at %d+%d outside the %d-byte file", i, a.off, a.size, h.fileSize)
			}
			for _, b := range spans[i+1:] {
				if a.size != 0 && b.size != 0 && a.off < b.off+b.size && b.off < a.off+a.size {
					t.Fatalf("regions %+v and %+v overlap", a, b)
				}
			}
		}
		g := h.geometry()
		if uint64(g.Workers*g.WorkerBytes+g.Ports*g.PortBytes+g.GlobalBytes) != h.ctrSize {
			t.Fatalf("counter blocks %v do not fill the %d-byte counters region", g, h.ctrSize)
		}
	})
}

// FuzzOpen writes a file of a valid layout whose header, ring indices and
// slot headers are overwritten by the fuzzer, as a misbehaving peer would,
// then opens it and drains both rings: nothing may panic, a message popped
// fits its slot, and a corrupt ring recovers with Reset.
func FuzzOpen(f *testing.F) {
	g := Geometry{SlotSize: 128, Slots: 8, Workers: 1, WorkerBytes: 64, Ports: 1, PortBytes: 64, GlobalBytes: 64, StatsBytes: 4096}
	f.Add(uint16(0), []byte{}, uint64(0), uint64(0), uint32(0))
	f.Add(uint16(offVersion), []byte{3, 0, 0, 0}, uint64(5), uint64(2), uint32(200))
	f.Add(uint16(offStatsSize), []byte{0, 0x20}, uint64(0), uint64(0), uint32(0))
	f.Add(uint16(offStatsSize), []byte{0, 0x10, 0, 0, 1}, uint64(0), uint64(0), uint32(0))
	f.Add(uint16(offStatsOff), []byte{0, 0x30}, uint64(1), uint64(1), uint32(8))
	f.Add(uint16(offSlots), []byte{9}, uint64(0), uint64(1<<63), uint32(7))
	f.Add(uint16(offCmdOff), []byte{0, 0x10}, uint64(3), uint64(9), uint32(120))
	f.Fuzz(func(t *testing.T, at uint16, patch []byte, head, tail uint64, slotLen uint32) {
		path := filepath.Join(t.TempDir(), "f.shm")
		creator, _, err := Create(path, g)
		if err != nil {
			t.Fatal(err)
		}
		// The file lives as long as its creator holds it.
		defer creator.Close()
		for _, q := range []*Ring{creator.Commands(), creator.Events()} {
			q.head.Store(head)
			q.tail.Store(tail)
			for i := 0; i < q.Cap(); i++ {
				ne.PutUint32(q.slots[i*q.slotSize:], slotLen+uint32(i))
			}
		}
		if int(at) < HeaderSize && len(patch) > 0 {
			if len(patch) > HeaderSize-int(at) {
				patch = patch[:HeaderSize-int(at)]
			}
			fh, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = fh.WriteAt(patch, int64(at))
			fh.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		r, err := Open(path)
		if err != nil {
			return
		}
		defer r.Close()
		for _, q := range []*Ring{r.Commands(), r.Events()} {
			buf := make([]byte, q.MaxPayload())
			if q.Len() < 0 || q.Len() > q.Cap() {
				t.Fatalf("Len %d of a %d-slot ring", q.Len(), q.Cap())
			}
			for range q.Cap() + 1 {
				_, p, ok := q.Pop(buf)
				if !ok {
					break
				}
				if len(p) > q.MaxPayload() {
					t.Fatalf("popped %d bytes from a %d-byte slot", len(p), q.SlotSize())
				}
			}
			if q.Err() != nil {
				q.Reset()
				if err := q.Err(); err != nil {
					t.Fatalf("after Reset: %v", err)
				}
			}
			_ = q.TryPush(1, []byte("x"))
		}
		// Every block the header declares is inside the mapping.
		for i := range r.Geometry().Workers {
			if b := r.Worker(i); len(b) >= 8 {
				_ = Counter(b, len(b)-8).Load()
			}
		}
		for i := range r.Geometry().Ports {
			if b := r.Port(i); len(b) >= 8 {
				_ = Counter(b, len(b)-8).Load()
			}
		}
		if b := r.Global(); len(b) >= 8 {
			_ = Counter(b, len(b)-8).Load()
		}
		if b := r.Stats(); len(b) >= 8 {
			_ = Counter(b, 0).Load()
			_ = Counter(b, len(b)-8).Load()
		}
	})
}
