package ctrl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"sync"
	"time"

	"dsrlb/conf"
	"dsrlb/conf/wire"
	"dsrlb/ctrl/health"
	"dsrlb/perf/shm"
)

// Timing holds the daemon's periods and limits. Zero fields take the
// defaults (DefaultTiming); tests shorten them.
type Timing struct {
	Retry       time.Duration // re-trying to open the shared-memory file while waiting for the data plane (200ms)
	Stale       time.Duration // a data plane heartbeat older than this counts as gone (3s)
	Heartbeat   time.Duration // ctrl heartbeat and data plane liveness / restart checks (500ms)
	DumpTimeout time.Duration // waiting for DumpEnd before asking again (2s)
	PushTimeout time.Duration // waiting for room in the command ring (5s)
	PushRetry   time.Duration // before pushing again after a failed push (1s)
	Debounce    time.Duration // health events within this window make one transaction (20ms)
	Poll        time.Duration // event ring polling period (10ms)
	WaitLog     time.Duration // repeat of "waiting for the data plane" (30s)
	ApplyWarn   time.Duration // an Applied later than this is logged as missing (5s)
}

// DefaultTiming is the production timing.
var DefaultTiming = Timing{
	Retry:       200 * time.Millisecond,
	Stale:       3 * time.Second,
	Heartbeat:   500 * time.Millisecond,
	DumpTimeout: 2 * time.Second,
	PushTimeout: 5 * time.Second,
	PushRetry:   time.Second,
	Debounce:    20 * time.Millisecond,
	Poll:        10 * time.Millisecond,
	WaitLog:     30 * time.Second,
	ApplyWarn:   5 * time.Second,
}

func (t Timing) withDefaults() Timing {
	v, d := reflect.ValueOf(&t).Elem(), reflect.ValueOf(DefaultTiming)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).Int() <= 0 {
			v.Field(i).Set(d.Field(i))
		}
	}
	return t
}

// Options configure a Daemon.
type Options struct {
	ConfigPath string       // the TOML file, also re-read on reload
	Log        *slog.Logger // nil: discard
	Timing     Timing
	// ProbeAddr maps a real server's address to the address its health
	// check probes; nil probes the real server itself. For tests, which
	// point checks at loopback listeners.
	ProbeAddr func(netip.Addr) netip.Addr
	// BGPAddr replaces the balancer's own address as the BGP sessions'
	// local address and the routes' next hop; invalid: dataplane.address.
	// For tests, whose router listens on loopback.
	BGPAddr netip.Addr
}

// Daemon is dsrlb-ctrl: it runs the health checks, computes the effective
// state of every service (Evaluate) and keeps the data plane's forwarding
// state equal to it through the shared-memory command ring, and answers
// dsrlbctl on a Unix socket.
//
// Everything but the socket's connection handlers runs in one goroutine
// (Run's loop), which owns the state below; the handlers and Reload talk
// to it through reqs.
type Daemon struct {
	opts    Options
	timing  Timing
	log     *slog.Logger
	ln      *net.UnixListener
	socket  string
	reqs    chan request
	events  chan health.Event
	mon     *health.Monitor
	conns   sync.WaitGroup
	connMu  sync.Mutex
	active  map[*net.UnixConn]struct{} // open API connections
	closing bool
	done    chan struct{} // closed when Run's loop has exited

	// Owned by the loop.
	cfg        *conf.Config
	started    time.Time
	lastReload time.Time
	reloadErrs []string

	health  Health          // checked real servers' state
	ports   probePorts      // source ports of the DSR path checks
	startUp map[string]bool // StartUp each target was created with (kept so Update does not restart it)
	quorum  QuorumState
	plan    *Plan
	body    []msg  // the plan's Service/Backend messages
	bodyKey []byte // their concatenation, to compare with what was sent
	evalDue time.Time

	shmPath     string
	region      *shm.Region
	regionID    fileID
	rejectedID  fileID // a file at shmPath found stale; not retried until it changes
	bootID      uint64
	dpUp        bool // mapped and heartbeat fresh
	waitingLog  time.Time
	waitReason  string
	lastTry     time.Time
	lastBeat    time.Time
	everMapped  bool
	evbuf       []byte
	neighbors   map[netip.Addr]wire.Neighbor
	seeded      bool // the initial Dump was answered and the monitor runs
	tokenSeq    uint64
	dumpToken   uint64    // token of the outstanding Dump
	dumpSent    time.Time // zero: no Dump outstanding
	dumped      Applied
	job         *pushJob
	gen         uint64
	sentKey     []byte // body of the last transaction pushed completely to the current data plane
	sentValid   bool
	retryAt     time.Time
	pushedGen   uint64
	pushedAt    time.Time
	applyWarned bool
	applied     wire.Applied
	appliedAt   time.Time

	vrrp *vrrpLink // nil without [[vrrp]]
	bgp  *bgpLink  // nil without [bgp]
	// sessionGen is the first transaction generation of the current data
	// plane: an Applied of it or later is this data plane's.
	sessionGen uint64

	metrics    *metrics
	statsErr   string // the last error reading the per-service counters, logged once
	lastSample time.Time
	samples    [2]*statsSample // the last two samples, for rates
	httpLn     net.Listener    // ctrl.metrics_listen; nil when off
	httpSrv    *http.Server
	scrapes    chan chan *scrape
}

