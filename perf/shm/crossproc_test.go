package shm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// The cross-process test re-executes the test binary as the control
// process, using the helper-process pattern of os/exec's own tests: the
// child runs only TestHelperProcess, which does its work when the
// environment variable helperEnv is set and does nothing otherwise.
const (
	helperEnv      = "DSRLB_SHM_TEST_HELPER" // "ctrl": act as the control process
	helperPathEnv  = "DSRLB_SHM_TEST_PATH"
	helperCountEnv = "DSRLB_SHM_TEST_COUNT"

	crossMessages = 200000
	crossDeadline = 60 * time.Second

	// Salts keep the two directions' message streams distinct, so that a
	// message delivered on the wrong ring fails its check.
	cmdSalt = 0x636d64 // "cmd"
	evtSalt = 0x657674 // "evt"
)

var crossGeometry = Geometry{SlotSize: 256, Slots: 64, Workers: 1, WorkerBytes: 64, GlobalBytes: 64}

// Message seq of a stream: kind = seq^salt, payload = seq (8 bytes), CRC-32
// of the rest (4 bytes), then 0..MaxPayload-12 bytes determined by seq.
func crossMessage(buf []byte, seq, salt uint64) (kind uint32, payload []byte) {
	n := 12 + int((seq*7919)%uint64(len(buf)-12+1))
	p := buf[:n]
	ne.PutUint64(p, seq)
	x := seq*0x9E3779B97F4A7C15 ^ salt | 1
	for i := 12; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = byte(x)
	}
	ne.PutUint32(p[8:], crc32.ChecksumIEEE(p[12:]))
	return uint32(seq ^ salt), p
}

func checkCrossMessage(want []byte, kind uint32, p []byte, seq, salt uint64) error {
	if len(p) < 12 {
		return fmt.Errorf("message %d: %d bytes, too short", seq, len(p))
	}
	if got := ne.Uint64(p); got != seq {
		return fmt.Errorf("message %d: got sequence number %d (lost, duplicated or reordered)", seq, got)
	}
	if crc := crc32.ChecksumIEEE(p[12:]); crc != ne.Uint32(p[8:]) {
		return fmt.Errorf("message %d: checksum %08x, payload says %08x", seq, crc, ne.Uint32(p[8:]))
	}
	wk, wp := crossMessage(want, seq, salt)
	if kind != wk || !bytes.Equal(p, wp) {
		return fmt.Errorf("message %d: kind %x, %d bytes; want kind %x, %d bytes", seq, kind, len(p), wk, len(wp))
	}
	return nil
}

// produce pushes n messages of the stream salt into q.
func produce(ctx context.Context, q *Ring, n, salt uint64) error {
	buf := make([]byte, q.MaxPayload())
	for seq := uint64(0); seq < n; seq++ {
		kind, p := crossMessage(buf, seq, salt)
		// Spin briefly first so that the producer often races the consumer
		// for the slot it just freed; then fall back to Push's back-off.
		err := q.TryPush(kind, p)
		for spin := 0; err == ErrFull && spin < 64; spin++ {
			runtime.Gosched()
			err = q.TryPush(kind, p)
		}
		if err == ErrFull {
			err = q.Push(ctx, kind, p, nil)
		}
		if err != nil {
			return fmt.Errorf("push %d of %d: %w", seq, n, err)
		}
	}
	return nil
}

// consume pops and checks n messages of the stream salt from q.
func consume(ctx context.Context, q *Ring, n, salt uint64) error {
	buf := make([]byte, q.MaxPayload())
	want := make([]byte, q.MaxPayload())
	idle := 0
	for seq := uint64(0); seq < n; {
		kind, p, ok := q.Pop(buf)
		if !ok {
			if err := q.Err(); err != nil {
				return fmt.Errorf("after %d messages: %w", seq, err)
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("after %d of %d messages: %w", seq, n, err)
			}
			if idle++; idle < 64 {
				runtime.Gosched()
			} else {
				time.Sleep(20 * time.Microsecond)
			}
			continue
		}
		idle = 0
		if err := checkCrossMessage(want, kind, p, seq, salt); err != nil {
			return err
		}
		seq++
	}
	return nil
}

// both runs f and g concurrently and returns the first error; a failure
// cancels the other.
func both(ctx context.Context, f, g func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	for _, fn := range []func(context.Context) error{f, g} {
		go func() {
			err := fn(ctx)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	return errors.Join(<-errs, <-errs)
}

// TestHelperProcess is not a real test: it is the child process of
// TestCrossProcess (the helper-process pattern of os/exec's tests). Without
// its environment variable it returns at once.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "ctrl" {
		return
	}
	err := helperCtrl(os.Getenv(helperPathEnv), os.Getenv(helperCountEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// helperCtrl acts as the control process: produces commands, consumes events.
func helperCtrl(path, count string) error {
	n, err := strconv.ParseUint(count, 10, 64)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), crossDeadline)
	defer cancel()
	r, err := Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	r.SetPID(Ctrl, os.Getpid())
	r.SetHeartbeat(Ctrl, time.Now())
	return both(ctx,
		func(ctx context.Context) error { return produce(ctx, r.Commands(), n, cmdSalt) },
		func(ctx context.Context) error { return consume(ctx, r.Events(), n, evtSalt) })
}

func TestCrossProcess(t *testing.T) {
	n := uint64(crossMessages)
	path := filepath.Join(t.TempDir(), "dsrlb.shm")
	r, _, err := Create(path, crossGeometry)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		helperEnv+"=ctrl", helperPathEnv+"="+path, helperCountEnv+"="+strconv.FormatUint(n, 10))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waited := false
	stopChild := func() { // kill the child if it has not exited; then out is ours to read
		if !waited {
			cmd.Process.Kill()
			<-exited
			waited = true
		}
	}
	t.Cleanup(stopChild)

	ctx, cancel := context.WithTimeout(context.Background(), crossDeadline)
	defer cancel()
	// The parent is the data plane: consumes commands, produces events.
	err = both(ctx,
		func(ctx context.Context) error { return consume(ctx, r.Commands(), n, cmdSalt) },
		func(ctx context.Context) error { return produce(ctx, r.Events(), n, evtSalt) })
	if err != nil {
		stopChild()
		t.Fatalf("data plane side: %v\nchild output:\n%s", err, out.Bytes())
	}
	select {
	case err = <-exited:
		waited = true
	case <-ctx.Done():
		stopChild()
		t.Fatalf("child did not exit: %v\n%s", ctx.Err(), out.Bytes())
	}
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out.Bytes())
	}
	elapsed := time.Since(start)

	// Exactly once: nothing beyond the n messages, nothing left unconsumed.
	if c, e := r.Commands(), r.Events(); c.Len() != 0 || e.Len() != 0 || c.tail.Load() != n || e.head.Load() != n {
		t.Fatalf("after the run: commands len %d tail %d, events len %d head %d; want 0, %d", c.Len(), c.tail.Load(), e.Len(), e.head.Load(), n)
	}
	if pid := r.PID(Ctrl); pid != cmd.Process.Pid {
		t.Errorf("ctrl pid in the file %d, child pid %d", pid, cmd.Process.Pid)
	}
	if r.Heartbeat(Ctrl).Before(start.Add(-time.Second)) {
		t.Errorf("ctrl heartbeat %v older than the run", r.Heartbeat(Ctrl))
	}
	t.Logf("%d messages each way through %d slots in %v", n, r.Commands().Cap(), elapsed)
}
