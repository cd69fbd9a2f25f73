//go:build e2e

package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"dsrlb/ctrl"
	"dsrlb/hw/testbed"
)

// End-to-end tests of active-active scale-out: balancers announce the VIP
// by BGP to a router running Debian's BIRD 2, which spreads flows over
// them by ECMP (L4 hash); flows must survive balancers coming and going.

// ecmpBed is the scale-out test bed.
type ecmpBed struct {
	*testbed.ECMP
	t    *testing.T
	cb   *ctrlBed // waitLog
	dp   []*testbed.Proc
	ctrl []*testbed.Proc
	bird *testbed.Proc
}

// bgpHold is the BGP hold time of the test bed's sessions, in seconds.
const bgpHold = 3

// ecmpCtrlKeys, ecmpSvcKeys, ecmpBGPKeys, ecmpNeighborKeys are the
// balancers' configuration parts.
const (
	ecmpSvcKeys      = httpCheck
	ecmpBGPKeys      = "drain_delay = \"2s\"\ndataplane_timeout = \"1s\""
	ecmpNeighborKeys = "hold_time = \"3s\"\nkeepalive = \"1s\""
)

// newECMP builds the topology with 4 balancer namespaces and 2 real
// servers serving their files, starts BIRD and the first n balancers.
func newECMP(t *testing.T, n int) *ecmpBed {
	t.Helper()
	topo, err := testbed.SetupECMP(newBed(t), 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	b := &ecmpBed{ECMP: topo, t: t, cb: &ctrlBed{t: t}, dp: make([]*testbed.Proc, 4), ctrl: make([]*testbed.Proc, 4)}
	for i := range topo.Servers {
		role := testbed.ServerRole(i)
		if _, err := topo.StartNginx(role, map[string][]byte{"index.html": []byte(role + "\n"), "big.bin": bigFile(i)},
			topo.VIP, topo.Servers[i]); err != nil {
			t.Fatal(err)
		}
	}
	if b.bird, err = topo.StartBIRD(bgpHold); err != nil {
		t.Fatal(err)
	}
	bird := b.bird
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := topo.Birdc("show", "protocols")
			t.Logf("bird:\n%s\n%s", bird.Output(), out)
		}
	})
	for i := 0; i < n; i++ {
		b.start(i)
	}
	return b
}

