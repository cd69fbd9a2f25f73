package header

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

func arpFrame(t testing.TB) []byte {
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:01"), DstMAC: mustMAC(t, "ff:ff:ff:ff:ff:ff"), EthernetType: layers.EthernetTypeARP}
	a := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
		SourceHwAddress: mustMAC(t, "02:00:00:00:00:01"), SourceProtAddress: net.IP{10, 0, 0, 1},
		DstHwAddress: make([]byte, 6), DstProtAddress: net.IP{10, 0, 0, 2},
	}
	return serialize(t, eth, a)
}

func TestARPRoundTrip(t *testing.T) {
	frame := arpFrame(t)
	et, off, ok := ParseL2(frame)
	if !ok || et != EtherTypeARP {
		t.Fatal("ParseL2")
	}
	a := ARP(frame[off:])
	if !a.IsValid() {
		t.Fatal("IsValid false")
	}
	if a.Op() != ARPRequest || a.SenderMAC() != (MAC{2, 0, 0, 0, 0, 1}) || a.SenderIP() != ip4(10, 0, 0, 1) ||
		!a.TargetMAC().IsZero() || a.TargetIP() != ip4(10, 0, 0, 2) {
		t.Fatalf("fields: %d %v %v %v %v", a.Op(), a.SenderMAC(), a.SenderIP(), a.TargetMAC(), a.TargetIP())
	}
	a.SetOp(ARPReply)
	a.SetSenderMAC(MAC{2, 0, 0, 0, 0, 9})
	a.SetSenderIP(ip4(10, 0, 0, 2))
	a.SetTargetMAC(MAC{2, 0, 0, 0, 0, 1})
	a.SetTargetIP(ip4(10, 0, 0, 1))
	d := decode(t, frame).Layer(layers.LayerTypeARP).(*layers.ARP)
	if d.Operation != layers.ARPReply || MAC(d.SourceHwAddress) != (MAC{2, 0, 0, 0, 0, 9}) ||
		[4]byte(d.SourceProtAddress) != ip4(10, 0, 0, 2) || MAC(d.DstHwAddress) != (MAC{2, 0, 0, 0, 0, 1}) ||
		[4]byte(d.DstProtAddress) != ip4(10, 0, 0, 1) {
		t.Fatalf("gopacket sees %+v", d)
	}
}

func TestARPIsValid(t *testing.T) {
	frame := arpFrame(t)
	a := frame[EthernetLen:]
	for n := 0; n < ARPLen; n++ {
		if ARP(a[:n]).IsValid() {
			t.Errorf("accepted %d bytes", n)
		}
	}
	if !ARP(a[:ARPLen]).IsValid() {
		t.Fatal("rejected 28 bytes")
	}
	for _, i := range []int{0, 1, 2, 3, 4, 5} {
		b := append([]byte(nil), a...)
		b[i] ^= 0x10
		if ARP(b).IsValid() {
			t.Errorf("accepted with byte %d changed", i)
		}
	}
}

func TestBuildARP(t *testing.T) {
	b := make([]byte, 64)
	for i := range b {
		b[i] = 0xee
	}
	if n := BuildARP(b[:41], ARPReply, MAC{}, MAC{}, MAC{}, [4]byte{}, MAC{}, [4]byte{}); n != 0 || b[0] != 0xee {
		t.Fatalf("short buffer: n=%d", n)
	}
	n := BuildARP(b, ARPReply, MAC{2, 0, 0, 0, 0, 1}, MAC{2, 0, 0, 0, 0, 2},
		MAC{2, 0, 0, 0, 0, 3}, ip4(192, 0, 2, 1), MAC{2, 0, 0, 0, 0, 4}, ip4(192, 0, 2, 2))
	if n != 42 || b[42] != 0xee {
		t.Fatalf("n = %d, b[42] = %#x", n, b[42])
	}
	p := decode(t, b[:n])
	e := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	d := p.Layer(layers.LayerTypeARP).(*layers.ARP)
	if MAC(e.SrcMAC) != (MAC{2, 0, 0, 0, 0, 1}) || MAC(e.DstMAC) != (MAC{2, 0, 0, 0, 0, 2}) || e.EthernetType != layers.EthernetTypeARP {
		t.Errorf("eth %+v", e)
	}
	if d.AddrType != layers.LinkTypeEthernet || d.Protocol != layers.EthernetTypeIPv4 || d.HwAddressSize != 6 || d.ProtAddressSize != 4 ||
		d.Operation != ARPReply || MAC(d.SourceHwAddress) != (MAC{2, 0, 0, 0, 0, 3}) || [4]byte(d.SourceProtAddress) != ip4(192, 0, 2, 1) ||
		MAC(d.DstHwAddress) != (MAC{2, 0, 0, 0, 0, 4}) || [4]byte(d.DstProtAddress) != ip4(192, 0, 2, 2) {
		t.Errorf("arp %+v", d)
	}
	if !ARP(b[14:n]).IsValid() {
		t.Error("built ARP not valid")
	}
}
