package dpdk

/*
#include "dsrlb_dpdk.h"
static int dsrlb_thread_register(void) {
	int rc = rte_thread_register();
	return rc < 0 ? -rte_errno : (int)rte_lcore_id();
}
*/
import "C"

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// RegisterThread makes the calling OS thread a DPDK lcore and returns its
// lcore id. The caller must have locked its goroutine to the thread
// (runtime.LockOSThread) and should pin it first (SetAffinity): DPDK records
// the thread's CPU set at registration.
func RegisterThread() (int, error) {
	rc := C.dsrlb_thread_register()
	if rc < 0 {
		return -1, errFromRC("rte_thread_register", rc)
	}
	return int(rc), nil
}

// UnregisterThread releases the calling thread's lcore id.
func UnregisterThread() { C.rte_thread_unregister() }

// LcoreID is the calling thread's lcore id, or -1 for an unregistered thread.
func LcoreID() int {
	id := C.rte_lcore_id()
	if id == C.LCORE_ID_ANY {
		return -1
	}
	return int(id)
}

// SetAffinity pins the calling OS thread to cpu.
func SetAffinity(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin thread to CPU %d: %w", cpu, err)
	}
	return nil
}
