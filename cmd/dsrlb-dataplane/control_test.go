package main

import (
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"dsrlb/conf"
	"dsrlb/ctrl/proto"
	"dsrlb/ctrl/shm"
	"dsrlb/hw"
	"dsrlb/pipeline"
	"dsrlb/pipeline/header"
	"dsrlb/pipeline/maglev"
)

// newTestDataplane is a data plane without DPDK: enough for the control
// protocol (commands, compile, apply, dump) on a real shared-memory file.
func newTestDataplane(t *testing.T) *dataplane {
	t.Helper()
	cfg, err := conf.Parse("t.toml", []byte(`[dataplane]
workers = [1]
address = "192.0.2.10/24"
[[dataplane.port]]
name = "lan0"
device = "net_null0"
[[service]]
name = "web"
vip = "192.0.2.100"
port = 80
  [[service.backend]]
  address = "192.0.2.21"
`))
	if err != nil {
		t.Fatal(err)
	}
	region, _, err := shm.Create(filepath.Join(t.TempDir(), "shm"), shm.Geometry{
		SlotSize: proto.SlotSize, Slots: 64, Workers: 1, WorkerBytes: proto.WorkerBytes, GlobalBytes: proto.GlobalBytes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { region.Close() })
	dp := &dataplane{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), maglev: maglev.NewBuilder(),
		fromConf: true, shm: region, global: newGlobalCounters(region),
		ports:    []*hw.Port{{Name: "lan0", MAC: header.MAC{2, 0, 0, 0, 0, 1}}},
		resolver: pipeline.NewResolver(1e9, 2e9)}
	for _, ip := range []string{"192.0.2.21", "192.0.2.22", "192.0.2.23"} {
		dp.resolver.SetStatic(netip.MustParseAddr(ip), pipeline.Neighbor{MAC: header.MAC{2, 0, 0, 0, 0, 9}})
	}
	model := modelFromConfig(cfg)
	pcfg, err := dp.compile(model)
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.apply(model, pcfg); err != nil {
		t.Fatal(err)
	}
	return dp
}

func cmd(t *testing.T, dp *dataplane, kind uint32, msg any) {
	t.Helper()
	b, err := proto.Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	dp.command(kind, b)
}

// events drains the event ring.
func events(dp *dataplane) (kinds []uint32, payloads []string) {
	buf := make([]byte, dp.shm.Events().MaxPayload())
	for {
		k, p, ok := dp.shm.Events().Pop(buf)
		if !ok {
			return
		}
		kinds = append(kinds, k)
		payloads = append(payloads, string(p))
	}
}

var web = proto.Service{Name: "web", VIP: netip.MustParseAddr("192.0.2.100"), Proto: 6, Port: 80, Method: "l2dsr", TableSize: 251}

func backend(addr string, w uint32, st string) proto.Backend {
	return proto.Backend{Service: "web", Addr: netip.MustParseAddr(addr), Weight: w, State: st}
}

func TestCommitAppliesTransaction(t *testing.T) {
	dp := newTestDataplane(t)
	gen0 := dp.snap.Load().Gen
	cmd(t, dp, proto.KindSyncBegin, proto.SyncBegin{Gen: 7})
	cmd(t, dp, proto.KindService, web)
	cmd(t, dp, proto.KindBackend, backend("192.0.2.21", 1, proto.StateUp))
	cmd(t, dp, proto.KindBackend, backend("192.0.2.22", 0, proto.StateInhibited))
	if dp.snap.Load().Gen != gen0 {
		t.Fatal("snapshot changed before the commit")
	}
	cmd(t, dp, proto.KindSyncCommit, proto.SyncCommit{Gen: 7})
	if dp.snap.Load().Gen != gen0+1 || dp.fromConf {
		t.Fatalf("commit not applied: gen %d fromConf %v", dp.snap.Load().Gen, dp.fromConf)
	}
	if st := dp.states[0]; st.Scheduled != 1 || st.Draining != 1 {
		t.Fatalf("service state %+v", st)
	}
	kinds, payloads := events(dp)
	if len(kinds) != 1 || kinds[0] != proto.KindApplied || strings.Contains(payloads[0], "error") {
		t.Fatalf("events %v %q", kinds, payloads)
	}
	// The dump reports what is applied, states included.
	cmd(t, dp, proto.KindDump, proto.Dump{Token: 42})
	kinds, payloads = events(dp)
	// Then one Neighbor event per tracked address (static ones here).
	want := []uint32{proto.KindDumpService, proto.KindDumpBackend, proto.KindDumpBackend,
		proto.KindNeighbor, proto.KindNeighbor, proto.KindNeighbor, proto.KindDumpEnd}
	if len(kinds) != len(want) {
		t.Fatalf("dump events %v", kinds)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("dump events %v, want %v", kinds, want)
		}
	}
	if !strings.Contains(payloads[2], `"inhibited"`) || !strings.Contains(payloads[3], `"mac":"02:00:00:00:00:09"`) ||
		!strings.Contains(payloads[6], `"token":42`) || !strings.Contains(payloads[6], `"from_config":false`) {
		t.Fatalf("dump payloads %q", payloads)
	}
}

