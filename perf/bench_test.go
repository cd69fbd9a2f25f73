package perf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"dsrlb/conf"
)

// Every benchmarked method's data plane configuration is valid.
func TestBenchConfigsParse(t *testing.T) {
	c := &BenchConfig{WorkerCPU: 1, Burst: 32, Packets: 1024, Sizes: Size64, Dir: t.TempDir()}
	for m := range methodVIP {
		for _, mem := range []string{MemoryHuge, MemoryNoHuge} {
			for w := 1; w <= 2; w++ {
				p := planCase(c, Case{Method: m, Memory: mem, Workers: w, Flows: 100000})
				cfg, err := conf.Parse(m+".toml", []byte(dsrlbConfig(c, p)))
				if err != nil {
					t.Errorf("%s: %v", p.Case, err)
					continue
				}
				if len(cfg.Services) != 1 || cfg.Services[0].VIP != methodVIP[m] || len(cfg.Services[0].Backends) != 2 ||
					len(cfg.Dataplane.Workers) != w || cfg.Dataplane.MbufSize != 2176 {
					t.Errorf("%s: %+v %+v", p.Case, cfg.Dataplane, cfg.Services)
				}
			}
		}
	}
}

// Cases size their memory from their flows: a million flows fit.
func TestPlanCase(t *testing.T) {
	c := &BenchConfig{Packets: 131072, Sizes: Size64, Dir: t.TempDir()}
	p := planCase(c, Case{Method: "l2dsr", Memory: MemoryHuge, Workers: 1, Flows: 1000000})
	if p.packets != 1000000 || p.mbufs != 1<<20-1 || p.mbufSize != 384 || p.memMB > 1200 || p.ctEntries != 1<<22 {
		t.Fatalf("1M flows: %d packets, %d mbufs, %d MB, %d entries", p.packets, p.mbufs, p.memMB, p.ctEntries)
	}
	p = planCase(c, Case{Method: "l2dsr", Memory: MemoryHuge, Workers: 2, Flows: 100000})
	if len(p.pcaps) != 2 || p.gens[1].FlowOffset != 50000 || p.packets != 2*131072 || !strings.Contains(p.pcapDevice(), ",rx_pcap=") {
		t.Fatalf("2 workers: %+v", p)
	}
	if got, err := ParseCases("l2dsr/huge/2/4096,gue6/nohuge/1/100000"); err != nil || len(got) != 2 || got[0] != (Case{"l2dsr", MemoryHuge, 2, 4096}) {
		t.Fatalf("ParseCases: %v %v", got, err)
	}
	if _, err := ParseCases("l2dsr/huge"); err == nil {
		t.Fatal("a case without workers and flows parsed")
	}
}

// counterText is a data plane counter log line; like the real one it
// lists the forward verdict only when it is non-zero.
func counterText(t time.Time, rx, fwd uint64) string {
	v := ""
	if fwd > 0 {
		v = fmt.Sprintf(" forward=%d", fwd)
	}
	return fmt.Sprintf("time=%s level=INFO msg=counters rx_packets=%d drops=0 rx_bytes=%d%s conntrack_misses=3 injected=4 in_tx_sent=%d",
		t.Format("2006-01-02T15:04:05.000Z07:00"), rx, rx*60, v, fwd)
}

// slowDsrlb is a data plane's output with a slow start-up: ten seconds of
// counter lines without packets, then 10 Mpps of which 90% forwarded.
// The counter lines start at index off, the first with packets is
// counter line 20.
func slowDsrlb(counters int) (out []string, off int) {
	t0 := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	out = []string{"EAL: Detected CPU lcores: 2", `time=2025-06-01T09:59:59.000Z level=INFO msg="port started" port=in`}
	off = len(out)
	for k := range counters {
		var rx uint64
		if k >= 20 {
			rx = uint64(k-19) * 5_000_000
		}
		out = append(out, counterText(t0.Add(time.Duration(k)*500*time.Millisecond), rx, rx/10*9))
	}
	return out, off
}

