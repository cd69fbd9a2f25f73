package dataplane

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"dsrlb/conf/wire"
	"dsrlb/perf/shm"
)

const vrrpTestConfig = `[dataplane]
workers = [1]
address = "192.0.2.10/24"
tap = "dsrlb0"
[[dataplane.port]]
name = "lan0"
device = "net_null0"
[[service]]
name = "web"
vip = "192.0.2.100"
port = 80
  [[service.backend]]
  address = "192.0.2.21"
[[service]]
name = "plain"
vip = "192.0.2.101"
port = 80
  [[service.backend]]
  address = "192.0.2.22"
[[vrrp]]
name = "vi1"
vrid = 51
priority = 150
advert_int = "100ms"
garp_repeat = 3
garp_delay = "2s"
garp_refresh = "10s"
vips = ["192.0.2.100"]
`

var vip100 = netip.MustParseAddr("192.0.2.100")

func global(dp *Dataplane, i int) uint64 { return dp.global.c[i].Load() }

// TestVRRPStateFollowsCtrl: a data plane boots as backup of its groups
// (both balancers of a pair boot that way), becomes master only on the
// control process's word and only while that process beats, announces on
// becoming master and on its schedule, gives the group up when the
// heartbeat grows older than the master-down interval, and keeps the state
// across transactions.
func TestVRRPStateFollowsCtrl(t *testing.T) {
	dp := newTestDataplaneWith(t, vrrpTestConfig)
	snap := dp.snap.Load()
	if snap.Masters().Has(1) || slices.Contains(snap.Announced(), vip100) || !slices.Contains(snap.Announced(), netip.MustParseAddr("192.0.2.101")) {
		t.Fatalf("boot: masters %v announced %v", snap.Masters(), snap.Announced())
	}
	g := dp.groups[1]
	if g == nil || g.def.Name != "vi1" || g.def.DownMS != 300+42 || g.def.GARPRepeat != 3 {
		t.Fatalf("boot group %+v", g)
	}

	// No control process has beaten yet: master is refused.
	cmd(t, dp, wire.KindVRRPState, wire.VRRPState{ID: 1, Master: true})
	if dp.snap.Load().Masters().Has(1) || global(dp, gVRRPStateErrors) != 1 {
		t.Fatalf("master accepted without a heartbeat (errors %d)", global(dp, gVRRPStateErrors))
	}
	// An unknown group is refused.
	cmd(t, dp, wire.KindVRRPState, wire.VRRPState{ID: 9, Master: true})
	if global(dp, gVRRPStateErrors) != 2 {
		t.Fatal("unknown group accepted")
	}

	t0 := time.Now()
	dp.now = func() time.Time { return t0 }
	dp.shm.SetHeartbeat(shm.Ctrl, t0)
	cmd(t, dp, wire.KindVRRPState, wire.VRRPState{ID: 1, Master: true, DownMS: 350})
	snap = dp.snap.Load()
	if !snap.Masters().Has(1) || !slices.Contains(snap.Announced(), vip100) || global(dp, gVRRPMasters) != 1 || global(dp, gVRRPStates) != 1 {
		t.Fatalf("master not applied: %v", snap.Masters())
	}
	if g.def.DownMS != 350 || global(dp, gVRRPAnnouncements) != 1 {
		t.Fatalf("down %d, announcements %d", g.def.DownMS, global(dp, gVRRPAnnouncements))
	}
	// The same state again changes nothing.
	gen := dp.snap.Load().Gen
	cmd(t, dp, wire.KindVRRPState, wire.VRRPState{ID: 1, Master: true})
	if dp.snap.Load().Gen != gen || global(dp, gVRRPAnnouncements) != 1 {
		t.Fatal("a repeated state was applied again")
	}

	// The announcement schedule: the second burst garp_delay after the
	// first, then every garp_refresh (the heartbeat kept fresh).
	at := func(d time.Duration) time.Time {
		now := t0.Add(d)
		dp.shm.SetHeartbeat(shm.Ctrl, now)
		dp.vrrpTick(now)
		return now
	}
	for _, step := range []struct {
		at   time.Duration
		want uint64
	}{{time.Second, 1}, {2*time.Second - time.Millisecond, 1}, {2 * time.Second, 2}, {5 * time.Second, 2}, {12 * time.Second, 3}, {21 * time.Second, 3}, {22 * time.Second, 4}} {
		at(step.at)
		if n := global(dp, gVRRPAnnouncements); n != step.want {
			t.Fatalf("at %s: %d bursts, want %d", step.at, n, step.want)
		}
	}

	// A transaction that keeps the group keeps its state.
	commit(t, dp, 1, wire.BootModel(dp.cfg))
	if !dp.snap.Load().Masters().Has(1) {
		t.Fatal("a transaction lost the master state")
	}

	// The control process stops beating: the group is given up once the
	// heartbeat is older than the master-down interval, not before.
	last := t0.Add(22 * time.Second)
	dp.vrrpTick(last.Add(342 * time.Millisecond)) // the transaction set DownMS back to 342
	if !dp.snap.Load().Masters().Has(1) {
		t.Fatal("given up before the master-down interval")
	}
	dp.vrrpTick(last.Add(343 * time.Millisecond))
	if dp.snap.Load().Masters().Has(1) || global(dp, gVRRPCtrlLost) != 1 || global(dp, gVRRPMasters) != 0 {
		t.Fatal("not given up after the master-down interval")
	}
	// A renamed group (another configuration) starts as backup.
	dp.now = nil
	dp.shm.SetHeartbeat(shm.Ctrl, time.Now())
	cmd(t, dp, wire.KindVRRPState, wire.VRRPState{ID: 1, Master: true})
	if !dp.snap.Load().Masters().Has(1) {
		t.Fatal("master again not applied")
	}
	m := wire.BootModel(dp.cfg)
	m.Groups[0].Name = "other"
	commit(t, dp, 2, m)
	if dp.snap.Load().Masters().Has(1) {
		t.Fatal("a new group inherited the master state")
	}
	// A model whose service names an undefined group is refused whole.
	m.Groups = nil
	cmd(t, dp, wire.KindSyncBegin, wire.SyncBegin{Gen: 3})
	for _, sm := range m.Services {
		cmd(t, dp, wire.KindService, sm.Service)
	}
	cmd(t, dp, wire.KindSyncCommit, wire.SyncCommit{Gen: 3})
	_, payloads := events(dp)
	if len(payloads) == 0 || !strings.Contains(payloads[len(payloads)-1], "VRRP group 1 is not defined") {
		t.Fatalf("undefined group accepted: %v", payloads)
	}
}

// commit sends m as transaction gen and fails the test if it is refused.
func commit(t *testing.T, dp *Dataplane, gen uint64, m wire.Model) {
	t.Helper()
	cmd(t, dp, wire.KindSyncBegin, wire.SyncBegin{Gen: gen})
	for _, sm := range m.Services {
		cmd(t, dp, wire.KindService, sm.Service)
		for _, b := range sm.Backends {
			cmd(t, dp, wire.KindBackend, b)
		}
	}
	for _, g := range m.Groups {
		cmd(t, dp, wire.KindVRRPGroup, g)
	}
	errs := dp.receiver.Stats().CommitErrors
	cmd(t, dp, wire.KindSyncCommit, wire.SyncCommit{Gen: gen})
	if dp.receiver.Stats().CommitErrors != errs {
		_, p := events(dp)
		t.Fatalf("transaction %d refused: %v", gen, p)
	}
}
