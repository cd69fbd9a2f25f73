package dpdk

/*
#cgo pkg-config: libdpdk
#cgo CFLAGS: -O3 -DALLOW_EXPERIMENTAL_API -Wno-deprecated-declarations
#include "dsrlb_dpdk.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Error is a DPDK error: the operation and the (positive) errno value.
type Error struct {
	Op    string
	Errno int
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Op, C.GoString(C.rte_strerror(C.int(e.Errno))))
}

// Unwrap maps the errno onto syscall errors so errors.Is(err, unix.ENODEV)
// works. DPDK-specific errno values (E_RTE_*) have no syscall counterpart.
func (e *Error) Unwrap() error {
	if e.Errno > 0 && e.Errno < 1000 {
		return unix.Errno(e.Errno)
	}
	return nil
}

// errFromRC turns a DPDK return code (0 or a negative errno) into an error.
func errFromRC(op string, rc C.int) error {
	if rc >= 0 {
		return nil
	}
	return &Error{Op: op, Errno: int(-rc)}
}

var eal struct {
	sync.Mutex
	running bool
}

// EALInit starts the DPDK environment abstraction layer with args (without
// argv[0]). The caller must hold its OS thread (runtime.LockOSThread) and
// keep it: that thread becomes the EAL main lcore. EALInit can run once per
// process.
func EALInit(args []string) error {
	eal.Lock()
	defer eal.Unlock()
	if eal.running {
		return &Error{Op: "rte_eal_init", Errno: int(unix.EALREADY)}
	}
	var saved unix.CPUSet
	haveSaved := unix.SchedGetaffinity(0, &saved) == nil

	argv := make([]*C.char, 0, len(args)+1)
	argv = append(argv, C.CString("dsrlb"))
	for _, a := range args {
		argv = append(argv, C.CString(a))
	}
	defer func() {
		for _, p := range argv {
			C.free(unsafe.Pointer(p))
		}
	}()
	// rte_eal_init may permute argv; pass a C copy of the pointer array.
	cargv := (**C.char)(C.calloc(C.size_t(len(argv)+1), C.size_t(unsafe.Sizeof(uintptr(0)))))
	defer C.free(unsafe.Pointer(cargv))
	copy(unsafe.Slice(cargv, len(argv)), argv)

	if rc := C.dsrlb_eal_init(C.int(len(argv)), cargv); rc < 0 {
		return errFromRC("rte_eal_init", rc)
	}
	eal.running = true
	if haveSaved {
		// See the package doc: keep the main thread's original CPU set.
		_ = unix.SchedSetaffinity(0, &saved)
	}
	return nil
}

// EALCleanup releases the EAL's resources. Ports must be stopped and
// closed, and worker threads unregistered, before it is called.
func EALCleanup() error {
	eal.Lock()
	defer eal.Unlock()
	if !eal.running {
		return nil
	}
	eal.running = false
	return errFromRC("rte_eal_cleanup", C.rte_eal_cleanup())
}

// SocketID returns the NUMA socket of the calling lcore thread.
func SocketID() int { return int(C.rte_socket_id()) }