// start starts balancer i.
func (b *ecmpBed) start(i int) {
	b.t.Helper()
	cfg := b.Config(i, "", ecmpSvcKeys, ecmpBGPKeys, ecmpNeighborKeys)
	dp, ctrl, err := b.StartBalancer(i, dataplaneBin, ctrlBin, cfg)
	for _, p := range []*testbed.Proc{dp, ctrl} {
		if p != nil {
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
	b.dp[i], b.ctrl[i] = dp, ctrl
}

// waitHops waits until the router's next hops for the VIP are exactly
// those of balancers want and returns when that was seen.
func (b *ecmpBed) waitHops(what string, want ...int) time.Time {
	b.t.Helper()
	var addrs []string
	for _, i := range want {
		addrs = append(addrs, b.Balancers[i].Addr.Addr().String())
	}
	slices.Sort(addrs)
	deadline := time.Now().Add(60 * time.Second)
	for {
		hops, err := b.NextHops()
		if err != nil {
			b.t.Fatal(err)
		}
		var got []string
		for _, h := range hops {
			got = append(got, h.String())
		}
		slices.Sort(got)
		if slices.Equal(got, addrs) {
			return time.Now()
		}
		if time.Now().After(deadline) {
			out, _ := b.Birdc("show", "route", "all")
			b.t.Fatalf("%s: the router's next hops for the VIP are %v, want %v\n%s", what, got, addrs, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bgpStatus is the part of dsrlbctl status -json these tests read.
type bgpStatus struct {
	Services []struct {
		Name             string `json:"name"`
		NewFlows         uint64 `json:"new_flows"`
		TableFingerprint string `json:"table_fingerprint"`
	} `json:"services"`
	BGP *struct {
		Peers []struct {
			Address string `json:"address"`
			State   string `json:"state"`
		} `json:"peers"`
		Prefixes []struct {
			Prefix   string `json:"prefix"`
			Announce bool   `json:"announced"`
			Reason   string `json:"reason"`
		} `json:"prefixes"`
	} `json:"bgp"`
}

func (b *ecmpBed) status(i int) bgpStatus {
	b.t.Helper()
	out, err := b.Exec(10*time.Second, b.Balancers[i].Role, ctlBin, "status", "-json", "-socket", b.SocketOf(i))
	if err != nil {
		b.t.Fatalf("dsrlbctl status on %s: %v\n%s", b.Balancers[i].Role, err, out)
	}
	var st bgpStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		b.t.Fatalf("status -json: %v\n%s", err, out)
	}
	return st
}

// TestBGPECMP is the scale-out proof: three balancers announce the VIP to
// BIRD, which installs three next hops; 300 connections spread over all
// three; 24 long downloads survive a fourth balancer joining, a clean
// removal (GRACEFUL_SHUTDOWN, drain, withdraw) and a killed balancer (its
// link down: the hold timer), each completing intact on its real server;
// a service whose real servers all fail is withdrawn by every balancer
// and announced again when they recover; a data plane killed makes its
// balancer withdraw within bgp.dataplane_timeout.
func TestBGPECMP(t *testing.T) {
	b := newECMP(t, 3)
	b.waitHops("three balancers announce", 0, 1, 2)
	t.Logf("three balancers: the router has three next hops for %s", b.VIP)

	// All three agree on the table.
	var fps []string
	for i := 0; i < 3; i++ {
		st := b.status(i)
		fps = append(fps, st.Services[0].TableFingerprint)
		if st.BGP == nil || len(st.BGP.Peers) != 1 || st.BGP.Peers[0].State != "established" ||
			len(st.BGP.Prefixes) != 1 || !st.BGP.Prefixes[0].Announce {
			t.Fatalf("balancer %d: BGP status %+v", i, st.BGP)
		}
	}
	if fps[0] == "" || fps[0] == "-" || fps[1] != fps[0] || fps[2] != fps[0] {
		t.Fatalf("table fingerprints differ: %v", fps)
	}
	text, _ := b.Exec(10*time.Second, b.Balancers[0].Role, ctlBin, "status", "-socket", b.SocketOf(0))
	t.Logf("dsrlbctl status on lb:\n%s", text)

	// The metrics of BGP (each balancer serves them in its namespace):
	// every BGP family, values as the status says, and promtool content.
	metrics, err := b.Exec(10*time.Second, b.Balancers[0].Role, "curl", "-sSf", "http://"+metricsAddr+"/metrics")
	if err != nil {
		t.Fatalf("scrape: %v\n%s", err, metrics)
	}
	for _, d := range ctrl.MetricDocs() {
		if strings.HasPrefix(d.Name, "dsrlb_bgp_") && !strings.Contains(metrics, "\n"+d.Name+"{") && !strings.Contains(metrics, "\n"+d.Name+" ") {
			t.Errorf("documented metric %s is not exported", d.Name)
		}
	}
	for _, want := range []string{`dsrlb_bgp_peer_up{peer="192.0.2.1",peer_asn="65000"} 1`, `dsrlb_bgp_prefix_announced{prefix="198.51.100.100/32"} 1`,
		`dsrlb_bgp_draining 0`, `dsrlb_service_table_info{config="` + fps[0] + `",service="web",table="` + fps[0] + `",vip="198.51.100.100"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if check, err := b.Exec(30*time.Second, b.Balancers[0].Role, "sh", "-c", "curl -sSf http://"+metricsAddr+"/metrics | promtool check metrics"); err != nil || strings.TrimSpace(check) != "" {
		t.Errorf("promtool check metrics: %v\n%s", err, check)
	}

	// 300 new connections spread over the three.
	requests(t, b.Bed, 300, b.VIP)
	var flows []uint64
	var sum uint64
	for i := 0; i < 3; i++ {
		n := b.status(i).Services[0].NewFlows
		flows = append(flows, n)
		sum += n
	}
	t.Logf("300 connections: new flows per balancer %v", flows)
	if sum != 300 || slices.Min(flows) < 30 {
		t.Errorf("new flows per balancer %v: want 300 in all, spread over the three", flows)
	}

	// Captures of what the router sends each balancer, for the moved
	// flows.
	caps := make([]*testbed.Capture, 4)
	for i := range caps {
		mac, err := b.MAC(b.Balancers[i].Role, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		caps[i], err = b.StartCapture(b.Balancers[i].Role, "in-"+b.Balancers[i].Role, "ether dst "+mac+" and tcp and dst host "+b.VIP.String())
		if err != nil {
			t.Fatal(err)
		}
	}

	// Long downloads.
	const downloads = 24
	dls := make([]*testbed.Proc, downloads)
	paths := make([]string, downloads)
	for i := range dls {
		paths[i] = filepath.Join(b.Dir, fmt.Sprintf("dl%d.bin", i))
		dls[i], err = b.Start(testbed.RoleClient, fmt.Sprintf("download-%d", i), "curl", "-sS", "-m", "150", "--limit-rate", "600K",
			"-o", paths[i], "http://"+b.VIP.String()+"/big.bin")
		if err != nil {
			t.Fatal(err)
		}
	}
	waitBytes := func(min int64) {
		deadline := time.Now().Add(60 * time.Second)
		for _, p := range paths {
			for fi, err := os.Stat(p); err != nil || fi.Size() < min; fi, err = os.Stat(p) {
				if time.Now().After(deadline) {
					t.Fatalf("downloads not going: %s %v", p, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	waitBytes(1 << 20)

	// A fourth balancer joins.
	added := time.Now()
	b.start(3)
	at := b.waitHops("a fourth balancer joins", 0, 1, 2, 3)
	t.Logf("lb4 added: in the router's ECMP set %s after its start", at.Sub(added).Round(time.Millisecond))
	waitBytes(4 << 20)

	// lb3 leaves cleanly: dsrlb-ctrl stopped (GRACEFUL_SHUTDOWN, drain,
	// withdraw), then its data plane.
	stopped := time.Now()
	if err := syscall.Kill(b.ctrl[2].PID(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	left := b.waitHops("lb3 drains", 0, 1, 3)
	if err := b.ctrl[2].Wait(30 * time.Second); err != nil {
		t.Fatalf("dsrlb-ctrl lb3 after its drain: %v", err)
	}
	exited := time.Now()
	graceful := b.cb.waitLog(b.ctrl[2], "VIP announced with GRACEFUL_SHUTDOWN", stopped, 5*time.Second)
	withdrawn := b.cb.waitLog(b.ctrl[2], "BGP: VIP withdrawn", stopped, 5*time.Second)
	t.Logf("lb3 clean stop: graceful shutdown after %s, out of the router's ECMP set after %s, withdrawn after %s, dsrlb-ctrl exited after %s",
		graceful.Sub(stopped).Round(time.Millisecond), left.Sub(stopped).Round(time.Millisecond),
		withdrawn.Sub(stopped).Round(time.Millisecond), exited.Sub(stopped).Round(time.Millisecond))
	if d := withdrawn.Sub(graceful); d < 2*time.Second-50*time.Millisecond {
		t.Errorf("withdrawn %s after the graceful shutdown, before drain_delay 2s", d)
	}
	if left.After(withdrawn) {
		t.Errorf("the router kept lb3 until the withdrawal: GRACEFUL_SHUTDOWN did not move the flows first")
	}
	if err := b.dp[2].Stop(syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	waitBytes(7 << 20)

	// lb2 dies: its link goes down; the router drops it after the hold
	// time.
	killed := time.Now()
	if err := b.LinkDown(b.Balancers[1].Role); err != nil {
		t.Fatal(err)
	}
	gone := b.waitHops("lb2 killed", 0, 3)
	t.Logf("lb2 link down: out of the router's ECMP set after %s (hold time %ds)", gone.Sub(killed).Round(time.Millisecond), bgpHold)
	if d := gone.Sub(killed); d > (bgpHold+3)*time.Second {
		t.Errorf("lb2 left the ECMP set after %s, want within the hold time %ds (+3s)", d, bgpHold)
	}

	// Every download completes intact, each on one real server's file.
	for i, p := range dls {
		if err := p.Wait(150 * time.Second); err != nil {
			t.Errorf("download %d: %v\n%s", i, err, p.Output())
			continue
		}
		got, err := os.ReadFile(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(got)
		if len(got) != 20<<20 || (sum != sha256.Sum256(bigFile(0)) && sum != sha256.Sum256(bigFile(1))) {
			t.Errorf("download %d: %d bytes, not one real server's file", i, len(got))
		}
	}
	// Which balancers each download's packets reached.
	seen := map[uint16]map[int]bool{}
	for i, c := range caps {
		for _, pkt := range packets(t, c) {
			tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if !ok {
				continue
			}
			port := uint16(tcp.SrcPort)
			if seen[port] == nil {
				seen[port] = map[int]bool{}
			}
			seen[port][i] = true
		}
	}
	moved := 0
	for _, bs := range seen {
		if len(bs) > 1 {
			moved++
		}
	}
	t.Logf("%d downloads completed intact; %d of them moved between balancers (of %d flows seen)", downloads, moved, len(seen))
	if moved == 0 {
		t.Errorf("no download moved between balancers: the test proves nothing")
	}

	// Every real server fails: both remaining balancers withdraw; back
	// when they recover. (nginx stopped and started by signal.)
	for i := range b.Servers {
		if out, err := b.Exec(10*time.Second, testbed.ServerRole(i), "nft", "add table inet block; add chain inet block in { type filter hook input priority 0; policy accept; tcp dport 80 drop; }"); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	down := time.Now()
	b.waitHops("every real server down", []int{}...)
	t.Logf("all real servers down: the VIP withdrawn by both balancers after %s", time.Since(down).Round(time.Millisecond))
	for _, i := range []int{0, 3} {
		if st := b.status(i); st.BGP.Prefixes[0].Announce || !strings.Contains(st.BGP.Prefixes[0].Reason, "service web down") {
			t.Errorf("balancer %d: %+v", i, st.BGP.Prefixes)
		}
	}
	for i := range b.Servers {
		if out, err := b.Exec(10*time.Second, testbed.ServerRole(i), "nft", "delete table inet block"); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	back := time.Now()
	b.waitHops("real servers back", 0, 3)
	t.Logf("real servers back: the VIP announced again after %s", time.Since(back).Round(time.Millisecond))

	// A data plane killed: its balancer withdraws within dataplane_timeout.
	killedDP := time.Now()
	if err := syscall.Kill(b.dp[0].PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	wd := b.cb.waitLog(b.ctrl[0], "BGP: VIP withdrawn", killedDP, 10*time.Second)
	hops := b.waitHops("lb's data plane killed", 3)
	t.Logf("lb's data plane killed: withdrawn after %s (dataplane_timeout 1s), out of the router's set after %s",
		wd.Sub(killedDP).Round(time.Millisecond), hops.Sub(killedDP).Round(time.Millisecond))
	if d := wd.Sub(killedDP); d > 2*time.Second {
		t.Errorf("withdrawn %s after the data plane died, want within dataplane_timeout 1s (+1s)", d)
	}
	requests(t, b.Bed, 20, b.VIP)
}
