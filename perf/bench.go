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
// dpdk-testpmd (macswap) take turns on the same CPUs, with the same
// virtual devices (net_pcap replaying a capture without end, one per
// worker queue, net_null swallowing the output) and the same captures.
type BenchConfig struct {
	Dataplane string // path of dsrlb-dataplane
	Testpmd   string // path of dpdk-testpmd, default "dpdk-testpmd"
	// Cases to measure; when empty, every method of Methods in every
	// memory mode of Memory with every worker count of Workers, at Flows.
	Cases    []Case
	Methods  []string      // forwarding methods, default ["l2dsr"]
	Memory   []string      // MemoryHuge (default) and/or MemoryNoHuge
	Workers  []int         // default [1]
	Sizes    Sizes         // frame sizes, default Size64
	Flows    int           // default 100000
	Packets  int           // packets per capture at least, default 131072
	Pairs    int           // dsrlb/testpmd pairs per case, default 3
	Burst    int           // packets per burst for both programs, default 32
	Warmup   time.Duration // before measuring, default 2s
	Duration time.Duration // measuring window, default 5s
	MainCPU  int           // default 0
	// WorkerCPU is the first worker's CPU (default 1); a second worker
	// shares MainCPU's.
	WorkerCPU int
	Dir       string    // scratch directory
	Log       io.Writer `json:"-"` // progress lines; nil for none
}

// Memory modes of a case.
const (
	// MemoryHuge: both programs on 2 MiB hugepages (--in-memory), which
	// the benchmark reserves for the run and gives back.
	MemoryHuge = "huge"
	// MemoryNoHuge: both programs on ordinary pages (--no-huge).
	MemoryNoHuge = "nohuge"
)

// Case is one measurement: a method (or a scheduler or flood variant of
// l2dsr), a memory mode, a number of workers and of flows.
type Case struct {
	Method  string `json:"method"`
	Memory  string `json:"memory"`
	Workers int    `json:"workers"`
	Flows   int    `json:"flows"`
}

func (c Case) String() string {
	flows := strconv.Itoa(c.Flows)
	switch {
	case c.Flows%1000000 == 0:
		flows = strconv.Itoa(c.Flows/1000000) + "M"
	case c.Flows%1000 == 0:
		flows = strconv.Itoa(c.Flows/1000) + "k"
	}
	return fmt.Sprintf("%s %s %dw %s", c.Method, flows, c.Workers, c.Memory)
}

// ParseCases reads cases written METHOD/MEMORY/WORKERS/FLOWS, separated
// by commas (e.g. "l2dsr/huge/1/100000,l2dsr/nohuge/2/4096").
func ParseCases(s string) ([]Case, error) {
	var out []Case
	for _, f := range strings.Split(s, ",") {
		p := strings.Split(strings.TrimSpace(f), "/")
		if len(p) != 4 {
			return nil, fmt.Errorf("case %q: want METHOD/MEMORY/WORKERS/FLOWS", f)
		}
		w, err1 := strconv.Atoi(p[2])
		n, err2 := strconv.Atoi(p[3])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("case %q: workers and flows are numbers", f)
		}
		out = append(out, Case{Method: p[0], Memory: p[1], Workers: w, Flows: n})
	}
	return out, nil
}

// DefaultCases are `make bench`'s cases: every row of the performance
// goals (README "Performance").
func DefaultCases() []Case {
	c := func(m, mem string, w, flows int) Case { return Case{m, mem, w, flows} }
	out := []Case{
		c("l2dsr", MemoryHuge, 1, 100000),
		c("l2dsr", MemoryHuge, 1, 4096),
		c("l2dsr", MemoryNoHuge, 1, 100000),
		c("l2dsr", MemoryHuge, 1, 1000000),
		c("l2dsr", MemoryHuge, 2, 100000),
	}
	for _, m := range []string{"dscp", "ipip", "gre", "gue", "l2dsr6", "ipip6", "gue6", "l2dsr-wrr", "l2dsr-lc", floodCase} {
		out = append(out, c(m, MemoryHuge, 1, 100000))
	}
	return out
}

