package header

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestBuildNDP(t *testing.T) {
	mac := MAC{0x02, 0, 0, 0, 0, 0x10}
	src := netip.MustParseAddr("2001:db8::10").As16()
	target := netip.MustParseAddr("2001:db8::21").As16()
	for _, tc := range []struct {
		name  string
		typ   uint8
		dst   [16]byte
		flags uint8
	}{
		{"solicitation", ICMPv6NeighborSolicit, SolicitedNode6(target), 0},
		{"advertisement", ICMPv6NeighborAdvert, AllNodes6, NAFlagOverride},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, 128)
			dstMAC := MulticastMAC6(tc.dst)
			if n := BuildNDP(b, tc.typ, mac, dstMAC, src, tc.dst, target, tc.flags); n != NDPFrameLen || NDPFrameLen != 86 {
				t.Fatalf("BuildNDP = %d, want %d", n, NDPFrameLen)
			}
			pkt := gopacket.NewPacket(b[:NDPFrameLen], layers.LayerTypeEthernet, gopacket.Default)
			if el := pkt.ErrorLayer(); el != nil {
				t.Fatal(el.Error())
			}
			eth := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			ip := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
			ic := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
			if !bytes.Equal(eth.SrcMAC, mac[:]) || !bytes.Equal(eth.DstMAC, dstMAC[:]) || eth.EthernetType != layers.EthernetTypeIPv6 {
				t.Fatalf("ethernet %v -> %v type %v", eth.SrcMAC, eth.DstMAC, eth.EthernetType)
			}
			if ip.HopLimit != 255 || ip.NextHeader != layers.IPProtocolICMPv6 || !ip.SrcIP.Equal(net.IP(src[:])) || !ip.DstIP.Equal(net.IP(tc.dst[:])) || ip.Length != 32 {
				t.Fatalf("ipv6 %+v", ip)
			}
			// Verify the checksum over the pseudo header.
			var sum uint32 = PseudoHeaderSum6(src, tc.dst, IPProtoICMPv6, 32)
			if FoldChecksum(Checksum(b[EthernetLen+IPv6Len:NDPFrameLen], sum)) != 0 {
				t.Fatal("ICMPv6 checksum does not verify")
			}
			if ic.TypeCode.Type() != tc.typ || ic.TypeCode.Code() != 0 {
				t.Fatalf("type %v", ic.TypeCode)
			}
			var opts layers.ICMPv6Options
			var tgt net.IP
			want := layers.ICMPv6OptSourceAddress
			if tc.typ == ICMPv6NeighborSolicit {
				ns := pkt.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation)
				tgt, opts = ns.TargetAddress, ns.Options
			} else {
				na := pkt.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement)
				tgt, opts = na.TargetAddress, na.Options
				want = layers.ICMPv6OptTargetAddress
				if na.Flags != NAFlagOverride {
					t.Fatalf("NA flags %#x", na.Flags)
				}
			}
			if !tgt.Equal(net.IP(target[:])) || len(opts) != 1 || opts[0].Type != want || !bytes.Equal(opts[0].Data, mac[:]) {
				t.Fatalf("target %v options %+v", tgt, opts)
			}
			if m, ok := ICMPv6(b[EthernetLen+IPv6Len:NDPFrameLen]).NDPLinkLayerOption(32, uint8(want)); !ok || m != mac {
				t.Fatalf("NDPLinkLayerOption = %v %v", m, ok)
			}
		})
	}
	if n := BuildNDP(make([]byte, NDPFrameLen-1), ICMPv6NeighborSolicit, mac, mac, src, src, target, 0); n != 0 {
		t.Errorf("short buffer: %d", n)
	}
	if n := BuildNDP(make([]byte, 128), ICMPv6EchoRequest, mac, mac, src, src, target, 0); n != 0 {
		t.Errorf("bad type: %d", n)
	}
}

func TestSolicitedNode6(t *testing.T) {
	a := netip.MustParseAddr("2001:db8::1:2345:6789").As16()
	if got := netip.AddrFrom16(SolicitedNode6(a)); got != netip.MustParseAddr("ff02::1:ff45:6789") {
		t.Fatalf("SolicitedNode6 = %v", got)
	}
	if got := MulticastMAC6(SolicitedNode6(a)); got != (MAC{0x33, 0x33, 0xff, 0x45, 0x67, 0x89}) {
		t.Fatalf("MulticastMAC6 = %v", got)
	}
}
