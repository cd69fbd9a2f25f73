package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Machine is the state machine of one virtual router: RFC 9568 section
// 6.4 for version 3, RFC 3768 section 6.4 for version 2, with keepalived's
// extensions (initial state MASTER, preempt_delay, fault, sync groups).
//
// The machine is pure. It starts no goroutine, opens no socket and never
// reads the clock: every method takes the caller's now and returns the
// actions the caller must carry out, in order. Next is the instant of the
// one timer that runs (the Master_Down_Timer of a Backup, the Adver_Timer
// of a Master); the caller calls Tick when its clock reaches it. A Tick
// before Next does nothing, a late one acts once, as of its own now.
//
// What the caller does with the actions:
//   - ActSend: send m.Advert(a.Priority) at once.
//   - ActTransition: report it. On every transition To StateMaster the
//     caller takes the virtual addresses and announces them (gratuitous
//     ARP, unsolicited neighbour advertisements); no separate action asks
//     for that. On every transition From StateMaster it releases them.
//
// A batch that enters Master is the transition followed by the advert to
// send; the caller should send the batch's adverts before it announces,
// as keepalived does, so that the old master has dropped the addresses
// when the announcements arrive.
//
// Where the RFCs are silent, the choices are these (each is also told
// where it is made):
//   - Start-up hold: after Start, a Backup with preemption on does not
//     preempt a lower-priority master before one Master_Down_Interval has
//     passed since Start (preempt_delay, if longer, holds it longer), so a
//     restarted control process first listens to the pair before it
//     disturbs it. It applies once per Start, not after a fault clears or
//     a sync group forces Backup.
//   - preempt_delay is keepalived's: it runs from the first lower-priority
//     advert heard since this router last entered Backup or last heard an
//     advert of its own priority or higher.
//   - A Master that receives a lower-priority advert (or an equal one from
//     a lower address) discards it and sends an advert at once (RFC 9568
//     section 6.4.3, new since RFC 5798; keepalived's default for both
//     versions), unless Config.LowerPrioNoAdvert. Its Adver_Timer keeps
//     running. This ends a split brain within one delivery of an advert.
//   - Fault is keepalived's: no adverts, never Master; a Master entering
//     it first sends priority 0 so the peer takes over within its skew
//     time. Leaving it is Backup with a fresh Master_Down_Timer on the own
//     interval (the address owner: Master at once, as Initialize would).
//   - The address owner (priority 255) always preempts (RFC 9568 section
//     6.1), whatever Preempt says, and its priority never changes.
type Machine struct {
	cfg   Config
	state State
	prio  uint8 // effective priority

	// masterInt is Master_Adver_Interval: the advertised interval of the
	// master a version 3 Backup last accepted, else the own interval.
	masterInt time.Duration
	// deadline is the Master_Down_Timer in Backup, the Adver_Timer in
	// Master, zero otherwise.
	deadline time.Time

	// Backup bookkeeping, for the causes of the transitions it leads to.
	armedAt  time.Time // when the Master_Down_Timer was last set
	armedBy  armer
	stopper  netip.Addr // the sender of the priority 0 advert that set it to Skew_Time
	lower    bool       // a lower-priority advert was discarded since armedAt
	lowerPri uint8
	lowerSrc netip.Addr

	masterAddr netip.Addr // the current master as last heard
	masterPri  uint8

	started    time.Time
	startHold  bool      // the start-up hold applies to this Backup period
	lowerSince time.Time // preempt_delay runs from here; zero: not started

	fault    bool // SetFault's
	forced   bool // Force's (sync group)
	faultWhy string
}

type armer int

const (
	armedByEntry  armer = iota // entering Backup
	armedByAdvert              // an accepted advert
	armedByStop                // a priority 0 advert: Skew_Time
)

// State is a virtual router's state.
type State int

// States. StateInit is RFC 9568's Initialize: before Start and after Stop.
const (
	StateInit State = iota
	StateBackup
	StateMaster
	StateFault
)

var stateNames = [...]string{
	StateInit:   "INIT",
	StateBackup: "BACKUP",
	StateMaster: "MASTER",
	StateFault:  "FAULT",
}

