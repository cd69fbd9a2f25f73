package ctrl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"dsrlb/conf"
	"dsrlb/ctrl/health"
)

// dsrlbctl doctor on the balancer: the "probe" request runs, once and at
// once, every real server's own-address check and a probe of its DSR
// path, and reports per real server what works and what does not.

// ProbeReport is one real server's result.
type ProbeReport struct {
	Service string `json:"service"`
	VIP     string `json:"vip"`
	Port    uint16 `json:"port"`
	Backend string `json:"backend"`
	Method  string `json:"method"`
	// Own is the real server's own-address check (its configured one, or
	// a TCP connect to the service's port); nil when there is none to
	// run (a UDP service without a check).
	Own *CheckResult `json:"own_address,omitempty"`
	// DSRPath is the probe through the DSR path (the service's
	// [service.dsr_check], or a TCP connect to the VIP); nil when it was
	// not probed, and NotProbed says why.
	DSRPath   *CheckResult `json:"dsr_path,omitempty"`
	NotProbed string       `json:"not_probed,omitempty"`
	// RealServerDoctor is the command that inspects the real server's
	// side of its method on the real server itself (the interface facing
	// the balancer left to fill in).
	RealServerDoctor string `json:"real_server_doctor"`
}

// OK reports whether both checks ran and passed.
func (r *ProbeReport) OK() bool {
	return r.Own != nil && r.Own.OK && r.DSRPath != nil && r.DSRPath.OK
}

// realServerDoctor is the dsrlbctl doctor command for real server b of s.
func realServerDoctor(s *conf.Service, b *conf.Backend) string {
	m := s.EffectiveMethod(b)
	cmd := "dsrlbctl doctor -method " + m.String() + " -iface IFACE"
	switch {
	case m == conf.MethodDSCP:
		cmd += fmt.Sprintf(" -dscp %s=%d -self %s", s.VIP, s.DSCP, b.Address)
	case m.Tunnels():
		cmd += fmt.Sprintf(" -vip %s -self %s", s.VIP, b.Address)
		if m == conf.MethodGUE {
			cmd += fmt.Sprintf(" -gue-port %d", s.GUEPort)
		}
	default:
		cmd += " -vip " + s.VIP.String()
	}
	if s.Port != 0 {
		cmd += fmt.Sprintf(" -port %d", s.Port)
	}
	if s.Protocol != conf.ProtoTCP {
		cmd += " -proto " + s.Protocol.String()
	}
	return cmd
}

// WriteProbes prints the reports for a terminal, a table per service and
// then, for every real server that is not OK, what it means and what to
// run. It returns whether every real server was probed and passed.
func WriteProbes(w io.Writer, reports []ProbeReport) (bool, error) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }
	result := func(c *CheckResult) string {
		switch {
		case c == nil:
			return "-"
		case c.OK:
			return fmt.Sprintf("ok (%s, %s)", c.Check, time.Duration(c.Seconds*float64(time.Second)).Round(time.Millisecond))
		}
		return "FAILED: " + c.Error
	}
	last, ok := "", true
	var advice []string
	for i := range reports {
		r := &reports[i]
		if r.Service != last {
			port := "all ports"
			if r.Port != 0 {
				port = fmt.Sprintf("port %d", r.Port)
			}
			p("\nservice %s: %s %s\n", r.Service, r.VIP, port)
			p("  REAL SERVER\tMETHOD\tOWN ADDRESS\tDSR PATH\n")
			last = r.Service
		}
		dsr := result(r.DSRPath)
		if r.DSRPath == nil {
			dsr = "not probed: " + r.NotProbed
		}
		p("  %s\t%s\t%s\t%s\n", r.Backend, r.Method, result(r.Own), dsr)
		if r.OK() {
			continue
		}
		ok = false
		var why string
		switch {
		case r.DSRPath == nil:
			why = "its DSR path could not be probed (" + r.NotProbed + ")"
		case r.Own != nil && r.Own.OK && !r.DSRPath.OK:
			why = "answers on its own address but not through the DSR path: its DSR set-up is broken"
		case r.DSRPath.OK:
			why = "answers through the DSR path but its own-address check fails: look at that check"
		default:
			why = "answers neither on its own address nor through the DSR path: is the service running?"
		}
		advice = append(advice, fmt.Sprintf("%s (service %s): %s.\n    On the real server run: %s", r.Backend, r.Service, why, r.RealServerDoctor))
	}
	if len(advice) > 0 {
		p("\n")
		for _, a := range advice {
			p("%s\n", a)
		}
	} else if len(reports) > 0 {
		p("\nevery real server answers on its own address and through the DSR path\n")
	}
	return ok, tw.Flush()
}