// MethodResult is the outcome of one case.
type MethodResult struct {
	Case
	Method      string    `json:"method"`
	Sizes       Sizes     `json:"sizes"`
	Packets     int       `json:"packets"`   // in all captures
	MbufSize    int       `json:"mbuf_size"` // buffer size of both programs' pools
	Error       string    `json:"error,omitempty"`
	Dsrlb       []float64 `json:"dsrlb_mpps"`
	Testpmd     []float64 `json:"testpmd_mpps"`
	DsrlbMedian float64   `json:"dsrlb_median_mpps"`
	DsrlbMin    float64   `json:"dsrlb_min_mpps"`
	DsrlbMax    float64   `json:"dsrlb_max_mpps"`
	TestpmdMed  float64   `json:"testpmd_median_mpps"`
	TestpmdMin  float64   `json:"testpmd_min_mpps"`
	TestpmdMax  float64   `json:"testpmd_max_mpps"`
	NsPerPkt    float64   `json:"dsrlb_ns_per_packet"`
	CyclesPkt   float64   `json:"dsrlb_cycles_per_packet"` // per packet and worker
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
	ConntrackEntries int     `json:"conntrack_entries"`
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
	if len(c.Memory) == 0 {
		c.Memory = []string{MemoryHuge}
	}
	if len(c.Workers) == 0 {
		c.Workers = []int{1}
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
	if len(c.Cases) == 0 {
		for _, m := range c.Methods {
			for _, mem := range c.Memory {
				for _, w := range c.Workers {
					c.Cases = append(c.Cases, Case{Method: m, Memory: mem, Workers: w, Flows: c.Flows})
				}
			}
		}
	}
	for _, k := range c.Cases {
		if _, ok := methodVIP[k.Method]; !ok {
			return fmt.Errorf("method %q has no benchmark (have: l2dsr, dscp, ipip, gre, gue, l2dsr6, ipip6, gue6, l2dsr-wrr, l2dsr-lc, l2dsr-synflood)", k.Method)
		}
		if k.Memory != MemoryHuge && k.Memory != MemoryNoHuge {
			return fmt.Errorf("case %s: memory %q: want %q or %q", k, k.Memory, MemoryHuge, MemoryNoHuge)
		}
		if k.Workers < 1 || k.Workers > 2 {
			return fmt.Errorf("case %s: 1 or 2 workers (the main CPU and the worker CPU)", k)
		}
		if k.Flows < k.Workers || k.Flows > 1<<24 {
			return fmt.Errorf("case %s: flows out of range %d..16777216", k, k.Workers)
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

// Run benchmarks every case: Pairs times dsrlb then testpmd, alternately.
// A case that cannot run (memory, hugepages) is reported with its error
// and the others still run; the error returned names the failed cases.
func Run(ctx context.Context, c BenchConfig) (*Report, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	rep := &Report{Time: time.Now().UTC(), Config: c}
	rep.CPUModel, rep.CPUMHz = cpuInfo(c.WorkerCPU)
	plans := make([]*casePlan, len(c.Cases))
	hugeMB := 0
	for i, k := range c.Cases {
		plans[i] = planCase(&c, k)
		if k.Memory == MemoryHuge {
			hugeMB = max(hugeMB, plans[i].memMB)
		}
	}
	var hugeErr error
	if hugeMB > 0 {
		release, err := reserveHugepages(hugeMB, c.Log)
		if err != nil {
			hugeErr = err
			fmt.Fprintf(c.Log, "hugepage cases skipped: %v\n", err)
		} else {
			defer release()
		}
	}
	var failed []string
	for i, k := range c.Cases {
		var res *MethodResult
		var err error
		if k.Memory == MemoryHuge && hugeErr != nil {
			err = hugeErr
		} else {
			res, err = runCase(ctx, &c, plans[i], rep.CPUMHz)
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if err != nil {
			fmt.Fprintf(c.Log, "%s: %v\n", k, err)
			res = &MethodResult{Case: k, Method: k.Method, Sizes: c.Sizes, Error: err.Error()}
			failed = append(failed, k.String())
		}
		rep.Results = append(rep.Results, *res)
	}
	if len(failed) > 0 {
		return rep, fmt.Errorf("cases that did not run: %s", strings.Join(failed, "; "))
	}
	return rep, nil
}

// bigPoolMB is the largest pool of default-size buffers a case gets.
const bigPoolMB = 2048

// casePlan is what a case runs with: its captures (one per worker
// queue), the packet pool and memory for both programs, the connection
// table.
type casePlan struct {
	Case
	pcaps     []string
	gens      []GenConfig
	packets   int // in all captures
	mbufs     int
	mbufSize  int // data room with headroom, for both programs
	mtu       int // of the data plane's ports
	memMB     int
	ctEntries int // per worker
}

// planCase sizes a case's memory from its flows: the pcap PMD keeps each
// whole capture in mbufs of the queue's pool. Buffers are DPDK's default
// (2176 bytes, as a NIC's receive queue has them) unless the captures
// would need more than bigPoolMB of them: then 64-byte frames get
// buffers of 384 bytes (256 of data after the 128-byte headroom), in
// both programs (testpmd's --mbuf-size), so a million flows fit in a
// gigabyte.
func planCase(c *BenchConfig, k Case) *casePlan {
	p := &casePlan{Case: k, mbufSize: 2048 + 128, mtu: 1500}
	flows := k.Flows
	if k.Method == floodCase {
		flows = floodFlows
	}
	per := flows / k.Workers
	for q := range k.Workers {
		g := GenConfig{Flows: per, FlowOffset: q * per, Packets: max(c.Packets, per), VIP: methodVIP[k.Method], Sizes: c.Sizes}
		if k.Method == floodCase {
			g.SYNFlood = floodFraction
		}
		p.gens = append(p.gens, g)
		p.pcaps = append(p.pcaps, filepath.Join(c.Dir, fmt.Sprintf("%s-%s-%d-%dw-q%d.pcap", k.Method, c.Sizes, flows, k.Workers, q)))
		p.packets += g.Packets
	}
	p.mbufs = 1
	for p.mbufs < p.packets+32768*k.Workers {
		p.mbufs <<= 1
	}
	p.mbufs--
	// An mbuf is its 128-byte header, its data room and the mempool's
	// own 64 bytes; then the EAL's own needs.
	poolMB := func() int { return p.mbufs * (p.mbufSize + 192) / (1 << 20) }
	if poolMB() > bigPoolMB && c.Sizes == Size64 {
		p.mbufSize, p.mtu = 384, 200
	}
	p.memMB = poolMB() + 512
	p.ctEntries = 1 << 20
	for p.ctEntries < 4*per {
		p.ctEntries <<= 1
	}
	if k.Method == floodCase {
		p.ctEntries = floodEntries
	}
	return p
}

func runCase(ctx context.Context, c *BenchConfig, p *casePlan, mhz float64) (*MethodResult, error) {
	for q, path := range p.pcaps {
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		_, err = WritePcap(f, p.gens[q])
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		defer os.Remove(path)
	}
	k := p.Case
	res := &MethodResult{Case: k, Method: k.Method, Sizes: c.Sizes, Packets: p.packets, MbufSize: p.mbufSize, ConntrackEntries: p.ctEntries}
	var fwd, rx float64
	var ct map[string]float64 // sums over the pairs
	for pair := 0; pair < c.Pairs; pair++ {
		d, frac, deltas, err := runDsrlb(ctx, c, p)
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
		tp, err := runTestpmd(ctx, c, p)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(c.Log, "%s pair %d: dsrlb %.2f Mpps, testpmd %.2f Mpps, ratio %.3f\n", k, pair+1, d, tp, d/tp)
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
	if k.Method == floodCase {
		res.FloodFraction = floodFraction
	}
	res.DsrlbMedian, res.DsrlbMin, res.DsrlbMax = stats(res.Dsrlb)
	res.TestpmdMed, res.TestpmdMin, res.TestpmdMax = stats(res.Testpmd)
	if res.DsrlbMedian > 0 {
		res.NsPerPkt = 1e3 / res.DsrlbMedian
		res.CyclesPkt = res.NsPerPkt * mhz / 1e3 * float64(k.Workers)
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

// cpus are the case's worker CPUs: the worker CPU, and the main CPU too
// for a second worker (shared with the main lcore).
func (c *BenchConfig) cpus(workers int) []int {
	if workers == 1 {
		return []int{c.WorkerCPU}
	}
	return []int{c.MainCPU, c.WorkerCPU}
}

// ealMemory is the EAL's memory arguments of a case.
func (p *casePlan) ealMemory() []string {
	if p.Memory == MemoryHuge {
		return []string{"--in-memory", "-m", strconv.Itoa(p.memMB)}
	}
	return []string{"--no-huge", "-m", strconv.Itoa(p.memMB), "--no-shconf"}
}

// pcapDevice is the net_pcap device replaying the case's captures, a
// receive queue each.
func (p *casePlan) pcapDevice() string {
	d := "net_pcap0"
	for _, f := range p.pcaps {
		d += ",rx_pcap=" + f
	}
	return d + ",infinite_rx=1"
}

// dsrlbConfig is the data plane's configuration for a case: the captures
// in, a null device out, two real servers with static MACs behind the
// null device.
func dsrlbConfig(c *BenchConfig, p *casePlan) string {
	method := p.Method
	rs1, rs2 := "192.0.2.21", "192.0.2.22"
	vip := methodVIP[method]
	keys := methodKeys[method]
	if m, sched, ok := strings.Cut(method, "-"); ok {
		method = m
		if p.Method != floodCase {
			keys = fmt.Sprintf("scheduler = %q", sched)
		}
	}
	if vip.Is6() {
		rs1, rs2 = "2001:db8::21", "2001:db8::22"
		method = strings.TrimSuffix(method, "6")
	}
	var workers []string
	for _, cpu := range c.cpus(p.Workers) {
		workers = append(workers, strconv.Itoa(cpu))
	}
	eal, _ := json.Marshal(append(p.ealMemory(), "--log-level=lib.eal:warning"))
	return fmt.Sprintf(`[dataplane]
workers = [%s]
main_cpu = %d
share_main_cpu = %t
eal_args = %s
address = "192.0.2.10/24"
address6 = "2001:db8::10/64"
mbufs = %d
mbuf_size = %d
burst_size = %d
stats_interval = "500ms"
shm = %q
conntrack_entries = %d

[[dataplane.port]]
name = "in"
device = %q
mtu = %d

[[dataplane.port]]
name = "out"
device = "net_null0,no-rx=1"
mtu = %[11]d

[[dataplane.neighbor]]
address = %[15]q
mac = "02:00:00:00:00:21"
port = "out"

[[dataplane.neighbor]]
address = %[16]q
mac = "02:00:00:00:00:22"
port = "out"

[[service]]
name = "bench"
vip = %[12]q
protocol = "tcp"
port = 80
method = %[13]q
%[14]s
  [[service.backend]]
  address = %[15]q

  [[service.backend]]
  address = %[16]q
`, strings.Join(workers, ", "), c.MainCPU, p.Workers > 1, eal, p.mbufs, p.mbufSize, c.Burst, filepath.Join(c.Dir, "bench.shm"),
		p.ctEntries, p.pcapDevice(), p.mtu, vip, method, keys, rs1, rs2)
}

// runDsrlb runs the data plane and measures its received-packet rate from
// its own counter log lines inside the window after the warm-up.
func runDsrlb(ctx context.Context, c *BenchConfig, p *casePlan) (mpps, fwdFrac float64, deltas map[string]float64, err error) {
	cfgPath := filepath.Join(c.Dir, "dsrlb-bench.toml")
	if err := os.WriteFile(cfgPath, []byte(dsrlbConfig(c, p)), 0o644); err != nil {
		return 0, 0, nil, err
	}
	logPath := filepath.Join(c.Dir, "dsrlb-bench.log")
	m := &dsrlbMeter{warmup: c.Warmup, duration: c.Duration}
	out, err := runMeasured(ctx, c.hangAfter(p.packets), logPath, m, c.Dataplane, "-c", cfgPath)
	mpps, fwdFrac, rerr := m.result()
	if err := judge(err, rerr, errDsrlbNoPacket, logPath, out); err != nil {
		return 0, 0, nil, err
	}
	return mpps, fwdFrac, m.deltas(), nil
}

// runTestpmd runs dpdk-testpmd in macswap mode on the same CPUs, devices,
// captures and memory, and averages port 0's receive rate over the
// samples after the warm-up.
func runTestpmd(ctx context.Context, c *BenchConfig, p *casePlan) (float64, error) {
	logPath := filepath.Join(c.Dir, "testpmd-bench.log")
	m := &testpmdMeter{warmup: c.Warmup, duration: c.Duration}
	args := []string{"-l", fmt.Sprintf("%d,%d", c.MainCPU, c.WorkerCPU)}
	if p.Workers > 1 {
		// The main lcore and the first forwarding lcore share the main
		// CPU, as dsrlb's main lcore and first worker do.
		args = []string{"--lcores", fmt.Sprintf("0@%d,1@%d,2@%d", c.MainCPU, c.MainCPU, c.WorkerCPU)}
	}
	args = append(args, p.ealMemory()...)
	args = append(args, "--no-pci", "--log-level=lib.eal:warning",
		"--vdev", p.pcapDevice(), "--vdev", "net_null0,no-rx=1",
		"--", "--forward-mode=macswap", "--nb-cores="+strconv.Itoa(p.Workers),
		"--rxq="+strconv.Itoa(p.Workers), "--txq="+strconv.Itoa(p.Workers),
		"--total-num-mbufs="+strconv.Itoa(p.mbufs), "--mbuf-size="+strconv.Itoa(p.mbufSize),
		"--stats-period=1", "--burst="+strconv.Itoa(c.Burst), "--no-lsc-interrupt")
	out, err := runMeasured(ctx, c.hangAfter(p.packets), logPath, m, c.Testpmd, args...)
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
	fmt.Fprintf(w, "CPU: %s @ %.0f MHz; worker CPU %d (a second worker shares main CPU %d); %s frames; burst %d for both\n",
		r.CPUModel, r.CPUMHz, r.Config.WorkerCPU, r.Config.MainCPU, r.Config.Sizes, r.Config.Burst)
	fmt.Fprintf(w, "%-28s %7s %7s %7s %7s %7s %7s %7s %7s %6s %6s %7s %5s\n",
		"case", "dsrlb", "min", "max", "ns/pkt", "cyc/pkt", "testpmd", "min", "max", "ratio", "spread", "ct hit", "buf")
	for _, m := range r.Results {
		if m.Error != "" {
			fmt.Fprintf(w, "%-28s did not run: %s\n", m.Case, m.Error)
			continue
		}
		lo, hi := m.PairRatios[0], m.PairRatios[0]
		for _, v := range m.PairRatios {
			lo, hi = min(lo, v), max(hi, v)
		}
		fmt.Fprintf(w, "%-28s %7.2f %7.2f %7.2f %7.1f %7.0f %7.2f %7.2f %7.2f %6.3f %6.3f %6.1f%% %5d\n",
			m.Case, m.DsrlbMedian, m.DsrlbMin, m.DsrlbMax, m.NsPerPkt, m.CyclesPkt,
			m.TestpmdMed, m.TestpmdMin, m.TestpmdMax, m.Ratio, hi-lo, 100*m.CTHitRate, m.MbufSize)
	}
	fmt.Fprintln(w, "(Mpps medians over A/B pairs; ratio = dsrlb median / testpmd macswap median, same CPUs, vdevs, captures and memory;")
	fmt.Fprintln(w, " spread = highest minus lowest pair ratio; cyc/pkt per worker; ct hit = connection-tracking lookups that found their flow;")
	fmt.Fprintln(w, " buf = packet buffer size, headroom included, of both programs)")
	one := map[string]float64{}
	for _, m := range r.Results {
		if m.Error == "" && m.Workers == 1 {
			one[fmt.Sprint(m.Method, m.Memory, m.Flows)] = m.DsrlbMedian
		}
	}
	for _, m := range r.Results {
		if b := one[fmt.Sprint(m.Method, m.Memory, m.Flows)]; m.Error == "" && m.Workers > 1 && b > 0 {
			fmt.Fprintf(w, "%s: %.2fx the 1-worker rate\n", m.Case, m.DsrlbMedian/b)
		}
	}
	for _, m := range r.Results {
		if m.FloodFraction > 0 {
			fmt.Fprintf(w, "%s: %.0f%% of the packets are flood SYNs through %d entries with %d established flows: %.2f Mpps forwarded, half-open entries evicted %.0f/s, SYNs untracked %.0f/s, established flows evicted %.0f/s\n",
				m.Case, 100*m.FloodFraction, m.ConntrackEntries, floodFlows, m.DsrlbMedian*m.ForwardFrac,
				m.CTFullPerSec-m.CTFullEstablishedPerSec, m.CTUntrackedPerSec, m.CTFullEstablishedPerSec)
		}
	}
}
