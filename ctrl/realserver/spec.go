package realserver

import (
	"dsrlb/conf"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Decapsulation choices for tunnel methods.
const (
	DecapAuto   = "auto"   // the kernel's tunnels if all their modules exist, else eBPF
	DecapKernel = "kernel" // tunl0, ip6tnl0, gre0, ip6gre0, fou
	DecapEBPF   = "ebpf"   // the tc program dsrlb-decap.o
)

// Styles of the l2dsr set-up.
const (
	// StyleVIP puts the VIPs on lo and stops the host from answering ARP
	// for them (the default; LVS's DR set-up).
	StyleVIP = "vip"
	// StyleRedirect leaves the VIPs off the host: an nftables rule in
	// prerouting redirects their packets to the interface's own address
	// (KLab's DSAS set-up). No ARP suppression is needed, VIPs come and
	// go without touching interfaces, and conntrack turns the replies'
	// source back into the VIP, so they still go straight to the client.
	StyleRedirect = "redirect"
)

// DefaultGUEPort is the UDP port of gue when Spec.GUEPort is 0.
const DefaultGUEPort = 6080

// Spec is what one real server needs for one method on one interface.
type Spec struct {
	Method conf.Method
	// VIPs are the virtual addresses the real server answers for.
	VIPs []netip.Addr
	// DSCP maps each VIP to its code 1..63 (method dscp only).
	DSCP map[netip.Addr]uint8
	// Interface faces the balancer.
	Interface string
	// Self are the real server's own addresses the balancer sends to:
	// the outer destination of tunnels, the rewritten destination of
	// dscp. Required for tunnels; optional for dscp (the rule then
	// matches any destination); unused by l2dsr.
	Self []netip.Addr
	// GUEPort is gue's UDP destination port; 0 means DefaultGUEPort.
	GUEPort uint16
	// Decap is "auto" (or empty), "kernel" or "ebpf"; tunnels only.
	Decap string
	// BPFObject is the path of dsrlb-decap.o, needed when decapsulating
	// with eBPF.
	BPFObject string
	// ClampMSS lowers the MSS of the SYN-ACKs from the VIPs so that the
	// client's segments still fit the path from the balancer once
	// encapsulated (tunnels only). See the package documentation.
	ClampMSS bool
	// PathMTU is the MTU between balancer and real server used for
	// ClampMSS; 0 means the interface's MTU, or 1500 if unknown.
	PathMTU int
	// Style is StyleVIP (or empty) or StyleRedirect (l2dsr only).
	Style string
}

// guePort is the effective GUE port.
func (s Spec) guePort() uint16 {
	if s.GUEPort == 0 {
		return DefaultGUEPort
	}
	return s.GUEPort
}

// families reports which IP versions appear in addrs.
func families(addrs []netip.Addr) (v4, v6 bool) {
	for _, a := range addrs {
		if a.Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	return v4, v6
}

// carriesAll reports whether the method takes every VIP's packets to one
// of the real server's own addresses (conf.Method.Carries: ipip has no
// IPv6 in IPv4).
func (s Spec) carriesAll() bool {
	for _, v := range s.VIPs {
		ok := false
		for _, a := range s.Self {
			ok = ok || s.Method.Carries(v.Is6(), a.Is6())
		}
		if !ok {
			return false
		}
	}
	return true
}

// Validate reports every problem of the spec, one error per problem, each
// naming the field (the flag of dsrlbctl realserver).
func (s Spec) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}

	if !s.Method.Valid() {
		bad("method", "%v", unknownMethod(s.Method.String()))
	}
	if err := checkInterface(s.Interface); err != nil {
		bad("iface", "%v", err)
	}

	if len(s.VIPs) == 0 {
		bad("vip", "at least one VIP is needed")
	}
	seen := map[netip.Addr]bool{}
	for _, v := range s.VIPs {
		if err := checkUnicast(v); err != nil {
			bad("vip", "%v", err)
			continue
		}
		if seen[v] {
			bad("vip", "%s given twice", v)
		}
		seen[v] = true
	}

	selfSeen := map[netip.Addr]bool{}
	for _, a := range s.Self {
		if err := checkUnicast(a); err != nil {
			bad("self", "%v", err)
			continue
		}
		if selfSeen[a] {
			bad("self", "%s given twice", a)
		}
		if seen[a] {
			bad("self", "%s is also a VIP; the real server's own address must differ", a)
		}
		selfSeen[a] = true
	}

	if s.Method == conf.MethodDSCP {
		s.validateDSCP(bad)
	} else if len(s.DSCP) > 0 {
		bad("dscp", "DSCP codes are for method dscp only")
	}

	switch {
	case s.Method.Tunnels():
		if len(s.Self) == 0 {
			bad("self", "method %s needs the real server's own address(es), the outer destination", s.Method)
		}
		if len(s.Self) > 0 && !s.carriesAll() {
			bad("self", "%s carries IPv6 VIPs only over IPv6 (RFC 2473): give an IPv6 address of the real server", s.Method)
		}
		switch s.Decap {
		case "", DecapAuto, DecapKernel, DecapEBPF:
		default:
			bad("decap", "unknown decapsulation %q (auto, kernel or ebpf)", s.Decap)
		}
	case s.Method == conf.MethodL2DSR && len(s.Self) > 0:
		bad("self", "l2dsr does not use the real server's address")
	}
	if !s.Method.Tunnels() {
		if s.Decap != "" && s.Decap != DecapAuto {
			bad("decap", "method %s needs no decapsulation", s.Method)
		}
		if s.ClampMSS {
			bad("clamp-mss", "method %s adds no header; nothing to clamp", s.Method)
		}
	}
	if s.GUEPort != 0 && s.Method != conf.MethodGUE {
		bad("gue-port", "only for method gue")
	}
	if s.PathMTU != 0 && (s.PathMTU < 1280 || s.PathMTU > 65535) {
		bad("path-mtu", "%d out of range 1280..65535", s.PathMTU)
	}
	switch s.Style {
	case "", StyleVIP:
	case StyleRedirect:
		if s.Method != conf.MethodL2DSR {
			bad("style", "style redirect is for method l2dsr (the other methods deliver to the server's own address already)")
		}
	default:
		bad("style", "unknown style %q (vip or redirect)", s.Style)
	}
	return errors.Join(errs...)
}

