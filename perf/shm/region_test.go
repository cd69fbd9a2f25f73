package shm

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// createClosed leaves at path a regular file with the content of a valid
// data plane's file (Create's own is a memfd that goes with its creator),
// as an earlier data plane would have left it, for the tests to patch.
func createClosed(t *testing.T, path string, g Geometry) {
	t.Helper()
	r, _, err := Create(path, g)
	if err != nil {
		t.Fatal(err)
	}
	data := append([]byte(nil), r.data...)
	if err := r.Close(); err != nil { // removes the link
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// patch overwrites the file at path at off.
func patch(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func u32le(v uint32) []byte { b := make([]byte, 4); ne.PutUint32(b, v); return b }
func u64le(v uint64) []byte { b := make([]byte, 8); ne.PutUint64(b, v); return b }

func TestOpenValidation(t *testing.T) {
	g := Geometry{SlotSize: 256, Slots: 64, Workers: 2, WorkerBytes: 64, Ports: 1, PortBytes: 64, GlobalBytes: 128, StatsBytes: 8192}
	valid := func(t *testing.T, path string) { createClosed(t, path, g) }
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, path string) // nil: no file
		kind    error
		msg     string // substring of Open's error
		note    string // substring of Create's replaced note ("" : nothing replaced)
		noFile  bool
		extraIs error
	}{
		{name: "missing", kind: ErrNotExist, msg: "does not exist", noFile: true, extraIs: fs.ErrNotExist},
		{name: "random bytes", kind: ErrForeign, msg: "not a dsrlb shared-memory file", note: "not a dsrlb shared-memory file",
			setup: func(t *testing.T, path string) {
				b := make([]byte, 8192)
				rand.Read(b)
				copy(b, "NOTDSRLB") // rule out the 2^-64 chance of a valid magic
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "empty", kind: ErrForeign, msg: "too short", note: "too short",
			setup: func(t *testing.T, path string) {
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "version", kind: ErrVersion, msg: ": layout version 9, this build speaks 6", note: "layout version 9",
			setup: func(t *testing.T, path string) { valid(t, path); patch(t, path, offVersion, u32le(9)) }},
		{name: "truncated to half", kind: ErrTorn, msg: "torn", note: "torn",
			setup: func(t *testing.T, path string) {
				valid(t, path)
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(path, fi.Size()/2); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "truncated into the header", kind: ErrTorn, msg: "shorter than the 4096-byte header", note: "torn",
			setup: func(t *testing.T, path string) { valid(t, path); os.Truncate(path, 100) }},
		{name: "not ready", kind: ErrNotReady, msg: "not ready", note: "not ready",
			setup: func(t *testing.T, path string) { valid(t, path); patch(t, path, offReady, u64le(0)) }},
		{name: "slots not a power of two", kind: ErrGeometry, msg: "slot count 48 is not a power of two", note: "slot count 48",
			setup: func(t *testing.T, path string) { valid(t, path); patch(t, path, offSlots, u32le(48)) }},
		{name: "regions overlap", kind: ErrGeometry, msg: "overlaps", note: "overlaps",
			setup: func(t *testing.T, path string) {
				valid(t, path)
				patch(t, path, offEvtOff, u64le(HeaderSize+CacheLine)) // inside the command ring
			}},
		{name: "region outside the file", kind: ErrGeometry, msg: "counters at", note: "counters at",
			setup: func(t *testing.T, path string) { valid(t, path); patch(t, path, offCtrOff, u64le(1<<40)) }},
		{name: "port blocks past the counters", kind: ErrGeometry, msg: "counters size", note: "counters size",
			setup: func(t *testing.T, path string) { valid(t, path); patch(t, path, offPorts, u32le(3)) }},
		{name: "port block size", kind: ErrGeometry, msg: "bytes per port 100", note: "bytes per port",
			setup: func(t *testing.T, path string) { valid(t, path); patch(t, path, offPortBytes, u32le(100)) }},
		{name: "stats section size", kind: ErrGeometry, msg: "stats bytes 100", note: "stats bytes",
			setup: func(t *testing.T, path string) { valid(t, path); patch(t, path, offStatsSize, u64le(100)) }},
		{name: "stats section overlaps the counters", kind: ErrGeometry, msg: "overlaps", note: "overlaps",
			setup: func(t *testing.T, path string) {
				valid(t, path)
				r, err := Open(path)
				if err != nil {
					t.Fatal(err)
				}
				ctr := ne.Uint64(r.data[offCtrOff:])
				r.Close()
				patch(t, path, offStatsOff, u64le(ctr))
			}},
		{name: "stats section past the file", kind: ErrGeometry, msg: "stats at", note: "stats at",
			setup: func(t *testing.T, path string) { valid(t, path); patch(t, path, offStatsSize, u64le(1<<20)) }},
		{name: "header size", kind: ErrGeometry, msg: "header size 8192", note: "header size",
			setup: func(t *testing.T, path string) { valid(t, path); patch(t, path, offHeaderSize, u32le(8192)) }},
		{name: "file longer than header says", kind: ErrGeometry, msg: "header claims", note: "header claims",
			setup: func(t *testing.T, path string) {
				valid(t, path)
				fi, _ := os.Stat(path)
				os.Truncate(path, fi.Size()+4096)
			}},
		{name: "dangling symlink", kind: ErrNotExist, msg: "does not exist", note: "a symbolic link to",
			setup: func(t *testing.T, path string) { os.Symlink(path+".nowhere", path) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dsrlb.shm")
			if tc.setup != nil {
				tc.setup(t, path)
			}
			r, err := Open(path)
			if err == nil {
				r.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("Open: %v; want errors.Is %v", err, tc.kind)
			}
			for _, other := range []error{ErrNotExist, ErrForeign, ErrVersion, ErrTorn, ErrNotReady, ErrGeometry, ErrOwned} {
				if other != tc.kind && errors.Is(err, other) {
					t.Errorf("Open: %v; also matches %v", err, other)
				}
			}
			if tc.extraIs != nil && !errors.Is(err, tc.extraIs) {
				t.Errorf("Open: %v; want errors.Is %v too", err, tc.extraIs)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Open: %q; want the path and %q", err, tc.msg)
			}

			// The data plane rebuilds whatever is there.
			r, replaced, err := Create(path, g)
			if err != nil {
				t.Fatalf("Create over it: %v", err)
			}
			defer r.Close()
			if tc.noFile && replaced != "" {
				t.Errorf("Create replaced %q where there was no file", replaced)
			}
			if !tc.noFile && (!strings.HasPrefix(replaced, "replaced "+path) || !strings.Contains(replaced, tc.note)) {
				t.Errorf("Create's note %q; want it to name the path and %q", replaced, tc.note)
			}
			o, err := Open(path)
			if err != nil {
				t.Fatalf("Open after rebuild: %v", err)
			}
			defer o.Close()
			if o.BootID() != r.BootID() || o.Geometry() != g {
				t.Fatalf("rebuilt file: boot id %x geometry %v; want %x %v", o.BootID(), o.Geometry(), r.BootID(), g)
			}
			assertOnlyFile(t, path)
		})
	}
}

// assertOnlyFile checks that Create left no temporary file behind.
func assertOnlyFile(t *testing.T, path string) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != filepath.Base(path) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want only %s", names, filepath.Base(path))
	}
}

func TestCreateGeometryErrors(t *testing.T) {
	dir := t.TempDir()
	for _, g := range []Geometry{
		{SlotSize: 100, Slots: 8},
		{SlotSize: 32, Slots: 8},
		{SlotSize: 128, Slots: 12},
		{SlotSize: 128, Slots: 1},
		{SlotSize: 128, Slots: 8, Workers: -1},
		{SlotSize: 128, Slots: 8, Workers: MaxWorkers + 1},
		{SlotSize: 128, Slots: 8, GlobalBytes: MaxGlobalBytes + 1},
		{SlotSize: 128, Slots: 8, Ports: MaxPorts + 1},
		{SlotSize: 128, Slots: 8, Ports: 1, PortBytes: MaxPortBytes + 1},
		{SlotSize: 128, Slots: 8, StatsBytes: -1},
		{SlotSize: 128, Slots: 8, StatsBytes: MaxStatsBytes + 1},
		{SlotSize: MaxSlotSize, Slots: MaxSlots},
	} {
		r, _, err := Create(filepath.Join(dir, "x.shm"), g)
		if err == nil {
			r.Close()
			t.Errorf("Create(%+v) succeeded", g)
		} else if !errors.Is(err, ErrGeometry) {
			t.Errorf("Create(%+v): %v, want ErrGeometry", g, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed Creates left %d files", len(ents))
	}
}

// startSleeper starts a process that stays alive for the test.
func startSleeper(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd.Process.Pid
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestCreateOwnership(t *testing.T) {
	g := smallGeometry
	path := filepath.Join(t.TempDir(), "dsrlb.shm")

	// A live other data plane: refused, file untouched.
	createClosed(t, path, g)
	live := startSleeper(t)
	patch(t, path, offDataplanePID, u64le(uint64(live)))
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := Create(path, g)
	if err == nil {
		r.Close()
		t.Fatal("Create over a live data plane's file succeeded")
	}
	want := fmt.Sprintf("another data plane (pid %d) owns %s", live, path)
	if !errors.Is(err, ErrOwned) || err.Error() != want {
		t.Fatalf("Create: %q; want ErrOwned %q", err, want)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("refused Create modified the file")
	}
	assertOnlyFile(t, path)

	// A dead data plane of another geometry: rebuilt.
	dead := deadPID(t)
	patch(t, path, offDataplanePID, u64le(uint64(dead)))
	g2 := g
	g2.Slots *= 2
	r, replaced, err := Create(path, g2)
	if err != nil {
		t.Fatalf("Create over a stale file: %v", err)
	}
	defer r.Close()
	for _, s := range []string{path, "stale", fmt.Sprintf("pid %d", dead), "geometry was 8 slots"} {
		if !strings.Contains(replaced, s) {
			t.Errorf("note %q does not mention %q", replaced, s)
		}
	}
	if r.DataplanePID() != os.Getpid() || r.Commands().Cap() != g2.Slots {
		t.Fatalf("rebuilt: pid %d, %d slots", r.DataplanePID(), r.Commands().Cap())
	}

	// Our own earlier file, still mapped: rebuilt, and the old mapping
	// keeps working on the old (now unlinked) file.
	old := r
	oldID := old.BootID()
	old.Commands().TryPush(1, []byte("old"))
	r2, replaced, err := Create(path, g2)
	if err != nil {
		t.Fatalf("Create over our own file: %v", err)
	}
	defer r2.Close()
	if !strings.Contains(replaced, "earlier file of this process") {
		t.Errorf("note %q", replaced)
	}
	if r2.BootID() == oldID || old.BootID() != oldID {
		t.Fatalf("boot ids: old %x (now %x), new %x", oldID, old.BootID(), r2.BootID())
	}
	if old.Commands().Len() != 1 || r2.Commands().Len() != 0 {
		t.Fatalf("old ring %d messages, new ring %d", old.Commands().Len(), r2.Commands().Len())
	}
	// The old handle must not remove the new file.
	if err := old.Remove(); err == nil {
		t.Fatal("Remove through the replaced region succeeded")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("new file gone: %v", err)
	}
	if err := r2.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Open after Remove: %v", err)
	}
	if err := r2.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
}

func TestCreateMode(t *testing.T) {
	for _, mask := range []int{0, 0o277} {
		old := syscall.Umask(mask)
		path := filepath.Join(t.TempDir(), "dsrlb.shm")
		r, _, err := Create(path, smallGeometry)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode(); m != 0o600 {
			t.Errorf("umask %03o: mode %v, want -rw-------", mask, m)
		}
	}
}

func TestLivenessRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dsrlb.shm")
	before := time.Now()
	dp, _, err := Create(path, smallGeometry)
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	ctrl, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ctrl.Close()

	if dp.BootID() == 0 || ctrl.BootID() != dp.BootID() {
		t.Fatalf("boot id: creator %x, opener %x", dp.BootID(), ctrl.BootID())
	}
	if ctrl.DataplanePID() != os.Getpid() || !ctrl.Alive(Dataplane) {
		t.Fatalf("data plane pid %d (alive %v), want %d", ctrl.DataplanePID(), ctrl.Alive(Dataplane), os.Getpid())
	}
	if hb := ctrl.Heartbeat(Dataplane); hb.Before(before.Truncate(time.Second)) || hb.After(time.Now()) {
		t.Fatalf("initial data plane heartbeat %v", hb)
	}
	if !ctrl.Heartbeat(Ctrl).IsZero() || ctrl.PID(Ctrl) != 0 || ctrl.Alive(Ctrl) {
		t.Fatalf("fresh file: ctrl heartbeat %v pid %d", ctrl.Heartbeat(Ctrl), ctrl.PID(Ctrl))
	}

	t1 := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC)
	dp.SetHeartbeat(Dataplane, t1)
	if got := ctrl.Heartbeat(Dataplane); !got.Equal(t1) {
		t.Fatalf("data plane heartbeat %v, want %v", got, t1)
	}
	t2 := t1.Add(time.Second + 1)
	ctrl.SetHeartbeat(Ctrl, t2)
	ctrl.SetPID(Ctrl, 4242)
	if got := dp.Heartbeat(Ctrl); !got.Equal(t2) || dp.PID(Ctrl) != 4242 {
		t.Fatalf("ctrl heartbeat %v pid %d, want %v 4242", got, dp.PID(Ctrl), t2)
	}
	if dp.Heartbeat(Dataplane).Equal(dp.Heartbeat(Ctrl)) {
		t.Fatal("the two heartbeats share a field")
	}
	dp.SetPID(Dataplane, deadPID(t))
	if ctrl.Alive(Dataplane) {
		t.Fatal("a dead data plane pid looks alive")
	}

	// A restarted data plane has a new boot id.
	dp2, replaced, err := Create(path, smallGeometry)
	if err != nil {
		t.Fatal(err)
	}
	defer dp2.Close()
	if !strings.Contains(replaced, "stale") {
		t.Errorf("note %q", replaced)
	}
	ctrl2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ctrl2.Close()
	if ctrl2.BootID() == ctrl.BootID() || ctrl2.BootID() != dp2.BootID() {
		t.Fatalf("boot ids: first %x, second %x (creator %x)", ctrl.BootID(), ctrl2.BootID(), dp2.BootID())
	}
}

func TestCounters(t *testing.T) {
	g := Geometry{SlotSize: 64, Slots: 2, Workers: 3, WorkerBytes: 40, Ports: 2, PortBytes: 16, GlobalBytes: 8}
	path := filepath.Join(t.TempDir(), "dsrlb.shm")
	dp, _, err := Create(path, g)
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	ctrl, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ctrl.Close()
	if got := ctrl.Geometry(); got.WorkerBytes != 64 || got.GlobalBytes != 64 || got.Workers != 3 || got.Ports != 2 || got.PortBytes != 64 {
		t.Fatalf("geometry %v: want worker, port and global blocks rounded up to 64", got)
	}

	type workerCounters struct{ rx, tx, drops uint64 } // a data-plane-style struct
	for i := 0; i < g.Workers; i++ {
		p := dp.WorkerPtr(i)
		if uintptr(p)%CacheLine != 0 {
			t.Fatalf("worker %d block at %p, not 64-byte aligned", i, p)
		}
		c := (*workerCounters)(p)
		c.rx, c.tx, c.drops = uint64(10*i+1), uint64(10*i+2), uint64(10*i+3)
	}
	for i := 0; i < g.Ports; i++ {
		Counter(dp.Port(i), 8).Store(uint64(100 + i))
	}
	Counter(dp.Global(), 0).Store(77)
	if uintptr(dp.GlobalPtr())%CacheLine != 0 {
		t.Fatal("global block not aligned")
	}
	for i := 0; i < g.Workers; i++ {
		w := ctrl.Worker(i)
		if len(w) != 64 || cap(w) != 64 {
			t.Fatalf("worker %d block len %d cap %d", i, len(w), cap(w))
		}
		for j, off := range []int{0, 8, 16} {
			if got, want := Counter(w, off).Load(), uint64(10*i+j+1); got != want {
				t.Fatalf("worker %d counter %d = %d, want %d", i, off, got, want)
			}
		}
		if Counter(w, 24).Load() != 0 {
			t.Fatalf("worker %d: bytes past the struct are not zero", i)
		}
	}
	for i := 0; i < g.Ports; i++ {
		p := ctrl.Port(i)
		if len(p) != 64 || Counter(p, 8).Load() != uint64(100+i) || Counter(p, 0).Load() != 0 {
			t.Fatalf("port %d block: len %d, counters %d %d", i, len(p), Counter(p, 0).Load(), Counter(p, 8).Load())
		}
	}
	if got := Counter(ctrl.Global(), 0).Load(); got != 77 {
		t.Fatalf("global counter %d", got)
	}
	for _, f := range []func(){
		func() { ctrl.Worker(g.Workers) },
		func() { ctrl.Worker(-1) },
		func() { ctrl.Port(g.Ports) },
		func() { Counter(ctrl.Global(), 60) },
		func() { Counter(ctrl.Global(), 4) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("out-of-range counter access did not panic")
				}
			}()
			f()
		}()
	}
}

