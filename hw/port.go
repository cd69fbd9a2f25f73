package hw

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"

	"dsrlb/conf"
	"dsrlb/dpdk"
	"dsrlb/pipeline/encap"
	"dsrlb/pipeline/header"
)

// EALArgs is the EAL command line for dp: the main lcore, every port's
// device (vdevs with --vdev, PCI devices with -a, and --no-pci when there is
// none, so the EAL does not probe devices dsrlb was not given), then the
// operator's extra arguments.
func EALArgs(dp *conf.Dataplane) []string {
	args := []string{"-l", strconv.Itoa(dp.MainCPU)}
	pci := false
	for _, p := range dp.Ports {
		if p.IsVdev {
			args = append(args, "--vdev="+p.Device)
		} else {
			args = append(args, "-a", p.Device)
			pci = true
		}
	}
	if dp.TAP != "" {
		args = append(args, "--vdev="+TAPDevice+",iface="+dp.TAP)
	}
	if !pci {
		args = append(args, "--no-pci")
	}
	return append(args, dp.EALArgs...)
}

// TAPDevice is the DPDK instance name of the exception path's TAP.
const TAPDevice = "net_tap_dsrlb"

// Port is an open, started ethdev port.
type Port struct {
	Index  int // position in the configuration, the pipeline's port index
	Name   string
	ID     dpdk.PortID
	Info   dpdk.DevInfo
	MAC    header.MAC
	MTU    int
	Queues int
	// RSS is true when the device spreads flows over the RX queues by hash.
	RSS bool
	// RxIPChecksum is true when the device verifies IPv4 header checksums;
	// otherwise the pipeline verifies them in software.
	RxIPChecksum bool
	// TxHW are the checksums the device computes on transmit
	// (encap.HWIPv4Checksum: outer IPv4 headers; encap.HWUDPChecksum:
	// GUE's UDP over IPv6); the pipeline computes the others.
	TxHW uint8
}

