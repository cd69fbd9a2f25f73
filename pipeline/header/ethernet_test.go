package header

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestMACStringParse(t *testing.T) {
	m := MAC{0x02, 0, 0, 0, 0, 0x01}
	if got := m.String(); got != "02:00:00:00:00:01" {
		t.Errorf("String = %q", got)
	}
	if got := (MAC{0xde, 0xad, 0xbe, 0xef, 0xa5, 0x0f}).String(); got != "de:ad:be:ef:a5:0f" {
		t.Errorf("String = %q", got)
	}
	for _, s := range []string{"02:00:00:00:00:01", "02-00-00-00-00-01", "DE:AD:be:EF:a5:0F"} {
		p, err := ParseMAC(s)
		if err != nil {
			t.Errorf("ParseMAC(%q): %v", s, err)
			continue
		}
		ref := mustMAC(t, s)
		if p != MAC(ref) {
			t.Errorf("ParseMAC(%q) = %v, want %v", s, p, ref)
		}
		if q, err := ParseMAC(p.String()); err != nil || q != p {
			t.Errorf("round trip %v: %v %v", p, q, err)
		}
	}
	for _, s := range []string{"", "02:00:00:00:00", "02:00:00:00:00:01:", "02:00-00:00:00:01",
		"02:00:00:00:00:0g", "0200.0000.0001", "02:00:00:00:00:1 ", "02:00:00:00:00:001", "02;00;00;00;00;01"} {
		if _, err := ParseMAC(s); err == nil {
			t.Errorf("ParseMAC(%q) accepted", s)
		}
	}
	if !BroadcastMAC.IsMulticast() || BroadcastMAC.String() != "ff:ff:ff:ff:ff:ff" {
		t.Error("broadcast")
	}
	if (MAC{0x01, 0x00, 0x5e, 0, 0, 1}).IsMulticast() != true || (MAC{0x33, 0x33, 0, 0, 0, 1}).IsMulticast() != true {
		t.Error("multicast not detected")
	}
	if m.IsMulticast() || (MAC{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff}).IsMulticast() {
		t.Error("unicast seen as multicast")
	}
	if !(MAC{}).IsZero() || m.IsZero() || (MAC{0, 0, 0, 0, 0, 1}).IsZero() {
		t.Error("IsZero")
	}
}

