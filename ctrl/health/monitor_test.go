package health

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

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

// waitCalls waits (at most 5 s) until f has been called at least n times.
func (f *fakeChecker) waitCalls(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d calls after 5s, want %d", f.name, f.count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fastConfig(c Checker, rise, fall int, startUp bool) Config {
	return Config{Checker: c, Interval: 10 * time.Millisecond, Timeout: 5 * time.Millisecond, Rise: rise, Fall: fall, Jitter: 0.1, StartUp: startUp}
}

func nextEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
		return Event{}
	}
}

func noEvent(t *testing.T, ch <-chan Event, d time.Duration) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Errorf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}

func expectEvent(t *testing.T, ev Event, key string, up bool, reason string) {
	t.Helper()
	if ev.Key != key || ev.Up != up || ev.Reason != reason {
		t.Errorf("event %s up=%v %q, want %s up=%v %q", ev.Key, ev.Up, ev.Reason, key, up, reason)
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
	const o, x = true, false
	// Up at start; rise 2, fall 3.
	f := newFake("fake", true,
		o, x, x, o, // two failures, then reset
		x, x, x, // 7: third consecutive failure -> down
		o, x, o, o, // 11: second consecutive success -> up
		x, x, o) // two failures: stays up
	var logs syncBuffer
	events := make(chan Event, 100)
	m := NewMonitor(events, slog.New(slog.NewTextHandler(&logs, nil)))
	defer m.Close()
	if err := m.Update([]Target{{Key: "web/a", Addr: addrA, Config: fastConfig(f, 2, 3, true)}}); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, events)
	expectEvent(t, ev, "web/a", true, ReasonInitial)
	if ev.Target != addrA {
		t.Errorf("event target %v", ev.Target)
	}
	if n := f.callAt(ev.At); n != 0 {
		t.Errorf("initial event after call %d, want before any", n)
	}

	ev = nextEvent(t, events)
	expectEvent(t, ev, "web/a", false, "fail 7")
	if n := f.callAt(ev.At); n != 7 {
		t.Errorf("down after call %d, want 7", n)
	}
	ev = nextEvent(t, events)
	expectEvent(t, ev, "web/a", true, "rise 2 of 2 ok")
	if n := f.callAt(ev.At); n != 11 {
		t.Errorf("up after call %d, want 11", n)
	}
	f.waitCalls(t, 20)
	noEvent(t, events, 30*time.Millisecond)

	st := m.State()
	if len(st) != 1 || st[0].Key != "web/a" || !st[0].Up || st[0].Check != "fake" || st[0].Checks < 20 ||
		st[0].LastError != "fail 13" || st[0].ConsecutiveFail != 0 || st[0].ConsecutiveOK < 6 || st[0].LastCheck.IsZero() {
		t.Errorf("state %+v", st)
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
}

func TestMonitorStartDown(t *testing.T) {
	const o, x = true, false
	// Down at start (alpha); rise 3, fall 2.
	f := newFake("fake", true,
		x, x, o, // 3: first success -> up at once
		x, o, x, x, // 7: second consecutive failure -> down
		o, o, x, o, o, o) // 13: third consecutive success -> up
	events := make(chan Event, 100)
	m := NewMonitor(events, nil)
	defer m.Close()
	if err := m.Update([]Target{{Key: "k", Addr: addrA, Config: fastConfig(f, 3, 2, false)}}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, nextEvent(t, events), "k", false, ReasonInitial)
	if st := m.State(); st[0].Up {
		t.Error("StartUp false: state up before any check")
	}
	for _, want := range []struct {
		up     bool
		reason string
		call   int
	}{{true, "first check ok", 3}, {false, "fail 7", 7}, {true, "rise 3 of 3 ok", 13}} {
		ev := nextEvent(t, events)
		expectEvent(t, ev, "k", want.up, want.reason)
		if n := f.callAt(ev.At); n != want.call {
			t.Errorf("%q after call %d, want %d", want.reason, n, want.call)
		}
	}
	f.waitCalls(t, 18)
	noEvent(t, events, 20*time.Millisecond)
}

func TestMonitorUpdate(t *testing.T) {
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
	fa.waitCalls(t, 3)
	fb.waitCalls(t, 3)
	fc.waitCalls(t, 3)

	// 1. The same targets again (fresh but equal Config values): nothing
	// restarts, counters carry on.
	before := m.State()
	same := []Target{
		{Key: "svc/c", Addr: addrC, Config: fastConfig(fc, 2, 2, true)},
		{Key: "svc/a", Addr: addrA, Config: fastConfig(fa, 2, 2, true)},
		{Key: "svc/b", Addr: addrB, Config: fastConfig(fb, 2, 2, false)},
	}
	if err := m.Update(same); err != nil {
		t.Fatal(err)
	}
	// Consecutive counters only grow while a target keeps running (fa and
	// fc always succeed, fb always fails); a restart would zero them.
	after := m.State()
	for i := range before {
		if after[i].Checks < before[i].Checks || after[i].Up != before[i].Up ||
			after[i].ConsecutiveOK < before[i].ConsecutiveOK || after[i].ConsecutiveFail < before[i].ConsecutiveFail {
			t.Errorf("unchanged %s restarted: before %+v, after %+v", before[i].Key, before[i], after[i])
		}
	}
	noEvent(t, events, 60*time.Millisecond)

	// 2. a: interval changed; b: checker and StartUp changed; c removed.
	// a stays up, b stays down, no events, c stops.
	fb2 := newFake("b2", false)
	changed := []Target{
		{Key: "svc/a", Addr: addrA, Config: Config{Checker: fa, Interval: 15 * time.Millisecond, Timeout: 5 * time.Millisecond, Rise: 2, Fall: 2, Jitter: 0.1, StartUp: true}},
		{Key: "svc/b", Addr: addrB, Config: fastConfig(fb2, 2, 2, true)},
	}
	if err := m.Update(changed); err != nil {
		t.Fatal(err)
	}
	cCalls, bCalls, aCalls := fc.count(), fb.count(), fa.count()
	fb2.waitCalls(t, 3)
	fa.waitCalls(t, aCalls+3)
	noEvent(t, events, 50*time.Millisecond)
	if fc.count() != cCalls {
		t.Errorf("removed target still checked: %d calls, then %d", cCalls, fc.count())
	}
	if fb.count() != bCalls {
		t.Errorf("replaced checker still called: %d calls, then %d", bCalls, fb.count())
	}
	st := m.State()
	if len(st) != 2 || st[0].Key != "svc/a" || !st[0].Up || st[1].Key != "svc/b" || st[1].Up || st[1].Check != "b2" {
		t.Errorf("state after change: %+v", st)
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
	noEvent(t, events, 40*time.Millisecond)
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
}

// A target whose state event is still waiting for the consumer when its
// config changes must not lose it.
func TestMonitorRestartDeliversPendingEvent(t *testing.T) {
	events := make(chan Event) // unbuffered and unread for now
	m := NewMonitor(events, nil)
	defer m.Close()
	f := newFake("f", true)
	if err := m.Update([]Target{{Key: "k", Addr: addrA, Config: fastConfig(f, 1, 1, false)}}); err != nil {
		t.Fatal(err)
	}
	// The goroutine is blocked sending the initial event; restart it.
	if err := m.Update([]Target{{Key: "k", Addr: addrA, Config: fastConfig(newFake("g", true), 1, 1, false)}}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, nextEvent(t, events), "k", false, ReasonInitial)
	expectEvent(t, nextEvent(t, events), "k", true, "first check ok")
}

type panicChecker struct{}

func (panicChecker) String() string                          { return "panic" }
func (panicChecker) Check(context.Context, netip.Addr) error { panic("boom") }

func TestMonitorCheckerPanicIsFailure(t *testing.T) {
	events := make(chan Event, 10)
	m := NewMonitor(events, nil)
	defer m.Close()
	if err := m.Update([]Target{{Key: "p", Addr: addrA, Config: fastConfig(panicChecker{}, 1, 1, true)}}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, nextEvent(t, events), "p", true, ReasonInitial)
	expectEvent(t, nextEvent(t, events), "p", false, "check panicked: boom")
}

// blockingChecker holds each probe until its context ends.
type blockingChecker struct{}

func (blockingChecker) String() string { return "block" }
func (blockingChecker) Check(ctx context.Context, _ netip.Addr) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestMonitorCloseStopsEverything(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	time.Sleep(10 * time.Millisecond)
	base := runtime.NumGoroutine()

	events := make(chan Event, 1000)
	m := NewMonitor(events, nil)
	var targets []Target
	for i := range 5 {
		targets = append(targets, Target{Key: fmt.Sprintf("f/%d", i), Addr: addrA, Config: fastConfig(newFake("f", i%2 == 0), 1, 1, true)})
	}
	targets = append(targets,
		Target{Key: "tcp", Addr: lo4, Config: Config{Checker: TCP{Port: portOf(t, l.Addr())}, Interval: 20 * time.Millisecond, Timeout: 10 * time.Millisecond, Rise: 1, Fall: 1, StartUp: false}},
		Target{Key: "block", Addr: addrA, Config: Config{Checker: blockingChecker{}, Interval: 30 * time.Millisecond, Timeout: 25 * time.Millisecond, Rise: 1, Fall: 1, StartUp: true}},
	)
	if err := m.Update(targets); err != nil {
		t.Fatal(err)
	}
	if runtime.NumGoroutine() < base+len(targets) {
		t.Errorf("%d goroutines running, want at least %d", runtime.NumGoroutine(), base+len(targets))
	}
	// Wait for the TCP target to come up, so real checks have run.
	deadline := time.After(5 * time.Second)
	for up := false; !up; {
		select {
		case ev := <-events:
			up = ev.Key == "tcp" && ev.Up
		case <-deadline:
			t.Fatal("tcp target never came up")
		}
	}
	time.Sleep(40 * time.Millisecond) // let the blocking checker be mid-probe

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

	for end := time.Now().Add(3 * time.Second); runtime.NumGoroutine() > base; {
		if time.Now().After(end) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left after Close, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
	for len(events) > 0 {
		<-events
	}
	noEvent(t, events, 50*time.Millisecond)
}