// The data plane's window completes on the counter line a warm-up and a
// duration after the first packets, however long the start-up took, and
// later lines do not change the figures.
func TestDsrlbMeterSlowStart(t *testing.T) {
	lines, off := slowDsrlb(40)
	m := &dsrlbMeter{warmup: time.Second, duration: time.Second}
	at := -1
	for k, l := range lines {
		m.feed(l)
		if m.complete() {
			at = k
			break
		}
		if _, _, err := m.result(); err == nil {
			t.Fatalf("line %d: result before the window is complete", k)
		}
	}
	// First packets at counter line 20, window from line 22 to line 24.
	if at != off+24 {
		t.Fatalf("window complete at line %d, want %d", at, off+24)
	}
	mpps, frac, err := m.result()
	if err != nil || math.Abs(mpps-10) > 1e-9 || math.Abs(frac-0.9) > 1e-9 {
		t.Fatalf("result %v Mpps, %v forwarded, %v; want 10, 0.9", mpps, frac, err)
	}
	for _, l := range lines[at+1:] {
		m.feed(l)
	}
	if mpps2, frac2, err := m.result(); mpps2 != mpps || frac2 != frac || err != nil {
		t.Errorf("more lines changed the result to %v, %v, %v", mpps2, frac2, err)
	}
}

// A worker starved for the whole window (a loaded machine) counts nothing
// new: the window runs on to the first line with packets, and the rate is
// over the time that really took.
func TestDsrlbMeterStalledWindow(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	at := func(k int) time.Time { return t0.Add(time.Duration(k) * 500 * time.Millisecond) }
	// Packets from line 0; the window starts at line 2 (a warm-up of 1s)
	// and would end at line 4; the counters stand still from line 2 to 5.
	rx := []uint64{5e6, 10e6, 15e6, 15e6, 15e6, 15e6, 18e6, 20e6}
	m := &dsrlbMeter{warmup: time.Second, duration: time.Second}
	done := -1
	for k, v := range rx {
		m.feed(counterText(at(k), v, v))
		if m.complete() && done < 0 {
			done = k
		}
	}
	if done != 6 {
		t.Fatalf("window complete at line %d, want 6 (the first with packets after the stall)", done)
	}
	mpps, frac, err := m.result()
	// 3M packets in 2 s, lines 2 to 6.
	if err != nil || math.Abs(mpps-1.5) > 1e-9 || frac != 1 {
		t.Fatalf("result %v Mpps, %v forwarded, %v; want 1.5, 1", mpps, frac, err)
	}
}

func TestDsrlbMeterNoPacket(t *testing.T) {
	lines, _ := slowDsrlb(20)
	m := &dsrlbMeter{warmup: time.Second, duration: time.Second}
	for _, l := range lines {
		m.feed(l)
	}
	if m.complete() {
		t.Fatal("complete without packets")
	}
	if _, _, err := m.result(); !errors.Is(err, errDsrlbNoPacket) {
		t.Fatalf("result error %v, want %v", err, errDsrlbNoPacket)
	}
}

// testpmdBlock is one statistics block of testpmd --stats-period=1.
func testpmdBlock(rx0 int) string {
	port := func(n, rxpps, txpps int) string {
		return fmt.Sprintf(`  ######################## NIC statistics for port %d  ########################
  RX-packets: 0          RX-missed: 0          RX-bytes:  0
  RX-errors: 0
  RX-nombuf:  0
  TX-packets: 0          TX-errors: 0          TX-bytes:  0

  Throughput (since last show)
  Rx-pps:   %10d          Rx-bps:            0
  Tx-pps:   %10d          Tx-bps:            0
  ############################################################################
`, n, rxpps, txpps)
	}
	return "\x1b[2J\x1b[1;1H\nPort statistics ====================================\n" + port(0, rx0, 0) + "\n" + port(1, 0, rx0)
}

// slowTestpmd is testpmd's output with a slow start-up: six zero samples,
// a partial second, then 9, 10, 11, 12 ... Mpps.
func slowTestpmd(samples int) string {
	var b strings.Builder
	b.WriteString("testpmd: create a new mbuf pool <mb_pool_0>: n=262143, size=2176, socket=0\nDone\n")
	for k := range samples {
		v := 0
		switch {
		case k == 6:
			v = 4_000_000
		case k > 6:
			v = (k + 2) * 1_000_000
		}
		b.WriteString(testpmdBlock(v))
	}
	return b.String()
}

