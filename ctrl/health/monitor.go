package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Event reports the state of a target: its initial state when it starts
// (Reason "initial state") and every change after that.
type Event struct {
	Key    string
	Target netip.Addr
	Up     bool
	// Reason is the failing check's error for a change to down, "rise 3 of
	// 3 ok" (or "first check ok", see Config.StartUp) for a change to up,
	// and "initial state" for the announcement of a new target.
	Reason string
	At     time.Time
}

// ReasonInitial is the Reason of the event announcing a new target.
const ReasonInitial = "initial state"

// Target is one real server of one service to check.
type Target struct {
	Key    string // stable id, e.g. "web/192.0.2.21"
	Addr   netip.Addr
	Config Config
}

// TargetState is a snapshot of one running target.
type TargetState struct {
	Key             string
	Addr            netip.Addr
	Check           string // the checker's String
	Up              bool
	ConsecutiveOK   int
	ConsecutiveFail int
	LastError       string    // of the latest failed probe; "" before any
	LastCheck       time.Time // end of the latest probe; zero before any
	Checks          uint64    // probes run (kept across a config change)
	Failures        uint64    // of those, failed
}

// Monitor runs the checks of a set of targets, one goroutine each.
type Monitor struct {
	events  chan<- Event
	log     *slog.Logger
	observe func(check string, took time.Duration, err error) // nil: none

	mu      sync.Mutex // serialises Update and Close; guards the fields below
	closed  bool
	runners map[string]*runner
}

// NewMonitor returns a Monitor that sends events on events (which may be
// nil) and logs to log (nil: no logging). It runs nothing until Update.
//
// A target's goroutine blocks while sending its event, so the consumer must
// read events promptly; a stopped target stops blocking.
func NewMonitor(events chan<- Event, log *slog.Logger) *Monitor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Monitor{events: events, log: log, runners: make(map[string]*runner)}
}

type runner struct {
	key   string
	addr  netip.Addr
	cfg   Config
	check string // cfg.Checker.String(), computed once
	// observe is the Monitor's observer when the runner started.
	observe func(check string, took time.Duration, err error)
	cancel  context.CancelFunc
	done    chan struct{}

	mu sync.Mutex
	st status
}

type status struct {
	up bool
	// firstPending: started down because of StartUp=false and no probe has
	// succeeded yet; the first success brings the target up.
	firstPending bool
	ok, fail     int
	lastErr      string
	lastCheck    time.Time
	checks       uint64
	failures     uint64 // failed probes of checks
	// unsent is the Reason of the current state while the consumer has
	// not been told it yet ("" once it has), unsentAt its time. A target
	// restarted by Update before its event went out sends it first.
	unsent   string
	unsentAt time.Time
}

// Update makes the running set equal to targets:
//   - new keys start, and announce their initial state with an Event;
//   - removed keys stop: when Update returns their goroutines have exited
//     and send nothing more (events already in the channel stay there);
//   - keys whose Config is unchanged (same checker type and String, same
//     numbers) keep running with their state and counters;
//   - keys whose Config changed restart with the new Config but keep their
//     up/down state, without an event (a reload does not flap a server);
//     their consecutive counters start again from zero. (If the event of
//     their current state had not been delivered yet, the restarted
//     target delivers it first);
//   - a key whose Addr changed is treated as removed and added again.
//
// If any target is invalid (bad Config, empty or duplicate Key, invalid
// Addr) Update returns an error and changes nothing. Update after Close
// returns an error.
func (m *Monitor) Update(targets []Target) error {
	want := make(map[string]Target, len(targets))
	for _, t := range targets {
		if t.Key == "" {
			return fmt.Errorf("target %s: empty key", t.Addr)
		}
		if _, dup := want[t.Key]; dup {
			return fmt.Errorf("target %q: duplicate key", t.Key)
		}
		if !t.Addr.IsValid() {
			return fmt.Errorf("target %q: no address", t.Key)
		}
		if err := t.Config.Validate(); err != nil {
			return fmt.Errorf("target %q: %w", t.Key, err)
		}
		want[t.Key] = t
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("health monitor is closed")
	}

	var stopping []*runner
	carried := make(map[string]status) // state of restarted keys
	for key, r := range m.runners {
		t, ok := want[key]
		switch {
		case !ok || t.Addr != r.addr:
			stopping = append(stopping, r)
			delete(m.runners, key)
		case !t.Config.same(r.cfg):
			stopping = append(stopping, r)
			delete(m.runners, key)
			carried[key] = status{} // filled in once r has stopped
		}
	}
	// Cancel all first so they wind down in parallel, then wait.
	for _, r := range stopping {
		r.cancel()
	}
	for _, r := range stopping {
		<-r.done
		if _, ok := carried[r.key]; ok {
			r.mu.Lock()
			st := r.st
			r.mu.Unlock()
			st.ok, st.fail = 0, 0
			carried[r.key] = st
			m.log.Info("real server check restarted", "key", r.key, "target", r.addr, "up", st.up, "old_check", r.check, "check", want[r.key].Config.Checker.String())
		}
	}

	for key, t := range want {
		if _, running := m.runners[key]; running {
			continue
		}
		st, restart := carried[key]
		if !restart {
			st = status{up: t.Config.StartUp, firstPending: !t.Config.StartUp, unsent: ReasonInitial, unsentAt: time.Now()}
			m.logState(key, t.Addr, t.Config.Checker.String(), st.up, ReasonInitial)
		}
		m.start(t, st)
	}
	return nil
}

