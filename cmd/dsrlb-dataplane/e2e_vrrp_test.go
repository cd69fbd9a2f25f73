//go:build e2e

package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"dsrlb/hw/testbed"

	"github.com/gopacket/gopacket/layers"
)

// End-to-end tests of VRRP: two dsrlb balancers (each a data plane on its
// own veth and its dsrlb-ctrl) on one L2 segment with a client and nginx
// real servers, and Debian's keepalived as a peer.

// pairBed is the two-balancer test bed.
type pairBed struct {
	*testbed.Pair
	cb   *ctrlBed // the single-balancer helpers (load, waitLog, curl) on the same topology
	t    *testing.T
	dp   [2]*testbed.Proc
	ctrl [2]*testbed.Proc
}

// newPair builds the topology with n real servers running nginx.
func newPair(t *testing.T, n int) *pairBed { return newPairWith(t, n, false) }

// newPairWith is newPair, with IPv6 (the real servers' nginx also on the
// IPv6 VIP and their IPv6 addresses) when v6.
func newPairWith(t *testing.T, n int, v6 bool) *pairBed {
	t.Helper()
	pair, err := testbed.SetupPair(newBed(t), n)
	if err != nil {
		t.Fatal(err)
	}
	pb := &pairBed{Pair: pair, t: t, cb: &ctrlBed{L2: pair.L2, t: t, nginx: make([]*testbed.Proc, n)}}
	if !v6 {
		for i := range pair.Servers {
			pb.cb.startServer(i)
		}
		return pb
	}
	if err := pair.EnableIPv6(); err != nil {
		t.Fatal(err)
	}
	for i := range pair.Servers {
		role := testbed.ServerRole(i)
		if _, err := pair.StartNginx(role, map[string][]byte{"index.html": []byte(role + "\n")},
			pair.VIP, pair.Servers[i], pair.IPv6.VIP, pair.IPv6.Servers[i]); err != nil {
			t.Fatal(err)
		}
	}
	return pb
}

// vrrpInstance is a [[vrrp]] table for the VIP.
func vrrpInstance(prio, version int, interval string, extra ...string) string {
	s := fmt.Sprintf("[[vrrp]]\nname = \"vi1\"\nvrid = 51\npriority = %d\nversion = %d\nadvert_int = %q\nvips = [\"192.0.2.100\"]\n", prio, version, interval)
	for _, e := range extra {
		s += e + "\n"
	}
	return s
}

// start starts balancer i with the [[vrrp]] tables tail.
func (b *pairBed) start(i int, tail string) {
	b.t.Helper()
	cfg := b.Config(i, `vrrp_dataplane_timeout = "100ms"`, tail)
	dp, ctrl, err := b.StartBalancer(i, dataplaneBin, ctrlBin, cfg)
	b.dp[i], b.ctrl[i] = dp, ctrl
	for _, p := range []*testbed.Proc{dp, ctrl} {
		if p != nil {
			p := p
			b.t.Cleanup(func() {
				if b.t.Failed() {
					b.t.Logf("%s log:\n%s", p.Name, p.Output())
				}
			})
		}
	}
	if err != nil {
		b.t.Fatal(err)
	}
}

// vrrpStatus is one instance in dsrlbctl status -json.
type vrrpStatus struct {
	Name        string            `json:"name"`
	State       string            `json:"state"`
	Priority    int               `json:"priority"`
	Effective   int               `json:"effective_priority"`
	Master      string            `json:"master"`
	AdvertsSent uint64            `json:"adverts_sent"`
	AdvertsRecv uint64            `json:"adverts_received"`
	Transitions uint64            `json:"transitions"`
	LastCause   string            `json:"last_cause"`
	Errors      map[string]uint64 `json:"errors"`
}

// vrrp is balancer i's VRRP status (its first instance).
func (b *pairBed) vrrp(i int) vrrpStatus { return b.vrrpOf(i, "") }