// Open configures and starts port c with one RX and one TX queue per
// worker. Errors name the port. One log line per port ("port started")
// gives its driver, NUMA socket, queues, descriptor counts, RSS hash, the
// offloads the device does and what is done in software because it
// cannot.
func Open(cfg *conf.Config, index, queues int, pool *dpdk.Mempool, log *slog.Logger) (*Port, error) {
	c := cfg.Dataplane.Ports[index]
	path := fmt.Sprintf("dataplane.port[%d]", index)
	fail := func(field, format string, args ...any) error {
		return cfg.Errorf(path+field, "port %s: %s", c.Name, fmt.Sprintf(format, args...))
	}
	id, err := dpdk.PortByName(c.DeviceName)
	if err != nil {
		return nil, fail(".device", "device %s was not probed by DPDK: %v", c.DeviceName, err)
	}
	info, err := id.Info()
	if err != nil {
		return nil, fail(".device", "%v", err)
	}
	log = log.With("port", c.Name, "driver", info.Driver)
	if queues > int(info.MaxRxQueues) || queues > int(info.MaxTxQueues) {
		hint := ""
		if strings.HasPrefix(info.Driver, "net_af_packet") {
			hint = fmt.Sprintf(" (add qpairs=%d to the device string)", queues)
		}
		return nil, fail(".device", "%d workers need %d queue pairs, the device has %d RX and %d TX queues%s",
			queues, queues, info.MaxRxQueues, info.MaxTxQueues, hint)
	}
	if c.MTU > int(info.MaxMTU) || c.MTU < int(info.MinMTU) {
		return nil, fail(".mtu", "MTU %d outside the device's range %d..%d", c.MTU, info.MinMTU, info.MaxMTU)
	}

	p := &Port{Index: index, Name: c.Name, ID: id, Info: info, Queues: queues}
	plan := planPort(info, queues, c.MTU)
	p.RSS, p.RxIPChecksum, p.TxHW = plan.rss, plan.rxIPChecksum, plan.txHW
	if queues > 1 && !p.RSS {
		log.Warn("device has no RSS; queues get whatever the driver spreads to them", "queues", queues)
	}
	if err := id.Configure(plan.conf); err != nil {
		return nil, fail("", "configure: %v", err)
	}
	rxd := clampDesc(c.RxDescriptors, info.RxDescMin, info.RxDescMax)
	txd := clampDesc(c.TxDescriptors, info.TxDescMin, info.TxDescMax)
	if rxd != c.RxDescriptors || txd != c.TxDescriptors {
		log.Warn("descriptor count adjusted to the device's limits", "rx", rxd, "tx", txd)
	}
	for q := 0; q < queues; q++ {
		if err := id.SetupRxQueue(uint16(q), uint16(rxd), info.Socket, pool, 0); err != nil {
			return nil, fail("", "%v", err)
		}
		if err := id.SetupTxQueue(uint16(q), uint16(txd), info.Socket, 0); err != nil {
			return nil, fail("", "%v", err)
		}
	}
	if c.HasMAC {
		if err := id.SetMAC(c.MAC); err != nil {
			return nil, fail(".mac", "set MAC %s: %v", header.MAC(c.MAC), err)
		}
	}
	if err := id.Start(); err != nil {
		return nil, fail("", "start: %v", err)
	}
	mac, err := id.MAC()
	if err != nil {
		_ = id.Stop()
		return nil, fail("", "%v", err)
	}
	p.MAC = header.MAC(mac)
	p.MTU = c.MTU
	if mtu, err := id.MTU(); err == nil {
		p.MTU = int(mtu)
	}
	// Solicitations for IPv6 VIPs go to solicited-node multicast MACs and
	// VRRP to a multicast group; a NIC that filters multicast would hide
	// them. Devices without the control (af_packet sees everything) say so.
	if err := id.SetAllMulticast(true); err != nil {
		log.Info("all-multicast not set; the device filters multicast or does not say", "err", err)
	}
	link, _ := id.Link()
	// One line says how the port runs: what the device does (offloads)
	// and what the pipeline does instead because it cannot (software).
	log.Info("port started", "device", c.Device, "socket", info.Socket, "mac", p.MAC, "mtu", p.MTU,
		"queues", queues, "rx_descriptors", rxd, "tx_descriptors", txd, "rss", plan.rssHash,
		"offloads", strings.Join(plan.offloads, ","), "software", strings.Join(plan.software, ","),
		"link_up", link.Up, "speed_mbps", link.SpeedMbps)
	return p, nil
}

// portPlan is a port's device-wide configuration, chosen from what the
// device can do.
type portPlan struct {
	conf         dpdk.PortConf
	rss          bool
	rxIPChecksum bool
	txHW         uint8 // encap.HW* the device computes
	// rssHash names the hash functions spreading flows over the queues:
	// "ip,tcp,udp", "none" (several queues, the device has no RSS) or
	// "off" (one queue).
	rssHash string
	// offloads the device does; software: what is done without it instead.
	offloads, software []string
}

// planPort chooses the configuration of a device with capabilities info,
// queues queue pairs and MTU mtu.
func planPort(info dpdk.DevInfo, queues, mtu int) portPlan {
	p := portPlan{rssHash: "off"}
	p.conf = dpdk.PortConf{RxQueues: uint16(queues), TxQueues: uint16(queues), MTU: uint32(mtu)}
	if queues > 1 {
		p.conf.RSSHash = (dpdk.RSSIP | dpdk.RSSTCP | dpdk.RSSUDP) & info.RSSOffloads
		p.rss = p.conf.RSSHash != 0
		var hashes []string
		for _, h := range []struct {
			name string
			bits uint64
		}{{"ip", dpdk.RSSIP}, {"tcp", dpdk.RSSTCP}, {"udp", dpdk.RSSUDP}} {
			if p.conf.RSSHash&h.bits != 0 {
				hashes = append(hashes, h.name)
			}
		}
		p.rssHash = "none"
		if p.rss {
			p.rssHash = strings.Join(hashes, ",")
			p.offloads = append(p.offloads, "rss")
		}
	}
	// IPv4 header checksums: the pipeline verifies them when the NIC
	// does not.
	if info.RxOffloadCapa&dpdk.RxOffloadIPv4Checksum != 0 {
		p.conf.RxOffloads |= dpdk.RxOffloadIPv4Checksum
		p.rxIPChecksum = true
		p.offloads = append(p.offloads, "rx_ipv4_checksum")
	} else {
		p.software = append(p.software, "rx_ipv4_checksum")
	}
	// Checksums of the tunnels' outer headers: the device computes them
	// when it can (the packets ask for it, and the driver prepares them),
	// else the pipeline does.
	for _, o := range []struct {
		name string
		capa uint64
		hw   uint8
	}{{"tx_ipv4_checksum", dpdk.TxOffloadIPv4Checksum, encap.HWIPv4Checksum}, {"tx_udp_checksum", dpdk.TxOffloadUDPChecksum, encap.HWUDPChecksum}} {
		if info.TxOffloadCapa&o.capa != 0 {
			p.conf.TxOffloads |= o.capa
			p.txHW |= o.hw
			p.offloads = append(p.offloads, o.name)
		} else {
			p.software = append(p.software, o.name)
		}
	}
	// Every mbuf comes from one pool and has one reference: fast free is
	// safe; without it the driver frees each mbuf the general way.
	if info.TxOffloadCapa&dpdk.TxOffloadMbufFastFree != 0 {
		p.conf.TxOffloads |= dpdk.TxOffloadMbufFastFree
		p.offloads = append(p.offloads, "tx_mbuf_fast_free")
	} else {
		p.software = append(p.software, "tx_mbuf_fast_free")
	}
	return p
}

