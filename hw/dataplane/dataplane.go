package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"dsrlb/conf"
	"dsrlb/conf/wire"
	"dsrlb/dpdk"
	"dsrlb/hw"
	"dsrlb/perf/shm"
	"dsrlb/perf/stats"
	"dsrlb/pipeline"
	"dsrlb/pipeline/header"
	"dsrlb/pipeline/maglev"
)

// Dataplane is a running data plane. Its main goroutine (Serve) applies
// the control process's commands, resolves real servers' MACs, announces
// addresses, rebuilds snapshots off the worker lcores and logs counters;
// the kernel goroutine runs the exception path; the lcores forward.
type Dataplane struct {
	cfg    *conf.Config
	log    *slog.Logger
	pool   *dpdk.Mempool
	ports  []*hw.Port
	tap    *hw.Port
	lcores []*hw.Lcore
	pcfg   *pipeline.Config
	snap   atomic.Pointer[pipeline.Snapshot]
	maglev *maglev.Builder
	clock  pipeline.Clock
	// persist is the persistence table the workers share.
	persist *pipeline.PersistTable
	start   time.Time
	own4    [4]byte
	own6    [16]byte // zero when dataplane.address6 is not set
	nextLc  int      // round-robin lcore for injected packets
	states  []pipeline.ServiceState

	shm      *shm.Region
	slots    *statSlots     // counter slots of services and real servers (stats section)
	receiver *wire.Receiver // the command protocol
	msgBuf   []byte
	global   *globalCounters
	portCtr  [][]*atomic.Uint64 // each port's counters in shared memory, in counters.Ports order
	portsAt  time.Time          // when they were last copied

	neighbors *neighbors
	announcer announcer
	kernel    *kernelPath
	groups    map[uint8]*vrrpGroup // VRRP groups by id
	// The corrupt command rings seen since ringLogged, when the last
	// was logged.
	ringResets int
	ringLogged time.Time
	now        func() time.Time // nil: time.Now (tests fix the clock of SetVRRP)
}

