package dataplane

import (
	"net/netip"
	"unsafe"

	"dsrlb/conf"
	"dsrlb/perf/stats"
	"dsrlb/pipeline"
)

// statSlots gives each service (by name) and each real server of a
// service (by service name and address) its counter slot, and keeps the
// stats section's directory. A key keeps its slot across transactions and
// rebuilds while it stays; a freed slot goes to the next new key with its
// epoch one higher, so the workers and the readers tell the owners apart.
// Keys that find no free slot are forwarded all the same and count in the
// overflow slot 0; they get a slot at a later transaction when one is
// free. Only the main goroutine uses it.
type statSlots struct {
	dir      *stats.Writer
	services map[string]serviceSlot
	backends map[backendKey]backendSlot
	// The epoch each slot was last given at (0: never); index 0 unused.
	svcEpoch, bkEpoch []uint64
	// unslotted services and real servers, as last committed
	unslottedSvcs, unslottedBks int
}

type serviceSlot struct {
	pipeline.StatSlot
	id stats.ServiceID
}

type backendKey struct {
	service string
	addr    netip.Addr
}

type backendSlot struct {
	pipeline.StatSlot
	id stats.BackendID
}

func newStatSlots(dir *stats.Writer) *statSlots {
	return &statSlots{
		dir:      dir,
		services: map[string]serviceSlot{},
		backends: map[backendKey]backendSlot{},
		svcEpoch: make([]uint64, dir.ServiceSlots()+1),
		bkEpoch:  make([]uint64, dir.BackendSlots()+1),
	}
}

// slotPlan is the slots of one configuration, not yet in force.
type slotPlan struct {
	services                    map[string]serviceSlot
	backends                    map[backendKey]backendSlot
	unslottedSvcs, unslottedBks int
}

// plan gives the services and real servers of pc their slots (in pc) and
// returns the plan to commit once pc is in force. It changes nothing of
// the slots in force: a configuration the pipeline refuses is forgotten.
func (ss *statSlots) plan(pc *pipeline.Config) *slotPlan {
	p := &slotPlan{services: map[string]serviceSlot{}, backends: map[backendKey]backendSlot{}}
	// Slots that stay taken: those of keys that are in pc and had one.
	takenSvc := make([]bool, len(ss.svcEpoch))
	takenBk := make([]bool, len(ss.bkEpoch))
	for _, sc := range pc.Services {
		if o, ok := ss.services[sc.Name]; ok {
			takenSvc[o.Slot] = true
			for _, b := range sc.Backends {
				if o, ok := ss.backends[backendKey{sc.Name, b.Addr}]; ok {
					takenBk[o.Slot] = true
				}
			}
		}
	}
	nextSvc, nextBk := 1, 1
	free := func(taken []bool, next *int) uint32 {
		for ; *next < len(taken); *next++ {
			if !taken[*next] {
				taken[*next] = true
				return uint32(*next)
			}
		}
		return 0
	}
	for i := range pc.Services {
		sc := &pc.Services[i]
		id := stats.ServiceID{Name: sc.Name, VIP: sc.VIP, Proto: sc.Proto, Port: sc.Port, Method: methodName(sc.Method)}
		s, ok := ss.services[sc.Name]
		if !ok {
			if k := free(takenSvc, &nextSvc); k != 0 {
				s = serviceSlot{StatSlot: pipeline.StatSlot{Slot: k, Epoch: ss.svcEpoch[k] + 1}}
			}
		}
		s.id = id
		sc.Stats = s.StatSlot
		if s.Slot == 0 {
			p.unslottedSvcs++
			p.unslottedBks += len(sc.Backends)
			continue
		}
		p.services[sc.Name] = s
		for j := range sc.Backends {
			b := &sc.Backends[j]
			key := backendKey{sc.Name, b.Addr}
			m := b.Method
			if m == 0 {
				m = sc.Method
			}
			bs, ok := ss.backends[key]
			if !ok || bs.id.ServiceEpoch != s.Epoch {
				bs = backendSlot{}
				if k := free(takenBk, &nextBk); k != 0 {
					bs.StatSlot = pipeline.StatSlot{Slot: k, Epoch: ss.bkEpoch[k] + 1}
				}
			}
			bs.id = stats.BackendID{Service: s.Slot, ServiceEpoch: s.Epoch, Addr: b.Addr, Method: methodName(m)}
			b.Stats = bs.StatSlot
			if bs.Slot == 0 {
				p.unslottedBks++
				continue
			}
			p.backends[key] = bs
		}
	}
	return p
}

// commit puts p in force: the directory first (freed slots, then new and
// changed records), before the snapshot that counts into them is
// published.
func (ss *statSlots) commit(p *slotPlan) {
	for key, o := range ss.backends {
		if n, ok := p.backends[key]; !ok || n.StatSlot != o.StatSlot {
			ss.dir.FreeBackend(o.Slot)
		}
	}
	for name, o := range ss.services {
		if n, ok := p.services[name]; !ok || n.StatSlot != o.StatSlot {
			ss.dir.FreeService(o.Slot)
		}
	}
	for name, n := range p.services {
		if o, ok := ss.services[name]; !ok || o != n {
			ss.dir.SetService(n.Slot, n.Epoch, n.id)
			ss.svcEpoch[n.Slot] = n.Epoch
		}
	}
	for key, n := range p.backends {
		if o, ok := ss.backends[key]; !ok || o != n {
			ss.dir.SetBackend(n.Slot, n.Epoch, n.id)
			ss.bkEpoch[n.Slot] = n.Epoch
		}
	}
	ss.services, ss.backends = p.services, p.backends
	ss.unslottedSvcs, ss.unslottedBks = p.unslottedSvcs, p.unslottedBks
	ss.dir.SetUnslotted(p.unslottedSvcs, p.unslottedBks)
}

// commitSlots puts the slots of the configuration being applied in
// force, and says when services or real servers have to share the
// overflow slot.
func (dp *Dataplane) commitSlots(p *slotPlan) {
	before, beforeBk := dp.slots.unslottedSvcs, dp.slots.unslottedBks
	dp.slots.commit(p)
	if p.unslottedSvcs != before || p.unslottedBks != beforeBk {
		if p.unslottedSvcs+p.unslottedBks > 0 {
			dp.log.Warn("counter slots full: some services or real servers count in the overflow slot",
				"services", p.unslottedSvcs, "real_servers", p.unslottedBks,
				"stats_services", dp.slots.dir.ServiceSlots(), "stats_backends", dp.slots.dir.BackendSlots())
		} else {
			dp.log.Info("every service and real server has counter slots again")
		}
	}
}

// methodName is m's name in the directory; 0 is the default, l2dsr.
func methodName(m conf.Method) string {
	if m == 0 {
		m = conf.MethodL2DSR
	}
	return m.String()
}

// workerStats places worker i's counter slots in the stats section.
func workerStats(dir *stats.Writer, i int) pipeline.Stats {
	g, s, b := dir.Worker(i)
	return pipeline.Stats{
		Services: unsafe.Slice((*pipeline.ServiceStats)(unsafe.Pointer(&s[0])), len(s)/stats.ServiceSlotBytes),
		Backends: unsafe.Slice((*pipeline.BackendStats)(unsafe.Pointer(&b[0])), len(b)/stats.BackendSlotBytes),
		Gauges:   (*pipeline.WorkerGauges)(unsafe.Pointer(&g[0])),
	}
}
