package dpdk

/*
#include "dsrlb_dpdk.h"
*/
import "C"

import (
	"unsafe"
)

// Mempool is a DPDK packet mbuf pool.
type Mempool struct {
	p    *C.struct_rte_mempool
	name string
}

// DefaultDataRoom is the data room of a pool's mbufs: DPDK's default 2 KiB
// plus headroom.
const DefaultDataRoom = C.RTE_MBUF_DEFAULT_BUF_SIZE

// NewPktPool creates a packet pool of n mbufs (ideally 2^k-1), with a
// per-lcore cache of cache mbufs, on a NUMA socket (-1 for any).
func NewPktPool(name string, n, cache, dataRoom, socket int) (*Mempool, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var errno C.int
	p := C.dsrlb_pool_create(cname, C.uint(n), C.uint(cache), C.uint16_t(dataRoom), C.int(socket), &errno)
	if p == nil {
		return nil, &Error{Op: "rte_pktmbuf_pool_create " + name, Errno: int(errno)}
	}
	return &Mempool{p: p, name: name}, nil
}

// Free releases the pool. No mbuf of it may be in use.
func (m *Mempool) Free() {
	if m.p != nil {
		C.rte_mempool_free(m.p)
		m.p = nil
	}
}

// Avail is the number of free mbufs in the pool, caches included.
func (m *Mempool) Avail() int { return int(C.rte_mempool_avail_count(m.p)) }

// InUse is the number of mbufs taken from the pool.
func (m *Mempool) InUse() int { return int(C.rte_mempool_in_use_count(m.p)) }

// AllocBulk fills out with fresh mbufs (all or none). Slow path only: one
// cgo call per call.
func (m *Mempool) AllocBulk(out []*Mbuf) error {
	if len(out) == 0 {
		return nil
	}
	tmp := (**C.struct_rte_mbuf)(C.malloc(C.size_t(len(out)) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(tmp))
	if rc := C.dsrlb_alloc_bulk(m.p, tmp, C.uint(len(out))); rc != 0 {
		return errFromRC("rte_pktmbuf_alloc_bulk", rc)
	}
	for i, p := range unsafe.Slice(tmp, len(out)) {
		out[i] = (*Mbuf)(unsafe.Pointer(p))
	}
	return nil
}

// FreeMbufs returns mbufs to their pools. Slow path only.
func FreeMbufs(ms []*Mbuf) {
	if len(ms) == 0 {
		return
	}
	tmp := (**C.struct_rte_mbuf)(C.malloc(C.size_t(len(ms)) * C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(tmp))
	s := unsafe.Slice(tmp, len(ms))
	for i, m := range ms {
		s[i] = (*C.struct_rte_mbuf)(unsafe.Pointer(m))
	}
	C.dsrlb_free_bulk(tmp, C.uint(len(ms)))
}
