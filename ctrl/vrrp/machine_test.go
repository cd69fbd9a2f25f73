package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// Every test runs on plain fake instants: t0 plus exact durations. The
// machine never reads the clock, so the instants asserted are exact.

var (
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	addrA = netip.MustParseAddr("192.0.2.10")
	addrB = netip.MustParseAddr("192.0.2.11")
	addrC = netip.MustParseAddr("192.0.2.12")
	addr9 = netip.MustParseAddr("192.0.2.9")
	vip   = netip.MustParseAddr("192.0.2.100")
)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

func config(version int, prio uint8, iv time.Duration, primary netip.Addr) Config {
	return Config{
		Version:  version,
		VRID:     51,
		Priority: prio,
		Interval: iv,
		Preempt:  true,
		Primary:  primary,
		Addrs:    []netip.Addr{vip},
	}
}

// advert is what a peer of priority prio and interval iv sends.
func advert(version int, prio uint8, iv time.Duration) Advert {
	return Advert{Version: version, VRID: 51, Priority: prio, Interval: iv, Addrs: []netip.Addr{vip}}
}

func send(p uint8) Action { return Action{Kind: ActSend, Priority: p} }

func trans(from, to State, cause string) Action {
	return Action{Kind: ActTransition, From: from, To: to, Cause: cause}
}

func wantActs(t *testing.T, what string, got []Action, want ...Action) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: actions\n  got  %v\n  want %v", what, got, want)
	}
}

func wantState(t *testing.T, m *Machine, s State) {
	t.Helper()
	if m.State() != s {
		t.Fatalf("state %s, want %s", m.State(), s)
	}
}

func wantNext(t *testing.T, m *Machine, want time.Time) {
	t.Helper()
	if !m.Next().Equal(want) {
		t.Fatalf("next %v, want %v", m.Next().Sub(t0), want.Sub(t0))
	}
}

// master returns a machine that became Master at t0 by timing out at
// start (it went Backup at t0 - MDI).
func masterAt(t *testing.T, cfg Config, when time.Time) *Machine {
	t.Helper()
	m := NewMachine(cfg)
	start := when.Add(-m.MasterDownInterval())
	m.Start(start)
	acts := m.Tick(when)
	if m.State() != StateMaster {
		t.Fatalf("setup: not master at %v: %v", when.Sub(t0), acts)
	}
	return m
}

func TestStateNames(t *testing.T) {
	for s, want := range map[State]string{StateInit: "INIT", StateBackup: "BACKUP", StateMaster: "MASTER", StateFault: "FAULT", 9: "State(9)"} {
		if s.String() != want {
			t.Errorf("%d: %q, want %q", int(s), s.String(), want)
		}
	}
	if got := trans(StateBackup, StateMaster, "x").String(); got != "BACKUP -> MASTER: x" {
		t.Errorf("action %q", got)
	}
	if got := send(0).String(); got != "send priority 0" {
		t.Errorf("action %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := config(3, 100, time.Second, addrA)
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		err  string
	}{
		{"ok v3", func(c *Config) {}, ""},
		{"ok v2", func(c *Config) { c.Version = 2; c.AuthPass = "secret" }, ""},
		{"ok v6", func(c *Config) {
			c.Primary = netip.MustParseAddr("fe80::1")
			c.Addrs = []netip.Addr{netip.MustParseAddr("2001:db8::1")}
		}, ""},
		{"version", func(c *Config) { c.Version = 4 }, "version"},
		{"vrid", func(c *Config) { c.VRID = 0 }, "vrid"},
		{"priority", func(c *Config) { c.Priority = 0 }, "priority"},
		{"v2 interval", func(c *Config) { c.Version = 2; c.Interval = 1500 * time.Millisecond }, "version 2 interval"},
		{"v3 interval", func(c *Config) { c.Interval = 5 * time.Millisecond }, "version 3 interval"},
		{"v3 interval max", func(c *Config) { c.Interval = 41 * time.Second }, "version 3 interval"},
		{"preempt delay", func(c *Config) { c.PreemptDelay = -1 }, "preempt delay"},
		{"start", func(c *Config) { c.Start = StateFault }, "start state"},
		{"primary", func(c *Config) { c.Primary = netip.Addr{} }, "primary"},
		{"v2 v6", func(c *Config) {
			c.Version = 2
			c.Primary = netip.MustParseAddr("fe80::1")
			c.Addrs = []netip.Addr{netip.MustParseAddr("2001:db8::1")}
		}, "IPv4 only"},
		{"no vip", func(c *Config) { c.Addrs = nil }, "no virtual"},
		{"family", func(c *Config) { c.Addrs = []netip.Addr{netip.MustParseAddr("2001:db8::1")} }, "family"},
		{"v3 pass", func(c *Config) { c.AuthPass = "x" }, "authentication"},
		{"long pass", func(c *Config) { c.Version = 2; c.AuthPass = "123456789" }, "at most 8"},
	} {
		c := ok
		tc.mod(&c)
		err := c.Validate()
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("NewMachine accepted a bad config")
		}
	}()
	NewMachine(Config{})
}

func TestTimers(t *testing.T) {
	for _, tc := range []struct {
		version  int
		prio     uint8
		iv       time.Duration
		skew     time.Duration
		downIntv time.Duration
	}{
		{3, 100, 100 * time.Millisecond, ms(60.9375), ms(360.9375)},
		{3, 150, 100 * time.Millisecond, ms(41.40625), ms(341.40625)},
		{3, 255, time.Second, ms(3.90625), ms(3003.90625)},
		{3, 1, 10 * time.Millisecond, ms(9.9609375), ms(39.9609375)},
		{2, 100, time.Second, ms(609.375), ms(3609.375)},
		{2, 100, 3 * time.Second, ms(609.375), ms(9609.375)}, // v2: skew is not scaled
		{2, 1, time.Second, ms(996.09375), ms(3996.09375)},
	} {
		m := NewMachine(config(tc.version, tc.prio, tc.iv, addrA))
		if m.SkewTime() != tc.skew || m.MasterDownInterval() != tc.downIntv {
			t.Errorf("v%d prio %d interval %s: skew %s, down %s; want %s, %s",
				tc.version, tc.prio, tc.iv, m.SkewTime(), m.MasterDownInterval(), tc.skew, tc.downIntv)
		}
	}
}

