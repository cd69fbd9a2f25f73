package health

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTCPUp(t *testing.T) {
	for _, tc := range []struct {
		network, addr string
	}{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		l, err := net.Listen(tc.network, tc.addr)
		if err != nil {
			if tc.network == "tcp6" {
				t.Skipf("no IPv6 loopback here, the ::1 case is not tested: %v", err)
			}
			t.Fatal(err)
		}
		defer l.Close()
		target := lo4
		if tc.network == "tcp6" {
			target = lo6
		}
		if err := check(t, TCP{Port: portOf(t, l.Addr())}, target, patience); err != nil {
			t.Errorf("%s: %v, want healthy", tc.addr, err)
		}
	}
}

func TestTCPRefused(t *testing.T) {
	port := freePort(t, "tcp")
	err := check(t, TCP{Port: port}, lo4, patience)
	if err == nil {
		t.Fatal("closed port reported healthy")
	}
	want := "connect 127.0.0.1:" + strconv.Itoa(int(port)) + ": connection refused"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestTCPCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := TCP{Port: 1}.Check(ctx, lo4)
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: got %v", err)
	}
}

// udpServer listens on 127.0.0.1 and, if reply, echoes every datagram.
func udpServer(t *testing.T, reply bool) (port uint16, received func() int) {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			k, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			if reply {
				c.WriteTo(buf[:k], from)
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return portOf(t, c.LocalAddr()), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestUDPEchoExpectReply(t *testing.T) {
	port, received := udpServer(t, true)
	if err := check(t, UDP{Port: port, Payload: []byte("ping"), ExpectReply: true}, lo4, patience); err != nil {
		t.Errorf("echo server: %v, want healthy", err)
	}
	if received() != 1 {
		t.Errorf("server received %d datagrams, want 1", received())
	}
}

func TestUDPRefused(t *testing.T) {
	port := freePort(t, "udp")
	for _, expect := range []bool{false, true} {
		start := time.Now()
		err := check(t, UDP{Port: port, Payload: []byte("x"), ExpectReply: expect}, lo4, patience)
		if err == nil || !strings.Contains(err.Error(), "port unreachable") {
			t.Errorf("ExpectReply=%v, no listener: got %v, want port unreachable", expect, err)
		}
		if took := time.Since(start); took >= patience {
			t.Errorf("ExpectReply=%v: refusal took %s, should come before the %s deadline", expect, took, patience)
		}
	}
}

func TestUDPSilentListener(t *testing.T) {
	port, received := udpServer(t, false)
	if err := check(t, UDP{Port: port, Payload: []byte("x")}, lo4, 200*time.Millisecond); err != nil {
		t.Errorf("silent listener without ExpectReply: %v, want healthy", err)
	}
	err := check(t, UDP{Port: port, Payload: []byte("x"), ExpectReply: true}, lo4, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("silent listener with ExpectReply: %v, want a timeout", err)
	}
	// The checks are over, but the server may not have read the datagrams yet.
	waitFor(t, "server received 2 datagrams", func() bool { return received() >= 2 })
	if received() != 2 {
		t.Errorf("server received %d datagrams, want 2", received())
	}
}
