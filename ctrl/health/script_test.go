package health

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func sh(script string) Script {
	// sh -c SCRIPT sh TARGET: the appended target becomes $1.
	return Script{Path: "/bin/sh", Args: []string{"-c", script, "sh"}}
}

func TestScriptExitStatus(t *testing.T) {
	if err := check(t, sh("exit 0"), lo4, patience); err != nil {
		t.Errorf("exit 0: %v, want healthy", err)
	}
	err := check(t, sh(`echo "backend says no"; echo "on stderr" >&2; exit 1`), lo4, patience)
	if err == nil {
		t.Fatal("exit 1 reported healthy")
	}
	for _, want := range []string{"script exited with status 1", "backend says no", "on stderr"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("exit 1: error %q does not contain %q", err, want)
		}
	}
}

func TestScriptOutputBounded(t *testing.T) {
	err := check(t, sh(`head -c 100000 /dev/zero | tr '\0' x; exit 3`), lo4, patience)
	if err == nil || !strings.HasPrefix(err.Error(), "script exited with status 3: xxx") {
		t.Fatalf("got %v", err)
	}
	if n := strings.Count(strings.TrimPrefix(err.Error(), "script exited with status 3: "), "x"); n != maxScriptOutput {
		t.Errorf("error carries %d bytes of output, want %d", n, maxScriptOutput)
	}
}

func TestScriptTargetArgAndEnv(t *testing.T) {
	err := check(t, sh(`echo "arg=$1 env=$DSRLB_TARGET"; exit 1`), lo6, patience)
	if err == nil || !strings.Contains(err.Error(), "arg=::1 env=::1") {
		t.Errorf("got %v, want output arg=::1 env=::1", err)
	}
	if err := check(t, sh(`[ "$1" = 127.0.0.1 ] && [ "$DSRLB_TARGET" = 127.0.0.1 ]`), lo4, patience); err != nil {
		t.Errorf("target 127.0.0.1 not passed: %v", err)
	}
}

func TestScriptMissing(t *testing.T) {
	err := check(t, Script{Path: "/nonexistent/dsrlb-check"}, lo4, patience)
	if err == nil || err.Error() != "script /nonexistent/dsrlb-check: no such file or directory" {
		t.Errorf("got %v", err)
	}
}

// gatedContext has the deadline of its parent, but ends only once that has
// passed and open has been called, so that a check times out no earlier
// than a test lets it. It records when Check first used it.
type gatedContext struct {
	context.Context
	gate     chan struct{}
	done     chan struct{}
	openOnce sync.Once

	mu    sync.Mutex
	first time.Time
}

func newGatedContext(deadline time.Time) (*gatedContext, context.CancelFunc) {
	parent, cancel := context.WithDeadline(context.Background(), deadline)
	c := &gatedContext{Context: parent, gate: make(chan struct{}), done: make(chan struct{})}
	go func() {
		<-c.gate
		<-parent.Done()
		close(c.done)
	}()
	return c, func() { cancel(); c.open() }
}

func (c *gatedContext) open() { c.openOnce.Do(func() { close(c.gate) }) }

func (c *gatedContext) used() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first.IsZero() {
		c.first = time.Now()
	}
}

func (c *gatedContext) firstUse() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.first
}

func (c *gatedContext) Deadline() (time.Time, bool) { c.used(); return c.Context.Deadline() }
func (c *gatedContext) Done() <-chan struct{}       { c.used(); return c.done }
func (c *gatedContext) Err() error {
	c.used()
	select {
	case <-c.done:
		return c.Context.Err()
	default:
		return nil
	}
}

func TestScriptHangKilledAtTimeout(t *testing.T) {
	// The script reports its pid on a FIFO; opened read-write, the open
	// does not wait for the writer and reads never see end of file.
	fifo := filepath.Join(t.TempDir(), "pid")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	pidPipe, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pidPipe.Close()
	pidPipe.SetReadDeadline(time.Now().Add(patience))

	const timeout = 300 * time.Millisecond
	begin := time.Now()
	deadline := begin.Add(timeout)
	ctx, cancel := newGatedContext(deadline)
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- sh(`echo started; echo $$ > `+fifo+`; sleep 120`).Check(ctx, lo4) }()

	line, err := bufio.NewReader(pidPipe).ReadString('\n')
	if err != nil {
		t.Fatalf("script did not report its pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 1 {
		t.Fatalf("bad pid %q", line)
	}
	defer func() {
		// Leave nothing behind if the test failed: while its leader lives,
		// the script's process group is still its own.
		if !processGone(pid) {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
	}()
	// The script runs and has printed "started": the deadline may end it.
	ctx.open()
	select {
	case err = <-result:
	case <-time.After(patience):
		t.Fatalf("Check did not return within %s of its %s deadline (the script sleeps 120s)", patience, timeout)
	}

	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout error %v does not match context.DeadlineExceeded", err)
	}
	// The message names the time from the check's start to its deadline,
	// to the ms: 300ms, unless the check started late, which it did no later
	// than its first look at ctx.
	low := deadline.Sub(ctx.firstUse()).Round(time.Millisecond)
	var msg string
	if err != nil {
		msg = err.Error()
	}
	rest, ok := strings.CutPrefix(msg, "script timed out after ")
	given, output, _ := strings.Cut(rest, ": ")
	if d, perr := time.ParseDuration(given); !ok || perr != nil || d < low || d > timeout {
		if low == timeout {
			t.Errorf("got %v, want script timed out after %s", err, timeout)
		} else {
			t.Errorf("got %v, want script timed out after %s to %s (the check started %s late)", err, low, timeout, ctx.firstUse().Sub(begin))
		}
	}
	if output != "started" {
		t.Errorf("timeout error %q lacks the output so far, \"started\"", msg)
	}
	waitGone(t, pid)
}

func TestScriptBackgroundChildDoesNotHang(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	// The background sleep inherits stdout and would hold the output pipe
	// open for 120 s, past the check's deadline.
	err := check(t, sh(`sleep 120 & echo $! > `+pidFile+`; exit 0`), lo4, patience)
	if took := time.Since(start); took >= patience/2 {
		t.Errorf("Check took %s with a background child", took)
	}
	if err != nil {
		t.Errorf("exit 0 with a background child: %v, want healthy", err)
	}
	waitGone(t, readPid(t, pidFile))
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("script did not write its pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("bad pid %q", b)
	}
	return pid
}

// processGone reports whether pid is gone or a zombie (a zombie is dead;
// whether it is reaped depends on this test's init process).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	// pid (comm) STATE ...
	i := bytes.LastIndexByte(b, ')')
	return err == nil && i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// waitGone waits for pid to be gone, and kills it if it is not by then.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	defer func() {
		if !processGone(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}()
	waitFor(t, fmt.Sprintf("process %d gone after Check returned", pid), func() bool { return processGone(pid) })
}

func TestScriptString(t *testing.T) {
	s := Script{Path: "/usr/lib/dsrlb/check", Args: []string{"--mode", "deep check", ""}}
	want := `script /usr/lib/dsrlb/check --mode "deep check" ""`
	if s.String() != want {
		t.Errorf("String() = %q, want %q", s.String(), want)
	}
}
