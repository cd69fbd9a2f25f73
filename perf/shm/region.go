package shm

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Side names one of the two processes sharing the file.
type Side int

const (
	Dataplane Side = iota // dsrlb-dataplane, the creator
	Ctrl                  // dsrlb-ctrl
)

func (s Side) String() string {
	switch s {
	case Dataplane:
		return "data plane"
	case Ctrl:
		return "ctrl"
	}
	return "Side(" + strconv.Itoa(int(s)) + ")"
}

// Region is one mapped shared-memory file.
type Region struct {
	path string
	data []byte // the whole mapping; nil after Close
	// memfd is the creator's descriptor of the sealed file, which path
	// links to (/proc/PID/fd/N); nil for a Region that was opened.
	memfd    *os.File
	dev, ino uint64 // identity of the mapped file, for Remove
	geo      Geometry
	cmd, evt Ring
	counters []byte
	stats    []byte
}

// maxPID bounds pids read from the file (Linux's PID_MAX_LIMIT), so that a
// corrupt value can never reach kill(2) as 0 or a negative process group.
const maxPID = 1 << 22

// Create is the data plane's side. It builds a new file for g (mode
// exactly 0600, whatever the umask), maps it, writes the header with this
// process's pid, a fresh random boot id and a heartbeat, leaves both rings
// empty, sets the ready flag last and makes path name it.
//
// The file is a memfd sealed against shrinking and growing: no process,
// root included, can truncate it under the data plane, whose workers
// would fault on the pages cut off. path is a symbolic link to the
// memfd's descriptor in this process (/proc/PID/fd/N), made under a
// temporary name and renamed into place; dsrlb-ctrl opens the file
// through it (which takes the rights to inspect this process: root's).
// The link dangles once the data plane exits; the memfd's memory goes
// with the last mapping.
//
// If path already exists, Create first inspects it. A valid file whose data
// plane pid is a live process other than this one is left alone and
// Create fails with an error wrapping ErrOwned ("another data plane (pid N)
// owns PATH"). Anything else (a stale file of a dead data plane, a foreign
// or torn file, another layout version, another geometry, a file that never
// became ready) is replaced without being trusted, and replaced describes
// what was there, for the log. replaced is "" if path did not exist.
func Create(path string, g Geometry) (r *Region, replaced string, err error) {
	h, err := layoutFor(g)
	if err != nil {
		return nil, "", err
	}
	replaced, err = inspect(path, h.geometry())
	if err != nil {
		return nil, "", err
	}

	fd, err := unix.MemfdCreate("dsrlb-shm", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, "", fmt.Errorf("shm: create %s: memfd: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), "memfd:dsrlb-shm")
	tmp := ""
	fail := func(err error) (*Region, string, error) {
		if r != nil {
			r.Close() // closes f too
		} else {
			f.Close()
		}
		if tmp != "" {
			os.Remove(tmp)
		}
		return nil, "", fmt.Errorf("shm: create %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil { // CreateTemp's 0600 is subject to the umask
		return fail(err)
	}
	if err := f.Truncate(int64(h.fileSize)); err != nil { // zero-filled: both rings empty
		return fail(err)
	}
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		return fail(fmt.Errorf("sealing the file: %w", err))
	}
	r, err = mapFile(path, f, h)
	if err != nil {
		return fail(err)
	}
	r.memfd = f
	h.put(r.data)
	bootID, err := newBootID()
	if err != nil {
		return fail(err)
	}
	r.u64(offDataplanePID).Store(uint64(os.Getpid()))
	r.u64(offBootID).Store(bootID)
	r.u64(offDataplaneHeartbeat).Store(uint64(time.Now().UnixNano()))
	r.u64(offCtrlPID).Store(0)
	r.u64(offCtrlHeartbeat).Store(0)
	for _, q := range []*Ring{&r.cmd, &r.evt} {
		q.head.Store(0)
		q.tail.Store(0)
	}
	r.u64(offReady).Store(readyValue) // last: release of everything above
	tmp = filepath.Join(filepath.Dir(path), fmt.Sprintf(".%s.%d.tmp", filepath.Base(path), bootID))
	if err := os.Symlink(memfdLink(f), tmp); err != nil {
		tmp = ""
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	return r, replaced, nil
}

// memfdLink is the path of f's descriptor in this process.
func memfdLink(f *os.File) string {
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
}

// procFDLink matches the links Create makes.
var procFDLink = regexp.MustCompile(`^/proc/[0-9]+/fd/[0-9]+$`)

// inspect decides whether Create may replace what is at path, and returns a
// description of it for the log ("" if nothing is there).
func inspect(path string, want Geometry) (string, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("shm: %w", err)
	}
	if fi.IsDir() {
		return "", &Error{Path: path, Kind: ErrForeign, msg: path + ": is a directory"}
	}
	follow := unix.O_NOFOLLOW
	if fi.Mode().Type() == fs.ModeSymlink {
		// A data plane's link: followed only to a descriptor of a
		// process, and a link whose process is gone is stale.
		target, err := os.Readlink(path)
		if err != nil {
			return "", fmt.Errorf("shm: %w", err)
		}
		if !procFDLink.MatchString(target) {
			return fmt.Sprintf("replaced %s: a symbolic link to %s", path, target), nil
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Sprintf("replaced %s: link to %s, whose data plane is gone", path, target), nil
		}
		follow = 0
	} else if !fi.Mode().IsRegular() {
		return fmt.Sprintf("replaced %s: not a regular file (%v)", path, fi.Mode().Type()), nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|follow|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Sprintf("replaced %s: its data plane is gone", path), nil
		}
		return "", fmt.Errorf("shm: inspect existing file: %w", err)
	}
	defer f.Close()
	h, err := readHeader(path, f)
	if err == nil && h.ready != readyValue {
		err = &Error{Path: path, Kind: ErrNotReady, msg: path + ": not ready (the creator did not finish)"}
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return "replaced " + e.msg, nil
		}
		return "", err
	}
	pid := h.dataplanePID
	self := uint64(os.Getpid())
	switch {
	case pid == self:
		return fmt.Sprintf("replaced %s: earlier file of this process (pid %d, boot id %016x)", path, pid, h.bootID), nil
	case pid != 0 && processAlive(pid):
		return "", &Error{Path: path, Kind: ErrOwned,
			msg: fmt.Sprintf("another data plane (pid %d) owns %s", pid, path)}
	}
	s := fmt.Sprintf("replaced %s: stale file of data plane pid %d (not running), boot id %016x", path, pid, h.bootID)
	if old := h.geometry(); old != want {
		s += fmt.Sprintf("; geometry was %v, now %v", old, want)
	}
	return s, nil
}

