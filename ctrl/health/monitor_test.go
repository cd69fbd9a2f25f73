package health

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The tests with fake checkers run in a synctest bubble: intervals,
// timeouts and jitter are on the bubble's fake clock, which moves only when
// every goroutine of the bubble is blocked, so their outcome does not depend
// on how busy the machine is. A fake probe takes no fake time.

// fakeChecker returns results from a plan: call i (1-based) succeeds if
// plan[i-1] is true; calls past the plan return tail. Failures say "fail i".
// It records when each call started and ended so a test can tell which
// call an event came from.
type fakeChecker struct {
	name string
	plan []bool
	tail bool

	mu    sync.Mutex
	calls []call
}

type call struct{ start, end time.Time }

func newFake(name string, tail bool, plan ...bool) *fakeChecker {
	return &fakeChecker{name: name, plan: plan, tail: tail}
}

func (f *fakeChecker) String() string { return f.name }

func (f *fakeChecker) Check(ctx context.Context, _ netip.Addr) error {
	f.mu.Lock()
	i := len(f.calls)
	f.calls = append(f.calls, call{start: time.Now()})
	ok := f.tail
	if i < len(f.plan) {
		ok = f.plan[i]
	}
	f.calls[i].end = time.Now()
	f.mu.Unlock()
	if ok {
		return nil
	}
	return fmt.Errorf("fail %d", i+1)
}

func (f *fakeChecker) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeChecker) callList() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// callAt returns the number of the call whose result produced an event at
// time at: the last call that ended at or before it.
func (f *fakeChecker) callAt(at time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for i, c := range f.calls {
		if !c.end.After(at) {
			n = i + 1
		}
	}
	return n
}

// checkSchedule checks when f's calls from index from on started: the
// first within one interval of since (Config.firstDelay), each later one
// Interval × (1 ± Jitter) after the one before (Config.nextDelay; fake
// probes take no time, so that is the whole gap).
func checkSchedule(t *testing.T, f *fakeChecker, from int, since time.Time, c Config) {
	t.Helper()
	calls := f.callList()
	if from >= len(calls) {
		t.Errorf("%s: no call %d to check the schedule of", f.name, from+1)
		return
	}
	if d := calls[from].start.Sub(since); d < 0 || d > c.Interval {
		t.Errorf("%s: call %d %s after its target started, want within %s", f.name, from+1, d, c.Interval)
	}
	// ±1ns: nextDelay truncates a float product.
	lo := time.Duration(float64(c.Interval)*(1-c.Jitter)) - 1
	hi := time.Duration(float64(c.Interval)*(1+c.Jitter)) + 1
	for i := from + 1; i < len(calls); i++ {
		if d := calls[i].start.Sub(calls[i-1].start); d < lo || d > hi {
			t.Errorf("%s: call %d %s after call %d, want %s ± %g", f.name, i+1, d, i, c.Interval, c.Jitter)
		}
	}
}

func fastConfig(c Checker, rise, fall int, startUp bool) Config {
	return Config{Checker: c, Interval: 10 * time.Millisecond, Timeout: 5 * time.Millisecond, Rise: rise, Fall: fall, Jitter: 0.1, StartUp: startUp}
}

// settle advances the bubble's fake clock by d, then waits until every
// other goroutine of the bubble is blocked again: whatever was due by now
// has happened.
func settle(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// nextEvent waits for an event. In a bubble the wait is on fake time and
// ends as soon as no goroutine can send one before the deadline.
func nextEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(patience):
		t.Fatalf("no event within %s", patience)
		return Event{}
	}
}

// noEvent fails if an event is ready. After settle, or once the sending
// goroutines are gone, that covers every event sent so far.
func noEvent(t *testing.T, ch <-chan Event) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Errorf("unexpected event %+v", ev)
	default:
	}
}

func expectEvent(t *testing.T, ev Event, key string, up bool, reason string) {
	t.Helper()
	if ev.Key != key || ev.Up != up || ev.Reason != reason {
		t.Errorf("event %s up=%v %q, want %s up=%v %q", ev.Key, ev.Up, ev.Reason, key, up, reason)
	}
}

