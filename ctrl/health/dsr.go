package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// DSR checks a real server through the DSR path: it connects from the
// balancer's own address and a source port reserved for this real server
// (Source) to the VIP, and the data plane, which steers the kernel's
// packets from that port to that one real server with its forwarding
// method, makes the connection reach it exactly as a client's would. The
// real server answers from the VIP straight to the balancer's address, so
// a success proves its whole DSR set-up: the VIP accepted (on lo, or
// redirected), ARP for it suppressed, the decapsulation or the DSCP rule
// in place, and the service listening on the VIP.
//
// Probe is the TCP or HTTP check to run over that connection (its port
// is the VIP's). Connections are closed with a reset, so the source port
// is free again at once (no TIME_WAIT): the next probe reuses it.
type DSR struct {
	VIP    netip.Addr
	Source netip.AddrPort
	Probe  Checker // TCP or HTTP
}

func (c DSR) String() string {
	inner := "<none>"
	if c.Probe != nil {
		inner = c.Probe.String()
	}
	return fmt.Sprintf("dsr path %s to %s from %s", inner, c.VIP, c.Source)
}

// Validate refuses a missing or unsupported inner check and a source
// without a port.
func (c DSR) Validate() error {
	switch ch := c.Probe.(type) {
	case TCP:
		if err := ch.Validate(); err != nil {
			return err
		}
	case HTTP:
		if err := ch.Validate(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("a DSR path check runs tcp or http, not %T", c.Probe)
	}
	if !c.VIP.IsValid() {
		return errors.New("a DSR path check needs the VIP")
	}
	if !c.Source.IsValid() || c.Source.Port() == 0 {
		return errors.New("a DSR path check needs the balancer's address and a source port")
	}
	if c.Source.Addr().Is4() != c.VIP.Unmap().Is4() {
		return fmt.Errorf("source %s and VIP %s are of different families", c.Source, c.VIP)
	}
	return nil
}

// Check runs the inner check against the VIP from Source; target, the
// real server the data plane steers the probe to, only names it in the
// error.
func (c DSR) Check(ctx context.Context, target netip.Addr) error {
	dial := c.dial()
	var err error
	switch ch := c.Probe.(type) {
	case TCP:
		ch.dial = dial
		err = ch.Check(ctx, c.VIP)
	case HTTP:
		ch.dial = dial
		err = ch.Check(ctx, c.VIP)
	default:
		return c.Validate()
	}
	if err != nil {
		return fmt.Errorf("dsr path via %s: %w", target.Unmap(), err)
	}
	return nil
}

// dial connects from Source with SO_REUSEADDR (a reset connection's port
// may still be bound for an instant) and returns a connection that
// resets when closed.
func (c DSR) dial() dialFunc {
	d := net.Dialer{
		LocalAddr: net.TCPAddrFromAddrPort(c.Source),
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return resetConn{conn.(*net.TCPConn)}, nil
	}
}

// resetConn closes with a reset instead of a FIN.
type resetConn struct{ *net.TCPConn }

func (c resetConn) Close() error {
	c.SetLinger(0)
	return c.TCPConn.Close()
}