// processAlive reports whether pid names a running (not zombie) process.
func processAlive(pid uint64) bool {
	if pid == 0 || pid > maxPID {
		return false
	}
	if err := unix.Kill(int(pid), 0); err != nil && err != unix.EPERM {
		return false
	}
	// A zombie (exited, not yet reaped) still answers kill(pid, 0).
	stat, err := os.ReadFile("/proc/" + strconv.FormatUint(pid, 10) + "/stat")
	if err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return false
		}
	}
	return true
}

func newBootID() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, err
		}
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 {
			return id, nil
		}
	}
}

// Open is the control process's side: it maps the existing file at path
// read-write after validating it: magic (ErrForeign), layout version
// (ErrVersion), header and file size (ErrTorn if the file is shorter than
// its header claims), ring and counter geometry (ErrGeometry) and the ready
// flag (ErrNotReady). A missing file is ErrNotExist.
func Open(path string) (*Region, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &Error{Path: path, Kind: ErrNotExist, err: err,
				msg: path + ": does not exist (is the data plane running?)"}
		}
		return nil, fmt.Errorf("shm: %w", err)
	}
	defer f.Close()
	h, err := readHeader(path, f)
	if err != nil {
		return nil, err
	}
	r, err := mapFile(path, f, h)
	if err != nil {
		return nil, fmt.Errorf("shm: map %s: %w", path, err)
	}
	if v := r.u64(offReady).Load(); v != readyValue { // acquire: pairs with Create's last store
		r.Close()
		return nil, &Error{Path: path, Kind: ErrNotReady, msg: fmt.Sprintf("%s: not ready (ready flag %d)", path, v)}
	}
	return r, nil
}

