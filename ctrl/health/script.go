package health

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxScriptOutput is how much of a script's combined stdout and stderr is
// kept for the error message.
const maxScriptOutput = 512

// scriptWaitDelay bounds how long Check waits for the output pipe to close
// after the script's process group is gone (a descendant that left the
// group could otherwise hold it open forever).
const scriptWaitDelay = 500 * time.Millisecond

// Script runs an external command: Path with Args and the target address
// appended as the last argument; the address is also in the environment as
// DSRLB_TARGET. Exit status 0 is healthy.
//
// The command runs in its own process group. When it exits, or when the
// deadline passes, the whole group is killed with SIGKILL, so children it
// left behind do not outlive the check.
type Script struct {
	Path string
	Args []string
}

func (c Script) String() string {
	var b strings.Builder
	b.WriteString("script ")
	b.WriteString(shellWord(c.Path))
	for _, a := range c.Args {
		b.WriteByte(' ')
		b.WriteString(shellWord(a))
	}
	return b.String()
}

// shellWord quotes s if it would otherwise be ambiguous in String.
func shellWord(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\r\n\"'\\") {
		return strconv.Quote(s)
	}
	return s
}

// Validate reports a missing path.
func (c Script) Validate() error {
	if c.Path == "" {
		return errors.New("script check needs a path")
	}
	return nil
}

// Check runs the script once.
func (c Script) Check(ctx context.Context, target netip.Addr) error {
	start := time.Now()
	if ctx.Err() != nil {
		return ctxError(ctx, start)
	}
	addr := target.Unmap().String()
	cmd := exec.Command(c.Path, append(slices.Clone(c.Args), addr)...)
	cmd.Env = append(os.Environ(), "DSRLB_TARGET="+addr)
	out := &headBuffer{limit: maxScriptOutput}
	cmd.Stdout, cmd.Stderr = out, out // the same writer: one shared pipe
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = scriptWaitDelay
	if err := cmd.Start(); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return fmt.Errorf("script %s: %w", c.Path, errno)
		}
		return fmt.Errorf("script %s: %w", c.Path, err)
	}
	pid := cmd.Process.Pid

	// Learn that the script exited without reaping it: while the leader is
	// an unreaped zombie its pid, and so the group id, cannot be reused, so
	// killing the group below cannot hit an unrelated process.
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if err != unix.EINTR {
				return
			}
		}
	}()
	timedOut := false
	select {
	case <-exited:
	case <-ctx.Done():
		select {
		case <-exited: // exited at the same moment: take its status
		default:
			timedOut = true
		}
	}
	unix.Kill(-pid, unix.SIGKILL)
	<-exited
	waitErr := cmd.Wait() // reaps; output pipe bounded by WaitDelay

	output := out.text()
	if timedOut {
		if errors.Is(ctx.Err(), context.Canceled) {
			return canceledError{}
		}
		msg := fmt.Sprintf("script timed out after %s", budget(ctx, start))
		if output != "" {
			msg += ": " + output
		}
		return &timeoutError{msg: msg}
	}
	st := cmd.ProcessState
	if st == nil {
		return fmt.Errorf("script %s: %v", c.Path, waitErr)
	}
	if st.Success() {
		return nil
	}
	var msg string
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		msg = fmt.Sprintf("script killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
	} else {
		msg = fmt.Sprintf("script exited with status %d", st.ExitCode())
	}
	if output != "" {
		msg += ": " + output
	}
	return errors.New(msg)
}

// headBuffer keeps the first limit bytes written to it and drops the rest,
// while reporting every write as complete so the writer is never blocked.
type headBuffer struct {
	mu    sync.Mutex
	limit int
	buf   []byte
}

func (b *headBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *headBuffer) text() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(strings.ToValidUTF8(string(b.buf), "\uFFFD"))
}
