package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"dsrlb/conf"
)

// Options configure a Speaker.
type Options struct {
	// Interface is the exception path's kernel interface (dataplane.tap):
	// adverts are sent and received there.
	Interface string
	// Fallback is the kernel interface of the port, when the kernel has
	// one (net_af_packet's iface): when the data plane dies, and with it
	// the exception path, a master's last priority 0 advert goes there so
	// the peer takes over within its skew time. "" for none: the peer
	// then takes over after its master-down interval.
	Fallback    string
	FallbackMAC net.HardwareAddr
	Instances   []conf.VRRP
	Log         *slog.Logger
	// Changed receives a value (without blocking; capacity 1 is enough)
	// whenever an instance's state changes: read States then.
	Changed chan<- struct{}
	// NotifyTimeout bounds a notify command (10s when zero).
	NotifyTimeout time.Duration
}

// Status is an instance as dsrlbctl status and the metrics show it.
type Status struct {
	Name           string            `json:"name"`
	VRID           uint8             `json:"vrid"`
	Version        int               `json:"version"`
	Family         string            `json:"family"`
	VIPs           []netip.Addr      `json:"vips"`
	State          string            `json:"state"`
	Priority       uint8             `json:"priority"`           // configured
	Effective      uint8             `json:"effective_priority"` // after tracking
	Master         netip.Addr        `json:"master,omitzero"`    // the master's address as last heard
	AdvertInt      time.Duration     `json:"advert_int"`
	MasterInt      time.Duration     `json:"master_advert_int"`
	MasterDown     time.Duration     `json:"master_down"`
	LastTransition time.Time         `json:"last_transition,omitzero"`
	LastCause      string            `json:"last_cause,omitempty"`
	Transitions    uint64            `json:"transitions"`
	AdvertsSent    uint64            `json:"adverts_sent"`
	AdvertsRecv    uint64            `json:"adverts_received"`
	SendErrors     uint64            `json:"send_errors"`
	Errors         map[string]uint64 `json:"errors,omitempty"` // received adverts ignored, by cause
	SyncGroup      string            `json:"sync_group,omitempty"`
	Faults         []string          `json:"faults,omitempty"` // why it is in FAULT
}

// State is the part of an instance's state the data plane needs.
type InstanceState struct {
	Index      int // position in Options.Instances
	Master     bool
	MasterDown time.Duration
}

// instance is one [[vrrp]] with its machine.
type instance struct {
	cfg      conf.VRRP
	mc       Config
	m        *Machine // nil until the data plane is first up
	mode     ChecksumMode
	dpFault  bool
	trackBad []string // tracked services down
	st       Status
	logged   [CauseCount]bool
}

// Speaker runs every VRRP instance of the balancer in one goroutine.
type Speaker struct {
	opts  Options
	log   *slog.Logger
	insts []*instance
	cmds  chan func(now time.Time)
	rx    chan packet
	done  chan struct{}

	conns    [2]*rawConn // IPv4, IPv6; nil while the interface is gone
	ll6      netip.Addr  // the interface's link-local address (IPv6 source)
	sockLog  [CauseCount]bool
	sockErrs map[string]uint64
	dpUp     bool

	mu     sync.Mutex
	states []InstanceState
}