// String is keepalived's name of the state.
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Config is one virtual router's configuration.
type Config struct {
	Version  int   // 2 or 3
	VRID     uint8 // 1..255
	Priority uint8 // 1..255; 255 = address owner
	// Interval is the own advertisement interval: whole seconds, 1..255 s,
	// in version 2; a multiple of 10 ms, 10 ms .. 40.95 s, in version 3.
	Interval time.Duration
	// Preempt lets a Backup take over from a lower-priority master
	// (keepalived's default; nopreempt is false). The address owner
	// always preempts.
	Preempt bool
	// PreemptDelay is keepalived's preempt_delay: how long a Backup keeps
	// accepting a lower-priority master, from the first advert it heard
	// from one, before it preempts. 0: no delay beyond the start-up hold.
	PreemptDelay time.Duration
	// Start is the state Start enters: StateBackup (or the zero
	// StateInit) to wait one Master_Down_Interval for a master, as the
	// RFCs do; StateMaster to become Master at once (see Start).
	Start State
	// Primary is the own primary address, the source of the adverts; the
	// tie-break between equal priorities compares it with the sender's.
	Primary netip.Addr
	// Addrs are the virtual addresses, copied into every advert.
	Addrs []netip.Addr
	// AuthPass is version 2's simple password; "" for none.
	AuthPass string
	// LowerPrioNoAdvert is keepalived's lower_prio_no_advert: a Master
	// that receives a lower-priority advert only discards it, as the RFCs
	// before RFC 9568 say, instead of also sending an advert at once.
	LowerPrioNoAdvert bool
}

// Validate checks the settings; the error names the first bad one.
func (c Config) Validate() error {
	switch c.Version {
	case 2, 3:
	default:
		return fmt.Errorf("version must be 2 or 3, got %d", c.Version)
	}
	if c.VRID == 0 {
		return errors.New("vrid must be 1..255, got 0")
	}
	if c.Priority == 0 {
		return errors.New("priority must be 1..255, got 0")
	}
	if c.Version == 2 {
		if c.Interval < time.Second || c.Interval > 255*time.Second || c.Interval%time.Second != 0 {
			return fmt.Errorf("version 2 interval must be whole seconds, 1..255 s, got %s", c.Interval)
		}
	} else if c.Interval < 10*time.Millisecond || c.Interval > 4095*10*time.Millisecond || c.Interval%(10*time.Millisecond) != 0 {
		return fmt.Errorf("version 3 interval must be a multiple of 10 ms, 10 ms .. 40.95 s, got %s", c.Interval)
	}
	if c.PreemptDelay < 0 {
		return fmt.Errorf("preempt delay must not be negative, got %s", c.PreemptDelay)
	}
	switch c.Start {
	case StateInit, StateBackup, StateMaster:
	default:
		return fmt.Errorf("start state must be BACKUP or MASTER, got %s", c.Start)
	}
	if !c.Primary.IsValid() {
		return errors.New("no primary address")
	}
	if c.Version == 2 && !c.Primary.Is4() {
		return fmt.Errorf("version 2 is IPv4 only, primary address is %s", c.Primary)
	}
	if len(c.Addrs) == 0 {
		return errors.New("no virtual address")
	}
	for _, a := range c.Addrs {
		if !a.IsValid() || a.Is4() != c.Primary.Is4() || a.Is4In6() {
			return fmt.Errorf("virtual address %s is not of the primary address's family (%s)", a, c.Primary)
		}
	}
	if c.Version == 3 && c.AuthPass != "" {
		return errors.New("version 3 has no authentication")
	}
	if len(c.AuthPass) > 8 {
		return fmt.Errorf("password is %d bytes, at most 8", len(c.AuthPass))
	}
	return nil
}

// ActionKind is what an Action asks of the caller.
type ActionKind int

// Action kinds. The zero ActionKind is none.
const (
	ActSend       ActionKind = iota + 1 // send Advert(Priority)
	ActTransition                       // the state changed From, To, for Cause
)

func (k ActionKind) String() string {
	switch k {
	case ActSend:
		return "send"
	case ActTransition:
		return "transition"
	}
	return fmt.Sprintf("ActionKind(%d)", int(k))
}

// Action is one thing the caller must do, see Machine.
type Action struct {
	Kind     ActionKind
	Priority uint8 // ActSend: the priority to advertise
	From, To State // ActTransition
	Cause    string
}

func (a Action) String() string {
	switch a.Kind {
	case ActSend:
		return fmt.Sprintf("send priority %d", a.Priority)
	case ActTransition:
		return fmt.Sprintf("%s -> %s: %s", a.From, a.To, a.Cause)
	}
	return a.Kind.String()
}

