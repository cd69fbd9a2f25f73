package header

import (
	"bytes"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// serialize builds a packet with gopacket, fixing lengths and computing
// checksums.
func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// decode parses frame as Ethernet with gopacket and fails on decode errors.
func decode(t testing.TB, frame []byte) gopacket.Packet {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket decode: %v", el.Error())
	}
	return p
}

func mustMAC(t testing.TB, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ip4(a, b, c, d byte) [4]byte { return [4]byte{a, b, c, d} }

func ip6(t testing.TB, s string) [16]byte {
	t.Helper()
	ip := net.ParseIP(s)
	if ip == nil || ip.To16() == nil {
		t.Fatalf("bad IPv6 %q", s)
	}
	return [16]byte(ip.To16())
}

func eqBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s = % x, want % x", what, got, want)
	}
}

// refSum is a deliberately naive RFC 1071 sum used as the oracle: one
// 16-bit big-endian word at a time, folding at the end.
func refSum(b []byte) uint16 {
	var s uint64
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// refChecksum is the checksum to store for b (with its checksum field
// already zeroed by the caller).
func refChecksum(b []byte) uint16 { return ^refSum(b) }

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func randIPv4(r *rand.Rand) [4]byte { return [4]byte(randBytes(r, 4)) }
