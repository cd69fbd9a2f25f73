package ctrl

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"dsrlb/conf/wire"
	"dsrlb/perf/shm"
)

// testTiming keeps the daemon tests fast. Nothing a test asserts depends
// on these periods being kept: on a loaded machine the tests only take
// longer. The dump timeout is long so that a slow fake is not asked twice
// (the first commands are asserted); the push timeout is short for the
// ring-full tests, and a push that times out is retried whole.
var testTiming = Timing{
	Retry:       20 * time.Millisecond,
	Stale:       time.Second,
	Heartbeat:   40 * time.Millisecond,
	DumpTimeout: testPatience,
	PushTimeout: 300 * time.Millisecond,
	PushRetry:   100 * time.Millisecond,
	Debounce:    20 * time.Millisecond,
	Poll:        5 * time.Millisecond,
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// backend is a loopback TCP listener standing in for a real server's
// health-checked port.
type backend struct {
	t    *testing.T
	port int
	mu   sync.Mutex
	ln   net.Listener
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{t: t}
	b.start()
	b.port = b.ln.Addr().(*net.TCPAddr).Port
	t.Cleanup(b.stop)
	return b
}

func (b *backend) start() {
	b.t.Helper()
	addr := "127.0.0.1:0"
	if b.port != 0 {
		addr = fmt.Sprintf("127.0.0.1:%d", b.port)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		b.t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	b.mu.Lock()
	b.ln = ln
	b.mu.Unlock()
}

func (b *backend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ln != nil {
		b.ln.Close()
		b.ln = nil
	}
}

// harness runs a Daemon against files in a temporary directory.
type harness struct {
	t       *testing.T
	dir     string
	cfgPath string
	sock    string
	shmPath string
	d       *Daemon
	dpExtra string // more [dataplane] keys, each line ending in a newline
	bgpAddr netip.Addr
	logs    *syncBuffer
	cancel  context.CancelFunc
	runErr  chan error
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, cfgPath: filepath.Join(dir, "dsrlb.toml"), sock: filepath.Join(dir, "run", "ctrl.sock"),
		shmPath: filepath.Join(dir, "dp.shm"), logs: &syncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dsrlb-ctrl log:\n%s", h.logs)
		}
	})
	return h
}

