package ctrl

import (
	"strconv"
	"time"

	"dsrlb/conf/wire"
	"dsrlb/ctrl/health"
	"dsrlb/ctrl/vrrp"
	"dsrlb/perf/counters"
	"dsrlb/perf/shm"
	"dsrlb/perf/stats"
)

// Status is the answer to the "status" request.
type Status struct {
	Config       string          `json:"config"`
	Started      time.Time       `json:"started"`
	LastReload   time.Time       `json:"last_reload,omitzero"` // zero: never reloaded
	ReloadOK     bool            `json:"last_reload_ok"`       // the last reload succeeded (false if none)
	ReloadErrors []string        `json:"reload_errors,omitempty"`
	Dataplane    DataplaneStatus `json:"dataplane"`
	Services     []ServiceStatus `json:"services"`
	// Counters are the data plane's per-worker counters summed over the
	// workers, in counters.Workers order; Ports each port's, in
	// counters.Ports order; Global its global block, in counters.Globals
	// order. Empty without a data plane.
	Counters []Counter      `json:"counters,omitempty"`
	Ports    []PortCounters `json:"port_counters,omitempty"`
	Global   []Counter      `json:"global_counters,omitempty"`
	// VRRP is every VRRP instance; empty without [[vrrp]].
	VRRP []vrrp.Status `json:"vrrp,omitempty"`
	// BGP is the sessions and announcements; nil without [bgp].
	BGP *BGPStatus `json:"bgp,omitempty"`
}

// DataplaneStatus is what dsrlb-ctrl knows of the data plane.
type DataplaneStatus struct {
	SHM          string  `json:"shm"`
	Connected    bool    `json:"connected"` // file mapped and heartbeat fresh
	State        string  `json:"state"`     // "waiting", "syncing", "connected", "not responding"
	Reason       string  `json:"reason,omitempty"`
	PID          int     `json:"pid,omitempty"`
	BootID       string  `json:"boot_id,omitempty"`
	HeartbeatAge float64 `json:"heartbeat_age_seconds,omitempty"`
	Workers      int     `json:"workers,omitempty"`

	PushedGen  uint64    `json:"pushed_gen,omitempty"`  // last transaction pushed completely
	AppliedGen uint64    `json:"applied_gen,omitempty"` // last Applied received
	Snapshot   uint64    `json:"snapshot,omitempty"`
	ApplyError string    `json:"apply_error,omitempty"`
	AppliedAt  time.Time `json:"applied_at,omitzero"`
	InSync     bool      `json:"in_sync"` // the data plane was sent the current state
}

// ServiceStatus is one service's effective state.
type ServiceStatus struct {
	Name             string `json:"name"`
	Evaluated        bool   `json:"evaluated"` // false until the data plane answered and the checks started
	VIP              string `json:"vip"`
	Protocol         string `json:"protocol"`
	Port             uint16 `json:"port"`
	Method           string `json:"method"`
	Scheduler        string `json:"scheduler"`
	Quorum           uint32 `json:"quorum"`
	Hysteresis       uint32 `json:"hysteresis,omitempty"`
	QuorumUp         bool   `json:"quorum_up"`
	HealthyWeight    uint64 `json:"healthy_weight"`
	Healthy          int    `json:"healthy"`
	Total            int    `json:"total"`
	InhibitOnFailure bool   `json:"inhibit_on_failure,omitempty"`
	SorryServer      string `json:"sorry_server,omitempty"`
	SorryActive      bool   `json:"sorry_active"`
	// BGP: the VIP is announced by BGP ([bgp], bgp = true).
	BGP bool `json:"bgp,omitempty"`
	// TableFingerprint identifies the Maglev table the data plane was
	// given (health applied): balancers of the VIP with equal
	// fingerprints send every flow to the same real server.
	// ConfigFingerprint is the table of the configuration with every real
	// server healthy. "-" for a table without a real server.
	TableFingerprint  string             `json:"table_fingerprint,omitempty"`
	ConfigFingerprint string             `json:"config_fingerprint"`
	RealServers       []RealServerStatus `json:"real_servers"`
	// The data plane's totals for the service: packets and bytes
	// forwarded, new flows scheduled, ICMP errors sent, drops by reason.
	Packets    uint64            `json:"packets"`
	Bytes      uint64            `json:"bytes"`
	NewFlows   uint64            `json:"new_flows"`
	ICMPErrors uint64            `json:"icmp_errors"`
	Drops      map[string]uint64 `json:"drops,omitempty"`
	// Its real servers' connections now (RealServerStatus's), summed
	// over those the data plane counts.
	ActiveConns   uint64 `json:"active_conns"`
	InactiveConns uint64 `json:"inactive_conns"`
}

