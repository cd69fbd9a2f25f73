package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxHTTPBody is how much of a response body HTTP reads (and searches for
// ExpectBody).
const maxHTTPBody = 64 << 10

// HTTP sends one GET to the target's own address and checks the status and,
// optionally, the body. Redirects are never followed: a 3xx is just a status.
type HTTP struct {
	Port uint16 // 0 means 80, or 443 with TLS
	Path string // request path with optional query; "" means "/"
	TLS  bool
	// Host is the Host header and, with TLS, the SNI server name and the
	// name the certificate is verified against. Empty: the target address.
	Host string
	// ExpectStatus lists the acceptable status codes; empty means [200].
	ExpectStatus []int
	// ExpectBody, if set, must occur in the first 64 KiB of the body.
	ExpectBody         string
	InsecureSkipVerify bool
	// dial makes the connection; nil: an ordinary one (DSR sets its own).
	dial dialFunc
}

func (c HTTP) port() uint16 {
	switch {
	case c.Port != 0:
		return c.Port
	case c.TLS:
		return 443
	default:
		return 80
	}
}

func (c HTTP) path() string {
	if c.Path == "" {
		return "/"
	}
	return c.Path
}

func (c HTTP) wantStatus() []int {
	if len(c.ExpectStatus) == 0 {
		return []int{http.StatusOK}
	}
	return c.ExpectStatus
}

func (c HTTP) scheme() string {
	if c.TLS {
		return "https"
	}
	return "http"
}

func (c HTTP) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s GET :%d%s", c.scheme(), c.port(), c.path())
	if c.Host != "" {
		fmt.Fprintf(&b, " host=%s", c.Host)
	}
	if len(c.ExpectStatus) != 0 && !slices.Equal(c.ExpectStatus, []int{http.StatusOK}) {
		fmt.Fprintf(&b, " status=%s", joinInts(c.ExpectStatus, ","))
	}
	if c.ExpectBody != "" {
		fmt.Fprintf(&b, " body=%q", c.ExpectBody)
	}
	if c.TLS && c.InsecureSkipVerify {
		b.WriteString(" insecure")
	}
	return b.String()
}

func joinInts(v []int, sep string) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, sep)
}

// Validate checks the path, the Host and the expected statuses.
func (c HTTP) Validate() error {
	p := c.path()
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("http path %q must start with /", p)
	}
	if _, err := url.ParseRequestURI(p); err != nil {
		return fmt.Errorf("http path %q: %v", p, err)
	}
	if strings.ContainsAny(c.Host, " \t\r\n/") {
		return fmt.Errorf("http host %q is not a host name", c.Host)
	}
	for _, s := range c.ExpectStatus {
		if s < 100 || s > 599 {
			return fmt.Errorf("http status %d is not a valid status code", s)
		}
	}
	return nil
}

// Check sends GET to target and compares status and body.
func (c HTTP) Check(ctx context.Context, target netip.Addr) error {
	start := time.Now()
	hostPort := netip.AddrPortFrom(target.Unmap(), c.port()).String()
	what := fmt.Sprintf("%s GET", c.scheme())
	where := hostPort + c.path()

	ref, err := url.ParseRequestURI(c.path())
	if err != nil {
		return fmt.Errorf("http path %q: %v", c.path(), err)
	}
	u := &url.URL{Scheme: c.scheme(), Host: hostPort, Path: ref.Path, RawPath: ref.RawPath, RawQuery: ref.RawQuery}

	tlsConf := &tls.Config{InsecureSkipVerify: c.InsecureSkipVerify}
	if c.Host != "" {
		tlsConf.ServerName = c.Host
		if h, _, err := net.SplitHostPort(c.Host); err == nil {
			tlsConf.ServerName = h
		}
	}
	dial := c.dial.or()
	tr := &http.Transport{
		Proxy: nil, // never a proxy: traffic goes to the target only
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx, hostPort)
		},
		TLSClientConfig:        tlsConf,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxHTTPBody,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("%s %s: %v", what, where, err)
	}
	if c.Host != "" {
		req.Host = c.Host
	}
	req.Header.Set("User-Agent", "dsrlb-health")

	resp, err := client.Do(req)
	if err != nil {
		return netErr(ctx, start, what, where, hostPort, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody))
	if err != nil && !errors.Is(err, io.EOF) {
		return netErr(ctx, start, what, where+": read body", hostPort, err)
	}
	want := c.wantStatus()
	if !slices.Contains(want, resp.StatusCode) {
		return fmt.Errorf("http status %d, want %s", resp.StatusCode, joinInts(want, " or "))
	}
	if c.ExpectBody != "" && !strings.Contains(string(body), c.ExpectBody) {
		return fmt.Errorf("http body does not contain %q", c.ExpectBody)
	}
	return nil
}
