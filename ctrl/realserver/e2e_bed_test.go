//go:build e2e

package realserver

// The test bed of the namespace tests: a "balancer" namespace and a real
// server namespace joined by a veth. The balancer side crafts packets with
// gopacket and sends them through a packet socket; the real server's
// replies to the client addresses are routed back to the balancer side
// (its default gateway), where the same socket sees them.

import (
	"bytes"
	"context"
	"dsrlb/conf"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// Documentation addresses only.
var (
	lb4     = netip.MustParseAddr("192.0.2.1")
	self4   = netip.MustParseAddr("192.0.2.21")
	other4  = netip.MustParseAddr("192.0.2.22") // on the real server, not in Spec.Self
	lb6     = netip.MustParseAddr("2001:db8:1::1")
	self6   = netip.MustParseAddr("2001:db8:1::21")
	other6  = netip.MustParseAddr("2001:db8:1::22")
	vip4    = netip.MustParseAddr("198.51.100.10")
	vip4b   = netip.MustParseAddr("198.51.100.11")
	vip6    = netip.MustParseAddr("2001:db8:100::10")
	client4 = netip.MustParseAddr("203.0.113.7")
	client6 = netip.MustParseAddr("2001:db8:203::7")
)

const (
	lbIf     = "lb0"
	rsIf     = "rs0"
	vipPort  = 80
	waitYes  = 3 * time.Second        // for an answer that must come
	waitNo   = 800 * time.Millisecond // for one that must not
	pktLimit = 10000                  // frames read per wait, at most
)

// objects are the decap program builds, made once by TestMain.
var objects struct {
	dir    string
	normal string // decap.c as shipped
	compat string // -DDSRLB_NO_DECAP_L3_FLAGS: the pre-6.3 path
}

// bpffsBefore records the bpf file system's state before the tests, so
// TestMain leaves the machine as it found it.
var bpffsBefore struct {
	mounted bool
	pins    map[string]bool
}

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 {
			fmt.Println("e2e: not root; the namespace tests will skip")
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "dsrlbrs-e2e")
		if err != nil {
			fmt.Println(err)
			return 1
		}
		defer os.RemoveAll(dir)
		objects.dir = dir
		objects.normal = filepath.Join(dir, "dsrlb-decap.o")
		objects.compat = filepath.Join(dir, "dsrlb-decap-compat.o")
		for obj, extra := range map[string][]string{objects.normal: nil, objects.compat: {"-DDSRLB_NO_DECAP_L3_FLAGS"}} {
			if err := buildDecap(obj, extra...); err != nil {
				fmt.Println("e2e:", err)
				return 1
			}
		}
		bpffsBefore.mounted = bpffsMounted()
		bpffsBefore.pins = map[string]bool{}
		for _, n := range []string{MapSelf, MapStats} {
			if _, err := os.Stat(filepath.Join(MapPinDir, n)); err == nil {
				bpffsBefore.pins[n] = true
			}
		}
		code := m.Run()
		for _, n := range []string{MapSelf, MapStats} {
			if !bpffsBefore.pins[n] {
				os.Remove(filepath.Join(MapPinDir, n))
			}
		}
		if !bpffsBefore.mounted && bpffsMounted() {
			if err := unix.Unmount(BPFFSPath, 0); err != nil {
				fmt.Println("e2e: unmount", BPFFSPath+":", err)
			}
		}
		return code
	}()
	os.Exit(code)
}

// buildDecap compiles bpf/decap.c as make bpf does.
func buildDecap(out string, extra ...string) error {
	cc, err := exec.LookPath("clang")
	if err != nil {
		return errors.New("clang not found: apt-get install clang llvm libbpf-dev bpftool")
	}
	arch := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[runtime.GOARCH]
	args := append([]string{"-O2", "-g", "-Wall", "-target", "bpf", "-I/usr/include/" + arch}, extra...)
	args = append(args, "-c", filepath.Join("bpf", "decap.c"), "-o", out)
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("clang %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// needRoot skips without root and fails without the tools.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("namespace tests need root")
	}
	for _, tool := range []string{"ip", "tc", "nft", "bpftool", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: apt-get install iproute2 nftables bpftool procps", tool)
		}
	}
}

