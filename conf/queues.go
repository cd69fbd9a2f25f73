package conf

import (
	"strconv"
	"strings"
)

// Limits of the packet buffers.
const (
	// DefaultMbufSize is DPDK's default data room: 2048 bytes of packet
	// and its 128-byte headroom (RTE_MBUF_DEFAULT_BUF_SIZE).
	DefaultMbufSize = 2048 + MbufHeadroom
	// MbufHeadroom is DPDK's headroom in front of a packet
	// (RTE_PKTMBUF_HEADROOM), where the tunnels' outer headers go.
	MbufHeadroom = 128
	// frameOverhead is what a frame adds to its MTU: Ethernet header,
	// one VLAN tag, no FCS (the NIC strips it).
	frameOverhead = 14 + 4 + 4
)

// queues validates what the workers need of the ports and the buffers:
// a queue pair per worker on every port whose device fixes its queue
// count in the device string (net_af_packet's qpairs, net_pcap's rx_pcap
// files), and buffers large enough for every port's MTU (mbuf_size).
func (v *validator) queues(base fieldPath, r *rawDataplane, dp *Dataplane) {
	nw := len(dp.Workers)
	for i, p := range dp.Ports {
		if !p.IsVdev || nw == 0 {
			continue
		}
		dev := base.key("port").idx(i).key("device")
		switch {
		case strings.HasPrefix(p.DeviceName, "net_af_packet"):
			q, set := p.Arg("qpairs")
			n, err := strconv.Atoi(q)
			switch {
			case set && (err != nil || n < 1):
				v.addf(dev, "port %s: qpairs %q is not a positive number", p.Name, q)
			case !set && nw > 1:
				v.addf(dev, "port %s: %d workers need a queue pair each: add qpairs=%d to the device string", p.Name, nw, nw)
			case set && n < nw:
				v.addf(dev, "port %s: %d workers need a queue pair each, the device has qpairs=%d", p.Name, nw, n)
			}
		case strings.HasPrefix(p.DeviceName, "net_pcap"):
			// One receive queue per rx_pcap (or rx_iface) argument.
			n := strings.Count(p.Device, ",rx_pcap=") + strings.Count(p.Device, ",rx_iface=") + strings.Count(p.Device, ",rx_iface_in=")
			if n > 0 && n < nw {
				v.addf(dev, "port %s: %d workers need a receive queue each, the device has %d (one per rx_pcap)", p.Name, nw, n)
			}
		}
	}

	mp := base.key("mbuf_size")
	maxMTU := 0
	for _, p := range dp.Ports {
		maxMTU = max(maxMTU, p.MTU)
	}
	need := int64(MbufHeadroom + maxMTU + frameOverhead)
	if r.MbufSize == nil {
		// Large enough for the largest MTU (a jumbo MTU needs more than
		// DPDK's default).
		dp.MbufSize = int(max(DefaultMbufSize, need))
		return
	}
	size, ok := v.intIn(mp, r.MbufSize, DefaultMbufSize, MbufHeadroom+64, 65535)
	if ok && size < need {
		v.addf(mp, "mbuf_size %d is too small for an MTU of %d: at least %d (headroom %d + MTU + %d)", size, maxMTU, need, MbufHeadroom, frameOverhead)
	}
	dp.MbufSize = int(size)
}