// vrrpOf is balancer i's instance name ("" for the first).
func (b *pairBed) vrrpOf(i int, name string) vrrpStatus {
	b.t.Helper()
	out, err := b.Exec(10*time.Second, b.Balancers[i].Role, ctlBin, "status", "-json", "-socket", b.SocketOf(i))
	if err != nil {
		b.t.Fatalf("dsrlbctl status: %v\n%s", err, out)
	}
	var st struct {
		VRRP []vrrpStatus `json:"vrrp"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.VRRP) == 0 {
		b.t.Fatalf("dsrlbctl status -json: %v\n%s", err, out)
	}
	for _, v := range st.VRRP {
		if v.Name == name {
			return v
		}
	}
	return st.VRRP[0]
}

// waitState waits until balancer i's instance is in state.
func (b *pairBed) waitState(i int, state string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := b.vrrp(i)
		if st.State == state {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("balancer %s: VRRP state %s, want %s after %s: %+v", b.Balancers[i].Role, st.State, state, timeout, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killNode fails balancer i as a node: both processes killed, link down.
func (b *pairBed) killNode(i int) time.Time {
	b.t.Helper()
	at := time.Now()
	for _, p := range []*testbed.Proc{b.ctrl[i], b.dp[i]} {
		if err := syscall.Kill(p.PID(), syscall.SIGKILL); err != nil {
			b.t.Fatal(err)
		}
	}
	if err := b.LinkDown(b.Balancers[i].Role); err != nil {
		b.t.Fatal(err)
	}
	for _, p := range []*testbed.Proc{b.ctrl[i], b.dp[i]} {
		if err := p.Wait(10 * time.Second); err != nil && !strings.Contains(err.Error(), "killed") {
			b.t.Logf("%s: %v", p.Name, err)
		}
	}
	return at
}

// TestVRRPPairBasics: the higher priority is master, the other backup,
// the VIP is reached through the master and, once it fails, through the
// backup; with multicast adverts and with unicast peers.
func TestVRRPPairBasics(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []string // extra [[vrrp]] keys of A and B
	}{
		{name: "multicast"},
		{name: "unicast", a: []string{`unicast_peers = ["192.0.2.11"]`}, b: []string{`unicast_peers = ["192.0.2.10"]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newPair(t, 2)
			b.start(0, vrrpInstance(150, 3, "100ms", tc.a...))
			b.start(1, vrrpInstance(100, 3, "100ms", tc.b...))
			b.waitState(0, "MASTER", 30*time.Second)
			b.waitState(1, "BACKUP", 30*time.Second)
			if got, err := b.cb.curl("http://" + b.VIP.String() + "/"); err != nil || !strings.HasPrefix(got, "rs") {
				t.Fatalf("through the master: %q %v", got, err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for st := b.vrrp(1); st.AdvertsRecv < 5 || st.Master != "192.0.2.10" || len(st.Errors) != 0; st = b.vrrp(1) {
				if time.Now().After(deadline) {
					t.Fatalf("B hears A: %+v", st)
				}
				time.Sleep(20 * time.Millisecond)
			}
			at := b.killNode(0)
			b.waitState(1, "MASTER", 30*time.Second)
			t.Logf("B master %s after the kill", time.Since(at))
			if got, err := b.cb.curl("http://" + b.VIP.String() + "/"); err != nil || !strings.HasPrefix(got, "rs") {
				t.Fatalf("through the new master: %q %v", got, err)
			}
		})
	}
}

// failover is what one node failure of the master measured.
type failover struct {
	outage     time.Duration // first unanswered echo request to the first reply after it (client capture)
	detection  time.Duration // the kill to the backup's transition to MASTER (its log)
	garp       time.Duration // the kill to the first gratuitous ARP for the VIP from the backup (client capture)
	lost       int           // echo requests without reply
	failed     int           // HTTP requests started after the kill that failed
	failedLate int           // of those, started after the backup announced itself
	requests   int           // HTTP requests started after the kill
}

// pinger is ping -i 0.01 from the client to the VIP.
func (b *pairBed) pinger(d time.Duration) *testbed.Proc {
	b.t.Helper()
	p, err := b.Start(testbed.RoleClient, "ping", "ping", "-n", "-i", "0.01", "-w", fmt.Sprint(int(d.Seconds())), b.VIP.String())
	if err != nil {
		b.t.Fatal(err)
	}
	return p
}

