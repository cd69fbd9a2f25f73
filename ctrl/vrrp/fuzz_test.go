package vrrp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// FuzzParse: Parse and ParseIPv4 never panic and fail only with an *Error
// of a real cause; whatever Parse accepts, Append re-encodes (in the form
// Parse reported) to a message of the same length that Parse decodes to
// the same advert in the same form. data is tried as a VRRP message from
// src to dst (4 or 16 bytes each; anything else is no address) and, when
// ParseIPv4 takes it, as a raw IPv4 packet.
func FuzzParse(f *testing.F) {
	for _, tc := range captures {
		pkt := readCapture(f, tc.file)
		s, d, _, payload := splitIP(f, pkt)
		f.Add(payload, s.AsSlice(), d.AsSlice(), false)
		if s.Is4() {
			f.Add(pkt, s.AsSlice(), d.AsSlice(), false)
		}
	}
	old := readCapture(f, "v3-unicast-old-checksum.hex")
	f.Add(old, src4.AsSlice(), mcast4.AsSlice(), true)
	f.Add(old[20:], src4.AsSlice(), mcast4.AsSlice(), true)
	for _, tc := range handMade {
		f.Add(unhex(f, tc.want), tc.src.AsSlice(), tc.dst.AsSlice(), tc.mode == ChecksumMessageOnly)
	}
	f.Add([]byte{}, []byte{}, []byte{}, false)
	f.Add([]byte{0x21, 1, 100, 0, 0, 1, 0, 0}, src4.AsSlice(), mcast4.AsSlice(), false)
	f.Fuzz(func(t *testing.T, data, srcb, dstb []byte, accept bool) {
		src, _ := netip.AddrFromSlice(srcb)
		dst, _ := netip.AddrFromSlice(dstb)
		opts := ParseOptions{AcceptMessageOnly: accept}
		checkParse(t, data, src, dst, opts)
		s, d, ttl, payload, err := ParseIPv4(data)
		if err != nil {
			checkCause(t, err)
			return
		}
		hl, tl := int(data[0]&0xf)*4, int(binary.BigEndian.Uint16(data[2:]))
		if ttl != data[8] || data[9] != ProtoVRRP || s != netip.AddrFrom4([4]byte(data[12:16])) ||
			d != netip.AddrFrom4([4]byte(data[16:20])) || !bytes.Equal(payload, data[hl:tl]) {
			t.Fatalf("ParseIPv4: %v %v %d, %d payload bytes of %d", s, d, ttl, len(payload), len(data))
		}
		checkParse(t, payload, s, d, opts)
	})
}

func checkCause(t *testing.T, err error) {
	var e *Error
	if !errors.As(err, &e) || e.Cause <= CauseNone || e.Cause >= CauseCount {
		t.Fatalf("error %v (%T) is not an *Error with a cause", err, err)
	}
}

func checkParse(t *testing.T, b []byte, src, dst netip.Addr, opts ParseOptions) {
	a, mode, err := Parse(b, src, dst, opts)
	if err != nil {
		checkCause(t, err)
		return
	}
	if mode == ChecksumMessageOnly && !opts.AcceptMessageOnly {
		t.Fatalf("ChecksumMessageOnly accepted without AcceptMessageOnly")
	}
	re, err := a.Append(nil, src, dst, mode)
	if err != nil {
		t.Fatalf("Parse accepted %+v (% x), Append: %v", a, b, err)
	}
	if len(re) != len(b) {
		t.Fatalf("re-encoded %d bytes, parsed %d", len(re), len(b))
	}
	a2, mode2, err := Parse(re, src, dst, opts)
	if err != nil {
		t.Fatalf("re-encoded % x (from % x): %v", re, b, err)
	}
	if !reflect.DeepEqual(a, a2) || mode != mode2 {
		t.Fatalf("round trip: %+v %v, then %+v %v", a, mode, a2, mode2)
	}
	// Append ignores b's other bytes: the re-encoding is the canonical
	// form, which Parse decodes to the same advert whatever b carried in
	// its reserved bits or unused authentication data.
	if again, _ := a2.Append(nil, src, dst, mode); !bytes.Equal(again, re) {
		t.Fatalf("Append not deterministic: % x, then % x", re, again)
	}
}
