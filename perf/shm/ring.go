package shm

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"
)

// Back-off of Push while the ring is full.
const (
	pushBackoffStart = 50 * time.Microsecond
	pushBackoffMax   = 10 * time.Millisecond
	pushFullReport   = 100 * time.Millisecond
)

// Ring is one single-producer/single-consumer ring inside a mapped file.
// TryPush and Push may only be called by the ring's producer, Pop and Reset
// only by its consumer; the producer and the consumer may run concurrently
// in different goroutines or processes. A Ring must not be used after its
// Region is closed.
type Ring struct {
	head     *atomic.Uint64 // consumer index, in the mapping
	tail     *atomic.Uint64 // producer index, in the mapping
	slots    []byte         // count*slotSize bytes, in the mapping
	mask     uint64
	count    uint64
	slotSize int
}

func newRing(region []byte, slotSize, count int) Ring {
	return Ring{
		head:     (*atomic.Uint64)(unsafe.Pointer(&region[ringHeadOff])),
		tail:     (*atomic.Uint64)(unsafe.Pointer(&region[ringTailOff])),
		slots:    region[ringSlotsOff : ringSlotsOff+slotSize*count : ringSlotsOff+slotSize*count],
		mask:     uint64(count - 1),
		count:    uint64(count),
		slotSize: slotSize,
	}
}

// Cap is the number of slots.
func (q *Ring) Cap() int { return int(q.count) }

// SlotSize is the size of one slot, including its 8-byte header.
func (q *Ring) SlotSize() int { return q.slotSize }

// MaxPayload is the largest payload TryPush accepts: SlotSize-8.
func (q *Ring) MaxPayload() int { return q.slotSize - SlotHeaderSize }

// Len is the number of messages waiting. Exact for the consumer; for
// anyone else a snapshot that may be stale by the time it returns.
func (q *Ring) Len() int {
	h := q.head.Load()
	t := q.tail.Load()
	return int(min(t-h, q.count)) // clamped: a non-consumer's head may be stale
}

// TryPush copies one message into the ring. It returns ErrTooLarge if
// payload is longer than MaxPayload, ErrFull if no slot is free (nothing is
// overwritten), ErrCorrupt if the indices are inconsistent. It never blocks
// and never allocates. Producer only.
func (q *Ring) TryPush(kind uint32, payload []byte) error {
	if len(payload) > q.slotSize-SlotHeaderSize {
		return ErrTooLarge
	}
	t := q.tail.Load() // ours: exact
	h := q.head.Load() // acquire: the consumer is done with every slot before h
	if used := t - h; used >= q.count {
		if used == q.count {
			return ErrFull
		}
		return ErrCorrupt
	}
	off := int(t&q.mask) * q.slotSize
	s := q.slots[off : off+q.slotSize]
	ne.PutUint32(s[0:4], uint32(len(payload)))
	ne.PutUint32(s[4:8], kind)
	copy(s[SlotHeaderSize:], payload)
	q.tail.Store(t + 1) // release: publishes the slot
	return nil
}

// Push is TryPush that waits while the ring is full (see WaitRoom) until
// the message is in or ctx is done, in which case it returns ctx.Err(). The
// first attempt is made even if ctx is already done. Errors other than
// ErrFull are returned at once. Producer only.
func (q *Ring) Push(ctx context.Context, kind uint32, payload []byte, onFull func(waited time.Duration)) error {
	err := q.TryPush(kind, payload)
	if err != ErrFull {
		return err
	}
	if err := q.WaitRoom(ctx, 1, onFull); err != nil {
		return err
	}
	// Only the producer adds messages, so the room is still there.
	return q.TryPush(kind, payload)
}

// WaitRoom waits until the ring has n free slots, retrying with
// exponential back-off (50µs doubling up to 10ms), or until ctx is done
// (ctx.Err()). If the wait exceeds 100ms it calls onFull(waited) once
// (onFull may be nil) so that the caller can log that the ring is full.
// Producer only: the free room only grows while the producer waits.
func (q *Ring) WaitRoom(ctx context.Context, n int, onFull func(waited time.Duration)) error {
	if q.Cap()-q.Len() >= n {
		return nil
	}
	start := time.Now()
	delay := pushBackoffStart
	timer := time.NewTimer(delay)
	defer timer.Stop()
	reported := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		if q.Cap()-q.Len() >= n {
			return nil
		}
		if waited := time.Since(start); !reported && waited > pushFullReport {
			reported = true
			if onFull != nil {
				onFull(waited)
			}
		}
		delay = min(2*delay, pushBackoffMax)
		timer.Reset(delay)
	}
}

// Pop copies the oldest message into buf and returns its kind and payload
// (a prefix of buf). ok is false if the ring is empty, or if it is corrupt
// (see Err). It never blocks and never allocates; it panics if buf is
// shorter than MaxPayload. Consumer only.
func (q *Ring) Pop(buf []byte) (kind uint32, payload []byte, ok bool) {
	max := q.slotSize - SlotHeaderSize
	if len(buf) < max {
		panic("shm: Ring.Pop: buffer shorter than MaxPayload")
	}
	h := q.head.Load() // ours: exact
	t := q.tail.Load() // acquire: slots before t are written
	if t == h || t-h > q.count {
		return 0, nil, false
	}
	off := int(h&q.mask) * q.slotSize
	s := q.slots[off : off+q.slotSize]
	n := ne.Uint32(s[0:4])
	if n > uint32(max) {
		return 0, nil, false
	}
	kind = ne.Uint32(s[4:8])
	copy(buf, s[SlotHeaderSize:SlotHeaderSize+int(n)])
	q.head.Store(h + 1) // release: the slot may be reused
	return kind, buf[:n], true
}

// Err reports whether the ring violates its invariants (indices more than
// Cap apart, or the next slot claiming a payload longer than MaxPayload):
// in that case Pop returns ok == false forever and the consumer should
// Reset. Exact for the consumer only.
func (q *Ring) Err() error {
	h := q.head.Load()
	t := q.tail.Load()
	if t-h > q.count {
		return fmt.Errorf("%w: head %d, tail %d, %d slots", ErrCorrupt, h, t, q.count)
	}
	if t != h {
		off := int(h&q.mask) * q.slotSize
		if n := ne.Uint32(q.slots[off:]); n > uint32(q.slotSize-SlotHeaderSize) {
			return fmt.Errorf("%w: message %d claims %d bytes, slots hold %d", ErrCorrupt, h, n, q.slotSize-SlotHeaderSize)
		}
	}
	return nil
}

// Reset discards every waiting message (head = tail). Consumer only; used
// when resynchronising, e.g. after the other side restarted or after
// ErrCorrupt.
func (q *Ring) Reset() {
	q.head.Store(q.tail.Load())
}