func TestAdvert(t *testing.T) {
	c := config(2, 100, time.Second, addrA)
	c.AuthPass = "pw"
	m := NewMachine(c)
	c.Addrs[0] = addrC // the machine keeps its own copy
	a := m.Advert(42)
	if a.Version != 2 || a.VRID != 51 || a.Priority != 42 || a.Interval != time.Second || a.AuthPass != "pw" ||
		!slices.Equal(a.Addrs, []netip.Addr{vip}) {
		t.Fatalf("advert %+v", a)
	}
	a.Addrs[0] = addrC
	if m.Advert(1).Addrs[0] != vip {
		t.Fatal("advert shares the address list")
	}
}

// Initialize: a Backup waits one Master_Down_Interval; the address owner
// and state MASTER become Master at once.
func TestStart(t *testing.T) {
	m := NewMachine(config(3, 100, 100*time.Millisecond, addrA))
	wantState(t, m, StateInit)
	if !m.Next().IsZero() || m.Tick(at(time.Hour)) != nil || m.Receive(t0, advert(3, 200, time.Second), addrB) != nil {
		t.Fatal("an unstarted machine acts")
	}
	wantActs(t, "start", m.Start(t0), trans(StateInit, StateBackup, "start as backup (state BACKUP)"))
	wantNext(t, m, at(ms(360.9375)))
	if m.MasterAddr().IsValid() {
		t.Fatalf("master %s before any advert", m.MasterAddr())
	}
	wantActs(t, "start again", m.Start(at(time.Millisecond)))

	owner := NewMachine(config(3, 255, time.Second, addrA))
	wantActs(t, "owner", owner.Start(t0), trans(StateInit, StateMaster, "address owner (priority 255)"), send(255))
	wantNext(t, owner, at(time.Second))
	if owner.MasterAddr() != addrA || owner.MasterPriority() != 255 {
		t.Fatalf("master %s %d", owner.MasterAddr(), owner.MasterPriority())
	}

	c := config(2, 100, time.Second, addrA)
	c.Start = StateMaster
	sm := NewMachine(c)
	wantActs(t, "state MASTER", sm.Start(t0), trans(StateInit, StateMaster, "start as master (state MASTER)"), send(100))
	wantNext(t, sm, at(time.Second))
	// ... and then follows the RFC.
	wantActs(t, "higher", sm.Receive(at(ms(300)), advert(2, 101, time.Second), addrB),
		trans(StateMaster, StateBackup, "higher priority 101 from 192.0.2.11"))
}

// Backup -> Master when the Master_Down_Timer fires, at exactly start +
// 3 * interval + skew.
func TestMasterDownTimeout(t *testing.T) {
	for _, tc := range []struct {
		version int
		iv      time.Duration
		want    time.Duration
		cause   string
	}{
		{3, 100 * time.Millisecond, ms(360.9375), "master down interval expired (no advert for 360.9375ms)"},
		{2, time.Second, ms(3609.375), "master down interval expired (no advert for 3.609375s)"},
	} {
		t.Run(fmt.Sprintf("v%d", tc.version), func(t *testing.T) {
			m := NewMachine(config(tc.version, 100, tc.iv, addrA))
			m.Start(t0)
			wantNext(t, m, at(tc.want))
			wantActs(t, "early tick", m.Tick(at(tc.want-1)))
			wantState(t, m, StateBackup)
			wantActs(t, "tick", m.Tick(at(tc.want)), trans(StateBackup, StateMaster, tc.cause), send(100))
			wantNext(t, m, at(tc.want+tc.iv))
			if m.MasterAddr() != addrA {
				t.Fatalf("master %s", m.MasterAddr())
			}
		})
	}
}

// A Backup hearing its master never times out; each advert resets the
// Master_Down_Timer. When they stop, it takes over exactly one
// Master_Down_Interval after the last one.
func TestBackupStaysWithAdverts(t *testing.T) {
	for _, version := range []int{2, 3} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			iv := time.Second
			m := NewMachine(config(version, 100, iv, addrA))
			m.Start(t0)
			down := m.MasterDownInterval()
			var last time.Time
			for k := range 100 {
				now := at(ms(500) + time.Duration(k)*iv)
				if acts := m.Tick(now); acts != nil {
					t.Fatalf("tick at %v: %v", now.Sub(t0), acts)
				}
				wantActs(t, "advert", m.Receive(now, advert(version, 200, iv), addrB))
				wantNext(t, m, now.Add(down))
				last = now
			}
			if m.MasterAddr() != addrB || m.MasterPriority() != 200 {
				t.Fatalf("master %s %d", m.MasterAddr(), m.MasterPriority())
			}
			wantActs(t, "tick", m.Tick(last.Add(down)),
				trans(StateBackup, StateMaster, "master down interval expired (no advert from 192.0.2.11 for "+down.String()+")"), send(100))
		})
	}
}

// A priority 0 advert: the Backup takes over after exactly Skew_Time.
func TestPriorityZeroTakeover(t *testing.T) {
	for _, tc := range []struct {
		version int
		iv      time.Duration
		skew    time.Duration
	}{
		{3, 100 * time.Millisecond, ms(60.9375)},
		{2, time.Second, ms(609.375)},
	} {
		m := NewMachine(config(tc.version, 100, tc.iv, addrA))
		m.Start(t0)
		m.Receive(at(ms(50)), advert(tc.version, 200, tc.iv), addrB)
		stop := at(ms(70))
		wantActs(t, "priority 0", m.Receive(stop, advert(tc.version, 0, tc.iv), addrB))
		wantNext(t, m, stop.Add(tc.skew))
		wantActs(t, "early", m.Tick(stop.Add(tc.skew-1)))
		wantActs(t, "tick", m.Tick(stop.Add(tc.skew)),
			trans(StateBackup, StateMaster, "priority 0 from 192.0.2.11 (master stopped)"), send(100))
	}
}