// RealServerStatus is one real server's configured and effective state.
// The service's sorry server, if any, is the last entry, with SorryServer
// set.
type RealServerStatus struct {
	Address         string `json:"address"`
	SorryServer     bool   `json:"sorry_server,omitempty"`
	Weight          uint32 `json:"weight"`           // configured (0 for the sorry server)
	EffectiveWeight uint32 `json:"effective_weight"` // as sent to the data plane
	// State is up, inhibited or removed for a real server ("" before the
	// first evaluation), sorry or standby for the sorry server.
	State  string        `json:"state"`
	Health *HealthStatus `json:"health,omitempty"` // nil: no health check of its own address
	// DSRPath is its DSR path check ([service.dsr_check]); nil: none. A
	// real server is healthy while both checks (those it has) pass.
	DSRPath *HealthStatus `json:"dsr_path,omitempty"`
	// Diagnosis names what the checks show together: "DSR path broken"
	// when the real server answers on its own address (or has no such
	// check) but not through the DSR path: its DSR set-up is at fault
	// (VIP not accepted, ARP, decapsulation, DSCP rule, service not on
	// the VIP), not the service; see dsrlbctl doctor.
	Diagnosis string `json:"diagnosis,omitempty"`
	MAC       string `json:"mac,omitempty"` // as resolved by the data plane, if it reported it
	// Rates over the last second from the data plane's per-real-server
	// counters: packets and new flows per second, and the real server's
	// share of its service's new flows in percent; -1 while unknown.
	PacketRate  float64 `json:"packet_rate"`
	NewFlowRate float64 `json:"new_flow_rate"`
	Share       float64 `json:"new_flow_share"`
	// Totals the data plane counted for the real server since it entered
	// the service (summed over the workers): packets and bytes forwarded
	// to it, new flows scheduled to it.
	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"`
	NewFlows uint64 `json:"new_flows"`
	// Its connections in the data plane's connection tables now, as
	// ipvsadm's ActiveConn and InActConn: active past the handshake (and
	// UDP flows), inactive after a SYN only or closing after a FIN or
	// RST. 0 for a real server without a counter slot.
	ActiveConns   uint64 `json:"active_conns"`
	InactiveConns uint64 `json:"inactive_conns"`
}

// HealthStatus is a real server's health check state.
type HealthStatus struct {
	Running         bool      `json:"running"` // false until the checks start (after the data plane answered)
	Up              bool      `json:"up"`
	Check           string    `json:"check"`
	ConsecutiveOK   int       `json:"consecutive_ok"`
	ConsecutiveFail int       `json:"consecutive_fail"`
	LastError       string    `json:"last_error,omitempty"`
	LastCheck       time.Time `json:"last_check,omitzero"`
	Checks          uint64    `json:"checks"`
	Failures        uint64    `json:"failures"`
}

// DiagnosisDSRBroken is RealServerStatus.Diagnosis of a real server that
// passes its own-address check but not its DSR path check.
const DiagnosisDSRBroken = "DSR path broken"

// healthStatus is a running target's state.
func healthStatus(ts health.TargetState) *HealthStatus {
	return &HealthStatus{
		Running: true, Up: ts.Up, Check: ts.Check, ConsecutiveOK: ts.ConsecutiveOK, ConsecutiveFail: ts.ConsecutiveFail,
		LastError: ts.LastError, LastCheck: ts.LastCheck, Checks: ts.Checks, Failures: ts.Failures,
	}
}

// Healthy reports whether the real server's checks (those it has) all
// pass; one without checks is healthy. Checks not started yet count as
// passing.
func (r *RealServerStatus) Healthy() bool {
	for _, h := range []*HealthStatus{r.Health, r.DSRPath} {
		if h != nil && h.Running && !h.Up {
			return false
		}
	}
	return true
}

// Counter is one named counter.
type Counter struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

func (d *Daemon) status(now time.Time) Status { return d.statusWith(now, d.readStats()) }

