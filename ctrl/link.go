package ctrl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"dsrlb/perf/shm"
)

// fileID identifies a file (device and inode), to notice that the path of
// the shared-memory file names a new one.
type fileID struct{ dev, ino uint64 }

func statID(path string) (fileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, fmt.Errorf("%s: no inode information", path)
	}
	return fileID{uint64(st.Dev), uint64(st.Ino)}, nil
}

// errStale says that a shared-memory file exists but its data plane has
// not beaten its heartbeat lately.
var errStale = errors.New("data plane heartbeat is stale")

// openFresh opens the shared-memory file at path if it is ready and its
// data plane's heartbeat is younger than stale. The returned fileID is
// that of the mapped file (stat'ed before and after mapping, so that a
// file replaced in between is not mistaken for the mapped one).
func openFresh(path string, stale time.Duration, now time.Time) (*shm.Region, fileID, error) {
	before, err := statID(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fileID{}, fmt.Errorf("%s does not exist yet", path)
		}
		return nil, fileID{}, err
	}
	r, err := shm.Open(path)
	if err != nil {
		return nil, before, err
	}
	after, err := statID(path)
	if err != nil || after != before {
		r.Close()
		return nil, before, fmt.Errorf("%s was replaced while being opened", path)
	}
	if age := heartbeatAge(r, now); age > stale {
		r.Close()
		return nil, before, fmt.Errorf("%w (%s old)", errStale, age.Round(time.Millisecond))
	}
	return r, before, nil
}

// dataplaneUnfit says why the data plane cannot carry traffic, "" when it
// can: its file not mapped, its process gone, or its heartbeat older than
// timeout (the configuration key key sets it). The reasons read after
// "data plane ": "not found", "process 42 is gone", "heartbeat 1.2s old
// (key 1s)".
func (d *Daemon) dataplaneUnfit(now time.Time, timeout time.Duration, key string) string {
	switch {
	case d.region == nil:
		return "not found"
	case !d.region.Alive(shm.Dataplane):
		return fmt.Sprintf("process %d is gone", d.region.DataplanePID())
	case heartbeatAge(d.region, now) > timeout:
		return fmt.Sprintf("heartbeat %s old (%s %s)", heartbeatAge(d.region, now).Round(time.Millisecond), key, timeout)
	}
	return ""
}

// heartbeatAge is the age of the data plane's heartbeat; a very large
// value if it never beat.
func heartbeatAge(r *shm.Region, now time.Time) time.Duration {
	hb := r.Heartbeat(shm.Dataplane)
	if hb.IsZero() {
		return 1<<63 - 1
	}
	return now.Sub(hb)
}

// msg is one message for the command ring.
type msg struct {
	kind    uint32
	payload []byte
}

// pushAll pushes msgs into q in order. When they fit in the ring, it
// first waits until there is room for all of them, so that a ring that
// stays full leaves nothing half-pushed; a larger batch is streamed. Every
// wait for room is bounded by timeout (the ring made no progress for that
// long: the data plane is stuck); onFull is called once per wait that
// exceeds 100ms. On error, the messages after the failing one are not
// pushed (in particular not a SyncCommit).
func pushAll(ctx context.Context, q *shm.Ring, msgs []msg, timeout time.Duration, onFull func(time.Duration)) error {
	if len(msgs) <= q.Cap() {
		wctx, cancel := context.WithTimeout(ctx, timeout)
		err := q.WaitRoom(wctx, len(msgs), onFull)
		cancel()
		if err != nil {
			return fmt.Errorf("no room for %d messages in the command ring: %w", len(msgs), err)
		}
	}
	for i, m := range msgs {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := q.Push(pctx, m.kind, m.payload, onFull)
		cancel()
		if err != nil {
			return fmt.Errorf("message %d of %d: %w", i+1, len(msgs), err)
		}
	}
	return nil
}
