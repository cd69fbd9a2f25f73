package dataplane

import (
	"fmt"
	"time"

	"dsrlb/conf/wire"
	"dsrlb/perf/shm"
	"dsrlb/pipeline"
)

// The data plane's side of VRRP: dsrlb-ctrl runs the protocol and tells
// the data plane, per group (instance), whether this balancer is master.
// Only a master group's VIPs are answered (ARP, neighbour solicitations)
// and announced; every VIP is forwarded in either state. A master group
// whose control process stops beating for longer than the group's
// master-down interval stops being answered: the peer has taken over by
// then, and a dead control process must not keep the VIPs.

// vrrpGroup is one group's definition and state.
type vrrpGroup struct {
	def    wire.VRRPGroup
	master bool
	garp   garpSchedule
}

// garpSchedule is a master group's announcements: GARPRepeat at once,
// again GARPDelayMS later, then every GARPRefreshMS.
type garpSchedule struct {
	stage int // 0: none pending; 1: the delayed burst; 2: refreshes
	next  time.Time
}

// start schedules what follows the burst sent at now.
func (s *garpSchedule) start(def *wire.VRRPGroup, now time.Time) {
	switch {
	case def.GARPDelayMS > 0:
		s.stage, s.next = 1, now.Add(time.Duration(def.GARPDelayMS)*time.Millisecond)
	case def.GARPRefreshMS > 0:
		s.stage, s.next = 2, now.Add(time.Duration(def.GARPRefreshMS)*time.Millisecond)
	default:
		s.stage = 0
	}
}

// due reports whether a burst is due at now and schedules the next.
func (s *garpSchedule) due(def *wire.VRRPGroup, now time.Time) bool {
	if s.stage == 0 || now.Before(s.next) {
		return false
	}
	if def.GARPRefreshMS > 0 {
		s.stage, s.next = 2, now.Add(time.Duration(def.GARPRefreshMS)*time.Millisecond)
	} else {
		s.stage = 0
	}
	return true
}

// checkGroups validates the groups of a model: IDs unique and in range,
// every service's group defined.
func checkGroups(model wire.Model) error {
	ids := map[uint8]bool{}
	for _, g := range model.Groups {
		if g.ID == 0 {
			return fmt.Errorf("VRRP group %q: id 0", g.Name)
		}
		if ids[g.ID] {
			return fmt.Errorf("VRRP group id %d defined twice", g.ID)
		}
		ids[g.ID] = true
	}
	for _, m := range model.Services {
		if id := m.Service.VRRP; id != 0 && !ids[id] {
			return fmt.Errorf("service %s: VRRP group %d is not defined", m.Service.Name, id)
		}
	}
	return nil
}

// adoptGroups makes model's groups the data plane's: a group with the
// same id and name keeps its state, others start as not master. It
// returns the masters.
func (dp *Dataplane) adoptGroups(model wire.Model) pipeline.Masters {
	next := make(map[uint8]*vrrpGroup, len(model.Groups))
	for _, def := range model.Groups {
		g := &vrrpGroup{def: def}
		if old := dp.groups[def.ID]; old != nil && old.def.Name == def.Name {
			g.master, g.garp = old.master, old.garp
		}
		next[def.ID] = g
	}
	for id, old := range dp.groups {
		if g := next[id]; old.master && (g == nil || !g.master) {
			dp.log.Info("VRRP group removed; its VIPs are no longer answered", "group", old.def.Name, "id", id)
		}
	}
	dp.groups = next
	return dp.masters()
}

// masters is the set of groups this balancer is master of.
func (dp *Dataplane) masters() pipeline.Masters {
	var m pipeline.Masters
	for id, g := range dp.groups {
		if g.master {
			m.Set(id, true)
		}
	}
	return m
}

// SetVRRP applies a group's state (wire.Handler): on becoming master the
// group's VIPs are answered and announced at once.
func (dp *Dataplane) SetVRRP(st wire.VRRPState) error {
	g := dp.groups[st.ID]
	if g == nil {
		return fmt.Errorf("VRRP group %d is not defined", st.ID)
	}
	if st.DownMS != 0 {
		g.def.DownMS = st.DownMS
	}
	if g.master == st.Master {
		return nil
	}
	now := dp.vrrpNow()
	if st.Master && dp.ctrlSilent(now, g) {
		return fmt.Errorf("VRRP group %s: master refused, the control process's heartbeat is older than the master-down interval %dms", g.def.Name, g.def.DownMS)
	}
	g.master = st.Master
	dp.store(dp.snap.Load().WithMasters(dp.masters()))
	if g.master {
		dp.log.Info("VRRP master: answering and announcing the group's VIPs", "group", g.def.Name, "id", st.ID)
		dp.announceGroup(g)
		g.garp.start(&g.def, now)
	} else {
		g.garp.stage = 0
		dp.log.Info("VRRP backup: no longer answering ARP/ND for the group's VIPs (still forwarding)", "group", g.def.Name, "id", st.ID)
	}
	return nil
}

// vrrpNow is the time VRRP states are applied at (tests fix it).
func (dp *Dataplane) vrrpNow() time.Time {
	if dp.now != nil {
		return dp.now()
	}
	return time.Now()
}

// ctrlSilent reports whether the control process's heartbeat is older
// than g's master-down interval.
func (dp *Dataplane) ctrlSilent(now time.Time, g *vrrpGroup) bool {
	beat := dp.shm.Heartbeat(shm.Ctrl)
	return beat.IsZero() || now.Sub(beat) > time.Duration(g.def.DownMS)*time.Millisecond
}

// announceGroup sends a burst for g's VIPs.
func (dp *Dataplane) announceGroup(g *vrrpGroup) {
	vips := dp.snap.Load().GroupVIPs(g.def.ID)
	for range max(1, g.def.GARPRepeat) {
		dp.announce(vips)
	}
	dp.global.add(gVRRPAnnouncements, 1)
}

// vrrpTick gives up the groups of a control process that stopped beating
// and sends the announcements that are due.
func (dp *Dataplane) vrrpTick(now time.Time) {
	changed := false
	for id, g := range dp.groups {
		if !g.master {
			continue
		}
		if dp.ctrlSilent(now, g) {
			g.master, g.garp.stage, changed = false, 0, true
			dp.global.add(gVRRPCtrlLost, 1)
			dp.log.Warn("control process heartbeat lost: no longer answering ARP/ND for the VRRP group's VIPs (still forwarding)",
				"group", g.def.Name, "id", id, "heartbeat_age", heartbeatAge(dp.shm.Heartbeat(shm.Ctrl), now), "master_down_ms", g.def.DownMS)
			continue
		}
		if g.garp.due(&g.def, now) {
			dp.announceGroup(g)
		}
	}
	if changed {
		dp.store(dp.snap.Load().WithMasters(dp.masters()))
	}
}

func heartbeatAge(beat, now time.Time) string {
	if beat.IsZero() {
		return "never"
	}
	return now.Sub(beat).Round(time.Millisecond).String()
}
