//go:build e2e

package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"dsrlb/hw/testbed"
	"dsrlb/perf"
)

// loadConfig is a data plane replaying capture at full speed into a
// service of two real servers behind a null device (the benchmark's
// devices), with the control process's socket; weights sets the real
// servers' weights.
func loadConfig(dir, capture string, weights [2]int) string {
	return fmt.Sprintf(`[dataplane]
workers = [1]
main_cpu = 0
eal_args = ["--no-huge", "-m", "512", "--no-shconf", "--log-level=lib.eal:warning"]
address = "192.0.2.10/24"
mbufs = 262143
mbuf_size = 384
stats_interval = "1s"
shm = %q

[ctrl]
socket = %q
metrics_listen = ""

[[dataplane.port]]
name = "in"
device = "net_pcap0,rx_pcap=%s,infinite_rx=1"
mtu = 200

[[dataplane.port]]
name = "out"
device = "net_null0,no-rx=1"
mtu = 200

[[dataplane.neighbor]]
address = "192.0.2.21"
mac = "02:00:00:00:00:21"
port = "out"

[[dataplane.neighbor]]
address = "192.0.2.22"
mac = "02:00:00:00:00:22"
port = "out"

[[service]]
name = "load"
vip = "192.0.2.100"
port = 80

  [[service.backend]]
  address = "192.0.2.21"
  weight = %d

  [[service.backend]]
  address = "192.0.2.22"
  weight = %d
`, filepath.Join(dir, "dsrlb.shm"), filepath.Join(dir, "ctrl.sock"), capture, weights[0], weights[1])
}

var counterPair = regexp.MustCompile(`([a-z0-9_]+)=(\d+)`)

// finalCounters are the counters of the data plane's last log line.
func finalCounters(t *testing.T, log string) map[string]float64 {
	t.Helper()
	i := strings.LastIndex(log, `msg="final counters"`)
	if i < 0 {
		t.Fatalf("no final counters in the data plane's log:\n%s", log)
	}
	line, _, _ := strings.Cut(log[i:], "\n")
	out := map[string]float64{}
	for _, m := range counterPair.FindAllStringSubmatch(line, -1) {
		out[m[1]], _ = strconv.ParseFloat(m[2], 64)
	}
	return out
}

// rssKB is process pid's resident memory.
func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestChangesUnderLoad: the data plane forwards a capture at full speed
// while dsrlb-ctrl applies a reload every 100 ms for 30 s, each moving a
// weight (a new Maglev table, a snapshot swap). Every packet received is
// accounted for exactly: what the workers sent out equals the packets
// they were to send plus the ones the main goroutine injected, and none
// is lost or sent twice across the swaps. Memory stays flat: replaced
// snapshots are freed.
func TestChangesUnderLoad(t *testing.T) {
	b := newBed(t)
	capture := filepath.Join(b.Dir, "load.pcap")
	f, err := os.Create(capture)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := perf.WritePcap(f, perf.GenConfig{Flows: 100000, VIP: netip.MustParseAddr("192.0.2.100")}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cfgPath := filepath.Join(b.Dir, "dsrlb.toml")
	write := func(w [2]int) {
		if err := os.WriteFile(cfgPath, []byte(loadConfig(b.Dir, capture, w)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write([2]int{1, 1})
	if err := b.AddNS(testbed.RoleLB); err != nil {
		t.Fatal(err)
	}
	dp, err := b.Start(testbed.RoleLB, "dataplane", dataplaneBin, "-c", cfgPath)
	watchDataplane(t, dp, err)
	ctrl, err := b.Start(testbed.RoleLB, "ctrl", ctrlBin, "-c", cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(dp.Output(), "transaction applied") < 1 {
		if dp.Exited() || ctrl.Exited() || time.Now().After(deadline) {
			t.Fatalf("no transaction applied:\n%s\n%s", dp.Output(), ctrl.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // full speed, caches and pools warm
	rss0 := rssKB(t, dp.PID())

	const reloads = 300 // one every 100 ms: 30 s
	start := time.Now()
	for i := range reloads {
		write([2]int{1 + i%7, 1 + (i+3)%5})
		if out, err := b.Exec(10*time.Second, testbed.RoleLB, ctlBin, "reload", "-socket", filepath.Join(b.Dir, "ctrl.sock")); err != nil {
			t.Fatalf("reload %d: %v\n%s", i, err, out)
		}
		if d := time.Until(start.Add(time.Duration(i+1) * 100 * time.Millisecond)); d > 0 {
			time.Sleep(d)
		}
	}
	elapsed := time.Since(start)
	rss1 := rssKB(t, dp.PID())
	applied := strings.Count(dp.Output(), "transaction applied")
	if err := dp.Stop(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("data plane stop: %v", err)
	}
	c := finalCounters(t, dp.Output())

	transmits := c["forward"] + c["arp_reply"] + c["ndp_reply"] + c["echo_reply"] + c["frag_needed"] + c["packet_too_big"]
	sent := c["in_tx_sent"] + c["out_tx_sent"] + c["in_tx_refused"] + c["out_tx_refused"]
	t.Logf("%d reloads in %s, %d transactions applied, snapshot %v; %v packets received (%.1f Mpps), %v forwarded, %v dropped; sent %v = %v transmits + %v injected; RSS %d -> %d kB",
		reloads, elapsed.Round(time.Millisecond), applied, c["snapshot_gen"], c["rx_packets"], c["rx_packets"]/elapsed.Seconds()/1e6,
		c["forward"], c["drops"], sent, transmits, c["injected"], rss0, rss1)
	if applied < reloads {
		t.Errorf("%d of %d reloads applied", applied, reloads)
	}
	if c["forward"]+c["drops"] != c["rx_packets"] {
		t.Errorf("%v received, %v forwarded, %v dropped: every packet is one or the other here", c["rx_packets"], c["forward"], c["drops"])
	}
	if c["drops"] != 0 {
		t.Errorf("%v packets dropped under reloads", c["drops"])
	}
	if sent != transmits+c["injected"]-c["inject_failed"] {
		t.Errorf("sent %v, but %v transmits and %v injected: %v lost or doubled", sent, transmits, c["injected"], sent-transmits-c["injected"])
	}
	// 300 rebuilt Maglev tables of 65537 entries are 39 MB if kept.
	if grew := rss1 - rss0; grew > 16<<10 {
		t.Errorf("resident memory grew by %d kB over %d reloads", grew, reloads)
	}
}
