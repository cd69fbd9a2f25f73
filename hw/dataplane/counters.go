package dataplane

import (
	"strconv"
	"sync/atomic"
	"time"

	"dsrlb/perf/counters"
	"dsrlb/perf/shm"
	"dsrlb/pipeline"
)

// Global counters, in counters.Globals order (TestCounterTables checks).
const (
	gSnapshotGen = iota
	gCommits
	gCommitErrors
	gInjected
	gInjectFailed
	gFromKernel
	gFromKernelDropped
	gToKernelSent
	gToKernelDropped
	gEventsDropped
	gVRRPStates
	gVRRPStateErrors
	gVRRPMasters
	gVRRPAnnouncements
	gVRRPCtrlLost
	gMbufs
	gMbufsInUse
	gRingResets
	gKernelNeighbor
	numGlobal
)

// counterRefs are the first n counters of a shared-memory block, for
// atomic access.
func counterRefs(block []byte, n int) []*atomic.Uint64 {
	out := make([]*atomic.Uint64, n)
	for i := range out {
		out[i] = shm.Counter(block, 8*i)
	}
	return out
}

// globalCounters are the main goroutine's counters in shared memory.
type globalCounters struct{ c []*atomic.Uint64 }

func newGlobalCounters(r *shm.Region) *globalCounters {
	return &globalCounters{c: counterRefs(r.Global(), numGlobal)}
}

func (g *globalCounters) add(i int, n uint64) { g.c[i].Add(n) }
func (g *globalCounters) set(i int, v uint64) { g.c[i].Store(v) }

// Port counters, in counters.Ports order (TestCounterTables checks).
const (
	pIMissed = iota
	pRxNoMbuf
	pIErrors
	pOErrors
	pTxSent
	pTxRefused
	numPort
)

func portCounters(r *shm.Region) [][]*atomic.Uint64 {
	out := make([][]*atomic.Uint64, r.Geometry().Ports)
	for i := range out {
		out[i] = counterRefs(r.Port(i), numPort)
	}
	return out
}

// portPeriod is how often the ports' counters are copied to shared memory.
const portPeriod = 100 * time.Millisecond

// publishPorts copies the devices' counters and the workers' transmit
// counters into shared memory, at most every portPeriod (now zero: now).
func (dp *Dataplane) publishPorts(now time.Time) {
	if !now.IsZero() && now.Sub(dp.portsAt) < portPeriod {
		return
	}
	dp.portsAt = now
	for i, p := range dp.ports {
		if i >= len(dp.portCtr) {
			break
		}
		c := dp.portCtr[i]
		if st, err := p.ID.Stats(); err == nil {
			c[pIMissed].Store(st.InMissed)
			c[pRxNoMbuf].Store(st.RxNoMbuf)
			c[pIErrors].Store(st.InErrors)
			c[pOErrors].Store(st.OutErrors)
		}
		var sent, refused uint64
		for _, lc := range dp.lcores {
			s, r := lc.TxCounters(i)
			sent += s
			refused += r
		}
		c[pTxSent].Store(sent)
		c[pTxRefused].Store(refused)
	}
}

// logCounters logs every counter of shared memory that is not zero (the
// workers' summed), with the total of the drops and the received packets
// always. A port's counters are prefixed with its name: lan0_imissed.
func (dp *Dataplane) logCounters(msg string) {
	dp.publishPorts(time.Time{})
	names := make([]string, len(dp.ports))
	for i, p := range dp.ports {
		names[i] = p.Name
	}
	dp.log.Info(msg, counterAttrs(counters.Read(dp.shm), names)...)
}

// counterAttrs is the attributes of the counters log line.
func counterAttrs(v counters.Values, ports []string) []any {
	var drops uint64
	for i, x := range v.Workers {
		if dropNames[counters.Workers[i].Name] {
			drops += x
		}
	}
	rx := counters.Index(counters.Worker, "rx_packets")
	attrs := []any{"rx_packets", v.Workers[rx], "drops", drops}
	for i, x := range v.Workers {
		if i != rx && x != 0 {
			attrs = append(attrs, counters.Workers[i].Name, x)
		}
	}
	for i, x := range v.Global {
		if x != 0 {
			attrs = append(attrs, counters.Globals[i].Name, x)
		}
	}
	for p, pv := range v.Ports {
		name := "port" + strconv.Itoa(p)
		if p < len(ports) {
			name = ports[p]
		}
		for i, x := range pv {
			if x != 0 {
				attrs = append(attrs, name+"_"+counters.Ports[i].Name, x)
			}
		}
	}
	return attrs
}

// dropNames are the counters of the drop verdicts.
var dropNames = func() map[string]bool {
	m := map[string]bool{}
	for v := pipeline.Verdict(0); v < pipeline.NumVerdicts; v++ {
		if v.IsDrop() {
			m[v.String()] = true
		}
	}
	return m
}()
