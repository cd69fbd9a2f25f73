package counters

import "dsrlb/perf/shm"

// Values are the counters of a shared-memory file at one moment.
type Values struct {
	Workers   []uint64   // Workers' values summed over the worker blocks, in table order
	PerWorker [][]uint64 // each worker's block
	Ports     [][]uint64 // each port's block
	Global    []uint64
}

// Read loads every counter of r with atomic loads. Values a block is too
// short for (a file of a data plane with a shorter table) are left out.
func Read(r *shm.Region) Values {
	g := r.Geometry()
	var v Values
	block := func(b []byte, n int) []uint64 {
		n = min(n, len(b)/8)
		out := make([]uint64, n)
		for i := range out {
			out[i] = shm.Counter(b, 8*i).Load()
		}
		return out
	}
	for w := range g.Workers {
		v.PerWorker = append(v.PerWorker, block(r.Worker(w), len(Workers)))
	}
	if g.Workers > 0 {
		v.Workers = make([]uint64, len(v.PerWorker[0]))
		for _, pw := range v.PerWorker {
			for i, x := range pw {
				v.Workers[i] += x
			}
		}
	}
	for p := range g.Ports {
		v.Ports = append(v.Ports, block(r.Port(p), len(Ports)))
	}
	v.Global = block(r.Global(), len(Globals))
	return v
}
