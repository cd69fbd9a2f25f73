package ctrl

import (
	"context"
	"maps"
	"net/netip"
	"time"

	"dsrlb/conf"
	"dsrlb/ctrl/bgp"
)

// The daemon's side of BGP: every tick it tells the announcer (package
// bgp) whether the data plane is fit and which announced services are
// up, and makes the speaker's routes equal to the announcer's decision.
// On a clean stop the loop keeps running until the announcer has drained.

// bgpLink is the daemon's BGP state; nil without [bgp].
type bgpLink struct {
	cfg      *conf.BGP
	speaker  *bgp.Speaker
	ann      *bgp.Announcer
	started  bool
	stopping bool
	// set is what the speaker was last given; setErr its last error,
	// logged once.
	set    map[netip.Prefix]bool
	setErr string
	// synced: a state of this control process was applied by the
	// current data plane (reset when a new data plane is adopted).
	synced bool
}

// newBGP prepares the speaker of c's [bgp].
func (d *Daemon) newBGP(c *conf.Config) {
	if c.BGP == nil {
		return
	}
	l := &bgpLink{cfg: c.BGP, ann: bgp.NewAnnouncer(c.BGP.AnnounceSorry, c.BGP.DrainDelay)}
	sc := c.BGP
	if a := d.opts.BGPAddr; a.IsValid() {
		cp := *c.BGP
		cp.NextHop = a
		sc = &cp
	}
	l.speaker = bgp.NewSpeaker(bgp.Options{Config: sc, Log: d.log.With("component", "bgp")})
	d.bgp = l
}

// startBGP starts the speaker; it announces nothing until the announcer
// says so.
func (d *Daemon) startBGP() error {
	l := d.bgp
	if l == nil {
		return nil
	}
	if err := l.speaker.Start(context.Background()); err != nil {
		return err
	}
	l.started = true
	return nil
}

// stopBGP closes the sessions (whatever is still announced goes with
// them).
func (d *Daemon) stopBGP() {
	if l := d.bgp; l != nil && l.started {
		l.speaker.Stop(context.Background())
		l.started = false
	}
}

// beginBGPDrain starts a clean stop's drain; false when there is nothing
// to drain (no BGP, or a zero drain delay with nothing announced).
func (d *Daemon) beginBGPDrain(now time.Time) bool {
	l := d.bgp
	if l == nil || !l.started {
		return false
	}
	l.stopping = true
	d.bgpTick(now)
	if l.ann.Drained(now) {
		return false
	}
	d.log.Info("stopping: announcing the VIPs with GRACEFUL_SHUTDOWN, then withdrawing them", "drain_delay", l.cfg.DrainDelay)
	return true
}

// bgpDrained reports whether a drain begun by beginBGPDrain is over.
func (d *Daemon) bgpDrained(now time.Time) bool {
	return d.bgp != nil && d.bgp.stopping && d.bgp.ann.Drained(now)
}

// bgpDataplane says why the data plane cannot take the VIPs' traffic, ""
// when it can: mapped, its process alive, its heartbeat younger than
// bgp.dataplane_timeout, and a state of this control process applied.
func (d *Daemon) bgpDataplane(now time.Time) string {
	if unfit := d.dataplaneUnfit(now, d.bgp.cfg.DataplaneTimeout, "dataplane_timeout"); unfit != "" {
		return unfit
	}
	if !d.bgp.synced {
		return "no state of this control process applied yet"
	}
	return ""
}

// bgpTick re-decides the announcements and applies them.
func (d *Daemon) bgpTick(now time.Time) {
	l := d.bgp
	if l == nil || !l.started {
		return
	}
	in := bgp.Input{Now: now, Dataplane: d.bgpDataplane(now), Stopping: l.stopping}
	plans := map[string]*ServicePlan{}
	if d.plan != nil {
		for i := range d.plan.Services {
			plans[d.plan.Services[i].Service.Name] = &d.plan.Services[i]
		}
	}
	for i := range d.cfg.Services {
		s := &d.cfg.Services[i]
		if !s.BGP {
			continue
		}
		bs := bgp.Service{Name: s.Name, VIP: s.VIP}
		if sp := plans[s.Name]; sp != nil {
			bs.Up = sp.QuorumUp && sp.Healthy > 0
			bs.Sorry = sp.SorryActive
		}
		in.Services = append(in.Services, bs)
	}
	for _, p := range l.ann.Update(in) {
		args := []any{"prefix", p.Prefix, "services", p.Services, "reason", p.Reason}
		switch {
		case p.Announce && p.Graceful:
			d.log.Info("BGP: VIP announced with GRACEFUL_SHUTDOWN (draining)", args...)
		case p.Announce:
			d.log.Info("BGP: VIP announced", args...)
		default:
			d.log.Warn("BGP: VIP withdrawn", args...)
		}
	}
	want := l.ann.Announced()
	if maps.Equal(want, l.set) && l.setErr == "" {
		return
	}
	if err := l.speaker.Set(context.Background(), want); err != nil {
		if err.Error() != l.setErr {
			d.log.Error("BGP: the routes could not be updated, will retry", "err", err)
		}
		l.setErr = err.Error()
		return
	}
	l.set, l.setErr = want, ""
}

// onBGPApplied records that the current data plane applied a state of
// this control process (gen pushed after it was adopted).
func (d *Daemon) onBGPApplied(gen uint64, ok bool) {
	if d.bgp != nil && ok && gen >= d.sessionGen {
		d.bgp.synced = true
	}
}

// BGPStatus is the BGP part of the status.
type BGPStatus struct {
	ASN      uint32           `json:"asn"`
	RouterID string           `json:"router_id"`
	Draining bool             `json:"draining"`
	Peers    []bgp.PeerStatus `json:"peers"`
	Prefixes []bgp.Prefix     `json:"prefixes"`
}

// bgpStatus is the BGP status; nil without [bgp].
func (d *Daemon) bgpStatus() *BGPStatus {
	l := d.bgp
	if l == nil {
		return nil
	}
	st := &BGPStatus{ASN: l.cfg.ASN, RouterID: l.cfg.RouterID.String(), Draining: l.ann.Draining(), Prefixes: l.ann.Prefixes()}
	if l.started {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st.Peers = l.speaker.Peers(ctx)
	}
	return st
}