func clampDesc(n int, lo, hi uint16) int {
	if hi != 0 && n > int(hi) {
		n = int(hi)
	}
	if n < int(lo) {
		n = int(lo)
	}
	return n
}

// OpenTAP starts the exception path's TAP port with one queue pair (owned
// by the data plane's kernel goroutine), gives it mac, and configures the
// kernel side: the balancer's addresses (IPv6 without duplicate address
// detection: the data plane answers for it), the MTU, link up.
func OpenTAP(iface string, mac header.MAC, mtu int, addrs []netip.Prefix, pool *dpdk.Mempool, log *slog.Logger) (*Port, error) {
	id, err := dpdk.PortByName(TAPDevice)
	if err != nil {
		return nil, fmt.Errorf("exception path %s: %w", iface, err)
	}
	info, err := id.Info()
	if err != nil {
		return nil, err
	}
	if err := id.Configure(dpdk.PortConf{RxQueues: 1, TxQueues: 1, MTU: uint32(mtu)}); err != nil {
		return nil, fmt.Errorf("exception path %s: configure: %w", iface, err)
	}
	if err := id.SetupRxQueue(0, 512, info.Socket, pool, 0); err != nil {
		return nil, fmt.Errorf("exception path %s: %w", iface, err)
	}
	if err := id.SetupTxQueue(0, 512, info.Socket, 0); err != nil {
		return nil, fmt.Errorf("exception path %s: %w", iface, err)
	}
	if err := id.Start(); err != nil {
		return nil, fmt.Errorf("exception path %s: start: %w", iface, err)
	}
	p := &Port{Name: iface, ID: id, Info: info, MAC: mac, MTU: mtu, Queues: 1}
	fail := func(err error) (*Port, error) {
		_ = p.Close()
		return nil, fmt.Errorf("exception path %s: %w", iface, err)
	}
	if err := id.SetMAC(mac); err != nil {
		return fail(fmt.Errorf("set MAC %s: %w", mac, err))
	}
	var cmds [][]string
	for _, a := range addrs {
		if a.Addr().Is4() {
			cmds = append(cmds, []string{"addr", "replace", a.String(), "dev", iface})
		} else {
			cmds = append(cmds, []string{"-6", "addr", "replace", a.String(), "dev", iface, "nodad"})
		}
	}
	cmds = append(cmds, []string{"link", "set", iface, "mtu", strconv.Itoa(mtu), "up"})
	for _, args := range cmds {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fail(fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out))))
		}
	}
	log.Info("exception path up", "iface", iface, "addresses", addrs, "mac", mac)
	return p, nil
}

// Close stops and closes the port.
func (p *Port) Close() error {
	errStop := p.ID.Stop()
	errClose := p.ID.Close()
	if errStop != nil {
		return errStop
	}
	return errClose
}