// CheckResult is one probe's outcome.
type CheckResult struct {
	Check   string  `json:"check"`
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`
	Seconds float64 `json:"seconds"`
	busy    bool    // the source port was taken
}

// probeJob is a ProbeReport to fill by running its checks.
type probeJob struct {
	report            ProbeReport
	own, dsr          health.Checker
	ownAddr           netip.Addr
	ownTimeout, dsrTO time.Duration
}

// defaultProbeTimeout bounds a doctor probe of a real server without a
// configured check.
const defaultProbeTimeout = time.Second

// probeJobs lists what the "probe" request runs, in configuration order.
func (d *Daemon) probeJobs() []probeJob {
	probe := d.opts.ProbeAddr
	if probe == nil {
		probe = func(a netip.Addr) netip.Addr { return a }
	}
	inSync := d.dpUp && d.seeded && d.sentValid && string(d.sentKey) == string(d.bodyKey) && d.applied.Error == ""
	var jobs []probeJob
	for i := range d.cfg.Services {
		s := &d.cfg.Services[i]
		for j := range s.Backends {
			b := &s.Backends[j]
			jb := probeJob{report: ProbeReport{Service: s.Name, VIP: s.VIP.String(), Port: s.Port, Backend: b.Address.String(),
				Method: s.EffectiveMethod(b).String(), RealServerDoctor: realServerDoctor(s, b)}, ownAddr: probe(b.Address)}
			switch {
			case b.Check != nil:
				jb.own, jb.ownTimeout = Checker(b.Check), b.Check.Timeout
			case s.Protocol == conf.ProtoTCP && s.Port != 0:
				jb.own, jb.ownTimeout = health.TCP{Port: s.Port}, defaultProbeTimeout
			}
			port, hasPort := d.ports[TargetKey(s.Name, b.Address)]
			switch {
			case d.cfg.Dataplane.TAP == "":
				jb.report.NotProbed = "no exception path (dataplane.tap): the probes would have no way out"
			case s.Protocol != conf.ProtoTCP:
				jb.report.NotProbed = "a " + s.Protocol.String() + " service: the DSR path is probed over TCP"
			case s.Port == 0 && s.DSRCheck == nil:
				jb.report.NotProbed = "a service on every port: add a [service.dsr_check] with the port to probe"
			case !hasPort:
				jb.report.NotProbed = "no free port left in ctrl.dsr_probe_ports"
			case !inSync:
				jb.report.NotProbed = "the data plane is not connected or not in sync with dsrlb-ctrl yet"
			default:
				var inner health.Checker = health.TCP{Port: s.Port}
				jb.dsrTO = defaultProbeTimeout
				if s.DSRCheck != nil {
					inner, jb.dsrTO = Checker(s.DSRCheck), s.DSRCheck.Timeout
				}
				jb.dsr = dsrChecker(d.cfg, s, port, probe, inner)
			}
			jobs = append(jobs, jb)
		}
	}
	return jobs
}

// dsrChecker is the DSR path checker of service s from source port port
// with inner check inner; probe maps the addresses (tests).
func dsrChecker(c *conf.Config, s *conf.Service, port uint16, probe func(netip.Addr) netip.Addr, inner health.Checker) health.DSR {
	own := c.Dataplane.Address.Addr()
	if !s.VIP.Is4() {
		own = c.Dataplane.Address6.Addr()
	}
	return health.DSR{VIP: probe(s.VIP), Source: netip.AddrPortFrom(probe(own), port), Probe: inner}
}

// probeParallel is how many real servers the "probe" request checks at
// once.
const probeParallel = 32

// runProbes runs the jobs, probeParallel at a time, each within its
// timeout, and returns their reports in order.
func runProbes(ctx context.Context, jobs []probeJob) []ProbeReport {
	out := make([]ProbeReport, len(jobs))
	sem := make(chan struct{}, probeParallel)
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				out[i] = jobs[i].report
				out[i].NotProbed = "not probed in time"
				return
			}
			defer func() { <-sem }()
			jb := &jobs[i]
			r := jb.report
			if jb.own != nil {
				r.Own = runCheck(ctx, jb.own, jb.ownAddr, jb.ownTimeout)
			}
			if jb.dsr != nil {
				r.DSRPath = runCheck(ctx, jb.dsr, netip.MustParseAddr(r.Backend), jb.dsrTO)
				// The periodic DSR path check may hold the same source
				// port for an instant: try once more.
				if !r.DSRPath.OK && r.DSRPath.busy {
					time.Sleep(100 * time.Millisecond)
					r.DSRPath = runCheck(ctx, jb.dsr, netip.MustParseAddr(r.Backend), jb.dsrTO)
				}
			}
			out[i] = r
		}()
	}
	wg.Wait()
	return out
}

// runCheck runs c against addr within timeout.
func runCheck(ctx context.Context, c health.Checker, addr netip.Addr, timeout time.Duration) *CheckResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	err := c.Check(ctx, addr)
	r := &CheckResult{Check: c.String(), OK: err == nil, Seconds: time.Since(start).Seconds()}
	if err != nil {
		r.Error = err.Error()
		r.busy = errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EADDRNOTAVAIL)
	}
	return r
}
