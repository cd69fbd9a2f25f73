package conf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Method is a forwarding method: how the balancer hands a client's packet
// to a real server. This file is its only definition: the name the
// configuration, the wire and dsrlbctl use, the address families it can
// carry, the bytes it adds and whether it tunnels. The data plane
// (pipeline, encap), the control process and dsrlbctl realserver all read
// it from here.
type Method uint8

// Forwarding methods. The zero Method is invalid.
const (
	// MethodL2DSR rewrites the destination MAC (LVS "DR").
	MethodL2DSR Method = iota + 1
	// MethodDSCP rewrites the destination address to the real server's and
	// the DSCP to the code of the VIP (L3DSR).
	MethodDSCP
	// MethodIPIP adds an outer IP header (RFC 2003, RFC 2473).
	MethodIPIP
	// MethodGRE adds an outer IP header and a 4-byte GRE header (RFC 2784).
	MethodGRE
	// MethodGUE adds an outer IP header and a UDP header (GUE variant 1).
	MethodGUE

	numMethods
)

// MaxOverhead is the largest Overhead of any method: GUE over IPv6. Packet
// buffers keep at least this much headroom.
const MaxOverhead = ipv6HeaderLen + 8

const (
	ipv4HeaderLen = 20
	ipv6HeaderLen = 40
)

// methodInfo is what defines a method.
type methodInfo struct {
	name string
	// tunnel: the method adds an outer IP header of the real server's
	// family, and tunnelHeader more bytes after it.
	tunnel       bool
	tunnelHeader int
	// carries[vip6][rs6]: packets to a VIP of that family reach a real
	// server of that family.
	carries [2][2]bool
	// why a refused family combination is refused, for messages.
	why string
}

var methods = [numMethods]methodInfo{
	MethodL2DSR: {name: "l2dsr",
		// The client's packet leaves unchanged but for its MACs.
		carries: [2][2]bool{{true, false}, {false, true}},
		why:     "method l2dsr forwards the client's packet unchanged, so the server must be of the VIP's address family"},
	MethodDSCP: {name: "dscp",
		// L3DSR has no IPv6 form: the VIP's code rides in the IPv4 DSCP.
		carries: [2][2]bool{{true, false}, {false, false}},
		why:     "method dscp is IPv4-only (L3DSR carries the VIP in the IPv4 DSCP field)"},
	MethodIPIP: {name: "ipip", tunnel: true,
		// IPv4 in IPv4 or IPv6, IPv6 in IPv6; IPv6 in IPv4 is protocol 41,
		// which dsrlb does not speak.
		carries: [2][2]bool{{true, true}, {false, true}},
		why:     "ipip cannot carry IPv6 inside IPv4"},
	MethodGRE: {name: "gre", tunnel: true, tunnelHeader: 4,
		carries: [2][2]bool{{true, true}, {true, true}}},
	MethodGUE: {name: "gue", tunnel: true, tunnelHeader: 8,
		carries: [2][2]bool{{true, true}, {true, true}}},
}

// Methods lists every method, in the order of the documentation.
func Methods() []Method {
	out := make([]Method, 0, numMethods-1)
	for m := MethodL2DSR; m < numMethods; m++ {
		out = append(out, m)
	}
	return out
}

// ParseMethod returns the method called name, or false.
func ParseMethod(name string) (Method, bool) {
	for m := MethodL2DSR; m < numMethods; m++ {
		if methods[m].name == name {
			return m, true
		}
	}
	return 0, false
}

// Valid reports whether m is one of the methods.
func (m Method) Valid() bool { return m >= MethodL2DSR && m < numMethods }

// String is the method's name ("l2dsr", ...).
func (m Method) String() string {
	if m.Valid() {
		return methods[m].name
	}
	return "method(" + strconv.Itoa(int(m)) + ")"
}

// Tunnels reports whether m adds outer headers (ipip, gre, gue).
func (m Method) Tunnels() bool { return m.Valid() && methods[m].tunnel }

// Overhead is the number of bytes m adds to a packet with an IPv4 (outerV6
// false) or IPv6 outer header: 20, 24, 28 or 40, 44, 48 for the tunnels, 0
// for the others and for an invalid method.
func (m Method) Overhead(outerV6 bool) int {
	if !m.Tunnels() {
		return 0
	}
	if outerV6 {
		return ipv6HeaderLen + methods[m].tunnelHeader
	}
	return ipv4HeaderLen + methods[m].tunnelHeader
}

// Carries reports whether m takes packets to a VIP of one family (vip6:
// IPv6) to a real server of another (rs6: IPv6). This is the one
// definition of the address-family rules.
func (m Method) Carries(vip6, rs6 bool) bool {
	return m.Valid() && methods[m].carries[b2i(vip6)][b2i(rs6)]
}

// CarriesVIP reports whether m forwards packets to a VIP of that family
// (vip6: IPv6) to a real server of any family.
func (m Method) CarriesVIP(vip6 bool) bool { return m.Carries(vip6, false) || m.Carries(vip6, true) }

// CarriesTo reports whether m takes packets to a real server of rs's
// family for a VIP of vip's family; with vip invalid (not known), for a VIP
// of either family.
func (m Method) CarriesTo(vip, rs netip.Addr) bool {
	if !vip.IsValid() {
		return m.Carries(false, rs.Is6()) || m.Carries(true, rs.Is6())
	}
	return m.Carries(vip.Is6(), rs.Is6())
}

// Why says why m refuses some address-family combinations ("" for the
// methods that carry every one).
func (m Method) Why() string {
	if !m.Valid() {
		return ""
	}
	return methods[m].why
}

// Alternatives lists, joined for a message ("ipip, gre or gue"), the
// routed methods other than m that carry packets to a VIP of family vip6
// to a real server of family rs6.
func (m Method) Alternatives(vip6, rs6 bool) string {
	return joinMethods(m.alternatives(vip6, rs6), " or ")
}

func (m Method) alternatives(vip6, rs6 bool) []Method {
	var out []Method
	for o := MethodL2DSR; o < numMethods; o++ {
		if o != m && o != MethodL2DSR && o.Carries(vip6, rs6) {
			out = append(out, o)
		}
	}
	return out
}

// FamilyError is nil when m carries packets for vip to real server rs,
// else an error saying why not and what would.
func (m Method) FamilyError(vip, rs netip.Addr) error {
	if m.CarriesTo(vip, rs) {
		return nil
	}
	msg := fmt.Sprintf("%s to %s real server %s", m.Why(), family(rs), rs)
	if vip.IsValid() {
		msg = fmt.Sprintf("%s for %s VIP %s", msg, family(vip), vip)
		if alt := m.Alternatives(vip.Is6(), rs.Is6()); alt != "" {
			msg += "; use " + alt
		}
	}
	return fmt.Errorf("%s", msg)
}

// joinMethods joins names as "a, b<last>c".
func joinMethods(ms []Method, last string) string {
	var b strings.Builder
	for i, m := range ms {
		switch {
		case i == 0:
		case i == len(ms)-1:
			b.WriteString(last)
		default:
			b.WriteString(", ")
		}
		b.WriteString(m.String())
	}
	return b.String()
}

// methodNameList is the list of valid names for messages:
// "l2dsr", "dscp", ...
func methodNameList() string {
	var names []string
	for _, m := range Methods() {
		names = append(names, strconv.Quote(m.String()))
	}
	return strings.Join(names, ", ")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
