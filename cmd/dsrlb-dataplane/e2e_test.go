//go:build e2e

package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"dsrlb/hw/testbed"
)

// The end-to-end tests build the data plane binary once, create their own
// namespaces, and remove everything again (also on failure).

var dataplaneBin, ctrlBin, ctlBin, decapObj string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dsrlb-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dataplaneBin = filepath.Join(dir, "dsrlb-dataplane")
	ctrlBin = filepath.Join(dir, "dsrlb-ctrl")
	ctlBin = filepath.Join(dir, "dsrlbctl")
	for bin, pkg := range map[string]string{dataplaneBin: ".", ctrlBin: "../dsrlb-ctrl", ctlBin: "../dsrlbctl"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	// The real servers' tc decapsulation program, as make bpf builds it.
	decapObj = filepath.Join(dir, "dsrlb-decap.o")
	arch, _ := exec.Command("gcc", "-dumpmachine").Output()
	out, err := exec.Command("clang", "-O2", "-g", "-Wall", "-target", "bpf", "-I/usr/include/"+strings.TrimSpace(string(arch)),
		"-c", "../../ctrl/realserver/bpf/decap.c", "-o", decapObj).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build the decapsulation program: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newL2 builds the L2 topology with n real servers. Its teardown is
// checked: after the test no namespace and no process of it may remain.
func newL2(t *testing.T, n int) *testbed.L2 {
	t.Helper()
	topo, err := testbed.SetupL2(newBed(t), n)
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// newBed is an empty test bed whose teardown is checked: after the test
// no namespace and no process of it may remain.
func newBed(t *testing.T) *testbed.Bed {
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
	return b
}

func startDataplane(t *testing.T, topo *testbed.L2, extra ...string) *testbed.Proc {
	t.Helper()
	p, err := topo.StartDataplane(dataplaneBin, topo.DataplaneConfig(extra...))
	return watchDataplane(t, p, err)
}

// watchDataplane fails t when the data plane did not start, and prints its
// log at the end of a failed test.
func watchDataplane(t *testing.T, p *testbed.Proc, err error) *testbed.Proc {
	t.Helper()
	if p != nil {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("data plane log:\n%s", p.Output())
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func capture(t *testing.T, topo *testbed.L2, role, name, filter string) *testbed.Capture {
	t.Helper()
	c, err := topo.StartCapture(role, name, filter)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func packets(t *testing.T, c *testbed.Capture) []gopacket.Packet {
	t.Helper()
	pkts, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	return pkts
}

// TestL2DSR is the end-to-end proof of L2 DSR with real clients and nginx
// real servers.
func TestL2DSR(t *testing.T) {
	topo := newL2(t, 2)
	const bigSize = 20 << 20
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([][]byte, 2)
	for i := range topo.Servers {
		big[i] = make([]byte, bigSize)
		for j := range big[i] {
			big[i][j] = byte(rng.Uint32())
		}
		files := map[string][]byte{"index.html": []byte(testbed.ServerRole(i) + "\n"), "big.bin": big[i]}
		if _, err := topo.StartNginx(testbed.ServerRole(i), files, topo.VIP); err != nil {
			t.Fatal(err)
		}
	}
	startDataplane(t, topo)
	macText, err := topo.LBMAC()
	if err != nil {
		t.Fatal(err)
	}
	mac, err := net.ParseMAC(macText)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("arp answered by the balancer only, ping answered", func(t *testing.T) {
		// The client forgets the VIP and asks for it again (ping does).
		// Every ARP answer must carry the balancer's MAC: the real servers
		// hold the VIP too but must stay silent.
		if err := topo.IP(testbed.RoleClient, "neigh", "flush", "all"); err != nil {
			t.Fatal(err)
		}
		c := capture(t, topo, testbed.RoleClient, "client-arp", "arp")
		out, err := topo.Exec(20*time.Second, testbed.RoleClient, "ping", "-c", "3", "-i", "0.2", "-W", "2", topo.VIP.String())
		if err != nil {
			t.Fatalf("ping VIP: %v\n%s", err, out)
		}
		if !strings.Contains(out, "3 received") {
			t.Errorf("ping VIP lost echo replies:\n%s", out)
		}
		replies := 0
		for _, p := range packets(t, c) {
			a, _ := p.Layer(layers.LayerTypeARP).(*layers.ARP)
			if a == nil || a.Operation != layers.ARPReply || !net.IP(a.SourceProtAddress).Equal(topo.VIP.AsSlice()) {
				continue
			}
			replies++
			if !bytes.Equal(a.SourceHwAddress, mac) {
				t.Errorf("ARP reply for the VIP from %v, not the balancer (%v)", net.HardwareAddr(a.SourceHwAddress), mac)
			}
		}
		if replies == 0 {
			t.Fatalf("no ARP reply for the VIP seen at the client:\n%s", c.Dump("-e"))
		}
		t.Logf("%d ARP replies for the VIP, all from the balancer %v; ping: %s", replies, mac, pingSummary(out))
	})

	t.Run("200 requests spread, replies bypass the balancer", func(t *testing.T) {
		c := capture(t, topo, testbed.RoleLB, "lb", "tcp port 80")
		script := fmt.Sprintf(`for i in $(seq 200); do curl -sS -m 3 http://%s/ 2>&1 || echo "FAIL request $i"; done`, topo.VIP)
		out, err := topo.Exec(120*time.Second, testbed.RoleClient, "bash", "-c", script)
		if err != nil {
			t.Fatalf("curl loop: %v\n%s", err, out)
		}
		count := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			count[line]++
		}
		t.Logf("answers: %v", count)
		if count["rs1"]+count["rs2"] != 200 {
			t.Fatalf("%d of 200 requests answered by a real server: %v", count["rs1"]+count["rs2"], count)
		}
		for _, rs := range []string{"rs1", "rs2"} {
			if count[rs] < 70 || count[rs] > 130 {
				t.Errorf("%s answered %d of 200, want 35-65%%", rs, count[rs])
			}
		}
		var toVIP, fromVIP int
		for _, p := range packets(t, c) {
			ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
			if ip == nil {
				continue
			}
			switch {
			case ip.DstIP.Equal(topo.VIP.AsSlice()) && ip.SrcIP.Equal(topo.Client.AsSlice()):
				toVIP++
			case ip.SrcIP.Equal(topo.VIP.AsSlice()):
				fromVIP++
			}
		}
		t.Logf("capture on the balancer's port: %d client->VIP packets, %d VIP->client packets", toVIP, fromVIP)
		// Each request is at least SYN, ACK, request, FIN and ACK from the
		// client. tcpdump sees them arriving only: af_packet transmits with
		// PACKET_QDISC_BYPASS, which packet taps do not see.
		if toVIP < 200*5 {
			t.Errorf("only %d client->VIP packets seen at the balancer", toVIP)
		}
		if fromVIP != 0 {
			t.Errorf("%d VIP->client packets crossed the balancer; DSR replies must bypass it", fromVIP)
		}
	})

	t.Run("20 MB download intact", func(t *testing.T) {
		path := filepath.Join(topo.Dir, "big.out")
		out, err := topo.Exec(120*time.Second, testbed.RoleClient, "curl", "-s", "-S", "-m", "100", "-o", path,
			"-w", "%{size_download} bytes at %{speed_download} bytes/s", fmt.Sprintf("http://%s/big.bin", topo.VIP))
		if err != nil {
			t.Fatalf("download: %v\n%s", err, out)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(got)
		if len(got) != bigSize || (sum != sha256.Sum256(big[0]) && sum != sha256.Sum256(big[1])) {
			t.Fatalf("downloaded %d bytes that match neither server's file", len(got))
		}
		t.Logf("20 MB download intact: %s", out)
	})
}

func pingSummary(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "packets transmitted") {
			return line
		}
	}
	return out
}

// TestTeardownOnFailure runs a test that fails half-way (after building the
// topology and starting the balancer) in a child process, then checks that
// the child left no namespace and no process behind.
func TestTeardownOnFailure(t *testing.T) {
	if os.Getenv("DSRLB_E2E_FAILING_CHILD") == "1" {
		topo := newL2(t, 2)
		p := startDataplane(t, topo)
		fmt.Printf("CHILD prefix=%s pid=%d\n", topo.Prefix, p.PID())
		t.Fatal("deliberate failure")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTeardownOnFailure$", "-test.v")
	cmd.Env = append(os.Environ(), "DSRLB_E2E_FAILING_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the failing child passed:\n%s", out)
	}
	var prefix string
	var pid int
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "CHILD ") {
			fmt.Sscanf(line, "CHILD prefix=%s pid=%d", &prefix, &pid)
		}
	}
	if prefix == "" || pid == 0 || !strings.Contains(string(out), "deliberate failure") {
		t.Fatalf("child did not get as far as the deliberate failure:\n%s", out)
	}
	if left := testbed.Leftovers(prefix); len(left) != 0 {
		t.Errorf("failed child left namespaces %v", left)
	}
	if testbed.Alive(pid) {
		t.Errorf("failed child left the data plane (pid %d) running", pid)
	}
	t.Logf("child failed as planned; namespaces %s-* and data plane pid %d are gone", prefix, pid)
}

// TestExceptionPath: with a TAP configured, the balancer's own address is
// a normal host for the kernel: a client reaches a server on it, and the
// kernel reaches real servers (as dsrlb-ctrl's health checks do), both
// through the data plane; VIP traffic is unaffected.
func TestExceptionPath(t *testing.T) {
	topo := newL2(t, 2)
	topo.TAP = "dsrlb0"
	for i, s := range topo.Servers {
		role := testbed.ServerRole(i)
		if _, err := topo.StartNginx(role, map[string][]byte{"index.html": []byte(role + "\n")}, topo.VIP, s); err != nil {
			t.Fatal(err)
		}
	}
	startDataplane(t, topo)
	lbAddr := topo.LB.Addr()
	if _, err := topo.StartNginx(testbed.RoleLB, map[string][]byte{"index.html": []byte("balancer\n")}, lbAddr); err != nil {
		t.Fatal(err)
	}
	curl := func(role, url string) string {
		t.Helper()
		out, err := topo.Exec(20*time.Second, role, "curl", "-sS", "-m", "5", url)
		if err != nil {
			t.Fatalf("curl %s from %s: %v\n%s", url, role, err, out)
		}
		return strings.TrimSpace(out)
	}
	for i := 0; i < 5; i++ {
		if got := curl(testbed.RoleClient, "http://"+lbAddr.String()+"/"); got != "balancer" {
			t.Fatalf("client -> balancer's own address: %q", got)
		}
		for j, s := range topo.Servers {
			want := testbed.ServerRole(j)
			if got := curl(testbed.RoleLB, "http://"+s.String()+"/"); got != want {
				t.Fatalf("balancer kernel -> %s: %q, want %q", s, got, want)
			}
		}
	}
	if got := curl(testbed.RoleClient, "http://"+topo.VIP.String()+"/"); got != "rs1" && got != "rs2" {
		t.Fatalf("VIP through the balancer with an exception path: %q", got)
	}
	out, err := topo.Exec(10*time.Second, testbed.RoleLB, "ping", "-c", "2", "-i", "0.2", "-W", "2", topo.Servers[0].String())
	if err != nil || !strings.Contains(out, "2 received") {
		t.Fatalf("kernel ping of a real server: %v\n%s", err, out)
	}
	t.Logf("client <-> balancer kernel and balancer kernel <-> real servers work through the exception path")
}
