package ctrl

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"dsrlb/ctrl/proto"
	"dsrlb/ctrl/shm"
)

// fakeDP plays the data plane's side of the protocol in-process: it
// creates the shared-memory file, beats its heartbeat, consumes commands
// (staging a transaction and applying it on commit, answering Dump) and
// answers with Hello, Applied and Dump* events, as the real data plane
// does (see package proto).
type fakeDP struct {
	t    *testing.T
	path string
	r    *shm.Region

	mu         sync.Mutex
	paused     bool          // consume nothing
	popEvery   time.Duration // consume one message per period (0: everything, every 2ms)
	fromConfig bool
	current    fakeState   // applied
	staging    *fakeState  // open transaction
	commits    []fakeState // every applied state, in order
	kinds      []uint32    // every command received, in order
	discarded  []uint64    // gens of transactions discarded by a new SyncBegin
	violations []string    // protocol errors seen
	snapshot   uint64

	stop chan struct{}
	done chan struct{}
}

// fakeState is a forwarding state as the data plane sees it.
type fakeState struct {
	Gen      uint64
	Services []proto.Service
	Backends map[string][]proto.Backend
}

// backends lists "ADDR:WEIGHT:STATE" of service svc, sorted.
func (s fakeState) backends(svc string) []string {
	var out []string
	for _, b := range s.Backends[svc] {
		out = append(out, fmt.Sprintf("%s:%d:%s", b.Addr, b.Weight, b.State))
	}
	slices.Sort(out)
	return out
}

const testSlots = 64

// startFakeDP creates the file at path with slots ring slots and runs
// the fake. boot is the state it "boots" with (from its configuration
// file: FromConfig until a ctrl commits).
func startFakeDP(t *testing.T, path string, slots int, boot fakeState) *fakeDP {
	t.Helper()
	r, _, err := shm.Create(path, shm.Geometry{
		SlotSize: proto.SlotSize, Slots: slots, Workers: 1,
		WorkerBytes: proto.WorkerBytes, GlobalBytes: proto.GlobalBytes,
	})
	if err != nil {
		t.Fatal(err)
	}
	if boot.Backends == nil {
		boot.Backends = map[string][]proto.Backend{}
	}
	f := &fakeDP{t: t, path: path, r: r, fromConfig: true, current: boot, stop: make(chan struct{}), done: make(chan struct{})}
	f.event(proto.KindHello, proto.Hello{BootID: r.BootID(), PID: 1})
	go f.run()
	t.Cleanup(f.close)
	return f
}

// close stops the fake and unmaps the file (the file stays, like a data
// plane that was killed).
func (f *fakeDP) close() {
	select {
	case <-f.stop:
		return
	default:
	}
	close(f.stop)
	<-f.done
	f.r.Close()
}

func (f *fakeDP) run() {
	defer close(f.done)
	buf := make([]byte, f.r.Commands().MaxPayload())
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	lastBeat, lastPop := time.Time{}, time.Time{}
	for {
		select {
		case <-f.stop:
			return
		case now := <-tick.C:
			if now.Sub(lastBeat) > 50*time.Millisecond {
				f.r.SetHeartbeat(shm.Dataplane, now)
				lastBeat = now
			}
			f.mu.Lock()
			paused, every := f.paused, f.popEvery
			f.mu.Unlock()
			if paused || every > 0 && now.Sub(lastPop) < every {
				continue
			}
			lastPop = now
			for range f.r.Commands().Cap() {
				kind, payload, ok := f.r.Commands().Pop(buf)
				if !ok {
					break
				}
				f.handle(kind, payload)
				if every > 0 {
					break
				}
			}
		}
	}
}

