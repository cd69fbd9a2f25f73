package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"dsrlb/conf"
	"dsrlb/dpdk"
	"dsrlb/hw"
	"dsrlb/pipeline"
	"dsrlb/pipeline/header"
	"dsrlb/pipeline/maglev"
)

// dataplane is the running data plane: its main goroutine resolves real
// servers' MACs, rebuilds snapshots off the worker lcores and logs
// counters; the lcores forward.
type dataplane struct {
	cfg      *conf.Config
	log      *slog.Logger
	pool     *dpdk.Mempool
	ports    []*hw.Port
	lcores   []*hw.Lcore
	pcfg     *pipeline.Config
	snap     atomic.Pointer[pipeline.Snapshot]
	resolver *pipeline.Resolver
	maglev   *maglev.Builder
	own4     [4]byte
	nextLc   int // round-robin lcore for injected packets
	injected uint64
	injDrops uint64
	states   []pipeline.ServiceState
}

// start brings the data plane up; on error everything started is undone.
func start(cfg *conf.Config, log *slog.Logger) (dp *dataplane, err error) {
	dp = &dataplane{cfg: cfg, log: log, maglev: maglev.NewBuilder()}
	dp.own4 = cfg.Dataplane.Address.Addr().As4()
	args := hw.EALArgs(&cfg.Dataplane)
	log.Info("starting EAL", "args", args)
	if err := dpdk.EALInit(args); err != nil {
		return nil, fmt.Errorf("DPDK EAL: %w (arguments %q)", err, args)
	}
	defer func() {
		if err != nil {
			dp.teardown()
		}
	}()
	nw := len(cfg.Dataplane.Workers)
	// Per-lcore cache: enough for a few bursts, within DPDK's limit of 512.
	cache := min(512, max(32, cfg.Dataplane.Mbufs/(4*(nw+1))))
	dp.pool, err = dpdk.NewPktPool("dsrlb_pkts", cfg.Dataplane.Mbufs, cache, dpdk.DefaultDataRoom, -1)
	if err != nil {
		return nil, fmt.Errorf("packet pool of %d mbufs: %w", cfg.Dataplane.Mbufs, err)
	}
	for i := range cfg.Dataplane.Ports {
		p, err := hw.Open(cfg, i, nw, dp.pool, log)
		if err != nil {
			return nil, err
		}
		dp.ports = append(dp.ports, p)
	}

	dp.pcfg = conf.Compile(cfg)
	for _, p := range dp.ports {
		dp.pcfg.PortMACs = append(dp.pcfg.PortMACs, p.MAC)
	}
	dp.resolver = pipeline.NewResolver(cfg.Dataplane.ARPRefresh, cfg.Dataplane.ARPExpiry)
	for _, n := range cfg.Dataplane.Neighbors {
		dp.resolver.SetStatic(n.Address, pipeline.Neighbor{MAC: n.MAC, Port: uint8(n.Port)})
	}
	dp.resolver.Track(cfg.BackendAddrs())
	if err := dp.rebuild(); err != nil {
		return nil, err
	}

	for i, cpu := range cfg.Dataplane.Workers {
		lc := &hw.Lcore{
			CPU: cpu, Queue: i, Ports: dp.ports, Burst: cfg.Dataplane.BurstSize,
			IdleSleep: cfg.Dataplane.IdleSleep, Worker: pipeline.NewWorker(i),
			Snapshot: &dp.snap, Inject: pipeline.NewRing[hw.Injected](256),
		}
		if err := lc.Start(); err != nil {
			return nil, fmt.Errorf("worker %d on CPU %d: %w", i, cpu, err)
		}
		dp.lcores = append(dp.lcores, lc)
	}
	log.Info("forwarding", "services", len(cfg.Services), "workers", nw, "ports", len(dp.ports),
		"address", cfg.Dataplane.Address)
	return dp, nil
}

// rebuild compiles a new snapshot from the configuration and the resolved
// neighbours, and publishes it; workers pick it up at their next burst.
func (dp *dataplane) rebuild() error {
	s, states, err := pipeline.Build(dp.pcfg, dp.resolver.Lookup, dp.snap.Load(), dp.maglev)
	if err != nil {
		return err
	}
	dp.snap.Store(s)
	for i, st := range states {
		if i >= len(dp.states) || dp.states[i] != st {
			dp.log.Info("service", "name", st.Name, "backends", st.Backends, "scheduled", st.Scheduled,
				"unresolved", st.Unresolved, "snapshot", s.Gen)
		}
	}
	dp.states = states
	return nil
}

