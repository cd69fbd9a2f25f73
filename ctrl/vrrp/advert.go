package vrrp

import (
	"net/netip"
	"time"
)

// Advert is a VRRP advertisement, version 2 or 3, decoded.
type Advert struct {
	Version  int   // 2 or 3
	VRID     uint8 // 1..255
	Priority uint8 // 0: the master stops; 255: the address owner
	// Interval is the advertisement interval: whole seconds in version 2
	// (1..255 s), centiseconds in version 3 (10 ms .. 40.95 s).
	Interval time.Duration
	// Addrs are the virtual addresses, all of one family: IPv4 for
	// version 2, IPv4 or IPv6 for version 3.
	Addrs []netip.Addr
	// AuthPass is version 2's simple text password (authentication type
	// 1, keepalived's "auth_type PASS"), at most 8 bytes; "" is type 0.
	AuthPass string
}

// Cause names why a received advertisement was not acted upon. Each cause
// is counted and logged once per instance (or per socket, for causes found
// before an instance is known).
type Cause int

// Causes, in the order the checks run.
const (
	CauseNone        Cause = iota
	CauseTruncated         // shorter than its header or its address list
	CauseVersion           // not the version the instance runs, or neither 2 nor 3
	CauseType              // type is not 1 (advertisement)
	CauseTTL               // IPv4 TTL or IPv6 hop limit is not 255
	CauseChecksum          // checksum does not match
	CauseUnknownVRID       // no instance for this VRID on this interface
	CauseAuthType          // version 2 authentication type not the configured one (or type 2, AH, never supported)
	CauseAuthPass          // version 2 password differs
	CauseInterval          // version 2 interval differs from the instance's (version 3 adopts the master's)
	CauseAddrList          // the virtual addresses differ from the instance's
	CauseAddrFamily        // addresses of the other family, or a count that does not fit
	CauseSource            // source not one of the unicast peers, or our own address looped back
	CauseCount             // number of causes; not a cause
)

var causeNames = [...]string{
	CauseNone:        "none",
	CauseTruncated:   "truncated",
	CauseVersion:     "version",
	CauseType:        "type",
	CauseTTL:         "ttl",
	CauseChecksum:    "checksum",
	CauseUnknownVRID: "unknown_vrid",
	CauseAuthType:    "auth_type",
	CauseAuthPass:    "auth_pass",
	CauseInterval:    "interval",
	CauseAddrList:    "address_list",
	CauseAddrFamily:  "address_family",
	CauseSource:      "source",
}

// String is the cause's name as logs and metrics show it.
func (c Cause) String() string {
	if c >= 0 && int(c) < len(causeNames) && causeNames[c] != "" {
		return causeNames[c]
	}
	return "unknown"
}

// Error is a received advertisement's defect.
type Error struct {
	Cause  Cause
	Detail string
}

func (e *Error) Error() string { return "vrrp: " + e.Cause.String() + ": " + e.Detail }
