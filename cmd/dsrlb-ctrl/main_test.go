package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"dsrlb/ctrl"
)

// TestMain lets the tests run this binary as dsrlb-ctrl itself.
func TestMain(m *testing.M) {
	if os.Getenv("DSRLB_CTRL_RUN_MAIN") == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func writeConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	src := `[dataplane]
workers = [1]
address = "192.0.2.10/24"
eal_args = ["--no-huge"]
shm = "` + dir + `/dp.shm"
[[dataplane.port]]
name = "p0"
device = "net_ring0"
[ctrl]
socket = "` + dir + `/ctrl.sock"
[[service]]
name = "web"
vip = "192.0.2.100"
port = 80
  [[service.backend]]
  address = "192.0.2.21"
` + extra
	p := filepath.Join(dir, "dsrlb.toml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// self runs this test binary as dsrlb-ctrl with args.
func self(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "DSRLB_CTRL_RUN_MAIN=1")
	return cmd
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := writeConfig(t, dir, "")
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-check", "-c", good}, 0, "configuration OK (1 services, 0 health-checked real servers, socket " + dir + "/ctrl.sock)"},
		{[]string{"-bogus"}, 2, "flag provided but not defined"},
		{[]string{"-c", good, "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"-log-level", "loud", "-c", good}, 2, "bad -log-level"},
		{[]string{"-check", "-c", filepath.Join(dir, "none.toml")}, 1, "no such file"},
	} {
		var out bytes.Buffer
		cmd := self(tt.args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.code || !strings.Contains(out.String(), tt.out) {
			t.Errorf("%v: exit %d, output %q; want %d and %q", tt.args, code, out.String(), tt.code, tt.out)
		}
	}

	// Every problem on its own line, for -check and for a normal start.
	bad := writeConfig(t, dir, "  weight = 70000\n  [service.backend.check]\n  type = \"script\"\n  command = [\""+dir+"/missing\"]\n")
	for _, args := range [][]string{{"-check", "-c", bad}, {"-c", bad}} {
		var out bytes.Buffer
		cmd := self(args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("%v: %v, want exit 1", args, err)
		}
		want := "dsrlb-ctrl: " + bad + ":17: service[0].backend[0].weight: weight 70000 out of range 0..65535\n"
		if !strings.HasPrefix(out.String(), want) {
			t.Errorf("%v: output %q, want it to start with %q", args, out.String(), want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ctrl.sock")); !os.IsNotExist(err) {
		t.Errorf("socket created by a failed start: %v", err)
	}
}

func TestSignals(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "")
	var logs syncWriter
	cmd := self("-c", cfg)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sock := filepath.Join(dir, "ctrl.sock")
	waitFor(t, "the socket", func() bool { _, err := ctrl.Call(sock, ctrl.Request{Cmd: "status"}); return err == nil })
	waitFor(t, "waiting log", func() bool { return strings.Contains(logs.String(), `msg="waiting for the data plane"`) })

	// SIGHUP reloads.
	writeConfig(t, dir, "[[service]]\nname = \"dns\"\nvip = \"192.0.2.101\"\nprotocol = \"udp\"\n")
	cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "reload", func() bool {
		return strings.Contains(logs.String(), "msg=reloaded") && strings.Contains(logs.String(), "services=2")
	})
	r, err := ctrl.Call(sock, ctrl.Request{Cmd: "status"})
	if err != nil || len(r.Status.Services) != 2 {
		t.Fatalf("status after SIGHUP: %v %+v", err, r)
	}

	// SIGTERM: exit 0, socket removed.
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(patience):
		t.Fatal("dsrlb-ctrl did not exit on SIGTERM")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	if !strings.Contains(logs.String(), "msg=stopped") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// patience bounds the waits here: only a real failure reaches it, however
// busy the machine is.
const patience = 60 * time.Second

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(patience); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncWriter collects a child's output while the test reads it.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
