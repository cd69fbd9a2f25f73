package ctrl

import (
	"context"
	"net"
	"reflect"
	"time"

	"dsrlb/conf"
	"dsrlb/conf/wire"
	"dsrlb/ctrl/vrrp"
)

// The daemon's side of VRRP: the speaker (package vrrp) runs the
// instances; the daemon tells it whether the data plane is up and which
// tracked services are down, and keeps the data plane's view of every
// group (VRRPGroup in transactions, VRRPState for the state) equal to the
// speaker's.

// vrrpLink is the daemon's VRRP state; nil without [[vrrp]].
type vrrpLink struct {
	speaker *vrrp.Speaker
	changed chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	cfg     []conf.VRRP // the instances the speaker runs
	dpOK    bool        // what the speaker was last told
	dpWhy   string
	// sent is what the current data plane was sent, by group id; nil
	// forces a full resend (a new data plane, the periodic refresh).
	sent      map[uint8]wire.VRRPState
	refreshed time.Time
	down      map[string]bool // tracked services down, as last told
}

// vrrpRefresh is how often every group's state is sent again: a data
// plane that gave a group up while this process did not beat gets it
// back.
const vrrpRefresh = 500 * time.Millisecond

// newVRRP prepares the speaker for c's instances.
func (d *Daemon) newVRRP(c *conf.Config) error {
	if len(c.VRRP) == 0 {
		return nil
	}
	opts := vrrp.Options{Interface: c.Dataplane.TAP, Instances: c.VRRP, Log: d.log.With("component", "vrrp")}
	// The last priority 0 advert of a master whose data plane died goes
	// through the port's kernel interface, when the kernel has one.
	if p := c.Dataplane.Ports[c.VRRP[0].Port]; p.IsVdev {
		if iface, ok := p.Arg("iface"); ok {
			opts.Fallback = iface
			if p.HasMAC {
				opts.FallbackMAC = net.HardwareAddr(p.MAC[:])
			} else if ifi, err := net.InterfaceByName(iface); err == nil {
				opts.FallbackMAC = ifi.HardwareAddr
			}
		}
	}
	l := &vrrpLink{changed: make(chan struct{}, 1), cfg: c.VRRP, dpWhy: "data plane not found yet"}
	opts.Changed = l.changed
	sp, err := vrrp.NewSpeaker(opts)
	if err != nil {
		return err
	}
	l.speaker = sp
	d.vrrp = l
	return nil
}

// startVRRP runs the speaker.
func (d *Daemon) startVRRP() {
	l := d.vrrp
	if l == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go func() {
		defer close(l.done)
		l.speaker.Run(ctx)
	}()
}

// stopVRRP stops the speaker: masters send priority 0, through the data
// plane that still runs.
func (d *Daemon) stopVRRP() {
	if l := d.vrrp; l != nil && l.cancel != nil {
		l.cancel()
		<-l.done
	}
}

// vrrpTick tells the speaker whether the data plane is fit to carry
// masters: mapped, its process alive, its heartbeat younger than
// ctrl.vrrp_dataplane_timeout, and the current state applied (so the
// groups exist there).
func (d *Daemon) vrrpTick(now time.Time) {
	l := d.vrrp
	if l == nil {
		return
	}
	ok, why := true, ""
	switch unfit := d.dataplaneUnfit(now, d.cfg.Ctrl.VRRPDataplaneTimeout, "vrrp_dataplane_timeout"); {
	case unfit != "":
		ok, why = false, "data plane "+unfit
	case !d.seeded || !d.sentValid || d.applied.Gen != d.pushedGen || d.applied.Error != "":
		ok, why = false, "data plane has not applied the current state yet"
	}
	if ok != l.dpOK {
		l.dpOK, l.dpWhy = ok, why
		if ok {
			why = "data plane up and in sync"
			d.log.Info("VRRP: data plane up, instances leave FAULT")
		} else {
			d.log.Warn("VRRP: data plane unfit, every instance goes to FAULT", "why", why)
		}
		l.speaker.SetDataplane(ok, why)
	}
	if now.Sub(l.refreshed) >= vrrpRefresh {
		l.refreshed, l.sent = now, nil
	}
}

// vrrpTracked tells the speaker which services are down.
func (d *Daemon) vrrpTracked(p *Plan) {
	l := d.vrrp
	if l == nil || p == nil {
		return
	}
	down := map[string]bool{}
	for i := range p.Services {
		sp := &p.Services[i]
		if !sp.QuorumUp || sp.Healthy == 0 {
			down[sp.Service.Name] = true
		}
	}
	if reflect.DeepEqual(down, l.down) {
		return
	}
	l.down = down
	l.speaker.SetTracked(down)
}

// vrrpGroups are the VRRPGroup messages of a transaction.
func (d *Daemon) vrrpGroups() []wire.VRRPGroup {
	var out []wire.VRRPGroup
	for i := range d.cfg.VRRP {
		out = append(out, wire.GroupOf(d.cfg, i))
	}
	return out
}

// vrrpPending lists the VRRPState messages the data plane has not been
// sent yet.
func (d *Daemon) vrrpPending() []wire.VRRPState {
	l := d.vrrp
	if l == nil {
		return nil
	}
	var out []wire.VRRPState
	for _, st := range l.speaker.States() {
		m := wire.VRRPState{ID: uint8(st.Index + 1), Master: st.Master, DownMS: wire.MS(st.MasterDown)}
		if st.MasterDown == 0 {
			m.DownMS = wire.MS(l.cfg[st.Index].MasterDownInterval())
		}
		if old, ok := l.sent[m.ID]; !ok || old != m {
			out = append(out, m)
		}
	}
	return out
}

// pushVRRP sends the pending VRRP states; false if there were none.
func (d *Daemon) pushVRRP() bool {
	states := d.vrrpPending()
	if len(states) == 0 {
		return false
	}
	msgs := make([]msg, 0, len(states))
	for _, st := range states {
		b, err := wire.Encode(st)
		if err != nil {
			d.log.Error("cannot encode a VRRP state", "err", err)
			return false
		}
		msgs = append(msgs, msg{wire.KindVRRPState, b})
	}
	d.startJob(&pushJob{vrrp: states}, msgs)
	return true
}

// onVRRPPushed records states as sent.
func (d *Daemon) onVRRPPushed(states []wire.VRRPState) {
	l := d.vrrp
	if l.sent == nil {
		l.sent = map[uint8]wire.VRRPState{}
	}
	for _, st := range states {
		l.sent[st.ID] = st
	}
}

// vrrpStatus is the instances' status; nil without VRRP.
func (d *Daemon) vrrpStatus() []vrrp.Status {
	if d.vrrp == nil {
		return nil
	}
	return d.vrrp.speaker.Status()
}
