package wire

import (
	"encoding/json"
	"fmt"
	"net/netip"

	"dsrlb/conf"
	"dsrlb/perf/counters"
	"dsrlb/perf/shm"
	"dsrlb/perf/stats"
)

// Message kinds: control process -> data plane.
const (
	KindSyncBegin  uint32 = 1 // SyncBegin
	KindService    uint32 = 2 // Service
	KindBackend    uint32 = 3 // Backend, of the last Service
	KindSyncCommit uint32 = 4 // SyncCommit
	KindDump       uint32 = 5 // Dump: report the applied state
	KindVRRPGroup  uint32 = 6 // VRRPGroup, inside a transaction
	KindVRRPState  uint32 = 7 // VRRPState: a group's state, applied at once
	KindProbe      uint32 = 8 // Probe, of the last Service
)

// Message kinds: data plane -> control process.
const (
	KindHello       uint32 = 100 // Hello, once after the data plane starts
	KindApplied     uint32 = 101 // Applied, after each commit
	KindDumpService uint32 = 102 // Service as applied
	KindDumpBackend uint32 = 103 // Backend as applied
	KindDumpEnd     uint32 = 104 // DumpEnd
	KindNeighbor    uint32 = 105 // Neighbor: a real server's MAC resolved or expired
)

// SlotSize is the ring slot size both processes use.
const SlotSize = 512

// Slots is the number of slots per ring.
const Slots = 4096

// SyncBegin opens a transaction.
type SyncBegin struct {
	Gen uint64 `json:"gen"`
}

// SyncCommit applies the transaction Gen.
type SyncCommit struct {
	Gen uint64 `json:"gen"`
}

// Dump asks for the applied state; the answer is DumpService and
// DumpBackend messages and a DumpEnd with the same Token.
type Dump struct {
	Token uint64 `json:"token"`
}

// Service is a virtual service.
type Service struct {
	Name   string     `json:"name"`
	VIP    netip.Addr `json:"vip"`
	Proto  uint8      `json:"proto"`
	Port   uint16     `json:"port"`
	Method string     `json:"method"`
	// Scheduler is the conf.Scheduler's name ("rr", "wlc", ...); omitted:
	// maglev.
	Scheduler string `json:"scheduler,omitempty"`
	// SourceIP: Maglev hashes the client address only (hash =
	// "source-ip", or scheduler sh). Whatever the scheduler, Maglev also
	// picks the real server of a mid-flow packet that connection
	// tracking does not know (e.g. after a failover).
	SourceIP  bool   `json:"source_ip,omitempty"`
	TableSize uint32 `json:"table_size"` // of the Maglev table
	// PersistTimeout is the persistence timeout in seconds, counted from
	// the client's last packet; 0: no persistence. PersistPrefix is the
	// prefix length of the client address that counts as one client
	// (32 or 128: the address), meaningful when PersistTimeout > 0.
	PersistTimeout uint32 `json:"persist_timeout,omitempty"`
	PersistPrefix  uint8  `json:"persist_prefix,omitempty"`
	DSCP           uint8  `json:"dscp,omitempty"`     // code of the VIP, method dscp
	GUEPort        uint16 `json:"gue_port,omitempty"` // method gue
	// VRRP is the ID of the VRRPGroup whose master answers ARP and
	// neighbour solicitations for VIP; 0: always answered.
	VRRP uint8 `json:"vrrp,omitempty"`
}

// VRRPGroup is a VRRP instance as the data plane knows it: the VIPs of
// the services naming its ID are answered and announced only while the
// instance is master. A transaction defines every group; a group that
// stays keeps its state across transactions, a new one starts as not
// master.
type VRRPGroup struct {
	ID   uint8  `json:"id"` // 1..255
	Name string `json:"name"`
	// DownMS is the instance's master-down interval in milliseconds: a
	// master group whose control process's heartbeat is older stops
	// being answered (the peer has taken over by then).
	DownMS uint32 `json:"down_ms"`
	// On becoming master: GARPRepeat announcements per VIP at once, the
	// same again GARPDelayMS later (0: not), then every GARPRefreshMS
	// (0: never).
	GARPRepeat    uint32 `json:"garp_repeat"`
	GARPDelayMS   uint32 `json:"garp_delay_ms,omitempty"`
	GARPRefreshMS uint32 `json:"garp_refresh_ms,omitempty"`
}

