package health

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The checks against IPv6 real servers, on ::1. Without IPv6 loopback
// they are skipped with the reason, never passed silently.

// listen6 listens on [::1] (network "tcp6" or "udp6"), or skips the test
// saying why it cannot.
func listen6(t *testing.T, network string) io.Closer {
	t.Helper()
	var c io.Closer
	var err error
	if network == "udp6" {
		c, err = net.ListenPacket(network, "[::1]:0")
	} else {
		c, err = net.Listen(network, "[::1]:0")
	}
	if err != nil {
		t.Skipf("no IPv6 loopback here, the IPv6 check is not tested: listen %s [::1]:0: %v", network, err)
	}
	return c
}

// freePort6 returns a port of ::1 that had a listener a moment ago and
// has none now.
func freePort6(t *testing.T, network string) uint16 {
	t.Helper()
	c := listen6(t, network)
	var a net.Addr
	switch c := c.(type) {
	case net.Listener:
		a = c.Addr()
	case net.PacketConn:
		a = c.LocalAddr()
	}
	c.Close()
	return portOf(t, a)
}

// server6 starts an HTTP server on [::1].
func server6(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = listen6(t, "tcp6").(net.Listener)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestTCPIPv6(t *testing.T) {
	l := listen6(t, "tcp6").(net.Listener)
	defer l.Close()
	if err := check(t, TCP{Port: portOf(t, l.Addr())}, lo6, patience); err != nil {
		t.Errorf("listener on [::1]: %v, want healthy", err)
	}
	port := freePort6(t, "tcp6")
	err := check(t, TCP{Port: port}, lo6, patience)
	if want := "connect [::1]:" + strconv.Itoa(int(port)) + ": connection refused"; err == nil || err.Error() != want {
		t.Errorf("closed port on ::1: got %v, want %q", err, want)
	}
}

func TestHTTPIPv6(t *testing.T) {
	hosts := make(chan string, 10)
	srv := server6(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host
		if r.URL.Path == "/busy" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("status: ready"))
	}))
	port := serverPort(t, srv)
	hostPort := "[::1]:" + strconv.Itoa(int(port))

	if err := check(t, HTTP{Port: port, Path: "/healthz?full=1", ExpectBody: "ready"}, lo6, patience); err != nil {
		t.Errorf("http on [::1]: %v, want healthy", err)
	}
	// Without Host, the Host header is the bracketed address and port.
	if h := <-hosts; h != hostPort {
		t.Errorf("Host header %q, want %q", h, hostPort)
	}
	if err := check(t, HTTP{Port: port, Path: "/busy"}, lo6, patience); err == nil || err.Error() != "http status 503, want 200" {
		t.Errorf("503 on [::1]: got %v", err)
	}
	if err := check(t, HTTP{Port: port, Host: "www.example.test"}, lo6, patience); err != nil {
		t.Errorf("http on [::1] with Host: %v", err)
	}
	<-hosts
	if h := <-hosts; h != "www.example.test" {
		t.Errorf("Host header %q, want www.example.test", h)
	}

	closed := freePort6(t, "tcp6")
	err := check(t, HTTP{Port: closed, Path: "/x"}, lo6, patience)
	if want := "connect [::1]:" + strconv.Itoa(int(closed)) + ": connection refused"; err == nil || err.Error() != want {
		t.Errorf("no server on ::1: got %v, want %q", err, want)
	}
}

func TestHTTPSIPv6(t *testing.T) {
	sni := make(chan string, 10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("tls ok"))
	}))
	srv.Listener.Close()
	srv.Listener = listen6(t, "tcp6").(net.Listener)
	srv.TLS = &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni <- h.ServerName
		return nil, nil
	}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshake is expected
	srv.StartTLS()
	defer srv.Close()
	port := serverPort(t, srv)

	if err := check(t, HTTP{Port: port, TLS: true, InsecureSkipVerify: true, ExpectBody: "tls ok"}, lo6, patience); err != nil {
		t.Errorf("https on [::1], skip verify: %v, want healthy", err)
	}
	// An IP address is never sent as SNI (RFC 6066), bracketed or not.
	if name := <-sni; name != "" {
		t.Errorf("SNI %q for an IPv6 target without Host, want none", name)
	}
	err := check(t, HTTP{Port: port, TLS: true}, lo6, patience)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("https on [::1], verify against unknown CA: got %v, want a certificate error", err)
	}
}

func TestUDPIPv6(t *testing.T) {
	c := listen6(t, "udp6").(net.PacketConn)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	if err := check(t, UDP{Port: portOf(t, c.LocalAddr()), Payload: []byte("ping"), ExpectReply: true}, lo6, patience); err != nil {
		t.Errorf("echo server on [::1]: %v, want healthy", err)
	}

	// No listener: ICMPv6 port unreachable fails the check before the
	// deadline.
	port := freePort6(t, "udp6")
	start := time.Now()
	err := check(t, UDP{Port: port, Payload: []byte("x")}, lo6, patience)
	if want := "udp [::1]:" + strconv.Itoa(int(port)) + ": port unreachable"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("no listener on ::1: got %v, want %q", err, want)
	}
	if took := time.Since(start); took >= patience {
		t.Errorf("refusal on ::1 took %s, should come before the %s deadline", took, patience)
	}
}

func TestICMPv6ConcurrentChecks(t *testing.T) {
	const n = 4
	errs := make(chan error, n)
	for range n {
		go func() { errs <- check(t, ICMP{}, lo6, patience) }()
	}
	for range n {
		if err := <-errs; err != nil {
			switch {
			case errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL):
				t.Skipf("no IPv6 here (could not open an ICMPv6 socket to ::1): %v", err)
			case errors.Is(err, syscall.EPERM):
				t.Skipf("raw sockets not permitted: %v", err)
			}
			t.Errorf("concurrent ping ::1: %v", err)
		}
	}
}
