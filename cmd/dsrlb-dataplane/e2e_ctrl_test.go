//go:build e2e

package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"dsrlb/hw/testbed"
	"dsrlb/pipeline"
	"dsrlb/pipeline/maglev"
)

// End-to-end tests of the control process with the data plane: health
// checks, sorry server and quorum, fail-static, reload, data plane restart.
// Every real server serves "rsN" on the VIP (DSR) and on its own address
// (health checks, which go through the exception path).

const httpCheck = `
  [service.check]
  type = "http"
  interval = "500ms"
  timeout = "250ms"
  rise = 2
  fall = 2
`

type ctrlBed struct {
	*testbed.L2
	t     *testing.T
	nginx []*testbed.Proc
	dp    *testbed.Proc
	ctrl  *testbed.Proc
}

// newCtrlBed builds the topology with n servers (the first backends of
// them real servers of the service), starts nginx everywhere, the data
// plane and dsrlb-ctrl with extra service lines.
func newCtrlBed(t *testing.T, n, backends int, extra ...string) *ctrlBed {
	t.Helper()
	return newCtrlBedWith(t, n, backends, nil, extra...)
}

// newCtrlBedWith is newCtrlBed with setup applied to the topology before
// its configuration is written (e.g. testbed.L2.BackendKeys).
func newCtrlBedWith(t *testing.T, n, backends int, setup func(*testbed.L2), extra ...string) *ctrlBed {
	t.Helper()
	topo := newL2(t, n)
	topo.TAP = "dsrlb0"
	topo.Backends = backends
	if setup != nil {
		setup(topo)
	}
	b := &ctrlBed{L2: topo, t: t, nginx: make([]*testbed.Proc, n)}
	for i := range topo.Servers {
		b.startServer(i)
	}
	b.dp = startDataplane(t, topo, extra...)
	var err error
	b.ctrl, err = topo.StartCtrl(ctrlBin, b.dp)
	if b.ctrl != nil {
		ctrl := b.ctrl
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("dsrlb-ctrl log:\n%s", ctrl.Output())
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *ctrlBed) startServer(i int) {
	b.t.Helper()
	role := testbed.ServerRole(i)
	big := bigFile(i)
	p, err := b.StartNginx(role, map[string][]byte{"index.html": []byte(role + "\n"), "big.bin": big,
		"small.bin": big[:smallFile], "health_check.html": []byte("ok\n")}, b.VIP, b.Servers[i])
	if err != nil {
		b.t.Fatal(err)
	}
	b.nginx[i] = p
}

func (b *ctrlBed) stopServer(i int) time.Time {
	b.t.Helper()
	at := time.Now()
	if err := b.nginx[i].Stop(syscall.SIGTERM, 5*time.Second); err != nil {
		b.t.Logf("nginx %d stopped: %v", i, err)
	}
	return at
}

// smallFile is the size of each real server's small.bin: the first bytes
// of its big.bin.
const smallFile = 256 << 10

// bigFile is real server i's 20 MB download, different per server.
func bigFile(i int) []byte {
	rng := rand.New(rand.NewPCG(uint64(i), 99))
	b := make([]byte, 20<<20)
	for j := 0; j < len(b); j += 8 {
		v := rng.Uint64()
		for k := 0; k < 8; k++ {
			b[j+k] = byte(v >> (8 * k))
		}
	}
	return b
}

// waitLog waits until process p logged want after time after and returns
// the time stamp of that line. timeout only bounds a test that fails: the
// limits a test asserts are checked on the time stamps.
func (b *ctrlBed) waitLog(p *testbed.Proc, want string, after time.Time, timeout time.Duration) time.Time {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, line := range strings.Split(p.Output(), "\n") {
			if !strings.Contains(line, want) {
				continue
			}
			// Log times have millisecond resolution.
			if ts, ok := logTime(line); ok && !ts.Before(after.Truncate(time.Millisecond)) {
				return ts
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("no %q logged by %s after %s within %v:\n%s", want, p.Name, after.Format(time.StampMilli), timeout, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func logTime(line string) (time.Time, bool) {
	f, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	v, ok := strings.CutPrefix(f, "time=")
	if !ok {
		return time.Time{}, false
	}
	ts, err := time.Parse(time.RFC3339Nano, v)
	return ts, err == nil
}

// sample is one client request of a load run.
type sample struct {
	at, end time.Time // start and end of the request
	body    string    // "rs1", ..., or "" when it failed
	err     string
}

// load is a client sending one new HTTP connection every ~30 ms to the VIP.
type load struct {
	p *testbed.Proc
}

func (b *ctrlBed) startLoad(requests int) *load {
	b.t.Helper()
	script := fmt.Sprintf(`for i in $(seq %d); do t=$(date +%%s.%%N); r=$(curl -sS -m 3 http://%s/ 2>&1) || r="FAIL $r"; echo "$t $(date +%%s.%%N) $r"; sleep 0.02; done`,
		requests, b.VIP)
	p, err := b.Start(testbed.RoleClient, "load", "bash", "-c", script)
	if err != nil {
		b.t.Fatal(err)
	}
	return &load{p: p}
}

func (l *load) wait(t *testing.T, timeout time.Duration) []sample {
	t.Helper()
	if err := l.p.Wait(timeout); err != nil {
		t.Fatalf("client load: %v", err)
	}
	return l.samples(t)
}

// samples parses the requests the load has finished so far.
func (l *load) samples(t *testing.T) []sample {
	t.Helper()
	var out []sample
	out0 := l.p.Output()
	if i := strings.LastIndexByte(out0, '\n'); i >= 0 {
		out0 = out0[:i] // a line still being written is not a sample yet
	} else {
		return nil
	}
	for _, line := range strings.Split(strings.TrimSpace(out0), "\n") {
		t0, rest, _ := strings.Cut(line, " ")
		t1, rest, _ := strings.Cut(rest, " ")
		sec0, err0 := strconv.ParseFloat(t0, 64)
		sec1, err1 := strconv.ParseFloat(t1, 64)
		if err0 != nil || err1 != nil {
			t.Fatalf("load line %q", line)
		}
		s := sample{at: time.Unix(0, int64(sec0*1e9)), end: time.Unix(0, int64(sec1*1e9))}
		if strings.HasPrefix(rest, "FAIL") {
			s.err = rest
		} else {
			s.body = rest
		}
		out = append(out, s)
	}
	return out
}

// waitAnswers waits until requests started at or after from got answers
// from each of servers (n answers each), and returns when the last one
// came. The bound is only reached when they never come.
func (l *load) waitAnswers(t *testing.T, from time.Time, n int, servers ...string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := count(l.samples(t), from, time.Now().Add(time.Hour))
		ok := true
		for _, s := range servers {
			ok = ok && got[s] >= n
		}
		if ok {
			return
		}
		if l.p.Exited() || time.Now().After(deadline) {
			t.Fatalf("load: answers since %s %v, want %d from each of %v", from.Format(time.StampMilli), got, n, servers)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func count(samples []sample, from, to time.Time) map[string]int {
	m := map[string]int{}
	for _, s := range samples {
		if s.at.Before(from) || !s.at.Before(to) {
			continue
		}
		if s.err != "" {
			m["FAIL"]++
		} else {
			m[s.body]++
		}
	}
	return m
}

// ctrlStatus is dsrlbctl status -json, as much of it as the tests read.
func (b *ctrlBed) ctrlStatus() ctrlStatus {
	b.t.Helper()
	out, err := b.Exec(10*time.Second, testbed.RoleLB, ctlBin, "status", "-json", "-socket", b.CtrlSocket())
	if err != nil {
		b.t.Fatalf("dsrlbctl status: %v\n%s", err, out)
	}
	var st ctrlStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		b.t.Fatalf("dsrlbctl status -json: %v\n%s", err, out)
	}
	return st
}

type ctrlStatus struct {
	ReloadErrors []string `json:"reload_errors"`
	Dataplane    struct {
		PushedGen  uint64 `json:"pushed_gen"`
		AppliedGen uint64 `json:"applied_gen"`
		InSync     bool   `json:"in_sync"`
	} `json:"dataplane"`
}

func (b *ctrlBed) curl(url string) (string, error) {
	out, err := b.Exec(10*time.Second, testbed.RoleClient, "curl", "-sS", "-m", "3", url)
	return strings.TrimSpace(out), err
}

// TestHealthCheckFailover: the HTTP server on rs1 stops; within fall x
// interval + 1 s new connections go to rs2 only; it starts again and rs1
// returns after rise x interval.
func TestHealthCheckFailover(t *testing.T) {
	b := newCtrlBed(t, 2, 0, httpCheck)
	ld := b.startLoad(500)
	ld.waitAnswers(t, time.Time{}, 5, "rs1", "rs2")

	stop := b.stopServer(0)
	down := b.waitLog(b.ctrl, `msg="real server down" key=web/192.0.2.21`, stop, 30*time.Second)
	applied := b.waitLog(b.dp, "transaction applied", down, 30*time.Second)
	if d := down.Sub(stop); d > 2*500*time.Millisecond+time.Second {
		t.Errorf("rs1 marked down %v after its server stopped, want <= fall x interval + 1s = 2s", d)
	}
	// New connections while rs1 is down.
	ld.waitAnswers(t, applied, 30, "rs2")
	start := time.Now()
	b.startServer(0)
	up := b.waitLog(b.ctrl, `msg="real server up" key=web/192.0.2.21`, start, 30*time.Second)
	if d := up.Sub(start); d > 2*500*time.Millisecond+time.Second {
		t.Errorf("rs1 back up %v after its server started, want <= rise x interval + 1s = 2s", d)
	}
	samples := ld.wait(t, 60*time.Second)

	before := count(samples, time.Time{}, stop)
	window := count(samples, stop, applied)
	during := count(samples, applied, start)
	after := count(samples, up.Add(500*time.Millisecond), time.Now())
	t.Logf("stop->down %v, down->applied %v, start->up %v", down.Sub(stop).Round(time.Millisecond),
		applied.Sub(down).Round(time.Millisecond), up.Sub(start).Round(time.Millisecond))
	t.Logf("answers before the stop %v, stop..applied %v, while rs1 is down %v, after it is back %v", before, window, during, after)
	if before["rs1"] == 0 || before["rs2"] == 0 {
		t.Errorf("before the stop: %v", before)
	}
	if during["FAIL"] != 0 || during["rs1"] != 0 || during["rs2"] == 0 {
		t.Errorf("while rs1 is down every new connection must go to rs2: %v", during)
	}
	if after["FAIL"] != 0 || after["rs1"] == 0 {
		t.Errorf("after rs1 is back it must get new connections again: %v", after)
	}
	// Requests fail only if they were in flight at the stop, or started
	// between the stop and the moment the data plane applied the down
	// state (new connections that hashed to rs1 then).
	inFlight := 0
	for _, s := range samples {
		if s.err == "" {
			continue
		}
		switch {
		case s.at.Before(stop) && s.end.After(stop):
			inFlight++
		case !s.at.Before(stop) && !s.at.After(applied):
		default:
			t.Errorf("request %s..%s failed outside the detection window: %s",
				s.at.Format(time.StampMilli), s.end.Format(time.StampMilli), s.err)
		}
	}
	t.Logf("failed: %d in flight at the stop, %d started before the down state applied", inFlight, window["FAIL"])
	if before["FAIL"] != inFlight {
		t.Errorf("%d requests started before the stop failed, %d of them in flight at the stop", before["FAIL"], inFlight)
	}
}

// TestSorryServerAndQuorum: with every real server down the sorry server
// answers; with quorum 2 the loss of one server of weight 1 brings the
// sorry server in, and its return brings the real servers back.
func TestSorryServerAndQuorum(t *testing.T) {
	fast := strings.Replace(strings.Replace(httpCheck, "rise = 2", "rise = 1", 1), "fall = 2", "fall = 1", 1)
	b := newCtrlBed(t, 3, 2, `sorry_server = "192.0.2.23"`, fast)
	expect := func(what string, want ...string) {
		t.Helper()
		for i := 0; i < 10; i++ {
			got, err := b.curl("http://" + b.VIP.String() + "/")
			if err != nil || !slicesContains(want, got) {
				t.Fatalf("%s: request %d answered %q (%v), want one of %v", what, i, got, err, want)
			}
		}
	}
	expect("all healthy", "rs1", "rs2")

	at := time.Now()
	b.stopServer(0)
	b.stopServer(1)
	b.waitLog(b.ctrl, "sorry server stands in", at, 30*time.Second)
	b.waitLog(b.dp, "transaction applied", at, 30*time.Second)
	b.waitLog(b.dp, "msg=service name=web backends=1 scheduled=1", at, 30*time.Second) // the sorry server's MAC is known
	expect("every real server down", "rs3")

	at = time.Now()
	b.startServer(0)
	b.startServer(1)
	b.waitLog(b.ctrl, `msg="service health" service=web healthy=2`, at, 30*time.Second)
	b.waitLog(b.dp, "transaction applied", at, 30*time.Second)
	expect("real servers back", "rs1", "rs2")

	// Quorum 2 over two servers of weight 1: losing one loses the quorum.
	cfg, err := os.ReadFile(b.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), `sorry_server = "192.0.2.23"`, "sorry_server = \"192.0.2.23\"\nquorum = 2", 1))
	if err := os.WriteFile(b.ConfigPath(), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := b.Exec(10*time.Second, testbed.RoleLB, ctlBin, "reload", "-socket", b.CtrlSocket())
	if err != nil || !strings.Contains(out, "reloaded") {
		t.Fatalf("dsrlbctl reload: %v\n%s", err, out)
	}
	expect("quorum 2 met", "rs1", "rs2")
	at = time.Now()
	b.stopServer(0)
	b.waitLog(b.ctrl, "quorum lost", at, 30*time.Second)
	b.waitLog(b.dp, "transaction applied", at, 30*time.Second)
	expect("quorum lost", "rs3")
	at = time.Now()
	b.startServer(0)
	b.waitLog(b.ctrl, "quorum restored", at, 30*time.Second)
	b.waitLog(b.dp, "transaction applied", at, 30*time.Second)
	expect("quorum restored", "rs1", "rs2")

	status, err := b.Exec(10*time.Second, testbed.RoleLB, ctlBin, "status", "-socket", b.CtrlSocket())
	if err != nil || !strings.Contains(status, "192.0.2.21") || !strings.Contains(status, "web") {
		t.Fatalf("dsrlbctl status: %v\n%s", err, status)
	}
	t.Logf("dsrlbctl status:\n%s", status)
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestControlProcessKillAndRestart: kill -9 of dsrlb-ctrl during 30 s of
// client load, and its restart, fail no request: the data plane forwards
// with its last state, and the restarted control process resynchronises
// without moving flows.
func TestControlProcessKillAndRestart(t *testing.T) {
	b := newCtrlBed(t, 2, 0, httpCheck)
	ld := b.startLoad(900) // about 30 s
	time.Sleep(10 * time.Second)
	if err := syscall.Kill(b.ctrl.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = b.ctrl.Wait(5 * time.Second)
	killed := time.Now()
	time.Sleep(10 * time.Second)
	restarted := time.Now()
	var err error
	b.ctrl, err = b.StartCtrl(ctrlBin, b.dp)
	if err != nil {
		t.Fatal(err)
	}
	samples := ld.wait(t, 90*time.Second)
	all := count(samples, time.Time{}, time.Now())
	t.Logf("%d requests: %v; ctrl killed at %s, restarted at %s", len(samples), all,
		killed.Format(time.StampMilli), restarted.Format(time.StampMilli))
	if all["FAIL"] != 0 {
		t.Fatalf("%d requests failed", all["FAIL"])
	}
	if len(samples) < 500 || all["rs1"] == 0 || all["rs2"] == 0 {
		t.Fatalf("load too thin or one-sided: %v", all)
	}
	if !strings.Contains(b.ctrl.Output(), "from_config=false") {
		t.Errorf("the restarted ctrl did not seed from the applied state:\n%s", b.ctrl.Output())
	}
}

// TestReload: a broken file changes nothing; adding a real server gives it
// new flows while a long download from before the reload completes intact.
func TestReload(t *testing.T) {
	b := newCtrlBed(t, 3, 2, httpCheck)
	cfg, err := os.ReadFile(b.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	// Broken TOML: reported, nothing changes.
	if err := os.WriteFile(b.ConfigPath(), append(append([]byte{}, cfg...), "\n[[service\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	if err := syscall.Kill(b.ctrl.PID(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	b.waitLog(b.ctrl, "reload failed, keeping the running configuration", at, 30*time.Second)
	// The control process answers in order: its status, asked after the
	// failed reload, shows whether that reload pushed anything.
	if st := b.ctrlStatus(); st.Dataplane.PushedGen == 0 || st.Dataplane.PushedGen != st.Dataplane.AppliedGen || !st.Dataplane.InSync || len(st.ReloadErrors) == 0 {
		t.Fatalf("a broken reload changed the state: %+v, reload errors %q", st.Dataplane, st.ReloadErrors)
	}
	if strings.Count(b.dp.Output(), "transaction applied") != 1 {
		t.Fatalf("a broken reload reached the data plane:\n%s", b.dp.Output())
	}
	for i := 0; i < 20; i++ {
		if got, err := b.curl("http://" + b.VIP.String() + "/"); err != nil || (got != "rs1" && got != "rs2") {
			t.Fatalf("after a broken reload: %q %v", got, err)
		}
	}

	// A long download, then a reload that adds rs3. The download's source
	// port is chosen so that Maglev alone would move its flow to rs3 after
	// the reload: only connection tracking keeps it whole.
	port, from := portMovedBy(t, b.Client, b.VIP, b.Servers[:2], b.Servers)
	path := filepath.Join(b.Dir, "download.bin")
	dl, err := b.Start(testbed.RoleClient, "download", "curl", "-sS", "-m", "60", "--limit-rate", "2M",
		"--local-port", strconv.Itoa(int(port)), "-o", path, "http://"+b.VIP.String()+"/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	// The download's flow is established (and tracked) before the reload.
	deadline := time.Now().Add(30 * time.Second)
	for fi, err := os.Stat(path); err != nil || fi.Size() < 256<<10; fi, err = os.Stat(path) {
		if dl.Exited() || time.Now().After(deadline) {
			t.Fatalf("the download did not get going: %v\n%s", err, dl.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	added := strings.Replace(string(cfg), "\n  [[service.backend]]\n  address = \"192.0.2.22\"\n  weight = 1\n",
		"\n  [[service.backend]]\n  address = \"192.0.2.22\"\n  weight = 1\n\n  [[service.backend]]\n  address = \"192.0.2.23\"\n  weight = 1\n", 1)
	if added == string(cfg) {
		t.Fatal("could not add rs3 to the configuration")
	}
	if err := os.WriteFile(b.ConfigPath(), []byte(added), 0o644); err != nil {
		t.Fatal(err)
	}
	at = time.Now()
	if err := syscall.Kill(b.ctrl.PID(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	b.waitLog(b.ctrl, "reloaded", at, 30*time.Second)
	b.waitLog(b.dp, "transaction applied", at, 30*time.Second)
	b.waitLog(b.dp, "scheduled=3", at, 30*time.Second)
	if dl.Exited() {
		t.Fatal("the download ended before the reload took effect; it proves nothing")
	}
	seen := map[string]int{}
	for i := 0; i < 60 && seen["rs3"] == 0; i++ {
		got, err := b.curl("http://" + b.VIP.String() + "/")
		if err != nil {
			t.Fatalf("request after the reload: %v", err)
		}
		seen[got]++
	}
	if seen["rs3"] == 0 {
		t.Fatalf("the added real server got none of %v", seen)
	}
	if err := dl.Wait(60 * time.Second); err != nil {
		t.Fatalf("download across the reload: %v\n%s", err, dl.Output())
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(got)
	fromIdx := slices.Index(b.Servers, from)
	if len(got) != 20<<20 || sum != sha256.Sum256(bigFile(fromIdx)) {
		t.Fatalf("download across the reload: %d bytes, not %s's file", len(got), from)
	}
	t.Logf("new flows after adding rs3: %v; the 20 MB download from %s (source port %d, which Maglev alone would now send to rs3) is intact",
		seen, from, port)
}

// portMovedBy finds a client source port whose flow to vip:80 goes to a
// server of before and, with Maglev alone, to the last server of after.
func portMovedBy(t *testing.T, client, vip netip.Addr, before, after []netip.Addr) (uint16, netip.Addr) {
	t.Helper()
	table := func(servers []netip.Addr) []uint16 {
		var bs []maglev.Backend
		for _, s := range servers {
			bs = append(bs, maglev.Backend{Key: s.String(), Weight: 1})
		}
		tb, err := maglev.Build(bs, maglev.DefaultSize)
		if err != nil {
			t.Fatal(err)
		}
		return tb
	}
	old, nw := table(before), table(after)
	c, v := client.As4(), vip.As4()
	for port := uint16(40000); port < 50000; port++ {
		h := pipeline.FlowHash4(binary.BigEndian.Uint32(c[:]), binary.BigEndian.Uint32(v[:]), port, 80, 6)
		if after[maglev.Lookup(nw, h)] == after[len(after)-1] {
			return port, before[maglev.Lookup(old, h)]
		}
	}
	t.Fatal("no source port moves to the new server")
	return 0, netip.Addr{}
}

// TestDataplaneRestart: the data plane restarts while dsrlb-ctrl runs; the
// control process notices and pushes the full state again.
func TestDataplaneRestart(t *testing.T) {
	b := newCtrlBed(t, 2, 0, httpCheck)
	if err := b.dp.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatalf("data plane stop: %v", err)
	}
	at := time.Now()
	cfg, err := os.ReadFile(b.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.StartDataplane(dataplaneBin, string(cfg))
	if err != nil {
		t.Fatal(err)
	}
	b.dp = p
	b.waitLog(b.ctrl, "data plane found", at, 30*time.Second)
	b.waitLog(b.dp, "transaction applied", at, 30*time.Second)
	for i := 0; i < 20; i++ {
		if got, err := b.curl("http://" + b.VIP.String() + "/"); err != nil || (got != "rs1" && got != "rs2") {
			t.Fatalf("after the data plane restart: %q %v", got, err)
		}
	}
}
