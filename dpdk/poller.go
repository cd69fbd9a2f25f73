package dpdk

/*
#include "dsrlb_dpdk.h"
*/
import "C"

import (
	"errors"
	"unsafe"
)

// Limits of a Poller, shared with the C side.
const (
	MaxBurst = C.DSRLB_MAX_BURST
	MaxPorts = C.DSRLB_MAX_PORTS
	TxSlots  = C.DSRLB_TX_SLOTS
)

// Poller is one worker lcore's burst I/O over a set of ports: it receives
// from queue rxq and transmits on queue txq of each port. Its state lives
// in DPDK memory; only the owning lcore may call its methods, except
// TxCounters, which any goroutine may read.
type Poller struct {
	b *C.struct_dsrlb_burst
}

// NewPoller makes a Poller for the lcore that owns queue rxq/txq on ports.
func NewPoller(ports []PortID, rxq, txq uint16, burst, socket int) (*Poller, error) {
	if len(ports) == 0 || len(ports) > MaxPorts {
		return nil, errors.New("dpdk: poller needs 1..8 ports")
	}
	if burst < 1 || burst > MaxBurst {
		return nil, errors.New("dpdk: burst size must be 1..256")
	}
	b := C.dsrlb_burst_new(C.int(socket))
	if b == nil {
		return nil, errors.New("dpdk: out of DPDK memory for the burst context")
	}
	b.nb_ports = C.uint16_t(len(ports))
	b.burst_size = C.uint16_t(burst)
	b.rxq = C.uint16_t(rxq)
	b.txq = C.uint16_t(txq)
	for i, p := range ports {
		b.ports[i] = C.uint16_t(p)
	}
	return &Poller{b: b}, nil
}

// Close flushes what is staged and frees the Poller.
func (p *Poller) Close() {
	if p.b == nil {
		return
	}
	C.dsrlb_flush(p.b)
	C.dsrlb_burst_free(p.b)
	p.b = nil
}

// Poll sends everything staged since the last Poll, frees what a device
// refused and what was queued with Free, then receives up to a burst from
// the first port, in round-robin order, that has packets. One cgo call. It returns the index
// (into the Poller's ports) of the port polled and the packets received.
// The slice is valid until the next Poll.
func (p *Poller) Poll() (port int, pkts []*Mbuf) {
	n := int(C.dsrlb_poll(p.b))
	port = int(p.b.rx_port_index)
	if n == 0 {
		return port, nil
	}
	return port, unsafe.Slice((**Mbuf)(unsafe.Pointer(&p.b.rx[0])), n)
}

// SetTxPrepare makes the Poller call rte_eth_tx_prepare before sending on
// its port index port: needed when packets ask that port for checksum
// offloads (SetTxOffload), so the driver can complete what the device
// expects (pseudo-header sums, ...). A packet it refuses is counted as
// refused and freed, with the rest of that port's batch.
func (p *Poller) SetTxPrepare(port int, on bool) {
	var v C.uint16_t
	if on {
		v = 1
	}
	p.b.tx[port].prepare = v
}

// Flush sends what is staged and frees what is queued without receiving.
func (p *Poller) Flush() { C.dsrlb_flush(p.b) }

// Tx stages m for transmission on the Poller's port index port. It reports
// false when the staging area is full; the caller still owns m then.
func (p *Poller) Tx(port int, m *Mbuf) bool {
	t := &p.b.tx[port]
	n := int(t.n)
	if n >= TxSlots {
		return false
	}
	t.pkts[n] = (*C.struct_rte_mbuf)(unsafe.Pointer(m))
	t.n = C.uint16_t(n + 1)
	return true
}

// Free queues m to be freed at the next Poll or Flush.
func (p *Poller) Free(m *Mbuf) {
	n := int(p.b.nb_free)
	if n >= len(p.b.free) {
		C.dsrlb_flush(p.b)
		n = 0
	}
	p.b.free[n] = (*C.struct_rte_mbuf)(unsafe.Pointer(m))
	p.b.nb_free = C.uint16_t(n + 1)
}

// TxCounters returns how many packets port index port accepted and
// refused. The worker writes these 64-bit counters; aligned 64-bit loads
// are atomic on the architectures DPDK supports, so a reader sees a
// recent value, never a torn one.
func (p *Poller) TxCounters(port int) (sent, refused uint64) {
	t := &p.b.tx[port]
	return uint64(t.sent), uint64(t.refused)
}
