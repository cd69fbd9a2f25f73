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
	"dsrlb/ctrl/proto"
	"dsrlb/ctrl/shm"
	"dsrlb/dpdk"
	"dsrlb/hw"
	"dsrlb/pipeline"
	"dsrlb/pipeline/header"
	"dsrlb/pipeline/maglev"
)

// dataplane is the running data plane. Its main goroutine applies the
// control process's commands, resolves real servers' MACs, rebuilds
// snapshots off the worker lcores and logs counters; the kernel goroutine
// runs the exception path; the lcores forward.
type dataplane struct {
	cfg      *conf.Config
	log      *slog.Logger
	pool     *dpdk.Mempool
	ports    []*hw.Port
	tap      *hw.Port
	lcores   []*hw.Lcore
	pcfg     *pipeline.Config
	model    []appliedService // what is applied, for dumps
	fromConf bool             // still running the configuration file's services
	snap     atomic.Pointer[pipeline.Snapshot]
	resolver *pipeline.Resolver
	maglev   *maglev.Builder
	clock    pipeline.Clock
	start    time.Time
	own4     [4]byte
	own6     [16]byte // zero when dataplane.address6 is not set
	nextLc   int      // round-robin lcore for injected packets
	states   []pipeline.ServiceState

	shm    *shm.Region
	txn    *txn // open transaction from the control process, or nil
	msgBuf []byte
	global *globalCounters

	kernel *kernelPath
}