// NewSpeaker prepares the instances. They start (as BACKUP, or MASTER
// with state "master") when the data plane is first up (SetDataplane):
// without it there is nothing to be master with, and IPv6 instances need
// the exception path's link-local address as their primary address.
func NewSpeaker(opts Options) (*Speaker, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.NotifyTimeout <= 0 {
		opts.NotifyTimeout = 10 * time.Second
	}
	s := &Speaker{opts: opts, log: opts.Log, cmds: make(chan func(time.Time), 16), rx: make(chan packet, 256),
		done: make(chan struct{}), sockErrs: map[string]uint64{}}
	for i, c := range opts.Instances {
		mc := Config{Version: c.Version, VRID: c.VRID, Priority: c.Priority, Interval: c.Interval, Preempt: c.Preempt,
			PreemptDelay: c.PreemptDelay, Primary: c.UnicastSrc, Addrs: c.VIPs, AuthPass: c.AuthPass, Start: StateBackup}
		if c.StartMaster {
			// keepalived 2.2's "state MASTER" below priority 255: start as
			// backup, but preempt without delay once the start-up hold
			// (one master-down interval of listening) has passed.
			mc.Preempt, mc.PreemptDelay = true, 0
		}
		if c.IPv6() {
			// The link-local address of the interface, once it exists.
			mc.Primary = netip.IPv6LinkLocalAllNodes()
		}
		if err := mc.Validate(); err != nil {
			return nil, fmt.Errorf("vrrp instance %s: %w", c.Name, err)
		}
		in := &instance{cfg: c, mc: mc, dpFault: true}
		if c.MessageOnly {
			in.mode = ChecksumMessageOnly
		}
		fam := "IPv4"
		if c.IPv6() {
			fam = "IPv6"
		}
		in.st = Status{Name: c.Name, VRID: c.VRID, Version: c.Version, Family: fam, VIPs: c.VIPs, Priority: c.Priority,
			AdvertInt: c.Interval, SyncGroup: c.SyncGroup, Errors: map[string]uint64{}}
		s.insts = append(s.insts, in)
		s.states = append(s.states, InstanceState{Index: i})
	}
	return s, nil
}

// States returns every instance's state for the data plane.
func (s *Speaker) States() []InstanceState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.states)
}

// do runs f in the speaker's goroutine and waits for it; false if the
// speaker has stopped.
func (s *Speaker) do(f func(now time.Time)) bool {
	ran := make(chan struct{})
	select {
	case s.cmds <- func(now time.Time) { f(now); close(ran) }:
	case <-s.done:
		return false
	}
	select {
	case <-ran:
		return true
	case <-s.done:
		return false
	}
}

// Status returns every instance's status.
func (s *Speaker) Status() []Status {
	var out []Status
	s.do(func(time.Time) {
		for _, in := range s.insts {
			st := in.st
			st.State, st.Effective = StateInit.String(), in.cfg.Priority
			if in.m != nil {
				st.State = in.m.State().String()
				st.Effective = in.m.Priority()
				st.Master = in.m.MasterAddr()
				st.MasterInt = in.m.MasterInterval()
				st.MasterDown = in.m.MasterDownInterval()
			}
			st.Errors = maps.Clone(in.st.Errors)
			for c, n := range s.sockErrs {
				st.Errors[c] += n
			}
			st.Faults = in.faults()
			out = append(out, st)
		}
	})
	return out
}

func (in *instance) faults() []string {
	var f []string
	if in.dpFault {
		f = append(f, "data plane down")
	}
	if in.cfg.TrackWeight == 0 {
		for _, svc := range in.trackBad {
			f = append(f, "tracked service "+svc+" down")
		}
	}
	return f
}

// SetDataplane tells the speaker whether the data plane runs (and with
// it the exception path). Down puts every instance into FAULT: a master
// sends priority 0 first (through the fallback interface, the exception
// path being gone).
func (s *Speaker) SetDataplane(up bool, why string) {
	s.do(func(now time.Time) {
		if up == s.dpUp {
			return
		}
		s.dpUp = up
		if up {
			s.openConns()
		} else {
			s.closeConns()
		}
		for i, in := range s.insts {
			in.dpFault = !up
			if in.m == nil {
				if up {
					s.start(now, i)
				}
				continue
			}
			s.apply(now, i, s.fault(now, in, why))
		}
	})
}

