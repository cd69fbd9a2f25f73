package health

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sh(script string) Script {
	// sh -c SCRIPT sh TARGET: the appended target becomes $1.
	return Script{Path: "/bin/sh", Args: []string{"-c", script, "sh"}}
}

func TestScriptExitStatus(t *testing.T) {
	if err := check(t, sh("exit 0"), lo4, 2*time.Second); err != nil {
		t.Errorf("exit 0: %v, want healthy", err)
	}
	err := check(t, sh(`echo "backend says no"; echo "on stderr" >&2; exit 1`), lo4, 2*time.Second)
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
	err := check(t, sh(`head -c 100000 /dev/zero | tr '\0' x; exit 3`), lo4, 2*time.Second)
	if err == nil || !strings.HasPrefix(err.Error(), "script exited with status 3: xxx") {
		t.Fatalf("got %v", err)
	}
	if n := strings.Count(strings.TrimPrefix(err.Error(), "script exited with status 3: "), "x"); n != maxScriptOutput {
		t.Errorf("error carries %d bytes of output, want %d", n, maxScriptOutput)
	}
}

func TestScriptTargetArgAndEnv(t *testing.T) {
	err := check(t, sh(`echo "arg=$1 env=$DSRLB_TARGET"; exit 1`), lo6, 2*time.Second)
	if err == nil || !strings.Contains(err.Error(), "arg=::1 env=::1") {
		t.Errorf("got %v, want output arg=::1 env=::1", err)
	}
	if err := check(t, sh(`[ "$1" = 127.0.0.1 ] && [ "$DSRLB_TARGET" = 127.0.0.1 ]`), lo4, 2*time.Second); err != nil {
		t.Errorf("target 127.0.0.1 not passed: %v", err)
	}
}

func TestScriptMissing(t *testing.T) {
	err := check(t, Script{Path: "/nonexistent/dsrlb-check"}, lo4, time.Second)
	if err == nil || err.Error() != "script /nonexistent/dsrlb-check: no such file or directory" {
		t.Errorf("got %v", err)
	}
}

func TestScriptHangKilledAtTimeout(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	err := check(t, sh(`echo $$ > `+pidFile+`; echo started; sleep 30`), lo4, 300*time.Millisecond)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Check took %s, want prompt return after the 300ms timeout", took)
	}
	if err == nil || !strings.HasPrefix(err.Error(), "script timed out after 300ms") {
		t.Errorf("got %v, want script timed out after 300ms", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout error %v does not match context.DeadlineExceeded", err)
	}
	if err != nil && !strings.Contains(err.Error(), "started") {
		t.Errorf("timeout error %q lacks the output so far", err)
	}
	waitGone(t, readPid(t, pidFile))
}

func TestScriptBackgroundChildDoesNotHang(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	// The background sleep inherits stdout and would hold the output pipe
	// open for 30 s.
	err := check(t, sh(`sleep 30 & echo $! > `+pidFile+`; exit 0`), lo4, 2*time.Second)
	if took := time.Since(start); took > 5*time.Second {
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

// waitGone waits up to 5 s for pid to be gone or a zombie (a zombie is dead;
// whether it is reaped depends on this test's init process).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			// pid (comm) STATE ...
			if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
				return
			}
		}
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d still running 5s after Check returned", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestScriptString(t *testing.T) {
	s := Script{Path: "/usr/lib/dsrlb/check", Args: []string{"--mode", "deep check", ""}}
	want := `script /usr/lib/dsrlb/check --mode "deep check" ""`
	if s.String() != want {
		t.Errorf("String() = %q, want %q", s.String(), want)
	}
}