// testpmd's window is the samples after the first non-zero one, its
// partial second and the warm-up; too few samples keep the run going.
func TestTestpmdMeterSlowStart(t *testing.T) {
	m := &testpmdMeter{warmup: time.Second, duration: 2 * time.Second}
	var fed int
	for _, l := range strings.Split(slowTestpmd(14), "\n") {
		m.feed(l)
		if m.complete() {
			break
		}
		if n := len(m.samples); n > fed {
			fed = n
			if _, err := m.result(); err == nil || errors.Is(err, errTestpmdNoPacket) != (n < 7) {
				t.Fatalf("%d samples: result error %v", n, err)
			}
		}
	}
	// First non-zero sample 6, partial; warm-up 7; window 8 and 9.
	if !m.complete() || len(m.samples) != 10 {
		t.Fatalf("complete %v after %d samples, want after 10", m.complete(), len(m.samples))
	}
	mpps, err := m.result()
	if err != nil || math.Abs(mpps-10.5) > 1e-9 {
		t.Fatalf("result %v Mpps, %v; want 10.5", mpps, err)
	}
}

func TestTestpmdMeterTooFew(t *testing.T) {
	m := &testpmdMeter{warmup: time.Second, duration: 2 * time.Second}
	for _, l := range strings.Split(slowTestpmd(9), "\n") {
		m.feed(l)
	}
	if m.complete() {
		t.Fatal("complete with 9 samples")
	}
	if _, err := m.result(); err == nil || !strings.Contains(err.Error(), "too few") {
		t.Fatalf("result error %v", err)
	}
	for _, l := range strings.Split(testpmdBlock(11_000_000), "\n") {
		m.feed(l)
	}
	if !m.complete() {
		t.Fatal("not complete with 10 samples")
	}
}

// The writer copies everything to the log and finds lines however the
// output is chunked; complete closes once the window is there.
func TestMeterWriter(t *testing.T) {
	out := slowTestpmd(10)
	var log bytes.Buffer
	m := &testpmdMeter{warmup: time.Second, duration: 2 * time.Second}
	w := newMeterWriter(&log, m)
	// The window is complete with the last block's port 0 rate line.
	p0 := strings.LastIndex(out, "NIC statistics for port 0")
	p0 += strings.Index(out[p0:], "Rx-pps:")
	p0 += strings.Index(out[p0:], "\n")
	for i := 0; i < len(out); i += 7 {
		select {
		case <-w.complete:
			if i <= p0 {
				t.Fatalf("complete after %d bytes, want after %d", i, p0+1)
			}
		default:
			if i > p0 {
				t.Fatalf("not complete after %d bytes", i)
			}
		}
		if n, err := w.Write([]byte(out[i:min(i+7, len(out))])); err != nil || n != min(7, len(out)-i) {
			t.Fatalf("write: %d, %v", n, err)
		}
	}
	select {
	case <-w.complete:
	default:
		t.Fatal("not complete at the end")
	}
	if log.String() != out {
		t.Error("log differs from the output")
	}
	if n := strings.Count(w.lastLines(), "\n") + 1; n != tailLines {
		t.Errorf("tail of %d lines, want %d", n, tailLines)
	}
	w.Write(bytes.Repeat([]byte("x"), maxLine+1))
	if last := w.tail[len(w.tail)-1]; len(last) != maxLine || len(w.partial) != 1 {
		t.Errorf("over-long line: %d bytes passed on, %d kept", len(last), len(w.partial))
	}
}

// shell runs a shell script as the benchmarked program.
func shell(t *testing.T, ctx context.Context, limit time.Duration, m meter, script string) (string, string, error) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "prog.log")
	out, err := runMeasured(ctx, limit, logPath, m, "sh", "-c", script)
	return out, logPath, err
}

