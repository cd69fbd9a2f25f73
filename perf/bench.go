package perf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BenchConfig describes a throughput benchmark: dsrlb-dataplane and
// dpdk-testpmd (macswap) take turns on the same worker CPU, with the same
// virtual devices (net_pcap replaying a capture without end, net_null
// swallowing the output) and the same capture.
type BenchConfig struct {
	Dataplane string        // path of dsrlb-dataplane
	Testpmd   string        // path of dpdk-testpmd, default "dpdk-testpmd"
	Methods   []string      // forwarding methods to measure, default ["l2dsr"]
	Sizes     Sizes         // frame sizes, default Size64
	Flows     int           // default 100000
	Packets   int           // default 131072
	Pairs     int           // dsrlb/testpmd pairs per method, default 3
	Burst     int           // packets per burst for both programs, default 32
	Warmup    time.Duration // before measuring, default 2s
	Duration  time.Duration // measuring window, default 5s
	MainCPU   int           // default 0
	WorkerCPU int           // default 1
	Dir       string        // scratch directory
	Log       io.Writer     `json:"-"` // progress lines; nil for none
}

// MethodResult is the outcome for one method.
type MethodResult struct {
	Method      string    `json:"method"`
	Sizes       Sizes     `json:"sizes"`
	Dsrlb       []float64 `json:"dsrlb_mpps"`
	Testpmd     []float64 `json:"testpmd_mpps"`
	DsrlbMedian float64   `json:"dsrlb_median_mpps"`
	DsrlbMin    float64   `json:"dsrlb_min_mpps"`
	DsrlbMax    float64   `json:"dsrlb_max_mpps"`
	TestpmdMed  float64   `json:"testpmd_median_mpps"`
	TestpmdMin  float64   `json:"testpmd_min_mpps"`
	TestpmdMax  float64   `json:"testpmd_max_mpps"`
	NsPerPkt    float64   `json:"dsrlb_ns_per_packet"`
	CyclesPkt   float64   `json:"dsrlb_cycles_per_packet"`
	TpNsPerPkt  float64   `json:"testpmd_ns_per_packet"`
	Ratio       float64   `json:"ratio"` // dsrlb median / testpmd median
	PairRatios  []float64 `json:"pair_ratios"`
	ForwardFrac float64   `json:"forwarded_fraction"` // dsrlb forward / rx, a sanity check
	// Connection tracking over the measuring windows (means of the
	// pairs): the share of lookups that found their flow, and per
	// second the misses, the evictions of live entries and the SYNs not
	// tracked.
	CTHitRate         float64 `json:"conntrack_hit_rate"`
	CTMissesPerSec    float64 `json:"conntrack_misses_per_s"`
	CTFullPerSec      float64 `json:"conntrack_full_per_s"`
	CTUntrackedPerSec float64 `json:"conntrack_untracked_per_s"`
	// Evictions of established flows per second (in CTFullPerSec).
	CTFullEstablishedPerSec float64 `json:"conntrack_full_established_per_s"`
	// SYN flood cases: the share of the packets that are flood SYNs and
	// the table's size.
	FloodFraction    float64 `json:"flood_fraction,omitempty"`
	ConntrackEntries int     `json:"conntrack_entries,omitempty"`
}

// Report is a whole benchmark run.
type Report struct {
	Time     time.Time      `json:"time"`
	CPUModel string         `json:"cpu_model"`
	CPUMHz   float64        `json:"cpu_mhz"`
	Config   BenchConfig    `json:"config"`
	Results  []MethodResult `json:"results"`
}

