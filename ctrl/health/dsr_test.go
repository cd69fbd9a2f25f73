package health

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

var loop = netip.MustParseAddr("127.0.0.1")

func TestDSRTCPFromItsSourcePort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peers := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(peers)
				return
			}
			peers <- c
		}
	}()
	src := netip.AddrPortFrom(loop, freePort(t, "tcp"))
	c := DSR{VIP: loop, Source: src, Probe: TCP{Port: uint16(ln.Addr().(*net.TCPAddr).Port)}}
	if err := (Config{Checker: c, Interval: time.Second, Timeout: 100 * time.Millisecond, Rise: 1, Fall: 1}).Validate(); err != nil {
		t.Fatal(err)
	}
	// Probe after probe from the same port: each connection is reset on
	// close, so the port is free again at once (no TIME_WAIT).
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := c.Check(ctx, netip.MustParseAddr("192.0.2.21"))
		cancel()
		if err != nil {
			t.Fatalf("probe %d: %v", i, err)
		}
		peer := <-peers
		if got := peer.RemoteAddr().(*net.TCPAddr).AddrPort(); got != src {
			t.Fatalf("probe %d came from %v, want %v", i, got, src)
		}
		// The probe's end is a reset, not a FIN.
		peer.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = peer.Read(make([]byte, 1))
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("probe %d: the server read %v, want a reset", i, err)
		}
		peer.Close()
	}
}

func TestDSRHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	from := make(chan string, 4)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		from <- r.RemoteAddr
		if r.URL.Path != "/health" {
			w.WriteHeader(http.StatusNotFound)
		}
		io.WriteString(w, "ok")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	src := netip.AddrPortFrom(loop, freePort(t, "tcp"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c := DSR{VIP: loop, Source: src, Probe: HTTP{Port: port, Path: "/health", ExpectBody: "ok"}}
	if err := c.Check(ctx, netip.MustParseAddr("192.0.2.21")); err != nil {
		t.Fatal(err)
	}
	if got := <-from; got != src.String() {
		t.Fatalf("request from %s, want %s", got, src)
	}
	// Another source port: the HTTP client closes the first connection
	// from its own goroutine, which may not have happened yet, and the
	// same source and destination cannot be connected twice at once.
	c.Probe = HTTP{Port: port, Path: "/missing"}
	c.Source = netip.AddrPortFrom(loop, freePort(t, "tcp"))
	err = c.Check(ctx, netip.MustParseAddr("192.0.2.21"))
	if err == nil || err.Error() != "dsr path via 192.0.2.21: http status 404, want 200" {
		t.Fatalf("got %v", err)
	}
	if !strings.HasPrefix(c.String(), "dsr path http GET :") || !strings.Contains(c.String(), "to 127.0.0.1 from "+c.Source.String()) {
		t.Fatalf("String %q", c.String())
	}
}

func TestDSRFailuresAndValidation(t *testing.T) {
	dead := freePort(t, "tcp")
	c := DSR{VIP: loop, Source: netip.AddrPortFrom(loop, freePort(t, "tcp")), Probe: TCP{Port: dead}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := c.Check(ctx, netip.MustParseAddr("192.0.2.22"))
	if err == nil || !strings.HasPrefix(err.Error(), "dsr path via 192.0.2.22: connect 127.0.0.1:") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("got %v", err)
	}
	v6 := netip.MustParseAddr("2001:db8::100")
	for name, bad := range map[string]DSR{
		"no inner check":     {VIP: loop, Source: c.Source},
		"icmp":               {VIP: loop, Source: c.Source, Probe: ICMP{}},
		"no source port":     {VIP: loop, Source: netip.AddrPortFrom(loop, 0), Probe: TCP{Port: 80}},
		"no VIP":             {Source: c.Source, Probe: TCP{Port: 80}},
		"mixed families":     {VIP: v6, Source: c.Source, Probe: TCP{Port: 80}},
		"inner without port": {VIP: loop, Source: c.Source, Probe: TCP{}},
	} {
		if bad.Validate() == nil {
			t.Errorf("%s: valid", name)
		}
	}
}
