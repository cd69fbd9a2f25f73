package dpdk

/*
#include "dsrlb_dpdk.h"
*/
import "C"

import "unsafe"

// Mbuf is a DPDK packet buffer (struct rte_mbuf). It lives in DPDK memory;
// Go code only ever holds pointers to it. Its accessors read and write the
// C struct through compile-time-checked offsets and never call C.
type Mbuf struct{ _ [0]byte }

const (
	offBufAddr = C.DSRLB_MBUF_BUF_ADDR
	offDataOff = C.DSRLB_MBUF_DATA_OFF
	offNbSegs  = C.DSRLB_MBUF_NB_SEGS
	offPort    = C.DSRLB_MBUF_PORT
	offOlFlags = C.DSRLB_MBUF_OL_FLAGS
	offPktLen  = C.DSRLB_MBUF_PKT_LEN
	offDataLen = C.DSRLB_MBUF_DATA_LEN
	offBufLen  = C.DSRLB_MBUF_BUF_LEN
	offTxOfl   = C.DSRLB_MBUF_TX_OFFLOAD
)

// Transmit offload flags (ol_flags) for SetTxOffload.
const (
	TxIPv4        = uint64(C.RTE_MBUF_F_TX_IPV4)
	TxIPv6        = uint64(C.RTE_MBUF_F_TX_IPV6)
	TxIPChecksum  = uint64(C.RTE_MBUF_F_TX_IP_CKSUM)
	TxUDPChecksum = uint64(C.RTE_MBUF_F_TX_UDP_CKSUM)
)

// Receive offload flags (ol_flags) the pipeline may consult.
const (
	RxIPChecksumMask = uint64(C.RTE_MBUF_F_RX_IP_CKSUM_MASK)
	RxIPChecksumBad  = uint64(C.RTE_MBUF_F_RX_IP_CKSUM_BAD)
	RxIPChecksumGood = uint64(C.RTE_MBUF_F_RX_IP_CKSUM_GOOD)
)

func (m *Mbuf) field(off uintptr) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(m), off) }

// BufAddr is the start of the mbuf's buffer (headroom included).
func (m *Mbuf) BufAddr() unsafe.Pointer { return *(*unsafe.Pointer)(m.field(offBufAddr)) }

// DataOff is the offset of the packet data in the buffer.
func (m *Mbuf) DataOff() uint16 { return *(*uint16)(m.field(offDataOff)) }

// DataLen is the length of the data in this segment.
func (m *Mbuf) DataLen() uint16 { return *(*uint16)(m.field(offDataLen)) }

// PktLen is the length of the whole packet (all segments).
func (m *Mbuf) PktLen() uint32 { return *(*uint32)(m.field(offPktLen)) }

// BufLen is the size of the buffer.
func (m *Mbuf) BufLen() uint16 { return *(*uint16)(m.field(offBufLen)) }

// NbSegs is the number of segments of the packet.
func (m *Mbuf) NbSegs() uint16 { return *(*uint16)(m.field(offNbSegs)) }

// Port is the input port of a received mbuf.
func (m *Mbuf) Port() uint16 { return *(*uint16)(m.field(offPort)) }

// OlFlags are the offload flags.
func (m *Mbuf) OlFlags() uint64 { return *(*uint64)(m.field(offOlFlags)) }

// SetTxOffload asks the device for the transmit offloads flags (Tx*
// constants) of a packet whose L2 header is l2 bytes and whose L3 header
// (the one the flags are about) l3 bytes long. It replaces the offload
// flags and lengths the mbuf had (those of its reception).
func (m *Mbuf) SetTxOffload(flags uint64, l2, l3 uint16) {
	*(*uint64)(m.field(offOlFlags)) = flags
	*(*uint64)(m.field(offTxOfl)) = uint64(l2&0x7f) | uint64(l3&0x1ff)<<7
}

// TxOffload returns the transmit offload lengths: L2 and L3 header
// lengths.
func (m *Mbuf) TxOffload() (l2, l3 uint16) {
	v := *(*uint64)(m.field(offTxOfl))
	return uint16(v & 0x7f), uint16(v >> 7 & 0x1ff)
}

// SetData sets where the packet data starts in the buffer and how long it
// is, for a single-segment packet: data offset, segment and packet length.
// The caller guarantees off+n <= BufLen().
func (m *Mbuf) SetData(off, n uint16) {
	*(*uint16)(m.field(offDataOff)) = off
	*(*uint16)(m.field(offDataLen)) = n
	*(*uint32)(m.field(offPktLen)) = uint32(n)
}

// Buffer is the whole buffer, headroom included, as a byte slice over DPDK
// memory. Valid until the mbuf is freed or sent.
func (m *Mbuf) Buffer() []byte {
	return unsafe.Slice((*byte)(m.BufAddr()), int(m.BufLen()))
}

// Data is the first segment's data as a byte slice over DPDK memory.
func (m *Mbuf) Data() []byte {
	return unsafe.Slice((*byte)(unsafe.Add(m.BufAddr(), uintptr(m.DataOff()))), int(m.DataLen()))
}
