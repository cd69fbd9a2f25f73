package hw

import (
	"slices"
	"testing"

	"dsrlb/conf"
	"dsrlb/dpdk"
	"dsrlb/pipeline/encap"
)

func TestEALArgs(t *testing.T) {
	dp := &conf.Dataplane{
		MainCPU: 2,
		EALArgs: []string{"--no-huge", "-m", "256"},
		Ports: []conf.Port{
			{Device: "net_af_packet0,iface=eth0", IsVdev: true},
			{Device: "net_tap0,iface=dsrlb0", IsVdev: true},
		},
	}
	want := []string{"-l", "2", "--vdev=net_af_packet0,iface=eth0", "--vdev=net_tap0,iface=dsrlb0", "--no-pci", "--no-huge", "-m", "256"}
	if got := EALArgs(dp); !slices.Equal(got, want) {
		t.Fatalf("vdev-only args %q, want %q", got, want)
	}
	dp.Ports = append(dp.Ports, conf.Port{Device: "0000:01:00.0"})
	got := EALArgs(dp)
	if slices.Contains(got, "--no-pci") || !slices.Contains(got, "0000:01:00.0") {
		t.Fatalf("with a PCI port: %q", got)
	}
}

func TestClampDesc(t *testing.T) {
	for _, c := range []struct{ n, lo, hi, want int }{
		{1024, 64, 4096, 1024}, {8192, 64, 4096, 4096}, {32, 64, 4096, 64}, {1024, 0, 0, 1024},
	} {
		if got := clampDesc(c.n, uint16(c.lo), uint16(c.hi)); got != c.want {
			t.Errorf("clampDesc(%d, %d, %d) = %d, want %d", c.n, c.lo, c.hi, got, c.want)
		}
	}
}

func TestPlanPort(t *testing.T) {
	full := dpdk.DevInfo{
		RSSOffloads:   dpdk.RSSIP | dpdk.RSSTCP | dpdk.RSSUDP,
		RxOffloadCapa: dpdk.RxOffloadIPv4Checksum,
		TxOffloadCapa: dpdk.TxOffloadMbufFastFree | dpdk.TxOffloadIPv4Checksum | dpdk.TxOffloadUDPChecksum,
	}
	fullTx := dpdk.TxOffloadIPv4Checksum | dpdk.TxOffloadUDPChecksum | dpdk.TxOffloadMbufFastFree
	sw := []string{"rx_ipv4_checksum", "tx_ipv4_checksum", "tx_udp_checksum", "tx_mbuf_fast_free"}
	for _, tt := range []struct {
		name               string
		info               dpdk.DevInfo
		queues             int
		rss, rxcsum        bool
		txHW               uint8
		hash               string
		offloads, software []string
		rxOff, txOff       uint64
	}{
		{"capable, several queues", full, 4, true, true, encap.HWIPv4Checksum | encap.HWUDPChecksum, "ip,tcp,udp",
			[]string{"rss", "rx_ipv4_checksum", "tx_ipv4_checksum", "tx_udp_checksum", "tx_mbuf_fast_free"}, nil,
			dpdk.RxOffloadIPv4Checksum, fullTx},
		{"capable, one queue: no RSS", full, 1, false, true, encap.HWIPv4Checksum | encap.HWUDPChecksum, "off",
			[]string{"rx_ipv4_checksum", "tx_ipv4_checksum", "tx_udp_checksum", "tx_mbuf_fast_free"}, nil,
			dpdk.RxOffloadIPv4Checksum, fullTx},
		{"IPv4 header checksum only", dpdk.DevInfo{TxOffloadCapa: dpdk.TxOffloadIPv4Checksum}, 1, false, false, encap.HWIPv4Checksum, "off",
			[]string{"tx_ipv4_checksum"}, []string{"rx_ipv4_checksum", "tx_udp_checksum", "tx_mbuf_fast_free"}, 0, dpdk.TxOffloadIPv4Checksum},
		{"IP hash only", dpdk.DevInfo{RSSOffloads: dpdk.RSSIP}, 2, true, false, 0, "ip",
			[]string{"rss"}, sw, 0, 0},
		{"nothing", dpdk.DevInfo{}, 2, false, false, 0, "none",
			nil, sw, 0, 0},
	} {
		p := planPort(tt.info, tt.queues, 1500)
		if p.rss != tt.rss || p.rxIPChecksum != tt.rxcsum || p.txHW != tt.txHW || p.rssHash != tt.hash ||
			!slices.Equal(p.offloads, tt.offloads) || !slices.Equal(p.software, tt.software) {
			t.Errorf("%s: rss %v rxcsum %v txHW %d hash %q offloads %q software %q", tt.name, p.rss, p.rxIPChecksum, p.txHW, p.rssHash, p.offloads, p.software)
		}
		c := p.conf
		if int(c.RxQueues) != tt.queues || int(c.TxQueues) != tt.queues || c.MTU != 1500 ||
			c.RxOffloads != tt.rxOff || c.TxOffloads != tt.txOff || (c.RSSHash != 0) != tt.rss {
			t.Errorf("%s: PortConf %+v", tt.name, c)
		}
	}
}