// Master -> Backup on a higher priority, or an equal one from a higher
// address; a lower one (or equal from a lower address) is discarded and
// answered at once (RFC 9568) without moving the Adver_Timer.
func TestMasterReceives(t *testing.T) {
	iv := 100 * time.Millisecond
	v6a, v6b, v6lo := netip.MustParseAddr("fe80::a"), netip.MustParseAddr("fe80::b"), netip.MustParseAddr("fe80::9")
	for _, tc := range []struct {
		name    string
		primary netip.Addr
		src     netip.Addr
		prio    uint8
		want    []Action
	}{
		{"higher", addrA, addrB, 200, []Action{trans(StateMaster, StateBackup, "higher priority 200 from 192.0.2.11")}},
		{"higher from lower address", addrA, addr9, 101, []Action{trans(StateMaster, StateBackup, "higher priority 101 from 192.0.2.9")}},
		{"equal, higher address", addrA, addrB, 100, []Action{trans(StateMaster, StateBackup, "equal priority, higher address 192.0.2.11")}},
		{"equal, lower address", addrA, addr9, 100, []Action{send(100)}},
		{"lower", addrA, addrB, 99, []Action{send(100)}},
		{"v6 equal, higher address", v6a, v6b, 100, []Action{trans(StateMaster, StateBackup, "equal priority, higher address fe80::b")}},
		{"v6 equal, lower address", v6a, v6lo, 100, []Action{send(100)}},
		{"equal, other family", addrA, v6b, 100, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config(3, 100, iv, tc.primary)
			if tc.primary.Is6() {
				c.Addrs = []netip.Addr{netip.MustParseAddr("2001:db8::1")}
			}
			m := masterAt(t, c, t0)
			now := at(ms(30))
			wantActs(t, "receive", m.Receive(now, advert(3, tc.prio, iv), tc.src), tc.want...)
			if len(tc.want) > 0 && tc.want[0].Kind == ActTransition {
				wantState(t, m, StateBackup)
				wantNext(t, m, now.Add(m.MasterDownInterval()))
				if m.MasterAddr() != tc.src {
					t.Fatalf("master %s", m.MasterAddr())
				}
				return
			}
			wantState(t, m, StateMaster)
			wantNext(t, m, at(iv)) // the Adver_Timer runs on
		})
	}
}

// A Master discards lower adverts, answers each at once, and keeps sending
// at exactly its interval; with LowerPrioNoAdvert it only discards them.
func TestMasterKeepsAdvertising(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		iv := 100 * time.Millisecond
		c := config(3, 150, iv, addrA)
		c.LowerPrioNoAdvert = quiet
		m := masterAt(t, c, t0)
		for k := 1; k <= 50; k++ {
			lower := at(time.Duration(k)*iv - ms(40))
			var want []Action
			if !quiet {
				want = []Action{send(150)}
			}
			wantActs(t, "lower", m.Receive(lower, advert(3, 100, 200*time.Millisecond), addrB), want...)
			wantNext(t, m, at(time.Duration(k)*iv))
			wantActs(t, "early", m.Tick(at(time.Duration(k)*iv-1)))
			wantActs(t, "tick", m.Tick(at(time.Duration(k)*iv)), send(150))
		}
		if m.MasterInterval() != iv {
			t.Fatalf("a master adopted %s", m.MasterInterval())
		}
	}
}

// A Master receiving priority 0 sends at once and resets its Adver_Timer.
func TestMasterPriorityZero(t *testing.T) {
	iv := time.Second
	m := masterAt(t, config(2, 100, iv, addrA), t0)
	wantActs(t, "priority 0", m.Receive(at(ms(400)), advert(2, 0, iv), addrB), send(100))
	wantNext(t, m, at(ms(1400)))
	wantState(t, m, StateMaster)
}

// A version 3 Backup takes the master's advertised interval as
// Master_Adver_Interval; version 2 keeps its own.
func TestAdoptInterval(t *testing.T) {
	m := NewMachine(config(3, 100, time.Second, addrA))
	m.Start(t0)
	m.Receive(at(ms(100)), advert(3, 200, 200*time.Millisecond), addrB)
	if m.MasterInterval() != 200*time.Millisecond || m.MasterDownInterval() != ms(721.875) {
		t.Fatalf("interval %s, down %s", m.MasterInterval(), m.MasterDownInterval())
	}
	wantNext(t, m, at(ms(100+721.875)))
	wantActs(t, "tick", m.Tick(at(ms(821.875))),
		trans(StateBackup, StateMaster, "master down interval expired (no advert from 192.0.2.11 for 721.875ms)"), send(100))
	if m.MasterInterval() != time.Second {
		t.Fatalf("master with interval %s", m.MasterInterval())
	}
	wantNext(t, m, at(ms(1821.875))) // a Master sends at its own interval

	// Backing off from Master adopts the winner's interval too.
	wantActs(t, "higher", m.Receive(at(2*time.Second), advert(3, 200, 50*time.Millisecond), addrB),
		trans(StateMaster, StateBackup, "higher priority 200 from 192.0.2.11"))
	wantNext(t, m, at(2*time.Second+150*time.Millisecond+ms(30.46875)))

	v2 := NewMachine(config(2, 100, time.Second, addrA))
	v2.Start(t0)
	v2.Receive(at(ms(100)), advert(2, 200, 2*time.Second), addrB)
	if v2.MasterInterval() != time.Second {
		t.Fatalf("v2 adopted %s", v2.MasterInterval())
	}
	wantNext(t, v2, at(ms(100+3609.375)))
}