func TestBadTransactionsChangeNothing(t *testing.T) {
	cases := []struct {
		name string
		send func(t *testing.T, dp *dataplane)
		want string
	}{
		{"unsupported method", func(t *testing.T, dp *dataplane) {
			s := web
			s.Method = "vxlan"
			cmd(t, dp, proto.KindService, s)
		}, "not supported"},
		{"off-link real server", func(t *testing.T, dp *dataplane) {
			cmd(t, dp, proto.KindService, web)
			cmd(t, dp, proto.KindBackend, backend("198.51.100.1", 1, proto.StateUp))
		}, "is not on-link in 192.0.2.0/24"},
		{"real server of another service", func(t *testing.T, dp *dataplane) {
			cmd(t, dp, proto.KindService, web)
			b := backend("192.0.2.21", 1, proto.StateUp)
			b.Service = "api"
			cmd(t, dp, proto.KindBackend, b)
		}, "does not follow that service"},
		{"garbage payload", func(t *testing.T, dp *dataplane) {
			dp.command(proto.KindService, []byte("{not json"))
		}, "bad"},
		{"table size not prime", func(t *testing.T, dp *dataplane) {
			s := web
			s.TableSize = 100
			cmd(t, dp, proto.KindService, s)
			cmd(t, dp, proto.KindBackend, backend("192.0.2.21", 1, proto.StateUp))
		}, "prime"},
		{"duplicate real server", func(t *testing.T, dp *dataplane) {
			cmd(t, dp, proto.KindService, web)
			cmd(t, dp, proto.KindBackend, backend("192.0.2.21", 1, proto.StateUp))
			cmd(t, dp, proto.KindBackend, backend("192.0.2.21", 1, proto.StateUp))
		}, "twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dp := newTestDataplane(t)
			before := dp.snap.Load()
			cmd(t, dp, proto.KindSyncBegin, proto.SyncBegin{Gen: 1})
			c.send(t, dp)
			cmd(t, dp, proto.KindSyncCommit, proto.SyncCommit{Gen: 1})
			if dp.snap.Load() != before || !dp.fromConf {
				t.Fatal("a rejected transaction changed forwarding")
			}
			_, payloads := events(dp)
			if len(payloads) != 1 || !strings.Contains(payloads[0], c.want) {
				t.Fatalf("applied event %q, want an error containing %q", payloads, c.want)
			}
		})
	}
}

func TestHalfTransactionIsNeverApplied(t *testing.T) {
	dp := newTestDataplane(t)
	before := dp.snap.Load()
	// A control process dies after SyncBegin and a service...
	cmd(t, dp, proto.KindSyncBegin, proto.SyncBegin{Gen: 1})
	cmd(t, dp, proto.KindService, web)
	if dp.snap.Load() != before {
		t.Fatal("staged messages applied without a commit")
	}
	// ...and its successor starts a full transaction of its own.
	cmd(t, dp, proto.KindSyncBegin, proto.SyncBegin{Gen: 1})
	cmd(t, dp, proto.KindService, web)
	cmd(t, dp, proto.KindBackend, backend("192.0.2.23", 1, proto.StateUp))
	cmd(t, dp, proto.KindSyncCommit, proto.SyncCommit{Gen: 1})
	if len(dp.model) != 1 || len(dp.model[0].backends) != 1 || dp.model[0].backends[0].Addr.String() != "192.0.2.23" {
		t.Fatalf("applied model %+v", dp.model)
	}
	// A commit without a transaction, or of another generation, is refused.
	cmd(t, dp, proto.KindSyncCommit, proto.SyncCommit{Gen: 2})
	cmd(t, dp, proto.KindSyncBegin, proto.SyncBegin{Gen: 3})
	cmd(t, dp, proto.KindSyncCommit, proto.SyncCommit{Gen: 4})
	_, payloads := events(dp)
	if len(payloads) != 2 || !strings.Contains(payloads[1], "while 3 is open") {
		t.Fatalf("events %q", payloads)
	}
}

func TestCommitL3Methods(t *testing.T) {
	dp := newTestDataplane(t)
	gue := proto.Service{Name: "tun", VIP: netip.MustParseAddr("192.0.2.101"), Proto: 6, Port: 80, Method: "gue", TableSize: 251, GUEPort: 6080}
	cmd(t, dp, proto.KindSyncBegin, proto.SyncBegin{Gen: 1})
	cmd(t, dp, proto.KindService, gue)
	cmd(t, dp, proto.KindBackend, proto.Backend{Service: "tun", Addr: netip.MustParseAddr("192.0.2.22"), Weight: 1, State: proto.StateUp})
	cmd(t, dp, proto.KindBackend, proto.Backend{Service: "tun", Addr: netip.MustParseAddr("192.0.2.23"), Weight: 1, State: proto.StateUp, Method: "ipip"})
	cmd(t, dp, proto.KindSyncCommit, proto.SyncCommit{Gen: 1})
	if _, payloads := events(dp); len(payloads) != 1 || strings.Contains(payloads[0], "error") {
		t.Fatalf("gue/ipip transaction: %q", payloads)
	}
	if st := dp.states[0]; st.Scheduled != 2 {
		t.Fatalf("state %+v", st)
	}
	// Off-link real servers need a route; this data plane has none.
	cmd(t, dp, proto.KindSyncBegin, proto.SyncBegin{Gen: 2})
	cmd(t, dp, proto.KindService, gue)
	cmd(t, dp, proto.KindBackend, proto.Backend{Service: "tun", Addr: netip.MustParseAddr("198.51.100.9"), Weight: 1, State: proto.StateUp})
	cmd(t, dp, proto.KindSyncCommit, proto.SyncCommit{Gen: 2})
	if _, payloads := events(dp); len(payloads) != 1 || !strings.Contains(payloads[0], "no route to real server 198.51.100.9") {
		t.Fatalf("unroutable real server: %q", payloads)
	}
}