// inNetns runs fn on a thread switched into network namespace ns; sockets
// it opens and processes it starts stay there. The thread is thrown away
// if it cannot be switched back.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		target, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns back: %w", err) // thread stays locked and dies
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// nsRunner runs Apply's commands inside ns (network namespace only: the
// mount namespace, and so /sys/fs/bpf, stays the host's, unlike with
// ip netns exec).
func nsRunner(ns string) Runner {
	return func(ctx context.Context, argv []string) ([]byte, error) {
		var out []byte
		err := inNetns(ns, func() error {
			var err error
			out, err = exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
			return err
		})
		return out, err
	}
}

// tlog sends Apply's progress to the test log.
type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func run(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// bed is one balancer/real server pair.
type bed struct {
	t      *testing.T
	lb, rs string // namespace names
	lbMAC  net.HardwareAddr
	rsMAC  net.HardwareAddr
	sock   int // packet socket on lbIf
	spec   Spec
	// torn is set once the teardown is registered.
	torn bool
}

// run is t.Run with the bed reporting to the subtest meanwhile.
func (b *bed) run(t *testing.T, name string, fn func(t *testing.T)) {
	t.Run(name, func(st *testing.T) {
		parent := b.t
		b.t = st
		defer func() { b.t = parent }()
		fn(st)
	})
}

var bedSeq atomic.Int32

func newBed(t *testing.T) *bed {
	t.Helper()
	needRoot(t)
	n := bedSeq.Add(1)
	b := &bed{t: t,
		lb: fmt.Sprintf("dsrlbrs%d-%d-lb", os.Getpid(), n),
		rs: fmt.Sprintf("dsrlbrs%d-%d-rs", os.Getpid(), n),
	}
	for _, ns := range []string{b.lb, b.rs} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	for _, ns := range []string{b.lb, b.rs} {
		// No duplicate address detection: link-local addresses usable at once.
		if out, err := nsRunner(ns)(context.Background(), []string{"sysctl", "-q", "-w",
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"}); err != nil {
			t.Fatalf("sysctl in %s: %v\n%s", ns, err, out)
		}
	}
	run(t, "ip", "link", "add", lbIf, "netns", b.lb, "type", "veth", "peer", "name", rsIf, "netns", b.rs)
	for _, c := range []struct {
		ns, ifc string
		a4, a6  netip.Addr
	}{{b.lb, lbIf, lb4, lb6}, {b.rs, rsIf, self4, self6}} {
		run(t, "ip", "-n", c.ns, "addr", "add", c.a4.String()+"/24", "dev", c.ifc)
		run(t, "ip", "-n", c.ns, "-6", "addr", "add", c.a6.String()+"/64", "dev", c.ifc, "nodad")
		run(t, "ip", "-n", c.ns, "link", "set", c.ifc, "up")
		run(t, "ip", "-n", c.ns, "link", "set", "lo", "up")
	}
	run(t, "ip", "-n", b.rs, "addr", "add", other4.String()+"/24", "dev", rsIf)
	run(t, "ip", "-n", b.rs, "-6", "addr", "add", other6.String()+"/64", "dev", rsIf, "nodad")
	// Replies to the clients go back through the balancer side, where the
	// packet socket sees them (DSR in miniature: not encapsulated).
	run(t, "ip", "-n", b.rs, "route", "add", "default", "via", lb4.String())
	run(t, "ip", "-n", b.rs, "-6", "route", "add", "default", "via", lb6.String())

	var ifindex int
	err := inNetns(b.lb, func() error {
		ifi, err := net.InterfaceByName(lbIf)
		if err != nil {
			return err
		}
		b.lbMAC, ifindex = ifi.HardwareAddr, ifi.Index
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		b.sock = fd
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex})
	})
	if b.sock > 0 {
		t.Cleanup(func() { unix.Close(b.sock) })
	}
	if err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(b.sock, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	if err := inNetns(b.rs, func() error {
		ifi, err := net.InterfaceByName(rsIf)
		if err == nil {
			b.rsMAC = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// apply plans spec for the real server namespace, applies it there and
// registers its teardown.
func (b *bed) apply(spec Spec) {
	b.t.Helper()
	b.spec = spec
	var host HostInfo
	inNetns(b.rs, func() error { host = DetectHost(spec.Interface); return nil })
	if host.MTU != 1500 {
		b.t.Errorf("DetectHost in the namespace: MTU %d, want the veth's 1500", host.MTU)
	}
	steps, err := Plan(spec, host)
	if err != nil {
		b.t.Fatal(err)
	}
	if !b.torn {
		b.torn = true
		top := b.t
		top.Cleanup(func() {
			b.t = top
			b.teardown()
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ApplyWith(ctx, steps, nsRunner(b.rs), tlog{b.t}); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bed) teardown() {
	steps, err := Teardown(b.spec, HostInfo{BPFFS: true})
	if err != nil {
		b.t.Error(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ApplyWith(ctx, steps, nsRunner(b.rs), nil); err != nil {
		b.t.Error(err)
	}
}

// rsRun runs a command in the real server namespace.
func (b *bed) rsRun(argv ...string) string {
	b.t.Helper()
	out, err := nsRunner(b.rs)(context.Background(), argv)
	if err != nil {
		b.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// listen opens a TCP listener on addr:vipPort in the real server
// namespace; the kernel answers SYNs from its backlog.
func (b *bed) listen(addrs ...netip.Addr) {
	b.t.Helper()
	for _, a := range addrs {
		var ln net.Listener
		err := inNetns(b.rs, func() error {
			var err error
			ln, err = net.Listen("tcp", netip.AddrPortFrom(a, vipPort).String())
			return err
		})
		if err != nil {
			b.t.Fatal(err)
		}
		b.t.Cleanup(func() { ln.Close() })
	}
}

// probe describes one packet the balancer side sends: a TCP SYN from a
// client to dst:dport, possibly encapsulated.
type probe struct {
	encap     conf.Method // 0 for a plain packet
	outerSrc  netip.Addr
	outerDst  netip.Addr
	outerTOS  uint8 // traffic class / TOS of the outer header
	guePort   uint16
	greKey    bool // GRE with the K bit: not dsrlb's format
	src, dst  netip.Addr
	sport     uint16
	dport     uint16
	tos       uint8 // of the inner (or only) header
	dstMAC    net.HardwareAddr
	arpTarget netip.Addr // instead of a SYN: an ARP request / NS for it
}

var portSeq atomic.Uint32

func nextPort() uint16 { return uint16(40000 + portSeq.Add(1)%20000) }

func ipLayer(src, dst netip.Addr, proto layers.IPProtocol, tos uint8) gopacket.SerializableLayer {
	if src.Is4() {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, TOS: tos, Flags: layers.IPv4DontFragment,
			Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	}
	return &layers.IPv6{Version: 6, HopLimit: 64, TrafficClass: tos, NextHeader: proto,
		SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func etherType(a netip.Addr) layers.EthernetType {
	if a.Is4() {
		return layers.EthernetTypeIPv4
	}
	return layers.EthernetTypeIPv6
}

// frame builds the probe's Ethernet frame with every checksum computed
// (the UDP checksum of GUE over IPv4 is then zeroed, as the wire format
// says).
func (b *bed) frame(p probe) []byte {
	b.t.Helper()
	dstMAC := p.dstMAC
	if dstMAC == nil {
		dstMAC = b.rsMAC
	}
	first := p.src
	if p.encap != 0 {
		first = p.outerSrc
	}
	eth := &layers.Ethernet{SrcMAC: b.lbMAC, DstMAC: dstMAC, EthernetType: etherType(first)}
	inner := ipLayer(p.src, p.dst, layers.IPProtocolTCP, p.tos)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport),
		Seq: 1000 + uint32(p.sport), SYN: true, Window: 64240,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}}
	tcp.SetNetworkLayerForChecksum(inner.(gopacket.NetworkLayer))
	ls := []gopacket.SerializableLayer{eth}
	udpAt := -1
	switch p.encap {
	case 0:
	case conf.MethodIPIP:
		proto := layers.IPProtocolIPv4
		if p.src.Is6() {
			proto = layers.IPProtocolIPv6
		}
		ls = append(ls, ipLayer(p.outerSrc, p.outerDst, proto, p.outerTOS))
	case conf.MethodGRE:
		ls = append(ls, ipLayer(p.outerSrc, p.outerDst, layers.IPProtocolGRE, p.outerTOS),
			&layers.GRE{Protocol: etherType(p.src), KeyPresent: p.greKey, Key: 7})
	case conf.MethodGUE:
		outer := ipLayer(p.outerSrc, p.outerDst, layers.IPProtocolUDP, p.outerTOS)
		udp := &layers.UDP{SrcPort: layers.UDPPort(50000 + p.sport%1000), DstPort: layers.UDPPort(p.guePort)}
		udp.SetNetworkLayerForChecksum(outer.(gopacket.NetworkLayer))
		ls = append(ls, outer, udp)
		if p.outerSrc.Is4() {
			udpAt = 14 + 20
		}
	default:
		b.t.Fatalf("probe: unknown encapsulation %q", p.encap)
	}
	ls = append(ls, inner, tcp)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		b.t.Fatal(err)
	}
	out := buf.Bytes()
	if udpAt > 0 {
		out[udpAt+6], out[udpAt+7] = 0, 0
	}
	return out
}

// arpFrame asks who has target (ARP for IPv4, a neighbour solicitation to
// the solicited-node group for IPv6).
func (b *bed) arpFrame(target netip.Addr) []byte {
	b.t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	var err error
	if target.Is4() {
		err = gopacket.SerializeLayers(buf, opts,
			&layers.Ethernet{SrcMAC: b.lbMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
			&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
				HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest,
				SourceHwAddress: b.lbMAC, SourceProtAddress: lb4.AsSlice(),
				DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice()})
	} else {
		t16 := target.As16()
		group := netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 0x01, 12: 0xff, 13: t16[13], 14: t16[14], 15: t16[15]})
		ip6 := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6,
			SrcIP: lb6.AsSlice(), DstIP: group.AsSlice()}
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeNeighborSolicitation, 0)}
		icmp.SetNetworkLayerForChecksum(ip6)
		err = gopacket.SerializeLayers(buf, opts,
			&layers.Ethernet{SrcMAC: b.lbMAC, DstMAC: net.HardwareAddr{0x33, 0x33, 0xff, t16[13], t16[14], t16[15]},
				EthernetType: layers.EthernetTypeIPv6},
			ip6, icmp,
			&layers.ICMPv6NeighborSolicitation{TargetAddress: target.AsSlice(),
				Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: b.lbMAC}}})
	}
	if err != nil {
		b.t.Fatal(err)
	}
	return buf.Bytes()
}

func (b *bed) send(frame []byte) {
	b.t.Helper()
	if _, err := unix.Write(b.sock, frame); err != nil {
		b.t.Fatalf("send: %v", err)
	}
}

// await reads frames arriving at the balancer side until match accepts
// one or the time is up. Frames the balancer side sent itself are skipped.
// Every frame read is also given to seen, if set.
func (b *bed) await(d time.Duration, match func(gopacket.Packet) bool, seen func(gopacket.Packet)) (gopacket.Packet, bool) {
	deadline := time.Now().Add(d)
	buf := make([]byte, 65536)
	for i := 0; i < pktLimit && time.Now().Before(deadline); i++ {
		n, from, err := unix.Recvfrom(b.sock, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			b.t.Fatalf("receive: %v", err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		pkt := gopacket.NewPacket(bytes.Clone(buf[:n]), layers.LayerTypeEthernet, gopacket.Default)
		if seen != nil {
			seen(pkt)
		}
		if match(pkt) {
			return pkt, true
		}
	}
	return nil, false
}

// addrsOf returns the first network layer's addresses: for a reply that
// went out unencapsulated, the reply's own.
func addrsOf(pkt gopacket.Packet) (src, dst netip.Addr, ok bool) {
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		s, _ := netip.AddrFromSlice(ip.SrcIP)
		d, _ := netip.AddrFromSlice(ip.DstIP)
		return s, d, true
	case *layers.IPv6:
		s, _ := netip.AddrFromSlice(ip.SrcIP)
		d, _ := netip.AddrFromSlice(ip.DstIP)
		return s, d, true
	}
	return netip.Addr{}, netip.Addr{}, false
}

// tcpReply matches the real server's answer to p: a TCP segment from
// from:p.dport to p.src:p.sport, as the first (outermost) IP layer. syn
// asks for a SYN-ACK, else an RST.
func tcpReply(p probe, from netip.Addr, syn bool) func(gopacket.Packet) bool {
	return func(pkt gopacket.Packet) bool {
		src, dst, ok := addrsOf(pkt)
		if !ok || src != from || dst != p.src {
			return false
		}
		tcp, ok := pkt.TransportLayer().(*layers.TCP)
		if !ok || uint16(tcp.SrcPort) != p.dport || uint16(tcp.DstPort) != p.sport {
			return false
		}
		if syn {
			return tcp.SYN && tcp.ACK
		}
		return tcp.RST
	}
}

// trafficClass is the DSCP+ECN byte of the packet's first IP header.
func trafficClass(pkt gopacket.Packet) uint8 {
	switch ip := pkt.NetworkLayer().(type) {
	case *layers.IPv4:
		return ip.TOS
	case *layers.IPv6:
		return ip.TrafficClass
	}
	return 0
}

func mssOption(pkt gopacket.Packet) int {
	tcp, ok := pkt.TransportLayer().(*layers.TCP)
	if !ok {
		return -1
	}
	for _, o := range tcp.Options {
		if o.OptionType == layers.TCPOptionKindMSS && len(o.OptionData) == 2 {
			return int(o.OptionData[0])<<8 | int(o.OptionData[1])
		}
	}
	return -1
}

// expectSynAck sends p and waits for the SYN-ACK from the VIP (p.dst).
func (b *bed) expectSynAck(p probe) gopacket.Packet {
	b.t.Helper()
	b.send(b.frame(p))
	pkt, ok := b.await(waitYes, tcpReply(p, p.dst, true), nil)
	if !ok {
		b.t.Fatalf("no SYN-ACK from %s for %s", p.dst, describe(p))
	}
	return pkt
}

// expectSilence sends p and checks that no SYN-ACK comes for it.
func (b *bed) expectSilence(p probe) {
	b.t.Helper()
	b.send(b.frame(p))
	if pkt, ok := b.await(waitNo, tcpReply(p, p.dst, true), nil); ok {
		b.t.Errorf("unexpected SYN-ACK for %s:\n%s", describe(p), pkt.Dump())
	}
}

func describe(p probe) string {
	s := fmt.Sprintf("SYN %s:%d -> %s:%d", p.src, p.sport, p.dst, p.dport)
	if p.encap != 0 {
		s = fmt.Sprintf("%s in %s %s -> %s", s, p.encap, p.outerSrc, p.outerDst)
	}
	return s
}

// nftCounter reads a named counter's packets in the real server namespace.
func (b *bed) nftCounter(table, name string) int {
	b.t.Helper()
	out := b.rsRun("nft", "-j", "list", "counter", "inet", table, name)
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Packets int `json:"packets"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		b.t.Fatalf("nft counter %s: %v\n%s", name, err, out)
	}
	for _, o := range doc.Nftables {
		if o.Counter != nil {
			return o.Counter.Packets
		}
	}
	b.t.Fatalf("nft counter %s not found:\n%s", name, out)
	return 0
}

// decapStats sums the per-CPU counters of dsrlb_rs_stats (index: 0
// decapsulated, 1 ECN drops, 2 failures). The map is the host's, shared
// by every bed: compare differences.
func (b *bed) decapStats() [3]uint64 {
	b.t.Helper()
	out := b.rsRun("bpftool", "-j", "map", "dump", "pinned", filepath.Join(MapPinDir, MapStats))
	var entries []struct {
		Formatted struct {
			Key    int `json:"key"`
			Values []struct {
				Value uint64 `json:"value"`
			} `json:"values"`
		} `json:"formatted"`
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		b.t.Fatalf("bpftool map dump %s: %v\n%s", MapStats, err, out)
	}
	var sum [3]uint64
	for _, e := range entries {
		if k := e.Formatted.Key; k >= 0 && k < len(sum) {
			for _, v := range e.Formatted.Values {
				sum[k] += v.Value
			}
		}
	}
	return sum
}

// nftScript loads a ruleset fragment into the real server namespace.
func (b *bed) nftScript(script string) {
	b.t.Helper()
	f := filepath.Join(b.t.TempDir(), "rules.nft")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.rsRun("nft", "-f", f)
}