func (c *BenchConfig) defaults() error {
	if c.Testpmd == "" {
		c.Testpmd = "dpdk-testpmd"
	}
	if len(c.Methods) == 0 {
		c.Methods = []string{"l2dsr"}
	}
	if c.Sizes == "" {
		c.Sizes = Size64
	}
	if c.Flows == 0 {
		c.Flows = 100000
	}
	if c.Packets == 0 {
		c.Packets = 131072
	}
	if c.Pairs == 0 {
		c.Pairs = 3
	}
	if c.Burst == 0 {
		c.Burst = 32
	}
	if c.Burst < 1 || c.Burst > 256 {
		return errors.New("burst must be 1..256")
	}
	if c.Warmup == 0 {
		c.Warmup = 2 * time.Second
	}
	if c.Duration == 0 {
		c.Duration = 5 * time.Second
	}
	if c.WorkerCPU == 0 && c.MainCPU == 0 {
		c.WorkerCPU = 1
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	for _, m := range c.Methods {
		if _, ok := methodVIP[m]; !ok {
			return fmt.Errorf("method %q has no benchmark (have: l2dsr, dscp, ipip, gre, gue, l2dsr6, ipip6, gue6, l2dsr-wrr, l2dsr-lc, l2dsr-synflood)", m)
		}
	}
	if c.Duration < time.Second {
		return errors.New("duration must be at least 1s")
	}
	if _, err := exec.LookPath(c.Testpmd); err != nil {
		return fmt.Errorf("testpmd: %w (install Debian's dpdk-dev)", err)
	}
	if _, err := os.Stat(c.Dataplane); err != nil {
		return fmt.Errorf("data plane: %w", err)
	}
	return nil
}

// methodVIP is the VIP each method's capture is sent to. The methods
// ending in 6 are IPv6 VIPs and real servers; a method with a scheduler's
// name after a dash is l2dsr with that scheduler instead of Maglev;
// l2dsr-synflood is l2dsr under a SYN flood (floodCase).
var methodVIP = map[string]netip.Addr{
	"l2dsr-wrr":      netip.MustParseAddr("192.0.2.100"),
	"l2dsr-lc":       netip.MustParseAddr("192.0.2.100"),
	"l2dsr-synflood": netip.MustParseAddr("192.0.2.100"),
	"l2dsr":          netip.MustParseAddr("192.0.2.100"),
	"dscp":           netip.MustParseAddr("192.0.2.100"),
	"ipip":           netip.MustParseAddr("192.0.2.100"),
	"gre":            netip.MustParseAddr("192.0.2.100"),
	"gue":            netip.MustParseAddr("192.0.2.100"),
	"l2dsr6":         netip.MustParseAddr("2001:db8::100"),
	"ipip6":          netip.MustParseAddr("2001:db8::100"),
	"gue6":           netip.MustParseAddr("2001:db8::100"),
}

// Run benchmarks every method: Pairs times dsrlb then testpmd, alternately.
func Run(ctx context.Context, c BenchConfig) (*Report, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	rep := &Report{Time: time.Now().UTC(), Config: c}
	rep.CPUModel, rep.CPUMHz = cpuInfo(c.WorkerCPU)
	for _, m := range c.Methods {
		res, err := runMethod(ctx, &c, m, rep.CPUMHz)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", m, err)
		}
		rep.Results = append(rep.Results, *res)
	}
	return rep, nil
}

func runMethod(ctx context.Context, c *BenchConfig, method string, mhz float64) (*MethodResult, error) {
	pcap := filepath.Join(c.Dir, fmt.Sprintf("%s-%s.pcap", method, c.Sizes))
	f, err := os.Create(pcap)
	if err != nil {
		return nil, err
	}
	gen := GenConfig{Flows: c.Flows, Packets: c.Packets, VIP: methodVIP[method], Sizes: c.Sizes}
	if method == floodCase {
		gen.Flows, gen.SYNFlood = floodFlows, floodFraction
	}
	n, err := WritePcap(f, gen)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// The pcap PMD keeps the whole capture in mbufs of the queue's pool.
	mbufs := 1
	for mbufs < n+32768 {
		mbufs <<= 1
	}
	mbufs--
	memMB := mbufs*2304/(1<<20) + 512

	res := &MethodResult{Method: method, Sizes: c.Sizes}
	var fwd, rx float64
	var ct map[string]float64 // sums over the pairs
	for pair := 0; pair < c.Pairs; pair++ {
		d, frac, deltas, err := runDsrlb(ctx, c, method, pcap, mbufs, memMB)
		if err != nil {
			return nil, err
		}
		fwd += frac
		rx++
		if ct == nil {
			ct = map[string]float64{}
		}
		for k, v := range deltas {
			ct[k] += v
		}
		tp, err := runTestpmd(ctx, c, pcap, mbufs, memMB)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(c.Log, "%s pair %d: dsrlb %.2f Mpps, testpmd %.2f Mpps, ratio %.3f\n", method, pair+1, d, tp, d/tp)
		res.Dsrlb = append(res.Dsrlb, d)
		res.Testpmd = append(res.Testpmd, tp)
		res.PairRatios = append(res.PairRatios, d/tp)
	}
	res.ForwardFrac = fwd / rx
	for k := range ct {
		ct[k] /= rx
	}
	if lookups := ct["conntrack_hits"] + ct["conntrack_misses"]; lookups > 0 {
		res.CTHitRate = ct["conntrack_hits"] / lookups
	}
	res.CTMissesPerSec, res.CTFullPerSec, res.CTUntrackedPerSec = ct["conntrack_misses"], ct["conntrack_full"], ct["conntrack_untracked"]
	res.CTFullEstablishedPerSec = ct["conntrack_full_established"]
	if method == floodCase {
		res.FloodFraction, res.ConntrackEntries = floodFraction, floodEntries
	}
	res.DsrlbMedian, res.DsrlbMin, res.DsrlbMax = stats(res.Dsrlb)
	res.TestpmdMed, res.TestpmdMin, res.TestpmdMax = stats(res.Testpmd)
	if res.DsrlbMedian > 0 {
		res.NsPerPkt = 1e3 / res.DsrlbMedian
		res.CyclesPkt = res.NsPerPkt * mhz / 1e3
	}
	if res.TestpmdMed > 0 {
		res.TpNsPerPkt = 1e3 / res.TestpmdMed
		res.Ratio = res.DsrlbMedian / res.TestpmdMed
	}
	return res, nil
}

