package encap

import (
	"bytes"
	"dsrlb/conf"
	"encoding/binary"
	"testing"

	"dsrlb/pipeline/header"
)

// The fuzz targets run each function on arbitrary frames, located as the
// data plane would with header.ParseL2, in a buffer b that is a window of a
// larger array with guard bytes on both sides: writing past b (which Go
// allows up to the capacity) would show in the guards. They check that
// nothing panics, that a refusal leaves the buffer as it was, that the
// result agrees with an independently written reference of what must be
// accepted, and that an accepted result is well formed.

const guardLen = 32

// guarded returns a buffer holding head bytes of headroom, data and tail
// bytes, inside a larger array with guard bytes before and after.
func guarded(data []byte, head, tail int) (all, b []byte) {
	all = make([]byte, guardLen+head+len(data)+tail+guardLen)
	for i := range all {
		all[i] = byte(0x5a ^ i)
	}
	copy(all[guardLen+head:], data)
	return all, all[guardLen : guardLen+head+len(data)+tail]
}

func checkGuards(t *testing.T, all, orig []byte) {
	t.Helper()
	if !bytes.Equal(all[:guardLen], orig[:guardLen]) || !bytes.Equal(all[len(all)-guardLen:], orig[len(orig)-guardLen:]) {
		t.Fatal("wrote outside b")
	}
}

func be16(b []byte) int { return int(b[0])<<8 | int(b[1]) }

// refInner is the reference validity check of the IP packet at data[l3:]
// announced by the Ethernet header, for Encap: its length, or ok false.
func refInner(data []byte, l3 int, v6 bool) (int, bool) {
	et := 0x0800
	if v6 {
		et = 0x86dd
	}
	switch {
	case l3 == 14 && len(data) >= 14 && be16(data[12:]) == et:
	case l3 == 18 && len(data) >= 18 && be16(data[12:]) == 0x8100 && be16(data[16:]) == et:
	default:
		return 0, false
	}
	ip := data[l3:]
	if v6 {
		if len(ip) < 40 || ip[0]>>4 != 6 || 40+be16(ip[4:]) > len(ip) {
			return 0, false
		}
		return 40 + be16(ip[4:]), true
	}
	if len(ip) < 20 || ip[0]>>4 != 4 {
		return 0, false
	}
	hl, tl := int(ip[0]&15)*4, be16(ip[2:])
	if hl < 20 || hl > tl || tl > len(ip) {
		return 0, false
	}
	return tl, true
}

// lcoVerifies says whether GUE's outer UDP checksum over IPv6 verifies
// for the inner packet p. Encap takes the sum of an unfragmented TCP or
// UDP segment (a UDP one with a checksum) in a packet of at least
// lcoMinPacket bytes from the segment's own checksum (local checksum
// offload): the outer checksum then verifies exactly when the inner one
// does, and a receiver drops a packet whose inner checksum was wrong
// whichever of the two it checks. Any other packet is summed in full and
// its outer checksum always verifies.
func lcoVerifies(p []byte, v6 bool) bool {
	if len(p) < lcoMinPacket {
		return true
	}
	var hl int
	var proto uint8
	var ph func(n int) []byte
	if v6 {
		pr, off, res := header.IPv6(p).SkipExtensions()
		if res != header.ExtOK {
			return true
		}
		hl, proto = off, pr
		ph = func(n int) []byte { return pseudo6([16]byte(p[8:24]), [16]byte(p[24:40]), proto, n) }
	} else {
		if be16(p[6:])&0x3fff != 0 { // MF or an offset: a fragment
			return true
		}
		hl, proto = int(p[0]&15)*4, p[9]
		ph = func(n int) []byte { return pseudo4([4]byte(p[12:16]), [4]byte(p[16:20]), proto, n) }
	}
	seg := p[hl:]
	switch {
	case proto == 6 && len(seg) >= 20:
	case proto == 17 && len(seg) >= 8 && be16(seg[6:]) != 0:
	default:
		return true
	}
	return sumValid(ph(len(seg)), seg)
}

func seeds(f *testing.F, add func(frame []byte)) {
	for _, p := range []pkt{
		{payload: 40}, {udp: true, vlan: true, payload: 10}, {v6: true, payload: 30},
		{v6: true, udp: true, vlan: true, payload: 1}, {opts: []byte{0x94, 4, 0, 0}, df: true, payload: 5},
		{proto: header.IPProtoICMP, payload: 8}, {v6: true, proto: header.IPProtoICMPv6, payload: 8},
	} {
		fr, _ := build(f, p)
		add(fr)
	}
	add(nil)
	add(make([]byte, 14))
	add(append(make([]byte, 12), 0x81, 0x00, 0, 1, 0x08, 0x00, 0x45))
}

