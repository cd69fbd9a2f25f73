//go:build e2e

package main

import (
	"encoding/json"
	"fmt"
	"net"
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
func newPair(t *testing.T, n int) *pairBed {
	t.Helper()
	b, err := testbed.New(t.TempDir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pids := b.PIDs()
		if err := b.Close(); err != nil {
			t.Errorf("teardown: %v", err)
		}
		if left := testbed.Leftovers(b.Prefix); len(left) != 0 {
			t.Errorf("namespaces left after the test: %v", left)
		}
		for _, pid := range pids {
			if testbed.Alive(pid) {
				t.Errorf("process %d left after the test", pid)
			}
		}
	})
	pair, err := testbed.SetupPair(b, n)
	if err != nil {
		t.Fatal(err)
	}
	pb := &pairBed{Pair: pair, t: t, cb: &ctrlBed{L2: pair.L2, t: t, nginx: make([]*testbed.Proc, n)}}
	for i := range pair.Servers {
		pb.cb.startServer(i)
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

// vrrp is balancer i's VRRP status.
func (b *pairBed) vrrp(i int) vrrpStatus {
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

func TestVRRPPairBasics(t *testing.T) {
	b := newPair(t, 2)
	b.start(0, vrrpInstance(150, 3, "100ms"))
	b.start(1, vrrpInstance(100, 3, "100ms"))
	b.waitState(0, "MASTER", 30*time.Second)
	b.waitState(1, "BACKUP", 30*time.Second)
	if got, err := b.cb.curl("http://" + b.VIP.String() + "/"); err != nil || !strings.HasPrefix(got, "rs") {
		t.Fatalf("through the master: %q %v", got, err)
	}
	at := b.killNode(0)
	b.waitState(1, "MASTER", 30*time.Second)
	t.Logf("B master %s after the kill", time.Since(at))
	if got, err := b.cb.curl("http://" + b.VIP.String() + "/"); err != nil || !strings.HasPrefix(got, "rs") {
		t.Fatalf("through the new master: %q %v", got, err)
	}
	t.Logf("B: %+v", b.vrrp(1))
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
