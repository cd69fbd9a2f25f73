package maglev

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// bufferBytes is the memory held by the Builder's reusable buffers.
func (b *Builder) bufferBytes() int {
	return cap(b.order)*int(unsafe.Sizeof(int32(0))) +
		cap(b.slots)*int(unsafe.Sizeof(slot{})) +
		cap(b.weight)*int(unsafe.Sizeof(uint32(0))) +
		cap(b.credit)*int(unsafe.Sizeof(uint64(0))) +
		cap(b.scan)*int(unsafe.Sizeof(scanEntry{})) +
		cap(b.heap)*int(unsafe.Sizeof(uint64(0)))
}

// BenchmarkBuild measures a rebuild with a reused Builder and table (the
// control path's steady state). "equal" is the paper's unweighted loop;
// "weighted" draws weights uniformly from 1..100 (mostly scanned, the
// lightest heap-scheduled); "skewed" has one backend of weight 1000 and the
// rest of weight 1 (all but one heap-scheduled, the costliest case).
func BenchmarkBuild(b *testing.B) {
	for _, m := range []uint32{DefaultSize, 655373} {
		for _, n := range []int{10, 100, 1000} {
			for _, kind := range []string{"equal", "weighted", "skewed"} {
				b.Run(fmt.Sprintf("M=%d/N=%d/%s", m, n, kind), func(b *testing.B) {
					bs := ipv4Backends(n, 1)
					switch kind {
					case "weighted":
						rng := rand.New(rand.NewPCG(1, uint64(n)))
						for i := range bs {
							bs[i].Weight = 1 + uint32(rng.IntN(100))
						}
					case "skewed":
						bs[n/2].Weight = 1000
					}
					bl := NewBuilder()
					dst := make([]uint16, m)
					if _, err := bl.Build(dst, bs, m); err != nil { // size the buffers
						b.Fatal(err)
					}
					b.ReportAllocs()
					for b.Loop() {
						if _, err := bl.Build(dst, bs, m); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(len(dst))*2, "table-B")
					b.ReportMetric(float64(bl.bufferBytes()), "builder-B")
				})
			}
		}
	}
}

// BenchmarkBuildCold is the convenience Build: new Builder and table each time.
func BenchmarkBuildCold(b *testing.B) {
	bs := ipv4Backends(1000, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(bs, DefaultSize); err != nil {
			b.Fatal(err)
		}
	}
}

var lookupSink uint16

func BenchmarkLookup(b *testing.B) {
	tab, err := Build(ipv4Backends(100, 1), DefaultSize)
	if err != nil {
		b.Fatal(err)
	}
	h := uint64(0x9e3779b97f4a7c15)
	var acc uint16
	b.ReportAllocs()
	for b.Loop() {
		acc += Lookup(tab, h)
		h += 0x9e3779b97f4a7c15
	}
	lookupSink = acc
}