func FuzzEncap(f *testing.F) {
	seeds(f, func(fr []byte) {
		for _, sel := range []uint8{1, 2, 3, 5, 6, 7, 0x27} {
			f.Add(fr, uint8(headroom), uint8(0), sel, uint64(0x1234567))
		}
	})
	f.Add([]byte{}, uint8(20), uint8(3), uint8(9), uint64(0))
	f.Fuzz(func(t *testing.T, data []byte, head, tail, sel uint8, hash uint64) {
		all, b := guarded(data, int(head), int(tail%16))
		orig := append([]byte(nil), all...)
		off, n := int(head), len(data)

		et, l3, l2ok := header.ParseL2(data)
		if !l2ok {
			l3 = 14 + 4*int(sel>>7) // the caller would not get here; must not matter
		}
		inner6 := et == header.EtherTypeIPv6
		if et != header.EtherTypeIPv4 && et != header.EtherTypeIPv6 {
			inner6 = sel&0x20 != 0
		}
		m := []conf.Method{0, conf.MethodIPIP, conf.MethodGRE, conf.MethodGUE}[sel&3]
		o := &Outer{Src4: lb4, Dst4: rs4, Src6: lb6, Dst6: rs6, V6: sel&4 != 0}
		var port uint16 = testGUEPort
		if sel&8 != 0 {
			port = 0
		}

		// The same with the device computing its checksums, on a copy.
		allHW, bHW := guarded(data, int(head), int(tail%16))
		hw := HWFor(HWIPv4Checksum|HWUDPChecksum, m, o.V6)
		offHW, nHW, okHW := EncapHW(bHW, off, n, l3, inner6, m, o, hash, port, hw)

		newOff, newN, ok := Encap(b, off, n, l3, inner6, m, o, hash, port)
		checkGuards(t, all, orig)
		checkGuards(t, allHW, orig)
		if okHW != ok || offHW != newOff || nHW != newN {
			t.Fatalf("EncapHW %v %d %d, Encap %v %d %d", okHW, offHW, nHW, ok, newOff, newN)
		}
		if ok && hw != 0 {
			// Only the checksum left to the device differs, and it is 0.
			at := guardLen + newOff + l3 + 10
			if hw == HWUDPChecksum {
				at = guardLen + newOff + l3 + 40 + 6
			}
			if allHW[at] != 0 || allHW[at+1] != 0 {
				t.Fatalf("checksum left to the device is %x", allHW[at:at+2])
			}
			allHW[at], allHW[at+1] = all[at], all[at+1]
		}
		eqBytes(t, "EncapHW's bytes", allHW, all)

		// Reference.
		hdr := map[conf.Method][2]int{conf.MethodIPIP: {20, 40}, conf.MethodGRE: {24, 44}, conf.MethodGUE: {28, 48}}[m][map[bool]int{false: 0, true: 1}[o.V6]]
		innerLen, want := refInner(data, l3, inner6)
		outerLen := innerLen + hdr
		if o.V6 {
			outerLen -= 40
		}
		want = want && hdr != 0 && off >= hdr && outerLen <= 0xffff &&
			!(m == conf.MethodGUE && port == 0) && !(m == conf.MethodIPIP && inner6 && !o.V6)
		if ok != want {
			t.Fatalf("ok %v, reference %v (m %v outer6 %v inner6 %v l3 %d head %d)", ok, want, m, o.V6, inner6, l3, off)
		}
		if !ok {
			if newOff != off || newN != n || !bytes.Equal(all, orig) {
				t.Fatal("refused but changed something")
			}
			return
		}
		if newOff != off-hdr || newN != l3+hdr+innerLen {
			t.Fatalf("newOff %d newN %d", newOff, newN)
		}
		out := b[newOff : newOff+newN]
		eqBytes(t, "Ethernet header", out[:l3-2], data[:l3-2])
		if et := binary.BigEndian.Uint16(out[l3-2:]); et != map[bool]uint16{false: 0x0800, true: 0x86dd}[o.V6] {
			t.Fatalf("EtherType %#x", et)
		}
		eqBytes(t, "inner packet", out[l3+hdr:], data[l3:l3+innerLen])
		if o.V6 {
			if int(header.IPv6(out[l3:]).PayloadLen()) != outerLen || !header.IPv6(out[l3:]).IsValid(newN-l3) {
				t.Fatal("outer IPv6 length")
			}
		} else if ip := header.IPv4(out[l3:]); !ip.IsValid(newN-l3) || int(ip.TotalLen()) != outerLen || !sumValid(out[l3:l3+20]) {
			t.Fatal("outer IPv4 header")
		}
		if m == conf.MethodGUE && o.V6 {
			got, want := sumValid(pseudo6(lb6, rs6, 17, newN-l3-40), out[l3+40:]), lcoVerifies(data[l3:l3+innerLen], inner6)
			if got != want {
				t.Fatalf("GUE UDP checksum verifies: %v, want %v", got, want)
			}
		}
		eqBytes(t, "bytes before the frame", all[:guardLen+newOff], orig[:guardLen+newOff])
		eqBytes(t, "bytes after the frame", all[guardLen+newOff+newN:], orig[guardLen+newOff+newN:])
	})
}

