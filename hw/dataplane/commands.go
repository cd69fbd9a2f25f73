package dataplane

import (
	"dsrlb/conf/wire"
	"time"
)

// The command protocol: the control process's messages arrive on the
// command ring and go through the wire.Receiver, which stages a
// transaction and calls back Apply (dataplane.go), Snapshot, DumpNeighbors
// and Send here. Events go back on the event ring.

// maxCommandsPerTick bounds the work one tick does on the command ring, so
// ARP and heartbeats keep their pace under a flood.
const maxCommandsPerTick = 4096

// pollCommands drains the command ring into the receiver.
func (dp *Dataplane) pollCommands() {
	ring := dp.shm.Commands()
	if dp.msgBuf == nil {
		dp.msgBuf = make([]byte, ring.MaxPayload())
	}
	defer dp.countCommits()
	for n := 0; n < maxCommandsPerTick; n++ {
		kind, payload, ok := ring.Pop(dp.msgBuf)
		if !ok {
			if err := ring.Err(); err != nil {
				dp.ringCorrupt(err)
				ring.Reset()
				dp.receiver.Reset()
			}
			return
		}
		dp.receiver.Handle(dp, kind, payload)
	}
}

// ringCorruptLogEvery is how often a command ring that keeps being found
// corrupt is logged again (with the count since): a process writing
// garbage into it must not flood the log.
const ringCorruptLogEvery = time.Minute

// ringCorrupt counts a corrupt command ring (its indices or a slot's
// length impossible: another process wrote into it), and logs it the
// first time and then at most every ringCorruptLogEvery.
func (dp *Dataplane) ringCorrupt(err error) {
	dp.global.add(gRingResets, 1)
	dp.ringResets++
	now := dp.clockNow()
	if !dp.ringLogged.IsZero() && now.Sub(dp.ringLogged) < ringCorruptLogEvery {
		return
	}
	dp.log.Error("command ring corrupt: resetting it and dropping the transaction under way (another process wrote into it?)",
		"err", err, "times", dp.ringResets)
	dp.ringLogged, dp.ringResets = now, 0
}

// clockNow is dp.now, or the time.
func (dp *Dataplane) clockNow() time.Time {
	if dp.now != nil {
		return dp.now()
	}
	return time.Now()
}

// countCommits mirrors the receiver's counts into shared memory.
func (dp *Dataplane) countCommits() {
	st := dp.receiver.Stats()
	dp.global.set(gCommits, st.Commits)
	dp.global.set(gCommitErrors, st.CommitErrors)
	dp.global.set(gVRRPStates, st.VRRPStates)
	dp.global.set(gVRRPStateErrors, st.VRRPErrors)
}

// Snapshot is the generation of the snapshot in force (wire.Handler).
func (dp *Dataplane) Snapshot() uint64 { return dp.snap.Load().Gen }

// DumpNeighbors reports the real servers' link-layer state, at the end of
// a dump (wire.Handler).
func (dp *Dataplane) DumpNeighbors() {
	for _, n := range dp.neighbors.resolver.State() {
		ev := wire.Neighbor{Addr: n.IP, Resolved: n.Resolved}
		if n.Resolved {
			ev.MAC = n.MAC.String()
			if int(n.Port) < len(dp.ports) {
				ev.Port = dp.ports[n.Port].Name
			}
		}
		dp.Send(wire.KindNeighbor, ev)
	}
}

// Send puts an event on the event ring (wire.Handler). It never waits:
// with no control process reading, events are dropped and counted.
func (dp *Dataplane) Send(kind uint32, msg any) {
	b, err := wire.Encode(msg)
	if err == nil {
		err = dp.shm.Events().TryPush(kind, b)
	}
	if err != nil {
		dp.global.add(gEventsDropped, 1)
	}
}
