package shm

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// newTestRegion creates a file in a fresh temporary directory and closes
// the mapping at the end of the test.
func newTestRegion(t *testing.T, g Geometry) *Region {
	t.Helper()
	r, replaced, err := Create(filepath.Join(t.TempDir(), "dsrlb.shm"), g)
	if err != nil {
		t.Fatal(err)
	}
	if replaced != "" {
		t.Fatalf("Create in an empty directory replaced something: %s", replaced)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

var smallGeometry = Geometry{SlotSize: 128, Slots: 8, Workers: 2, WorkerBytes: 24, GlobalBytes: 64}

// testPayload is a payload of n bytes determined by seq.
func testPayload(seq uint64, n int) []byte {
	p := make([]byte, n)
	x := seq*0x9E3779B97F4A7C15 + 1
	for i := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = byte(x)
	}
	return p
}

func TestRingFIFOWrapAround(t *testing.T) {
	r := newTestRegion(t, smallGeometry)
	q := r.Commands()
	buf := make([]byte, q.MaxPayload())
	const total = 1000 // > Slots*10: indices wrap the slots many times
	pushed, popped := uint64(0), uint64(0)
	for batch := 1; popped < total; batch = batch%q.Cap() + 1 {
		for i := 0; i < batch && pushed < total; i++ {
			n := int(pushed*37) % (q.MaxPayload() + 1) // 0..MaxPayload
			if err := q.TryPush(uint32(pushed), testPayload(pushed, n)); err != nil {
				t.Fatalf("push %d: %v", pushed, err)
			}
			pushed++
		}
		if got, want := q.Len(), int(pushed-popped); got != want {
			t.Fatalf("Len = %d, want %d", got, want)
		}
		for popped < pushed {
			kind, p, ok := q.Pop(buf)
			if !ok {
				t.Fatalf("pop %d: ring empty, %d pushed", popped, pushed)
			}
			n := int(popped*37) % (q.MaxPayload() + 1)
			if kind != uint32(popped) || !bytes.Equal(p, testPayload(popped, n)) {
				t.Fatalf("pop %d: kind %d, %d bytes; want kind %d, %d bytes of testPayload", popped, kind, len(p), popped, n)
			}
			popped++
		}
	}
	if _, _, ok := q.Pop(buf); ok {
		t.Fatal("Pop returned a message from a drained ring")
	}
	if h, tl := q.head.Load(), q.tail.Load(); h != total || tl != total || tl <= uint64(q.Cap())*10 {
		t.Fatalf("head %d, tail %d after %d messages through %d slots", h, tl, total, q.Cap())
	}
}

func TestRingFull(t *testing.T) {
	r := newTestRegion(t, smallGeometry)
	q := r.Events()
	buf := make([]byte, q.MaxPayload())
	// Move the indices off zero first so that "full" straddles the wrap.
	for i := 0; i < 5; i++ {
		if err := q.TryPush(0, nil); err != nil {
			t.Fatal(err)
		}
		q.Pop(buf)
	}
	for i := 0; i < q.Cap(); i++ {
		if err := q.TryPush(uint32(i), testPayload(uint64(i), 10+i)); err != nil {
			t.Fatalf("push %d of %d: %v", i, q.Cap(), err)
		}
	}
	for i := 0; i < 3; i++ {
		if err := q.TryPush(99, testPayload(99, 50)); !errors.Is(err, ErrFull) {
			t.Fatalf("push into full ring: %v, want ErrFull", err)
		}
	}
	if q.Len() != q.Cap() {
		t.Fatalf("Len = %d, want %d", q.Len(), q.Cap())
	}
	for i := 0; i < q.Cap(); i++ {
		kind, p, ok := q.Pop(buf)
		if !ok || kind != uint32(i) || !bytes.Equal(p, testPayload(uint64(i), 10+i)) {
			t.Fatalf("pop %d: ok %v kind %d len %d: overwritten?", i, ok, kind, len(p))
		}
	}
	if _, _, ok := q.Pop(buf); ok {
		t.Fatal("extra message after draining a full ring")
	}
}

func TestRingSizes(t *testing.T) {
	r := newTestRegion(t, smallGeometry)
	q := r.Commands()
	buf := make([]byte, q.MaxPayload())
	if q.MaxPayload() != smallGeometry.SlotSize-8 {
		t.Fatalf("MaxPayload = %d", q.MaxPayload())
	}
	if _, _, ok := q.Pop(buf); ok {
		t.Fatal("Pop on an empty ring returned a message")
	}
	if err := q.TryPush(1, make([]byte, q.MaxPayload()+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized push: %v, want ErrTooLarge", err)
	}
	if err := q.Push(context.Background(), 1, make([]byte, 4096), nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized Push: %v, want ErrTooLarge", err)
	}
	if q.Len() != 0 {
		t.Fatalf("oversized push left %d messages", q.Len())
	}
	max := testPayload(7, q.MaxPayload())
	if err := q.TryPush(2, max); err != nil {
		t.Fatal(err)
	}
	if err := q.TryPush(3, nil); err != nil {
		t.Fatal(err)
	}
	if k, p, ok := q.Pop(buf); !ok || k != 2 || !bytes.Equal(p, max) {
		t.Fatalf("max-size message: ok %v kind %d len %d", ok, k, len(p))
	}
	if k, p, ok := q.Pop(buf); !ok || k != 3 || len(p) != 0 {
		t.Fatalf("empty message: ok %v kind %d len %d", ok, k, len(p))
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Pop with a short buffer did not panic")
			}
		}()
		q.Pop(make([]byte, q.MaxPayload()-1))
	}()
}

