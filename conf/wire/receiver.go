package wire

import (
	"fmt"
	"log/slog"
)

// ServiceModel is one service and its real servers as the data plane
// applies them, with the states the control process gave the real servers.
type ServiceModel struct {
	Service  Service
	Backends []Backend
	Probes   []Probe
}

// Model is a whole forwarding state, in the order it was sent.
type Model struct {
	Services []ServiceModel
	Groups   []VRRPGroup
}

// Handler is what the data plane does with the commands a Receiver
// accepts.
type Handler interface {
	// Apply makes model the forwarding state, all of it or nothing.
	Apply(model Model) error
	// Snapshot is the generation of the snapshot in force.
	Snapshot() uint64
	// DumpNeighbors sends a Neighbor event for every next hop tracked.
	DumpNeighbors()
	// SetVRRP applies a VRRP group's state at once.
	SetVRRP(st VRRPState) error
	// Send puts an event on the event ring. It never waits.
	Send(kind uint32, msg any)
}

// ReceiverStats count what a Receiver did.
type ReceiverStats struct {
	Commits      uint64 // transactions applied
	CommitErrors uint64 // transactions rejected (bad message, gen mismatch, Apply failed)
	Discarded    uint64 // transactions cut short: a SyncBegin came before their commit
	// LastDiscarded is the gen of the last transaction discarded.
	LastDiscarded uint64
	Ignored       uint64 // messages outside a transaction, undecodable or of an unknown kind
	VRRPStates    uint64 // VRRPState messages applied
	VRRPErrors    uint64 // VRRPState messages rejected (undecodable, unknown group)
}

// Receiver is the data plane's side of the command protocol (see the
// package documentation): it stages the messages of a transaction and, on
// its SyncCommit, has the Handler apply all of it or nothing, and answers
// Applied; it answers Dump from the model last applied. The data plane runs
// one in its main goroutine; it is not safe for concurrent use.
type Receiver struct {
	log        *slog.Logger
	open       *txn // transaction being received, or nil
	applied    Model
	fromConfig bool
	stats      ReceiverStats
}

// txn is a transaction being received.
type txn struct {
	gen   uint64
	model Model
	err   error // the first bad message; the commit then fails
}

// NewReceiver returns a Receiver whose applied state is boot, the data
// plane's configuration file (FromConfig until a commit succeeds). log nil
// discards.
func NewReceiver(boot Model, log *slog.Logger) *Receiver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Receiver{log: log, applied: boot, fromConfig: true}
}

// Applied returns the model in force and whether it is still the
// configuration file's.
func (r *Receiver) Applied() (m Model, fromConfig bool) { return r.applied, r.fromConfig }

// Stats returns the counts so far.
func (r *Receiver) Stats() ReceiverStats { return r.stats }

// Reset forgets an open transaction (the command ring was found corrupt:
// its messages are gone).
func (r *Receiver) Reset() { r.open = nil }