func (f *fakeDP) handle(kind uint32, payload []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kinds = append(f.kinds, kind)
	bad := func(format string, args ...any) { f.violations = append(f.violations, fmt.Sprintf(format, args...)) }
	switch kind {
	case proto.KindSyncBegin:
		var m proto.SyncBegin
		f.decode(payload, &m)
		if f.staging != nil {
			f.discarded = append(f.discarded, f.staging.Gen)
		}
		f.staging = &fakeState{Gen: m.Gen, Backends: map[string][]proto.Backend{}}
	case proto.KindService:
		var m proto.Service
		f.decode(payload, &m)
		if f.staging == nil {
			bad("service %s outside a transaction", m.Name)
			return
		}
		f.staging.Services = append(f.staging.Services, m)
	case proto.KindBackend:
		var m proto.Backend
		f.decode(payload, &m)
		switch {
		case f.staging == nil:
			bad("backend %s outside a transaction", m.Addr)
		case len(f.staging.Services) == 0 || f.staging.Services[len(f.staging.Services)-1].Name != m.Service:
			bad("backend %s of %s does not follow its service", m.Addr, m.Service)
		default:
			f.staging.Backends[m.Service] = append(f.staging.Backends[m.Service], m)
		}
	case proto.KindSyncCommit:
		var m proto.SyncCommit
		f.decode(payload, &m)
		if f.staging == nil || f.staging.Gen != m.Gen {
			bad("commit of gen %d without its SyncBegin", m.Gen)
			f.event(proto.KindApplied, proto.Applied{Gen: m.Gen, Error: "no such transaction", Snapshot: f.snapshot})
			return
		}
		f.current = *f.staging
		f.commits = append(f.commits, f.current)
		f.staging = nil
		f.fromConfig = false
		f.snapshot++
		f.event(proto.KindApplied, proto.Applied{Gen: m.Gen, Snapshot: f.snapshot})
	case proto.KindDump:
		var m proto.Dump
		f.decode(payload, &m)
		for _, s := range f.current.Services {
			f.event(proto.KindDumpService, s)
			for _, b := range f.current.Backends[s.Name] {
				f.event(proto.KindDumpBackend, b)
			}
		}
		f.event(proto.KindDumpEnd, proto.DumpEnd{Token: m.Token, Snapshot: f.snapshot, FromConfig: f.fromConfig})
	default:
		bad("unknown command kind %d", kind)
	}
}

func (f *fakeDP) decode(payload []byte, v any) {
	if err := proto.Decode(payload, v); err != nil {
		f.violations = append(f.violations, err.Error())
	}
}

// event pushes a message into the event ring (the ctrl polls it often, so
// a short wait is enough).
func (f *fakeDP) event(kind uint32, v any) {
	b, err := proto.Encode(v)
	if err != nil {
		f.t.Errorf("fake data plane: %v", err)
		return
	}
	for range 1000 {
		if err := f.r.Events().TryPush(kind, b); err != shm.ErrFull {
			return
		}
		time.Sleep(time.Millisecond)
	}
	f.t.Errorf("fake data plane: event ring stays full")
}

func (f *fakeDP) setPaused(p bool) {
	f.mu.Lock()
	f.paused = p
	f.mu.Unlock()
}

// snapshotState returns copies of what the fake recorded.
func (f *fakeDP) snapshotState() (cur fakeState, commits []fakeState, kinds []uint32, violations []string, discarded []uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current, slices.Clone(f.commits), slices.Clone(f.kinds), slices.Clone(f.violations), slices.Clone(f.discarded)
}

// waitCommit waits until the applied state satisfies ok.
func (f *fakeDP) waitCommit(t *testing.T, what string, timeout time.Duration, ok func(fakeState) bool) fakeState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		cur, commits, _, _, _ := f.snapshotState()
		if len(commits) > 0 && ok(cur) {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; applied state %+v after %d commits", what, cur, len(commits))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkClean fails the test on protocol violations.
func (f *fakeDP) checkClean(t *testing.T) {
	t.Helper()
	_, _, _, v, _ := f.snapshotState()
	for _, s := range v {
		t.Errorf("protocol violation: %s", s)
	}
}