// serve runs the main goroutine's loop until a signal arrives.
func (dp *dataplane) serve(sigs <-chan os.Signal) os.Signal {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var stats <-chan time.Time
	if iv := dp.cfg.Dataplane.StatsInterval; iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		stats = t.C
	}
	// Announce the VIPs and the own address (gratuitous ARP) a few times,
	// as keepalived does, so neighbours' caches point at this balancer.
	garps := 3
	garpAt := time.Now()
	var reqs []pipeline.Request
	for {
		select {
		case sig := <-sigs:
			return sig
		case <-stats:
			dp.logCounters("counters")
		case now := <-tick.C:
			changed := false
			for _, lc := range dp.lcores {
				for {
					l, ok := lc.Worker.Learn.Pop()
					if !ok {
						break
					}
					if dp.resolver.Learn(l, now) {
						changed = true
						dp.log.Info("real server resolved", "ip", netip.AddrFrom4(l.IP), "mac", l.MAC,
							"port", dp.ports[l.Port].Name)
					}
				}
			}
			if dp.resolver.Expire(now) {
				changed = true
				dp.log.Warn("real server MAC expired (no ARP answer)", "expiry", dp.cfg.Dataplane.ARPExpiry)
			}
			if changed {
				if err := dp.rebuild(); err != nil {
					dp.log.Error("snapshot rebuild failed; keeping the previous one", "err", err)
				}
			}
			reqs = dp.resolver.Due(now, reqs[:0])
			for _, r := range reqs {
				dp.sendARPRequest(r)
			}
			if garps > 0 && !now.Before(garpAt) {
				dp.sendGratuitous()
				garps--
				garpAt = now.Add(time.Second)
			}
		}
	}
}

// sendARPRequest asks for a real server's MAC: unicast on its known port
// when refreshing, broadcast on every port otherwise.
func (dp *dataplane) sendARPRequest(r pipeline.Request) {
	target := r.IP.As4()
	for _, p := range dp.ports {
		if r.Unicast && p.Index != int(r.Port) {
			continue
		}
		dst := header.BroadcastMAC
		if r.Unicast {
			dst = r.MAC
		}
		dp.inject(p, func(b []byte) int {
			return header.BuildARP(b, header.ARPRequest, p.MAC, dst, p.MAC, dp.own4, header.MAC{}, target)
		})
	}
}

// sendGratuitous announces every VIP and the own address on every port.
func (dp *dataplane) sendGratuitous() {
	addrs := append(dp.snap.Load().VIPs4(), netip.AddrFrom4(dp.own4))
	for _, p := range dp.ports {
		for _, a := range addrs {
			ip := a.As4()
			dp.inject(p, func(b []byte) int {
				return header.BuildARP(b, header.ARPRequest, p.MAC, header.BroadcastMAC, p.MAC, ip, header.MAC{}, ip)
			})
		}
	}
}

// inject builds a frame in a fresh mbuf and hands it to a worker lcore to
// send on port p. Frames are padded to the Ethernet minimum of 60 bytes.
func (dp *dataplane) inject(p *hw.Port, build func([]byte) int) {
	var m [1]*dpdk.Mbuf
	if err := dp.pool.AllocBulk(m[:]); err != nil {
		dp.injDrops++
		return
	}
	off := int(m[0].DataOff())
	buf := m[0].Buffer()[off:]
	n := build(buf)
	if n < 60 {
		clear(buf[n:60])
		n = 60
	}
	m[0].SetData(uint16(off), uint16(n))
	lc := dp.lcores[dp.nextLc%len(dp.lcores)]
	dp.nextLc++
	if !lc.Inject.Push(hw.Injected{M: m[0], Port: uint8(p.Index)}) {
		dpdk.FreeMbufs(m[:])
		dp.injDrops++
		return
	}
	dp.injected++
}

// totals aggregates the workers' published counters.
func (dp *dataplane) totals() pipeline.Counters {
	var c pipeline.Counters
	for _, lc := range dp.lcores {
		w := lc.Worker.Shared.Load()
		c.Add(&w)
	}
	return c
}

func (dp *dataplane) logCounters(msg string) {
	c := dp.totals()
	attrs := []any{"rx", c.RxPackets, "rx_bytes", c.RxBytes, "tx_bytes", c.TxBytes, "drops", c.Drops(),
		"injected", dp.injected, "inject_failed", dp.injDrops}
	for v := pipeline.Verdict(0); v < pipeline.NumVerdicts; v++ {
		if c.Verdicts[v] != 0 {
			attrs = append(attrs, v.String(), c.Verdicts[v])
		}
	}
	var sent, refused uint64
	for _, lc := range dp.lcores {
		s, r := lc.TxCounters()
		sent += s
		refused += r
	}
	attrs = append(attrs, "tx_sent", sent, "tx_refused", refused)
	for _, p := range dp.ports {
		if st, err := p.ID.Stats(); err == nil {
			attrs = append(attrs, p.Name+"_imissed", st.InMissed, p.Name+"_rx_nombuf", st.RxNoMbuf,
				p.Name+"_ierrors", st.InErrors, p.Name+"_oerrors", st.OutErrors)
		}
	}
	dp.log.Info(msg, attrs...)
}

// shutdown stops the lcores, then the ports, then the EAL.
func (dp *dataplane) shutdown() error {
	for _, lc := range dp.lcores {
		lc.Stop()
	}
	dp.logCounters("final counters")
	dp.lcores = nil
	return dp.teardown()
}

func (dp *dataplane) teardown() error {
	var errs []error
	for _, lc := range dp.lcores {
		lc.Stop()
	}
	for _, p := range dp.ports {
		if err := p.Close(); err != nil {
			errs = append(errs, fmt.Errorf("port %s: %w", p.Name, err))
		}
	}
	dp.ports = nil
	if dp.pool != nil {
		if n := dp.pool.InUse(); n != 0 {
			dp.log.Warn("mbufs still in use at exit", "count", n)
		}
		dp.pool.Free()
		dp.pool = nil
	}
	if err := dpdk.EALCleanup(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