// NewMachine returns the machine of one virtual router, in StateInit. It
// panics if cfg.Validate fails: the caller validates the configuration.
func NewMachine(cfg Config) *Machine {
	if err := cfg.Validate(); err != nil {
		panic("vrrp: NewMachine: " + err.Error())
	}
	cfg.Addrs = slices.Clone(cfg.Addrs)
	return &Machine{cfg: cfg, prio: cfg.Priority, masterInt: cfg.Interval}
}

// State is the current state.
func (m *Machine) State() State { return m.state }

// Priority is the effective priority, the one the adverts carry.
func (m *Machine) Priority() uint8 { return m.prio }

// MasterAddr is the current master's address as last heard (the sender
// of the last advert of non-zero priority a Backup or Fault received),
// the own Primary when Master, invalid when unknown.
func (m *Machine) MasterAddr() netip.Addr { return m.masterAddr }

// MasterPriority is the priority MasterAddr advertised (the own one when
// Master), 0 when unknown.
func (m *Machine) MasterPriority() uint8 { return m.masterPri }

// MasterInterval is Master_Adver_Interval: in version 3 the interval the
// accepted master advertises, while Backup; otherwise the own interval.
func (m *Machine) MasterInterval() time.Duration { return m.masterInt }

// SkewTime is Skew_Time: ((256 - Priority) * Master_Adver_Interval) / 256
// in version 3, (256 - Priority) / 256 s in version 2, of the effective
// priority.
func (m *Machine) SkewTime() time.Duration {
	unit := time.Second
	if m.cfg.Version == 3 {
		unit = m.masterInt
	}
	return time.Duration(256-int64(m.prio)) * unit / 256
}

// MasterDownInterval is Master_Down_Interval: 3 * Master_Adver_Interval
// + Skew_Time.
func (m *Machine) MasterDownInterval() time.Duration {
	return 3*m.masterInt + m.SkewTime()
}

// Next is when the caller must call Tick: the Master_Down_Timer of a
// Backup, the Adver_Timer of a Master; zero when no timer runs.
func (m *Machine) Next() time.Time { return m.deadline }

// Advert is the advertisement this machine sends with the given priority.
// Its address list is a copy.
func (m *Machine) Advert(priority uint8) Advert {
	a := Advert{
		Version:  m.cfg.Version,
		VRID:     m.cfg.VRID,
		Priority: priority,
		Interval: m.cfg.Interval,
		Addrs:    slices.Clone(m.cfg.Addrs),
	}
	if m.cfg.Version == 2 {
		a.AuthPass = m.cfg.AuthPass
	}
	return a
}

func (m *Machine) owner() bool { return m.cfg.Priority == 255 }

// Start leaves Initialize (RFC 9568 section 6.4.1):
//   - a fault set before Start (SetFault) enters Fault;
//   - the address owner (priority 255) becomes Master at once;
//   - Config.Start StateMaster becomes Master at once, whatever the
//     priority, and then follows the RFC: it backs off on the first
//     advert of a higher priority (or an equal one from a higher address).
//     (keepalived 2.2 and later only does this for the address owner; its
//     state MASTER below 255 starts as Backup.)
//   - otherwise Backup, with the Master_Down_Timer at
//     Master_Down_Interval and the start-up hold (see Machine).
//
// Start on a started machine does nothing.
func (m *Machine) Start(now time.Time) []Action {
	if m.state != StateInit {
		return nil
	}
	m.started = now
	switch {
	case m.fault:
		return m.enterFault(now, "fault: "+m.faultWhy)
	case m.owner():
		return m.enterMaster(now, "address owner (priority 255)")
	case m.cfg.Start == StateMaster:
		return m.enterMaster(now, "start as master (state MASTER)")
	}
	acts := m.enterBackup(now, "start as backup (state BACKUP)")
	m.startHold = true
	return acts
}