// start creates and starts instance i's machine.
func (s *Speaker) start(now time.Time, i int) {
	in := s.insts[i]
	mc := in.mc
	if in.cfg.IPv6() {
		if !s.ll6.IsValid() {
			s.log.Error("VRRP instance not started: no IPv6 link-local address on the exception path's interface", "instance", in.cfg.Name, "interface", s.opts.Interface)
			return
		}
		mc.Primary = s.ll6
	}
	in.m = NewMachine(mc)
	s.log.Info("VRRP instance starting", "instance", in.cfg.Name, "vrid", in.cfg.VRID, "version", in.cfg.Version, "priority", in.cfg.Priority,
		"advert_int", in.cfg.Interval, "primary", mc.Primary, "vips", in.cfg.VIPs, "state", mc.Start.String())
	s.apply(now, i, in.m.Start(now))
	if len(in.faults()) > 0 {
		s.apply(now, i, s.fault(now, in, ""))
	}
}

// SetTracked tells the speaker which services are down (lost their
// quorum or have no healthy real server).
func (s *Speaker) SetTracked(down map[string]bool) {
	s.do(func(now time.Time) {
		for i, in := range s.insts {
			var bad []string
			for _, svc := range in.cfg.TrackServices {
				if down[svc] {
					bad = append(bad, svc)
				}
			}
			if slices.Equal(bad, in.trackBad) {
				continue
			}
			in.trackBad = bad
			if in.m == nil {
				continue
			}
			if in.cfg.TrackWeight == 0 {
				s.apply(now, i, s.fault(now, in, fmt.Sprintf("tracked services down: %v", bad)))
				continue
			}
			p := int(in.cfg.Priority) - len(bad)*int(in.cfg.TrackWeight)
			p = max(1, min(254, p))
			if len(bad) == 0 {
				p = int(in.cfg.Priority)
			}
			s.log.Info("VRRP priority changed by tracking", "instance", in.cfg.Name, "priority", p, "tracked_down", bad)
			s.apply(now, i, in.m.SetPriority(now, uint8(p)))
		}
	})
}

// fault puts in into or out of FAULT according to its causes.
func (s *Speaker) fault(now time.Time, in *instance, why string) []Action {
	f := in.faults()
	if len(f) > 0 {
		return in.m.SetFault(now, true, strings.Join(f, ", "))
	}
	return in.m.SetFault(now, false, why)
}

// Run runs the instances until ctx is done; then every master sends a
// priority 0 advert (a clean stop: the peer takes over within its skew
// time) and Run returns.
func (s *Speaker) Run(ctx context.Context) {
	defer close(s.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := time.Time{}
		for _, in := range s.insts {
			if in.m == nil {
				continue
			}
			if n := in.m.Next(); !n.IsZero() && (next.IsZero() || n.Before(next)) {
				next = n
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(0, time.Until(next))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			now := time.Now()
			for i, in := range s.insts {
				if in.m != nil {
					s.apply(now, i, in.m.Stop(now))
				}
			}
			s.closeConns()
			return
		case f := <-s.cmds:
			f(time.Now())
		case p := <-s.rx:
			s.receive(time.Now(), p)
		case <-timer.C:
			now := time.Now()
			for i, in := range s.insts {
				if in.m == nil {
					continue
				}
				if n := in.m.Next(); !n.IsZero() && !now.Before(n) {
					s.apply(now, i, in.m.Tick(now))
				}
			}
		}
	}
}

// openConns opens the sockets the instances need on the interface.
func (s *Speaker) openConns() {
	for fam := range 2 {
		v6 := fam == 1
		if !slices.ContainsFunc(s.insts, func(in *instance) bool { return in.cfg.IPv6() == v6 }) {
			continue
		}
		c, err := openRaw(s.opts.Interface, v6)
		if err != nil {
			s.log.Error("VRRP socket", "interface", s.opts.Interface, "err", err)
			continue
		}
		s.conns[fam] = c
		go s.reader(c)
	}
	if s.conns[1] != nil {
		if ll, err := linkLocal(s.opts.Interface); err == nil {
			s.ll6 = ll
		} else {
			s.log.Warn("VRRP over IPv6 needs a link-local address on the exception path's interface", "err", err)
		}
	}
}

func (s *Speaker) closeConns() {
	for i, c := range s.conns {
		if c != nil {
			c.close()
			s.conns[i] = nil
		}
	}
}

// reader moves packets from c to the speaker's goroutine until c closes.
func (s *Speaker) reader(c *rawConn) {
	buf := make([]byte, 1600)
	oob := make([]byte, 256)
	for {
		p, err := c.read(buf, oob)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Debug("VRRP socket read", "err", err)
			}
			return
		}
		p.v6 = c.v6
		p.payload = slices.Clone(p.payload)
		select {
		case s.rx <- p:
		case <-s.done:
			return
		default:
			// The speaker is behind by 256 packets: a flood; drop.
		}
	}
}