// statusWith is status with the per-service counters sn (nil: none).
func (d *Daemon) statusWith(now time.Time, sn *stats.Snapshot) Status {
	st := Status{
		Config:       d.opts.ConfigPath,
		Started:      d.started,
		LastReload:   d.lastReload,
		ReloadOK:     !d.lastReload.IsZero() && len(d.reloadErrs) == 0,
		ReloadErrors: d.reloadErrs,
	}
	dp := &st.Dataplane
	dp.SHM = d.shmPath
	switch {
	case d.region == nil:
		dp.State, dp.Reason = "waiting", d.waitReason
	case !d.dpUp:
		dp.State = "not responding"
	case !d.seeded:
		dp.State = "syncing"
	default:
		dp.State = "connected"
	}
	if d.region != nil {
		dp.Connected = d.dpUp
		dp.PID = d.region.DataplanePID()
		dp.BootID = bootIDString(d.bootID)
		dp.HeartbeatAge = heartbeatAge(d.region, now).Seconds()
		dp.Workers = d.region.Geometry().Workers
		st.Counters, st.Ports, st.Global = d.readCounters(d.region)
	}
	dp.PushedGen = d.pushedGen
	dp.AppliedGen, dp.Snapshot, dp.ApplyError, dp.AppliedAt = d.applied.Gen, d.applied.Snapshot, d.applied.Error, d.appliedAt
	dp.InSync = d.sentValid && string(d.sentKey) == string(d.bodyKey)
	st.VRRP = d.vrrpStatus()
	st.BGP = d.bgpStatus()

	checks := map[string]health.TargetState{}
	for _, ts := range d.mon.State() {
		checks[ts.Key] = ts
	}
	var plans map[string]*ServicePlan
	if d.plan != nil {
		plans = make(map[string]*ServicePlan, len(d.plan.Services))
		for i := range d.plan.Services {
			plans[d.plan.Services[i].Service.Name] = &d.plan.Services[i]
		}
	}
	for i := range d.cfg.Services {
		s := &d.cfg.Services[i]
		ss := ServiceStatus{
			Name: s.Name, VIP: s.VIP.String(), Protocol: s.Protocol.String(), Port: s.Port, Method: s.Method.String(),
			Scheduler: s.Scheduler.String(), Quorum: s.Quorum, Hysteresis: s.Hysteresis, Total: len(s.Backends), InhibitOnFailure: s.InhibitOnFailure,
		}
		if s.SorryServer.IsValid() {
			ss.SorryServer = s.SorryServer.String()
		}
		ss.BGP = s.BGP
		ss.ConfigFingerprint = fingerprint(s, configured(s))
		sp := plans[s.Name]
		if sp != nil {
			ss.TableFingerprint = fingerprint(s, effective(sp))
			ss.Evaluated = true
			ss.QuorumUp, ss.HealthyWeight, ss.Healthy, ss.SorryActive = sp.QuorumUp, sp.HealthyWeight, sp.Healthy, sp.SorryActive
		}
		for j, b := range s.Backends {
			rs := RealServerStatus{Address: b.Address.String(), Weight: b.Weight, PacketRate: -1, NewFlowRate: -1, Share: -1}
			if sp != nil && j < len(sp.Real) && sp.Real[j].Addr == b.Address {
				rs.EffectiveWeight, rs.State = sp.Real[j].EffectiveWeight, sp.Real[j].State
			}
			if ts, ok := checks[TargetKey(s.Name, b.Address)]; ok {
				rs.Health = healthStatus(ts)
			} else if b.Check != nil {
				rs.Health = &HealthStatus{Check: Checker(b.Check).String()}
			}
			if ts, ok := checks[DSRTargetKey(s.Name, b.Address)]; ok {
				rs.DSRPath = healthStatus(ts)
			} else if s.DSRCheck != nil {
				rs.DSRPath = &HealthStatus{Check: "dsr path " + Checker(s.DSRCheck).String()}
			}
			if p := rs.DSRPath; p != nil && p.Running && !p.Up && (rs.Health == nil || rs.Health.Running && rs.Health.Up) {
				rs.Diagnosis = DiagnosisDSRBroken
			}
			if n, ok := d.neighbors[b.Address]; ok && n.Resolved {
				rs.MAC = n.MAC
			}
			ss.RealServers = append(ss.RealServers, rs)
		}
		if s.SorryServer.IsValid() {
			rs := RealServerStatus{Address: s.SorryServer.String(), SorryServer: true, State: "standby", PacketRate: -1, NewFlowRate: -1, Share: -1}
			if ss.SorryActive {
				rs.State, rs.EffectiveWeight = wire.StateSorry, 1
			}
			if n, ok := d.neighbors[s.SorryServer]; ok && n.Resolved {
				rs.MAC = n.MAC
			}
			ss.RealServers = append(ss.RealServers, rs)
		}
		st.Services = append(st.Services, ss)
	}
	d.fillStats(&st, sn)
	return st
}

// readCounters reads the counters of the data plane's shared memory
// (counters.Read): the workers' summed, each port's (named after the
// configuration's ports, "port<N>" past them) and the global block.
func (d *Daemon) readCounters(r *shm.Region) (workers []Counter, ports []PortCounters, global []Counter) {
	v := counters.Read(r)
	named := func(table []counters.Desc, vals []uint64) []Counter {
		out := make([]Counter, len(vals))
		for i, x := range vals {
			out[i] = Counter{table[i].Name, x}
		}
		return out
	}
	workers = named(counters.Workers, v.Workers)
	for i, pv := range v.Ports {
		name := "port" + strconv.Itoa(i)
		if i < len(d.cfg.Dataplane.Ports) {
			name = d.cfg.Dataplane.Ports[i].Name
		}
		ports = append(ports, PortCounters{Port: name, Counters: named(counters.Ports, pv)})
	}
	return workers, ports, named(counters.Globals, v.Global)
}

// PortCounters are one port's counters.
type PortCounters struct {
	Port     string    `json:"port"`
	Counters []Counter `json:"counters"`
}

// String formats a counter as "name=value".
func (c Counter) String() string { return c.Name + "=" + strconv.FormatUint(c.Value, 10) }
