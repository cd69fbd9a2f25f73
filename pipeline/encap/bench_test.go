package encap

import (
	"dsrlb/conf"
	"fmt"
	"testing"
)

var sinkInt int

// encapBench prepares a buffer with a full-size inner packet; reset puts
// the Ethernet header back, which is all Encap changes of the original
// frame (it writes only before the inner IP header).
type encapBench struct {
	b        []byte
	off, n   int
	l3       int
	inner6   bool
	ethernet []byte
}

func newEncapBench(t testing.TB, inner6 bool, size int) *encapBench {
	hdrs := 14 + 20 + 20
	if inner6 {
		hdrs = 14 + 40 + 20
	}
	frame, l3 := build(t, pkt{v6: inner6, df: true, payload: size - hdrs})
	b, off, n := place(frame, headroom, 0)
	return &encapBench{b: b, off: off, n: n, l3: l3, inner6: inner6, ethernet: append([]byte(nil), frame[:l3]...)}
}

func (e *encapBench) reset() { copy(e.b[e.off:], e.ethernet) }

func (e *encapBench) run(m conf.Method, o *Outer, hash uint64) bool {
	no, nn, ok := Encap(e.b, e.off, e.n, e.l3, e.inner6, m, o, hash, testGUEPort)
	sinkInt = no + nn
	return ok
}

func TestZeroAllocs(t *testing.T) {
	e4, e6 := newEncapBench(t, false, 1500), newEncapBench(t, true, 1500)
	for _, m := range []conf.Method{conf.MethodIPIP, conf.MethodGRE, conf.MethodGUE} {
		for _, o := range []*Outer{&testOuter4, &testOuter6} {
			for _, e := range []*encapBench{e4, e6} {
				if m == conf.MethodIPIP && e.inner6 && !o.V6 {
					continue
				}
				if a := testing.AllocsPerRun(200, func() {
					e.reset()
					if !e.run(m, o, 12345) {
						t.Fatal("Encap failed")
					}
				}); a != 0 {
					t.Errorf("Encap %v outer6=%v inner6=%v: %v allocs", m, o.V6, e.inner6, a)
				}
			}
		}
	}

	frame, l3 := build(t, pkt{payload: 1000})
	dsts := [2][4]byte{rs4, vip4}
	i := 0
	if a := testing.AllocsPerRun(200, func() {
		i++
		if !DSCP(frame, l3, dsts[i&1], uint8(1+i%63)) {
			t.Fatal("DSCP failed")
		}
	}); a != 0 {
		t.Errorf("DSCP: %v allocs", a)
	}

	f4 := newICMPBench(t, false)
	if a := testing.AllocsPerRun(200, func() {
		f4.reset()
		if _, _, ok := FragNeeded4(f4.b, f4.off, f4.n, f4.l3, vip4, portMAC, 1472); !ok {
			t.Fatal("FragNeeded4 failed")
		}
	}); a != 0 {
		t.Errorf("FragNeeded4: %v allocs", a)
	}
	f6 := newICMPBench(t, true)
	if a := testing.AllocsPerRun(200, func() {
		f6.reset()
		if _, _, ok := PacketTooBig6(f6.b, f6.off, f6.n, f6.l3, vip6, portMAC, 1452); !ok {
			t.Fatal("PacketTooBig6 failed")
		}
	}); a != 0 {
		t.Errorf("PacketTooBig6: %v allocs", a)
	}
}

// icmpBench is a 1500-byte frame for the ICMP builders. They change only
// the bytes before the original IP header when the headroom is enough, so
// reset restores the Ethernet header.
type icmpBench = encapBench

func newICMPBench(t testing.TB, v6 bool) *icmpBench { return newEncapBench(t, v6, 1500) }

func BenchmarkEncap(b *testing.B) {
	for _, c := range []struct {
		name   string
		m      conf.Method
		o      *Outer
		inner6 bool
	}{
		{"ipip4", conf.MethodIPIP, &testOuter4, false},
		{"gre4", conf.MethodGRE, &testOuter4, false},
		{"gue4", conf.MethodGUE, &testOuter4, false},
		{"ipip6", conf.MethodIPIP, &testOuter6, true},
		{"gre6", conf.MethodGRE, &testOuter6, true},
		{"gue6", conf.MethodGUE, &testOuter6, true}, // UDP checksum over 1500 bytes
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newEncapBench(b, c.inner6, 1500)
			benchEncap(b, e, c.m, c.o)
		})
	}
	// GUE over IPv6 by frame size: below lcoMinPacket the UDP checksum
	// sums the bytes, above it the inner TCP checksum stands in for the
	// segment.
	for _, size := range []int{74, 160, 200, 260, 400} {
		b.Run(fmt.Sprintf("gue6-%dB", size), func(b *testing.B) {
			benchEncap(b, newEncapBench(b, true, size), conf.MethodGUE, &testOuter6)
		})
	}
}

func benchEncap(b *testing.B, e *encapBench, m conf.Method, o *Outer) {
	var h uint64
	for b.Loop() {
		e.reset()
		h++
		if !e.run(m, o, h) {
			b.Fatal("Encap failed")
		}
	}
}

func BenchmarkDSCP(b *testing.B) {
	for _, udp := range []bool{false, true} {
		name := "tcp"
		if udp {
			name = "udp"
		}
		b.Run(name, func(b *testing.B) {
			frame, l3 := build(b, pkt{udp: udp, payload: 1400})
			dsts := [2][4]byte{rs4, vip4}
			i := 0
			for b.Loop() {
				i++
				if !DSCP(frame, l3, dsts[i&1], 42) {
					b.Fatal("DSCP failed")
				}
			}
		})
	}
}

func BenchmarkFragNeeded4(b *testing.B) {
	e := newICMPBench(b, false)
	for b.Loop() {
		e.reset()
		no, nn, ok := FragNeeded4(e.b, e.off, e.n, e.l3, vip4, portMAC, 1472)
		if !ok {
			b.Fatal("FragNeeded4 failed")
		}
		sinkInt = no + nn
	}
}

func BenchmarkPacketTooBig6(b *testing.B) {
	e := newICMPBench(b, true)
	for b.Loop() {
		e.reset()
		no, nn, ok := PacketTooBig6(e.b, e.off, e.n, e.l3, vip6, portMAC, 1452)
		if !ok {
			b.Fatal("PacketTooBig6 failed")
		}
		sinkInt = no + nn
	}
}