func FuzzDSCP(f *testing.F) {
	seeds(f, func(fr []byte) { f.Add(fr, uint8(7), uint32(0x0a010014)) })
	f.Add([]byte{}, uint8(0), uint32(0))
	f.Fuzz(func(t *testing.T, data []byte, code uint8, dstU uint32) {
		all, frame := guarded(data, 0, 0)
		orig := append([]byte(nil), all...)
		_, l3, l2ok := header.ParseL2(data)
		if !l2ok {
			l3 = 14
		}
		var dst [4]byte
		binary.BigEndian.PutUint32(dst[:], dstU)

		ok := DSCP(frame, l3, dst, code)
		checkGuards(t, all, orig)

		// Reference.
		want := code >= 1 && code <= 63 && l3 <= len(data)
		var hl, tl int
		var proto uint8
		var first bool
		if want {
			ip := data[l3:]
			want = len(ip) >= 20 && ip[0]>>4 == 4
			if want {
				hl, tl = int(ip[0]&15)*4, be16(ip[2:])
				want = hl >= 20 && hl <= tl && tl <= len(ip)
			}
			if want {
				proto, first = ip[9], be16(ip[6:])&0x1fff == 0
				want = !first || !(proto == 6 && tl-hl < 20 || proto == 17 && tl-hl < 8)
			}
		}
		if ok != want {
			t.Fatalf("ok %v, reference %v", ok, want)
		}
		if !ok {
			if !bytes.Equal(all, orig) {
				t.Fatal("refused but changed something")
			}
			return
		}
		ip, oip := frame[l3:], data[l3:]
		if [4]byte(ip[16:20]) != dst || ip[1]>>2 != code || ip[1]&3 != oip[1]&3 {
			t.Fatal("dst/DSCP/ECN")
		}
		if sumValid(oip[:hl]) && !sumValid(ip[:hl]) {
			t.Fatal("valid IPv4 checksum became invalid")
		}
		// An unfragmented TCP or UDP packet with a valid checksum keeps a
		// valid one (UDP: 0 stays 0).
		if be16(oip[6:])&0x3fff == 0 && (proto == 6 || proto == 17) {
			seg, oseg := ip[hl:tl], oip[hl:tl]
			ck := map[uint8]int{6: tcpCsum, 17: udpCsum}[proto]
			if proto == 17 && be16(oseg[ck:]) == 0 {
				if be16(seg[ck:]) != 0 {
					t.Fatal("UDP checksum 0 changed")
				}
			} else if sumValid(pseudo4([4]byte(oip[12:16]), [4]byte(oip[16:20]), proto, len(oseg)), oseg) &&
				!sumValid(pseudo4([4]byte(ip[12:16]), dst, proto, len(seg)), seg) {
				t.Fatal("valid L4 checksum became invalid")
			}
		}
	})
}

