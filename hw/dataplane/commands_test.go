package dataplane

import (
	"encoding/binary"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dsrlb/conf"
	"dsrlb/conf/wire"
	"dsrlb/hw"
	"dsrlb/perf/shm"
	"dsrlb/pipeline"
	"dsrlb/pipeline/header"
	"dsrlb/pipeline/maglev"
)

// newTestDataplane is a data plane without DPDK: enough for the control
// protocol (commands, compile, apply, dump) on a real shared-memory file.
func newTestDataplane(t *testing.T) *Dataplane {
	t.Helper()
	return newTestDataplaneWith(t, testConfig)
}

const testConfig = `[dataplane]
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
`

// newTestDataplaneWith is newTestDataplane with configuration text.
func newTestDataplaneWith(t *testing.T, text string) *Dataplane {
	t.Helper()
	cfg, err := conf.Parse("t.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	d := &cfg.Dataplane
	g := wire.StatsGeometry(len(d.Workers), 1, d.StatsServices, d.StatsBackends)
	g.Slots = 64
	region, _, err := shm.Create(filepath.Join(t.TempDir(), "shm"), g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { region.Close() })
	dp := &Dataplane{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), maglev: maglev.NewBuilder(),
		ports:     []*hw.Port{{Name: "lan0", MAC: header.MAC{2, 0, 0, 0, 0, 1}}},
		neighbors: newNeighbors(&cfg.Dataplane)}
	dp.neighbors.resolver = pipeline.NewResolver(1e9, 2e9)
	if err := dp.attachSHM(region); err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"192.0.2.21", "192.0.2.22", "192.0.2.23"} {
		dp.neighbors.resolver.SetStatic(netip.MustParseAddr(ip), pipeline.Neighbor{MAC: header.MAC{2, 0, 0, 0, 0, 9}})
	}
	boot := wire.BootModel(cfg)
	if err := dp.Apply(boot); err != nil {
		t.Fatal(err)
	}
	dp.receiver = wire.NewReceiver(boot, dp.log)
	return dp
}

// fromConf reports whether dp still runs its configuration file's services.
func fromConf(dp *Dataplane) bool {
	_, fc := dp.receiver.Applied()
	return fc
}

func cmd(t *testing.T, dp *Dataplane, kind uint32, msg any) {
	t.Helper()
	b, err := wire.Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	dp.receiver.Handle(dp, kind, b)
	dp.countCommits()
}

