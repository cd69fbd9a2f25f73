package health

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func serverPort(t *testing.T, srv *httptest.Server) uint16 {
	t.Helper()
	return portOf(t, srv.Listener.Addr())
}

func TestHTTPStatusAndBody(t *testing.T) {
	var mu sync.Mutex
	var hosts, paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host)
		paths = append(paths, r.URL.RequestURI())
		mu.Unlock()
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte("status: ready\n"))
		case "/busy":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/big":
			w.Write([]byte(strings.Repeat("x", 100<<10) + "late-marker"))
		}
	}))
	defer srv.Close()
	port := serverPort(t, srv)

	tests := []struct {
		name    string
		c       HTTP
		wantErr string // "" = healthy
	}{
		{"status 200", HTTP{Port: port, Path: "/healthz"}, ""},
		{"status 503", HTTP{Port: port, Path: "/busy"}, "http status 503, want 200"},
		{"503 accepted", HTTP{Port: port, Path: "/busy", ExpectStatus: []int{200, 503}}, ""},
		{"503 two wanted", HTTP{Port: port, Path: "/busy", ExpectStatus: []int{200, 204}}, "http status 503, want 200 or 204"},
		{"body found", HTTP{Port: port, Path: "/healthz", ExpectBody: "ready"}, ""},
		{"body missing", HTTP{Port: port, Path: "/healthz", ExpectBody: "draining"}, `http body does not contain "draining"`},
		{"body past 64 KiB", HTTP{Port: port, Path: "/big", ExpectBody: "late-marker"}, `http body does not contain "late-marker"`},
		{"query kept", HTTP{Port: port, Path: "/healthz?full=1"}, ""},
	}
	for _, tc := range tests {
		err := check(t, tc.c, lo4, patience)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s (%s): %v, want healthy", tc.name, tc.c, err)
		case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
			t.Errorf("%s (%s): got %v, want %q", tc.name, tc.c, err, tc.wantErr)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if paths[len(paths)-1] != "/healthz?full=1" {
		t.Errorf("server saw %q, want /healthz?full=1", paths[len(paths)-1])
	}
	for _, h := range hosts {
		if h != srv.Listener.Addr().String() {
			t.Errorf("Host header %q without Host set, want %q", h, srv.Listener.Addr())
		}
	}
}

func TestHTTPHostHeader(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Host
	}))
	defer srv.Close()
	if err := check(t, HTTP{Port: serverPort(t, srv), Host: "www.example.test"}, lo4, patience); err != nil {
		t.Fatal(err)
	}
	if h := <-got; h != "www.example.test" {
		t.Errorf("server saw Host %q, want www.example.test", h)
	}
}

func TestHTTPRefused(t *testing.T) {
	port := freePort(t, "tcp")
	err := check(t, HTTP{Port: port, Path: "/x"}, lo4, patience)
	if err == nil || !strings.HasPrefix(err.Error(), "connect 127.0.0.1:") || !strings.HasSuffix(err.Error(), "connection refused") {
		t.Errorf("no server: got %v, want connect ...: connection refused", err)
	}
}

func TestHTTPRedirectNotFollowed(t *testing.T) {
	followed := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed <- struct{}{}
			return
		}
		// The first redirect points back to this server, to catch a client
		// that follows it; the check must not.
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	defer srv.Close()
	port := serverPort(t, srv)
	err := check(t, HTTP{Port: port, Path: "/"}, lo4, patience)
	if err == nil || err.Error() != "http status 302, want 200" {
		t.Errorf("302 with default status: got %v, want http status 302, want 200", err)
	}
	if err := check(t, HTTP{Port: port, Path: "/", ExpectStatus: []int{302}}, lo4, patience); err != nil {
		t.Errorf("302 with ExpectStatus [302]: %v, want healthy", err)
	}
	if len(followed) != 0 {
		t.Errorf("redirect was followed %d times", len(followed))
	}
}

func TestHTTPSlowServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No answer before the client gives up.
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	err := check(t, HTTP{Port: serverPort(t, srv)}, lo4, 200*time.Millisecond)
	if err == nil {
		t.Fatal("slow server reported healthy")
	}
	if !strings.Contains(err.Error(), "timeout") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow server: %v, want a timeout", err)
	}
}

func TestHTTPS(t *testing.T) {
	sni := make(chan string, 10)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("tls ok"))
	}))
	srv.TLS = &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni <- h.ServerName
		return nil, nil
	}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshake is expected
	srv.StartTLS()
	defer srv.Close()
	port := serverPort(t, srv)

	if err := check(t, HTTP{Port: port, TLS: true, InsecureSkipVerify: true, ExpectBody: "tls ok"}, lo4, patience); err != nil {
		t.Errorf("https, skip verify: %v, want healthy", err)
	}
	err := check(t, HTTP{Port: port, TLS: true}, lo4, patience)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("https, verify against unknown CA: got %v, want a certificate error", err)
	} else {
		t.Logf("certificate error as reported: %v", err)
	}
	// SNI carries Host, without a port.
	for len(sni) > 0 {
		<-sni
	}
	if err := check(t, HTTP{Port: port, TLS: true, Host: "api.example.test:8443", InsecureSkipVerify: true}, lo4, patience); err != nil {
		t.Errorf("https with Host: %v", err)
	}
	select {
	case name := <-sni:
		if name != "api.example.test" {
			t.Errorf("SNI %q, want api.example.test", name)
		}
	default:
		t.Error("server saw no ClientHello")
	}
}

func TestHTTPString(t *testing.T) {
	for _, tc := range []struct {
		c    HTTP
		want string
	}{
		{HTTP{Port: 80, Path: "/healthz"}, "http GET :80/healthz"},
		{HTTP{TLS: true}, "https GET :443/"},
		{HTTP{Port: 8080, Host: "a.test", ExpectStatus: []int{200, 204}, ExpectBody: "ok", TLS: true, InsecureSkipVerify: true},
			`https GET :8080/ host=a.test status=200,204 body="ok" insecure`},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
