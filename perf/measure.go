package perf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A meter follows a benchmarked program's output line by line and knows
// when the measuring window is complete, so the program can be stopped.
type meter interface {
	feed(line string)
	complete() bool
}

// counterPoint is one of the data plane's periodic counter log lines.
type counterPoint struct {
	t       time.Time
	rx, fwd float64
	// every counter of the line by name (a counter that is zero is not
	// logged)
	vals map[string]float64
}

// The line starts with rx_packets (hw/dataplane TestCounterLogLine keeps it
// first) and lists forward when it is not zero.
var counterLine = regexp.MustCompile(`time=(\S+) level=INFO msg=counters rx_packets=(\d+) .* forward=(\d+)`)

// parseCounterLine reads a data plane counter log line.
func parseCounterLine(line string) (counterPoint, bool) {
	m := counterLine.FindStringSubmatch(line)
	if m == nil {
		return counterPoint{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		return counterPoint{}, false
	}
	rx, _ := strconv.ParseFloat(m[2], 64)
	fwd, _ := strconv.ParseFloat(m[3], 64)
	p := counterPoint{t: t, rx: rx, fwd: fwd, vals: map[string]float64{}}
	for _, kv := range counterValue.FindAllStringSubmatch(line, -1) {
		p.vals[kv[1]], _ = strconv.ParseFloat(kv[2], 64)
	}
	return p, true
}

var counterValue = regexp.MustCompile(` ([a-z0-9_]+)=(\d+)`)

// dsrlbWindow finds the measuring window in the counter points: it starts
// at the first point a warm-up after the first point with packets and ends
// at the last point at most a duration after its start; if the data plane
// counted nothing new by then (its worker was starved on a loaded
// machine), at the first later point that shows packets, so the rate is
// measured over the time it really took. ok is false until the window's
// end has been seen; first is -1 while no point has packets.
func dsrlbWindow(pts []counterPoint, warmup, duration time.Duration) (first, i, j int, ok bool) {
	first = slices.IndexFunc(pts, func(p counterPoint) bool { return p.rx > 0 })
	if first < 0 {
		return -1, 0, 0, false
	}
	start := pts[first].t.Add(warmup)
	i = slices.IndexFunc(pts, func(p counterPoint) bool { return !p.t.Before(start) })
	if i < 0 {
		return first, 0, 0, false
	}
	end := pts[i].t.Add(duration)
	if pts[len(pts)-1].t.Before(end) {
		return first, i, 0, false
	}
	j = i
	for j+1 < len(pts) && !pts[j+1].t.After(end) {
		j++
	}
	for pts[j].rx <= pts[i].rx {
		if j+1 == len(pts) {
			return first, i, 0, false
		}
		j++
	}
	return first, i, j, true
}

// dsrlbMeter measures the data plane's receive rate from its counter lines.
type dsrlbMeter struct {
	warmup, duration time.Duration
	pts              []counterPoint
	done             bool
}

func (m *dsrlbMeter) feed(line string) {
	if p, ok := parseCounterLine(line); ok {
		m.pts = append(m.pts, p)
		_, _, _, m.done = dsrlbWindow(m.pts, m.warmup, m.duration)
	}
}

func (m *dsrlbMeter) complete() bool { return m.done }

// deltas are the counters' growth per second over the measuring window
// (call after result succeeded).
func (m *dsrlbMeter) deltas() map[string]float64 {
	_, i, j, ok := dsrlbWindow(m.pts, m.warmup, m.duration)
	if !ok {
		return nil
	}
	a, b := m.pts[i], m.pts[j]
	secs := b.t.Sub(a.t).Seconds()
	out := map[string]float64{}
	for k, v := range b.vals {
		out[k] = (v - a.vals[k]) / secs
	}
	return out
}

// result is the receive rate in Mpps and the forwarded fraction over the
// window.
func (m *dsrlbMeter) result() (mpps, fwdFrac float64, err error) {
	first, i, j, ok := dsrlbWindow(m.pts, m.warmup, m.duration)
	if first < 0 {
		return 0, 0, errDsrlbNoPacket
	}
	if !ok {
		return 0, 0, fmt.Errorf("measuring window incomplete after %d counter lines", len(m.pts))
	}
	// dsrlbWindow ends the window on a line with more packets than its
	// start; only the time stamps can still be unusable.
	a, b := m.pts[i], m.pts[j]
	secs := b.t.Sub(a.t).Seconds()
	if secs <= 0 {
		return 0, 0, fmt.Errorf("the window's counter lines are stamped %s and %s", a.t.Format(time.RFC3339Nano), b.t.Format(time.RFC3339Nano))
	}
	return (b.rx - a.rx) / secs / 1e6, (b.fwd - a.fwd) / (b.rx - a.rx), nil
}

var ppsLine = regexp.MustCompile(`Rx-pps:\s+(\d+)`)

// testpmdWindow is the window in testpmd's one-second Rx-pps samples:
// samples[from:to] follow the first non-zero sample (a partial second) and
// the warm-up. ok is false until all of them have arrived; first is -1
// while every sample is zero.
func testpmdWindow(samples []float64, warmup, duration time.Duration) (first, from, to int, ok bool) {
	first = slices.IndexFunc(samples, func(v float64) bool { return v > 0 })
	if first < 0 {
		return -1, 0, 0, false
	}
	from = first + 1 + int(warmup.Seconds())
	to = from + int(duration.Seconds())
	return first, from, to, to > from && len(samples) >= to
}

// testpmdMeter measures port 0's receive rate from testpmd's statistics
// blocks (--stats-period=1), which list port 0 first.
type testpmdMeter struct {
	warmup, duration time.Duration
	port0            bool
	samples          []float64
	done             bool
}

func (m *testpmdMeter) feed(line string) {
	if strings.Contains(line, "NIC statistics for port") {
		m.port0 = strings.Contains(line, "port 0 ")
		return
	}
	if p := ppsLine.FindStringSubmatch(line); p != nil && m.port0 {
		v, _ := strconv.ParseFloat(p[1], 64)
		m.samples = append(m.samples, v)
		_, _, _, m.done = testpmdWindow(m.samples, m.warmup, m.duration)
	}
}

func (m *testpmdMeter) complete() bool { return m.done }

// result is the mean receive rate in Mpps over the window.
func (m *testpmdMeter) result() (float64, error) {
	first, from, to, ok := testpmdWindow(m.samples, m.warmup, m.duration)
	if first < 0 {
		return 0, errTestpmdNoPacket
	}
	if !ok {
		return 0, fmt.Errorf("testpmd printed %d rate samples, too few for the window", len(m.samples))
	}
	var sum float64
	for _, v := range m.samples[from:to] {
		sum += v
	}
	return sum / float64(to-from) / 1e6, nil
}

const (
	tailLines = 20
	maxLine   = 64 << 10 // longer output without a newline counts as a line
)

// meterWriter takes a program's combined output: it copies it to the log
// and feeds it line by line to a meter, and closes complete once the
// meter's window is complete. It also keeps the last lines for errors.
type meterWriter struct {
	log      io.Writer
	logErr   error
	m        meter
	partial  []byte
	tail     []string
	complete chan struct{}
}

func newMeterWriter(log io.Writer, m meter) *meterWriter {
	return &meterWriter{log: log, m: m, complete: make(chan struct{})}
}

func (w *meterWriter) Write(p []byte) (int, error) {
	n := len(p)
	if w.logErr == nil {
		_, w.logErr = w.log.Write(p)
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			k := min(len(p), maxLine-len(w.partial))
			w.partial = append(w.partial, p[:k]...)
			p = p[k:]
			if len(w.partial) == maxLine {
				w.flush()
			}
			continue
		}
		w.partial = append(w.partial, p[:i]...)
		w.flush()
		p = p[i+1:]
	}
	return n, nil
}