func (s Spec) validateDSCP(bad func(field, format string, args ...any)) {
	codes := map[uint8]netip.Addr{}
	for _, v := range s.VIPs {
		if !s.Method.CarriesVIP(v.Is6()) {
			bad("vip", "%s: method dscp is IPv4 only (the DSCP rewrite has no IPv6 form in dsrlb)", v)
			continue
		}
		c, ok := s.DSCP[v]
		if !ok {
			bad("dscp", "VIP %s has no DSCP code (give -dscp %s=N, N 1..63)", v, v)
			continue
		}
		if c < 1 || c > 63 {
			bad("dscp", "VIP %s: code %d out of range 1..63", v, c)
			continue
		}
		if other, dup := codes[c]; dup {
			bad("dscp", "code %d used for both %s and %s; codes must be unique on a real server", c, other, v)
		}
		codes[c] = v
	}
	for v := range s.DSCP {
		if !slices.Contains(s.VIPs, v) {
			bad("dscp", "code given for %s, which is not a VIP", v)
		}
	}
	for _, a := range s.Self {
		if !s.Method.CarriesTo(netip.Addr{}, a) {
			bad("self", "%s: method dscp is IPv4 only", a)
		}
	}
}

// ParseMethod parses the name of a forwarding method, as dsrlbctl
// realserver -method gives it.
func ParseMethod(name string) (conf.Method, error) {
	m, ok := conf.ParseMethod(name)
	if !ok {
		return 0, unknownMethod(name)
	}
	return m, nil
}

func unknownMethod(name string) error {
	var names []string
	for _, m := range conf.Methods() {
		names = append(names, m.String())
	}
	return fmt.Errorf("unknown method %q (one of %s)", name, strings.Join(names, ", "))
}

// checkUnicast accepts addresses a VIP or a real server can have.
func checkUnicast(a netip.Addr) error {
	switch {
	case !a.IsValid():
		return errors.New("missing address")
	case a.Is4In6():
		return fmt.Errorf("%s: write IPv4 addresses as IPv4", a)
	case a.Zone() != "":
		return fmt.Errorf("%s: no zone allowed", a)
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.IsLinkLocalUnicast():
		return fmt.Errorf("%s: not a usable unicast address", a)
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%s: not a usable unicast address", a)
	}
	return nil
}

// checkInterface accepts Linux interface names (IFNAMSIZ-1 bytes, no
// slash or white space), other than lo.
func checkInterface(name string) error {
	switch {
	case name == "":
		return errors.New("the interface facing the balancer is needed")
	case len(name) > 15:
		return fmt.Errorf("%q: longer than 15 bytes", name)
	case name == "." || name == "..":
		return fmt.Errorf("%q: not an interface name", name)
	case name == "lo":
		return errors.New("lo: give the interface facing the balancer (the VIPs go on lo by themselves)")
	case strings.ContainsAny(name, "/: \t\n\"'\\"):
		return fmt.Errorf("%q: not an interface name", name)
	}
	return nil
}