// ignore counts a received advert that is not acted on, and logs the
// first of each cause.
func (s *Speaker) ignore(in *instance, c Cause, p packet, detail string) {
	if in == nil {
		s.sockErrs[c.String()]++
		if !s.sockLog[c] {
			s.sockLog[c] = true
			s.log.Warn("VRRP advert ignored (logged once per cause)", "cause", c.String(), "src", p.src, "detail", detail)
		}
		return
	}
	in.st.Errors[c.String()]++
	if !in.logged[c] {
		in.logged[c] = true
		s.log.Warn("VRRP advert ignored (logged once per cause)", "instance", in.cfg.Name, "cause", c.String(), "src", p.src, "detail", detail)
	}
}

// receive validates a packet and hands it to its instance's machine.
func (s *Speaker) receive(now time.Time, p packet) {
	if p.cause != CauseNone {
		s.ignore(nil, p.cause, p, p.detail)
		return
	}
	if p.ttl != 255 {
		s.ignore(nil, CauseTTL, p, fmt.Sprintf("TTL/hop limit %d, want 255", p.ttl))
		return
	}
	// The version 3 IPv4 checksum form is the instance's; accept both
	// here and check below.
	adv, mode, err := Parse(p.payload, p.src, p.dst, ParseOptions{AcceptMessageOnly: true})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			s.ignore(nil, e.Cause, p, e.Detail)
		} else {
			s.ignore(nil, CauseTruncated, p, err.Error())
		}
		return
	}
	var in *instance
	for _, c := range s.insts {
		if c.cfg.VRID == adv.VRID && c.cfg.IPv6() == p.v6 {
			in = c
			break
		}
	}
	if in == nil {
		s.ignore(nil, CauseUnknownVRID, p, fmt.Sprintf("VRID %d", adv.VRID))
		return
	}
	if in.m == nil {
		return
	}
	c := &in.cfg
	switch {
	case adv.Version != c.Version:
		s.ignore(in, CauseVersion, p, fmt.Sprintf("version %d, the instance runs %d", adv.Version, c.Version))
	case !p.v6 && adv.Version == 3 && mode != in.mode:
		s.ignore(in, CauseChecksum, p, fmt.Sprintf("checksum computed %s, the instance expects %s (v3_checksum)", mode, in.mode))
	case adv.Version == 2 && (adv.AuthPass == "") != (c.AuthPass == ""):
		s.ignore(in, CauseAuthType, p, fmt.Sprintf("authentication %q, the instance has %q", authName(adv.AuthPass), authName(c.AuthPass)))
	case adv.Version == 2 && adv.AuthPass != c.AuthPass:
		s.ignore(in, CauseAuthPass, p, "password differs")
	case adv.Version == 2 && adv.Interval != c.Interval:
		s.ignore(in, CauseInterval, p, fmt.Sprintf("interval %s, the instance advertises every %s", adv.Interval, c.Interval))
	case !sameAddrs(adv.Addrs, c.VIPs):
		s.ignore(in, CauseAddrList, p, fmt.Sprintf("addresses %v, the instance carries %v", adv.Addrs, c.VIPs))
	case len(c.UnicastPeers) > 0 && !slices.Contains(c.UnicastPeers, p.src):
		s.ignore(in, CauseSource, p, fmt.Sprintf("source %s is not a unicast peer", p.src))
	case p.src == c.UnicastSrc || p.src == s.ll6:
		s.ignore(in, CauseSource, p, "our own advert")
	default:
		in.st.AdvertsRecv++
		s.apply(now, slices.Index(s.insts, in), in.m.Receive(now, adv, p.src))
	}
}

