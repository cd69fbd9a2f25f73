package ctrl

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"dsrlb/conf/wire"
	"dsrlb/perf/shm"
)

// fakeDP plays the data plane's side of the protocol in-process: it
// creates the shared-memory file, beats its heartbeat and feeds the
// commands to the same wire.Receiver the data plane runs, applying a
// transaction by recording it. Only forwarding is missing.
type fakeDP struct {
	t    *testing.T
	path string
	r    *shm.Region

	mu         sync.Mutex
	rx         *wire.Receiver
	rxLog      *syncBuffer
	stats      wire.ReceiverStats // as of the last command
	paused     bool               // consume nothing
	silent     bool               // no heartbeat (a hung data plane)
	popEvery   time.Duration      // consume one message per period (0: everything, every 2ms)
	current    fakeState          // applied
	commits    []fakeState        // every applied state, in order
	vrrp       []wire.VRRPState   // every VRRP state applied, in order
	kinds      []uint32           // every command received, in order
	discarded  []uint64           // gens of transactions discarded by a new SyncBegin
	violations []string           // protocol errors seen
	snapshot   uint64

	stop chan struct{}
	done chan struct{}
}

// fakeState is a forwarding state as the data plane sees it.
type fakeState struct {
	Services []wire.Service
	Backends map[string][]wire.Backend
	Probes   map[string][]wire.Probe
	Groups   []wire.VRRPGroup
}

func stateOf(m wire.Model) fakeState {
	s := fakeState{Backends: map[string][]wire.Backend{}, Groups: m.Groups}
	for _, sm := range m.Services {
		s.Services = append(s.Services, sm.Service)
		s.Backends[sm.Service.Name] = append(s.Backends[sm.Service.Name], sm.Backends...)
		if len(sm.Probes) > 0 {
			if s.Probes == nil {
				s.Probes = map[string][]wire.Probe{}
			}
			s.Probes[sm.Service.Name] = append(s.Probes[sm.Service.Name], sm.Probes...)
		}
	}
	return s
}

func (s fakeState) model() wire.Model {
	m := wire.Model{Groups: s.Groups}
	for _, svc := range s.Services {
		m.Services = append(m.Services, wire.ServiceModel{Service: svc, Backends: s.Backends[svc.Name], Probes: s.Probes[svc.Name]})
	}
	return m
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
	g := wire.Geometry(1, 1)
	g.Slots = slots
	r, _, err := shm.Create(path, g)
	if err != nil {
		t.Fatal(err)
	}
	if boot.Backends == nil {
		boot.Backends = map[string][]wire.Backend{}
	}
	logs := &syncBuffer{}
	f := &fakeDP{t: t, path: path, r: r, rxLog: logs, current: boot, stop: make(chan struct{}), done: make(chan struct{}),
		rx: wire.NewReceiver(boot.model(), slog.New(slog.NewTextHandler(logs, nil)))}
	f.event(wire.KindHello, wire.Hello{BootID: r.BootID(), PID: 1})
	go f.run()
	t.Cleanup(f.close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("fake data plane's receiver log:\n%s", logs)
		}
	})
	return f
}

// commitDirect applies st as a transaction of an earlier control process
// would have, before the one under test connects: FromConfig is false
// afterwards. It leaves no trace in the recorded commands and commits.
func (f *fakeDP) commitDirect(st fakeState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	feed := func(kind uint32, v any) {
		b, err := wire.Encode(v)
		if err != nil {
			f.t.Fatal(err)
		}
		f.rx.Handle(f, kind, b)
	}
	feed(wire.KindSyncBegin, wire.SyncBegin{Gen: 1000})
	for _, sm := range st.model().Services {
		feed(wire.KindService, sm.Service)
		for _, b := range sm.Backends {
			feed(wire.KindBackend, b)
		}
	}
	feed(wire.KindSyncCommit, wire.SyncCommit{Gen: 1000})
	if _, fromConfig := f.rx.Applied(); fromConfig {
		f.t.Fatal("fake data plane: direct commit not applied")
	}
	f.commits, f.stats = nil, f.rx.Stats()
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
			f.mu.Lock()
			paused, every, silent := f.paused, f.popEvery, f.silent
			f.mu.Unlock()
			if now.Sub(lastBeat) > 50*time.Millisecond && !silent {
				f.r.SetHeartbeat(shm.Dataplane, now)
				lastBeat = now
			}
			if paused || every > 0 && now.Sub(lastPop) < every {
				continue
			}
			lastPop = now
			max := f.r.Commands().Cap()
			if every > 0 {
				max = 1
			}
			f.consume(buf, max)
		}
	}
}

