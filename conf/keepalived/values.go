package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// parseTimer reads a keepalived <TIMER>: seconds, with a fraction down to
// microseconds ("3", "0.5", "2.71828").
func parseTimer(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(s, "xXpPeEnN_") {
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	}
	if f < 0 || f > 1e9 {
		return 0, fmt.Errorf("%s seconds is out of range", s)
	}
	return time.Duration(math.Round(f*1e6)) * time.Microsecond, nil
}

// goDuration writes d as a Go duration the way a person would: "3s",
// "500ms", "2.5s", "1h" for whole hours.
func goDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d < time.Second && d%time.Millisecond == 0:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	case d > time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
	}
	return d.String()
}

// parseUint reads a decimal integer in lo..hi.
func parseUint(s string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range %d..%d", n, lo, hi)
	}
	return n, nil
}

// parseBool reads keepalived's <BOOL>; an absent value is true.
func parseBool(n *Node, i int) (bool, error) {
	if i >= len(n.Args) {
		return true, nil
	}
	switch strings.ToLower(n.Args[i]) {
	case "on", "true", "yes":
		return true, nil
	case "off", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("%q is not one of on, off, true, false, yes, no", n.Args[i])
}

// parseIP reads an address as keepalived writes it: IPv4 or IPv6, an
// IPv4-mapped IPv6 address as its IPv4 form, no zone.
func parseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return a.Unmap(), nil
}

// maxRange bounds the addresses one virtual_server_group range expands
// to: each becomes a [[service]].
const maxRange = 256

// parseRange reads an address or a range of a virtual_server_group, in
// keepalived's forms: 192.0.2.1, 192.0.2.1-10 (the last byte, or for
// IPv6 the last group in hex), 192.0.2.250-192.0.3.10, 192.0.2.8/29 (the
// whole prefix).
func parseRange(s string) ([]netip.Addr, error) {
	if a, err := parseIP(s); err == nil {
		return []netip.Addr{a}, nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		first := p.Masked().Addr()
		if bits := first.BitLen() - p.Bits(); bits > 8 {
			return nil, fmt.Errorf("%s holds more than %d addresses (each would be a service)", s, maxRange)
		}
		var out []netip.Addr
		for a := first; a.IsValid() && p.Contains(a); a = a.Next() {
			out = append(out, a.Unmap())
		}
		return out, nil
	}
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return nil, fmt.Errorf("%q is not an IP address or range", s)
	}
	first, err := parseIP(lo)
	if err != nil {
		return nil, err
	}
	last, err := parseIP(hi)
	if err != nil {
		// The short form: the last byte (IPv4, decimal) or group (IPv6, hex).
		last, err = rangeEnd(first, hi)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address range", s)
		}
	}
	if first.Is4() != last.Is4() || last.Less(first) {
		return nil, fmt.Errorf("%q is not an IP address range (its end is before its start, or of another family)", s)
	}
	var out []netip.Addr
	for a := first; ; a = a.Next() {
		out = append(out, a)
		if len(out) > maxRange {
			return nil, fmt.Errorf("%s holds more than %d addresses (each would be a service)", s, maxRange)
		}
		if a == last {
			return out, nil
		}
	}
}

// rangeEnd is the end of a short range: first with its last byte (IPv4)
// or 16-bit group (IPv6) replaced by end.
func rangeEnd(first netip.Addr, end string) (netip.Addr, error) {
	if first.Is4() {
		n, err := parseUint(end, 0, 255)
		if err != nil {
			return netip.Addr{}, err
		}
		b := first.As4()
		b[3] = byte(n)
		return netip.AddrFrom4(b), nil
	}
	n, err := strconv.ParseUint(end, 16, 16)
	if err != nil {
		return netip.Addr{}, err
	}
	b := first.As16()
	b[14], b[15] = byte(n>>8), byte(n)
	return netip.AddrFrom16(b), nil
}

// splitCommand splits a keepalived script string into a program and its
// arguments: at spaces, with single quotes keeping spaces inside an
// argument (as keepalived does).
func splitCommand(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, started := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			started = true
		case !inQuote && (c == ' ' || c == '\t'):
			if started {
				out = append(out, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteByte(c)
			started = true
		}
	}
	if started {
		out = append(out, cur.String())
	}
	return out
}
