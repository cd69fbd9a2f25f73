package pipeline

import "sync/atomic"

// Counters are one worker's totals. The worker keeps a private copy it
// increments with plain adds and publishes to its shared Counters every few
// bursts (and whenever it goes idle) with atomic stores, so readers on other
// goroutines never race and the hot path never pays for an atomic per
// packet. The struct is padded so two workers' counters never share a cache
// line.
type Counters struct {
	RxPackets uint64
	RxBytes   uint64
	TxBytes   uint64 // bytes of transmitted packets
	Verdicts  [NumVerdicts]uint64
	// LearnOverflow counts MACs the resolver did not get because its
	// ring was full.
	LearnOverflow uint64
	_             [64]byte
}

// publish copies c into dst with atomic stores.
func (c *Counters) publish(dst *Counters) {
	atomic.StoreUint64(&dst.RxPackets, c.RxPackets)
	atomic.StoreUint64(&dst.RxBytes, c.RxBytes)
	atomic.StoreUint64(&dst.TxBytes, c.TxBytes)
	for i := range c.Verdicts {
		atomic.StoreUint64(&dst.Verdicts[i], c.Verdicts[i])
	}
	atomic.StoreUint64(&dst.LearnOverflow, c.LearnOverflow)
}

// Load returns a copy of published counters; safe from any goroutine.
func (c *Counters) Load() Counters {
	var out Counters
	out.RxPackets = atomic.LoadUint64(&c.RxPackets)
	out.RxBytes = atomic.LoadUint64(&c.RxBytes)
	out.TxBytes = atomic.LoadUint64(&c.TxBytes)
	for i := range c.Verdicts {
		out.Verdicts[i] = atomic.LoadUint64(&c.Verdicts[i])
	}
	out.LearnOverflow = atomic.LoadUint64(&c.LearnOverflow)
	return out
}

// Add adds o to c (aggregation across workers, slow path).
func (c *Counters) Add(o *Counters) {
	c.RxPackets += o.RxPackets
	c.RxBytes += o.RxBytes
	c.TxBytes += o.TxBytes
	for i := range c.Verdicts {
		c.Verdicts[i] += o.Verdicts[i]
	}
	c.LearnOverflow += o.LearnOverflow
}

// Drops is the sum of all drop verdicts.
func (c *Counters) Drops() uint64 {
	var n uint64
	for v := Verdict(0); v < NumVerdicts; v++ {
		if v.IsDrop() {
			n += c.Verdicts[v]
		}
	}
	return n
}