func stats(v []float64) (median, lo, hi float64) {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0, 0, 0
	}
	median = s[len(s)/2]
	if len(s)%2 == 0 {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return median, s[0], s[len(s)-1]
}

// methodKeys are the service keys a method needs.
var methodKeys = map[string]string{"dscp": "dscp = 10"}

// The SYN flood case: half the packets are flood SYNs (each a new flow
// within a turn of the capture), the other half 4000 established flows,
// through a connection table of 65536 entries (16384 buckets): the
// flood's 65536 new flows per turn keep every bucket full. 4000 flows
// leave no bucket with five of them, so any eviction of an established
// flow would be the flood's.
const (
	floodCase     = "l2dsr-synflood"
	floodFraction = 0.5
	floodFlows    = 4000
	floodEntries  = 65536
)

// dsrlbConfig is the data plane's configuration for a benchmark: the
// capture in, a null device out, two real servers with static MACs behind
// the null device.
func dsrlbConfig(c *BenchConfig, method, pcap string, mbufs, memMB int) string {
	rs1, rs2 := "192.0.2.21", "192.0.2.22"
	vip := methodVIP[method]
	keys, dpKeys := methodKeys[method], ""
	switch m, sched, ok := strings.Cut(method, "-"); {
	case method == floodCase:
		method, dpKeys = m, fmt.Sprintf("conntrack_entries = %d\n", floodEntries)
	case ok:
		method, keys = m, fmt.Sprintf("scheduler = %q", sched)
	}
	if vip.Is6() {
		rs1, rs2 = "2001:db8::21", "2001:db8::22"
		method = strings.TrimSuffix(method, "6")
	}
	return fmt.Sprintf(`[dataplane]
workers = [%d]
main_cpu = %d
eal_args = ["--no-huge", "-m", "%d", "--no-shconf", "--log-level=lib.eal:warning"]
address = "192.0.2.10/24"
address6 = "2001:db8::10/64"
mbufs = %d
burst_size = %d
stats_interval = "500ms"
shm = %q
%[13]s
[[dataplane.port]]
name = "in"
device = "net_pcap0,rx_pcap=%[7]s,infinite_rx=1"

[[dataplane.port]]
name = "out"
device = "net_null0,no-rx=1"

[[dataplane.neighbor]]
address = %[11]q
mac = "02:00:00:00:00:21"
port = "out"

[[dataplane.neighbor]]
address = %[12]q
mac = "02:00:00:00:00:22"
port = "out"

[[service]]
name = "bench"
vip = %[8]q
protocol = "tcp"
port = 80
method = %[9]q
%[10]s
  [[service.backend]]
  address = %[11]q

  [[service.backend]]
  address = %[12]q
`, c.WorkerCPU, c.MainCPU, memMB, mbufs, c.Burst, filepath.Join(c.Dir, "bench.shm"), pcap, vip, method, keys, rs1, rs2, dpKeys)
}