// VRRPState makes the data plane master of group ID or not, at once (it
// is one message, outside transactions). DownMS updates the group's
// master-down interval: a version 3 backup learns it from its master.
type VRRPState struct {
	ID     uint8  `json:"id"`
	Master bool   `json:"master"`
	DownMS uint32 `json:"down_ms"`
}

// Backend states.
const (
	// StateUp: schedulable with its weight.
	StateUp = "up"
	// StateInhibited: failed its health check with inhibit_on_failure: it
	// keeps its established flows but gets no new ones (weight 0).
	StateInhibited = "inhibited"
	// StateSorry: the sorry server, standing in while the service has no
	// healthy real server or lost its quorum.
	StateSorry = "sorry"
	// StateStandby: healthy, but outside the service's active priority
	// group (conf.Service.ActivePriority): like an inhibited one it
	// keeps its established flows and gets no new ones (weight 0), until
	// its group becomes the active one.
	StateStandby = "standby"
)

// Backend is a real server of the last Service. A real server that is
// down without inhibit_on_failure is not sent at all: its flows move.
type Backend struct {
	Service string     `json:"service"`
	Addr    netip.Addr `json:"addr"`
	Weight  uint32     `json:"weight"`
	State   string     `json:"state"`
	Method  string     `json:"method,omitempty"` // overrides the service's
}

// Probe steers the balancer's own packets to the last Service's VIP from
// source port Port (sent by the kernel through the exception path: a DSR
// path health check of dsrlb-ctrl) to real server Addr, with the
// service's forwarding method or Method. A probe is independent of the
// real server's state: a real server that is down (and not sent as a
// Backend) is still probed, so that it can come back.
type Probe struct {
	Service string     `json:"service"`
	Addr    netip.Addr `json:"addr"`
	Method  string     `json:"method,omitempty"` // overrides the service's
	Port    uint16     `json:"port"`             // the probe's source port
}

// Hello announces a data plane.
type Hello struct {
	BootID uint64 `json:"boot_id"`
	PID    int    `json:"pid"`
}

// Applied reports the outcome of a commit.
type Applied struct {
	Gen      uint64 `json:"gen"`
	Error    string `json:"error,omitempty"`
	Snapshot uint64 `json:"snapshot"`
}

// DumpEnd closes a dump.
type DumpEnd struct {
	Token    uint64 `json:"token"`
	Snapshot uint64 `json:"snapshot"`
	// FromConfig is true while the data plane still runs the services of
	// its own configuration file (no control process has committed yet).
	FromConfig bool `json:"from_config"`
}

// Neighbor reports a real server's link-layer state.
type Neighbor struct {
	Addr     netip.Addr `json:"addr"`
	MAC      string     `json:"mac,omitempty"`
	Port     string     `json:"port,omitempty"`
	Resolved bool       `json:"resolved"`
}

// Encode marshals a message.
func Encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(b) > SlotSize-8 {
		return nil, fmt.Errorf("wire: %T message of %d bytes exceeds a ring slot", v, len(b))
	}
	return b, nil
}

// Decode unmarshals a message of the given kind into v.
func Decode(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("wire: bad %T message: %w", v, err)
	}
	return nil
}

// Geometry is the shape of the shared-memory file of a data plane with
// workers worker lcores and ports ports: rings of Slots slots of SlotSize
// bytes, counter blocks as perf/counters lays them out, and a stats
// section of the default capacities (conf.DefaultStatsServices and
// conf.DefaultStatsBackends) as perf/stats lays it out.
func Geometry(workers, ports int) shm.Geometry {
	return StatsGeometry(workers, ports, conf.DefaultStatsServices, conf.DefaultStatsBackends)
}

// StatsGeometry is Geometry with a stats section of services service
// slots and backends real-server slots (stats_services, stats_backends).
func StatsGeometry(workers, ports, services, backends int) shm.Geometry {
	return shm.Geometry{
		SlotSize: SlotSize, Slots: Slots,
		Workers: workers, WorkerBytes: counters.Bytes(counters.Worker),
		Ports: ports, PortBytes: counters.Bytes(counters.Port),
		GlobalBytes: counters.Bytes(counters.Global),
		StatsBytes:  stats.Bytes(workers, services, backends),
	}
}