func FuzzFragNeeded4(f *testing.F) {
	seeds(f, func(fr []byte) {
		f.Add(fr, uint8(headroom), uint8(0), uint16(1400))
		f.Add(fr, uint8(0), uint8(90), uint16(1400))
	})
	f.Fuzz(func(t *testing.T, data []byte, head, tail uint8, mtu uint16) {
		all, b := guarded(data, int(head), int(tail))
		orig := append([]byte(nil), all...)
		off, n := int(head), len(data)
		_, l3, l2ok := header.ParseL2(data)
		if !l2ok {
			l3 = 14
		}

		newOff, newN, ok := FragNeeded4(b, off, n, l3, vip4, portMAC, mtu)
		checkGuards(t, all, orig)

		// Reference.
		tl, want := refInner(data, l3, false)
		var quote int
		if want {
			ip := data[l3:]
			hl := int(ip[0]&15) * 4
			quote = hl + min(8, tl-hl)
			icmpErr := ip[9] == 1 && tl > hl && (ip[hl] == 3 || ip[hl] == 4 || ip[hl] == 5 || ip[hl] == 11 || ip[hl] == 12 || ip[hl] > 18)
			want = data[0]&1 == 0 && be16(ip[6:])&0x1fff == 0 && ip[12] != 0 && ip[12] != 127 && ip[12] < 224 &&
				ip[16] < 224 && !icmpErr && (off >= 28 || l3+28+quote <= n+int(tail))
		}
		if ok != want {
			t.Fatalf("ok %v, reference %v", ok, want)
		}
		if !ok {
			if newOff != off || newN != n || !bytes.Equal(all, orig) {
				t.Fatal("refused but changed something")
			}
			return
		}
		if newN != l3+28+quote {
			t.Fatalf("length %d", newN)
		}
		out := b[newOff : newOff+newN]
		ip := header.IPv4(out[l3:])
		if !ip.IsValid(newN-l3) || !sumValid(out[l3:l3+20]) || !sumValid(out[l3+20:]) ||
			ip.Src() != vip4 || ip.Dst() != [4]byte(data[l3+12:l3+16]) || ip.Protocol() != 1 ||
			out[l3+20] != 3 || out[l3+21] != 4 || header.ICMPv4(out[l3+20:]).MTU() != mtu {
			t.Fatal("bad ICMP error")
		}
		eqBytes(t, "quote", out[l3+28:], data[l3:l3+quote])
		if header.Ethernet(out).Dst() != header.Ethernet(data).Src() || header.Ethernet(out).Src() != portMAC {
			t.Fatal("MACs")
		}
		eqBytes(t, "bytes before the frame", all[:guardLen+newOff], orig[:guardLen+newOff])
	})
}

func FuzzPacketTooBig6(f *testing.F) {
	seeds(f, func(fr []byte) {
		f.Add(fr, uint8(headroom), uint8(0), uint32(1280))
		f.Add(fr, uint8(0), uint8(200), uint32(1280))
	})
	f.Fuzz(func(t *testing.T, data []byte, head, tail uint8, mtu uint32) {
		all, b := guarded(data, int(head), int(tail))
		orig := append([]byte(nil), all...)
		off, n := int(head), len(data)
		_, l3, l2ok := header.ParseL2(data)
		if !l2ok {
			l3 = 14
		}

		newOff, newN, ok := PacketTooBig6(b, off, n, l3, vip6, portMAC, mtu)
		checkGuards(t, all, orig)

		// Reference.
		plen, want := refInner(data, l3, true)
		quote := min(plen, 1232)
		if want {
			ip := data[l3:]
			src := [16]byte(ip[8:24])
			var zero [15]byte
			badSrc := src[0] == 0xff || [15]byte(src[:15]) == zero && src[15] <= 1
			proto, l4, res := header.IPv6(ip).SkipExtensions()
			icmpErr := res == header.ExtOK && proto == 58 && l4 < plen && ip[l4] < 128
			want = !badSrc && !icmpErr && (off >= 48 || l3+48+quote <= n+int(tail))
		}
		if ok != want {
			t.Fatalf("ok %v, reference %v", ok, want)
		}
		if !ok {
			if newOff != off || newN != n || !bytes.Equal(all, orig) {
				t.Fatal("refused but changed something")
			}
			return
		}
		if newN != l3+48+quote || newN-l3 > 1280 {
			t.Fatalf("length %d", newN)
		}
		out := b[newOff : newOff+newN]
		ip := header.IPv6(out[l3:])
		dst := [16]byte(data[l3+8 : l3+24])
		if !ip.IsValid(newN-l3) || int(ip.PayloadLen()) != newN-l3-40 || ip.Src() != vip6 || ip.Dst() != dst ||
			ip.NextHeader() != 58 || out[l3+40] != 2 || header.ICMPv6(out[l3+40:]).MTU() != mtu ||
			!sumValid(pseudo6(vip6, dst, 58, newN-l3-40), out[l3+40:]) {
			t.Fatal("bad Packet Too Big")
		}
		eqBytes(t, "quote", out[l3+48:], data[l3:l3+quote])
		eqBytes(t, "bytes before the frame", all[:guardLen+newOff], orig[:guardLen+newOff])
	})
}