// flush passes the pending partial line on, if any.
func (w *meterWriter) flush() {
	line := strings.TrimSuffix(string(w.partial), "\r")
	w.partial = w.partial[:0]
	w.tail = append(w.tail, line)
	if len(w.tail) > tailLines {
		w.tail = w.tail[1:]
	}
	w.m.feed(line)
	if w.m.complete() {
		select {
		case <-w.complete:
		default:
			close(w.complete)
		}
	}
}

func (w *meterWriter) lastLines() string { return strings.Join(w.tail, "\n") }

var (
	// errNoWindow is a run that never completed its measuring window.
	errNoWindow = errors.New("no complete measuring window")
	// Programs that handled no packet at all.
	errDsrlbNoPacket   = errors.New("data plane counted no packet")
	errTestpmdNoPacket = errors.New("testpmd forwarded nothing")
)

// stopWait bounds a program's stop after SIGINT (tearing EAL down takes
// seconds on a busy machine) and how long its output may stay open after
// it ended.
const stopWait = time.Minute

// hangAfter bounds a benchmark run against a real hang: two minutes for
// start-up (EAL init), time for loading the captures' packets into mbufs,
// and twice the warm-up and measuring window.
func (c *BenchConfig) hangAfter(packets int) time.Duration {
	return 2*time.Minute + time.Duration(packets)*100*time.Microsecond + 2*(c.Warmup+c.Duration)
}