func TestEthernetUntagged(t *testing.T) {
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:01"), DstMAC: mustMAC(t, "02:00:00:00:00:02"), EthernetType: layers.EthernetTypeIPv4}
	frame := serialize(t, eth, gopacket.Payload(make([]byte, 46)))
	e := Ethernet(frame)
	if e.Src() != MAC(eth.SrcMAC) || e.Dst() != MAC(eth.DstMAC) || e.Type() != EtherTypeIPv4 {
		t.Fatalf("got src %v dst %v type %#x", e.Src(), e.Dst(), e.Type())
	}
	et, off, ok := ParseL2(frame)
	if !ok || et != EtherTypeIPv4 || off != EthernetLen {
		t.Fatalf("ParseL2 = %#x %d %v", et, off, ok)
	}
	et, tci, tagged, off, ok := ParseL2VLAN(frame)
	if !ok || tagged || tci != 0 || et != EtherTypeIPv4 || off != 14 {
		t.Fatalf("ParseL2VLAN = %#x %#x %v %d %v", et, tci, tagged, off, ok)
	}

	e.SetDst(MAC{0x0a, 1, 2, 3, 4, 5})
	e.SetSrc(MAC{0x0a, 6, 7, 8, 9, 0xa})
	e.SetType(EtherTypeIPv6)
	d := &layers.Ethernet{}
	if err := d.DecodeFromBytes(frame, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if MAC(d.DstMAC) != (MAC{0x0a, 1, 2, 3, 4, 5}) || MAC(d.SrcMAC) != (MAC{0x0a, 6, 7, 8, 9, 0xa}) || d.EthernetType != layers.EthernetTypeIPv6 {
		t.Fatalf("after set: %v %v %v", d.DstMAC, d.SrcMAC, d.EthernetType)
	}
}

func TestEthernetDot1Q(t *testing.T) {
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:01"), DstMAC: mustMAC(t, "ff:ff:ff:ff:ff:ff"), EthernetType: layers.EthernetTypeDot1Q}
	q := &layers.Dot1Q{Priority: 5, DropEligible: true, VLANIdentifier: 0x123, Type: layers.EthernetTypeIPv6}
	frame := serialize(t, eth, q, gopacket.Payload(make([]byte, 42)))
	e := Ethernet(frame)
	if e.Type() != EtherTypeVLAN || e.Dst() != BroadcastMAC {
		t.Fatalf("raw type %#x dst %v", e.Type(), e.Dst())
	}
	et, off, ok := ParseL2(frame)
	if !ok || et != EtherTypeIPv6 || off != 18 {
		t.Fatalf("ParseL2 = %#x %d %v", et, off, ok)
	}
	et, tci, tagged, off, ok := ParseL2VLAN(frame)
	if !ok || !tagged || et != EtherTypeIPv6 || off != 18 || VLANID(tci) != 0x123 || tci>>13 != 5 || tci&0x1000 == 0 {
		t.Fatalf("ParseL2VLAN = %#x %#x %v %d %v", et, tci, tagged, off, ok)
	}
	// Every truncation of the tagged header fails.
	for n := 0; n < 18; n++ {
		if _, _, ok := ParseL2(frame[:n]); ok {
			t.Errorf("ParseL2 accepted tagged frame cut to %d bytes", n)
		}
	}
	if _, off, ok := ParseL2(frame[:18]); !ok || off != 18 {
		t.Error("ParseL2 rejected 18-byte tagged frame")
	}
}

func TestParseL2Lengths(t *testing.T) {
	frame := make([]byte, 60)
	frame[12], frame[13] = 0x08, 0x06
	if _, _, ok := ParseL2(nil); ok {
		t.Error("nil accepted")
	}
	for n := 0; n < EthernetLen; n++ {
		if _, _, ok := ParseL2(frame[:n]); ok {
			t.Errorf("untagged frame of %d bytes accepted", n)
		}
	}
	if et, off, ok := ParseL2(frame[:14]); !ok || et != EtherTypeARP || off != 14 {
		t.Errorf("14-byte frame: %#x %d %v", et, off, ok)
	}
}

func TestParseL2DoubleTag(t *testing.T) {
	eth := &layers.Ethernet{SrcMAC: mustMAC(t, "02:00:00:00:00:01"), DstMAC: mustMAC(t, "02:00:00:00:00:02"), EthernetType: layers.EthernetTypeDot1Q}
	q1 := &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeDot1Q}
	q2 := &layers.Dot1Q{VLANIdentifier: 20, Type: layers.EthernetTypeIPv4}
	frame := serialize(t, eth, q1, q2, gopacket.Payload(make([]byte, 40)))
	if et, off, ok := ParseL2(frame); ok {
		t.Errorf("stacked 0x8100 accepted: %#x %d", et, off)
	}
	// 802.1ad: S-tag 0x88A8 outside, C-tag inside.
	frame[12], frame[13] = 0x88, 0xa8
	if _, _, ok := ParseL2(frame); ok {
		t.Error("QinQ 0x88a8 outer accepted")
	}
	// 0x8100 followed by 0x88A8.
	frame[12], frame[13] = 0x81, 0x00
	frame[16], frame[17] = 0x88, 0xa8
	if _, _, ok := ParseL2(frame); ok {
		t.Error("0x8100 then 0x88a8 accepted")
	}
	frame[16], frame[17] = 0x91, 0x00
	if _, _, ok := ParseL2(frame); ok {
		t.Error("0x8100 then 0x9100 accepted")
	}
	// A lone S-tag is refused too.
	frame[12], frame[13] = 0x88, 0xa8
	frame[16], frame[17] = 0x08, 0x00
	if _, _, ok := ParseL2(frame); ok {
		t.Error("single 0x88a8 tag accepted")
	}
	// Sanity: fixing the inner type makes it a valid single tag.
	frame[12], frame[13] = 0x81, 0x00
	if et, off, ok := ParseL2(frame); !ok || et != EtherTypeIPv4 || off != 18 {
		t.Errorf("single tag: %#x %d %v", et, off, ok)
	}
}