// Start brings the data plane up from cfg: shared memory, the EAL, the
// packet pool, the ports and the exception path, the configuration file's
// services, then the worker lcores. On error everything started is undone.
func Start(cfg *conf.Config, log *slog.Logger) (dp *Dataplane, err error) {
	dp = &Dataplane{cfg: cfg, log: log, maglev: maglev.NewBuilder(), start: time.Now(),
		persist: pipeline.NewPersistTable(cfg.Dataplane.PersistenceEntries)}
	dp.own4 = cfg.Dataplane.Address.Addr().As4()
	if a6 := cfg.Dataplane.Address6; a6.IsValid() {
		dp.own6 = a6.Addr().As16()
	}
	nw := len(cfg.Dataplane.Workers)

	// The shared memory first: it needs no DPDK, and a second data plane
	// on the same file must be refused before it touches any port.
	d := &cfg.Dataplane
	region, replaced, err := shm.Create(d.SHM, wire.StatsGeometry(nw, len(d.Ports), d.StatsServices, d.StatsBackends))
	if err != nil {
		return nil, fmt.Errorf("shared memory: %w", err)
	}
	if err := dp.attachSHM(region); err != nil {
		_ = region.Remove()
		_ = region.Close()
		return nil, fmt.Errorf("shared memory: %w", err)
	}
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
	dp.pool, err = dpdk.NewPktPool("dsrlb_pkts", cfg.Dataplane.Mbufs, cache, cfg.Dataplane.MbufSize, -1)
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

	dp.neighbors = newNeighbors(&cfg.Dataplane)
	// Boot from the configuration file's services, so the data plane
	// forwards before the control process connects.
	boot := wire.BootModel(cfg)
	if err := dp.Apply(boot); err != nil {
		return nil, err
	}
	dp.receiver = wire.NewReceiver(boot, log)

	for i, cpu := range cfg.Dataplane.Workers {
		lc := &hw.Lcore{
			CPU: cpu, Queue: i, Ports: dp.ports, Burst: cfg.Dataplane.BurstSize,
			IdleSleep: cfg.Dataplane.IdleSleep,
			Worker: pipeline.NewWorkerWith(i, pipeline.WorkerOptions{
				Shared:    (*pipeline.Counters)(region.WorkerPtr(i)),
				Clock:     &dp.clock,
				Conntrack: cfg.Dataplane.ConntrackEntries,
				Timeouts:  conntrackTimeouts(&cfg.Dataplane),
				Persist:   dp.persist,
				Stats:     workerStats(dp.slots.dir, i),
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
	dp.Send(wire.KindHello, wire.Hello{BootID: region.BootID(), PID: os.Getpid()})
	// Announce the VIPs and the own addresses, as keepalived does, so the
	// neighbours' caches point at this balancer.
	dp.announcer.schedule(time.Now(), bootAnnouncements, time.Second)
	log.Info("forwarding", "services", len(cfg.Services), "workers", nw, "ports", len(dp.ports),
		"address", cfg.Dataplane.Address, "address6", cfg.Dataplane.Address6, "shm", cfg.Dataplane.SHM, "exception_path", cfg.Dataplane.TAP)
	return dp, nil
}

// attachSHM makes r the data plane's shared memory and lays out its stats
// section for the configuration's workers and stats capacities.
func (dp *Dataplane) attachSHM(r *shm.Region) error {
	d := &dp.cfg.Dataplane
	dir, err := stats.Init(r, len(d.Workers), d.StatsServices, d.StatsBackends)
	if err != nil {
		return err
	}
	dp.shm = r
	dp.global = newGlobalCounters(r)
	dp.portCtr = portCounters(r)
	dp.slots = newStatSlots(dir)
	return nil
}

// compile checks a service model (from the configuration file or from the
// control process) and turns it into the pipeline's configuration.
func (dp *Dataplane) compile(model wire.Model) (*pipeline.Config, error) {
	d := &dp.cfg.Dataplane
	pc := &pipeline.Config{Own4: d.Address, Own6: d.Address6, Kernel: dp.tap != nil, Gateway: d.Gateway, Gateway6: d.Gateway6}
	for _, p := range dp.ports {
		pc.PortMACs = append(pc.PortMACs, p.MAC)
		pc.PortMTUs = append(pc.PortMTUs, p.MTU)
		pc.PortTxHW = append(pc.PortTxHW, p.TxHW)
	}
	for _, r := range d.Routes {
		pc.Routes = append(pc.Routes, pipeline.Route{Prefix: r.Prefix, Gateway: r.Gateway})
	}
	if err := checkGroups(model); err != nil {
		return nil, err
	}
	for _, m := range model.Services {
		s := m.Service
		method, ok := conf.ParseMethod(s.Method)
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
		sched := conf.SchedMaglev
		if s.Scheduler != "" {
			if sched, ok = conf.ParseScheduler(s.Scheduler); !ok {
				return nil, fmt.Errorf("service %s: scheduler %q is not supported", s.Name, s.Scheduler)
			}
		}
		if s.PersistTimeout > pipeline.MaxPersistTimeout {
			return nil, fmt.Errorf("service %s: persistence timeout %ds above %ds", s.Name, s.PersistTimeout, pipeline.MaxPersistTimeout)
		}
		sc := pipeline.ServiceConfig{Name: s.Name, VIP: s.VIP, Proto: s.Proto, Port: s.Port,
			Method: method, Scheduler: sched, SourceIP: s.SourceIP, Size: s.TableSize, DSCP: s.DSCP, GUEPort: s.GUEPort, VRRP: s.VRRP,
			PersistTimeout: uint16(s.PersistTimeout), PersistPrefix: s.PersistPrefix}
		for _, b := range m.Backends {
			// Families, on-link and reachability: pipeline.Build.
			var override conf.Method
			if b.Method != "" {
				if override, ok = conf.ParseMethod(b.Method); !ok {
					return nil, fmt.Errorf("service %s: real server %s: method %q is not supported", s.Name, b.Addr, b.Method)
				}
			}
			sc.Backends = append(sc.Backends, pipeline.BackendConfig{Addr: b.Addr, Weight: b.Weight, Method: override})
		}
		for _, pr := range m.Probes {
			var override conf.Method
			if pr.Method != "" {
				if override, ok = conf.ParseMethod(pr.Method); !ok {
					return nil, fmt.Errorf("service %s: probe of %s: method %q is not supported", s.Name, pr.Addr, pr.Method)
				}
			}
			sc.Probes = append(sc.Probes, pipeline.ProbeConfig{Addr: pr.Addr.Unmap(), Method: override, Port: pr.Port})
		}
		pc.Services = append(pc.Services, sc)
	}
	return pc, nil
}

// Apply makes model the forwarding state: the resolver tracks its real
// servers and a new snapshot is published. On error nothing changes. It is
// the wire.Handler's Apply: the control process's transactions and the
// boot state both come this way.
func (dp *Dataplane) Apply(model wire.Model) error {
	pcfg, err := dp.compile(model)
	if err != nil {
		return err
	}
	slots := dp.slots.plan(pcfg)
	res := dp.neighbors.resolver
	prevTracked := res.State()
	res.Track(pcfg.NextHops())
	s, states, err := pipeline.Build(pcfg, res.Lookup, dp.snap.Load(), dp.maglev)
	if err != nil {
		// Put the previous tracking back; their MACs are learnt again.
		var prev []netip.Addr
		for _, n := range prevTracked {
			prev = append(prev, n.IP)
		}
		res.Track(prev)
		return err
	}
	dp.pcfg = pcfg
	dp.commitSlots(slots)
	if m := dp.adoptGroups(model); m != s.Masters() {
		s = s.WithMasters(m)
	}
	dp.publish(s, states)
	return nil
}

// rebuild recompiles the current configuration with the neighbours known
// now (a MAC resolved, changed or expired).
func (dp *Dataplane) rebuild() error {
	s, states, err := pipeline.Build(dp.pcfg, dp.neighbors.resolver.Lookup, dp.snap.Load(), dp.maglev)
	if err != nil {
		return err
	}
	dp.publish(s, states)
	return nil
}

// publish swaps the snapshot in; workers pick it up at their next burst.
func (dp *Dataplane) publish(s *pipeline.Snapshot, states []pipeline.ServiceState) {
	dp.store(s)
	for i, st := range states {
		if i >= len(dp.states) || dp.states[i] != st {
			dp.log.Info("service", "name", st.Name, "backends", st.Backends, "scheduled", st.Scheduled,
				"draining", st.Draining, "unresolved", st.Unresolved, "snapshot", s.Gen)
		}
	}
	dp.states = states
}

// store swaps s in and counts it.
func (dp *Dataplane) store(s *pipeline.Snapshot) {
	dp.snap.Store(s)
	dp.global.set(gSnapshotGen, s.Gen)
	n := 0
	for g := range pipeline.MaxVRRPGroup + 1 {
		if s.Masters().Has(uint8(g)) {
			n++
		}
	}
	dp.global.set(gVRRPMasters, uint64(n))
}

// tickPeriod is the main goroutine's period: commands, heartbeat,
// neighbours and announcements.
const tickPeriod = 10 * time.Millisecond

// Serve runs the main goroutine's loop until a signal arrives on stop and
// returns it.
func (dp *Dataplane) Serve(stop <-chan os.Signal) os.Signal {
	tick := time.NewTicker(tickPeriod)
	defer tick.Stop()
	var stats <-chan time.Time
	if iv := dp.cfg.Dataplane.StatsInterval; iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		stats = t.C
	}
	for {
		select {
		case sig := <-stop:
			return sig
		case <-stats:
			dp.logCounters("counters")
		case now := <-tick.C:
			dp.tick(now)
		}
	}
}

// conntrackTimeouts are the workers' connection-tracking timeouts, in
// seconds, from the configuration.
func conntrackTimeouts(d *conf.Dataplane) pipeline.CTTimeouts {
	sec := func(t time.Duration) uint16 { return uint16(min(t/time.Second, pipeline.MaxConntrackTimeout)) }
	return pipeline.CTTimeouts{Established: sec(d.ConntrackTimeout), Syn: sec(d.ConntrackSynTimeout),
		Closing: sec(d.ConntrackFinTimeout), UDP: sec(d.ConntrackUDPTimeout)}
}

// persistSweepRound is how long the main goroutine's sweep of the
// persistence table takes round it, at most.
const persistSweepRound = time.Minute

// tick is one period of the main goroutine's work.
func (dp *Dataplane) tick(now time.Time) {
	sec := uint32(now.Sub(dp.start) / time.Second)
	dp.clock.Set(sec)
	dp.persist.Sweep(uint16(sec), dp.persist.Len()/8/int(persistSweepRound/tickPeriod)+1)
	dp.shm.SetHeartbeat(shm.Dataplane, now)
	dp.pollCommands()
	if dp.neighbors.tick(dp, now) {
		if err := dp.rebuild(); err != nil {
			dp.log.Error("snapshot rebuild failed; keeping the previous one", "err", err)
		}
	}
	dp.announcer.tick(dp, now)
	dp.vrrpTick(now)
	dp.publishPorts(now)
	dp.global.set(gMbufs, uint64(dp.cfg.Dataplane.Mbufs))
	dp.global.set(gMbufsInUse, uint64(dp.pool.InUse()))
}

// inject builds a frame in a fresh mbuf and hands it to a worker lcore to
// send on port p. Frames are padded to the Ethernet minimum of 60 bytes.
func (dp *Dataplane) inject(p *hw.Port, build func([]byte) int) {
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

// Shutdown stops the lcores, logs the final counters, then stops the
// ports and the EAL and removes the shared memory.
func (dp *Dataplane) Shutdown() error {
	if dp.kernel != nil {
		dp.kernel.stop()
	}
	for _, lc := range dp.lcores {
		lc.Stop()
	}
	dp.logCounters("final counters")
	return dp.teardown()
}

func (dp *Dataplane) teardown() error {
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
