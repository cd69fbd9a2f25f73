// Package dpdk is dsrlb's own thin cgo binding to DPDK 22.11 (Debian's
// libdpdk-dev, through pkg-config). It covers what the data plane needs and
// nothing more: EAL start and clean-up, packet mempools, ethdev set-up,
// burst I/O and lcore registration.
//
// Cost model. The hot path crosses cgo once per burst, never per packet:
// Poller.Poll flushes the previous burst's output (TX per port, freeing what
// a device refused, freeing dropped packets) and receives the next burst in
// one C call. Mbuf fields (data offset and length, buffer address, offload
// flags) are read and written from Go through their C offsets, which the C
// side checks at compile time, so per-packet work never calls C.
//
// Threads. rte_eal_init runs on the main goroutine, which must be locked to
// its OS thread; it becomes the EAL main lcore. EAL pins that thread to the
// main lcore's CPU; EALInit restores the thread's previous affinity so the Go
// runtime threads later cloned from it are not squeezed onto one CPU. The
// EAL launches no worker threads of its own (dsrlb passes a single-lcore
// list). Worker lcores are goroutines locked to OS threads, pinned to their
// configured CPU with sched_setaffinity and registered with
// rte_thread_register, which gives each a DPDK lcore id so per-lcore mempool
// caches work. We chose registration over rte_eal_remote_launch because the
// latter would run Go code on threads created by C, re-entering Go through
// cgo callbacks for the whole lifetime of the worker.
package dpdk
