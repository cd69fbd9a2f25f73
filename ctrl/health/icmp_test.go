package health

import (
	"errors"
	"syscall"
	"testing"
)

func TestICMPv4Loopback(t *testing.T) {
	if err := check(t, ICMP{}, lo4, patience); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("raw sockets not permitted: %v", err)
		}
		t.Fatalf("ping 127.0.0.1: %v", err)
	}
}

// On loopback every raw ICMP socket sees every echo request and reply, so
// concurrent checks each see the others' packets and must ignore them.
func TestICMPConcurrentChecksIgnoreEachOther(t *testing.T) {
	const n = 6
	errs := make(chan error, n)
	for range n {
		go func() { errs <- check(t, ICMP{}, lo4, patience) }()
	}
	for range n {
		if err := <-errs; err != nil {
			if errors.Is(err, syscall.EPERM) {
				t.Skipf("raw sockets not permitted: %v", err)
			}
			t.Errorf("concurrent ping 127.0.0.1: %v", err)
		}
	}
}

func TestICMPv6Loopback(t *testing.T) {
	err := check(t, ICMP{}, lo6, patience)
	if err != nil {
		if errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Skipf("no IPv6 here (could not open an ICMPv6 socket to ::1): %v", err)
		}
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("raw sockets not permitted: %v", err)
		}
		t.Fatalf("ping ::1: %v", err)
	}
}

func TestICMPChecksum(t *testing.T) {
	// Echo request, id 0x1234, seq 1, payload "ab": checksum computed by hand.
	msg := []byte{8, 0, 0, 0, 0x12, 0x34, 0x00, 0x01, 'a', 'b'}
	// 0x0800 + 0x1234 + 0x0001 + 0x6162 = 0x7b97 -> ^ = 0x8468
	if got := icmpChecksum(msg); got != 0x8468 {
		t.Errorf("checksum %#04x, want 0x8468", got)
	}
	msg[2], msg[3] = 0x84, 0x68
	if got := icmpChecksum(msg); got != 0 {
		t.Errorf("checksum over a message including its checksum = %#04x, want 0", got)
	}
	// Odd length.
	if got := icmpChecksum([]byte{0xff}); got != 0x00ff {
		t.Errorf("checksum of ff = %#04x, want 0x00ff", got)
	}
}

func TestICMPIgnoresUnrelatedPackets(t *testing.T) {
	token := []byte("0123456789abcdef")
	reply := func(typ byte, id, seq uint16, tok []byte) []byte {
		p := []byte{typ, 0, 0xde, 0xad, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq)}
		return append(p, tok...)
	}
	if !isEchoReply(reply(icmpEchoReply, 7, 9, token), icmpEchoReply, 7, 9, token) {
		t.Fatal("our reply not recognised")
	}
	if !isEchoReply(reply(icmpv6EchoReply, 7, 9, token), icmpv6EchoReply, 7, 9, token) {
		t.Fatal("our ICMPv6 reply not recognised")
	}
	codeSet := reply(icmpEchoReply, 7, 9, token)
	codeSet[1] = 1
	for name, p := range map[string][]byte{
		"our own request (seen on loopback)": reply(icmpEchoRequest, 7, 9, token),
		"other identifier":                   reply(icmpEchoReply, 8, 9, token),
		"other sequence":                     reply(icmpEchoReply, 7, 10, token),
		"other payload":                      reply(icmpEchoReply, 7, 9, []byte("0123456789abcdeX")),
		"truncated":                          reply(icmpEchoReply, 7, 9, token[:8]),
		"port unreachable":                   {3, 3, 0, 0, 0, 0, 0, 0},
		"nonzero code":                       codeSet,
		"icmpv4 reply type on icmpv6":        reply(icmpEchoReply, 7, 9, token),
		"empty":                              nil,
	} {
		want := byte(icmpEchoReply)
		if name == "icmpv4 reply type on icmpv6" {
			want = icmpv6EchoReply
		}
		if isEchoReply(p, want, 7, 9, token) {
			t.Errorf("%s taken for the reply", name)
		}
	}
}
