package header

import "testing"

var (
	sinkU16  uint16
	sinkU32  uint32
	sinkA4   [4]byte
	sinkA16  [16]byte
	sinkMAC  MAC
	sinkBool bool
	sinkInt  int
)

func TestZeroAllocs(t *testing.T) {
	frame4, _ := tcpOptFrame(t)
	frame6, _, _ := ipv6ExtFrame(t)
	ns, _ := nsFrame(t, nil)
	ns = append(ns, 1, 1, 2, 0, 0, 0, 0, 1)
	IPv6(ns[14:]).SetPayloadLen(IPv6(ns[14:]).PayloadLen() + 8)
	newDst := ip4(10, 99, 0, 1)

	allocs := testing.AllocsPerRun(1000, func() {
		et, off, ok := ParseL2(frame4)
		if !ok || et != EtherTypeIPv4 {
			t.Fatal("ParseL2")
		}
		e := Ethernet(frame4)
		sinkMAC = e.Dst()
		e.SetDst(sinkMAC)
		ip := IPv4(frame4[off:])
		if !ip.IsValid(len(ip)) {
			t.Fatal("IPv4")
		}
		sinkA4 = ip.Src()
		old := ip.Dst()
		sinkU32 = ip.SrcUint32() ^ ip.DstUint32()
		sinkBool = ip.IsFragment()
		tcp := TCP(ip.Payload())
		if !tcp.IsValid(len(tcp)) {
			t.Fatal("TCP")
		}
		sinkU16 = tcp.SrcPort() ^ tcp.DstPort()
		ip.SetDstWithChecksumUpdate(newDst)
		tcp.SetChecksum(UpdateChecksumAddr4(tcp.Checksum(), old, newDst))
		ip.SetDstWithChecksumUpdate(old)
		tcp.SetChecksum(UpdateChecksumAddr4(tcp.Checksum(), newDst, old))
		sinkU16 = FoldChecksum(Checksum(ip[:ip.HeaderLen()], 0))
		sinkU16 = L4Checksum4(ip.Src(), ip.Dst(), IPProtoTCP, tcp, TCPChecksumOffset)

		_, off, _ = ParseL2(frame6)
		ip6 := IPv6(frame6[off:])
		if !ip6.IsValid(len(ip6)) {
			t.Fatal("IPv6")
		}
		sinkA16 = ip6.Src()
		proto, l4, res := ip6.SkipExtensions()
		sinkInt = l4 + int(proto) + int(res)
		sinkU32 = PseudoHeaderSum6(ip6.Src(), ip6.Dst(), proto, uint32(len(ip6)-l4))

		c := ICMPv6(ns[14+IPv6Len:])
		sinkA16 = c.NDPTarget()
		sinkMAC, sinkBool = c.NDPLinkLayerOption(len(c), NDPOptSourceLinkLayer)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per run, want 0", allocs)
	}
	if sinkMAC != (MAC{2, 0, 0, 0, 0, 1}) || !sinkBool {
		t.Fatalf("NDP option not found: %v", sinkMAC)
	}
	// The round trip left the packet as it was.
	orig, _ := tcpOptFrame(t)
	eqBytes(t, "frame after round trip", frame4, orig)
}
