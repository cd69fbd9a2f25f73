package pipeline

import "sync/atomic"

// Ring is a bounded single-producer single-consumer queue between two
// goroutines (a worker lcore and the main goroutine). Push and Pop never
// block and never allocate; the head and tail live on their own cache
// lines.
type Ring[T any] struct {
	_    [64]byte
	head atomic.Uint64 // next slot to pop; written by the consumer
	_    [56]byte
	tail atomic.Uint64 // next slot to push; written by the producer
	_    [56]byte
	mask uint64
	buf  []T
}

// NewRing makes a ring of size slots, rounded up to a power of two.
func NewRing[T any](size int) *Ring[T] {
	n := 1
	for n < size {
		n <<= 1
	}
	return &Ring[T]{mask: uint64(n - 1), buf: make([]T, n)}
}

// Push appends v; it reports false when the ring is full.
func (r *Ring[T]) Push(v T) bool {
	t := r.tail.Load()
	if t-r.head.Load() > r.mask {
		return false
	}
	r.buf[t&r.mask] = v
	r.tail.Store(t + 1)
	return true
}

// Pop removes the oldest element; ok is false when the ring is empty.
func (r *Ring[T]) Pop() (v T, ok bool) {
	h := r.head.Load()
	if h == r.tail.Load() {
		return v, false
	}
	v = r.buf[h&r.mask]
	r.head.Store(h + 1)
	return v, true
}

// Len is the number of queued elements (approximate while both sides run).
func (r *Ring[T]) Len() int { return int(r.tail.Load() - r.head.Load()) }

// Cap is the ring's capacity.
func (r *Ring[T]) Cap() int { return len(r.buf) }