// Stop is RFC 9568's Shutdown event: a Master sends an advert of priority
// 0, so that a Backup takes over within its Skew_Time, and every state
// goes to StateInit, where the machine does nothing until Start again. A
// fault set with SetFault stays set; a sync group's forced fault does not.
func (m *Machine) Stop(now time.Time) []Action {
	if m.state == StateInit {
		return nil
	}
	from := m.state
	m.state = StateInit
	m.deadline = time.Time{}
	m.masterAddr, m.masterPri = netip.Addr{}, 0
	m.masterInt = m.cfg.Interval
	m.startHold = false
	m.forced = false
	acts := []Action{{Kind: ActTransition, From: from, To: StateInit, Cause: "stopped"}}
	if from == StateMaster {
		acts = append(acts, Action{Kind: ActSend, Priority: 0})
	}
	return acts
}

// Tick fires the timer that is due at now, if any.
func (m *Machine) Tick(now time.Time) []Action {
	if m.deadline.IsZero() || now.Before(m.deadline) {
		return nil
	}
	switch m.state {
	case StateBackup:
		return m.enterMaster(now, m.downCause(now))
	case StateMaster:
		// RFC: send an advert, reset the Adver_Timer to
		// Advertisement_Interval. From now, not from the deadline: a
		// late Tick does not make a burst.
		m.deadline = now.Add(m.cfg.Interval)
		return []Action{{Kind: ActSend, Priority: m.prio}}
	}
	return nil
}

// downCause says why the Master_Down_Timer ran out.
func (m *Machine) downCause(now time.Time) string {
	switch {
	case m.lower:
		return fmt.Sprintf("preempting lower priority %d from %s", m.lowerPri, m.lowerSrc)
	case m.armedBy == armedByStop:
		return fmt.Sprintf("priority 0 from %s (master stopped)", m.stopper)
	case m.armedBy == armedByAdvert:
		return fmt.Sprintf("master down interval expired (no advert from %s for %s)", m.masterAddr, now.Sub(m.armedAt))
	}
	return fmt.Sprintf("master down interval expired (no advert for %s)", now.Sub(m.armedAt))
}

// Receive handles an advert from src that the caller validated: the
// version, VRID, authentication, version 2 interval and address list are
// the instance's, the hop limit 255, the source not our own.
func (m *Machine) Receive(now time.Time, adv Advert, src netip.Addr) []Action {
	if src == m.cfg.Primary {
		return nil // our own, looped back; the caller should not pass it
	}
	switch m.state {
	case StateBackup:
		return m.receiveBackup(now, adv, src)
	case StateMaster:
		return m.receiveMaster(now, adv, src)
	case StateFault:
		// Only noted, for MasterAddr: no timer runs in Fault.
		if adv.Priority != 0 {
			m.masterAddr, m.masterPri = src, adv.Priority
		}
	}
	return nil
}

// receiveBackup is RFC 9568 section 6.4.2's "If an ADVERTISEMENT is
// received".
func (m *Machine) receiveBackup(now time.Time, adv Advert, src netip.Addr) []Action {
	if adv.Priority == 0 {
		// The master stops: take over after Skew_Time, so that the
		// Backup of highest priority goes first.
		m.arm(now, m.SkewTime(), armedByStop)
		m.stopper = src
		return nil
	}
	m.masterAddr, m.masterPri = src, adv.Priority
	preempt := m.cfg.Preempt || m.owner()
	if preempt && adv.Priority < m.prio && (m.owner() || !m.holding(now)) {
		// Discard it: the Master_Down_Timer runs on and this router
		// takes over when it fires.
		m.lower, m.lowerPri, m.lowerSrc = true, adv.Priority, src
		return nil
	}
	if adv.Priority >= m.prio {
		m.lowerSince = time.Time{} // keepalived: "stop preempt delay"
	} else if m.lowerSince.IsZero() {
		m.lowerSince = now // keepalived: "start preempt delay"
	}
	m.adopt(adv)
	m.arm(now, m.MasterDownInterval(), armedByAdvert)
	return nil
}

// holding tells whether a Backup with preemption on still accepts a
// lower-priority master: during the start-up hold, one
// Master_Down_Interval from Start, and until PreemptDelay has passed since
// the first lower-priority advert (that advert included).
func (m *Machine) holding(now time.Time) bool {
	if m.startHold {
		if now.Before(m.started.Add(m.MasterDownInterval())) {
			return true
		}
		m.startHold = false
	}
	return m.cfg.PreemptDelay > 0 &&
		(m.lowerSince.IsZero() || now.Before(m.lowerSince.Add(m.cfg.PreemptDelay)))
}