// lowerMaster feeds m adverts of priority prio from addrA, version 2, one
// a second from t0+from to t0+to (exclusive), ticking m before each, and
// returns the instant m became Master (zero if it did not) and its cause.
func lowerMaster(t *testing.T, m *Machine, prio uint8, from, to time.Duration) (time.Time, string) {
	t.Helper()
	for d := from; d < to; d += time.Second {
		now := at(d)
		for !m.Next().IsZero() && !m.Next().After(now) && m.State() == StateBackup {
			n := m.Next()
			acts := m.Tick(n)
			if m.State() == StateMaster {
				return n, acts[0].Cause
			}
		}
		m.Receive(now, advert(2, prio, time.Second), addrA)
	}
	return time.Time{}, ""
}

// Preempt off: a lower-priority master is kept for ever.
func TestPreemptOff(t *testing.T) {
	c := config(2, 200, time.Second, addrB)
	c.Preempt = false
	m := NewMachine(c)
	m.Start(t0)
	if when, _ := lowerMaster(t, m, 100, ms(500), 10*time.Minute); !when.IsZero() {
		t.Fatalf("preempted at %v", when.Sub(t0))
	}
	wantState(t, m, StateBackup)
	if m.MasterAddr() != addrA || m.MasterPriority() != 100 {
		t.Fatalf("master %s %d", m.MasterAddr(), m.MasterPriority())
	}
}

// Start-up hold: a (re)started higher-priority Backup hearing a lower
// master from the start accepts its adverts for one Master_Down_Interval
// (3.4140625 s at priority 150, version 2), then discards them and takes
// over one Master_Down_Interval after the last one it accepted.
func TestStartupHold(t *testing.T) {
	m := NewMachine(config(2, 150, time.Second, addrB))
	m.Start(t0)
	down := m.MasterDownInterval()
	if down != ms(3414.0625) {
		t.Fatalf("down %s", down)
	}
	// Adverts at 0.5, 1.5, 2.5 s are accepted, 3.5 s is not: takeover at
	// 2.5 s + down, not at t0 + down as without the hold.
	when, cause := lowerMaster(t, m, 100, ms(500), time.Minute)
	if want := at(ms(2500) + down); !when.Equal(want) {
		t.Fatalf("took over at %v, want %v", when.Sub(t0), want.Sub(t0))
	}
	if cause != "preempting lower priority 100 from 192.0.2.10" {
		t.Fatalf("cause %q", cause)
	}
}

// Preempt on, long after the start: a Backup whose priority rises above
// its master's discards the master's next advert and takes over one
// Master_Down_Interval (of its new priority) after the last one accepted.
func TestPreemptAfterPriorityRise(t *testing.T) {
	m := NewMachine(config(2, 100, time.Second, addrB))
	m.Start(t0)
	if when, _ := lowerMaster(t, m, 150, ms(500), ms(60000)); !when.IsZero() {
		t.Fatal("took over an equal or higher master")
	}
	wantNext(t, m, at(ms(59500+3609.375)))
	wantActs(t, "raise", m.SetPriority(at(ms(60200)), 200))
	wantNext(t, m, at(ms(59500+3218.75))) // the skew shrank by 390.625 ms
	when, cause := lowerMaster(t, m, 150, ms(60500), 2*time.Minute)
	if want := at(ms(59500 + 3218.75)); !when.Equal(want) {
		t.Fatalf("took over at %v, want %v", when.Sub(t0), want.Sub(t0))
	}
	if cause != "preempting lower priority 150 from 192.0.2.10" {
		t.Fatalf("cause %q", cause)
	}
}

// preempt_delay (keepalived): lower adverts are accepted until the delay
// has passed since the first one; a higher one restarts the count.
func TestPreemptDelay(t *testing.T) {
	c := config(2, 150, time.Second, addrB)
	c.PreemptDelay = 10 * time.Second
	down := ms(3414.0625)

	m := NewMachine(c)
	m.Start(t0)
	// First lower advert at 0.5 s: accepted up to 9.5 s, 10.5 s discarded.
	when, _ := lowerMaster(t, m, 100, ms(500), time.Minute)
	if want := at(ms(9500) + down); !when.Equal(want) {
		t.Fatalf("took over at %v, want %v", when.Sub(t0), want.Sub(t0))
	}

	m = NewMachine(c)
	m.Start(t0)
	lowerMaster(t, m, 100, ms(500), ms(5500))
	m.Receive(at(ms(5500)), advert(2, 200, time.Second), addrC) // stops the delay
	// Restarts at the next lower one, 6.5 s: accepted up to 15.5 s.
	when, _ = lowerMaster(t, m, 100, ms(6500), time.Minute)
	if want := at(ms(15500) + down); !when.Equal(want) {
		t.Fatalf("took over at %v, want %v", when.Sub(t0), want.Sub(t0))
	}

	// The start-up hold is the longer one when preempt_delay is short.
	c.PreemptDelay = time.Second
	m = NewMachine(c)
	m.Start(t0)
	when, _ = lowerMaster(t, m, 100, ms(500), time.Minute)
	if want := at(ms(2500) + down); !when.Equal(want) {
		t.Fatalf("took over at %v, want %v", when.Sub(t0), want.Sub(t0))
	}
}

// Shutdown: a Master sends priority 0 and goes to Init; a Backup just goes.
func TestStop(t *testing.T) {
	iv := 100 * time.Millisecond
	m := masterAt(t, config(3, 100, iv, addrA), t0)
	wantActs(t, "stop master", m.Stop(at(ms(50))), trans(StateMaster, StateInit, "stopped"), send(0))
	wantState(t, m, StateInit)
	if !m.Next().IsZero() || m.Tick(at(time.Hour)) != nil || m.Receive(at(time.Hour), advert(3, 200, iv), addrB) != nil {
		t.Fatal("a stopped machine acts")
	}
	wantActs(t, "stop again", m.Stop(at(ms(60))))
	// It can start again, as a Backup.
	wantActs(t, "restart", m.Start(at(time.Second)), trans(StateInit, StateBackup, "start as backup (state BACKUP)"))

	b := NewMachine(config(3, 100, iv, addrA))
	b.Start(t0)
	wantActs(t, "stop backup", b.Stop(at(ms(50))), trans(StateBackup, StateInit, "stopped"))
}

