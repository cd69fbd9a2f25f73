package dpdk

/*
#include "dsrlb_dpdk.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// PortID is an ethdev port.
type PortID uint16

// Offload and RSS capability bits, as DPDK defines them.
const (
	RxOffloadIPv4Checksum = uint64(C.RTE_ETH_RX_OFFLOAD_IPV4_CKSUM)
	RxOffloadRSSHash      = uint64(C.RTE_ETH_RX_OFFLOAD_RSS_HASH)
	TxOffloadMbufFastFree = uint64(C.RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
	TxOffloadIPv4Checksum = uint64(C.RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)
	TxOffloadUDPChecksum  = uint64(C.RTE_ETH_TX_OFFLOAD_UDP_CKSUM)
	TxOffloadMultiSegs    = uint64(C.RTE_ETH_TX_OFFLOAD_MULTI_SEGS)

	RSSIP  = uint64(C.RTE_ETH_RSS_IP)
	RSSTCP = uint64(C.RTE_ETH_RSS_TCP)
	RSSUDP = uint64(C.RTE_ETH_RSS_UDP)
)

// PortByName finds a probed device by name: a vdev instance name such as
// "net_af_packet0", or a PCI address.
func PortByName(name string) (PortID, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var id C.uint16_t
	if rc := C.rte_eth_dev_get_port_by_name(cname, &id); rc != 0 {
		return 0, errFromRC("rte_eth_dev_get_port_by_name "+name, rc)
	}
	return PortID(id), nil
}

// DevInfo is what a device reports about itself.
type DevInfo struct {
	Driver                   string
	MaxRxQueues, MaxTxQueues uint16
	MinMTU, MaxMTU           uint16
	RxOffloadCapa            uint64
	TxOffloadCapa            uint64
	RSSOffloads              uint64 // hash functions the device supports
	RxDescMin, RxDescMax     uint16
	TxDescMin, TxDescMax     uint16
	Socket                   int
}

// Info asks the device for its capabilities.
func (p PortID) Info() (DevInfo, error) {
	var i C.struct_dsrlb_dev_info
	if rc := C.dsrlb_dev_info(C.uint16_t(p), &i); rc != 0 {
		return DevInfo{}, errFromRC("rte_eth_dev_info_get", rc)
	}
	return DevInfo{
		Driver:        C.GoString(&i.driver[0]),
		MaxRxQueues:   uint16(i.max_rx_queues),
		MaxTxQueues:   uint16(i.max_tx_queues),
		MinMTU:        uint16(i.min_mtu),
		MaxMTU:        uint16(i.max_mtu),
		RxOffloadCapa: uint64(i.rx_offload_capa),
		TxOffloadCapa: uint64(i.tx_offload_capa),
		RSSOffloads:   uint64(i.flow_type_rss_offloads),
		RxDescMin:     uint16(i.rx_desc_min),
		RxDescMax:     uint16(i.rx_desc_max),
		TxDescMin:     uint16(i.tx_desc_min),
		TxDescMax:     uint16(i.tx_desc_max),
		Socket:        int(i.socket_id),
	}, nil
}

// PortConf is the device-wide configuration.
type PortConf struct {
	RxQueues, TxQueues uint16
	RSSHash            uint64 // 0: no RSS
	RxOffloads         uint64
	TxOffloads         uint64
	MTU                uint32
}

// Configure applies c; the port must be stopped.
func (p PortID) Configure(c PortConf) error {
	rc := C.dsrlb_port_configure(C.uint16_t(p), C.uint16_t(c.RxQueues), C.uint16_t(c.TxQueues),
		C.uint64_t(c.RSSHash), C.uint64_t(c.RxOffloads), C.uint64_t(c.TxOffloads), C.uint32_t(c.MTU))
	return errFromRC("rte_eth_dev_configure", rc)
}

// SetupRxQueue sets up receive queue q with desc descriptors filled from pool.
func (p PortID) SetupRxQueue(q, desc uint16, socket int, pool *Mempool, offloads uint64) error {
	rc := C.dsrlb_rx_queue_setup(C.uint16_t(p), C.uint16_t(q), C.uint16_t(desc), C.int(socket), pool.p, C.uint64_t(offloads))
	return errFromRC(fmt.Sprintf("rte_eth_rx_queue_setup queue %d", q), rc)
}

// SetupTxQueue sets up transmit queue q with desc descriptors.
func (p PortID) SetupTxQueue(q, desc uint16, socket int, offloads uint64) error {
	rc := C.dsrlb_tx_queue_setup(C.uint16_t(p), C.uint16_t(q), C.uint16_t(desc), C.int(socket), C.uint64_t(offloads))
	return errFromRC(fmt.Sprintf("rte_eth_tx_queue_setup queue %d", q), rc)
}

// Start starts the port.
func (p PortID) Start() error {
	return errFromRC("rte_eth_dev_start", C.rte_eth_dev_start(C.uint16_t(p)))
}

// Stop stops the port.
func (p PortID) Stop() error { return errFromRC("rte_eth_dev_stop", C.rte_eth_dev_stop(C.uint16_t(p))) }

// Close releases the port; it must be stopped.
func (p PortID) Close() error {
	return errFromRC("rte_eth_dev_close", C.rte_eth_dev_close(C.uint16_t(p)))
}

// MAC returns the port's current MAC address.
func (p PortID) MAC() ([6]byte, error) {
	var m [6]C.uint8_t
	if rc := C.dsrlb_macaddr(C.uint16_t(p), &m[0]); rc != 0 {
		return [6]byte{}, errFromRC("rte_eth_macaddr_get", rc)
	}
	var out [6]byte
	for i := range m {
		out[i] = byte(m[i])
	}
	return out, nil
}

// SetMAC sets the port's default MAC address.
func (p PortID) SetMAC(mac [6]byte) error {
	var m [6]C.uint8_t
	for i := range m {
		m[i] = C.uint8_t(mac[i])
	}
	return errFromRC("rte_eth_dev_default_mac_addr_set", C.dsrlb_set_macaddr(C.uint16_t(p), &m[0]))
}

// SetMTU sets the port's MTU.
func (p PortID) SetMTU(mtu uint16) error {
	return errFromRC("rte_eth_dev_set_mtu", C.rte_eth_dev_set_mtu(C.uint16_t(p), C.uint16_t(mtu)))
}

// MTU returns the port's MTU.
func (p PortID) MTU() (uint16, error) {
	var mtu C.uint16_t
	if rc := C.rte_eth_dev_get_mtu(C.uint16_t(p), &mtu); rc != 0 {
		return 0, errFromRC("rte_eth_dev_get_mtu", rc)
	}
	return uint16(mtu), nil
}

// SetPromiscuous turns promiscuous mode on or off.
func (p PortID) SetPromiscuous(on bool) error {
	if on {
		return errFromRC("rte_eth_promiscuous_enable", C.rte_eth_promiscuous_enable(C.uint16_t(p)))
	}
	return errFromRC("rte_eth_promiscuous_disable", C.rte_eth_promiscuous_disable(C.uint16_t(p)))
}

// SetAllMulticast turns reception of every multicast frame on or off
// (IPv6 neighbour discovery and VRRP arrive on multicast MACs).
func (p PortID) SetAllMulticast(on bool) error {
	if on {
		return errFromRC("rte_eth_allmulticast_enable", C.rte_eth_allmulticast_enable(C.uint16_t(p)))
	}
	return errFromRC("rte_eth_allmulticast_disable", C.rte_eth_allmulticast_disable(C.uint16_t(p)))
}

// Link is a port's link state.
type Link struct {
	Up         bool
	SpeedMbps  uint32
	FullDuplex bool
}

// Link reads the link state without waiting.
func (p PortID) Link() (Link, error) {
	var speed C.uint32_t
	var up, fd C.int
	if rc := C.dsrlb_link(C.uint16_t(p), &speed, &up, &fd); rc != 0 {
		return Link{}, errFromRC("rte_eth_link_get_nowait", rc)
	}
	return Link{Up: up != 0, SpeedMbps: uint32(speed), FullDuplex: fd != 0}, nil
}

// Stats are the basic device counters.
type Stats struct {
	InPackets, OutPackets, InBytes, OutBytes uint64
	InMissed, InErrors, OutErrors, RxNoMbuf  uint64
}

// Stats reads the basic device counters.
func (p PortID) Stats() (Stats, error) {
	var s C.struct_dsrlb_stats
	if rc := C.dsrlb_stats(C.uint16_t(p), &s); rc != 0 {
		return Stats{}, errFromRC("rte_eth_stats_get", rc)
	}
	return Stats{
		InPackets: uint64(s.ipackets), OutPackets: uint64(s.opackets),
		InBytes: uint64(s.ibytes), OutBytes: uint64(s.obytes),
		InMissed: uint64(s.imissed), InErrors: uint64(s.ierrors),
		OutErrors: uint64(s.oerrors), RxNoMbuf: uint64(s.rx_nombuf),
	}, nil
}

// XStat is one extended device counter.
type XStat struct {
	Name  string
	Value uint64
}

// XStats reads the device's extended counters.
func (p PortID) XStats() ([]XStat, error) {
	n := C.rte_eth_xstats_get_names(C.uint16_t(p), nil, 0)
	if n < 0 {
		return nil, errFromRC("rte_eth_xstats_get_names", n)
	}
	if n == 0 {
		return nil, nil
	}
	names := (*C.struct_rte_eth_xstat_name)(C.calloc(C.size_t(n), C.sizeof_struct_rte_eth_xstat_name))
	defer C.free(unsafe.Pointer(names))
	vals := (*C.struct_rte_eth_xstat)(C.calloc(C.size_t(n), C.sizeof_struct_rte_eth_xstat))
	defer C.free(unsafe.Pointer(vals))
	if rc := C.rte_eth_xstats_get_names(C.uint16_t(p), names, C.uint(n)); rc != n {
		return nil, fmt.Errorf("rte_eth_xstats_get_names: got %d of %d names", rc, n)
	}
	if rc := C.rte_eth_xstats_get(C.uint16_t(p), vals, C.uint(n)); rc != n {
		return nil, fmt.Errorf("rte_eth_xstats_get: got %d of %d values", rc, n)
	}
	ns := unsafe.Slice(names, int(n))
	vs := unsafe.Slice(vals, int(n))
	out := make([]XStat, 0, int(n))
	for _, v := range vs {
		if int(v.id) >= len(ns) {
			continue
		}
		out = append(out, XStat{Name: C.GoString(&ns[v.id].name[0]), Value: uint64(v.value)})
	}
	return out, nil
}
