package health

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// UDP sends Payload in one datagram to the target's port.
//
// With ExpectReply the target is healthy only if some datagram comes back
// before the deadline. Without it the target is healthy unless an ICMP port
// unreachable comes back before the deadline, so a healthy check takes the
// whole timeout (unless the server happens to reply, which ends it early).
type UDP struct {
	Port        uint16
	Payload     []byte
	ExpectReply bool
}

func (c UDP) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "udp :%d", c.Port)
	if len(c.Payload) <= 64 {
		fmt.Fprintf(&b, " payload=%q", c.Payload)
	} else {
		sum := sha256.Sum256(c.Payload)
		fmt.Fprintf(&b, " payload=%d bytes sha256:%x", len(c.Payload), sum[:8])
	}
	if c.ExpectReply {
		b.WriteString(" expect-reply")
	}
	return b.String()
}

// Validate reports a missing port or an oversized payload.
func (c UDP) Validate() error {
	if c.Port == 0 {
		return errors.New("udp check needs a port")
	}
	if len(c.Payload) > 65507 {
		return fmt.Errorf("udp payload of %d bytes does not fit in a datagram", len(c.Payload))
	}
	return nil
}

// Check sends the payload on a connected UDP socket and reads once.
func (c UDP) Check(ctx context.Context, target netip.Addr) error {
	start := time.Now()
	addr := netip.AddrPortFrom(target.Unmap(), c.Port).String()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return netErr(ctx, start, "udp", addr, addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := conn.Write(c.Payload); err != nil {
		return c.readErr(ctx, start, addr, err)
	}
	buf := make([]byte, 2048)
	if _, err := conn.Read(buf); err != nil {
		return c.readErr(ctx, start, addr, err)
	}
	return nil // a reply: healthy either way
}

func (c UDP) readErr(ctx context.Context, start time.Time, addr string, err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("udp %s: port unreachable (connection refused)", addr)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return canceledError{}
	}
	var ne net.Error
	if ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		if c.ExpectReply {
			return fmt.Errorf("udp %s: no reply, %w", addr, errTimeout(ctx, start))
		}
		return nil // silence until the deadline: nothing said the port is closed
	}
	return netErr(ctx, start, "udp", addr, addr, err)
}
