// Package testbed builds throw-away network topologies out of Linux network
// namespaces, veth pairs and a bridge, and runs real programs (the data
// plane, nginx, curl, tcpdump) inside them. The end-to-end tests and
// `dsrlbctl demo` use it.
//
// Everything a Bed creates carries its prefix ("dsrlb" + the creating
// process id + a counter), and Close removes it: processes first (by PID,
// SIGTERM then SIGKILL), then the namespaces, which takes their veths with
// them. A Bed left behind by a process that was killed is swept by the next
// New, because its process id is no longer alive. Only documentation
// address ranges are used.
package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var seq atomic.Int32

// Bed is one topology under construction or in use.
type Bed struct {
	Prefix string
	Dir    string // scratch directory for configs, logs and captures
	Logf   func(format string, args ...any)

	mu    sync.Mutex
	nss   []string
	procs []*Proc
	names map[string]int
}

// New sweeps leftovers of dead processes and returns an empty Bed that
// keeps its files in dir.
func New(dir string, logf func(string, ...any)) (*Bed, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("testbed: network namespaces need root")
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	SweepStale(logf)
	b := &Bed{Prefix: fmt.Sprintf("dsrlb%d-%d", os.Getpid(), seq.Add(1)), Dir: dir, Logf: logf}
	return b, nil
}

// NS returns the full namespace name of a role ("client", "lb", ...).
func (b *Bed) NS(role string) string { return b.Prefix + "-" + role }

// AddNS creates the namespace of role with loopback up.
func (b *Bed) AddNS(role string) error {
	ns := b.NS(role)
	if err := run(10*time.Second, "ip", "netns", "add", ns); err != nil {
		return err
	}
	b.mu.Lock()
	b.nss = append(b.nss, ns)
	b.mu.Unlock()
	return b.IP(role, "link", "set", "lo", "up")
}

// IP runs `ip -n NS args...`.
func (b *Bed) IP(role string, args ...string) error {
	return run(10*time.Second, "ip", append([]string{"-n", b.NS(role)}, args...)...)
}

// Exec runs a command inside role's namespace and returns its output.
func (b *Bed) Exec(timeout time.Duration, role string, args ...string) (string, error) {
	return output(timeout, "ip", append([]string{"netns", "exec", b.NS(role)}, args...)...)
}

// Sysctl sets key=value inside role's namespace.
func (b *Bed) Sysctl(role, key, value string) error {
	_, err := b.Exec(5*time.Second, role, "sysctl", "-q", "-w", key+"="+value)
	return err
}

// Proc is a program running inside a namespace.
type Proc struct {
	Name string
	Log  string // file receiving its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs a program in role's namespace in the background, its output
// going to Dir/NAME.log (NAME-2.log for the second process of that name,
// and so on).
func (b *Bed) Start(role, name string, args ...string) (*Proc, error) {
	b.mu.Lock()
	if b.names == nil {
		b.names = map[string]int{}
	}
	b.names[name]++
	if n := b.names[name]; n > 1 {
		name = fmt.Sprintf("%s-%d", name, n)
	}
	b.mu.Unlock()
	logPath := filepath.Join(b.Dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", b.NS(role)}, args...)...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	b.mu.Lock()
	b.procs = append(b.procs, p)
	b.mu.Unlock()
	b.Logf("started %s (pid %d) in %s: %s", name, cmd.Process.Pid, role, strings.Join(args, " "))
	return p, nil
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends sig and waits up to timeout, then kills. It returns the
// process's exit error (nil for a clean exit).
func (p *Proc) Stop(sig syscall.Signal, timeout time.Duration) error {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(sig)
		select {
		case <-p.done:
		case <-time.After(timeout):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	return p.err
}

// Wait waits up to timeout for the process to end by itself.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", p.Name, timeout)
	}
}

// Output is what the process wrote so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// Close stops every process and removes every namespace of the Bed. It
// reports what it could not remove.
func (b *Bed) Close() error {
	b.mu.Lock()
	procs, nss := b.procs, b.nss
	b.procs, b.nss = nil, nil
	b.mu.Unlock()
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		_ = p.Stop(syscall.SIGTERM, 5*time.Second)
		if alive(p.PID()) {
			errs = append(errs, fmt.Errorf("process %s (pid %d) survived", p.Name, p.PID()))
		}
	}
	for _, ns := range nss {
		if err := run(10*time.Second, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	if left := Leftovers(b.Prefix); len(left) > 0 {
		errs = append(errs, fmt.Errorf("namespaces left: %v", left))
	}
	return errors.Join(errs...)
}

// PIDs lists the process ids the Bed started.
func (b *Bed) PIDs() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []int
	for _, p := range b.procs {
		out = append(out, p.PID())
	}
	return out
}

// Leftovers lists namespaces whose name starts with prefix.
func Leftovers(prefix string) []string {
	out, _ := output(5*time.Second, "ip", "netns", "list")
	var left []string
	for _, line := range strings.Split(out, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if name != "" && strings.HasPrefix(name, prefix) {
			left = append(left, name)
		}
	}
	return left
}

// SweepStale removes namespaces left by testbeds of processes that died
// without cleaning up (killed with SIGKILL, say).
func SweepStale(logf func(string, ...any)) {
	for _, ns := range Leftovers("dsrlb") {
		rest := strings.TrimPrefix(ns, "dsrlb")
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || alive(pid) {
			continue
		}
		// Processes still inside (their parent died) go first.
		if out, err := output(5*time.Second, "ip", "netns", "pids", ns); err == nil {
			for _, f := range strings.Fields(out) {
				if p, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(p, syscall.SIGKILL)
				}
			}
		}
		if err := run(5*time.Second, "ip", "netns", "del", ns); err == nil {
			logf("removed stale namespace %s", ns)
		}
	}
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	// A zombie is dead for our purposes.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	return true
}

// Alive reports whether pid is a live process.
func Alive(pid int) bool { return alive(pid) }

func run(timeout time.Duration, name string, args ...string) error {
	_, err := output(timeout, name, args...)
	return err
}

func output(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