// consume handles up to max commands from the ring.
func (f *fakeDP) consume(buf []byte, max int) {
	for range max {
		kind, payload, ok := f.r.Commands().Pop(buf)
		if !ok {
			return
		}
		f.handle(kind, payload)
	}
}

func (f *fakeDP) handle(kind uint32, payload []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kinds = append(f.kinds, kind)
	f.rx.Handle(f, kind, payload)
	st := f.rx.Stats()
	if st.Discarded > f.stats.Discarded {
		f.discarded = append(f.discarded, st.LastDiscarded)
	}
	if st.Ignored > f.stats.Ignored {
		f.violations = append(f.violations, fmt.Sprintf("command of kind %d ignored (see the receiver's log)", kind))
	}
	f.stats = st
}

// Apply records the transaction (wire.Handler; called with f.mu held).
func (f *fakeDP) Apply(m wire.Model) error {
	f.current = stateOf(m)
	f.commits = append(f.commits, f.current)
	f.snapshot++
	return nil
}

// Snapshot counts the applied transactions (wire.Handler).
func (f *fakeDP) Snapshot() uint64 { return f.snapshot }

// SetVRRP records a group's state (wire.Handler; called with f.mu held).
func (f *fakeDP) SetVRRP(st wire.VRRPState) error {
	if !slices.ContainsFunc(f.current.Groups, func(g wire.VRRPGroup) bool { return g.ID == st.ID }) {
		return fmt.Errorf("VRRP group %d is not defined", st.ID)
	}
	f.vrrp = append(f.vrrp, st)
	return nil
}

// DumpNeighbors: the fake tracks no neighbours (wire.Handler).
func (f *fakeDP) DumpNeighbors() {}

// Send pushes an event (wire.Handler). A rejected transaction is a
// protocol violation of the control process under test.
func (f *fakeDP) Send(kind uint32, msg any) {
	if a, ok := msg.(wire.Applied); ok && a.Error != "" {
		f.violations = append(f.violations, fmt.Sprintf("transaction %d rejected: %s", a.Gen, a.Error))
	}
	f.event(kind, msg)
}

// event pushes a message into the event ring; the ctrl polls it often,
// and a full ring is waited out for a bounded time.
func (f *fakeDP) event(kind uint32, v any) {
	b, err := wire.Encode(v)
	if err != nil {
		f.t.Errorf("fake data plane: %v", err)
		return
	}
	deadline := time.Now().Add(testPatience)
	for {
		if err := f.r.Events().TryPush(kind, b); err != shm.ErrFull {
			return
		}
		if time.Now().After(deadline) {
			f.t.Errorf("fake data plane: event ring stays full for %v", testPatience)
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *fakeDP) setSilent(v bool) {
	f.mu.Lock()
	f.silent = v
	f.mu.Unlock()
}

func (f *fakeDP) setPaused(p bool) {
	f.mu.Lock()
	f.paused = p
	f.mu.Unlock()
}

// drain handles every command in the ring now, paused or not (for a test
// that has stopped the control process and wants to see all it sent).
func (f *fakeDP) drain() {
	f.consume(make([]byte, f.r.Commands().MaxPayload()), f.r.Commands().Cap())
}

// snapshotState returns copies of what the fake recorded.
func (f *fakeDP) snapshotState() (cur fakeState, commits []fakeState, kinds []uint32, violations []string, discarded []uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current, slices.Clone(f.commits), slices.Clone(f.kinds), slices.Clone(f.violations), slices.Clone(f.discarded)
}

// waitCommit waits until the applied state satisfies ok. The deadline is
// only reached when the control process never gets there.
func (f *fakeDP) waitCommit(t *testing.T, what string, ok func(fakeState) bool) fakeState {
	t.Helper()
	var cur fakeState
	var commits []fakeState
	if !eventually(func() bool {
		cur, commits, _, _, _ = f.snapshotState()
		return len(commits) > 0 && ok(cur)
	}) {
		t.Fatalf("timed out waiting for %s; applied state %+v after %d commits", what, cur, len(commits))
	}
	return cur
}

// checkClean fails the test on protocol violations.
func (f *fakeDP) checkClean(t *testing.T) {
	t.Helper()
	_, _, _, v, _ := f.snapshotState()
	for _, s := range v {
		t.Errorf("protocol violation: %s", s)
	}
}

// testPatience bounds every wait of the tests here: long enough that only
// a real failure reaches it on a loaded machine, so a test never fails
// because the machine is slow.
const testPatience = 60 * time.Second

// eventually polls cond until it holds (true) or testPatience passes
// (false).
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(testPatience)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// logged reports how many times what appears in logs.
func logged(logs *syncBuffer, what string) int {
	return bytes.Count([]byte(logs.String()), []byte(what))
}
