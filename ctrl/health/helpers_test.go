package health

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	lo4 = netip.MustParseAddr("127.0.0.1")
	lo6 = netip.MustParseAddr("::1")
)

// patience bounds every wait on real I/O. It is only reached when
// something is broken, so it can be generous.
const patience = 30 * time.Second

// check runs c against target with the given timeout and fails the test if
// Check does not return within patience after that.
func check(t *testing.T, c Checker, target netip.Addr, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Check(ctx, target) }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout + patience):
		t.Fatalf("%s: Check did not return within %s of its %s timeout", c, patience, timeout)
		return nil
	}
}

// waitFor polls cond until it holds, failing the test if it does not
// within patience. For conditions that real I/O or another process makes
// true; fake-time tests use synctest instead.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %s", what, patience)
		}
		time.Sleep(time.Millisecond)
	}
}

// goroutines returns the stack of every goroutine, each starting with its
// header line ("goroutine 7 [chan receive, synctest bubble 3]:").
func goroutines() []string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Split(strings.TrimSpace(string(buf[:n])), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// runners counts the goroutines Monitor.start made to run a target,
// started yet or not.
func runners() int {
	n := 0
	for _, g := range goroutines() {
		if strings.Contains(g, "\ncreated by dsrlb/ctrl/health.(*Monitor).start ") {
			n++
		}
	}
	return n
}

// bubbleOf returns the synctest bubble id in a goroutine header, or -1.
func bubbleOf(g string) int {
	header, _, _ := strings.Cut(g, "\n")
	_, rest, ok := strings.Cut(header, ", synctest bubble ")
	if !ok {
		return -1
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		return -1
	}
	id, err := strconv.Atoi(rest[:end])
	if err != nil {
		return -1
	}
	return id
}

// bubbleStacks returns the stacks of the goroutines of the caller's
// synctest bubble, the caller's included.
func bubbleStacks(t *testing.T) []string {
	t.Helper()
	buf := make([]byte, 1<<12)
	self := bubbleOf(string(buf[:runtime.Stack(buf, false)]))
	if self < 0 {
		t.Fatal("bubbleStacks called outside a synctest bubble")
	}
	var out []string
	for _, g := range goroutines() {
		if bubbleOf(g) == self {
			out = append(out, g)
		}
	}
	return out
}

// freePort returns a loopback port that had a listener of the given network
// a moment ago and has none now.
func freePort(t *testing.T, network string) uint16 {
	t.Helper()
	var addr net.Addr
	switch network {
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr()
		l.Close()
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = c.LocalAddr()
		c.Close()
	}
	return netip.MustParseAddrPort(addr.String()).Port()
}

func portOf(t *testing.T, a net.Addr) uint16 {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return ap.Port()
}