// Handle processes one command.
func (r *Receiver) Handle(h Handler, kind uint32, payload []byte) {
	switch kind {
	case KindSyncBegin:
		var m SyncBegin
		if err := Decode(payload, &m); err != nil {
			r.log.Error("bad command", "err", err)
			r.stats.Ignored++
			r.open = nil
			return
		}
		if r.open != nil {
			r.log.Warn("transaction discarded: a new one began before its commit", "gen", r.open.gen)
			r.stats.Discarded++
			r.stats.LastDiscarded = r.open.gen
		}
		r.open = &txn{gen: m.Gen}
	case KindService:
		var m Service
		err := Decode(payload, &m)
		if t := r.txn("service"); t != nil {
			t.fail(err)
			t.model.Services = append(t.model.Services, ServiceModel{Service: m})
		}
	case KindVRRPGroup:
		var m VRRPGroup
		err := Decode(payload, &m)
		if t := r.txn("vrrp group"); t != nil {
			t.fail(err)
			t.model.Groups = append(t.model.Groups, m)
		}
	case KindVRRPState:
		var m VRRPState
		err := Decode(payload, &m)
		if err == nil {
			err = h.SetVRRP(m)
		}
		if err != nil {
			r.stats.VRRPErrors++
			r.log.Error("VRRP state rejected", "err", err)
			return
		}
		r.stats.VRRPStates++
	case KindBackend:
		var m Backend
		err := Decode(payload, &m)
		if t := r.txn("backend"); t != nil {
			svcs := t.model.Services
			if err == nil && (len(svcs) == 0 || svcs[len(svcs)-1].Service.Name != m.Service) {
				err = fmt.Errorf("real server %s for service %q does not follow that service", m.Addr, m.Service)
			}
			if err != nil {
				t.fail(err)
				return
			}
			last := &svcs[len(svcs)-1]
			last.Backends = append(last.Backends, m)
		}
	case KindProbe:
		var m Probe
		err := Decode(payload, &m)
		if t := r.txn("probe"); t != nil {
			svcs := t.model.Services
			if err == nil && (len(svcs) == 0 || svcs[len(svcs)-1].Service.Name != m.Service) {
				err = fmt.Errorf("probe of %s for service %q does not follow that service", m.Addr, m.Service)
			}
			if err != nil {
				t.fail(err)
				return
			}
			last := &svcs[len(svcs)-1]
			last.Probes = append(last.Probes, m)
		}
	case KindSyncCommit:
		var m SyncCommit
		err := Decode(payload, &m)
		t := r.txn("commit")
		if t == nil {
			return
		}
		r.open = nil
		r.commit(h, t, m, err)
	case KindDump:
		var m Dump
		if err := Decode(payload, &m); err != nil {
			r.log.Error("bad command", "err", err)
			r.stats.Ignored++
			return
		}
		r.dump(h, m.Token)
	default:
		r.log.Warn("unknown command ignored", "kind", kind)
		r.stats.Ignored++
	}
}

// txn returns the open transaction, or logs that a message came outside
// one (a control process that died half-way and a new one that did not
// begin yet).
func (r *Receiver) txn(what string) *txn {
	if r.open == nil {
		r.log.Warn("command outside a transaction ignored", "command", what)
		r.stats.Ignored++
	}
	return r.open
}

func (t *txn) fail(err error) {
	if err != nil && t.err == nil {
		t.err = err
	}
}

// commit applies t, closed by m (whose decoding failed with decodeErr),
// and answers Applied.
func (r *Receiver) commit(h Handler, t *txn, m SyncCommit, decodeErr error) {
	err := decodeErr
	switch {
	case err != nil:
	case m.Gen != t.gen:
		err = fmt.Errorf("commit of transaction %d while %d is open", m.Gen, t.gen)
	case t.err != nil:
		err = t.err
	}
	if err == nil {
		err = h.Apply(t.model)
	}
	res := Applied{Gen: t.gen, Snapshot: h.Snapshot()}
	if err != nil {
		res.Error = err.Error()
		r.stats.CommitErrors++
		r.log.Error("control process transaction rejected; forwarding unchanged", "gen", t.gen, "err", err)
	} else {
		r.applied, r.fromConfig = t.model, false
		r.stats.Commits++
		r.log.Info("control process transaction applied", "gen", t.gen, "services", len(t.model.Services), "vrrp_groups", len(t.model.Groups), "snapshot", res.Snapshot)
	}
	h.Send(KindApplied, res)
}

// dump reports the applied state and the next hops' link-layer state.
func (r *Receiver) dump(h Handler, token uint64) {
	for _, m := range r.applied.Services {
		h.Send(KindDumpService, m.Service)
		for _, b := range m.Backends {
			h.Send(KindDumpBackend, b)
		}
	}
	h.DumpNeighbors()
	h.Send(KindDumpEnd, DumpEnd{Token: token, Snapshot: h.Snapshot(), FromConfig: r.fromConfig})
}
