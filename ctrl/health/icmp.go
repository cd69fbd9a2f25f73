package health

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ICMP sends one ICMP (IPv4) or ICMPv6 (IPv6) echo request to the target
// and waits for the matching echo reply. It needs a raw socket: root or
// CAP_NET_RAW.
type ICMP struct{}

func (ICMP) String() string { return "icmp echo" }

const (
	icmpEchoRequest   = 8
	icmpEchoReply     = 0
	icmpv6EchoRequest = 128
	icmpv6EchoReply   = 129
	icmpTokenLen      = 16
)

// Check sends an echo request carrying a random identifier, sequence number
// and payload, and waits for a reply from target that carries all three.
// Anything else arriving on the raw socket (our own request seen on
// loopback, replies to other checks, other ICMP traffic) is ignored.
func (ICMP) Check(ctx context.Context, target netip.Addr) error {
	start := time.Now()
	target = target.Unmap()
	network, reqType, replyType := "ip4:icmp", byte(icmpEchoRequest), byte(icmpEchoReply)
	if target.Is6() {
		network, reqType, replyType = "ip6:ipv6-icmp", icmpv6EchoRequest, icmpv6EchoReply
	}
	where := target.String()

	var d net.Dialer
	c, err := d.DialContext(ctx, network, target.String())
	if err != nil {
		if ctx.Err() != nil {
			return ctxError(ctx, start)
		}
		var errno syscall.Errno
		if errors.As(err, &errno) {
			if errno == syscall.EPERM || errno == syscall.EACCES {
				return fmt.Errorf("icmp: open raw socket: %w (needs root or CAP_NET_RAW)", errno)
			}
			return fmt.Errorf("icmp: open raw socket: %w", errno)
		}
		return fmt.Errorf("icmp: open raw socket: %w", err)
	}
	conn := c.(*net.IPConn)
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	id, seq := uint16(rand.Uint32()), uint16(rand.Uint32())
	msg := make([]byte, 8+icmpTokenLen)
	msg[0] = reqType
	binary.BigEndian.PutUint16(msg[4:], id)
	binary.BigEndian.PutUint16(msg[6:], seq)
	binary.BigEndian.PutUint64(msg[8:], rand.Uint64())
	binary.BigEndian.PutUint64(msg[16:], rand.Uint64())
	if !target.Is6() {
		// The kernel fills in the ICMPv6 checksum (it covers a pseudo
		// header); the ICMPv4 one is ours.
		binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
	}
	token := msg[8:]

	if _, err := conn.Write(msg); err != nil {
		return netErr(ctx, start, "icmp echo", where, where, err)
	}
	buf := make([]byte, 1500)
	for {
		// ReadFrom (unlike Read) strips the IPv4 header; IPv6 raw sockets
		// never deliver it.
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return netErr(ctx, start, "icmp echo", where, where, err)
		}
		if ip, ok := from.(*net.IPAddr); ok {
			if a, ok := netip.AddrFromSlice(ip.IP); !ok || a.Unmap() != target.WithZone("") {
				continue
			}
		}
		if isEchoReply(buf[:n], replyType, id, seq, token) {
			return nil
		}
	}
}

// isEchoReply reports whether p (an ICMP or ICMPv6 message, without IP
// header) is the echo reply to our request: reply type, code 0, and our
// identifier, sequence number and payload token.
func isEchoReply(p []byte, replyType byte, id, seq uint16, token []byte) bool {
	return len(p) >= 8+len(token) && p[0] == replyType && p[1] == 0 &&
		binary.BigEndian.Uint16(p[4:]) == id && binary.BigEndian.Uint16(p[6:]) == seq &&
		bytes.Equal(p[8:8+len(token)], token)
}

// icmpChecksum is the Internet checksum (RFC 1071) of b.
func icmpChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
