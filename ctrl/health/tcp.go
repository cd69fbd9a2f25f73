package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Checker probes a real server.
type Checker interface {
	// Check probes target once; it must return within the context's
	// deadline. nil = healthy; the error says why not, in a short lowercase
	// sentence an operator understands ("connect 192.0.2.21:80: connection
	// refused", "http status 503, want 200", "timeout after 2s").
	Check(ctx context.Context, target netip.Addr) error
	// String describes the check, e.g. "http GET :80/healthz". Two checkers
	// with the same type and String are treated as the same check by
	// Monitor.Update, so String must include every setting.
	String() string
}

// validator is implemented by checkers that can tell a bad setting before
// they run; Config.Validate calls it.
type validator interface {
	Validate() error
}

// TCP connects to the port and closes the connection.
type TCP struct {
	Port uint16
	// dial makes the connection; nil: an ordinary one (DSR sets its own).
	dial dialFunc
}

// dialFunc connects to addr ("host:port") over TCP.
type dialFunc func(ctx context.Context, addr string) (net.Conn, error)

// dialTCP is the ordinary dialFunc.
func dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// or returns f, or dialTCP when f is nil.
func (f dialFunc) or() dialFunc {
	if f == nil {
		return dialTCP
	}
	return f
}

func (c TCP) String() string { return fmt.Sprintf("tcp :%d", c.Port) }

// Validate reports a missing port.
func (c TCP) Validate() error {
	if c.Port == 0 {
		return errors.New("tcp check needs a port")
	}
	return nil
}

// Check connects to target:Port.
func (c TCP) Check(ctx context.Context, target netip.Addr) error {
	start := time.Now()
	addr := netip.AddrPortFrom(target.Unmap(), c.Port).String()
	conn, err := c.dial.or()(ctx, addr)
	if err != nil {
		return netErr(ctx, start, "connect", addr, addr, err)
	}
	conn.Close()
	return nil
}
