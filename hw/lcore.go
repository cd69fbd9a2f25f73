package hw

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"dsrlb/dpdk"
	"dsrlb/pipeline"
	"dsrlb/pipeline/encap"
	"dsrlb/pipeline/header"
)

// Injected is a packet the main goroutine built (an ARP request, a
// gratuitous ARP) for a worker to send on port index Port.
type Injected struct {
	M    *dpdk.Mbuf
	Port uint8
}

// Lcore is one worker lcore: a goroutine locked to an OS thread pinned to
// CPU, registered with DPDK, that owns RX and TX queue Queue of every port.
type Lcore struct {
	CPU       int
	Queue     int
	Ports     []*Port
	Burst     int
	IdleSleep time.Duration
	Worker    *pipeline.Worker
	Snapshot  *atomic.Pointer[pipeline.Snapshot]
	// Inject carries packets from the main goroutine to this lcore.
	Inject *pipeline.Ring[Injected]
	// ToKernel carries packets for the kernel to the exception path;
	// FromKernel brings the kernel's packets to send. Both nil without an
	// exception path.
	ToKernel   *pipeline.Ring[*dpdk.Mbuf]
	FromKernel *pipeline.Ring[Injected]

	stop    atomic.Bool
	started chan error
	done    chan struct{}
	poller  *dpdk.Poller
	// idle polls before the first sleep when IdleSleep is set
	idleLimit int
	// probe is the scratch packet of drainKernel.
	probe pipeline.Packet
}

// Start launches the lcore goroutine and waits until it polls (or failed to
// pin, register or set up).
func (l *Lcore) Start() error {
	l.started = make(chan error, 1)
	l.done = make(chan struct{})
	l.idleLimit = 256
	go l.pollQueues()
	return <-l.started
}

// Stop asks the lcore to finish its burst and waits for it.
func (l *Lcore) Stop() {
	if l.done == nil {
		return
	}
	l.stop.Store(true)
	<-l.done
}

// TxCounters returns the packets the lcore's transmit queue of port index
// port accepted and refused (0, 0 before the lcore runs).
func (l *Lcore) TxCounters(port int) (sent, refused uint64) {
	p := l.poller
	if p == nil || port < 0 || port >= len(l.Ports) {
		return 0, 0
	}
	return p.TxCounters(port)
}