// Fault: a Master sends priority 0, then silence; nothing makes a faulty
// router Master; clearing the fault is Backup with a fresh timer.
func TestFault(t *testing.T) {
	iv := 100 * time.Millisecond
	m := masterAt(t, config(3, 100, iv, addrA), t0)
	wantActs(t, "fault", m.SetFault(at(ms(20)), true, "link down"), trans(StateMaster, StateFault, "fault: link down"), send(0))
	wantActs(t, "fault again", m.SetFault(at(ms(25)), true, "link down"))
	if !m.Next().IsZero() {
		t.Fatalf("a timer runs in fault: %v", m.Next())
	}
	for k := range 100 {
		now := at(ms(30) + time.Duration(k)*iv)
		if acts := slices.Concat(m.Tick(now), m.Receive(now, advert(3, 0, iv), addrB),
			m.Force(now, StateMaster, "instance VI_2 is MASTER"), m.SetPriority(now, uint8(50+k))); len(acts) > 0 {
			t.Fatalf("faulty machine acts: %v", acts)
		}
	}
	m.Receive(at(11*time.Second), advert(3, 90, 200*time.Millisecond), addrB)
	if m.MasterAddr() != addrB || m.MasterInterval() != iv {
		t.Fatalf("master %s interval %s", m.MasterAddr(), m.MasterInterval())
	}
	wantState(t, m, StateFault)
	clear := at(12 * time.Second)
	wantActs(t, "clear", m.SetFault(clear, false, "link up"), trans(StateFault, StateBackup, "fault cleared: link up"))
	wantNext(t, m, clear.Add(m.MasterDownInterval()))
	wantActs(t, "clear again", m.SetFault(clear, false, ""))

	// No start-up hold after a fault: a lower master is preempted at once.
	c := config(2, 150, time.Second, addrB)
	b := NewMachine(c)
	b.Start(t0)
	b.SetFault(at(100*time.Second), true, "check failed")
	wantActs(t, "clear", b.SetFault(at(110*time.Second), false, ""), trans(StateFault, StateBackup, "fault cleared"))
	when, cause := lowerMaster(t, b, 100, ms(110500), 2*time.Minute)
	if want := at(110*time.Second + ms(3414.0625)); !when.Equal(want) || cause != "preempting lower priority 100 from 192.0.2.10" {
		t.Fatalf("took over at %v (%s), want %v", when.Sub(t0), cause, want.Sub(t0))
	}

	// A fault set before Start is entered by Start.
	f := NewMachine(config(3, 100, iv, addrA))
	wantActs(t, "fault before start", f.SetFault(t0, true, "no link"))
	wantActs(t, "start", f.Start(t0), trans(StateInit, StateFault, "fault: no link"))

	// The address owner leaves Fault for Master, as Initialize would.
	o := NewMachine(config(3, 255, iv, addrA))
	o.Start(t0)
	o.SetFault(at(time.Second), true, "no link")
	wantActs(t, "owner clear", o.SetFault(at(2*time.Second), false, ""),
		trans(StateFault, StateMaster, "fault cleared, address owner (priority 255)"), send(255))
}

// SetPriority: a Master sends the new priority at once (its Adver_Timer
// runs on); a Backup moves its timer by the change of skew.
func TestSetPriority(t *testing.T) {
	iv := 100 * time.Millisecond
	m := masterAt(t, config(3, 150, iv, addrA), t0)
	wantActs(t, "lower", m.SetPriority(at(ms(30)), 120), send(120))
	wantActs(t, "same", m.SetPriority(at(ms(31)), 120))
	wantNext(t, m, at(iv))
	wantActs(t, "tick", m.Tick(at(iv)), send(120))
	if m.Priority() != 120 || m.MasterPriority() != 120 {
		t.Fatalf("priority %d, master %d", m.Priority(), m.MasterPriority())
	}
	// Now lower than a peer's 130: backs off on its advert.
	wantActs(t, "higher", m.Receive(at(ms(150)), advert(3, 130, iv), addrB),
		trans(StateMaster, StateBackup, "higher priority 130 from 192.0.2.11"))

	b := NewMachine(config(3, 100, iv, addrA))
	b.Start(t0)
	wantNext(t, b, at(ms(360.9375)))
	b.SetPriority(at(ms(10)), 200) // skew 60.9375 -> 21.875 ms
	wantNext(t, b, at(ms(321.875)))
	b.SetPriority(at(ms(20)), 0) // clamped to 1: skew 99.609375 ms
	if b.Priority() != 1 {
		t.Fatalf("priority %d", b.Priority())
	}
	wantNext(t, b, at(ms(399.609375)))
	b.SetPriority(at(ms(20)), 255)
	if b.Priority() != 254 {
		t.Fatalf("priority %d", b.Priority())
	}

	o := NewMachine(config(3, 255, iv, addrA))
	o.Start(t0)
	wantActs(t, "owner", o.SetPriority(at(ms(10)), 100))
	if o.Priority() != 255 {
		t.Fatalf("owner priority %d", o.Priority())
	}
}

