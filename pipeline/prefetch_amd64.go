package pipeline

import "unsafe"

// prefetch asks the CPU to bring the cache line at addr closer (PREFETCHT0)
// without waiting for it. Go has no prefetch intrinsic; the call costs a
// few cycles, a DRAM miss a few hundred.
//
//go:noescape
func prefetch(addr unsafe.Pointer)