// pushJob is one batch of messages being pushed by its own goroutine, so
// that a full ring never blocks the loop.
type pushJob struct {
	gen    uint64           // transaction; 0 for a Dump or VRRP states
	token  uint64           // Dump token
	vrrp   []wire.VRRPState // VRRP states
	key    []byte           // transaction body
	cancel context.CancelFunc
	done   chan error
}

type request struct {
	cmd   string
	reply chan Response
}

// New loads and validates the configuration (including that script
// checks' programs are executable) and creates the API socket. It returns
// the configuration errors joined, one per line, on failure.
func New(opts Options) (*Daemon, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := load(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	ln, err := listen(cfg.Ctrl.Socket)
	if err != nil {
		return nil, err
	}
	httpLn, err := listenMetrics(cfg.Ctrl.MetricsListen)
	if err != nil {
		ln.Close()
		return nil, err
	}
	d := &Daemon{
		opts:      opts,
		timing:    opts.Timing.withDefaults(),
		log:       log,
		ln:        ln,
		socket:    cfg.Ctrl.Socket,
		reqs:      make(chan request),
		events:    make(chan health.Event, 64),
		done:      make(chan struct{}),
		active:    map[*net.UnixConn]struct{}{},
		cfg:       cfg,
		health:    Health{},
		startUp:   map[string]bool{},
		quorum:    QuorumState{},
		shmPath:   cfg.Dataplane.SHM,
		neighbors: map[netip.Addr]wire.Neighbor{},
		httpLn:    httpLn,
		scrapes:   make(chan chan *scrape),
	}
	d.ports = d.ports.assign(cfg)
	d.mon = health.NewMonitor(d.events, log)
	d.metrics = newMetrics(d)
	d.mon.Observe(d.metrics.observeCheck)
	d.newBGP(cfg)
	if err := d.newVRRP(cfg); err != nil {
		ln.Close()
		if httpLn != nil {
			httpLn.Close()
		}
		return nil, err
	}
	return d, nil
}

// load reads and validates the configuration file for the control process.
func load(path string) (*conf.Config, error) {
	c, err := conf.Load(path)
	if err == nil {
		err = conf.CheckScripts(c)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Socket is the path of the API socket.
func (d *Daemon) Socket() string { return d.socket }

// Run runs until ctx is done: it waits for the data plane, resynchronises
// with it, runs the health checks and pushes every change of the effective
// state. On return the checks are stopped and the socket is closed and
// removed; nothing is sent to the data plane on the way out, which keeps
// forwarding with the last state (fail static); only the ctrl pid in the
// shared-memory file is cleared. Call Run exactly once: it owns the socket
// New created.
func (d *Daemon) Run(ctx context.Context) error {
	d.started = time.Now()
	d.log.Info("starting", "config", d.opts.ConfigPath, "services", len(d.cfg.Services), "socket", d.socket, "shm", d.shmPath)
	go d.serve()
	defer d.shutdown()
	d.serveHTTP()
	d.startVRRP()
	if err := d.startBGP(); err != nil {
		return err
	}

	tick := time.NewTicker(d.timing.Poll)
	defer tick.Stop()
	d.connect(time.Now())
	stop := ctx.Done()
	for {
		var jobDone chan error
		if d.job != nil {
			jobDone = d.job.done
		}
		var vrrpChanged chan struct{}
		if d.vrrp != nil {
			vrrpChanged = d.vrrp.changed
		}
		select {
		case <-vrrpChanged:
			d.push(time.Now())
		case <-stop:
			stop = nil // once
			if d.beginBGPDrain(time.Now()) {
				continue // the loop runs on until the routers moved the flows
			}
			d.log.Info("stopping: the data plane keeps forwarding with the last state")
			return nil
		case ev := <-d.events:
			d.onHealth(ev)
		case r := <-d.reqs:
			r.reply <- d.handle(r.cmd)
		case r := <-d.scrapes:
			r <- d.gatherScrape(time.Now())
		case err := <-jobDone:
			d.onPushed(err, time.Now())
		case now := <-tick.C:
			d.tick(now)
			if d.bgpDrained(now) {
				d.log.Info("stopping: the VIPs are withdrawn; the data plane keeps forwarding with the last state")
				return nil
			}
		}
	}
}

func (d *Daemon) shutdown() {
	d.stopBGP()
	d.stopVRRP() // masters hand over while the data plane still carries adverts
	close(d.done)
	if d.httpSrv != nil {
		d.httpSrv.Close()
	} else if d.httpLn != nil {
		d.httpLn.Close()
	}
	d.ln.Close() // removes the socket file
	d.closeConns()
	d.conns.Wait()
	d.mon.Close()
	if d.job != nil {
		d.job.cancel()
		<-d.job.done
		d.job = nil
	}
	if d.region != nil {
		d.region.SetPID(shm.Ctrl, 0)
		d.region.Close()
		d.region = nil
	}
	d.log.Info("stopped")
}

// Reload re-reads the configuration file, like SIGHUP. On error the
// running configuration stays and the error lists the problems, one per
// line.
func (d *Daemon) Reload(ctx context.Context) error {
	r, err := d.call(ctx, "reload")
	if err != nil {
		return err
	}
	if !r.OK {
		if len(r.Errors) > 0 {
			errs := make([]error, len(r.Errors))
			for i, e := range r.Errors {
				errs[i] = errors.New(e)
			}
			return errors.Join(errs...)
		}
		return errors.New(r.Error)
	}
	return nil
}

// call hands a request to the loop and waits for its answer.
func (d *Daemon) call(ctx context.Context, cmd string) (Response, error) {
	r := request{cmd: cmd, reply: make(chan Response, 1)}
	select {
	case d.reqs <- r:
	case <-d.done:
		return Response{}, errors.New("dsrlb-ctrl is shutting down")
	case <-ctx.Done():
		return Response{}, ctx.Err()
	}
	return <-r.reply, nil
}

func (d *Daemon) handle(cmd string) Response {
	switch cmd {
	case "status":
		st := d.status(time.Now())
		return Response{OK: true, Status: &st}
	case "reload":
		if errs := d.reload(time.Now()); len(errs) > 0 {
			return Response{Error: "configuration not reloaded", Errors: errs}
		}
		return Response{OK: true}
	case "probe":
		return Response{OK: true, jobs: d.probeJobs()}
	}
	return Response{Error: fmt.Sprintf("unknown command %q (valid: status, reload, probe)", cmd)}
}

// tick does the periodic work: read events, keep the link to the data
// plane alive, and push when something is due.
func (d *Daemon) tick(now time.Time) {
	d.pollEvents(now)
	if d.region != nil {
		// Every tick: the data plane gives VRRP groups up when this
		// heartbeat grows older than their master-down interval.
		d.region.SetHeartbeat(shm.Ctrl, now)
	}
	d.vrrpTick(now)
	d.bgpTick(now)
	d.sampleStats(now)
	if d.region == nil {
		if now.Sub(d.lastTry) >= d.timing.Retry {
			d.connect(now)
		}
	} else if now.Sub(d.lastBeat) >= d.timing.Heartbeat {
		d.liveness(now)
	}
	if !d.dumpSent.IsZero() && now.Sub(d.dumpSent) > d.timing.DumpTimeout {
		d.log.Warn("no answer to the state dump, asking again", "token", d.dumpToken, "timeout", d.timing.DumpTimeout)
		d.dumpSent = time.Time{}
		d.dumpToken = 0
	}
	if !d.evalDue.IsZero() && !now.Before(d.evalDue) {
		d.evalDue = time.Time{}
		d.evaluate()
	}
	if d.pushedGen != 0 && d.applied.Gen != d.pushedGen && !d.applyWarned && now.Sub(d.pushedAt) > d.timing.ApplyWarn {
		d.applyWarned = true
		d.log.Warn("the data plane has not confirmed the transaction", "gen", d.pushedGen, "waited", now.Sub(d.pushedAt).Round(time.Millisecond))
	}
	d.push(now)
}

// connect tries to open the data plane's shared-memory file.
func (d *Daemon) connect(now time.Time) {
	d.lastTry = now
	r, id, err := openFresh(d.shmPath, d.timing.Stale, now)
	if err != nil {
		reason := err.Error()
		if d.waitingLog.IsZero() || now.Sub(d.waitingLog) >= d.timing.WaitLog || reason != d.waitReason && !errors.Is(err, errStale) && !errors.Is(err, shm.ErrNotReady) {
			d.waitingLog, d.waitReason = now, reason
			d.log.Info("waiting for the data plane", "shm", d.shmPath, "reason", reason)
		} else {
			d.log.Debug("data plane not there yet", "shm", d.shmPath, "reason", reason)
		}
		return
	}
	d.adopt(r, id, now)
}

// adopt makes r the data plane's file.
func (d *Daemon) adopt(r *shm.Region, id fileID, now time.Time) {
	restarted := d.everMapped
	d.region, d.regionID, d.bootID = r, id, r.BootID()
	d.everMapped, d.dpUp = true, true
	d.waitingLog, d.waitReason = time.Time{}, ""
	r.SetPID(shm.Ctrl, os.Getpid())
	r.SetHeartbeat(shm.Ctrl, now)
	d.lastBeat = now
	// Events of an earlier session (an older ctrl's Applied, a Hello
	// already acted upon) would be misread: start from an empty ring.
	r.Events().Reset()
	d.evbuf = make([]byte, r.Events().MaxPayload())
	d.sentKey, d.sentValid = nil, false
	d.pushedGen, d.applyWarned = 0, false
	d.sessionGen = d.gen + 1
	if d.bgp != nil {
		d.bgp.synced = false
	}
	if d.vrrp != nil {
		d.vrrp.sent = nil
	}
	d.neighbors = map[netip.Addr]wire.Neighbor{}
	d.log.Info("data plane found", "shm", d.shmPath, "pid", r.DataplanePID(), "boot_id", bootIDString(d.bootID), "geometry", r.Geometry().String())
	if restarted && d.seeded {
		d.log.Info("data plane restarted, pushing full state", "pid", r.DataplanePID(), "boot_id", bootIDString(d.bootID))
	}
	d.retryAt = time.Time{}
	d.push(now)
}

func bootIDString(id uint64) string { return fmt.Sprintf("%016x", id) }

// liveness refreshes the ctrl heartbeat, notices a data plane that stopped
// beating, and one that was replaced by a new process (a new file at the
// path with another boot id).
func (d *Daemon) liveness(now time.Time) {
	d.lastBeat = now
	d.region.SetHeartbeat(shm.Ctrl, now)

	if id, err := statID(d.shmPath); err == nil && id != d.regionID && id != d.rejectedID {
		r, nid, err := openFresh(d.shmPath, d.timing.Stale, now)
		switch {
		case err == nil && r.BootID() != d.bootID:
			d.log.Info("new shared-memory file", "shm", d.shmPath, "old_boot_id", bootIDString(d.bootID), "boot_id", bootIDString(r.BootID()))
			d.drop()
			d.adopt(r, nid, now)
			return
		case err == nil: // the same data plane under a new name
			d.regionID = nid
			r.Close()
		case errors.Is(err, errStale):
			d.rejectedID = nid
		}
	}

	age := heartbeatAge(d.region, now)
	switch {
	case d.dpUp && age > d.timing.Stale:
		d.dpUp = false
		d.log.Warn("data plane not responding: keeping the health checks running", "heartbeat_age", age.Round(time.Millisecond), "pid", d.region.DataplanePID())
	case !d.dpUp && age <= d.timing.Stale:
		d.dpUp = true
		d.log.Info("data plane responding again", "pid", d.region.DataplanePID())
		d.retryAt = time.Time{}
	}
}

// drop forgets the mapped file (its data plane is gone).
func (d *Daemon) drop() {
	if d.job != nil {
		d.job.cancel()
		<-d.job.done
		d.job = nil
	}
	d.region.Close()
	d.region = nil
	d.dpUp = false
	d.dumpSent, d.dumpToken = time.Time{}, 0
}

// pollEvents reads the event ring.
func (d *Daemon) pollEvents(now time.Time) {
	if d.region == nil {
		return
	}
	q := d.region.Events()
	for range q.Cap() { // bounded: at most one ring's worth per tick
		kind, payload, ok := q.Pop(d.evbuf)
		if !ok {
			if err := q.Err(); err != nil {
				d.log.Error("event ring corrupt, discarding its contents", "err", err)
				q.Reset()
			}
			return
		}
		d.onEvent(kind, payload, now)
	}
}

func (d *Daemon) onEvent(kind uint32, payload []byte, now time.Time) {
	bad := func(err error) { d.log.Warn("bad message from the data plane", "kind", kind, "err", err) }
	switch kind {
	case wire.KindHello:
		var m wire.Hello
		if err := wire.Decode(payload, &m); err != nil {
			bad(err)
			return
		}
		d.log.Info("data plane hello", "pid", m.PID, "boot_id", bootIDString(m.BootID))
	case wire.KindApplied:
		var m wire.Applied
		if err := wire.Decode(payload, &m); err != nil {
			bad(err)
			return
		}
		d.applied, d.appliedAt = m, now
		d.onBGPApplied(m.Gen, m.Error == "")
		if m.Error != "" {
			d.metrics.rejected.Inc()
			d.log.Error("data plane rejected the state", "gen", m.Gen, "err", m.Error)
			return
		}
		d.metrics.applied.Inc()
		if m.Gen == d.pushedGen && !d.pushedAt.IsZero() {
			d.metrics.latency.Observe(now.Sub(d.pushedAt).Seconds())
		}
		d.log.Info("applied", "gen", m.Gen, "snapshot", m.Snapshot)
	case wire.KindDumpService:
		var m wire.Service
		if err := wire.Decode(payload, &m); err != nil {
			bad(err)
			return
		}
		if d.dumpToken != 0 {
			d.dumped.Services[m.Name] = m
		}
	case wire.KindDumpBackend:
		var m wire.Backend
		if err := wire.Decode(payload, &m); err != nil {
			bad(err)
			return
		}
		if d.dumpToken != 0 {
			d.dumped.Backends[m.Service] = append(d.dumped.Backends[m.Service], m)
		}
	case wire.KindDumpEnd:
		var m wire.DumpEnd
		if err := wire.Decode(payload, &m); err != nil {
			bad(err)
			return
		}
		if m.Token == 0 || m.Token != d.dumpToken || d.dumpSent.IsZero() {
			// What was collected so far belonged to that old dump.
			d.log.Debug("ignoring the end of an old dump", "token", m.Token)
			d.dumped = Applied{Services: map[string]wire.Service{}, Backends: map[string][]wire.Backend{}}
			return
		}
		d.dumped.Snapshot, d.dumped.FromConfig = m.Snapshot, m.FromConfig
		d.dumpSent, d.dumpToken = time.Time{}, 0
		d.onDump(now)
	case wire.KindNeighbor:
		var m wire.Neighbor
		if err := wire.Decode(payload, &m); err != nil {
			bad(err)
			return
		}
		m.Addr = m.Addr.Unmap() // keyed like the configuration: IPv4 never IPv4-mapped
		d.neighbors[m.Addr] = m
		d.log.Debug("real server neighbour", "addr", m.Addr, "mac", m.MAC, "port", m.Port, "resolved", m.Resolved)
	default:
		d.log.Debug("unknown message from the data plane", "kind", kind)
	}
}

// sendDump asks the data plane for its applied state.
func (d *Daemon) sendDump(now time.Time) {
	if d.job != nil || d.region == nil {
		return
	}
	d.tokenSeq++
	tok := d.tokenSeq
	d.dumpToken = tok
	d.dumped = Applied{Services: map[string]wire.Service{}, Backends: map[string][]wire.Backend{}}
	b, _ := wire.Encode(wire.Dump{Token: tok})
	d.dumpSent = now // the timeout runs from here; a push that fails clears it
	d.startJob(&pushJob{token: tok}, []msg{{wire.KindDump, b}})
}

// onDump seeds the health state from the data plane's applied state and
// starts the health checks.
func (d *Daemon) onDump(now time.Time) {
	n := 0
	for _, bs := range d.dumped.Backends {
		n += len(bs)
	}
	d.log.Info("data plane state", "snapshot", d.dumped.Snapshot, "from_config", d.dumped.FromConfig, "services", len(d.dumped.Services), "backends", n)
	d.health = Seed(d.cfg, &d.dumped)
	d.startUp = map[string]bool{}
	for k, up := range d.health {
		d.startUp[k] = up
	}
	d.seeded = true
	d.updateTargets()
	d.evaluate()
	d.push(now)
}

// updateTargets makes the monitor check the real servers of d.cfg. A new
// target starts up unless its service has alpha; known targets keep their
// state.
func (d *Daemon) updateTargets() {
	targets := Targets(d.cfg, func(key string, s *conf.Service) bool {
		if up, ok := d.startUp[key]; ok {
			return up
		}
		d.startUp[key] = !s.Alpha
		d.health[key] = !s.Alpha
		return !s.Alpha
	}, d.opts.ProbeAddr, d.ports)
	keep := make(map[string]bool, len(targets))
	for _, t := range targets {
		keep[t.Key] = true
	}
	for k := range d.startUp {
		if !keep[k] {
			delete(d.startUp, k)
			delete(d.health, k)
		}
	}
	if err := d.mon.Update(targets); err != nil {
		d.log.Error("health checks not updated", "err", err)
	}
}

// onHealth records a real server's state change; the evaluation waits for
// the debounce window so that a burst makes one transaction.
func (d *Daemon) onHealth(ev health.Event) {
	cur, known := d.health[ev.Key]
	if !known || cur == ev.Up {
		return // a removed target, or the announcement of the state we seeded
	}
	d.health[ev.Key] = ev.Up
	if d.evalDue.IsZero() {
		d.evalDue = time.Now().Add(d.timing.Debounce)
	}
}

// evaluate recomputes the plan and logs what changed at service level.
func (d *Daemon) evaluate() {
	if !d.seeded {
		return
	}
	old := d.plan
	p := Evaluate(d.cfg, d.health, d.quorum)
	d.quorum = p.Quorum
	d.plan = p
	d.logPlan(old, p)

	var body []msg
	var key bytes.Buffer
	for i := range p.Services {
		sp := &p.Services[i]
		add := func(kind uint32, v any) {
			b, err := wire.Encode(v)
			if err != nil {
				d.log.Error("cannot encode a message for the data plane", "service", sp.Service.Name, "err", err)
				return
			}
			body = append(body, msg{kind, b})
			key.WriteString(strconv.Itoa(int(kind)))
			key.Write(b)
			key.WriteByte('\n')
		}
		add(wire.KindService, sp.Service)
		for _, b := range sp.Backends {
			add(wire.KindBackend, b)
		}
		for _, pr := range d.ports.probes(&d.cfg.Services[i]) {
			add(wire.KindProbe, pr)
		}
	}
	for _, g := range d.vrrpGroups() {
		b, err := wire.Encode(g)
		if err != nil {
			d.log.Error("cannot encode a VRRP group for the data plane", "group", g.Name, "err", err)
			continue
		}
		body = append(body, msg{wire.KindVRRPGroup, b})
		key.WriteString(strconv.Itoa(int(wire.KindVRRPGroup)))
		key.Write(b)
		key.WriteByte('\n')
	}
	d.body, d.bodyKey = body, key.Bytes()
	d.vrrpTracked(p)
}

func (d *Daemon) logPlan(old, p *Plan) {
	prev := map[string]*ServicePlan{}
	if old != nil {
		for i := range old.Services {
			prev[old.Services[i].Service.Name] = &old.Services[i]
		}
	}
	for _, c := range p.Changes {
		args := []any{"service", c.Service, "healthy_weight", c.HealthyWeight, "quorum", c.Quorum, "hysteresis", c.Hysteresis}
		if c.Up {
			d.log.Info("quorum restored", args...)
		} else {
			d.log.Warn("quorum lost", args...)
		}
	}
	for i := range p.Services {
		sp := &p.Services[i]
		o := prev[sp.Service.Name]
		if sp.PriorityGroups && sp.Capacity && o != nil && o.Capacity && o.ActivePriority != sp.ActivePriority {
			// A lower group taking over is a failure; the higher one
			// coming back is the recovery.
			level := slog.LevelWarn
			if sp.ActivePriority > o.ActivePriority {
				level = slog.LevelInfo
			}
			d.log.Log(context.Background(), level, "priority group switch: new flows go to another group", "service", sp.Service.Name,
				"from_priority", o.ActivePriority, "to_priority", sp.ActivePriority)
		}
		if o != nil && o.Healthy == sp.Healthy && len(o.Real) == len(sp.Real) && o.QuorumUp == sp.QuorumUp && o.SorryActive == sp.SorryActive {
			continue
		}
		args := []any{"service", sp.Service.Name, "healthy", sp.Healthy, "total", len(sp.Real),
			"healthy_weight", sp.HealthyWeight, "quorum", upDown(sp.QuorumUp), "sorry_active", sp.SorryActive}
		if sp.PriorityGroups && sp.Capacity {
			args = append(args, "active_priority", sp.ActivePriority)
		}
		switch {
		case sp.SorryActive:
			d.log.Warn("service health: sorry server stands in", append(args, "sorry_server", sp.SorryServer)...)
		case !sp.QuorumUp:
			d.log.Warn("service health: quorum down and no sorry server, keeping the healthy real servers", args...)
		case sp.Healthy < len(sp.Real):
			d.log.Warn("service health", args...)
		default:
			d.log.Info("service health", args...)
		}
	}
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// push starts a transaction if the plan differs from what the data plane
// was last sent and nothing prevents it.
func (d *Daemon) push(now time.Time) {
	if d.job != nil || d.region == nil || !d.dpUp || now.Before(d.retryAt) {
		return
	}
	if !d.seeded {
		if d.dumpSent.IsZero() {
			d.sendDump(now)
		}
		return
	}
	if d.plan == nil || d.sentValid && bytes.Equal(d.sentKey, d.bodyKey) {
		d.pushVRRP() // the state in force: VRRP states may follow
		return
	}
	d.gen++
	gen := d.gen
	begin, _ := wire.Encode(wire.SyncBegin{Gen: gen})
	commit, _ := wire.Encode(wire.SyncCommit{Gen: gen})
	msgs := make([]msg, 0, len(d.body)+2)
	msgs = append(msgs, msg{wire.KindSyncBegin, begin})
	msgs = append(msgs, d.body...)
	msgs = append(msgs, msg{wire.KindSyncCommit, commit})
	d.log.Debug("pushing state", "gen", gen, "messages", len(msgs))
	d.startJob(&pushJob{gen: gen, key: d.bodyKey}, msgs)
}

func (d *Daemon) startJob(j *pushJob, msgs []msg) {
	ctx, cancel := context.WithCancel(context.Background())
	j.cancel = cancel
	j.done = make(chan error, 1)
	d.job = j
	q := d.region.Commands()
	timeout := d.timing.PushTimeout
	log, full := d.log, d.metrics.ringFull
	go func() {
		j.done <- pushAll(ctx, q, msgs, timeout, func(waited time.Duration) {
			full.Inc()
			log.Warn("command ring full, waiting", "waited", waited.Round(time.Millisecond), "messages", len(msgs), "gen", j.gen)
		})
	}()
}

// onPushed handles the end of a push job.
func (d *Daemon) onPushed(err error, now time.Time) {
	j := d.job
	d.job = nil
	j.cancel()
	if j.vrrp != nil {
		if err != nil {
			d.log.Error("pushing VRRP states to the data plane failed, will retry", "err", err, "retry_in", d.timing.PushRetry)
			d.retryAt = now.Add(d.timing.PushRetry)
			return
		}
		d.onVRRPPushed(j.vrrp)
		d.push(now)
		return
	}
	if j.gen == 0 { // a Dump
		if err != nil {
			d.log.Error("cannot ask the data plane for its state", "err", err)
			d.dumpSent, d.dumpToken = time.Time{}, 0
			d.retryAt = now.Add(d.timing.PushRetry)
		}
		return
	}
	if err != nil {
		d.log.Error("pushing the state to the data plane failed, will retry the whole transaction", "gen", j.gen, "err", err, "retry_in", d.timing.PushRetry)
		d.retryAt = now.Add(d.timing.PushRetry)
		return
	}
	d.sentKey, d.sentValid = j.key, true
	d.pushedGen, d.pushedAt, d.applyWarned = j.gen, now, false
	d.metrics.pushed.Inc()
	d.push(now) // the plan may have changed meanwhile
}

// reload re-reads the configuration; it returns the problems, if any.
func (d *Daemon) reload(now time.Time) []string {
	d.lastReload = now
	c, err := load(d.opts.ConfigPath)
	if err != nil {
		d.metrics.reloads.WithLabelValues("failed").Inc()
		d.reloadErrs = errorLines(err)
		for _, e := range d.reloadErrs {
			d.log.Error("reload failed, keeping the running configuration", "err", e)
		}
		return d.reloadErrs
	}
	d.reloadErrs = nil
	old := d.cfg
	if !reflect.DeepEqual(old.VRRP, c.VRRP) || old.Ctrl.VRRPDataplaneTimeout != c.Ctrl.VRRPDataplaneTimeout {
		d.metrics.reloads.WithLabelValues("failed").Inc()
		d.reloadErrs = []string{"the [[vrrp]] instances or ctrl.vrrp_dataplane_timeout changed: restart dsrlb-ctrl to apply them (the peer takes over meanwhile); configuration not reloaded"}
		d.log.Error("reload failed, keeping the running configuration", "err", d.reloadErrs[0])
		return d.reloadErrs
	}
	if !reflect.DeepEqual(old.BGP, c.BGP) {
		d.metrics.reloads.WithLabelValues("failed").Inc()
		d.reloadErrs = []string{"the [bgp] table changed: restart dsrlb-ctrl to apply it (with a drain: the other balancers take the flows meanwhile); configuration not reloaded"}
		d.log.Error("reload failed, keeping the running configuration", "err", d.reloadErrs[0])
		return d.reloadErrs
	}
	d.warnTableChanges(old, c)
	d.cfg = c
	d.ports = d.ports.assign(c)
	if !reflect.DeepEqual(old.Dataplane, c.Dataplane) {
		d.log.Warn("the [dataplane] table changed: restart the data plane to apply it (services apply now)")
	}
	if old.Ctrl.MetricsListen != c.Ctrl.MetricsListen {
		d.log.Warn("ctrl.metrics_listen changed: restart dsrlb-ctrl to move the listener", "listen", old.Ctrl.MetricsListen, "new", c.Ctrl.MetricsListen)
	}
	if old.Ctrl.Socket != c.Ctrl.Socket {
		d.log.Warn("ctrl.socket changed: restart dsrlb-ctrl to move the socket", "socket", d.socket, "new", c.Ctrl.Socket)
	}
	d.shmPath = c.Dataplane.SHM
	if d.seeded {
		d.updateTargets()
	}
	d.evaluate()
	d.push(now)
	d.metrics.reloads.WithLabelValues("ok").Inc()
	d.log.Info("reloaded", "config", d.opts.ConfigPath, "services", len(c.Services))
	return nil
}

// errorLines splits a joined error into its lines.
func errorLines(err error) []string {
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, errorLines(e)...)
		}
		return out
	}
	return []string{err.Error()}
}