// start brings the data plane up; on error everything started is undone.
func start(cfg *conf.Config, log *slog.Logger) (dp *dataplane, err error) {
	dp = &dataplane{cfg: cfg, log: log, maglev: maglev.NewBuilder(), start: time.Now(), fromConf: true}
	dp.own4 = cfg.Dataplane.Address.Addr().As4()
	if a6 := cfg.Dataplane.Address6; a6.IsValid() {
		dp.own6 = a6.Addr().As16()
	}
	nw := len(cfg.Dataplane.Workers)

	// The shared memory first: it needs no DPDK, and a second data plane
	// on the same file must be refused before it touches any port.
	region, replaced, err := shm.Create(cfg.Dataplane.SHM, shm.Geometry{
		SlotSize: proto.SlotSize, Slots: proto.Slots,
		Workers: nw, WorkerBytes: proto.WorkerBytes, GlobalBytes: proto.GlobalBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("shared memory: %w", err)
	}
	dp.shm = region
	dp.global = newGlobalCounters(region)
	if replaced != "" {
		log.Info("shared memory rebuilt", "path", cfg.Dataplane.SHM, "replaced", replaced)
	}
	// The error returns below set the named dp to nil: tear down through a
	// copy of the pointer.
	started := dp
	defer func() {
		if err != nil {
			_ = started.teardown()
		}
	}()

	args := hw.EALArgs(&cfg.Dataplane)
	log.Info("starting EAL", "args", args)
	if err := dpdk.EALInit(args); err != nil {
		return nil, fmt.Errorf("DPDK EAL: %w (arguments %q)", err, args)
	}
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
	if t := cfg.Dataplane.TAP; t != "" {
		addrs := []netip.Prefix{cfg.Dataplane.Address}
		if cfg.Dataplane.Address6.IsValid() {
			addrs = append(addrs, cfg.Dataplane.Address6)
		}
		dp.tap, err = hw.OpenTAP(t, dp.ports[0].MAC, dp.ports[0].MTU, addrs, dp.pool, log)
		if err != nil {
			return nil, err
		}
	}

	dp.resolver = pipeline.NewResolver(cfg.Dataplane.ARPRefresh, cfg.Dataplane.ARPExpiry)
	for _, n := range cfg.Dataplane.Neighbors {
		dp.resolver.SetStatic(n.Address, pipeline.Neighbor{MAC: n.MAC, Port: uint8(n.Port)})
	}
	// Boot from the configuration file's services, so the data plane
	// forwards before the control process connects.
	model := modelFromConfig(cfg)
	pcfg, err := dp.compile(model)
	if err != nil {
		return nil, err
	}
	if err := dp.apply(model, pcfg); err != nil {
		return nil, err
	}

	for i, cpu := range cfg.Dataplane.Workers {
		lc := &hw.Lcore{
			CPU: cpu, Queue: i, Ports: dp.ports, Burst: cfg.Dataplane.BurstSize,
			IdleSleep: cfg.Dataplane.IdleSleep,
			Worker: pipeline.NewWorkerWith(i, pipeline.WorkerOptions{
				Shared:           (*pipeline.Counters)(region.WorkerPtr(i)),
				Clock:            &dp.clock,
				Conntrack:        cfg.Dataplane.ConntrackEntries,
				ConntrackTimeout: uint16(cfg.Dataplane.ConntrackTimeout / time.Second),
			}),
			Snapshot: &dp.snap, Inject: pipeline.NewRing[hw.Injected](256),
		}
		if dp.tap != nil {
			lc.ToKernel = pipeline.NewRing[*dpdk.Mbuf](1024)
			lc.FromKernel = pipeline.NewRing[hw.Injected](1024)
		}
		if err := lc.Start(); err != nil {
			return nil, fmt.Errorf("worker %d on CPU %d: %w", i, cpu, err)
		}
		dp.lcores = append(dp.lcores, lc)
	}
	if dp.tap != nil {
		dp.kernel, err = startKernelPath(dp)
		if err != nil {
			return nil, err
		}
	}

	region.SetPID(shm.Dataplane, os.Getpid())
	region.SetHeartbeat(shm.Dataplane, time.Now())
	dp.send(proto.KindHello, proto.Hello{BootID: region.BootID(), PID: os.Getpid()})
	log.Info("forwarding", "services", len(cfg.Services), "workers", nw, "ports", len(dp.ports),
		"address", cfg.Dataplane.Address, "address6", cfg.Dataplane.Address6, "shm", cfg.Dataplane.SHM, "exception_path", cfg.Dataplane.TAP)
	return dp, nil
}

// compile checks a service model (from the configuration file or from the
// control process) and turns it into the pipeline's configuration.
func (dp *dataplane) compile(model []appliedService) (*pipeline.Config, error) {
	d := &dp.cfg.Dataplane
	pc := &pipeline.Config{Own4: d.Address, Own6: d.Address6, Kernel: dp.tap != nil, Gateway: d.Gateway, Gateway6: d.Gateway6}
	for _, p := range dp.ports {
		pc.PortMACs = append(pc.PortMACs, p.MAC)
		pc.PortMTUs = append(pc.PortMTUs, p.MTU)
	}
	for _, r := range dp.cfg.Dataplane.Routes {
		pc.Routes = append(pc.Routes, pipeline.Route{Prefix: r.Prefix, Gateway: r.Gateway})
	}
	for _, m := range model {
		s := m.svc
		method, ok := methods[s.Method]
		if !ok {
			return nil, fmt.Errorf("service %s: method %q is not supported", s.Name, s.Method)
		}
		// pipeline.Build refuses VIPs of no usable family.
		if s.VIP == d.Address.Addr() || (d.Address6.IsValid() && s.VIP == d.Address6.Addr()) {
			return nil, fmt.Errorf("service %s: VIP %s is the balancer's own address", s.Name, s.VIP)
		}
		if s.Proto != header.IPProtoTCP && s.Proto != header.IPProtoUDP {
			return nil, fmt.Errorf("service %s: protocol %d is neither TCP nor UDP", s.Name, s.Proto)
		}
		sc := pipeline.ServiceConfig{Name: s.Name, VIP: s.VIP, Proto: s.Proto, Port: s.Port,
			Method: method, SourceIP: s.SourceIP, Size: s.TableSize, DSCP: s.DSCP, GUEPort: s.GUEPort}
		for _, b := range m.backends {
			bm := method
			if b.Method != "" {
				if bm, ok = methods[b.Method]; !ok {
					return nil, fmt.Errorf("service %s: real server %s: method %q is not supported", s.Name, b.Addr, b.Method)
				}
			}
			// Families, on-link and reachability: pipeline.Build.
			var override pipeline.Method
			if b.Method != "" {
				override = bm
			}
			sc.Backends = append(sc.Backends, pipeline.BackendConfig{Addr: b.Addr, Weight: b.Weight, Method: override})
		}
		pc.Services = append(pc.Services, sc)
	}
	return pc, nil
}

// methods maps the protocol's method names onto the pipeline's.
var methods = map[string]pipeline.Method{
	"l2dsr": pipeline.MethodL2DSR, "dscp": pipeline.MethodDSCP,
	"ipip": pipeline.MethodIPIP, "gre": pipeline.MethodGRE, "gue": pipeline.MethodGUE,
}

// apply makes pcfg the forwarding state: the resolver tracks its real
// servers and a new snapshot is published. On error nothing changes.
func (dp *dataplane) apply(model []appliedService, pcfg *pipeline.Config) error {
	prevTracked := dp.resolver.State()
	dp.resolver.Track(pcfg.NextHops())
	s, states, err := pipeline.Build(pcfg, dp.resolver.Lookup, dp.snap.Load(), dp.maglev)
	if err != nil {
		// Put the previous tracking back; their MACs are learnt again.
		var prev []netip.Addr
		for _, n := range prevTracked {
			prev = append(prev, n.IP)
		}
		dp.resolver.Track(prev)
		return err
	}
	dp.pcfg, dp.model = pcfg, model
	dp.publish(s, states)
	return nil
}

// rebuild recompiles the current configuration with the neighbours known
// now (a MAC resolved, changed or expired).
func (dp *dataplane) rebuild() error {
	s, states, err := pipeline.Build(dp.pcfg, dp.resolver.Lookup, dp.snap.Load(), dp.maglev)
	if err != nil {
		return err
	}
	dp.publish(s, states)
	return nil
}

// publish swaps the snapshot in; workers pick it up at their next burst.
func (dp *dataplane) publish(s *pipeline.Snapshot, states []pipeline.ServiceState) {
	dp.snap.Store(s)
	dp.global.set(gSnapshotGen, s.Gen)
	for i, st := range states {
		if i >= len(dp.states) || dp.states[i] != st {
			dp.log.Info("service", "name", st.Name, "backends", st.Backends, "scheduled", st.Scheduled,
				"draining", st.Draining, "unresolved", st.Unresolved, "snapshot", s.Gen)
		}
	}
	dp.states = states
}

// serve runs the main goroutine's loop until a signal arrives.
func (dp *dataplane) serve(sigs <-chan os.Signal) os.Signal {
	tick := time.NewTicker(10 * time.Millisecond)
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
	var expired []netip.Addr
	for {
		select {
		case sig := <-sigs:
			return sig
		case <-stats:
			dp.logCounters("counters")
		case now := <-tick.C:
			dp.clock.Set(uint32(now.Sub(dp.start) / time.Second))
			dp.shm.SetHeartbeat(shm.Dataplane, now)
			dp.pollCommands()
			changed := false
			for _, lc := range dp.lcores {
				for {
					l, ok := lc.Worker.Learn.Pop()
					if !ok {
						break
					}
					if dp.resolver.Learn(l, now) {
						changed = true
						ip := l.IP
						dp.log.Info("real server resolved", "ip", ip, "mac", l.MAC, "port", dp.ports[l.Port].Name)
						dp.send(proto.KindNeighbor, proto.Neighbor{Addr: ip, MAC: l.MAC.String(), Port: dp.ports[l.Port].Name, Resolved: true})
					}
				}
			}
			expired = dp.resolver.Expire(now, expired[:0])
			for _, ip := range expired {
				changed = true
				dp.log.Warn("real server MAC expired (no ARP/NDP answer)", "ip", ip, "expiry", dp.cfg.Dataplane.ARPExpiry)
				dp.send(proto.KindNeighbor, proto.Neighbor{Addr: ip, Resolved: false})
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
// when refreshing, broadcast on every port otherwise; for IPv6, a Neighbor
// Solicitation to the solicited-node group (or unicast when refreshing).
func (dp *dataplane) sendARPRequest(r pipeline.Request) {
	if r.IP.Is6() {
		dp.sendSolicitation(r)
		return
	}
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

func (dp *dataplane) sendSolicitation(r pipeline.Request) {
	target := r.IP.As16()
	dst := header.SolicitedNode6(target)
	dstMAC := header.MulticastMAC6(dst)
	if r.Unicast {
		dst, dstMAC = target, r.MAC
	}
	for _, p := range dp.ports {
		if r.Unicast && p.Index != int(r.Port) {
			continue
		}
		dp.inject(p, func(b []byte) int {
			return header.BuildNDP(b, header.ICMPv6NeighborSolicit, p.MAC, dstMAC, dp.own6, dst, target, 0)
		})
	}
}

// sendGratuitous announces every VIP and the own addresses on every port:
// gratuitous ARP for IPv4, unsolicited Neighbor Advertisements (override
// flag, to all nodes; RFC 4861 section 7.2.6) for IPv6.
func (dp *dataplane) sendGratuitous() {
	snap := dp.snap.Load()
	addrs := append(snap.VIPs4(), netip.AddrFrom4(dp.own4))
	addrs6 := snap.VIPs6()
	if dp.own6 != ([16]byte{}) {
		addrs6 = append(addrs6, netip.AddrFrom16(dp.own6))
	}
	allNodes := header.MulticastMAC6(header.AllNodes6)
	for _, p := range dp.ports {
		for _, a := range addrs {
			ip := a.As4()
			dp.inject(p, func(b []byte) int {
				return header.BuildARP(b, header.ARPRequest, p.MAC, header.BroadcastMAC, p.MAC, ip, header.MAC{}, ip)
			})
		}
		for _, a := range addrs6 {
			ip := a.As16()
			dp.inject(p, func(b []byte) int {
				return header.BuildNDP(b, header.ICMPv6NeighborAdvert, p.MAC, allNodes, ip, header.AllNodes6, ip, header.NAFlagOverride)
			})
		}
	}
}

// inject builds a frame in a fresh mbuf and hands it to a worker lcore to
// send on port p. Frames are padded to the Ethernet minimum of 60 bytes.
func (dp *dataplane) inject(p *hw.Port, build func([]byte) int) {
	var m [1]*dpdk.Mbuf
	if err := dp.pool.AllocBulk(m[:]); err != nil {
		dp.global.add(gInjectFailed, 1)
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
		dp.global.add(gInjectFailed, 1)
		return
	}
	dp.global.add(gInjected, 1)
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
		"injected", dp.global.get(gInjected), "inject_failed", dp.global.get(gInjectFailed)}
	for v := pipeline.Verdict(0); v < pipeline.NumVerdicts; v++ {
		if c.Verdicts[v] != 0 {
			attrs = append(attrs, v.String(), c.Verdicts[v])
		}
	}
	attrs = append(attrs, "conntrack_hits", c.CTHits, "conntrack_misses", c.CTMisses, "conntrack_full", c.CTFull)
	var sent, refused uint64
	for _, lc := range dp.lcores {
		s, r := lc.TxCounters()
		sent += s
		refused += r
	}
	attrs = append(attrs, "tx_sent", sent, "tx_refused", refused)
	if dp.kernel != nil {
		attrs = append(attrs, "to_kernel_sent", dp.global.get(gToKernelSent), "from_kernel", dp.global.get(gFromKernel),
			"from_kernel_dropped", dp.global.get(gFromKernelDropped))
	}
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
	if dp.kernel != nil {
		dp.kernel.stop()
	}
	for _, lc := range dp.lcores {
		lc.Stop()
	}
	dp.logCounters("final counters")
	return dp.teardown()
}

func (dp *dataplane) teardown() error {
	var errs []error
	if dp.kernel != nil {
		dp.kernel.stop()
	}
	for _, lc := range dp.lcores {
		lc.Stop()
	}
	if dp.kernel != nil {
		dp.kernel.freeQueued()
		dp.kernel = nil
	}
	dp.lcores = nil
	ports := dp.ports
	if dp.tap != nil {
		ports = append(ports, dp.tap)
		dp.tap = nil
	}
	for _, p := range ports {
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
	if dp.shm != nil {
		// The control process sees the file go and waits for a new one.
		_ = dp.shm.Remove()
		_ = dp.shm.Close()
		dp.shm = nil
	}
	return errors.Join(errs...)
}