// runDsrlb runs the data plane and measures its received-packet rate from
// its own counter log lines inside the window after the warm-up.
func runDsrlb(ctx context.Context, c *BenchConfig, method, pcap string, mbufs, memMB int) (mpps, fwdFrac float64, deltas map[string]float64, err error) {
	cfgPath := filepath.Join(c.Dir, "dsrlb-bench.toml")
	if err := os.WriteFile(cfgPath, []byte(dsrlbConfig(c, method, pcap, mbufs, memMB)), 0o644); err != nil {
		return 0, 0, nil, err
	}
	logPath := filepath.Join(c.Dir, "dsrlb-bench.log")
	m := &dsrlbMeter{warmup: c.Warmup, duration: c.Duration}
	out, err := runMeasured(ctx, c.hangAfter(), logPath, m, c.Dataplane, "-c", cfgPath)
	mpps, fwdFrac, rerr := m.result()
	if err := judge(err, rerr, errDsrlbNoPacket, logPath, out); err != nil {
		return 0, 0, nil, err
	}
	return mpps, fwdFrac, m.deltas(), nil
}

// runTestpmd runs dpdk-testpmd in macswap mode on the same CPU, devices and
// capture, and averages port 0's receive rate over the samples after the
// warm-up.
func runTestpmd(ctx context.Context, c *BenchConfig, pcap string, mbufs, memMB int) (float64, error) {
	logPath := filepath.Join(c.Dir, "testpmd-bench.log")
	m := &testpmdMeter{warmup: c.Warmup, duration: c.Duration}
	out, err := runMeasured(ctx, c.hangAfter(), logPath, m, c.Testpmd,
		"-l", fmt.Sprintf("%d,%d", c.MainCPU, c.WorkerCPU), "--no-huge", "-m", strconv.Itoa(memMB), "--no-shconf", "--no-pci",
		"--log-level=lib.eal:warning",
		"--vdev", "net_pcap0,rx_pcap="+pcap+",infinite_rx=1", "--vdev", "net_null0,no-rx=1",
		"--", "--forward-mode=macswap", "--nb-cores=1", "--total-num-mbufs="+strconv.Itoa(mbufs),
		"--stats-period=1", "--burst="+strconv.Itoa(c.Burst), "--no-lsc-interrupt")
	mpps, rerr := m.result()
	if err := judge(err, rerr, errTestpmdNoPacket, logPath, out); err != nil {
		return 0, err
	}
	return mpps, nil
}

// cpuInfo reads the model name and the current clock of cpu.
func cpuInfo(cpu int) (string, float64) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "", 0
	}
	var model string
	var mhz float64
	cur := -1
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			cur, _ = strconv.Atoi(v)
		case "model name":
			if cur == cpu {
				model = v
			}
		case "cpu MHz":
			if cur == cpu {
				mhz, _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return model, mhz
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Print writes the human-readable table.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "CPU: %s @ %.0f MHz; worker CPU %d; capture: %d flows, %d packets, %s frames; burst %d for both\n",
		r.CPUModel, r.CPUMHz, r.Config.WorkerCPU, r.Config.Flows, r.Config.Packets, r.Config.Sizes, r.Config.Burst)
	fmt.Fprintf(w, "%-14s %8s %8s %8s %8s %8s %8s %8s %8s %7s %7s\n",
		"method", "dsrlb", "min", "max", "ns/pkt", "cyc/pkt", "testpmd", "min", "max", "ratio", "ct hit")
	for _, m := range r.Results {
		fmt.Fprintf(w, "%-14s %8.2f %8.2f %8.2f %8.1f %8.0f %8.2f %8.2f %8.2f %7.3f %6.1f%%\n",
			m.Method, m.DsrlbMedian, m.DsrlbMin, m.DsrlbMax, m.NsPerPkt, m.CyclesPkt,
			m.TestpmdMed, m.TestpmdMin, m.TestpmdMax, m.Ratio, 100*m.CTHitRate)
	}
	fmt.Fprintln(w, "(Mpps medians over A/B pairs; ratio = dsrlb median / testpmd macswap median, same CPU, vdevs and capture;")
	fmt.Fprintln(w, " ct hit = connection-tracking lookups that found their flow)")
	for _, m := range r.Results {
		if m.FloodFraction > 0 {
			fmt.Fprintf(w, "%s: %.0f%% of the packets are flood SYNs through %d entries with %d established flows: %.2f Mpps forwarded, half-open entries evicted %.0f/s, SYNs untracked %.0f/s, established flows evicted %.0f/s\n",
				m.Method, 100*m.FloodFraction, m.ConntrackEntries, floodFlows, m.DsrlbMedian*m.ForwardFrac,
				m.CTFullPerSec-m.CTFullEstablishedPerSec, m.CTUntrackedPerSec, m.CTFullEstablishedPerSec)
		}
	}
}