// config writes a configuration: a [dataplane] pointing at the test's shm
// file, [ctrl] at its socket, then services.
func (h *harness) config(services string) {
	h.t.Helper()
	src := fmt.Sprintf(`[dataplane]
workers = [1]
address = "192.0.2.10/24"
shm = %q
%s[[dataplane.port]]
name = "p0"
device = "net_ring0"

[ctrl]
socket = %q
metrics_listen = "127.0.0.1:0"
%s`, h.shmPath, h.dpExtra, h.sock, services)
	if err := os.WriteFile(h.cfgPath, []byte(src), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// tcpCheck is a [service.backend.check] probing a loopback port.
func tcpCheck(port int, extra ...string) string {
	return fmt.Sprintf("  [service.backend.check]\n  type = \"tcp\"\n  port = %d\n  interval = \"100ms\"\n  timeout = \"50ms\"\n  rise = 1\n  fall = 1\n  jitter = 0\n%s",
		port, strings.Join(extra, "\n"))
}

// web is a service "web" with a tcp-checked backend per port (192.0.2.21,
// .22, ...) and extra service keys.
func web(extra string, ports ...int) string {
	s := "[[service]]\nname = \"web\"\nvip = \"192.0.2.100\"\nport = 80\n" + extra + "\n"
	for i, p := range ports {
		s += fmt.Sprintf("  [[service.backend]]\n  address = \"192.0.2.%d\"\n%s\n", 21+i, tcpCheck(p))
	}
	return s
}

func (h *harness) start() {
	h.t.Helper()
	opts := Options{
		ConfigPath: h.cfgPath,
		Log:        slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Timing:     testTiming,
		ProbeAddr:  func(netip.Addr) netip.Addr { return netip.MustParseAddr("127.0.0.1") },
		BGPAddr:    h.bgpAddr,
	}
	d, err := New(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.d = d
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.runErr = make(chan error, 1)
	go func() { h.runErr <- d.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

// stop ends Run and returns its error.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.runErr:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(testPatience):
		h.t.Fatal("Run did not return after cancel")
	}
}

// waitLog waits until the daemon has logged what.
func (h *harness) waitLog(what string) {
	h.t.Helper()
	h.waitLogged(what, 1)
}

// waitLogged waits until the daemon has logged what n times.
func (h *harness) waitLogged(what string, n int) {
	h.t.Helper()
	if !eventually(func() bool { return logged(h.logs, what) >= n }) {
		h.t.Fatalf("timed out waiting for log %q (%d times, seen %d)", what, n, logged(h.logs, what))
	}
}

func (h *harness) status() *Status {
	h.t.Helper()
	r, err := Call(h.sock, Request{Cmd: "status"})
	if err != nil {
		h.t.Fatal(err)
	}
	if !r.OK || r.Status == nil {
		h.t.Fatalf("status: %+v", r)
	}
	return r.Status
}

func eq(a, b []string) bool { return slices.Equal(a, b) }

func TestDaemonDumpThenFullStateThenHealthChanges(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b1, b2 := newBackend(t), newBackend(t)
	h.config(web("", b1.port, b2.port))
	f := startFakeDP(t, h.shmPath, testSlots, fakeState{})
	h.start()

	both := []string{"192.0.2.21:1:up", "192.0.2.22:1:up"}
	st := f.waitCommit(t, "both real servers up", func(s fakeState) bool { return eq(s.backends("web"), both) })
	if len(st.Services) != 1 || st.Services[0] != (wire.Service{Name: "web", VIP: netip.MustParseAddr("192.0.2.100"), Proto: 6, Port: 80, Method: "l2dsr", TableSize: 65537}) {
		t.Errorf("service sent: %+v", st.Services)
	}
	_, _, kinds, _, _ := f.snapshotState()
	// The ctrl asks for the applied state before it changes anything; then
	// a complete transaction.
	want := []uint32{wire.KindDump, wire.KindSyncBegin, wire.KindService, wire.KindBackend, wire.KindBackend, wire.KindSyncCommit}
	if !slices.Equal(kinds[:min(len(kinds), len(want))], want) {
		t.Errorf("first commands %v, want %v", kinds, want)
	}
	if f.r.PID(shm.Ctrl) != os.Getpid() {
		t.Errorf("ctrl pid in shm = %d", f.r.PID(shm.Ctrl))
	}
	// The ctrl beats: its heartbeat moves on.
	hb := f.r.Heartbeat(shm.Ctrl)
	if hb.IsZero() || !eventually(func() bool { return f.r.Heartbeat(shm.Ctrl).After(hb) }) {
		t.Errorf("ctrl heartbeat %v does not move", hb)
	}
	h.waitLog("msg=applied gen=1 snapshot=1")

	// A real server fails its check: it is removed (no inhibit_on_failure).
	b2.stop()
	f.waitCommit(t, "192.0.2.22 removed", func(s fakeState) bool { return eq(s.backends("web"), []string{"192.0.2.21:1:up"}) })
	h.waitLog("msg=\"service health\" service=web healthy=1 total=2")
	// It comes back.
	b2.start()
	f.waitCommit(t, "192.0.2.22 back", func(s fakeState) bool { return eq(s.backends("web"), both) })

	// Status reflects it.
	s := h.status()
	if len(s.Services) != 1 || len(s.Services[0].RealServers) != 2 {
		t.Fatalf("status services %+v", s.Services)
	}
	rs := s.Services[0].RealServers[1]
	if rs.Address != "192.0.2.22" || rs.State != "up" || rs.EffectiveWeight != 1 || rs.Health == nil || !rs.Health.Up ||
		rs.Health.Checks == 0 || !strings.HasPrefix(rs.Health.Check, "tcp :") || !strings.Contains(rs.Health.LastError, "refused") {
		t.Errorf("real server status %+v health %+v", rs, rs.Health)
	}
	if !s.Dataplane.Connected || s.Dataplane.State != "connected" || s.Dataplane.BootID != bootIDString(f.r.BootID()) || s.Dataplane.AppliedGen == 0 {
		t.Errorf("data plane status %+v", s.Dataplane)
	}
	f.checkClean(t)

	// Stopping sends nothing and removes the socket: once Run has
	// returned, whatever it sent is in the ring.
	f.setPaused(true)
	f.drain()
	_, _, before, _, _ := f.snapshotState()
	h.stop()
	f.drain()
	_, _, after, _, _ := f.snapshotState()
	if len(after) != len(before) {
		t.Errorf("commands sent on exit: %v", after[len(before):])
	}
	if _, err := os.Stat(h.sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestDaemonInhibitAndSorry(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b1, b2 := newBackend(t), newBackend(t)
	h.config(web("inhibit_on_failure = true\nsorry_server = \"192.0.2.30\"", b1.port, b2.port))
	f := startFakeDP(t, h.shmPath, testSlots, fakeState{})
	h.start()
	f.waitCommit(t, "both up", func(s fakeState) bool {
		return eq(s.backends("web"), []string{"192.0.2.21:1:up", "192.0.2.22:1:up"})
	})
	b1.stop()
	f.waitCommit(t, "192.0.2.21 inhibited", func(s fakeState) bool {
		return eq(s.backends("web"), []string{"192.0.2.21:0:inhibited", "192.0.2.22:1:up"})
	})
	b2.stop()
	f.waitCommit(t, "sorry server alone", func(s fakeState) bool {
		return eq(s.backends("web"), []string{"192.0.2.30:1:sorry"})
	})
	h.waitLog("quorum lost")
	s := h.status()
	if sv := s.Services[0]; !sv.SorryActive || sv.QuorumUp || sv.SorryServer != "192.0.2.30" || sv.RealServers[0].State != StateRemoved ||
		len(sv.RealServers) != 3 || sv.RealServers[2] != (RealServerStatus{Address: "192.0.2.30", SorryServer: true, EffectiveWeight: 1, State: "sorry", PacketRate: -1, NewFlowRate: -1, Share: -1}) {
		t.Errorf("status %+v", sv)
	}
	b1.start()
	f.waitCommit(t, "192.0.2.21 back, sorry server gone", func(s fakeState) bool {
		return eq(s.backends("web"), []string{"192.0.2.21:1:up", "192.0.2.22:0:inhibited"})
	})
	h.waitLog("quorum restored")
	f.checkClean(t)
}

func TestDaemonSeedsFromDump(t *testing.T) {
	t.Parallel()
	// The data plane applies a state a previous ctrl committed: .21 up,
	// .22 inhibited. Both checks would succeed, but the ctrl must first
	// push what the data plane already has: nothing moves. (.22 starts
	// down and comes up at its first successful check: a target created
	// down behaves like health.Config.StartUp = false.)
	h := newHarness(t)
	b1, b2 := newBackend(t), newBackend(t)
	svc := "[[service]]\nname = \"web\"\nvip = \"192.0.2.100\"\nport = 80\ninhibit_on_failure = true\n"
	for i, p := range []int{b1.port, b2.port} {
		svc += fmt.Sprintf("  [[service.backend]]\n  address = \"192.0.2.%d\"\n%s\n", 21+i, strings.Replace(tcpCheck(p), "rise = 1", "rise = 3", 1))
	}
	h.config(svc)
	a := netip.MustParseAddr
	boot := fakeState{
		Services: []wire.Service{{Name: "web", VIP: a("192.0.2.100"), Proto: 6, Port: 80, Method: "l2dsr", TableSize: 65537}},
		Backends: map[string][]wire.Backend{"web": {
			{Service: "web", Addr: a("192.0.2.21"), Weight: 1, State: "up"},
			{Service: "web", Addr: a("192.0.2.22"), Weight: 0, State: "inhibited"},
		}},
	}
	f := startFakeDP(t, h.shmPath, testSlots, boot)
	f.commitDirect(boot)
	h.start()
	f.waitCommit(t, ".22 up after rise", func(s fakeState) bool {
		return eq(s.backends("web"), []string{"192.0.2.21:1:up", "192.0.2.22:1:up"})
	})
	_, commits, _, _, _ := f.snapshotState()
	if got := commits[0].backends("web"); !eq(got, []string{"192.0.2.21:1:up", "192.0.2.22:0:inhibited"}) {
		t.Errorf("first transaction %v: the ctrl moved flows at start", got)
	}
	f.checkClean(t)
}

func TestDaemonAlphaFromConfig(t *testing.T) {
	t.Parallel()
	// The data plane runs its boot configuration: alpha decides. With
	// alpha, real servers start down until their first check succeeds.
	h := newHarness(t)
	b1 := newBackend(t)
	h.config(web("alpha = true", b1.port))
	f := startFakeDP(t, h.shmPath, testSlots, fakeState{})
	h.start()
	f.waitCommit(t, ".21 up after its first check", func(s fakeState) bool {
		return eq(s.backends("web"), []string{"192.0.2.21:1:up"})
	})
	_, commits, _, _, _ := f.snapshotState()
	if got := commits[0].backends("web"); len(got) != 0 {
		t.Errorf("first transaction %v, want no real server (alpha)", got)
	}
}

func TestDaemonReload(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b1, b2 := newBackend(t), newBackend(t)
	h.config(web("", b1.port))
	f := startFakeDP(t, h.shmPath, testSlots, fakeState{})
	h.start()
	f.waitCommit(t, "one backend", func(s fakeState) bool { return eq(s.backends("web"), []string{"192.0.2.21:1:up"}) })
	h.waitLog("msg=applied gen=1")

	// A broken file: nothing changes, the errors come back with their lines.
	good, _ := os.ReadFile(h.cfgPath)
	broken := bytes.Replace(good, []byte(`vip = "192.0.2.100"`), []byte(`vip = "192.0.2.300"`), 1)
	if err := os.WriteFile(h.cfgPath, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	gen := h.status().Dataplane.PushedGen
	_, before, _, _, _ := f.snapshotState()
	r, err := Call(h.sock, Request{Cmd: "reload"})
	if err != nil {
		t.Fatal(err)
	}
	vipLine := 1 + bytes.Count(good[:bytes.Index(good, []byte(`vip = "192.0.2.100"`))], []byte("\n"))
	wantLine := fmt.Sprintf("%d: service[0].vip: invalid IPv4 address \"192.0.2.300\"", vipLine)
	if r.OK || len(r.Errors) != 1 || !strings.HasPrefix(r.Errors[0], h.cfgPath+":"+wantLine) {
		t.Fatalf("reload of a broken file: %+v, want error %q", r, wantLine)
	}
	if err := h.d.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "192.0.2.300") {
		t.Errorf("Reload() = %v", err)
	}
	// A failed reload returns before anything is evaluated or pushed, and
	// the loop answers requests in order: status sees what it did.
	s := h.status()
	if s.Dataplane.PushedGen != gen || !s.Dataplane.InSync {
		t.Errorf("a failed reload pushed: gen %d -> %d, in sync %v", gen, s.Dataplane.PushedGen, s.Dataplane.InSync)
	}
	f.drain()
	if _, after, _, _, _ := f.snapshotState(); len(after) != len(before) {
		t.Errorf("a failed reload pushed %d transactions", len(after)-len(before))
	}
	if len(s.ReloadErrors) != 1 || s.LastReload.IsZero() || s.ReloadOK {
		t.Errorf("status after failed reload: %v %v", s.ReloadErrors, s.LastReload)
	}

	// Adding a backend pushes it; the existing one keeps its check state.
	checksBefore := h.status().Services[0].RealServers[0].Health.Checks
	h.config(web("", b1.port, b2.port) + "\n[[service]]\nname = \"dns\"\nvip = \"192.0.2.101\"\nprotocol = \"udp\"\nhash = \"source-ip\"\ntable_size = 251\n  [[service.backend]]\n  address = \"192.0.2.31\"\n")
	r, err = Call(h.sock, Request{Cmd: "reload"})
	if err != nil || !r.OK {
		t.Fatalf("reload: %v %+v", err, r)
	}
	st := f.waitCommit(t, "new backend and service", func(s fakeState) bool {
		return eq(s.backends("web"), []string{"192.0.2.21:1:up", "192.0.2.22:1:up"}) && eq(s.backends("dns"), []string{"192.0.2.31:1:up"})
	})
	if len(st.Services) != 2 || !st.Services[1].SourceIP || st.Services[1].Proto != 17 || st.Services[1].TableSize != 251 {
		t.Errorf("services %+v", st.Services)
	}
	h.waitLog("msg=reloaded")
	s = h.status()
	if got := s.Services[0].RealServers[0].Health.Checks; got < checksBefore {
		t.Errorf("reload restarted the check of an unchanged real server: %d checks, had %d", got, checksBefore)
	}
	if len(s.ReloadErrors) != 0 || !s.ReloadOK {
		t.Errorf("reload errors after a good reload: %v %v", s.ReloadErrors, s.ReloadOK)
	}

	// A changed [dataplane] table is applied by the data plane only.
	cfg, _ := os.ReadFile(h.cfgPath)
	os.WriteFile(h.cfgPath, bytes.Replace(cfg, []byte("workers = [1]"), []byte("workers = [2]"), 1), 0o644)
	if err := h.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.waitLog("the [dataplane] table changed")
	f.checkClean(t)
}

func TestDaemonDataplaneRestart(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b1 := newBackend(t)
	h.config(web("", b1.port))
	f := startFakeDP(t, h.shmPath, testSlots, fakeState{})
	h.start()
	f.waitCommit(t, "first state", func(s fakeState) bool { return eq(s.backends("web"), []string{"192.0.2.21:1:up"}) })
	oldBoot := f.r.BootID()
	// Scrapes all along: never an error, and the data plane's series only
	// while it is up.
	stop, scraped := make(chan struct{}), make(chan map[string]bool)
	go func() {
		seen := map[string]bool{}
		defer func() { scraped <- seen }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := http.Get("http://" + h.d.httpLn.Addr().String() + "/metrics")
			if err != nil {
				seen["error "+err.Error()] = true
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			text := string(body)
			switch {
			case resp.StatusCode != 200:
				seen["status "+resp.Status] = true
			case strings.Contains(text, "\ndsrlb_dataplane_up 1\n"):
				seen["up"] = true
				if !strings.Contains(text, "\ndsrlb_worker_rx_packets_total{") {
					seen["up without worker series"] = true
				}
			case strings.Contains(text, "\ndsrlb_dataplane_up 0\n"):
				seen["down"] = true
				if strings.Contains(text, "\ndsrlb_worker_") || strings.Contains(text, "\ndsrlb_dataplane_info") {
					seen["stale series while down"] = true
				}
			default:
				seen["no dsrlb_dataplane_up"] = true
			}
		}
	}()

	// The data plane dies (its file stays, heartbeat stops) ...
	f.close()
	if !eventually(func() bool { return !h.status().Dataplane.Connected }) {
		t.Fatal("the ctrl still sees the data plane connected")
	}
	h.waitLog("data plane not responding")
	// ... health checks go on ...
	n := h.status().Services[0].RealServers[0].Health.Checks
	if !eventually(func() bool { return h.status().Services[0].RealServers[0].Health.Checks > n }) {
		t.Errorf("checks stopped at %d without a data plane", n)
	}
	if s := h.status(); s.Dataplane.Connected {
		t.Errorf("connected %v", s.Dataplane.Connected)
	}
	// ... and a new one starts: new file, new boot id, boot state.
	f2 := startFakeDP(t, h.shmPath, testSlots, fakeState{})
	if f2.r.BootID() == oldBoot {
		t.Fatal("same boot id")
	}
	f2.waitCommit(t, "full state on the new data plane", func(s fakeState) bool {
		return eq(s.backends("web"), []string{"192.0.2.21:1:up"})
	})
	h.waitLog("data plane restarted, pushing full state")
	_, _, kinds, _, _ := f2.snapshotState()
	if kinds[0] != wire.KindSyncBegin {
		t.Errorf("first command to the new data plane: %d, want SyncBegin (no dump needed)", kinds[0])
	}
	if s := h.status(); s.Dataplane.BootID != bootIDString(f2.r.BootID()) || !s.Dataplane.Connected {
		t.Errorf("status %+v", s.Dataplane)
	}
	close(stop)
	if seen := <-scraped; len(seen) != 2 || !seen["up"] || !seen["down"] {
		t.Errorf("scrapes across the restart: %v", seen)
	}
	f2.checkClean(t)
}

func TestDaemonWaitsForDataplane(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b1 := newBackend(t)
	h.config(web("", b1.port))
	h.start()
	h.waitLog("waiting for the data plane")
	if s := h.status(); s.Dataplane.State != "waiting" || s.Dataplane.Connected || s.Services[0].RealServers[0].State != "" {
		t.Errorf("status before the data plane: %+v %+v", s.Dataplane, s.Services[0].RealServers[0])
	}
	// It keeps trying (debug lines), and says so at info level once.
	h.waitLogged("data plane not there yet", 3)
	f := startFakeDP(t, h.shmPath, testSlots, fakeState{})
	f.waitCommit(t, "state", func(s fakeState) bool { return eq(s.backends("web"), []string{"192.0.2.21:1:up"}) })
	if n := strings.Count(h.logs.String(), "waiting for the data plane"); n != 1 {
		t.Errorf("%q logged %d times, want once", "waiting for the data plane", n)
	}
}

func TestDaemonRingFull(t *testing.T) {
	t.Parallel()
	// Two services of three backends: 1+2*(1+3)+1 = 10 messages.
	svcs := func(weight int, ports ...int) string {
		s := ""
		for i, name := range []string{"a", "b"} {
			s += fmt.Sprintf("[[service]]\nname = %q\nvip = \"192.0.2.%d\"\nport = 80\n", name, 100+i)
			for j, p := range ports {
				s += fmt.Sprintf("  [[service.backend]]\n  address = \"192.0.2.%d\"\n  weight = %d\n%s\n", 21+j, weight, tcpCheck(p))
			}
		}
		return s
	}
	all := func(w int) []string {
		return []string{fmt.Sprintf("192.0.2.21:%d:up", w), fmt.Sprintf("192.0.2.22:%d:up", w), fmt.Sprintf("192.0.2.23:%d:up", w)}
	}

	t.Run("slow consumer, transaction larger than the ring", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		b1, b2, b3 := newBackend(t), newBackend(t), newBackend(t)
		h.config(svcs(1, b1.port, b2.port, b3.port))
		f := startFakeDP(t, h.shmPath, 4, fakeState{})
		f.mu.Lock()
		f.popEvery = 20 * time.Millisecond
		f.mu.Unlock()
		h.start()
		f.waitCommit(t, "full state through a 4-slot ring", func(s fakeState) bool {
			return eq(s.backends("a"), all(1)) && eq(s.backends("b"), all(1))
		})
		f.checkClean(t)
	})

	t.Run("stuck consumer", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		b1, b2, b3 := newBackend(t), newBackend(t), newBackend(t)
		h.config(svcs(1, b1.port, b2.port, b3.port))
		f := startFakeDP(t, h.shmPath, 16, fakeState{})
		h.start()
		f.waitCommit(t, "full state", func(s fakeState) bool { return eq(s.backends("a"), all(1)) && eq(s.backends("b"), all(1)) })
		// The data plane stops consuming. The first change (10 messages)
		// fits in the 16-slot ring, the second does not: the push waits,
		// gives up after PushTimeout without pushing any of it, and is
		// retried until the data plane consumes again.
		f.setPaused(true)
		for w := 2; w <= 3; w++ {
			h.config(svcs(w, b1.port, b2.port, b3.port))
			if err := h.d.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
			h.waitLog(fmt.Sprintf("gen=%d messages=10", w))
		}
		h.waitLog("command ring full, waiting")
		h.waitLog("pushing the state to the data plane failed, will retry the whole transaction")
		if n := f.r.Commands().Len(); n != 10 {
			t.Errorf("%d messages in the ring, want the 10 of the one transaction that fitted", n)
		}
		f.setPaused(false)
		f.waitCommit(t, "final state after the ring drained", func(s fakeState) bool {
			return eq(s.backends("a"), all(3)) && eq(s.backends("b"), all(3))
		})
		// Only whole transactions went into the ring: none was cut short.
		if _, _, _, _, discarded := f.snapshotState(); len(discarded) != 0 {
			t.Errorf("transactions %v were left half-pushed", discarded)
		}
		f.checkClean(t)
	})
}

func TestDaemonHalfTransactionDiscarded(t *testing.T) {
	t.Parallel()
	// A ctrl killed in the middle of a transaction left Begin and a Service
	// without Commit in the ring. The new ctrl's transaction must not be
	// mixed with it: the data plane discards it at the next SyncBegin, and
	// the new transaction ends with its SyncCommit.
	h := newHarness(t)
	b1 := newBackend(t)
	h.config(web("", b1.port))
	f := startFakeDP(t, h.shmPath, testSlots, fakeState{})
	f.setPaused(true)
	producer, err := shm.Open(h.shmPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		kind uint32
		v    any
	}{
		{wire.KindSyncBegin, wire.SyncBegin{Gen: 99}},
		{wire.KindService, wire.Service{Name: "stale", VIP: netip.MustParseAddr("192.0.2.200"), Proto: 6, Method: "l2dsr", TableSize: 7}},
	} {
		b, _ := wire.Encode(m.v)
		if err := producer.Commands().TryPush(m.kind, b); err != nil {
			t.Fatal(err)
		}
	}
	producer.Close()
	f.setPaused(false)
	h.start()
	st := f.waitCommit(t, "state", func(s fakeState) bool { return eq(s.backends("web"), []string{"192.0.2.21:1:up"}) })
	if len(st.Services) != 1 || st.Services[0].Name != "web" {
		t.Errorf("applied services %+v: the half transaction leaked in", st.Services)
	}
	_, _, kinds, _, discarded := f.snapshotState()
	if !slices.Equal(discarded, []uint64{99}) {
		t.Errorf("discarded %v, want [99]", discarded)
	}
	if kinds[len(kinds)-1] != wire.KindSyncCommit {
		t.Errorf("last command %d, want SyncCommit", kinds[len(kinds)-1])
	}
	f.checkClean(t)
}

// TestPushAllNeverHalf runs on synctest's fake clock: the waits for room
// last exactly their timeouts, whatever the machine is doing.
func TestPushAllNeverHalf(t *testing.T) {
	synctest.Test(t, testPushAllNeverHalf)
}

func testPushAllNeverHalf(t *testing.T) {
	dir := t.TempDir()
	r, _, err := shm.Create(filepath.Join(dir, "s"), shm.Geometry{SlotSize: 64, Slots: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	q := r.Commands()
	mk := func(n int) []msg {
		out := make([]msg, n)
		for i := range out {
			out[i] = msg{uint32(i + 1), []byte{byte(i)}}
		}
		return out
	}
	if err := q.TryPush(100, nil); err != nil {
		t.Fatal(err)
	}
	// Fits in the ring but not in the free space: nothing is pushed.
	var full int
	start := time.Now()
	err = pushAll(context.Background(), q, mk(4), 150*time.Millisecond, func(time.Duration) { full++ })
	if waited := time.Since(start); waited != 150*time.Millisecond {
		t.Errorf("gave up after %v, want the 150ms timeout", waited)
	}
	if err == nil || q.Len() != 1 || full != 1 {
		t.Fatalf("pushAll into a full ring: err %v, %d messages in the ring (want 1), onFull %d times", err, q.Len(), full)
	}
	// Fits: all pushed, in order.
	if err := pushAll(context.Background(), q, mk(3), time.Second, nil); err != nil || q.Len() != 4 {
		t.Fatalf("pushAll: %v, len %d", err, q.Len())
	}
	buf := make([]byte, q.MaxPayload())
	for want := range []uint32{100, 1, 2, 3} {
		if kind, _, _ := q.Pop(buf); kind != []uint32{100, 1, 2, 3}[want] {
			t.Errorf("message %d kind %d", want, kind)
		}
	}
	// Larger than the ring and nobody consumes: it stops without pushing
	// the rest (the SyncCommit at the end never goes in).
	err = pushAll(context.Background(), q, mk(6), 100*time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), "message 5 of 6") || q.Len() != 4 {
		t.Fatalf("streaming into a stuck ring: %v, len %d", err, q.Len())
	}
}