// receiveMaster is RFC 9568 section 6.4.3's "If an ADVERTISEMENT is
// received".
func (m *Machine) receiveMaster(now time.Time, adv Advert, src netip.Addr) []Action {
	if adv.Priority == 0 {
		// Another router resigns: assert ourselves at once and reset
		// the Adver_Timer.
		m.deadline = now.Add(m.cfg.Interval)
		return []Action{{Kind: ActSend, Priority: m.prio}}
	}
	cmp := addrCompare(src, m.cfg.Primary)
	switch {
	case adv.Priority > m.prio:
		m.adopt(adv)
		return m.enterBackupFrom(now, src, adv.Priority,
			fmt.Sprintf("higher priority %d from %s", adv.Priority, src))
	case adv.Priority == m.prio && cmp > 0:
		m.adopt(adv)
		return m.enterBackupFrom(now, src, adv.Priority,
			fmt.Sprintf("equal priority, higher address %s", src))
	case adv.Priority < m.prio || cmp < 0:
		// Discard it and, RFC 9568, assert the Master state at once
		// (the Adver_Timer runs on).
		if m.cfg.LowerPrioNoAdvert {
			return nil
		}
		return []Action{{Kind: ActSend, Priority: m.prio}}
	}
	return nil // equal priority, an address we cannot order against ours
}

// addrCompare compares two addresses as unsigned big-endian numbers: -1,
// 0 or +1. Addresses of different families (or invalid ones) compare 0:
// neither wins, so a Master keeps its state.
func addrCompare(a, b netip.Addr) int {
	a, b = a.Unmap(), b.Unmap()
	if !a.IsValid() || !b.IsValid() || a.Is4() != b.Is4() {
		return 0
	}
	return a.Compare(b) // same family: byte-wise, big-endian
}

// adopt takes a version 3 advert's interval as Master_Adver_Interval
// (version 2 keeps its own: the caller discards other intervals).
func (m *Machine) adopt(adv Advert) {
	if m.cfg.Version == 3 && adv.Interval > 0 {
		m.masterInt = adv.Interval
	}
}

// arm sets the Master_Down_Timer.
func (m *Machine) arm(now time.Time, d time.Duration, by armer) {
	m.deadline = now.Add(d)
	m.armedAt, m.armedBy = now, by
	m.lower = false
}

func (m *Machine) transition(to State, cause string) Action {
	a := Action{Kind: ActTransition, From: m.state, To: to, Cause: cause}
	m.state = to
	return a
}

// enterMaster is RFC 9568's transition to Master: send an advert, set the
// Adver_Timer (and the caller announces the addresses).
func (m *Machine) enterMaster(now time.Time, cause string) []Action {
	t := m.transition(StateMaster, cause)
	m.deadline = now.Add(m.cfg.Interval)
	m.masterInt = m.cfg.Interval
	m.masterAddr, m.masterPri = m.cfg.Primary, m.prio
	m.startHold = false
	m.lowerSince = time.Time{}
	m.lower = false
	return []Action{t, {Kind: ActSend, Priority: m.prio}}
}

// enterBackup enters Backup with the own interval as
// Master_Adver_Interval and the Master_Down_Timer at Master_Down_Interval;
// the master is unknown.
func (m *Machine) enterBackup(now time.Time, cause string) []Action {
	m.masterInt = m.cfg.Interval
	m.masterAddr, m.masterPri = netip.Addr{}, 0
	return m.enterBackupFrom(now, netip.Addr{}, 0, cause)
}

// enterBackupFrom enters Backup under the master src of priority pri (the
// caller adopted its interval), the Master_Down_Timer at
// Master_Down_Interval.
func (m *Machine) enterBackupFrom(now time.Time, src netip.Addr, pri uint8, cause string) []Action {
	t := m.transition(StateBackup, cause)
	if src.IsValid() {
		m.masterAddr, m.masterPri = src, pri
	}
	m.startHold = false
	m.lowerSince = time.Time{}
	by := armedByEntry
	if src.IsValid() {
		by = armedByAdvert
	}
	m.arm(now, m.MasterDownInterval(), by)
	return []Action{t}
}

// enterFault stops every timer; a Master first resigns with priority 0.
func (m *Machine) enterFault(now time.Time, cause string) []Action {
	from := m.state
	acts := []Action{m.transition(StateFault, cause)}
	m.deadline = time.Time{}
	m.masterAddr, m.masterPri = netip.Addr{}, 0
	m.masterInt = m.cfg.Interval
	m.startHold = false
	m.lowerSince = time.Time{}
	m.lower = false
	if from == StateMaster {
		acts = append(acts, Action{Kind: ActSend, Priority: 0})
	}
	return acts
}