// readHeader reads and validates the header of f (everything but ready).
func readHeader(path string, f *os.File) (header, error) {
	fi, err := f.Stat()
	if err != nil {
		return header{}, fmt.Errorf("shm: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return header{}, &Error{Path: path, Kind: ErrForeign, msg: fmt.Sprintf("%s: not a regular file (%v)", path, fi.Mode().Type())}
	}
	var page [HeaderSize]byte
	n, err := f.ReadAt(page[:min(fi.Size(), HeaderSize)], 0)
	if err != nil && err != io.EOF {
		return header{}, fmt.Errorf("shm: %w", err)
	}
	return parseHeader(path, page[:n], fi.Size())
}

// mapFile maps f, whose header h has been validated, and sets up the views.
func mapFile(path string, f *os.File, h header) (*Region, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, err
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(h.fileSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	g := h.geometry()
	return &Region{
		path:     path,
		data:     data,
		dev:      uint64(st.Dev),
		ino:      uint64(st.Ino),
		geo:      g,
		cmd:      newRing(data[h.cmdOff:h.cmdOff+h.cmdSize], g.SlotSize, g.Slots),
		evt:      newRing(data[h.evtOff:h.evtOff+h.evtSize], g.SlotSize, g.Slots),
		counters: data[h.ctrOff : h.ctrOff+h.ctrSize : h.ctrOff+h.ctrSize],
		stats:    data[h.statsOff : h.statsOff+h.statsSize : h.statsOff+h.statsSize],
	}, nil
}

// Close unmaps the file; for its creator, the file and its link are gone
// then. The Region, its Rings and every view obtained from it (Worker,
// Global, Counter, ...) must not be used afterwards. Closing twice is
// harmless.
func (r *Region) Close() error {
	if r.data == nil {
		return nil
	}
	data := r.data
	r.data = nil
	r.counters = nil
	r.stats = nil
	if r.memfd != nil {
		// The file goes with the descriptor: its link too, while it
		// still names it (another process's descriptor could take the
		// number and a stale link would name that).
		if target, err := os.Readlink(r.path); err == nil && target == memfdLink(r.memfd) {
			os.Remove(r.path)
		}
		r.memfd.Close()
		r.memfd = nil
	}
	if err := unix.Munmap(data); err != nil {
		return fmt.Errorf("shm: unmap %s: %w", r.path, err)
	}
	return nil
}

// Remove unlinks the path, if it still names the file this Region maps
// (a newer data plane may have replaced it; its file is left alone and an
// error returned). A path that no longer exists is not an error. The
// mapping stays valid until Close.
func (r *Region) Remove() error {
	var st unix.Stat_t
	if err := unix.Stat(r.path, &st); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return &os.PathError{Op: "stat", Path: r.path, Err: err}
	}
	if uint64(st.Dev) != r.dev || uint64(st.Ino) != r.ino {
		return fmt.Errorf("shm: %s now names another file (a newer data plane?); not removed", r.path)
	}
	return os.Remove(r.path)
}

// Path is the path the Region was created or opened at.
func (r *Region) Path() string { return r.path }

// Geometry is the file's geometry (WorkerBytes and GlobalBytes as rounded
// up by Create).
func (r *Region) Geometry() Geometry { return r.geo }

// Size is the size of the file in bytes.
func (r *Region) Size() int { return len(r.data) }

func (r *Region) u64(off int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&r.data[off]))
}

// BootID is the random id the data plane chose when it created the file.
func (r *Region) BootID() uint64 { return r.u64(offBootID).Load() }

// Ready reports whether the ready flag is set.
func (r *Region) Ready() bool { return r.u64(offReady).Load() == readyValue }

func pidOff(side Side) int {
	switch side {
	case Dataplane:
		return offDataplanePID
	case Ctrl:
		return offCtrlPID
	}
	panic("shm: bad Side " + side.String())
}

func heartbeatOff(side Side) int {
	switch side {
	case Dataplane:
		return offDataplaneHeartbeat
	case Ctrl:
		return offCtrlHeartbeat
	}
	panic("shm: bad Side " + side.String())
}

// PID is the pid the side last recorded (0 if none).
func (r *Region) PID(side Side) int { return int(r.u64(pidOff(side)).Load()) }