// Force, for sync groups.
func TestForce(t *testing.T) {
	iv := 100 * time.Millisecond
	c := config(3, 100, iv, addrA)
	now := at(ms(50))
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) *Machine
		to    State
		want  []Action
		state State
	}{
		{"master to backup", func(t *testing.T) *Machine { return masterAt(t, c, t0) }, StateBackup,
			[]Action{trans(StateMaster, StateBackup, "sync group: VI_2 BACKUP"), send(0)}, StateBackup},
		{"backup to master", backupAt, StateMaster,
			[]Action{trans(StateBackup, StateMaster, "sync group: VI_2 MASTER"), send(100)}, StateMaster},
		{"backup to fault", backupAt, StateFault,
			[]Action{trans(StateBackup, StateFault, "sync group: VI_2 FAULT")}, StateFault},
		{"master to fault", func(t *testing.T) *Machine { return masterAt(t, c, t0) }, StateFault,
			[]Action{trans(StateMaster, StateFault, "sync group: VI_2 FAULT"), send(0)}, StateFault},
		{"backup stays", backupAt, StateBackup, nil, StateBackup},
		{"master stays", func(t *testing.T) *Machine { return masterAt(t, c, t0) }, StateMaster, nil, StateMaster},
		{"forced fault to backup", func(t *testing.T) *Machine {
			m := backupAt(t)
			m.Force(t0, StateFault, "x")
			return m
		}, StateBackup, []Action{trans(StateFault, StateBackup, "sync group: VI_2 BACKUP")}, StateBackup},
		{"forced fault to master", func(t *testing.T) *Machine {
			m := backupAt(t)
			m.Force(t0, StateFault, "x")
			return m
		}, StateMaster, []Action{trans(StateFault, StateMaster, "sync group: VI_2 MASTER"), send(100)}, StateMaster},
		{"own fault stays for backup", func(t *testing.T) *Machine {
			m := backupAt(t)
			m.SetFault(t0, true, "link down")
			return m
		}, StateBackup, nil, StateFault},
		{"own fault refuses master", func(t *testing.T) *Machine {
			m := backupAt(t)
			m.SetFault(t0, true, "link down")
			return m
		}, StateMaster, nil, StateFault},
		{"not started", func(t *testing.T) *Machine { return NewMachine(c) }, StateMaster, nil, StateInit},
		{"not a state", backupAt, StateInit, nil, StateBackup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.setup(t)
			wantActs(t, "force", m.Force(now, tc.to, "VI_2 "+tc.to.String()), tc.want...)
			wantState(t, m, tc.state)
			switch {
			case m.State() == StateFault || m.State() == StateInit:
				wantNext(t, m, time.Time{})
			case len(tc.want) == 0: // unchanged
			case m.State() == StateBackup:
				wantNext(t, m, now.Add(m.MasterDownInterval()))
			case m.State() == StateMaster:
				wantNext(t, m, now.Add(iv))
			}
		})
	}

	// A forced and an own fault: both must go before the machine leaves.
	m := backupAt(t)
	m.Force(now, StateFault, "group fault")
	m.SetFault(now, true, "link down")
	wantActs(t, "clear own", m.SetFault(now, false, ""))
	wantState(t, m, StateFault)
	wantActs(t, "lift forced", m.Force(now, StateBackup, "group backup"), trans(StateFault, StateBackup, "sync group: group backup"))

	m = backupAt(t)
	m.Force(now, StateFault, "group fault")
	m.SetFault(now, true, "link down")
	wantActs(t, "lift forced", m.Force(now, StateBackup, "group backup"))
	wantActs(t, "clear own", m.SetFault(now, false, "link up"), trans(StateFault, StateBackup, "fault cleared: link up"))

	// Not sticky: a forced Backup still times out.
	m = masterAt(t, c, t0)
	m.Force(now, StateBackup, "g")
	wantActs(t, "tick", m.Tick(now.Add(m.MasterDownInterval())),
		trans(StateBackup, StateMaster, "master down interval expired (no advert for 360.9375ms)"), send(100))
}

func backupAt(t *testing.T) *Machine {
	m := NewMachine(config(3, 100, 100*time.Millisecond, addrA))
	m.Start(t0)
	return m
}

// A Backup does no tie-break: an equal priority from a lower address is
// its master.
func TestBackupEqualPriority(t *testing.T) {
	m := NewMachine(config(3, 100, time.Second, addrB))
	m.Start(t0)
	for k := range 20 {
		now := at(ms(500) + time.Duration(k)*time.Second)
		if acts := slices.Concat(m.Tick(now), m.Receive(now, advert(3, 100, time.Second), addrA)); len(acts) > 0 {
			t.Fatalf("%v", acts)
		}
	}
	wantState(t, m, StateBackup)
}

// Our own adverts looped back are ignored.
func TestOwnAdvert(t *testing.T) {
	m := masterAt(t, config(3, 100, time.Second, addrA), t0)
	wantActs(t, "own", m.Receive(at(ms(10)), advert(3, 200, time.Second), addrA))
	wantState(t, m, StateMaster)
}

// ---- a fake network of machines on the fake clock ----

type simNode struct {
	name string
	m    *Machine
	dead bool // crashed: no ticks, no sends, deaf
}

type delivery struct {
	at       time.Time
	from, to int
	adv      Advert
}

type simEvent struct {
	at   time.Time
	node int
	act  Action
}

type sim struct {
	t     *testing.T
	now   time.Time
	nodes []*simNode
	queue []delivery // FIFO; zero latency, so every entry is due now
	drop  func(now time.Time, from, to int) bool
	// dualOK tells whether two masters at now are expected (an injected
	// partition); the invariant is checked when an instant is settled.
	dualOK func(now time.Time) bool
	log    []simEvent
	rx     [][]time.Time // rx[to]: instants adverts from the other node arrived
	dual   []time.Time   // settled instants with two masters
}

func newSim(t *testing.T, cfgs ...Config) *sim {
	s := &sim{t: t, now: t0, drop: func(time.Time, int, int) bool { return false },
		dualOK: func(time.Time) bool { return false }}
	for i, c := range cfgs {
		s.nodes = append(s.nodes, &simNode{name: string(rune('A' + i)), m: NewMachine(c)})
		s.rx = append(s.rx, nil)
	}
	return s
}

// apply carries out node i's actions at s.now.
func (s *sim) apply(i int, acts []Action) {
	for _, a := range acts {
		s.log = append(s.log, simEvent{s.now, i, a})
		if a.Kind != ActSend {
			continue
		}
		adv := s.nodes[i].m.Advert(a.Priority)
		for j, n := range s.nodes {
			if j != i && !n.dead && !s.drop(s.now, i, j) {
				s.queue = append(s.queue, delivery{s.now, i, j, adv})
			}
		}
	}
}

