package ctrl

import (
	"errors"
	"net/netip"
	"time"

	"dsrlb/perf/stats"
)

// The data plane's per-service and per-real-server counters (perf/stats):
// read for scrapes and status, and sampled every second for the rates the
// status page and dsrlbctl status show.

// statsPeriod is how often the counters are sampled for rates.
const statsPeriod = time.Second

// rateKey names a real server of a service.
type rateKey struct {
	service string
	backend netip.Addr
}

// statsSample is one reading of the real servers' counters.
type statsSample struct {
	at    time.Time
	boot  uint64
	pkts  map[rateKey]uint64
	flows map[rateKey]uint64
	svc   map[string]uint64 // services' new flows
}

// readStats reads the stats section; nil when there is none or it cannot
// be read (logged once per cause).
func (d *Daemon) readStats() *stats.Snapshot {
	if d.region == nil || !d.dpUp {
		return nil
	}
	sn, err := stats.Read(d.region)
	if err != nil {
		if msg := err.Error(); msg != d.statsErr {
			d.statsErr = msg
			if errors.Is(err, stats.ErrNotReady) {
				d.log.Debug("the data plane's per-service counters are not ready yet", "err", err)
			} else {
				d.log.Warn("the data plane's per-service counters cannot be read; the rest is exported", "err", err)
			}
		}
		return nil
	}
	d.statsErr = ""
	return sn
}

// sampleStats takes a sample for the rates.
func (d *Daemon) sampleStats(now time.Time) {
	if now.Sub(d.lastSample) < statsPeriod {
		return
	}
	d.lastSample = now
	sn := d.readStats()
	if sn == nil {
		d.samples = [2]*statsSample{}
		return
	}
	s := &statsSample{at: now, boot: d.bootID, pkts: map[rateKey]uint64{}, flows: map[rateKey]uint64{}, svc: map[string]uint64{}}
	for _, sv := range sn.Services {
		s.svc[sv.Name] = sv.Counters.NewFlows
		for _, b := range sv.Backends {
			k := rateKey{sv.Name, b.Addr.Unmap()}
			s.pkts[k], s.flows[k] = b.Counters.Packets, b.Counters.NewFlows
		}
	}
	d.samples = [2]*statsSample{d.samples[1], s}
}

// fillStats adds the counters of sn and the latest rates to st.
func (d *Daemon) fillStats(st *Status, sn *stats.Snapshot) {
	type svcStats struct {
		sv       *stats.Service
		backends map[netip.Addr]*stats.Backend
	}
	byName := map[string]svcStats{}
	if sn != nil {
		for i := range sn.Services {
			sv := &sn.Services[i]
			ss := svcStats{sv: sv, backends: map[netip.Addr]*stats.Backend{}}
			for j := range sv.Backends {
				ss.backends[sv.Backends[j].Addr.Unmap()] = &sv.Backends[j]
			}
			byName[sv.Name] = ss
		}
	}
	prev, cur := d.samples[0], d.samples[1]
	rated := prev != nil && cur != nil && prev.boot == cur.boot && cur.at.After(prev.at)
	for i := range st.Services {
		sv := &st.Services[i]
		ss, ok := byName[sv.Name]
		if ok {
			c := ss.sv.Counters
			sv.Packets, sv.Bytes, sv.NewFlows, sv.ICMPErrors = c.Packets, c.Bytes, c.NewFlows, c.ICMPErrors
			sv.ActiveConns, sv.InactiveConns = ss.sv.Connections()
			sv.Drops = map[string]uint64{}
			for k, n := range c.Drops {
				if n != 0 {
					sv.Drops[stats.DropNames[k]] = n
				}
			}
		}
		var svcFlows float64
		if rated {
			svcFlows = delta(cur.svc[sv.Name], prev.svc[sv.Name])
		}
		for j := range sv.RealServers {
			rs := &sv.RealServers[j]
			a, err := netip.ParseAddr(rs.Address)
			if err != nil {
				continue
			}
			if b, ok := ss.backends[a]; ok {
				rs.Packets, rs.Bytes, rs.NewFlows = b.Counters.Packets, b.Counters.Bytes, b.Counters.NewFlows
				rs.ActiveConns, rs.InactiveConns = b.Counters.ActiveConns, b.Counters.InactiveConns
			}
			if !rated {
				continue
			}
			k := rateKey{sv.Name, a}
			dt := cur.at.Sub(prev.at).Seconds()
			flows := delta(cur.flows[k], prev.flows[k])
			rs.PacketRate = delta(cur.pkts[k], prev.pkts[k]) / dt
			rs.NewFlowRate = flows / dt
			rs.Share = 0
			if svcFlows > 0 {
				rs.Share = 100 * flows / svcFlows
			}
		}
	}
}

// delta is now-then, 0 when a counter went backwards (a slot given anew).
func delta(now, then uint64) float64 {
	if now < then {
		return 0
	}
	return float64(now - then)
}
