package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The multicast groups of VRRP (RFC 9568 section 5.1.1.2 and 5.1.2.2).
var (
	Group4 = netip.MustParseAddr("224.0.0.18")
	Group6 = netip.MustParseAddr("ff02::12")
)

// rawConn is a raw VRRP socket of one family bound to one interface.
type rawConn struct {
	v6      bool
	ifname  string
	ifindex int
	c       *net.IPConn
}

// openRaw opens a raw socket for protocol 112 on interface ifname, joined
// to the VRRP group, sending with TTL / hop limit 255, without looping
// its own multicast back. IPv6 sockets report the hop limit and the
// destination of what they receive.
func openRaw(ifname string, v6 bool) (*rawConn, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	network, laddr := "ip4:112", "0.0.0.0"
	if v6 {
		network, laddr = "ip6:112", "::"
	}
	var serr error
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		err := rc.Control(func(fd uintptr) {
			serr = sockopts(int(fd), ifi, v6)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), network, laddr)
	if err != nil {
		return nil, fmt.Errorf("raw VRRP socket on %s: %w", ifname, err)
	}
	return &rawConn{v6: v6, ifname: ifname, ifindex: ifi.Index, c: pc.(*net.IPConn)}, nil
}

func sockopts(fd int, ifi *net.Interface, v6 bool) error {
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifi.Name); err != nil {
		return fmt.Errorf("SO_BINDTODEVICE %s: %w", ifi.Name, err)
	}
	if !v6 {
		g := Group4.As4()
		m := &unix.IPMreqn{Multiaddr: g, Ifindex: int32(ifi.Index)}
		steps := []struct {
			name string
			err  error
		}{
			{"IP_ADD_MEMBERSHIP", unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, m)},
			{"IP_MULTICAST_IF", unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)})},
			{"IP_MULTICAST_TTL", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 255)},
			{"IP_TTL", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TTL, 255)},
			{"IP_MULTICAST_LOOP", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0)},
		}
		for _, s := range steps {
			if s.err != nil {
				return fmt.Errorf("%s: %w", s.name, s.err)
			}
		}
		return nil
	}
	m := &unix.IPv6Mreq{Multiaddr: Group6.As16(), Interface: uint32(ifi.Index)}
	steps := []struct {
		name string
		err  error
	}{
		{"IPV6_JOIN_GROUP", unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, m)},
		{"IPV6_MULTICAST_IF", unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index)},
		{"IPV6_MULTICAST_HOPS", unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255)},
		{"IPV6_UNICAST_HOPS", unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 255)},
		{"IPV6_MULTICAST_LOOP", unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0)},
		{"IPV6_RECVHOPLIMIT", unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1)},
		{"IPV6_RECVPKTINFO", unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)},
	}
	for _, s := range steps {
		if s.err != nil {
			return fmt.Errorf("%s: %w", s.name, s.err)
		}
	}
	return nil
}

// packet is a received VRRP message with what the IP header said.
type packet struct {
	v6       bool
	src, dst netip.Addr
	ttl      int // -1: unknown
	payload  []byte
	cause    Cause // set when the IP layer was already wrong
	detail   string
}

// read receives one packet into buf.
func (r *rawConn) read(buf, oob []byte) (packet, error) {
	n, oobn, _, from, err := r.c.ReadMsgIP(buf, oob)
	if err != nil {
		return packet{}, err
	}
	if !r.v6 {
		// IPv4 raw sockets deliver the IP header.
		src, dst, ttl, payload, err := ParseIPv4(buf[:n])
		p := packet{src: src, dst: dst, ttl: int(ttl), payload: payload}
		var e *Error
		if errors.As(err, &e) {
			p.cause, p.detail = e.Cause, e.Detail
		} else if err != nil {
			p.cause, p.detail = CauseTruncated, err.Error()
		}
		return p, nil
	}
	p := packet{v6: true, ttl: -1, payload: buf[:n]}
	if a, ok := netip.AddrFromSlice(from.IP); ok {
		p.src = a
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level != unix.IPPROTO_IPV6 {
				continue
			}
			switch m.Header.Type {
			case unix.IPV6_HOPLIMIT:
				if len(m.Data) >= 4 {
					p.ttl = int(int32(binary.NativeEndian.Uint32(m.Data)))
				}
			case unix.IPV6_PKTINFO:
				if len(m.Data) >= 16 {
					p.dst = netip.AddrFrom16([16]byte(m.Data[:16]))
				}
			}
		}
	}
	return p, nil
}

// send sends payload to dst (the group or a unicast peer). IPv6 adverts
// carry src as their source (the checksum covers it).
func (r *rawConn) send(payload []byte, src, dst netip.Addr) error {
	if !r.v6 {
		_, err := r.c.WriteToIP(payload, &net.IPAddr{IP: dst.AsSlice()})
		return err
	}
	to := &net.IPAddr{IP: dst.AsSlice()}
	if dst.IsLinkLocalMulticast() || dst.IsLinkLocalUnicast() {
		to.Zone = r.ifname
	}
	_, _, err := r.c.WriteMsgIP(payload, pktinfo6(src, r.ifindex), to)
	return err
}

func (r *rawConn) close() error { return r.c.Close() }

// pktinfo6 is an IPV6_PKTINFO control message choosing the source
// address and interface of a datagram.
func pktinfo6(src netip.Addr, ifindex int) []byte {
	b := make([]byte, unix.CmsgSpace(unix.SizeofInet6Pktinfo))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&b[unix.CmsgLen(0)]))
	pi.Addr = src.As16()
	pi.Ifindex = uint32(ifindex)
	return b
}

// linkLocal is the first IPv6 link-local address of interface ifname.
func linkLocal(ifname string) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return netip.Addr{}, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Is6() && ip.IsLinkLocalUnicast() {
				return ip, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s has no IPv6 link-local address", ifname)
}

// fallbackSender sends one frame on a kernel interface through an
// AF_PACKET socket: the last priority 0 advert of a master whose data
// plane (and with it the exception path) is gone, on a port the kernel
// still has (net_af_packet's interface).
func sendFrame(ifname string, frame []byte) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	copy(sa.Addr[:], frame[:6])
	return unix.Sendto(fd, frame, 0, sa)
}