// settle delivers what is in flight (all due now), then fires the timers
// due now, until nothing is left at this instant; then checks that at
// most one node is Master.
func (s *sim) settle() {
	for {
		if len(s.queue) > 0 {
			d := s.queue[0]
			s.queue = s.queue[1:]
			s.rx[d.to] = append(s.rx[d.to], s.now)
			s.apply(d.to, s.nodes[d.to].m.Receive(s.now, d.adv, s.nodes[d.from].m.cfg.Primary))
			continue
		}
		fired := false
		for i, n := range s.nodes {
			if !n.dead && !n.m.Next().IsZero() && !n.m.Next().After(s.now) {
				s.apply(i, n.m.Tick(s.now))
				fired = true
				break
			}
		}
		if !fired {
			break
		}
	}
	masters := 0
	for _, n := range s.nodes {
		if !n.dead && n.m.State() == StateMaster {
			masters++
		}
	}
	if masters > 1 {
		if !s.dualOK(s.now) {
			s.t.Fatalf("%v: %d masters\n%s", s.now.Sub(t0), masters, s.tail())
		}
		s.dual = append(s.dual, s.now)
	}
}

// run advances the clock to until, firing every timer on the way.
func (s *sim) run(until time.Time) {
	for {
		next := time.Time{}
		for _, n := range s.nodes {
			if x := n.m.Next(); !n.dead && !x.IsZero() && (next.IsZero() || x.Before(next)) {
				next = x
			}
		}
		if next.IsZero() || next.After(until) {
			break
		}
		s.now = next
		s.settle()
	}
	s.now = until
	s.settle()
}

// do runs a control call on node i at the current instant.
func (s *sim) do(i int, f func(m *Machine, now time.Time) []Action) {
	s.apply(i, f(s.nodes[i].m, s.now))
	s.settle()
}

// transitions of node i from the log, in order.
func (s *sim) transitions(i int) []simEvent {
	var out []simEvent
	for _, e := range s.log {
		if e.node == i && e.act.Kind == ActTransition {
			out = append(out, e)
		}
	}
	return out
}

// firstTransition is node i's first transition to state to, at or after
// from.
func (s *sim) firstTransition(i int, to State, from time.Time) (simEvent, bool) {
	for _, e := range s.transitions(i) {
		if e.act.To == to && !e.at.Before(from) {
			return e, true
		}
	}
	return simEvent{}, false
}

// lastRx is the last instant node i heard an advert, before (not at) t.
func (s *sim) lastRx(i int, before time.Time) time.Time {
	var last time.Time
	for _, r := range s.rx[i] {
		if r.Before(before) {
			last = r
		}
	}
	return last
}

func (s *sim) tail() string {
	var b strings.Builder
	for _, e := range s.log[max(0, len(s.log)-20):] {
		fmt.Fprintf(&b, "  %v %s %s\n", e.at.Sub(t0), s.nodes[e.node].name, e.act)
	}
	return b.String()
}

// window is a half-open interval of time.
type window struct{ from, to time.Time }

func (w window) has(t time.Time) bool { return !t.Before(w.from) && t.Before(w.to) }

// Split brain: two routers both Master across a partition; when it heals,
// the lower one backs off on the first advert it receives, within one
// advert interval.
func TestSplitBrain(t *testing.T) {
	for _, tc := range []struct {
		name           string
		prioA, prioB   uint8
		loser          int
		startAsMasters bool
	}{
		{"priority", 150, 100, 1, false},
		{"priority, state MASTER", 100, 150, 0, true},
		{"equal priority, higher address wins", 100, 100, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iv := 100 * time.Millisecond
			ca, cb := config(3, tc.prioA, iv, addrA), config(3, tc.prioB, iv, addrB)
			if tc.startAsMasters {
				ca.Start, cb.Start = StateMaster, StateMaster
			}
			s := newSim(t, ca, cb)
			part := window{t0, at(10 * time.Second)}
			s.drop = func(now time.Time, _, _ int) bool { return part.has(now) }
			s.dualOK = func(now time.Time) bool { return part.has(now) }
			s.do(0, (*Machine).Start)
			s.do(1, (*Machine).Start)
			s.run(at(5 * time.Second))
			if s.nodes[0].m.State() != StateMaster || s.nodes[1].m.State() != StateMaster {
				t.Fatalf("not split: %s %s", s.nodes[0].m.State(), s.nodes[1].m.State())
			}
			s.run(at(time.Minute))
			e, ok := s.firstTransition(tc.loser, StateBackup, part.to)
			if !ok {
				t.Fatalf("%s never backed off", s.nodes[tc.loser].name)
			}
			if e.at.Sub(part.to) > iv {
				t.Fatalf("%s backed off %v after the heal", s.nodes[tc.loser].name, e.at.Sub(part.to))
			}
			if s.nodes[tc.loser].m.State() != StateBackup || s.nodes[1-tc.loser].m.State() != StateMaster {
				t.Fatalf("end: %s %s", s.nodes[0].m.State(), s.nodes[1].m.State())
			}
			t.Logf("%s backed off %v after the heal: %s", s.nodes[tc.loser].name, e.at.Sub(part.to), e.act.Cause)
		})
	}
}