func TestStatsSection(t *testing.T) {
	g := Geometry{SlotSize: 64, Slots: 2, Workers: 1, WorkerBytes: 8, GlobalBytes: 8, StatsBytes: 5000}
	path := filepath.Join(t.TempDir(), "dsrlb.shm")
	dp, _, err := Create(path, g)
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	b := dp.Stats()
	if len(b) != 5056 || cap(b) != len(b) {
		t.Fatalf("stats section len %d cap %d, want 5000 rounded up to 5056", len(b), cap(b))
	}
	if off := uintptr(unsafe.Pointer(&b[0])) - uintptr(unsafe.Pointer(&dp.data[0])); off%4096 != 0 || off < uintptr(HeaderSize) {
		t.Fatalf("stats section at %d, not on a page of its own", off)
	}
	for i, x := range b {
		if x != 0 {
			t.Fatalf("stats byte %d is %d, want a zero-filled section", i, x)
		}
	}
	Counter(b, len(b)-8).Store(42)
	ctrl, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ctrl.Close()
	if got := ctrl.Geometry().StatsBytes; got != 5056 {
		t.Fatalf("opened geometry has %d stats bytes", got)
	}
	if got := Counter(ctrl.Stats(), len(b)-8).Load(); got != 42 {
		t.Fatalf("last stats word %d through the other mapping, want 42", got)
	}
	// The last byte of the file is the section's last one.
	if end := uintptr(unsafe.Pointer(&b[len(b)-1])) + 1 - uintptr(unsafe.Pointer(&dp.data[0])); int(end) > dp.Size() || dp.Size()-int(end) >= 4096 {
		t.Fatalf("stats section ends at %d of a %d-byte file", end, dp.Size())
	}

	// A file without the section has an empty view.
	none := filepath.Join(t.TempDir(), "none.shm")
	r, _, err := Create(none, Geometry{SlotSize: 64, Slots: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.Stats()) != 0 {
		t.Fatalf("stats section of %d bytes in a file without one", len(r.Stats()))
	}
}

// TestTruncateRefused: nobody, root included, can shrink or grow the file
// under its creator (a shrunk mapping would fault in the data plane's
// workers): the file is a sealed memfd behind the path.
func TestTruncateRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dsrlb.shm")
	r, _, err := Create(path, smallGeometry)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	size := r.Size()
	for _, n := range []int64{0, int64(size) / 2, int64(size) + 4096} {
		if err := os.Truncate(path, n); err == nil {
			t.Fatalf("truncating the file to %d bytes succeeded", n)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(0); err == nil {
		t.Fatal("truncating an open descriptor of the file succeeded")
	}
	f.Close()
	// The mapping is whole: the last byte is there to write.
	r.data[size-1] = 1
	if fi, err := os.Stat(path); err != nil || fi.Size() != int64(size) {
		t.Fatalf("file size %v, %v; want %d", fi.Size(), err, size)
	}
	// Once the creator closed it, the file and its link are gone.
	r.Close()
	if _, err := Open(path); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Open after the creator closed: %v", err)
	}
}