// leaveFault is keepalived's leaving of Fault: Backup with a fresh
// Master_Down_Timer on the own interval, preempt_delay anew and no
// start-up hold; the address owner becomes Master at once.
func (m *Machine) leaveFault(now time.Time, cause string) []Action {
	if m.owner() {
		return m.enterMaster(now, cause+", address owner (priority 255)")
	}
	return m.enterBackup(now, cause)
}

// SetFault sets or clears the fault (an interface down, a tracked script
// failing: the caller's reasons, why). In Fault the machine sends nothing
// and never becomes Master; a Master entering it first sends priority 0.
// Clearing it leaves Fault for Backup (see Machine) unless a sync group
// still forces Fault. Before Start it only records the fault, which Start
// then enters.
func (m *Machine) SetFault(now time.Time, fault bool, why string) []Action {
	if fault {
		m.fault, m.faultWhy = true, why
		if m.state == StateInit || m.state == StateFault {
			return nil
		}
		return m.enterFault(now, "fault: "+why)
	}
	if !m.fault {
		return nil
	}
	m.fault, m.faultWhy = false, ""
	if m.state != StateFault || m.forced {
		return nil
	}
	cause := "fault cleared"
	if why != "" {
		cause += ": " + why
	}
	return m.leaveFault(now, cause)
}

// SetPriority sets the effective priority, 1..254 (others are clamped);
// the caller computes it from its tracking. The address owner's never
// changes (keepalived). A Master sends an advert of the new priority at
// once, its Adver_Timer running on: a Backup that now outranks it and may
// preempt discards it and takes over when its Master_Down_Timer fires, as
// the RFC has it. A Backup moves its running Master_Down_Timer by the
// change of Skew_Time (keepalived).
func (m *Machine) SetPriority(now time.Time, p uint8) []Action {
	if m.owner() {
		return nil
	}
	p = min(max(p, 1), 254)
	if p == m.prio {
		return nil
	}
	oldSkew := m.SkewTime()
	m.prio = p
	switch m.state {
	case StateBackup:
		m.deadline = m.deadline.Add(m.SkewTime() - oldSkew)
	case StateMaster:
		m.masterPri = p
		return []Action{{Kind: ActSend, Priority: p}}
	}
	return nil
}

// Force moves the machine to s for a sync group (cause says why, e.g.
// "instance VI_2 is MASTER"). keepalived's vrrp_sync_group is the model:
//   - StateBackup: a Master stops advertising and becomes Backup with
//     the Master_Down_Timer at Master_Down_Interval (own interval); unlike
//     keepalived it first sends priority 0, so that the peer takes over
//     within its Skew_Time rather than after a Master_Down_Interval
//     without a master. A forced Fault is lifted (to Backup, as a cleared
//     fault); a SetFault fault is not.
//   - StateMaster: a Backup, or a forced Fault, becomes Master at once
//     (advert, announce). A SetFault fault refuses it: a faulty router is
//     never Master.
//   - StateFault: as SetFault, until Force lifts it.
//
// The forced state is not sticky: from then on the RFC rules apply (a
// forced Backup still takes over when its Master_Down_Timer fires; a
// forced Master backs off on a higher priority). Keeping the members of a
// group together is the caller's. Force does nothing before Start or for

// syncPrefix starts the cause of every transition Force makes.
const syncPrefix = "sync group: "

// the state the machine is already in.
func (m *Machine) Force(now time.Time, s State, cause string) []Action {
	if m.state == StateInit {
		return nil
	}
	c := syncPrefix + cause
	switch s {
	case StateBackup:
		wasForced := m.forced
		m.forced = false
		switch {
		case m.state == StateMaster:
			acts := m.enterBackup(now, c)
			return append(acts, Action{Kind: ActSend, Priority: 0})
		case m.state == StateFault && wasForced && !m.fault:
			return m.enterBackup(now, c)
		}
	case StateMaster:
		if m.fault {
			return nil
		}
		m.forced = false
		if m.state != StateMaster {
			return m.enterMaster(now, c)
		}
	case StateFault:
		m.forced = true
		if m.state != StateFault {
			return m.enterFault(now, c)
		}
	}
	return nil
}