// events drains the event ring.
func events(dp *Dataplane) (kinds []uint32, payloads []string) {
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

var web = wire.Service{Name: "web", VIP: netip.MustParseAddr("192.0.2.100"), Proto: 6, Port: 80, Method: "l2dsr", TableSize: 251}

func backend(addr string, w uint32, st string) wire.Backend {
	return wire.Backend{Service: "web", Addr: netip.MustParseAddr(addr), Weight: w, State: st}
}

func TestCommitAppliesTransaction(t *testing.T) {
	dp := newTestDataplane(t)
	gen0 := dp.snap.Load().Gen
	cmd(t, dp, wire.KindSyncBegin, wire.SyncBegin{Gen: 7})
	cmd(t, dp, wire.KindService, web)
	cmd(t, dp, wire.KindBackend, backend("192.0.2.21", 1, wire.StateUp))
	cmd(t, dp, wire.KindBackend, backend("192.0.2.22", 0, wire.StateInhibited))
	if dp.snap.Load().Gen != gen0 {
		t.Fatal("snapshot changed before the commit")
	}
	cmd(t, dp, wire.KindSyncCommit, wire.SyncCommit{Gen: 7})
	if dp.snap.Load().Gen != gen0+1 || fromConf(dp) {
		t.Fatalf("commit not applied: gen %d fromConf %v", dp.snap.Load().Gen, fromConf(dp))
	}
	if st := dp.states[0]; st.Scheduled != 1 || st.Draining != 1 {
		t.Fatalf("service state %+v", st)
	}
	kinds, payloads := events(dp)
	if len(kinds) != 1 || kinds[0] != wire.KindApplied || strings.Contains(payloads[0], "error") {
		t.Fatalf("events %v %q", kinds, payloads)
	}
	// The dump reports what is applied, states included.
	cmd(t, dp, wire.KindDump, wire.Dump{Token: 42})
	kinds, payloads = events(dp)
	// Then one Neighbor event per tracked address (static ones here).
	want := []uint32{wire.KindDumpService, wire.KindDumpBackend, wire.KindDumpBackend,
		wire.KindNeighbor, wire.KindNeighbor, wire.KindNeighbor, wire.KindDumpEnd}
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
		send func(t *testing.T, dp *Dataplane)
		want string
	}{
		{"unsupported method", func(t *testing.T, dp *Dataplane) {
			s := web
			s.Method = "vxlan"
			cmd(t, dp, wire.KindService, s)
		}, "not supported"},
		{"off-link real server", func(t *testing.T, dp *Dataplane) {
			cmd(t, dp, wire.KindService, web)
			cmd(t, dp, wire.KindBackend, backend("198.51.100.1", 1, wire.StateUp))
		}, "is not on-link in 192.0.2.0/24"},
		{"real server of another service", func(t *testing.T, dp *Dataplane) {
			cmd(t, dp, wire.KindService, web)
			b := backend("192.0.2.21", 1, wire.StateUp)
			b.Service = "api"
			cmd(t, dp, wire.KindBackend, b)
		}, "does not follow that service"},
		{"garbage payload", func(t *testing.T, dp *Dataplane) {
			dp.receiver.Handle(dp, wire.KindService, []byte("{not json"))
		}, "bad"},
		{"table size not prime", func(t *testing.T, dp *Dataplane) {
			s := web
			s.TableSize = 100
			cmd(t, dp, wire.KindService, s)
			cmd(t, dp, wire.KindBackend, backend("192.0.2.21", 1, wire.StateUp))
		}, "prime"},
		{"duplicate real server", func(t *testing.T, dp *Dataplane) {
			cmd(t, dp, wire.KindService, web)
			cmd(t, dp, wire.KindBackend, backend("192.0.2.21", 1, wire.StateUp))
			cmd(t, dp, wire.KindBackend, backend("192.0.2.21", 1, wire.StateUp))
		}, "twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dp := newTestDataplane(t)
			before := dp.snap.Load()
			cmd(t, dp, wire.KindSyncBegin, wire.SyncBegin{Gen: 1})
			c.send(t, dp)
			cmd(t, dp, wire.KindSyncCommit, wire.SyncCommit{Gen: 1})
			if dp.snap.Load() != before || !fromConf(dp) {
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
	cmd(t, dp, wire.KindSyncBegin, wire.SyncBegin{Gen: 1})
	cmd(t, dp, wire.KindService, web)
	if dp.snap.Load() != before {
		t.Fatal("staged messages applied without a commit")
	}
	// ...and its successor starts a full transaction of its own.
	cmd(t, dp, wire.KindSyncBegin, wire.SyncBegin{Gen: 1})
	cmd(t, dp, wire.KindService, web)
	cmd(t, dp, wire.KindBackend, backend("192.0.2.23", 1, wire.StateUp))
	cmd(t, dp, wire.KindSyncCommit, wire.SyncCommit{Gen: 1})
	if m, _ := dp.receiver.Applied(); len(m.Services) != 1 || len(m.Services[0].Backends) != 1 || m.Services[0].Backends[0].Addr.String() != "192.0.2.23" {
		t.Fatalf("applied model %+v", m)
	}
	// A commit without a transaction, or of another generation, is refused.
	cmd(t, dp, wire.KindSyncCommit, wire.SyncCommit{Gen: 2})
	cmd(t, dp, wire.KindSyncBegin, wire.SyncBegin{Gen: 3})
	cmd(t, dp, wire.KindSyncCommit, wire.SyncCommit{Gen: 4})
	_, payloads := events(dp)
	if len(payloads) != 2 || !strings.Contains(payloads[1], "while 3 is open") {
		t.Fatalf("events %q", payloads)
	}
}

func TestCommitL3Methods(t *testing.T) {
	dp := newTestDataplane(t)
	gue := wire.Service{Name: "tun", VIP: netip.MustParseAddr("192.0.2.101"), Proto: 6, Port: 80, Method: "gue", TableSize: 251, GUEPort: 6080}
	cmd(t, dp, wire.KindSyncBegin, wire.SyncBegin{Gen: 1})
	cmd(t, dp, wire.KindService, gue)
	cmd(t, dp, wire.KindBackend, wire.Backend{Service: "tun", Addr: netip.MustParseAddr("192.0.2.22"), Weight: 1, State: wire.StateUp})
	cmd(t, dp, wire.KindBackend, wire.Backend{Service: "tun", Addr: netip.MustParseAddr("192.0.2.23"), Weight: 1, State: wire.StateUp, Method: "ipip"})
	cmd(t, dp, wire.KindSyncCommit, wire.SyncCommit{Gen: 1})
	if _, payloads := events(dp); len(payloads) != 1 || strings.Contains(payloads[0], "error") {
		t.Fatalf("gue/ipip transaction: %q", payloads)
	}
	if st := dp.states[0]; st.Scheduled != 2 {
		t.Fatalf("state %+v", st)
	}
	// Off-link real servers need a route; this data plane has none.
	cmd(t, dp, wire.KindSyncBegin, wire.SyncBegin{Gen: 2})
	cmd(t, dp, wire.KindService, gue)
	cmd(t, dp, wire.KindBackend, wire.Backend{Service: "tun", Addr: netip.MustParseAddr("198.51.100.9"), Weight: 1, State: wire.StateUp})
	cmd(t, dp, wire.KindSyncCommit, wire.SyncCommit{Gen: 2})
	if _, payloads := events(dp); len(payloads) != 1 || !strings.Contains(payloads[0], "no route to real server 198.51.100.9") {
		t.Fatalf("unroutable real server: %q", payloads)
	}
}

// TestCommandRingGarbage: another process writes random bytes over the
// command ring (indices and slots). The data plane notices, resets the
// ring, counts it and logs it once however often it happens; forwarding
// and the applied state do not change; a full transaction afterwards
// applies.
func TestCommandRingGarbage(t *testing.T) {
	dp := newTestDataplane(t)
	var logs strings.Builder
	dp.log = slog.New(slog.NewTextHandler(&logs, nil))
	now := time.Unix(1000, 0)
	dp.now = func() time.Time { return now }
	before := dp.snap.Load()
	f, err := os.OpenFile(dp.shm.Path(), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var hdr [40]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		t.Fatal(err)
	}
	off, size := int64(binary.NativeEndian.Uint64(hdr[24:])), int(binary.NativeEndian.Uint64(hdr[32:]))
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, size)
	for round := range 200 {
		for i := range garbage {
			garbage[i] = byte(rng.Uint32())
		}
		if _, err := f.WriteAt(garbage, off); err != nil {
			t.Fatal(err)
		}
		for range 5 {
			dp.pollCommands()
		}
		if round%50 == 0 {
			now = now.Add(10 * time.Second)
		}
		if dp.snap.Load() != before {
			t.Fatalf("round %d: garbage in the command ring changed forwarding", round)
		}
	}
	resets := int(dp.global.c[gRingResets].Load())
	if resets == 0 {
		t.Fatal("200 rounds of garbage: no corrupt ring counted")
	}
	if n := strings.Count(logs.String(), "command ring corrupt"); n != 1 {
		t.Fatalf("%d corrupt rings in 40 s logged %d times, want once a minute:\n%s", resets, n, logs.String())
	}
	// The ring works again for a real transaction.
	dp.shm.Commands().Reset()
	cmd(t, dp, wire.KindSyncBegin, wire.SyncBegin{Gen: 9})
	cmd(t, dp, wire.KindService, web)
	cmd(t, dp, wire.KindBackend, backend("192.0.2.23", 1, wire.StateUp))
	cmd(t, dp, wire.KindSyncCommit, wire.SyncCommit{Gen: 9})
	if m, _ := dp.receiver.Applied(); len(m.Services) != 1 || m.Services[0].Backends[0].Addr.String() != "192.0.2.23" {
		t.Fatalf("after the garbage, a transaction was not applied: %+v", m)
	}
}
