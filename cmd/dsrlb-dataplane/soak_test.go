//go:build e2e && soak

package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"dsrlb/hw/testbed"
	"dsrlb/perf"
)

// The soak (make soak, not make test): SOAK_DURATION (default 30m) of
// mixed traffic through one data plane: the benchmark's capture replayed
// without end into a second service behind a null device, and real
// clients through the VIP to nginx real servers, with a real server
// stopped and started every 20 s (health changes) and a reload every
// 5 s. Every 10 s it samples the processes: their memory, the control
// process's goroutines and the data plane's threads must not grow after
// the first minute, and no counter may go backwards.

// soakExtra is the replayed service: its own VIP, real servers with
// static MACs behind a null port, the capture on a pcap port.
func soakExtra(capture string, weight int) string {
	return fmt.Sprintf(`
[[service]]
name = "replay"
vip = "192.0.2.200"
port = 80

  [[service.backend]]
  address = "192.0.2.121"
  weight = %d

  [[service.backend]]
  address = "192.0.2.122"

[[dataplane.port]]
name = "in"
device = "net_pcap0,rx_pcap=%s,infinite_rx=1"

[[dataplane.port]]
name = "out"
device = "net_null0,no-rx=1"

[[dataplane.neighbor]]
address = "192.0.2.121"
mac = "02:00:00:00:01:21"
port = "out"

[[dataplane.neighbor]]
address = "192.0.2.122"
mac = "02:00:00:00:01:22"
port = "out"
`, weight, capture)
}

type soakSample struct {
	at                         time.Time
	dpRSS, ctrlRSS, dpThreads  int
	goroutines                 float64
	counters                   map[string]float64
	rx, forwarded, failedTotal float64
}

func procStatus(t *testing.T, pid int, key string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return 0
}

// totals are the counter series (names ending in _total) of a scrape.
func totals(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		name := line[:i]
		base, _, _ := strings.Cut(name, "{")
		if !strings.HasSuffix(base, "_total") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[name] = v
		}
	}
	return out
}

func TestSoak(t *testing.T) {
	d := 30 * time.Minute
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatalf("SOAK_DURATION: %v", err)
		}
	}
	dir := t.TempDir()
	capture := filepath.Join(dir, "replay.pcap")
	f, err := os.Create(capture)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := perf.WritePcap(f, perf.GenConfig{Flows: 32768, Packets: 32768, VIP: netip.MustParseAddr("192.0.2.200")}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b := newCtrlBedWith(t, 2, 0, func(l *testbed.L2) {
		l.DataplaneKeys = []string{`mbufs = 131071`, `eal_args = ["--no-huge", "-m", "1024", "--no-shconf", "--log-level=lib.eal:warning"]`}
		l.Tail = soakExtra(capture, 1)
	}, httpCheck)

	ld := b.startLoad(int(d/(30*time.Millisecond)) + 1000)
	start := time.Now()
	var samples []soakSample
	sample := func() soakSample {
		text := b.metricsOf()
		return soakSample{at: time.Now(), dpRSS: procStatus(t, b.dp.PID(), "VmRSS"), ctrlRSS: procStatus(t, b.ctrl.PID(), "VmRSS"),
			dpThreads: procStatus(t, b.dp.PID(), "Threads"), goroutines: sumOf(text, "go_goroutines"), counters: totals(text),
			rx: sumOf(text, "dsrlb_worker_rx_packets_total"), forwarded: sumOf(text, "dsrlb_worker_verdicts_total", `verdict="forward"`)}
	}
	next := map[string]time.Time{"reload": start.Add(5 * time.Second), "health": start.Add(20 * time.Second), "sample": start}
	rs2Down, reloads, flaps := false, 0, 0
	for time.Since(start) < d {
		now := time.Now()
		switch {
		case !now.Before(next["sample"]):
			s := sample()
			if len(samples) > 0 {
				prev := samples[len(samples)-1]
				for name, v := range s.counters {
					if p, ok := prev.counters[name]; ok && v < p {
						t.Errorf("%s went back from %v to %v at %s", name, p, v, s.at.Sub(start).Round(time.Second))
					}
				}
			}
			samples = append(samples, s)
			next["sample"] = now.Add(10 * time.Second)
		case !now.Before(next["reload"]):
			reloads++
			b.Tail = soakExtra(capture, 1+reloads%3)
			b.reconfigure(nil, httpCheck)
			next["reload"] = now.Add(5 * time.Second)
		case !now.Before(next["health"]):
			if rs2Down {
				b.startServer(1)
			} else {
				b.stopServer(1)
			}
			rs2Down = !rs2Down
			flaps++
			next["health"] = now.Add(20 * time.Second)
		default:
			time.Sleep(100 * time.Millisecond)
		}
	}
	if ld.p.Exited() {
		t.Errorf("the client load ended early")
	}
	got := count(ld.samples(t), start, time.Now())
	first, last := samples[0], samples[len(samples)-1]
	// The baseline is the first sample after a minute: pools, caches and
	// the connection table warm.
	base := first
	for _, s := range samples {
		if s.at.Sub(start) >= time.Minute {
			base = s
			break
		}
	}
	t.Logf("%s: %d reloads, %d health changes; %.0f packets received (%.1f Mpps), %.0f forwarded; client requests %v",
		d, reloads, flaps, last.rx-first.rx, (last.rx-first.rx)/last.at.Sub(first.at).Seconds()/1e6, last.forwarded-first.forwarded, got)
	t.Logf("after 1 min -> at the end: data plane RSS %d -> %d kB, threads %d -> %d; ctrl RSS %d -> %d kB, goroutines %v -> %v",
		base.dpRSS, last.dpRSS, base.dpThreads, last.dpThreads, base.ctrlRSS, last.ctrlRSS, base.goroutines, last.goroutines)
	if last.dpRSS > base.dpRSS+32<<10 || last.ctrlRSS > base.ctrlRSS+32<<10 {
		t.Errorf("memory grew: data plane %d -> %d kB, ctrl %d -> %d kB", base.dpRSS, last.dpRSS, base.ctrlRSS, last.ctrlRSS)
	}
	if last.goroutines > base.goroutines+10 || last.dpThreads > base.dpThreads+4 {
		t.Errorf("goroutines %v -> %v, data plane threads %d -> %d", base.goroutines, last.goroutines, base.dpThreads, last.dpThreads)
	}
	if got["rs1"] == 0 || got["rs2"] == 0 {
		t.Errorf("client answers %v", got)
	}
}
