package dataplane

import (
	"sync"
	"time"

	"dsrlb/dpdk"
	"dsrlb/hw"
)

// kernelPath is the exception path: a goroutine that moves packets
// between the worker lcores and the kernel's TAP interface. Workers never
// touch the TAP themselves (its I/O is a system call); they hand packets
// for the kernel over a ring, and the kernel's packets come back to them
// over another, to leave through the first port.
type kernelPath struct {
	dp     *Dataplane
	poller *dpdk.Poller
	quit   chan struct{}
	done   sync.WaitGroup
	next   int
}

// kernelPoll is how long the goroutine sleeps when there was nothing to
// move: the exception path carries control traffic (health checks, VRRP,
// management), where a fraction of a millisecond does not matter.
const kernelPoll = 200 * time.Microsecond

func startKernelPath(dp *Dataplane) (*kernelPath, error) {
	p, err := dpdk.NewPoller([]dpdk.PortID{dp.tap.ID}, 0, 0, 32, -1)
	if err != nil {
		return nil, err
	}
	k := &kernelPath{dp: dp, poller: p, quit: make(chan struct{})}
	k.done.Add(1)
	go k.pollTAP()
	return k, nil
}

// pollTAP is the exception path's loop.
func (k *kernelPath) pollTAP() {
	defer k.done.Done()
	g := k.dp.global
	for {
		select {
		case <-k.quit:
			k.poller.Flush()
			return
		default:
		}
		moved := 0
		// To the kernel: everything the workers queued.
		for _, lc := range k.dp.lcores {
			for {
				m, ok := lc.ToKernel.Pop()
				if !ok {
					break
				}
				moved++
				if !k.poller.Tx(0, m) {
					k.poller.Free(m)
					g.add(gToKernelDropped, 1)
					continue
				}
				g.add(gToKernelSent, 1)
			}
		}
		// From the kernel: out through the first port, via a worker,
		// but its ARP requests and neighbour solicitations for VIPs
		// answered here (the DSR path checks connect to VIPs).
		_, pkts := k.poller.Poll()
		snap := k.dp.snap.Load()
		for _, m := range pkts {
			moved++
			if m.NbSegs() == 1 {
				if n, ok := snap.KernelNeighbor(m.Buffer(), int(m.DataOff()), int(m.DataLen())); ok {
					m.SetData(m.DataOff(), uint16(n))
					if !k.poller.Tx(0, m) {
						k.poller.Free(m)
						g.add(gToKernelDropped, 1)
						continue
					}
					g.add(gKernelNeighbor, 1)
					continue
				}
			}
			lc := k.dp.lcores[k.next%len(k.dp.lcores)]
			k.next++
			if !lc.FromKernel.Push(hw.Injected{M: m, Port: 0}) {
				k.poller.Free(m)
				g.add(gFromKernelDropped, 1)
				continue
			}
			g.add(gFromKernel, 1)
		}
		if moved == 0 {
			time.Sleep(kernelPoll)
		}
	}
}

// stop ends the goroutine. Packets still queued towards the kernel are
// freed by freeQueued once the workers have stopped.
func (k *kernelPath) stop() {
	select {
	case <-k.quit:
		return
	default:
	}
	close(k.quit)
	k.done.Wait()
}

// freeQueued frees what the stopped workers left for the kernel.
func (k *kernelPath) freeQueued() {
	for _, lc := range k.dp.lcores {
		for {
			m, ok := lc.ToKernel.Pop()
			if !ok {
				break
			}
			k.poller.Free(m)
		}
	}
	k.poller.Flush()
}
