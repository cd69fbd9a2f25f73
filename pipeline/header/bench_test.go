package header

import (
	"testing"
)

func benchChecksum(b *testing.B, n int) {
	buf := randBytes(newRand(), n)
	b.SetBytes(int64(n))
	for b.Loop() {
		sinkU16 = FoldChecksum(Checksum(buf, 0))
	}
}

func BenchmarkChecksum20(b *testing.B)   { benchChecksum(b, 20) }
func BenchmarkChecksum1500(b *testing.B) { benchChecksum(b, 1500) }

// BenchmarkChecksum1500Naive is the 16-bit-at-a-time reference, for scale.
func BenchmarkChecksum1500Naive(b *testing.B) {
	buf := randBytes(newRand(), 1500)
	b.SetBytes(1500)
	for b.Loop() {
		sinkU16 = refChecksum(buf)
	}
}

func BenchmarkParseL2IPv4TCP(b *testing.B) {
	frame, _ := tcpOptFrame(b)
	for b.Loop() {
		_, off, ok := ParseL2(frame)
		ip := IPv4(frame[off:])
		if !ok || !ip.IsValid(len(ip)) {
			b.Fatal("invalid")
		}
		tcp := TCP(ip.Payload())
		if !tcp.IsValid(len(tcp)) {
			b.Fatal("invalid")
		}
		sinkU32 = ip.SrcUint32() ^ ip.DstUint32() ^ uint32(tcp.SrcPort())<<16 ^ uint32(tcp.DstPort())
	}
}

func BenchmarkSetDstWithChecksumUpdate(b *testing.B) {
	frame, _ := tcpOptFrame(b)
	ip := IPv4(frame[14:])
	tcp := TCP(ip.Payload())
	a, c := ip4(10, 0, 0, 1), ip4(10, 0, 0, 2)
	for b.Loop() {
		old := ip.Dst()
		ip.SetDstWithChecksumUpdate(a)
		tcp.SetChecksum(UpdateChecksumAddr4(tcp.Checksum(), old, a))
		a, c = c, a
	}
}

func BenchmarkUpdateChecksum16(b *testing.B) {
	ck := uint16(0x1234)
	for i := 0; b.Loop(); i++ {
		ck = UpdateChecksum16(ck, uint16(i), uint16(i+1))
	}
	sinkU16 = ck
}

func BenchmarkSkipExtensions(b *testing.B) {
	frame, _, _ := ipv6ExtFrame(b)
	ip := IPv6(frame[14:])
	for b.Loop() {
		p, off, res := ip.SkipExtensions()
		sinkInt = int(p) + off + int(res)
	}
}