func TestRingReset(t *testing.T) {
	r := newTestRegion(t, smallGeometry)
	q := r.Commands()
	buf := make([]byte, q.MaxPayload())
	for i := 0; i < 5; i++ {
		if err := q.TryPush(uint32(i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	q.Reset()
	if q.Len() != 0 {
		t.Fatalf("Len after Reset = %d", q.Len())
	}
	if _, _, ok := q.Pop(buf); ok {
		t.Fatal("Pop after Reset returned a message")
	}
	for i := 0; i < q.Cap(); i++ { // the whole ring is free again
		if err := q.TryPush(uint32(100+i), []byte{byte(i)}); err != nil {
			t.Fatalf("push %d after Reset: %v", i, err)
		}
	}
	if k, p, ok := q.Pop(buf); !ok || k != 100 || !bytes.Equal(p, []byte{0}) {
		t.Fatalf("first message after Reset: ok %v kind %d payload %v", ok, k, p)
	}
}

func TestRingCorrupt(t *testing.T) {
	r := newTestRegion(t, smallGeometry)
	q := r.Commands()
	buf := make([]byte, q.MaxPayload())
	if err := q.Err(); err != nil {
		t.Fatalf("fresh ring: %v", err)
	}

	// Indices further apart than the ring is long.
	q.tail.Store(q.head.Load() + uint64(q.Cap()) + 3)
	if err := q.TryPush(1, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("TryPush on corrupt indices: %v", err)
	}
	if _, _, ok := q.Pop(buf); ok {
		t.Fatal("Pop on corrupt indices returned a message")
	}
	if err := q.Err(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Err on corrupt indices: %v", err)
	}
	q.Reset()
	if err := q.Err(); err != nil {
		t.Fatalf("after Reset: %v", err)
	}

	// A slot claiming more bytes than it holds.
	if err := q.TryPush(1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	off := int(q.head.Load()&q.mask) * q.slotSize
	ne.PutUint32(q.slots[off:], uint32(q.slotSize))
	if _, _, ok := q.Pop(buf); ok {
		t.Fatal("Pop of an overlong slot returned a message")
	}
	if err := q.Err(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Err on an overlong slot: %v", err)
	}
	q.Reset()
	if err := q.TryPush(2, []byte("ok")); err != nil {
		t.Fatal(err)
	}
	if k, p, ok := q.Pop(buf); !ok || k != 2 || string(p) != "ok" {
		t.Fatalf("after Reset: ok %v kind %d payload %q", ok, k, p)
	}
}

func fillRing(t *testing.T, q *Ring) {
	t.Helper()
	for i := 0; i < q.Cap(); i++ {
		if err := q.TryPush(uint32(i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPushWaitsForSpace and TestPushGivesUp run on synctest's fake clock,
// so the waits they measure are exact whatever the machine is doing.
func TestPushWaitsForSpace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTestRegion(t, smallGeometry)
		q := r.Commands()
		fillRing(t, q)

		const consumerDelay = 250 * time.Millisecond
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // slow consumer: frees one slot after a while
			defer wg.Done()
			time.Sleep(consumerDelay)
			buf := make([]byte, q.MaxPayload())
			if _, _, ok := q.Pop(buf); !ok {
				t.Error("consumer found the ring empty")
			}
		}()

		var calls atomic.Int32
		var waited atomic.Int64
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		err := q.Push(ctx, 42, []byte("late"), func(w time.Duration) {
			calls.Add(1)
			waited.Store(int64(w))
		})
		elapsed := time.Since(start)
		wg.Wait()
		if err != nil {
			t.Fatalf("Push: %v", err)
		}
		if elapsed < consumerDelay || elapsed > consumerDelay+pushBackoffMax {
			t.Fatalf("Push returned after %v; the consumer freed a slot at %v and the back-off is at most %v", elapsed, consumerDelay, pushBackoffMax)
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("onFull called %d times, want 1", n)
		}
		if w := time.Duration(waited.Load()); w <= pushFullReport || w > elapsed {
			t.Fatalf("onFull got waited = %v, want > %v and <= %v", w, pushFullReport, elapsed)
		}
		// The ring holds messages 1..Cap-1 and then ours, in order.
		buf := make([]byte, q.MaxPayload())
		for i := 1; i <= q.Cap(); i++ {
			k, p, ok := q.Pop(buf)
			want := uint32(i)
			if i == q.Cap() {
				want = 42
			}
			if !ok || k != want {
				t.Fatalf("message %d: ok %v kind %d, want %d (payload %q)", i, ok, k, want, p)
			}
		}
	})
}

func TestPushGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newTestRegion(t, smallGeometry)
		q := r.Commands()
		fillRing(t, q)

		for _, tc := range []struct {
			timeout time.Duration
			calls   int32
		}{
			{30 * time.Millisecond, 0},  // gives up before the 100ms report
			{250 * time.Millisecond, 1}, // reported once, then gives up
		} {
			var calls atomic.Int32
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			err := q.Push(ctx, 1, []byte("never"), func(time.Duration) { calls.Add(1) })
			elapsed := time.Since(start)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("timeout %v: Push = %v, want context.DeadlineExceeded", tc.timeout, err)
			}
			if elapsed != tc.timeout {
				t.Errorf("timeout %v: Push gave up after %v", tc.timeout, elapsed)
			}
			if n := calls.Load(); n != tc.calls {
				t.Errorf("timeout %v: onFull called %d times, want %d", tc.timeout, n, tc.calls)
			}
		}
		if q.Len() != q.Cap() {
			t.Fatalf("Len = %d after failed pushes", q.Len())
		}
		buf := make([]byte, q.MaxPayload())
		for i := 0; i < q.Cap(); i++ {
			if k, _, ok := q.Pop(buf); !ok || k != uint32(i) {
				t.Fatalf("message %d: ok %v kind %d: a failed Push overwrote a slot", i, ok, k)
			}
		}
	})
}

func TestRingNoAllocs(t *testing.T) {
	r := newTestRegion(t, smallGeometry)
	q := r.Commands()
	payload := testPayload(1, 100)
	buf := make([]byte, q.MaxPayload())
	if n := testing.AllocsPerRun(1000, func() {
		// The ring is full after Cap pushes: also covers the ErrFull path.
		if err := q.TryPush(7, payload); err != nil && err != ErrFull {
			panic(err)
		}
	}); n != 0 {
		t.Errorf("TryPush: %v allocations per call", n)
	}
	if n := testing.AllocsPerRun(1000, func() { q.Pop(buf) }); n != 0 {
		t.Errorf("Pop: %v allocations per call", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		if err := q.TryPush(7, payload); err != nil {
			panic(err)
		}
		if _, _, ok := q.Pop(buf); !ok {
			panic("empty")
		}
	}); n != 0 {
		t.Errorf("TryPush+Pop: %v allocations per pair", n)
	}
}