// Two routers, A (150) and B (100), for some simulated minutes, with
// drops injected at chosen times. At every settled instant at most one is
// Master, except during the injected partitions (and at most one advert
// interval after them). Takeovers are measured exactly.
func TestSimulation(t *testing.T) {
	for _, tc := range []struct {
		version int
		iv      time.Duration
	}{
		{3, 100 * time.Millisecond},
		{2, time.Second},
	} {
		t.Run(fmt.Sprintf("v%d", tc.version), func(t *testing.T) {
			iv := tc.iv
			I := func(n float64) time.Duration { return time.Duration(n * float64(iv)) }
			s := newSim(t, config(tc.version, 150, iv, addrA), config(tc.version, 100, iv, addrB))
			A, B := 0, 1
			a, b := s.nodes[A].m, s.nodes[B].m
			downB := b.MasterDownInterval()

			// Injected faults, in advert intervals from t0.
			drop2 := window{at(I(100.5)), at(I(102.5))}   // A->B: two adverts lost
			drop3 := window{at(I(200.5)), at(I(203.5))}   // A->B: three adverts lost
			partition := window{at(I(300)), at(I(350.5))} // both ways
			var allowed []window
			for _, w := range []window{drop3, partition} {
				allowed = append(allowed, window{w.from, w.to.Add(iv)})
			}
			s.drop = func(now time.Time, from, to int) bool {
				return from == A && (drop2.has(now) || drop3.has(now)) || partition.has(now)
			}
			s.dualOK = func(now time.Time) bool {
				return slices.ContainsFunc(allowed, func(w window) bool { return w.has(now) })
			}

			s.do(A, (*Machine).Start)
			s.do(B, (*Machine).Start)
			s.run(at(I(50)))
			if a.State() != StateMaster || b.State() != StateBackup {
				t.Fatalf("after start: A %s B %s", a.State(), b.State())
			}
			if e, _ := s.firstTransition(A, StateMaster, t0); !e.at.Equal(at(a.MasterDownInterval())) {
				t.Fatalf("A master at %v, want %v", e.at.Sub(t0), a.MasterDownInterval())
			}

			// Two lost adverts: no failover.
			s.run(at(I(150)))
			if _, ok := s.firstTransition(B, StateMaster, t0); ok {
				t.Fatal("B took over after two lost adverts")
			}

			// Three lost adverts: B takes over one Master_Down_Interval
			// after the last it heard, and backs off at once when A's
			// adverts pass again.
			s.run(at(I(250)))
			e, ok := s.firstTransition(B, StateMaster, drop3.from)
			if want := s.lastRx(B, drop3.from).Add(downB); !ok || !e.at.Equal(want) {
				t.Fatalf("B took over at %v, want %v", e.at.Sub(t0), want.Sub(t0))
			}
			if back, ok := s.firstTransition(B, StateBackup, e.at); !ok || back.at.After(drop3.to.Add(iv)) {
				t.Fatalf("B backed off at %v (window ends %v)", back.at.Sub(t0), drop3.to.Sub(t0))
			}

			// A partition: both Master; after it, B backs off within one
			// advert interval.
			s.run(at(I(400)))
			e, ok = s.firstTransition(B, StateMaster, partition.from)
			if want := s.lastRx(B, partition.from).Add(downB); !ok || !e.at.Equal(want) {
				t.Fatalf("B took over at %v, want %v", e.at.Sub(t0), want.Sub(t0))
			}
			back, ok := s.firstTransition(B, StateBackup, partition.to)
			if !ok || back.at.Sub(partition.to) > iv {
				t.Fatalf("B backed off at %v, partition ended %v", back.at.Sub(t0), partition.to.Sub(t0))
			}

			// B restarts: it stays Backup; A is not disturbed.
			s.run(at(I(500)))
			s.do(B, (*Machine).Stop)
			s.do(B, (*Machine).Start)
			s.run(at(I(600)))
			if a.State() != StateMaster || b.State() != StateBackup {
				t.Fatalf("after B's restart: A %s B %s", a.State(), b.State())
			}

			// A stops cleanly: B takes over after exactly its Skew_Time.
			stopA := s.now
			s.do(A, (*Machine).Stop)
			s.run(at(I(610)))
			e, ok = s.firstTransition(B, StateMaster, stopA)
			if want := stopA.Add(b.SkewTime()); !ok || !e.at.Equal(want) {
				t.Fatalf("B took over at %v, want %v", e.at.Sub(t0), want.Sub(t0))
			}
			if e.act.Cause != "priority 0 from 192.0.2.10 (master stopped)" {
				t.Fatalf("cause %q", e.act.Cause)
			}

			// A starts again 20 intervals later: the start-up hold keeps it
			// Backup for one Master_Down_Interval, then it preempts B one
			// Master_Down_Interval after the last advert it accepted, and
			// B backs off at that same instant.
			s.run(at(I(620)))
			startA := s.now
			s.do(A, (*Machine).Start)
			s.run(at(I(700)))
			e, ok = s.firstTransition(A, StateMaster, startA)
			holdEnd := startA.Add(a.MasterDownInterval())
			if want := s.lastRx(A, holdEnd).Add(a.MasterDownInterval()); !ok || !e.at.Equal(want) {
				t.Fatalf("A preempted at %v, want %v", e.at.Sub(t0), want.Sub(t0))
			}
			if !strings.HasPrefix(e.act.Cause, "preempting lower priority 100 from 192.0.2.11") {
				t.Fatalf("cause %q", e.act.Cause)
			}
			if back, ok := s.firstTransition(B, StateBackup, startA); !ok || !back.at.Equal(e.at) {
				t.Fatalf("B backed off at %v, A master at %v", back.at.Sub(t0), e.at.Sub(t0))
			}

			// A crashes (stops sending, silently): B takes over exactly
			// one Master_Down_Interval after A's last advert.
			s.run(at(I(900.5)))
			crash := s.now
			s.nodes[A].dead = true
			s.run(at(I(1800)))
			e, ok = s.firstTransition(B, StateMaster, crash)
			lastA := s.lastRx(B, crash.Add(time.Nanosecond))
			if !ok || e.at.Sub(lastA) != downB {
				t.Fatalf("B took over %v after A's last advert, want %v", e.at.Sub(lastA), downB)
			}
			t.Logf("takeover %v after A's last advert (B's master down interval %v): %s", e.at.Sub(lastA), downB, e.act.Cause)
			if b.State() != StateMaster {
				t.Fatalf("B ends %s", b.State())
			}
			for _, d := range s.dual {
				if !s.dualOK(d) {
					t.Fatalf("two masters at %v", d.Sub(t0))
				}
			}
			if len(s.dual) == 0 {
				t.Fatal("the partition made no split brain")
			}
		})
	}
}