// runMeasured runs a program and feeds its combined output to m (and to
// logPath) as it arrives; it stops the program with SIGINT as soon as m's
// window is complete. A program that exits on its own before is an error,
// and so is a window not complete within limit (errNoWindow). It returns
// the last lines of the output.
func runMeasured(ctx context.Context, limit time.Duration, logPath string, m meter, bin string, args ...string) (string, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer f.Close()
	w := newMeterWriter(f, m)
	cmd := exec.Command(bin, args...)
	cmd.Stdout = w // one pipe for both, the writer sees them in order
	cmd.Stderr = w
	cmd.WaitDelay = stopWait
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	kill := func() {
		_ = cmd.Process.Kill()
		<-done
	}
	hang := time.NewTimer(limit)
	defer hang.Stop()
	var runErr error
	select {
	case <-w.complete:
		_ = cmd.Process.Signal(syscall.SIGINT)
		stop := time.NewTimer(stopWait)
		defer stop.Stop()
		select {
		case runErr = <-done:
			// testpmd exits non-zero on SIGINT in some versions; the
			// window is complete, that counts.
			var ee *exec.ExitError
			if errors.As(runErr, &ee) {
				runErr = nil
			}
		case <-stop.C:
			kill()
			runErr = fmt.Errorf("did not stop within %v of SIGINT", stopWait)
		case <-ctx.Done():
			kill()
			return "", ctx.Err()
		}
	case runErr = <-done:
		if ctx.Err() != nil { // Ctrl-C reached the program too
			return "", ctx.Err()
		}
		if runErr == nil {
			runErr = errors.New("exit status 0")
		}
		runErr = fmt.Errorf("exited early: %v", runErr)
	case <-hang.C:
		kill()
		runErr = fmt.Errorf("%w within %v", errNoWindow, limit)
	case <-ctx.Done():
		kill()
		return "", ctx.Err()
	}
	// Wait has returned: the output is all written.
	if len(w.partial) > 0 {
		w.flush()
	}
	if runErr == nil && w.logErr != nil {
		runErr = fmt.Errorf("log: %w", w.logErr)
	}
	if runErr != nil {
		return w.lastLines(), fmt.Errorf("%s: %w; log %s:\n%s", filepath.Base(bin), runErr, logPath, w.lastLines())
	}
	return w.lastLines(), nil
}

// judge combines a run's error with its meter's result error: a program
// that never handled a packet (noPacket) says so, also when it ran into
// the deadline; other run errors come first.
func judge(runErr, resErr, noPacket error, logPath, out string) error {
	if runErr != nil && !(errors.Is(runErr, errNoWindow) && errors.Is(resErr, noPacket)) {
		return runErr
	}
	if resErr != nil {
		return fmt.Errorf("%w; log %s:\n%s", resErr, logPath, out)
	}
	return nil
}
