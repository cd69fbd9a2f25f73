package pipeline

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugeSlice returns n zeroed values of T in anonymous memory advised to use
// transparent huge pages, outside the Go heap. Large random-access tables
// (connection tracking) otherwise take a TLB miss on nearly every lookup.
// T must hold no Go pointers. owner's cleanup unmaps the memory; ok is
// false when the mapping failed and the caller should use make.
func hugeSlice[T, O any](n int, owner *O) (s []T, ok bool) {
	var zero T
	size := n * int(unsafe.Sizeof(zero))
	const huge = 2 << 20
	size = (size + huge - 1) &^ (huge - 1)
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, false
	}
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE) // best effort: THP may be off
	runtime.AddCleanup(owner, func(m []byte) { _ = unix.Munmap(m) }, mem)
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[0])), n), true
}