func authName(pass string) string {
	if pass == "" {
		return "none"
	}
	return "PASS"
}

// sameAddrs compares address lists as sets.
func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// apply carries out a machine's actions for instance i: sends first, then
// the transitions (so the data plane announces after the advert left),
// and follows a transition in the instance's sync group.
func (s *Speaker) apply(now time.Time, i int, acts []Action) {
	in := s.insts[i]
	for _, a := range acts {
		if a.Kind == ActSend {
			s.send(in, a.Priority)
		}
	}
	for _, a := range acts {
		if a.Kind != ActTransition {
			continue
		}
		in.st.Transitions++
		in.st.LastTransition, in.st.LastCause = now, a.Cause
		level := slog.LevelInfo
		if a.To == StateFault {
			level = slog.LevelWarn
		}
		s.log.Log(context.Background(), level, "VRRP transition", "instance", in.cfg.Name, "from", a.From.String(), "to", a.To.String(),
			"cause", a.Cause, "priority", in.m.Priority(), "vrid", in.cfg.VRID)
		s.publish(i)
		s.notify(in, a)
		if in.cfg.SyncGroup != "" && !strings.HasPrefix(a.Cause, syncPrefix) {
			s.sync(now, i, a)
		}
	}
}

// sync takes the other members of i's sync group along.
func (s *Speaker) sync(now time.Time, i int, a Action) {
	in := s.insts[i]
	for j, o := range s.insts {
		if j == i || o.m == nil || o.cfg.SyncGroup != in.cfg.SyncGroup || o.m.State() == a.To {
			continue
		}
		if a.To == StateBackup && o.m.State() != StateMaster {
			continue // a member in FAULT stays there
		}
		cause := fmt.Sprintf("%s: %s is %s (%s)", in.cfg.SyncGroup, in.cfg.Name, a.To, a.Cause)
		s.apply(now, j, o.m.Force(now, a.To, cause))
	}
}

// publish records instance i's state for the data plane and signals it.
func (s *Speaker) publish(i int) {
	in := s.insts[i]
	s.mu.Lock()
	s.states[i] = InstanceState{Index: i, Master: in.m.State() == StateMaster, MasterDown: in.m.MasterDownInterval()}
	s.mu.Unlock()
	select {
	case s.opts.Changed <- struct{}{}:
	default:
	}
}

// send sends instance in's advert with priority prio.
func (s *Speaker) send(in *instance, prio uint8) {
	c := &in.cfg
	fam := 0
	if c.IPv6() {
		fam = 1
	}
	src := c.UnicastSrc
	if fam == 1 {
		src = s.ll6
	}
	adv := in.m.Advert(prio)
	dsts := c.UnicastPeers
	if len(dsts) == 0 {
		dsts = []netip.Addr{Group4}
		if fam == 1 {
			dsts = []netip.Addr{Group6}
		}
	}
	conn := s.conns[fam]
	for _, dst := range dsts {
		payload, err := adv.Append(nil, src, dst, in.mode)
		if err == nil && conn == nil {
			err = s.fallback(fam == 1, src, dst, payload, prio)
		} else if err == nil {
			err = conn.send(payload, src, dst)
		}
		if err != nil {
			in.st.SendErrors++
			if in.st.SendErrors == 1 || prio == 0 {
				s.log.Warn("VRRP advert not sent", "instance", c.Name, "priority", prio, "dst", dst, "err", err)
			}
			continue
		}
		in.st.AdvertsSent++
	}
}

