package perf

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Sizes selects frame sizes.
type Sizes string

// Frame size mixes.
const (
	// Size64 is minimum-size frames: 64 bytes on the wire, 60 in the
	// capture (the FCS is not captured).
	Size64 Sizes = "64"
	// SizeIMIX is the simple IMIX: 7 of 64, 4 of 594 and 1 of 1518 bytes
	// on the wire, interleaved.
	SizeIMIX Sizes = "imix"
)

// GenConfig describes a benchmark capture.
type GenConfig struct {
	Flows int // distinct TCP 5-tuples, default 100000
	// FlowOffset shifts the flows' numbering: captures with offsets a
	// Flows apart have no flow in common (one capture per worker queue).
	FlowOffset int
	Packets    int // packets in the capture, default 131072
	VIP        netip.Addr
	Port       uint16 // destination port, default 80
	Sizes      Sizes  // default Size64
	// Noise is the fraction (0..1) of packets sent to an address that is no
	// VIP: the data plane must classify and drop them.
	Noise float64
	// SYNFlood is the fraction (0..1) of packets that are a SYN flood:
	// SYNs each from a client address and port no other packet of the
	// capture uses (203.0.113.0/24, ports 50000 and up), a new flow
	// every time. The other packets are the Flows.
	SYNFlood float64
	SrcMAC   net.HardwareAddr // client side
	DstMAC   net.HardwareAddr // the balancer's port
}

func (c *GenConfig) defaults() error {
	if c.Flows == 0 {
		c.Flows = 100000
	}
	if c.Packets == 0 {
		c.Packets = 131072
	}
	if c.Port == 0 {
		c.Port = 80
	}
	if c.Sizes == "" {
		c.Sizes = Size64
	}
	if c.SrcMAC == nil {
		c.SrcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0xc1, 0x01}
	}
	if c.DstMAC == nil {
		c.DstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0x1b, 0x01}
	}
	switch {
	case c.Flows < 1 || c.Flows > 1<<24:
		return fmt.Errorf("flows %d out of range 1..16777216", c.Flows)
	case c.Packets < 1 || c.Packets > 1<<22:
		return fmt.Errorf("packets %d out of range 1..4194304", c.Packets)
	case !c.VIP.IsValid():
		return errors.New("no VIP")
	case c.Sizes != Size64 && c.Sizes != SizeIMIX:
		return fmt.Errorf("sizes %q: want %q or %q", c.Sizes, Size64, SizeIMIX)
	case c.Noise < 0 || c.Noise > 1:
		return fmt.Errorf("noise %v out of range 0..1", c.Noise)
	case c.SYNFlood < 0 || c.SYNFlood > 1:
		return fmt.Errorf("syn flood %v out of range 0..1", c.SYNFlood)
	}
	return nil
}

// imix is the frame size sequence on the wire, FCS included.
var imix = []int{64, 594, 64, 64, 1518, 64, 594, 64, 594, 64, 64, 594}

// WritePcap writes the capture to w and returns the number of packets.
// Frames never get shorter than their headers: an IPv6/TCP frame is at
// least 78 bytes on the wire.
// Packet i belongs to flow i mod Flows; every 8th packet is a SYN, the
// others ACKs with data. Client addresses come from 198.51.100.0/24 and
// 203.0.113.0/24 (IPv4) or 2001:db8:c::/64 (IPv6), source ports from
// 1024 up, so every flow is a distinct 5-tuple.
func WritePcap(w io.Writer, c GenConfig) (int, error) {
	if err := c.defaults(); err != nil {
		return 0, err
	}
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return 0, err
	}
	v6 := c.VIP.Is6()
	noiseDst := netip.MustParseAddr("192.0.2.250")
	if v6 {
		noiseDst = netip.MustParseAddr("2001:db8::250")
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	ts := time.Unix(1700000000, 0)
	payload := make([]byte, 1600)
	noiseEvery := 0
	if c.Noise > 0 {
		noiseEvery = int(1 / c.Noise)
	}
	floodEvery := 0
	if c.SYNFlood > 0 {
		floodEvery = int(1 / c.SYNFlood)
	}
	legit, floods := 0, 0 // packets of the flows and of the flood so far
	for i := 0; i < c.Packets; i++ {
		flood := floodEvery > 0 && i%floodEvery == 0
		var src netip.Addr
		var sport uint16
		if flood {
			src, sport = floodSource(floods, v6)
			floods++
		} else {
			src, sport = flowSource(c.FlowOffset+legit%c.Flows, v6)
			legit++
		}
		dst := c.VIP
		if noiseEvery > 0 && i%noiseEvery == noiseEvery-1 {
			dst = noiseDst
		}
		wire := 64
		if c.Sizes == SizeIMIX {
			wire = imix[i%len(imix)]
		}
		hdr := 14 + 20 + 20
		if v6 {
			hdr = 14 + 40 + 20
		}
		n := max(0, wire-4-hdr)
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(c.Port), Seq: uint32(i), Window: 65535}
		if flood || i%8 == 0 {
			tcp.SYN = true
			n = max(0, 60-hdr) // a SYN carries no data: pad to the minimum frame
		} else {
			tcp.ACK = true
			tcp.PSH = true
			tcp.Ack = 1
		}
		eth := &layers.Ethernet{SrcMAC: c.SrcMAC, DstMAC: c.DstMAC}
		var err error
		if v6 {
			eth.EthernetType = layers.EthernetTypeIPv6
			ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
			_ = tcp.SetNetworkLayerForChecksum(ip)
			err = gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(payload[:n]))
		} else {
			eth.EthernetType = layers.EthernetTypeIPv4
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
				Id: uint16(i), SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
			_ = tcp.SetNetworkLayerForChecksum(ip)
			err = gopacket.SerializeLayers(buf, opts, eth, ip, tcp, gopacket.Payload(payload[:n]))
		}
		if err != nil {
			return i, err
		}
		frame := buf.Bytes()
		if len(frame) < 60 {
			frame = append(frame, make([]byte, 60-len(frame))...)
		}
		ci := gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Microsecond), CaptureLength: len(frame), Length: len(frame)}
		if err := pw.WritePacket(ci, frame); err != nil {
			return i, err
		}
	}
	return c.Packets, nil
}

// floodSource is the client address and source port of the flood's SYN
// k: 250 addresses of 203.0.113.0/24 (2001:db8:f::/64 for IPv6) times
// ports 50000..64999, so a capture of up to 3.75 million flood packets
// has no 5-tuple twice, and none of the flows' (their ports stay below
// 50000 up to 12 million flows).
func floodSource(k int, v6 bool) (netip.Addr, uint16) {
	sport := uint16(50000 + k/250%15000)
	if v6 {
		var a [16]byte
		copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x0f})
		a[15] = byte(k%250 + 1)
		return netip.AddrFrom16(a), sport
	}
	return netip.AddrFrom4([4]byte{203, 0, 113, byte(k%250 + 1)}), sport
}

// flowSource is flow f's client address and source port.
func flowSource(f int, v6 bool) (netip.Addr, uint16) {
	host := f % 500
	sport := uint16(1024 + f/500%64000)
	if v6 {
		var a [16]byte
		copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x0c})
		a[14], a[15] = byte(f>>8), byte(f)
		a[13] = byte(f >> 16)
		return netip.AddrFrom16(a), sport
	}
	if host < 250 {
		return netip.AddrFrom4([4]byte{198, 51, 100, byte(host + 1)}), sport
	}
	return netip.AddrFrom4([4]byte{203, 0, 113, byte(host - 250 + 1)}), sport
}
