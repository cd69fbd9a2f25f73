package pipeline

import (
	"net/netip"
	"testing"

	"dsrlb/pipeline/header"
	"dsrlb/pipeline/maglev"
)

// Stage micro-benchmarks. Each stage also has an AllocsPerRun test below
// (benchmarks report allocations but do not fail on them).

func benchFrames(b testing.TB, n int) [][]byte {
	frames := make([][]byte, n)
	for i := range frames {
		src := netip.AddrFrom4([4]byte{198, 51, 100, byte(1 + i%250)})
		frames[i] = tcpFrame(b, src, vip, uint16(1024+i), 80)
	}
	return frames
}

func BenchmarkParse(b *testing.B) {
	f := benchFrames(b, 1)[0]
	b.ReportAllocs()
	var sink uint32
	for b.Loop() {
		_, l3, _ := header.ParseL2(f)
		ip := header.IPv4(f[l3:])
		if ip.IsValid(len(ip)) && ip.ChecksumValid() {
			l4 := header.TCP(ip.Payload())
			if l4.IsValid(len(l4)) {
				sink += ip.DstUint32() + uint32(l4.DstPort())
			}
		}
	}
	_ = sink
}

func BenchmarkClassify(b *testing.B) {
	s := testSnapshot(b)
	key := serviceKey4(addr4(vip), header.IPProtoTCP, 80)
	b.ReportAllocs()
	var sink uint32
	for b.Loop() {
		v, _ := s.classify.lookup(key)
		sink += v
	}
	_ = sink
}

func BenchmarkFlowHash(b *testing.B) {
	b.ReportAllocs()
	var h uint64
	for i := 0; b.Loop(); i++ {
		h += FlowHash4(0xc6336407+uint32(i), 0xc0000264, uint16(i), 80, 6)
	}
	_ = h
}

func BenchmarkMaglevLookup(b *testing.B) {
	s := testSnapshot(b)
	t := s.services[0].table
	b.ReportAllocs()
	var sink uint16
	for i := 0; b.Loop(); i++ {
		sink += maglev.Lookup(t, FlowHash4(uint32(i), 1, 2, 3, 6))
	}
	_ = sink
}

func BenchmarkRewriteL2(b *testing.B) {
	f := benchFrames(b, 1)[0]
	eth := header.Ethernet(f)
	b.ReportAllocs()
	for b.Loop() {
		eth.SetDst(rs1MAC)
		eth.SetSrc(portMAC)
	}
}

// BenchmarkProcessBurst32 is the whole pipeline on a burst of 32 TCP
// packets to a VIP, each of another flow; ns/op is per burst, and the
// ns/packet metric per packet. Services and real servers have counter
// slots, and the worker as many as the defaults of stats_services and
// stats_backends.
func BenchmarkProcessBurst32(b *testing.B) {
	for _, mix := range []string{"forward", "mixed"} {
		b.Run(mix, func(b *testing.B) {
			s, _, err := Build(slotted(), testNeighbors, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			w := NewWorkerWith(0, WorkerOptions{Stats: NewStats(1024, 8192)})
			frames := benchFrames(b, 32)
			if mix == "mixed" {
				frames[3] = icmpFrame(b, client, vip, 8)
				frames[9] = arpFrame(b, 1, clientMAC, client, vip, 0)
				frames[17] = udpFrame(b, client, netip.MustParseAddr("192.0.2.77"), 1, 53)
				frames[25] = []byte{1, 2, 3}
			}
			pk := make([]Packet, 32)
			for i, f := range frames {
				buf := make([]byte, 128+len(f))
				copy(buf[128:], f)
				pk[i] = Packet{Buf: buf, Off: 128, Len: len(f)}
			}
			b.ReportAllocs()
			for b.Loop() {
				w.Process(s, 0, pk)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/32, "ns/packet")
		})
	}
}

func TestStagesAllocateNothing(t *testing.T) {
	s := testSnapshot(t)
	f := benchFrames(t, 1)[0]
	key := serviceKey4(addr4(vip), header.IPProtoTCP, 80)
	table := s.services[0].table
	stages := map[string]func(){
		"parse": func() {
			_, l3, _ := header.ParseL2(f)
			ip := header.IPv4(f[l3:])
			_ = ip.IsValid(len(ip)) && ip.ChecksumValid() && header.TCP(ip.Payload()).IsValid(len(ip.Payload()))
		},
		"classify":      func() { s.classify.lookup(key) },
		"flow hash":     func() { FlowHash4(1, 2, 3, 4, 6) },
		"maglev lookup": func() { maglev.Lookup(table, 12345) },
		"rewrite l2": func() {
			header.Ethernet(f).SetDst(rs1MAC)
			header.Ethernet(f).SetSrc(portMAC)
		},
	}
	for name, fn := range stages {
		if a := testing.AllocsPerRun(1000, fn); a != 0 {
			t.Errorf("%s allocates %.1f times", name, a)
		}
	}
}

// BenchmarkProcessManyFlows is the pipeline on bursts of 32 TCP packets of
// 100,000 known flows, with a flow table (2^20 entries) much bigger than
// the caches, as dsrlbctl bench drives it; ns/packet per packet.
func BenchmarkProcessManyFlows(b *testing.B) {
	s, _, err := Build(slotted(), testNeighbors, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	w := NewWorkerWith(0, WorkerOptions{Stats: NewStats(1024, 8192)})
	const flows = 100000
	frames := make([][]byte, flows)
	for i := range frames {
		src := netip.AddrFrom4([4]byte{198, 51, byte(100 + i/60000), byte(1 + i%250)})
		f := tcpFrame(b, src, vip, uint16(1024+i%60000), 80)
		frames[i] = append(make([]byte, 128, 128+len(f)), f...)
	}
	pk := make([]Packet, 32)
	next := 0
	burst := func() {
		for i := range pk {
			f := frames[next]
			next = (next + 1) % flows
			pk[i] = Packet{Buf: f, Off: 128, Len: len(f) - 128}
		}
		w.Process(s, 0, pk)
	}
	for range flows / 32 {
		burst()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		burst()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/32, "ns/packet")
}