// writeFile writes text to a file and returns its path.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The program is stopped with SIGINT once the window is complete; it does
// not have to end by itself (sleep would take a minute).
func TestRunMeasuredStopsAtWindow(t *testing.T) {
	lines, _ := slowDsrlb(30)
	out := writeFile(t, "out", strings.Join(lines, "\n")+"\n")
	m := &dsrlbMeter{warmup: time.Second, duration: time.Second}
	_, logPath, err := shell(t, context.Background(), time.Minute, m, "cat "+out+" >&2; exec sleep 60")
	if err != nil {
		t.Fatal(err)
	}
	if mpps, _, err := m.result(); err != nil || math.Abs(mpps-10) > 1e-9 {
		t.Fatalf("result %v, %v", mpps, err)
	}
	if b, _ := os.ReadFile(logPath); !strings.HasSuffix(string(b), lines[len(lines)-1]+"\n") {
		t.Errorf("log lacks the output:\n%s", b)
	}
}

// gatedMeter opens a gate when it sees a marker line, after checking that
// the window is not complete yet.
type gatedMeter struct {
	*testpmdMeter
	marker, fifo string
	early        bool
}

func (g *gatedMeter) feed(line string) {
	g.testpmdMeter.feed(line)
	if line == g.marker {
		g.early = g.complete()
		go os.WriteFile(g.fifo, []byte("go\n"), 0)
	}
}

// Too few samples do not stop or fail the run: it goes on until the rest
// of the window arrives. The program prints the rest only after the meter
// has seen the first part.
func TestRunMeasuredTooFewKeepsGoing(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "gate")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	all := slowTestpmd(12)
	cut := strings.Index(all, testpmdBlock(11_000_000)) // 9 samples before it
	first := writeFile(t, "first", all[:cut]+"gate\n")
	rest := writeFile(t, "rest", all[cut:])
	g := &gatedMeter{testpmdMeter: &testpmdMeter{warmup: time.Second, duration: 2 * time.Second}, marker: "gate", fifo: fifo}
	_, _, err := shell(t, context.Background(), time.Minute, g,
		fmt.Sprintf("cat %s; read x < %s; cat %s; exec sleep 60", first, fifo, rest))
	if err != nil {
		t.Fatal(err)
	}
	if g.early {
		t.Error("window complete before the gate")
	}
	if mpps, err := g.result(); err != nil || math.Abs(mpps-10.5) > 1e-9 {
		t.Fatalf("result %v, %v", mpps, err)
	}
}

// A program that exits before its window is complete is an error with the
// log path and the tail of its output.
func TestRunMeasuredExitEarly(t *testing.T) {
	m := &dsrlbMeter{warmup: time.Second, duration: time.Second}
	_, logPath, err := shell(t, context.Background(), time.Minute, m, "echo 'EAL: cannot init' >&2; exit 3")
	if err == nil || errors.Is(err, errNoWindow) {
		t.Fatalf("error %v", err)
	}
	for _, s := range []string{"sh: exited early: exit status 3", logPath, "EAL: cannot init"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
}

// A program that never completes its window is killed at the deadline;
// one that never saw a packet reports that.
func TestRunMeasuredDeadline(t *testing.T) {
	m := &testpmdMeter{warmup: time.Second, duration: time.Second}
	out, logPath, err := shell(t, context.Background(), 500*time.Millisecond, m,
		fmt.Sprintf("printf '%%s' '%s'; exec sleep 60", testpmdBlock(0)))
	if !errors.Is(err, errNoWindow) || !strings.Contains(err.Error(), logPath) {
		t.Fatalf("error %v", err)
	}
	_, rerr := m.result()
	if err := judge(err, rerr, errTestpmdNoPacket, logPath, out); !errors.Is(err, errTestpmdNoPacket) {
		t.Fatalf("judged %v", err)
	}
	// With packets seen, the deadline is the error.
	if j := judge(err, errors.New("too few"), errTestpmdNoPacket, logPath, out); j != err {
		t.Fatalf("judged %v", j)
	}
}

// Cancelling the context kills the program.
func TestRunMeasuredCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := &dsrlbMeter{warmup: time.Second, duration: time.Second}
	if _, _, err := shell(t, ctx, time.Minute, m, "exec sleep 60"); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
}