// pollQueues is the lcore's loop: inject, poll, process, stage. It never
// allocates, locks or makes a syscall while packets flow (idle sleep aside).
func (l *Lcore) pollQueues() {
	defer close(l.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := dpdk.SetAffinity(l.CPU); err != nil {
		l.started <- err
		return
	}
	if _, err := dpdk.RegisterThread(); err != nil {
		l.started <- fmt.Errorf("worker on CPU %d: %w", l.CPU, err)
		return
	}
	defer dpdk.UnregisterThread()
	ids := make([]dpdk.PortID, len(l.Ports))
	csum := make([]bool, len(l.Ports))
	for i, p := range l.Ports {
		ids[i] = p.ID
		csum[i] = p.RxIPChecksum
	}
	poller, err := dpdk.NewPoller(ids, uint16(l.Queue), uint16(l.Queue), l.Burst, dpdk.SocketID())
	if err != nil {
		l.started <- err
		return
	}
	for i, p := range l.Ports {
		poller.SetTxPrepare(i, p.TxHW != 0)
	}
	l.poller = poller
	l.started <- nil

	w := l.Worker
	idle := 0
	for !l.stop.Load() {
		l.drainInject(l.Inject)
		if l.FromKernel != nil {
			l.drainKernel(w)
		}
		port, mbufs := poller.Poll()
		if len(mbufs) == 0 {
			// Counters are published every few bursts while busy; an
			// idle lcore sweeps its flow table and publishes what
			// changed every 64 empty polls (every poll once it sleeps).
			idle++
			sleeping := l.IdleSleep > 0 && idle >= l.idleLimit
			if idle%64 == 0 || sleeping {
				w.Idle()
			}
			if sleeping {
				time.Sleep(l.IdleSleep)
			}
			continue
		}
		idle = 0
		l.process(w, l.Snapshot.Load(), port, csum[port], mbufs)
	}
	// Free what is staged or injected and leave the queues clean.
	poller.Flush()
	for _, r := range []*pipeline.Ring[Injected]{l.Inject, l.FromKernel} {
		for r != nil {
			inj, ok := r.Pop()
			if !ok {
				break
			}
			poller.Free(inj.M)
		}
	}
	poller.Flush()
	w.Publish()
	// The poller's memory stays valid for TxCounters readers until exit;
	// ports are stopped next, so nothing else uses it.
}

func (l *Lcore) drainInject(r *pipeline.Ring[Injected]) {
	for k := 0; k < 32; k++ {
		inj, ok := r.Pop()
		if !ok {
			return
		}
		if !l.poller.Tx(int(inj.Port), inj.M) {
			l.poller.Free(inj.M)
		}
	}
}

// drainKernel sends the kernel's packets: DSR path probes to their real
// servers (pipeline.Worker.Probe), every other one unchanged on the port
// it was queued for.
func (l *Lcore) drainKernel(w *pipeline.Worker) {
	var snap *pipeline.Snapshot
	p := &l.probe
	for k := 0; k < 32; k++ {
		inj, ok := l.FromKernel.Pop()
		if !ok {
			return
		}
		m, port := inj.M, int(inj.Port)
		res := pipeline.NotProbe
		if m.NbSegs() == 1 {
			if snap == nil {
				snap = l.Snapshot.Load()
			}
			p.Buf, p.Off, p.Len = m.Buffer(), int(m.DataOff()), int(m.DataLen())
			res = w.Probe(snap, p)
		}
		switch res {
		case pipeline.ProbeDropped:
			l.poller.Free(m)
			continue
		case pipeline.ProbeSent:
			if p.Off != int(m.DataOff()) || p.Len != int(m.DataLen()) {
				m.SetData(uint16(p.Off), uint16(p.Len))
			}
			askDevice(m, p)
			port = int(p.OutPort)
		}
		if !l.poller.Tx(port, m) {
			l.poller.Free(m)
		}
	}
}

// process runs one burst through the pipeline and stages the result.
func (l *Lcore) process(w *pipeline.Worker, snap *pipeline.Snapshot, port int, nicCsum bool, mbufs []*dpdk.Mbuf) {
	pk := w.Burst[:len(mbufs)]
	for i, m := range mbufs {
		p := &pk[i]
		p.Buf = m.Buffer()
		p.Off = int(m.DataOff())
		p.Len = int(m.DataLen())
		p.IPCsum = pipeline.ChecksumUnknown
		if nicCsum {
			switch m.OlFlags() & dpdk.RxIPChecksumMask {
			case dpdk.RxIPChecksumGood:
				p.IPCsum = pipeline.ChecksumGood
			case dpdk.RxIPChecksumBad:
				p.IPCsum = pipeline.ChecksumBad
			}
		}
	}
	w.Process(snap, port, pk)
	poller := l.poller
	for i, m := range mbufs {
		p := &pk[i]
		if !p.Verdict.Transmits() {
			if p.Verdict == pipeline.ToKernel {
				if l.ToKernel != nil && l.ToKernel.Push(m) {
					continue
				}
				w.Relabel(p, pipeline.DropKernelFull)
			}
			poller.Free(m)
			continue
		}
		if p.Off != int(m.DataOff()) || p.Len != int(m.DataLen()) {
			m.SetData(uint16(p.Off), uint16(p.Len))
		}
		if p.TxOffload != 0 {
			askDevice(m, p)
		}
		if !poller.Tx(int(p.OutPort), m) {
			w.Relabel(p, pipeline.DropTxFull)
			poller.Free(m)
		}
	}
}

// askDevice asks the device for the checksums the pipeline left to it
// (p.TxOffload): the outer IPv4 header's, or GUE's UDP over IPv6.
func askDevice(m *dpdk.Mbuf, p *pipeline.Packet) {
	switch p.TxOffload {
	case encap.HWIPv4Checksum:
		m.SetTxOffload(dpdk.TxIPv4|dpdk.TxIPChecksum, uint16(p.L3Offset()), header.IPv4MinLen)
	case encap.HWUDPChecksum:
		m.SetTxOffload(dpdk.TxIPv6|dpdk.TxUDPChecksum, uint16(p.L3Offset()), header.IPv6Len)
	}
}