// fallback sends a priority 0 advert as a whole frame on the port's
// kernel interface; other adverts are not sent without the exception
// path.
func (s *Speaker) fallback(v6 bool, src, dst netip.Addr, payload []byte, prio uint8) error {
	if prio != 0 {
		return errors.New("no exception path (data plane down)")
	}
	if s.opts.Fallback == "" || len(s.opts.FallbackMAC) != 6 || !src.IsValid() {
		return errors.New("no exception path and the port has no kernel interface: the peer takes over after its master-down interval")
	}
	return sendFrame(s.opts.Fallback, frame(v6, s.opts.FallbackMAC, src, dst, payload))
}

// frame builds the Ethernet frame of a VRRP message: IPv4 with TTL 255,
// or IPv6 with hop limit 255, to the group's MAC (unicast peers: the
// broadcast / all-nodes MAC, their MAC being unknown here).
func frame(v6 bool, srcMAC net.HardwareAddr, src, dst netip.Addr, payload []byte) []byte {
	var b []byte
	dstMAC := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	et := uint16(0x0800)
	if v6 {
		dstMAC, et = []byte{0x33, 0x33, 0, 0, 0, 1}, 0x86dd
		if dst.IsMulticast() {
			d := dst.As16()
			copy(dstMAC[2:], d[12:])
		}
	} else if dst.IsMulticast() {
		d := dst.As4()
		dstMAC = []byte{0x01, 0x00, 0x5e, d[1] & 0x7f, d[2], d[3]}
	}
	b = append(b, dstMAC...)
	b = append(b, srcMAC...)
	b = binary.BigEndian.AppendUint16(b, et)
	if v6 {
		b = append(b, 0x60, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
		b = append(b, ProtoVRRP, 255)
		s16, d16 := src.As16(), dst.As16()
		b = append(b, s16[:]...)
		b = append(b, d16[:]...)
		return append(b, payload...)
	}
	h := []byte{0x45, 0xc0, 0, 0, 0, 0, 0, 0, 255, ProtoVRRP, 0, 0}
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	s4, d4 := src.As4(), dst.As4()
	h = append(h, s4[:]...)
	h = append(h, d4[:]...)
	binary.BigEndian.PutUint16(h[10:], ^fold(sum16(h, 0)))
	b = append(b, h...)
	return append(b, payload...)
}

// notify runs the instance's notify commands for a transition, detached.
func (s *Speaker) notify(in *instance, a Action) {
	c := &in.cfg
	var cmds [][]string
	switch a.To {
	case StateMaster:
		cmds = append(cmds, c.NotifyMaster)
	case StateBackup:
		cmds = append(cmds, c.NotifyBackup)
	case StateFault:
		cmds = append(cmds, c.NotifyFault)
	}
	state := a.To.String()
	if a.To == StateInit {
		state = "STOP"
	}
	prio := strconv.Itoa(int(in.m.Priority()))
	if c.Notify != nil {
		cmds = append(cmds, append(slices.Clone(c.Notify), "INSTANCE", c.Name, state, prio))
	}
	for _, argv := range cmds {
		if len(argv) == 0 {
			continue
		}
		env := append(os.Environ(), "DSRLB_VRRP_INSTANCE="+c.Name, "DSRLB_VRRP_STATE="+state,
			"DSRLB_VRRP_PRIORITY="+prio, "DSRLB_VRRP_CAUSE="+a.Cause)
		go s.run(c.Name, argv, env)
	}
}

func (s *Speaker) run(name string, argv, env []string) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.NotifyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.log.Warn("VRRP notify command failed", "instance", name, "command", argv, "err", err, "output", string(out))
		return
	}
	s.log.Debug("VRRP notify command ran", "instance", name, "command", argv)
}