func (m *Monitor) start(t Target, st status) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{
		key:     t.Key,
		addr:    t.Addr,
		cfg:     t.Config,
		check:   t.Config.Checker.String(),
		observe: m.observe,
		cancel:  cancel,
		done:    make(chan struct{}),
		st:      st,
	}
	m.runners[t.Key] = r
	go m.run(ctx, r)
}

// State returns a snapshot of every running target, sorted by Key.
func (m *Monitor) State() []TargetState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]TargetState, 0, len(m.runners))
	for _, r := range m.runners {
		r.mu.Lock()
		st := r.st
		r.mu.Unlock()
		out = append(out, TargetState{
			Key:             r.key,
			Addr:            r.addr,
			Check:           r.check,
			Up:              st.up,
			ConsecutiveOK:   st.ok,
			ConsecutiveFail: st.fail,
			LastError:       st.lastErr,
			LastCheck:       st.lastCheck,
			Checks:          st.checks,
			Failures:        st.failures,
		})
	}
	slices.SortFunc(out, func(a, b TargetState) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Close stops every target and waits for their goroutines. It is safe to
// call more than once.
func (m *Monitor) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, r := range m.runners {
		r.cancel()
	}
	for _, r := range m.runners {
		<-r.done
	}
	m.runners = map[string]*runner{}
}

// Observe makes the monitor call f after every probe with the check's
// String, how long the probe took and its result (for metrics). Call it
// before the first Update; f must be safe for concurrent use.
func (m *Monitor) Observe(f func(check string, took time.Duration, err error)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observe = f
}

// run is the goroutine of one target.
func (m *Monitor) run(ctx context.Context, r *runner) {
	defer close(r.done)
	r.mu.Lock()
	up, reason, at := r.st.up, r.st.unsent, r.st.unsentAt
	r.mu.Unlock()
	if reason != "" && !m.report(ctx, r, up, reason, at) {
		return
	}
	timer := time.NewTimer(r.cfg.firstDelay())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		err := runCheck(ctx, r.cfg.Checker, r.addr, r.cfg.Timeout)
		if ctx.Err() != nil {
			return // stopped mid-probe: the result means nothing
		}
		now := time.Now()
		if r.observe != nil {
			r.observe(r.check, now.Sub(start), err)
		}
		if err != nil {
			m.log.Debug("health check failed", "key", r.key, "target", r.addr, "check", r.check, "error", err)
		}
		if changed, up, reason := r.apply(err, now); changed {
			m.logState(r.key, r.addr, r.check, up, reason)
			if !m.report(ctx, r, up, reason, now) {
				return
			}
		}
		timer.Reset(max(0, r.cfg.nextDelay()-time.Since(start)))
	}
}

// runCheck runs one probe with the timeout; a panicking checker counts as a
// failed probe rather than taking the process down.
func runCheck(ctx context.Context, c Checker, addr netip.Addr, timeout time.Duration) (err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("check panicked: %v", p)
		}
	}()
	return c.Check(ctx, addr)
}

// apply counts one probe result and reports whether the state flipped.
func (r *runner) apply(err error, now time.Time) (changed, up bool, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &r.st
	st.checks++
	st.lastCheck = now
	if err != nil {
		st.lastErr = err.Error()
		st.ok = 0
		st.fail++
		st.failures++
		if st.up && st.fail >= r.cfg.Fall {
			changed, reason = true, st.lastErr
		}
	} else {
		st.fail = 0
		st.ok++
		switch {
		case st.up:
		case st.firstPending:
			changed, reason = true, "first check ok"
		case st.ok >= r.cfg.Rise:
			changed, reason = true, fmt.Sprintf("rise %d of %d ok", st.ok, r.cfg.Rise)
		}
	}
	if changed {
		st.up = !st.up
		st.firstPending = false
		st.unsent, st.unsentAt = reason, now
	}
	return changed, st.up, reason
}

func (m *Monitor) logState(key string, addr netip.Addr, check string, up bool, reason string) {
	msg, level := "real server down", slog.LevelWarn
	if up {
		msg, level = "real server up", slog.LevelInfo
	}
	if reason == ReasonInitial {
		level = slog.LevelInfo
	}
	m.log.Log(context.Background(), level, msg, "key", key, "target", addr, "reason", reason, "check", check)
}

// report sends the event of the current state and marks it sent; false if
// ctx ended first (the state stays unsent, for a restarted runner to send).
func (m *Monitor) report(ctx context.Context, r *runner, up bool, reason string, at time.Time) bool {
	if m.events != nil {
		select {
		case m.events <- Event{Key: r.key, Target: r.addr, Up: up, Reason: reason, At: at}:
		case <-ctx.Done():
			return false
		}
	}
	r.mu.Lock()
	r.st.unsent = ""
	r.mu.Unlock()
	return true
}
