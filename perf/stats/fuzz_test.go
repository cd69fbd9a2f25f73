package stats

import (
	"errors"
	"testing"
	"unicode/utf8"
	"unsafe"
)

// aligned copies b into 8-byte aligned memory, as a mapping is.
func aligned(b []byte) []byte {
	w := make([]uint64, (len(b)+7)/8)
	if len(w) == 0 {
		return nil
	}
	out := unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(b))
	copy(out, b)
	return out
}

// FuzzRead feeds the reader a stats section of any content, as a data
// plane of another build or a stray writer may leave it: it must not
// panic, fail only with the package's errors, and what it returns stays
// inside the section's slots.
func FuzzRead(f *testing.F) {
	valid := func(workers, services, backends int, fill func(*Writer)) []byte {
		sec := aligned(make([]byte, Bytes(workers, services, backends)))
		w, err := initSection(sec, workers, services, backends)
		if err != nil {
			f.Fatal(err)
		}
		if fill != nil {
			fill(w)
		}
		return append([]byte(nil), sec...)
	}
	f.Add(valid(1, 1, 1, nil))
	f.Add(valid(2, 3, 4, func(w *Writer) {
		w.SetService(1, 1, ServiceID{Name: "web", VIP: vip, Proto: 6, Port: 80, Method: "l2dsr"})
		w.SetService(3, 9, ServiceID{Name: "dns", VIP: vip6, Proto: 17, Port: 53, Method: "gue"})
		w.SetBackend(2, 1, BackendID{Service: 1, ServiceEpoch: 1, Addr: rs1, Method: "l2dsr"})
		w.SetBackend(4, 2, BackendID{Service: 3, ServiceEpoch: 9, Addr: rs2, Method: "gue"})
		g, s, b := w.Worker(1)
		put(g, 0, 1, 9, 1024, 3, 2, 4, 1, 2) // entries, capacity, expired, by state
		put(s, 1, serviceSlotWords, 1, 5, 500, 1)
		put(b, 2, backendSlotWords, 1, 5, 500, 1, 4, 2)
		put(b, 4, backendSlotWords, 2, 7, 700, 3, 2, 0)
	}))
	// A section of version 1 (real-server slots of 4 words): refused.
	v1 := valid(1, 1, 1, nil)
	ne.PutUint32(v1, 1)
	f.Add(v1)
	torn := valid(1, 2, 2, func(w *Writer) {
		w.SetService(1, 1, ServiceID{Name: "web", VIP: vip, Proto: 6, Port: 80, Method: "l2dsr"})
	})
	torn[HeaderBytes+ServiceRecordBytes]++ // odd sequence
	f.Add(torn)
	long := valid(1, 1, 1, func(w *Writer) {
		w.SetService(1, 1, ServiceID{Name: "x", VIP: vip, Proto: 6})
	})
	long[HeaderBytes+ServiceRecordBytes+recNameLen] = 255
	long[HeaderBytes+ServiceRecordBytes+recName] = 0xff // not UTF-8
	f.Add(long)
	f.Add([]byte{})
	f.Add(make([]byte, HeaderBytes))
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := read(aligned(b))
		if err != nil {
			if !errors.Is(err, ErrNoSection) && !errors.Is(err, ErrNotReady) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is none of the package's", err)
			}
			return
		}
		w, _ := words(aligned(b))
		l, err := parseLayout(w)
		if err != nil {
			t.Fatalf("read accepted a section parseLayout refuses: %v", err)
		}
		if len(s.Workers) != int(l.workers) || len(s.Services) >= int(l.services) {
			t.Fatalf("%d workers, %d services from %d workers, %d slots", len(s.Workers), len(s.Services), l.workers, l.services)
		}
		for _, v := range s.Services {
			if v.Slot == 0 || uint64(v.Slot) >= l.services || !utf8.ValidString(v.Name) || len(v.Name) > 3*MaxNameBytes || !utf8.ValidString(v.Method) {
				t.Fatalf("service %+v", v)
			}
			for _, bk := range v.Backends {
				if bk.Slot == 0 || uint64(bk.Slot) >= l.backends {
					t.Fatalf("real server %+v", bk)
				}
			}
		}
	})
}
