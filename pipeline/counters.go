package pipeline

import "sync/atomic"

// Counters are one worker's totals. The worker keeps a private copy it
// increments with plain adds and publishes to its shared Counters every few
// bursts (and whenever it goes idle) with atomic stores, so readers on other
// goroutines (and the control process, when the shared copy lives in shared
// memory) never race and the hot path never pays for an atomic per packet.
//
// The layout is fixed: uint64 fields only, in the order of CounterNames,
// which is the shared-memory layout of perf/counters.Workers.
type Counters struct {
	RxPackets uint64
	RxBytes   uint64
	TxBytes   uint64 // bytes of transmitted packets
	Verdicts  [NumVerdicts]uint64
	// LearnOverflow counts MACs the resolver did not get because its
	// ring was full.
	LearnOverflow uint64
	// Connection tracking: lookups that found the flow, lookups that did
	// not (new flows, or flows older than the idle timeout), live
	// entries evicted because their bucket was full, and SYNs not tracked
	// because their bucket held established flows only.
	CTHits, CTMisses, CTFull, CTUntracked uint64
	// CTFullEstablished counts the evictions (in CTFull) of flows past
	// their handshake: the table is too small for the established flows.
	CTFullEstablished uint64
	// PersistHits counts new flows sent to their client's persisted
	// real server.
	PersistHits uint64
	// Probes counts the DSR path probes sent to their real server;
	// ProbeDrops those that could not be (MAC unknown, too large).
	Probes, ProbeDrops uint64
}

// CounterNames lists the counters in layout order.
func CounterNames() []string {
	names := []string{"rx_packets", "rx_bytes", "tx_bytes"}
	for v := Verdict(0); v < NumVerdicts; v++ {
		names = append(names, v.String())
	}
	return append(names, "learn_overflow", "conntrack_hits", "conntrack_misses", "conntrack_full", "conntrack_untracked", "conntrack_full_established", "persistence_hits", "dsr_probes", "dsr_probe_drops")
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
	atomic.StoreUint64(&dst.CTHits, c.CTHits)
	atomic.StoreUint64(&dst.CTMisses, c.CTMisses)
	atomic.StoreUint64(&dst.CTFull, c.CTFull)
	atomic.StoreUint64(&dst.CTUntracked, c.CTUntracked)
	atomic.StoreUint64(&dst.CTFullEstablished, c.CTFullEstablished)
	atomic.StoreUint64(&dst.PersistHits, c.PersistHits)
	atomic.StoreUint64(&dst.Probes, c.Probes)
	atomic.StoreUint64(&dst.ProbeDrops, c.ProbeDrops)
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
	out.CTHits = atomic.LoadUint64(&c.CTHits)
	out.CTMisses = atomic.LoadUint64(&c.CTMisses)
	out.CTFull = atomic.LoadUint64(&c.CTFull)
	out.CTUntracked = atomic.LoadUint64(&c.CTUntracked)
	out.CTFullEstablished = atomic.LoadUint64(&c.CTFullEstablished)
	out.PersistHits = atomic.LoadUint64(&c.PersistHits)
	out.Probes = atomic.LoadUint64(&c.Probes)
	out.ProbeDrops = atomic.LoadUint64(&c.ProbeDrops)
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
	c.CTHits += o.CTHits
	c.CTMisses += o.CTMisses
	c.CTFull += o.CTFull
	c.CTUntracked += o.CTUntracked
	c.CTFullEstablished += o.CTFullEstablished
	c.PersistHits += o.PersistHits
	c.Probes += o.Probes
	c.ProbeDrops += o.ProbeDrops
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
