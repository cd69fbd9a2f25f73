package main

import (
	"fmt"
	"sync/atomic"

	"dsrlb/conf"
	"dsrlb/ctrl/proto"
	"dsrlb/ctrl/shm"
)

// appliedService is a service as the data plane applies it, with the
// states the control process gave its real servers (for dumps).
type appliedService struct {
	svc      proto.Service
	backends []proto.Backend
}

// modelFromConfig is the boot state: the configuration file's services,
// every real server up (weight 0: draining).
func modelFromConfig(c *conf.Config) []appliedService {
	var out []appliedService
	for i := range c.Services {
		s := &c.Services[i]
		m := appliedService{svc: s.Wire()}
		for j := range s.Backends {
			b := &s.Backends[j]
			st := proto.StateUp
			if b.Weight == 0 {
				st = proto.StateInhibited
			}
			m.backends = append(m.backends, s.WireBackend(b, b.Weight, st))
		}
		out = append(out, m)
	}
	return out
}

// txn is a transaction from the control process being received.
type txn struct {
	gen   uint64
	model []appliedService
	err   error // the first bad message; the commit then fails
}

// maxCommandsPerTick bounds the work one tick does on the command ring, so
// ARP and heartbeats keep their pace under a flood.
const maxCommandsPerTick = 4096

// pollCommands drains the command ring. Messages of an open transaction
// are staged; SyncCommit applies them all at once or not at all.
func (dp *dataplane) pollCommands() {
	ring := dp.shm.Commands()
	if dp.msgBuf == nil {
		dp.msgBuf = make([]byte, ring.MaxPayload())
	}
	for n := 0; n < maxCommandsPerTick; n++ {
		kind, payload, ok := ring.Pop(dp.msgBuf)
		if !ok {
			if err := ring.Err(); err != nil {
				dp.log.Error("command ring corrupt; resetting it", "err", err)
				ring.Reset()
				dp.txn = nil
			}
			return
		}
		dp.command(kind, payload)
	}
}

func (dp *dataplane) command(kind uint32, payload []byte) {
	switch kind {
	case proto.KindSyncBegin:
		var m proto.SyncBegin
		if err := proto.Decode(payload, &m); err != nil {
			dp.log.Error("bad command", "err", err)
			dp.txn = nil
			return
		}
		if dp.txn != nil {
			dp.log.Warn("transaction discarded: a new one began before its commit", "gen", dp.txn.gen)
		}
		dp.txn = &txn{gen: m.Gen}
	case proto.KindService:
		var m proto.Service
		err := proto.Decode(payload, &m)
		if t := dp.openTxn("service"); t != nil {
			if err != nil && t.err == nil {
				t.err = err
			}
			t.model = append(t.model, appliedService{svc: m})
		}
	case proto.KindBackend:
		var m proto.Backend
		err := proto.Decode(payload, &m)
		if t := dp.openTxn("backend"); t != nil {
			switch {
			case err != nil:
			case len(t.model) == 0 || t.model[len(t.model)-1].svc.Name != m.Service:
				err = fmt.Errorf("real server %s for service %q does not follow that service", m.Addr, m.Service)
			}
			if err != nil {
				if t.err == nil {
					t.err = err
				}
				return
			}
			last := &t.model[len(t.model)-1]
			last.backends = append(last.backends, m)
		}
	case proto.KindSyncCommit:
		var m proto.SyncCommit
		err := proto.Decode(payload, &m)
		t := dp.openTxn("commit")
		if t == nil {
			return
		}
		dp.txn = nil
		switch {
		case err != nil:
		case m.Gen != t.gen:
			err = fmt.Errorf("commit of transaction %d while %d is open", m.Gen, t.gen)
		case t.err != nil:
			err = t.err
		}
		if err == nil {
			err = dp.commit(t)
		}
		res := proto.Applied{Gen: t.gen, Snapshot: dp.snap.Load().Gen}
		if err != nil {
			res.Error = err.Error()
			dp.global.add(gCommitErrors, 1)
			dp.log.Error("control process transaction rejected; forwarding unchanged", "gen", t.gen, "err", err)
		} else {
			dp.global.add(gCommits, 1)
			dp.log.Info("control process transaction applied", "gen", t.gen, "services", len(t.model), "snapshot", res.Snapshot)
		}
		dp.send(proto.KindApplied, res)
	case proto.KindDump:
		var m proto.Dump
		if err := proto.Decode(payload, &m); err != nil {
			dp.log.Error("bad command", "err", err)
			return
		}
		dp.dump(m.Token)
	default:
		dp.log.Warn("unknown command ignored", "kind", kind)
	}
}

// openTxn returns the open transaction, or logs that a message came
// outside one (a control process that died half-way and a new one that
// did not begin yet).
func (dp *dataplane) openTxn(what string) *txn {
	if dp.txn == nil {
		dp.log.Warn("command outside a transaction ignored", "command", what)
	}
	return dp.txn
}

func (dp *dataplane) commit(t *txn) error {
	pcfg, err := dp.compile(t.model)
	if err != nil {
		return err
	}
	if err := dp.apply(t.model, pcfg); err != nil {
		return err
	}
	dp.fromConf = false
	return nil
}

// dump reports the applied state to the control process, and the real
// servers' link-layer state.
func (dp *dataplane) dump(token uint64) {
	for _, m := range dp.model {
		dp.send(proto.KindDumpService, m.svc)
		for _, b := range m.backends {
			dp.send(proto.KindDumpBackend, b)
		}
	}
	for _, n := range dp.resolver.State() {
		ev := proto.Neighbor{Addr: n.IP, Resolved: n.Resolved}
		if n.Resolved {
			ev.MAC = n.MAC.String()
			if int(n.Port) < len(dp.ports) {
				ev.Port = dp.ports[n.Port].Name
			}
		}
		dp.send(proto.KindNeighbor, ev)
	}
	dp.send(proto.KindDumpEnd, proto.DumpEnd{Token: token, Snapshot: dp.snap.Load().Gen, FromConfig: dp.fromConf})
}

// send puts an event on the event ring. It never waits: with no control
// process reading, events are dropped and counted.
func (dp *dataplane) send(kind uint32, msg any) {
	b, err := proto.Encode(msg)
	if err == nil {
		err = dp.shm.Events().TryPush(kind, b)
	}
	if err != nil {
		dp.global.add(gEventsDropped, 1)
	}
}

// Global counters, in proto.GlobalCounters order.
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
	numGlobal
)

// globalCounters are the main goroutine's counters in shared memory.
type globalCounters struct{ c [numGlobal]*atomic.Uint64 }

func newGlobalCounters(r *shm.Region) *globalCounters {
	g := &globalCounters{}
	for i := range g.c {
		g.c[i] = shm.Counter(r.Global(), 8*i)
	}
	return g
}

func (g *globalCounters) add(i int, n uint64) { g.c[i].Add(n) }
func (g *globalCounters) set(i int, v uint64) { g.c[i].Store(v) }
func (g *globalCounters) get(i int) uint64    { return g.c[i].Load() }