// waitOutput waits until p's output contains want at least n times.
func waitOutput(t *testing.T, p *testbed.Proc, want string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(p.Output(), want) < n {
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d %q (exited %v):\n%s", p.Name, strings.Count(p.Output(), want), n, want, p.Exited(), p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// measureFailover fails the master (balancer 0) as a node while the client
// pings the VIP every 10 ms and opens an HTTP connection every ~30 ms,
// waits for balancer 1 to take over and measures.
func (b *pairBed) measureFailover() failover {
	t := b.t
	t.Helper()
	bMAC, err := b.MAC(b.Balancers[1].Role, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	c := capture(t, b.L2, testbed.RoleClient, fmt.Sprintf("failover-%d", time.Now().UnixNano()), "icmp or arp")
	ping := b.pinger(60 * time.Second)
	defer ping.Stop(syscall.SIGINT, 5*time.Second)
	waitOutput(t, ping, "bytes from", 20, 30*time.Second)
	ld := b.cb.startLoad(400)
	defer ld.p.Stop(syscall.SIGTERM, 5*time.Second)
	ld.waitAnswers(t, time.Now(), 3, "rs1", "rs2")

	at := b.killNode(0)
	master := b.cb.waitLog(b.ctrl[1], "to=MASTER", at, 60*time.Second)
	n := strings.Count(ping.Output(), "bytes from")
	waitOutput(t, ping, "bytes from", n+30, 60*time.Second)
	ld.waitAnswers(t, time.Now(), 3, "rs1", "rs2")
	_ = ping.Stop(syscall.SIGINT, 5*time.Second)
	_ = ld.p.Stop(syscall.SIGTERM, 5*time.Second)
	pkts := packets(t, c)

	f := failover{detection: master.Sub(at)}
	req := map[uint16]time.Time{}
	rep := map[uint16]time.Time{}
	var garpAt time.Time
	for _, p := range pkts {
		ts := p.Metadata().Timestamp
		if a, ok := p.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
			if garpAt.IsZero() && ts.After(at) && net.HardwareAddr(a.SourceHwAddress).String() == bMAC &&
				net.IP(a.SourceProtAddress).Equal(b.VIP.AsSlice()) && net.IP(a.DstProtAddress).Equal(b.VIP.AsSlice()) {
				garpAt = ts
			}
			continue
		}
		e, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
		if !ok {
			continue
		}
		switch e.TypeCode.Type() {
		case layers.ICMPv4TypeEchoRequest:
			req[e.Seq] = ts
		case layers.ICMPv4TypeEchoReply:
			rep[e.Seq] = ts
		}
	}
	if garpAt.IsZero() {
		t.Fatalf("no gratuitous ARP for %s from %s after the kill:\n%s", b.VIP, bMAC, c.Dump("arp"))
	}
	f.garp = garpAt.Sub(at)
	// The outage: the first request after the kill's last answered one
	// that went unanswered, to the first reply after it.
	var firstLost time.Time
	for seq, ts := range req {
		if _, ok := rep[seq]; !ok && ts.After(at.Add(-100*time.Millisecond)) {
			f.lost++
			if firstLost.IsZero() || ts.Before(firstLost) {
				firstLost = ts
			}
		}
	}
	if firstLost.IsZero() {
		t.Fatalf("no echo request was lost: the failover was not seen (%d requests, %d replies)", len(req), len(rep))
	}
	var back time.Time
	for _, ts := range rep {
		if ts.After(firstLost) && (back.IsZero() || ts.Before(back)) {
			back = ts
		}
	}
	f.outage = back.Sub(firstLost)
	for _, s := range ld.samples(t) {
		if s.at.Before(at) {
			continue
		}
		f.requests++
		if s.err != "" {
			f.failed++
			if s.at.After(garpAt) {
				f.failedLate++
			}
		}
	}
	return f
}

// TestVRRPFailover: node failure of the master at advert_int 1 s (v2),
// 100 ms and 20 ms (v3), three runs each, beside keepalived's figures on
// this machine kind (v2 1 s: 2.70-3.02 s; v3 0.1 s: 0.28-0.35 s). The
// backup must answer again within its master-down interval and the time
// to announce; the assertion allows 1 s more for a busy machine, the
// figures are logged.
func TestVRRPFailover(t *testing.T) {
	for _, tc := range []struct {
		name     string
		version  int
		interval string
		down     time.Duration // B's master-down interval (priority 100)
	}{
		{"v3-20ms", 3, "20ms", 60*time.Millisecond + 156*20*time.Millisecond/256},
		{"v3-100ms", 3, "100ms", 300*time.Millisecond + 156*100*time.Millisecond/256},
		{"v2-1s", 2, "1s", 3*time.Second + 156*time.Second/256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newPair(t, 2)
			cfgA, cfgB := vrrpInstance(150, tc.version, tc.interval), vrrpInstance(100, tc.version, tc.interval)
			b.start(1, cfgB)
			b.start(0, cfgA)
			for run := 1; run <= 3; run++ {
				b.waitState(0, "MASTER", 60*time.Second)
				b.waitState(1, "BACKUP", 60*time.Second)
				f := b.measureFailover()
				t.Logf("run %d: outage %s, detection %s, GARP %s after the kill; %d echo requests lost; HTTP: %d of %d failed, %d after the GARP",
					run, f.outage.Round(time.Millisecond), f.detection.Round(time.Millisecond), f.garp.Round(time.Millisecond), f.lost, f.failed, f.requests, f.failedLate)
				if limit := tc.down + time.Second; f.outage > limit {
					t.Errorf("run %d: outage %s, over the master-down interval %s + 1 s", run, f.outage, tc.down)
				}
				if f.failedLate != 0 {
					t.Errorf("run %d: %d HTTP requests failed after the new master announced itself", run, f.failedLate)
				}
				// The node comes back; it preempts after listening for one
				// master-down interval.
				if err := b.LinkUp(b.Balancers[0].Role); err != nil {
					t.Fatal(err)
				}
				b.start(0, cfgA)
			}
		})
	}
}

// burst starts n new HTTP connections to the VIP, one every ~5 ms, each
// in the background, and returns them as a load.
func (b *pairBed) burst(n int) *load {
	b.t.Helper()
	script := fmt.Sprintf(`for i in $(seq %d); do ( t=$(date +%%s.%%N); r=$(curl -sS -m 5 http://%s/ 2>&1) || r="FAIL $r"; echo "$t $(date +%%s.%%N) $r" ) & sleep 0.005; done; wait`,
		n, b.VIP)
	p, err := b.Start(testbed.RoleClient, "burst", "bash", "-c", script)
	if err != nil {
		b.t.Fatal(err)
	}
	return &load{p: p}
}

// download starts a rate-limited download of big.bin through the VIP and
// waits until it is under way; the path of the file is returned.
func (b *pairBed) download(name string) (*testbed.Proc, string) {
	b.t.Helper()
	path := filepath.Join(b.Dir, name+".bin")
	dl, err := b.Start(testbed.RoleClient, name, "curl", "-sS", "-m", "120", "--limit-rate", "1M", "-o", path, "http://"+b.VIP.String()+"/big.bin")
	if err != nil {
		b.t.Fatal(err)
	}
	waitSize(b.t, dl, path, 256<<10)
	return dl, path
}

// waitSize waits until the file at path has at least n bytes.
func waitSize(t *testing.T, dl *testbed.Proc, path string, n int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for fi, err := os.Stat(path); err != nil || fi.Size() < n; fi, err = os.Stat(path) {
		if dl.Exited() || time.Now().After(deadline) {
			t.Fatalf("download %s: not %d bytes: %v\n%s", path, n, err, dl.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// intact checks that the download at path finished and is one real
// server's big.bin.
func intact(t *testing.T, dl *testbed.Proc, path string, servers int) {
	t.Helper()
	if err := dl.Wait(120 * time.Second); err != nil {
		t.Fatalf("download: %v\n%s", err, dl.Output())
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(got)
	for i := range servers {
		if sum == sha256.Sum256(bigFile(i)) {
			return
		}
	}
	t.Fatalf("download of %d bytes is no real server's big.bin", len(got))
}

// TestVRRPFlowsSurvive: a download started through the master completes
// intact across the failover to the backup and the failback (preemption)
// to the restarted master, with no flow state transferred: both build the
// same Maglev table. 200 new connections opened across the failover
// window: none may fail that started after the backup announced itself.
func TestVRRPFlowsSurvive(t *testing.T) {
	b := newPair(t, 2)
	cfgA, cfgB := vrrpInstance(150, 3, "100ms"), vrrpInstance(100, 3, "100ms")
	b.start(1, cfgB)
	b.start(0, cfgA)
	b.waitState(0, "MASTER", 60*time.Second)
	b.waitState(1, "BACKUP", 60*time.Second)

	dl, path := b.download("download")
	burst := b.burst(200)
	at := b.killNode(0)
	garp := b.cb.waitLog(b.dp[1], "VRRP master", at, 60*time.Second)
	fi, _ := os.Stat(path)
	waitSize(t, dl, path, fi.Size()+512<<10) // the flow goes on through B
	if err := burst.p.Wait(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	failed, late := 0, 0
	samples := burst.samples(t)
	for _, s := range samples {
		if s.err != "" {
			failed++
			if s.at.After(garp) {
				late++
			}
		}
	}
	t.Logf("failover: B announced %s after the kill; %d of %d new connections failed, %d of them after the announcement",
		garp.Sub(at).Round(time.Millisecond), failed, len(samples), late)
	if len(samples) != 200 || late != 0 {
		t.Errorf("%d connections, %d failed after the new master announced itself", len(samples), late)
	}

	// Failback: A comes back and preempts; the download goes on through A.
	if err := b.LinkUp(b.Balancers[0].Role); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	b.start(0, cfgA)
	b.cb.waitLog(b.dp[0], "VRRP master", back, 60*time.Second)
	b.waitState(1, "BACKUP", 60*time.Second)
	if dl.Exited() {
		t.Fatal("the download ended before the failback; it proves nothing")
	}
	fi, _ = os.Stat(path)
	waitSize(t, dl, path, fi.Size()+512<<10)
	intact(t, dl, path, 2)
	t.Logf("the download completed intact across failover and failback")
}

// TestVRRPFaults: kill -9 of dsrlb-ctrl on the master loses no request
// (its data plane keeps forwarding what reaches it until the backup
// announces itself); a restarted dsrlb-ctrl listens before it preempts;
// the death of the master's data plane hands over within the backup's
// skew time (the priority 0 advert); a partition of the VRRP traffic makes
// both master, and the lower one backs off within an advert interval once
// it heals.
func TestVRRPFaults(t *testing.T) {
	const interval = 100 * time.Millisecond
	skew := 156 * interval / 256 // B's, priority 100
	b := newPair(t, 2)
	cfgA, cfgB := vrrpInstance(150, 3, "100ms"), vrrpInstance(100, 3, "100ms")
	b.start(1, cfgB)
	b.start(0, cfgA)
	b.waitState(0, "MASTER", 60*time.Second)
	b.waitState(1, "BACKUP", 60*time.Second)

	t.Run("ctrl killed", func(t *testing.T) {
		ld := b.cb.startLoad(150)
		ld.waitAnswers(t, time.Now(), 3, "rs1", "rs2")
		at := time.Now()
		if err := syscall.Kill(b.ctrl[0].PID(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		master := b.cb.waitLog(b.ctrl[1], "to=MASTER", at, 60*time.Second)
		lost := b.cb.waitLog(b.dp[0], "control process heartbeat lost", at, 60*time.Second)
		ld.waitAnswers(t, time.Now(), 5, "rs1", "rs2")
		_ = ld.p.Stop(syscall.SIGTERM, 5*time.Second)
		failed := count(ld.samples(t), at.Add(-time.Second), time.Now())["FAIL"]
		t.Logf("B master %s after the kill, A's data plane stopped answering ARP %s after it; %d requests failed",
			master.Sub(at).Round(time.Millisecond), lost.Sub(at).Round(time.Millisecond), failed)
		if failed != 0 {
			t.Errorf("%d requests failed", failed)
		}
		// A restarted dsrlb-ctrl comes up as backup, listens for one
		// master-down interval, then preempts (priority 150 > 100).
		start := time.Now()
		var err error
		b.ctrl[0], err = b.StartBalancerCtrl(0, ctrlBin, b.dp[0])
		if err != nil {
			t.Fatal(err)
		}
		backup := b.cb.waitLog(b.ctrl[0], "to=BACKUP", start, 60*time.Second)
		preempt := b.cb.waitLog(b.ctrl[0], "to=MASTER", start, 60*time.Second)
		if hold := preempt.Sub(backup); hold < 300*time.Millisecond {
			t.Errorf("the restarted dsrlb-ctrl preempted %s after entering BACKUP, before one master-down interval", hold)
		}
		b.waitState(1, "BACKUP", 60*time.Second)
	})

	t.Run("dataplane killed", func(t *testing.T) {
		at := time.Now()
		if err := syscall.Kill(b.dp[0].PID(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		fault := b.cb.waitLog(b.ctrl[0], "to=FAULT", at, 60*time.Second)
		master := b.cb.waitLog(b.ctrl[1], "to=MASTER", at, 60*time.Second)
		t.Logf("A in FAULT %s after its data plane died; B master %s after the kill (skew time %s, master-down %s)",
			fault.Sub(at).Round(time.Millisecond), master.Sub(at).Round(time.Millisecond), skew, 3*interval+skew)
		if d := master.Sub(fault); d > skew+200*time.Millisecond {
			t.Errorf("B took over %s after A gave up: not within the skew time %s (+200ms)", d, skew)
		}
		if got, err := b.cb.curl("http://" + b.VIP.String() + "/"); err != nil || !strings.HasPrefix(got, "rs") {
			t.Fatalf("through B: %q %v", got, err)
		}
		// A's data plane comes back; A's dsrlb-ctrl finds it and preempts.
		start := time.Now()
		var err error
		b.dp[0], err = b.StartBalancerDataplane(0, dataplaneBin, b.Config(0, `vrrp_dataplane_timeout = "100ms"`, cfgA))
		if err != nil {
			t.Fatal(err)
		}
		b.cb.waitLog(b.ctrl[0], "to=MASTER", start, 60*time.Second)
		b.waitState(1, "BACKUP", 60*time.Second)
	})

	t.Run("partition", func(t *testing.T) {
		// Drop VRRP between the balancers on the bridge for 5 s.
		if _, err := b.Exec(5*time.Second, testbed.RoleBridge, "nft", "add table bridge vrrpcut; add chain bridge vrrpcut cut { type filter hook forward priority 0; policy accept; }; add rule bridge vrrpcut cut ip protocol 112 drop"); err != nil {
			t.Fatal(err)
		}
		at := time.Now()
		b.cb.waitLog(b.ctrl[1], "to=MASTER", at, 60*time.Second)
		if st := b.vrrp(0); st.State != "MASTER" {
			t.Fatalf("A is %s during the partition", st.State)
		}
		deadline := at.Add(5 * time.Second)
		for time.Now().Before(deadline) { // both stay master while it lasts
			if a, bb := b.vrrp(0).State, b.vrrp(1).State; a != "MASTER" || bb != "MASTER" {
				t.Fatalf("during the partition: A %s, B %s", a, bb)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// The partition heals while nft runs: B may back off before the
		// command returns, so the time is taken before it.
		healed := time.Now()
		if _, err := b.Exec(5*time.Second, testbed.RoleBridge, "nft", "delete table bridge vrrpcut"); err != nil {
			t.Fatal(err)
		}
		back := b.cb.waitLog(b.ctrl[1], "to=BACKUP", healed, 60*time.Second)
		t.Logf("split brain for 5 s; B backed off %s after the partition healed", back.Sub(healed).Round(time.Millisecond))
		if d := back.Sub(healed); d > interval+200*time.Millisecond {
			t.Errorf("B backed off %s after the partition healed, not within one advert interval (+200ms)", d)
		}
		if st := b.vrrp(0); st.State != "MASTER" {
			t.Errorf("A is %s after the partition", st.State)
		}
	})
}

// keepalived runs Debian's keepalived (VRRP only) in the ka namespace
// with one instance for the VIP.
func (b *pairBed) keepalived(prio, version int, interval, auth string) *testbed.Proc {
	b.t.Helper()
	dir := filepath.Join(b.Dir, "keepalived")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	authBlock := ""
	if auth != "" {
		authBlock = fmt.Sprintf("    authentication {\n        auth_type PASS\n        auth_pass %s\n    }\n", auth)
	}
	conf := fmt.Sprintf(`global_defs {
    router_id ka
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority %d
    advert_int %s
    version %d
%s    virtual_ipaddress {
        192.0.2.100/32
    }
}
`, prio, interval, version, authBlock)
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		b.t.Fatal(err)
	}
	p, err := b.Start(testbed.RoleKA, "keepalived", "keepalived", "-n", "-l", "-D", "-P", "-G", "-f", path,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"), "-c", filepath.Join(dir, "checkers.pid"))
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() {
		_ = p.Stop(syscall.SIGTERM, 10*time.Second)
		// keepalived's VRRP child, should it outlive its parent.
		if out, _ := b.Exec(5*time.Second, testbed.RoleKA, "ip", "netns", "pids", b.NS(testbed.RoleKA)); strings.TrimSpace(out) != "" {
			for _, f := range strings.Fields(out) {
				var pid int
				if _, err := fmt.Sscan(f, &pid); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if b.t.Failed() {
			b.t.Logf("keepalived log:\n%s", p.Output())
		}
	})
	return p
}

// keepalivedComplaints are keepalived's messages about adverts it did
// not like.
var keepalivedComplaints = []string{"invalid", "bogus", "mismatch", "ignoring", "wrong", "bad ", "error", "discard"}

func checkKeepalivedLog(t *testing.T, ka *testbed.Proc) {
	t.Helper()
	for _, line := range strings.Split(ka.Output(), "\n") {
		l := strings.ToLower(line)
		for _, c := range keepalivedComplaints {
			if strings.Contains(l, c) {
				t.Errorf("keepalived: %s", line)
			}
		}
	}
}

// TestVRRPKeepalived: dsrlb and Debian's keepalived 2.2.7 as the two
// routers of one VRID, version 2 with PASS authentication and version 3:
// dsrlb master with keepalived backup, failover to keepalived; keepalived
// master with dsrlb backup, failover to dsrlb. Neither side ignores an
// advert of the other.
func TestVRRPKeepalived(t *testing.T) {
	for _, tc := range []struct {
		name, interval, ka, auth string
		version                  int
	}{
		{"v2-pass", "1s", "1", "secret1", 2},
		{"v3", "100ms", "0.1", "", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newPair(t, 2)
			if err := b.AddKeepalived(); err != nil {
				t.Fatal(err)
			}
			var extra []string
			if tc.auth != "" {
				extra = append(extra, fmt.Sprintf("auth_pass = %q", tc.auth))
			}
			cfg := func(prio int) string { return vrrpInstance(prio, tc.version, tc.interval, extra...) }

			// dsrlb master, keepalived backup.
			b.start(0, cfg(150))
			b.waitState(0, "MASTER", 60*time.Second)
			ka := b.keepalived(100, tc.version, tc.ka, tc.auth)
			waitOutput(t, ka, "Entering BACKUP STATE", 1, 60*time.Second)
			sent := b.vrrp(0).AdvertsSent
			deadline := time.Now().Add(60 * time.Second)
			for b.vrrp(0).AdvertsSent < sent+10 { // keepalived hears ten adverts
				if time.Now().After(deadline) {
					t.Fatal("dsrlb stopped advertising")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if strings.Contains(ka.Output(), "Entering MASTER STATE") {
				t.Fatalf("keepalived became master beside a dsrlb master:\n%s", ka.Output())
			}
			at := b.killNode(0)
			waitOutput(t, ka, "Entering MASTER STATE", 1, 60*time.Second)
			t.Logf("dsrlb master -> keepalived backup: keepalived took over after the node failure (%s)", time.Since(at).Round(time.Millisecond))

			// keepalived master (priority 200), dsrlb comes back as backup.
			_ = ka.Stop(syscall.SIGTERM, 10*time.Second)
			checkKeepalivedLog(t, ka)
			ka = b.keepalived(200, tc.version, tc.ka, tc.auth)
			waitOutput(t, ka, "Entering MASTER STATE", 1, 60*time.Second)
			if err := b.LinkUp(b.Balancers[0].Role); err != nil {
				t.Fatal(err)
			}
			b.start(0, cfg(150))
			b.waitState(0, "BACKUP", 60*time.Second)
			deadline = time.Now().Add(60 * time.Second)
			for {
				st := b.vrrp(0)
				if st.State != "BACKUP" {
					t.Fatalf("dsrlb %s beside a keepalived master: %+v", st.State, st)
				}
				if st.AdvertsRecv >= 10 {
					if st.Master != testbed.KAAddr.Addr().String() || len(st.Errors) != 0 {
						t.Fatalf("dsrlb backup: master %s, errors %v", st.Master, st.Errors)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("dsrlb heard %d adverts of keepalived", st.AdvertsRecv)
				}
				time.Sleep(50 * time.Millisecond)
			}
			at = time.Now()
			if err := b.LinkDown(testbed.RoleKA); err != nil {
				t.Fatal(err)
			}
			b.waitState(0, "MASTER", 60*time.Second)
			t.Logf("keepalived master -> dsrlb backup: dsrlb took over %s after keepalived's link went down", time.Since(at).Round(time.Millisecond))
			_ = ka.Stop(syscall.SIGTERM, 10*time.Second)
			checkKeepalivedLog(t, ka)
			if got, err := b.cb.curl("http://" + b.VIP.String() + "/"); err != nil || !strings.HasPrefix(got, "rs") {
				t.Fatalf("through dsrlb: %q %v", got, err)
			}
		})
	}
}

// TestVRRPIPv6: an IPv6 instance (version 3, adverts from the exception
// path's link-local address to ff02::12) and an IPv4 one in one sync
// group: A is master of both, B takes both over when A fails, announces
// the IPv6 VIP with an unsolicited neighbour advertisement, and the
// client reaches the IPv6 VIP through B.
func TestVRRPIPv6(t *testing.T) {
	b := newPairWith(t, 2, true)
	inst := func(prio int) string {
		return fmt.Sprintf(`[[vrrp]]
name = "vi4"
vrid = 51
priority = %[1]d
advert_int = "100ms"
vips = ["192.0.2.100"]
sync_group = "g"

[[vrrp]]
name = "vi6"
vrid = 51
priority = %[1]d
advert_int = "100ms"
vips = ["2001:db8::100"]
sync_group = "g"
`, prio)
	}
	b.start(1, inst(100))
	b.start(0, inst(150))
	for _, name := range []string{"vi4", "vi6"} {
		deadline := time.Now().Add(60 * time.Second)
		for b.vrrpOf(0, name).State != "MASTER" || b.vrrpOf(1, name).State != "BACKUP" {
			if time.Now().After(deadline) {
				t.Fatalf("%s: A %+v, B %+v", name, b.vrrpOf(0, name), b.vrrpOf(1, name))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	st := b.vrrpOf(1, "vi6")
	if !strings.HasPrefix(st.Master, "fe80::") || len(st.Errors) != 0 {
		t.Fatalf("B hears A's IPv6 adverts from %q, errors %v", st.Master, st.Errors)
	}
	url6 := "http://[" + b.IPv6.VIP.String() + "]/"
	if got, err := b.cb.curl(url6); err != nil || !strings.HasPrefix(got, "rs") {
		t.Fatalf("IPv6 VIP through A: %q %v", got, err)
	}
	bMAC, err := b.MAC(b.Balancers[1].Role, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	c := capture(t, b.L2, testbed.RoleClient, "na", "icmp6")
	at := b.killNode(0)
	for _, name := range []string{"vi4", "vi6"} {
		deadline := time.Now().Add(60 * time.Second)
		for b.vrrpOf(1, name).State != "MASTER" {
			if time.Now().After(deadline) {
				t.Fatalf("%s: B %+v", name, b.vrrpOf(1, name))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	master := b.cb.waitLog(b.ctrl[1], "instance=vi6 from=BACKUP to=MASTER", at, 60*time.Second)
	if got, err := b.cb.curl(url6); err != nil || !strings.HasPrefix(got, "rs") {
		t.Fatalf("IPv6 VIP through B: %q %v", got, err)
	}
	var na time.Time
	for _, p := range packets(t, c) {
		a, ok := p.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
		e, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if ok && e != nil && e.SrcMAC.String() == bMAC && a.TargetAddress.Equal(b.IPv6.VIP.AsSlice()) && !a.Solicited() && a.Override() {
			na = p.Metadata().Timestamp
			break
		}
	}
	if na.IsZero() {
		t.Fatalf("no unsolicited neighbour advertisement for %s from B:\n%s", b.IPv6.VIP, c.Dump())
	}
	t.Logf("IPv6: B master %s after the kill, its unsolicited NA %s after it", master.Sub(at).Round(time.Millisecond), na.Sub(at).Round(time.Millisecond))
}