// SetPID records the side's pid (0 to clear it).
func (r *Region) SetPID(side Side, pid int) { r.u64(pidOff(side)).Store(uint64(pid)) }

// DataplanePID is PID(Dataplane).
func (r *Region) DataplanePID() int { return r.PID(Dataplane) }

// Alive reports whether the side's recorded pid is a running process.
// (A recycled pid looks alive; combine with Heartbeat.)
func (r *Region) Alive(side Side) bool { return processAlive(r.u64(pidOff(side)).Load()) }

// SetHeartbeat records t as the side's latest heartbeat (nanosecond
// precision; the zero Time clears it).
func (r *Region) SetHeartbeat(side Side, t time.Time) {
	var ns uint64
	if !t.IsZero() {
		ns = uint64(t.UnixNano())
	}
	r.u64(heartbeatOff(side)).Store(ns)
}

// Heartbeat is the side's latest heartbeat, or the zero Time if it never
// beat.
func (r *Region) Heartbeat(side Side) time.Time {
	ns := r.u64(heartbeatOff(side)).Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ns))
}

// Commands is the command ring: dsrlb-ctrl produces, the data plane consumes.
func (r *Region) Commands() *Ring { return &r.cmd }

// Events is the event ring: the data plane produces, dsrlb-ctrl consumes.
func (r *Region) Events() *Ring { return &r.evt }

// Worker is worker i's counter block (Geometry().WorkerBytes bytes, 64-byte
// aligned), a view into the mapping. It panics if i is out of range.
func (r *Region) Worker(i int) []byte {
	if i < 0 || i >= r.geo.Workers {
		panic(fmt.Sprintf("shm: worker %d out of range 0..%d", i, r.geo.Workers-1))
	}
	o := i * r.geo.WorkerBytes
	return r.counters[o : o+r.geo.WorkerBytes : o+r.geo.WorkerBytes]
}

// Port is port i's counter block (Geometry().PortBytes bytes, 64-byte
// aligned), a view into the mapping. It panics if i is out of range.
func (r *Region) Port(i int) []byte {
	if i < 0 || i >= r.geo.Ports {
		panic(fmt.Sprintf("shm: port %d out of range 0..%d", i, r.geo.Ports-1))
	}
	o := r.geo.Workers*r.geo.WorkerBytes + i*r.geo.PortBytes
	return r.counters[o : o+r.geo.PortBytes : o+r.geo.PortBytes]
}

// Global is the global counter block (Geometry().GlobalBytes bytes, 64-byte
// aligned), a view into the mapping.
func (r *Region) Global() []byte {
	o := r.geo.Workers*r.geo.WorkerBytes + r.geo.Ports*r.geo.PortBytes
	return r.counters[o : o+r.geo.GlobalBytes : o+r.geo.GlobalBytes]
}

// Stats is the stats section (Geometry().StatsBytes bytes, starting on a
// 4096-byte page), a view into the mapping; empty when the file has none.
// Its layout is package perf/stats'.
func (r *Region) Stats() []byte { return r.stats }

// WorkerPtr is the address of worker i's counter block, for placing a
// fixed-layout struct of uint64 counters there; nil if blocks are empty.
func (r *Region) WorkerPtr(i int) unsafe.Pointer { return blockPtr(r.Worker(i)) }

// GlobalPtr is the address of the global counter block; nil if it is empty.
func (r *Region) GlobalPtr() unsafe.Pointer { return blockPtr(r.Global()) }

func blockPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// Counter returns the uint64 at byte offset off of a counter block (from
// Worker, Port or Global) for atomic access, e.g. Counter(r.Worker(0), 16).Load().
// It panics if off is not 8-byte aligned or the counter is outside block.
func Counter(block []byte, off int) *atomic.Uint64 {
	if off < 0 || off > len(block)-8 {
		panic(fmt.Sprintf("shm: counter at %d outside a %d-byte block", off, len(block)))
	}
	p := unsafe.Pointer(&block[off])
	if uintptr(p)%8 != 0 {
		panic(fmt.Sprintf("shm: counter at offset %d is not 8-byte aligned", off))
	}
	return (*atomic.Uint64)(p)
}