// expectEventAfter takes the next event from an unbuffered channel and
// checks that it came from the result of call n of f: its target waits in
// the send, so f has made exactly the calls before the event, and the
// event's time is the end of the last one.
func expectEventAfter(t *testing.T, ch <-chan Event, f *fakeChecker, n int, key string, up bool, reason string) {
	t.Helper()
	ev := nextEvent(t, ch)
	expectEvent(t, ev, key, up, reason)
	calls := f.callList()
	if len(calls) != n {
		t.Errorf("%q after %d calls, want %d", reason, len(calls), n)
		return
	}
	if c := f.callAt(ev.At); c != n {
		t.Errorf("%q after call %d, want %d", reason, c, n)
	}
	if !ev.At.Equal(calls[n-1].end) {
		t.Errorf("%q at %s, want the end of call %d at %s", reason, ev.At, n, calls[n-1].end)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var addrA = netip.MustParseAddr("192.0.2.21")

func TestMonitorRiseFall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const o, x = true, false
		// Up at start; rise 2, fall 3.
		f := newFake("fake", true,
			o, x, x, o, // two failures, then reset
			x, x, x, // 7: third consecutive failure -> down
			o, x, o, o, // 11: second consecutive success -> up
			x, x, o) // two failures: stays up
		var logs syncBuffer
		events := make(chan Event) // unbuffered, see expectEventAfter
		m := NewMonitor(events, slog.New(slog.NewTextHandler(&logs, nil)))
		defer m.Close()
		cfg := fastConfig(f, 2, 3, true)
		start := time.Now()
		if err := m.Update([]Target{{Key: "web/a", Addr: addrA, Config: cfg}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the target waits to send its initial event
		if n := f.count(); n != 0 {
			t.Errorf("initial event after call %d, want before any", n)
		}
		ev := nextEvent(t, events)
		expectEvent(t, ev, "web/a", true, ReasonInitial)
		if ev.Target != addrA {
			t.Errorf("event target %v", ev.Target)
		}
		if !ev.At.Equal(start) {
			t.Errorf("initial event at %s, want the time of Update %s", ev.At, start)
		}

		expectEventAfter(t, events, f, 7, "web/a", false, "fail 7")
		expectEventAfter(t, events, f, 11, "web/a", true, "rise 2 of 2 ok")
		settle(200 * time.Millisecond) // calls 12 to 20 take at most 9 × 11ms
		noEvent(t, events)
		n := f.count()
		if n < 20 {
			t.Fatalf("%d calls 200ms after call 11, want at least 20", n)
		}
		checkSchedule(t, f, 0, start, cfg)

		st := m.State()
		if len(st) != 1 || st[0].Key != "web/a" || !st[0].Up || st[0].Check != "fake" || st[0].Checks != uint64(n) ||
			st[0].LastError != "fail 13" || st[0].ConsecutiveFail != 0 || st[0].ConsecutiveOK != n-13 ||
			!st[0].LastCheck.Equal(f.callList()[n-1].end) {
			t.Errorf("state %+v after %d calls", st, n)
		}

		out := logs.String()
		for _, want := range []string{
			`msg="real server up" key=web/a target=192.0.2.21 reason="initial state"`,
			`msg="real server down" key=web/a target=192.0.2.21 reason="fail 7"`,
			`msg="real server up" key=web/a target=192.0.2.21 reason="rise 2 of 2 ok"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %s:\n%s", want, out)
			}
		}
	})
}

func TestMonitorStartDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const o, x = true, false
		// Down at start (alpha); rise 3, fall 2.
		f := newFake("fake", true,
			x, x, o, // 3: first success -> up at once
			x, o, x, x, // 7: second consecutive failure -> down
			o, o, x, o, o, o) // 13: third consecutive success -> up
		events := make(chan Event) // unbuffered, see expectEventAfter
		m := NewMonitor(events, nil)
		defer m.Close()
		cfg := fastConfig(f, 3, 2, false)
		start := time.Now()
		if err := m.Update([]Target{{Key: "k", Addr: addrA, Config: cfg}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the target waits to send its initial event
		if st := m.State(); st[0].Up || st[0].Checks != 0 {
			t.Errorf("StartUp false: state %+v before any check, want down", st[0])
		}
		expectEvent(t, nextEvent(t, events), "k", false, ReasonInitial)
		expectEventAfter(t, events, f, 3, "k", true, "first check ok")
		expectEventAfter(t, events, f, 7, "k", false, "fail 7")
		expectEventAfter(t, events, f, 13, "k", true, "rise 3 of 3 ok")
		settle(200 * time.Millisecond) // calls 14 to 18 take at most 5 × 11ms
		noEvent(t, events)
		if n := f.count(); n < 18 {
			t.Errorf("%d calls 200ms after call 13, want at least 18", n)
		}
		checkSchedule(t, f, 0, start, cfg)
	})
}

func TestMonitorUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		events := make(chan Event, 100)
		m := NewMonitor(events, nil)
		defer m.Close()
		fa := newFake("a", true)  // up, stays up
		fb := newFake("b", false) // starts down, stays down
		fc := newFake("c", true)
		addrB, addrC := netip.MustParseAddr("192.0.2.22"), netip.MustParseAddr("192.0.2.23")
		targets := []Target{
			{Key: "svc/a", Addr: addrA, Config: fastConfig(fa, 2, 2, true)},
			{Key: "svc/b", Addr: addrB, Config: fastConfig(fb, 2, 2, false)},
			{Key: "svc/c", Addr: addrC, Config: fastConfig(fc, 2, 2, true)},
		}
		start := time.Now()
		if err := m.Update(targets); err != nil {
			t.Fatal(err)
		}
		initial := map[string]bool{}
		for range 3 {
			ev := nextEvent(t, events)
			if ev.Reason != ReasonInitial {
				t.Errorf("unexpected %+v", ev)
			}
			initial[ev.Key] = ev.Up
		}
		if !initial["svc/a"] || initial["svc/b"] || !initial["svc/c"] || len(initial) != 3 {
			t.Errorf("initial states %v", initial)
		}
		settle(50 * time.Millisecond) // 3 calls take at most 10ms + 2 × 11ms
		for i, f := range []*fakeChecker{fa, fb, fc} {
			if f.count() < 3 {
				t.Errorf("%s: %d calls after 50ms, want at least 3", f.name, f.count())
			}
			checkSchedule(t, f, 0, start, targets[i].Config)
		}

		// 1. The same targets again (fresh but equal Config values): nothing
		// restarts, counters carry on.
		before := m.State()
		for _, s := range before {
			if s.ConsecutiveOK+s.ConsecutiveFail < 3 {
				t.Errorf("%s: counters %+v too low to tell a restart", s.Key, s)
			}
		}
		same := []Target{
			{Key: "svc/c", Addr: addrC, Config: fastConfig(fc, 2, 2, true)},
			{Key: "svc/a", Addr: addrA, Config: fastConfig(fa, 2, 2, true)},
			{Key: "svc/b", Addr: addrB, Config: fastConfig(fb, 2, 2, false)},
		}
		if err := m.Update(same); err != nil {
			t.Fatal(err)
		}
		// The fake clock stood still since the snapshot, so a target that
		// kept running is exactly as it was; a restart would zero its
		// consecutive counters.
		after := m.State()
		if len(after) != len(before) {
			t.Fatalf("state after the same update: %+v", after)
		}
		for i := range before {
			if after[i] != before[i] {
				t.Errorf("unchanged %s restarted: before %+v, after %+v", before[i].Key, before[i], after[i])
			}
		}
		settle(60 * time.Millisecond)
		noEvent(t, events)
		// Consecutive counters only grow while a target keeps running (fa
		// and fc always succeed, fb always fails).
		later := m.State()
		for i := range before {
			if later[i].Checks <= before[i].Checks || later[i].Up != before[i].Up ||
				later[i].ConsecutiveOK < before[i].ConsecutiveOK || later[i].ConsecutiveFail < before[i].ConsecutiveFail {
				t.Errorf("unchanged %s did not carry on: before %+v, 60ms later %+v", before[i].Key, before[i], later[i])
			}
		}

		// 2. a: interval changed; b: checker and StartUp changed; c removed.
		// a stays up, b stays down, no events, c stops.
		fb2 := newFake("b2", false)
		changed := []Target{
			{Key: "svc/a", Addr: addrA, Config: Config{Checker: fa, Interval: 15 * time.Millisecond, Timeout: 5 * time.Millisecond, Rise: 2, Fall: 2, Jitter: 0.1, StartUp: true}},
			{Key: "svc/b", Addr: addrB, Config: fastConfig(fb2, 2, 2, true)},
		}
		restart := time.Now()
		if err := m.Update(changed); err != nil {
			t.Fatal(err)
		}
		cCalls, bCalls, aCalls := fc.count(), fb.count(), fa.count()
		settle(100 * time.Millisecond) // a: 3 calls in 15ms + 2 × 16.5ms; b2: in 10ms + 2 × 11ms
		if n := fb2.count(); n < 3 {
			t.Errorf("new checker b2: %d calls after 100ms, want at least 3", n)
		}
		if n := fa.count(); n < aCalls+3 {
			t.Errorf("restarted a: %d calls after 100ms, want at least %d", n, aCalls+3)
		}
		checkSchedule(t, fa, aCalls, restart, changed[0].Config) // on the new interval
		checkSchedule(t, fb2, 0, restart, changed[1].Config)
		noEvent(t, events)
		if fc.count() != cCalls {
			t.Errorf("removed target still checked: %d calls, then %d", cCalls, fc.count())
		}
		if fb.count() != bCalls {
			t.Errorf("replaced checker still called: %d calls, then %d", bCalls, fb.count())
		}
		st := m.State()
		if len(st) != 2 || st[0].Key != "svc/a" || !st[0].Up || st[1].Key != "svc/b" || st[1].Up || st[1].Check != "b2" {
			t.Fatalf("state after change: %+v", st)
		}
		if st[1].Checks <= before[1].Checks {
			t.Errorf("svc/b check count %d went backwards from %d", st[1].Checks, before[1].Checks)
		}

		// 3. An invalid target anywhere rejects the whole update.
		fd := newFake("d", true)
		bad := []Target{
			changed[0],
			{Key: "svc/d", Addr: addrC, Config: fastConfig(fd, 1, 1, true)},
			{Key: "svc/e", Addr: addrC, Config: Config{Checker: fd, Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1}},
		}
		err := m.Update(bad)
		if err == nil || err.Error() != `target "svc/e": timeout 1s must be shorter than the interval 1s` {
			t.Errorf("invalid update: %v", err)
		}
		for _, bad := range [][]Target{
			{changed[0], changed[0]},
			{{Key: "", Addr: addrA, Config: changed[0].Config}},
			{{Key: "x", Config: changed[0].Config}},
		} {
			if err := m.Update(bad); err == nil {
				t.Errorf("update %+v accepted", bad)
			}
		}
		settle(40 * time.Millisecond)
		noEvent(t, events)
		if fd.count() != 0 {
			t.Errorf("target of a rejected update was checked %d times", fd.count())
		}
		if st := m.State(); len(st) != 2 || st[0].Key != "svc/a" || st[1].Key != "svc/b" {
			t.Errorf("state after rejected update: %+v", st)
		}

		// 4. Same key, new address: a new target, announced afresh.
		moved := []Target{changed[0], {Key: "svc/b", Addr: addrC, Config: changed[1].Config}}
		if err := m.Update(moved); err != nil {
			t.Fatal(err)
		}
		ev := nextEvent(t, events)
		expectEvent(t, ev, "svc/b", true, ReasonInitial)
		if ev.Target != addrC {
			t.Errorf("moved target announced at %v", ev.Target)
		}
	})
}

// A target whose state event is still waiting for the consumer when its
// config changes must not lose it.
func TestMonitorRestartDeliversPendingEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		events := make(chan Event) // unbuffered and unread for now
		m := NewMonitor(events, nil)
		defer m.Close()
		f := newFake("f", true)
		start := time.Now()
		if err := m.Update([]Target{{Key: "k", Addr: addrA, Config: fastConfig(f, 1, 1, false)}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the goroutine is blocked sending the initial event
		g := newFake("g", true)
		if err := m.Update([]Target{{Key: "k", Addr: addrA, Config: fastConfig(g, 1, 1, false)}}); err != nil {
			t.Fatal(err)
		}
		ev := nextEvent(t, events)
		expectEvent(t, ev, "k", false, ReasonInitial)
		if !ev.At.Equal(start) {
			t.Errorf("initial event at %s, want the time of the first Update %s", ev.At, start)
		}
		expectEventAfter(t, events, g, 1, "k", true, "first check ok")
		if n := f.count(); n != 0 {
			t.Errorf("replaced checker called %d times", n)
		}
		checkSchedule(t, g, 0, start, fastConfig(g, 1, 1, false))
	})
}

type panicChecker struct{}

func (panicChecker) String() string                          { return "panic" }
func (panicChecker) Check(context.Context, netip.Addr) error { panic("boom") }

func TestMonitorCheckerPanicIsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		events := make(chan Event, 10)
		m := NewMonitor(events, nil)
		defer m.Close()
		cfg := fastConfig(panicChecker{}, 1, 1, true)
		start := time.Now()
		if err := m.Update([]Target{{Key: "p", Addr: addrA, Config: cfg}}); err != nil {
			t.Fatal(err)
		}
		expectEvent(t, nextEvent(t, events), "p", true, ReasonInitial)
		ev := nextEvent(t, events)
		expectEvent(t, ev, "p", false, "check panicked: boom")
		if d := ev.At.Sub(start); d < 0 || d > cfg.Interval {
			t.Errorf("down %s after start, want at the first probe, within %s", d, cfg.Interval)
		}
		if st := m.State(); len(st) != 1 || st[0].Checks != 1 || st[0].LastError != "check panicked: boom" {
			t.Errorf("state %+v, want one failed check", st)
		}
	})
}

// blockingChecker holds each probe until its context ends. A probe that
// starts while the test waits on entered tells it so; active counts the
// probes in progress.
type blockingChecker struct {
	entered chan struct{}
	active  atomic.Int32
}

func (*blockingChecker) String() string { return "block" }
func (b *blockingChecker) Check(ctx context.Context, _ netip.Addr) error {
	b.active.Add(1)
	defer b.active.Add(-1)
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

func TestMonitorCloseStopsEverything(t *testing.T) {
	// In a bubble, synctest.Test itself also fails if a goroutine is left.
	synctest.Test(t, func(t *testing.T) {
		base := len(bubbleStacks(t)) // this one and synctest's own
		events := make(chan Event, 1000)
		m := NewMonitor(events, nil)
		var fakes []*fakeChecker
		var targets []Target
		for i := range 5 {
			f := newFake("f", i%2 == 0)
			fakes = append(fakes, f)
			targets = append(targets, Target{Key: fmt.Sprintf("f/%d", i), Addr: addrA, Config: fastConfig(f, 1, 1, true)})
		}
		block := &blockingChecker{entered: make(chan struct{})}
		targets = append(targets,
			Target{Key: "block", Addr: addrA, Config: Config{Checker: block, Interval: 30 * time.Millisecond, Timeout: 25 * time.Millisecond, Rise: 1, Fall: 1, StartUp: true}},
		)
		if err := m.Update(targets); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := runners(); n != len(targets) {
			t.Errorf("%d target goroutines running, want %d", n, len(targets))
		}
		if g := bubbleStacks(t); len(g) != base+len(targets) {
			t.Errorf("%d goroutines in the bubble, want %d before Update and one per target, %d:\n%s", len(g), base, base+len(targets), strings.Join(g, "\n\n"))
		}
		settle(100 * time.Millisecond)
		for i, f := range fakes {
			if f.count() == 0 {
				t.Errorf("f/%d not checked within 100ms", i)
			}
		}
		// Close while the blocking checker is mid-probe.
		select {
		case <-block.entered:
		case <-time.After(time.Second):
			t.Fatal("blocking checker not called within 1s")
		}
		synctest.Wait()
		if n := block.active.Load(); n != 1 {
			t.Fatalf("%d blocking probes in progress, want 1", n)
		}

		closed := make(chan struct{})
		go func() { m.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return within 5s")
		}
		m.Close() // twice is fine
		if err := m.Update(targets); err == nil {
			t.Error("Update after Close accepted")
		}
		if st := m.State(); len(st) != 0 {
			t.Errorf("state after Close: %+v", st)
		}

		synctest.Wait() // goroutines on their way out are gone
		if n := block.active.Load(); n != 0 {
			t.Errorf("%d blocking probes still in progress after Close", n)
		}
		if g := bubbleStacks(t); len(g) != base {
			t.Fatalf("%d goroutines in the bubble after Close, want the %d from before Update:\n%s", len(g), base, strings.Join(g, "\n\n"))
		}
		for len(events) > 0 {
			<-events
		}
		settle(time.Second)
		noEvent(t, events)
	})
}

// A real checker does network I/O, which a bubble cannot wait for, so this
// test runs on real time; it waits for conditions, never for a duration.
func TestMonitorRealCheckerClose(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepting := make(chan struct{})
	go func() {
		defer close(accepting)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	defer func() { l.Close(); <-accepting }()
	base := runtime.NumGoroutine()

	events := make(chan Event, 1000)
	m := NewMonitor(events, nil)
	defer m.Close()
	// A probe that times out on a busy machine just leaves the target down
	// until one succeeds.
	targets := []Target{{Key: "tcp", Addr: lo4, Config: Config{Checker: TCP{Port: portOf(t, l.Addr())}, Interval: 100 * time.Millisecond, Timeout: 90 * time.Millisecond, Rise: 1, Fall: 1}}}
	if err := m.Update(targets); err != nil {
		t.Fatal(err)
	}
	if n := runners(); n != 1 {
		t.Errorf("%d target goroutines running, want 1", n)
	}
	expectEvent(t, nextEvent(t, events), "tcp", false, ReasonInitial)
	// Down, the target reports nothing before its first successful probe.
	expectEvent(t, nextEvent(t, events), "tcp", true, "first check ok")

	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(patience):
		t.Fatalf("Close did not return within %s", patience)
	}
	m.Close() // twice is fine
	if err := m.Update(targets); err == nil {
		t.Error("Update after Close accepted")
	}
	if st := m.State(); len(st) != 0 {
		t.Errorf("state after Close: %+v", st)
	}
	// Close has waited for the target's goroutine, which may still be
	// returning; whatever the check started must end too.
	waitFor(t, fmt.Sprintf("back to the %d goroutines from before the monitor", base), func() bool {
		return runners() == 0 && runtime.NumGoroutine() <= base
	})
	for len(events) > 0 {
		<-events
	}
	noEvent(t, events) // no goroutine is left to send one
}

// TestMonitorObserve: the observer sees every probe with the check's
// String and its result.
func TestMonitorObserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake("fake :80", true, true, false, true)
		m := NewMonitor(nil, nil)
		defer m.Close()
		var mu sync.Mutex
		var seen []string
		m.Observe(func(check string, took time.Duration, err error) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, fmt.Sprintf("%s %v %v", check, took, err))
		})
		if err := m.Update([]Target{{Key: "k", Addr: addrA, Config: fastConfig(f, 1, 1, true)}}); err != nil {
			t.Fatal(err)
		}
		for f.count() < 3 {
			time.Sleep(time.Millisecond)
		}
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		want := []string{"fake :80 0s <nil>", "fake :80 0s fail 2", "fake :80 0s <nil>"}
		if len(seen) < 3 || !slices.Equal(seen[:3], want) {
			t.Fatalf("observed %q, want %q", seen, want)
		}
	})
}
