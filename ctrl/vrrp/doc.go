// Package vrrp is dsrlb-ctrl's Virtual Router Redundancy Protocol: version
// 3 (RFC 9568, which replaces RFC 5798) for IPv4 and IPv6 and version 2
// (RFC 3768) for IPv4, interoperable with keepalived.
//
// The package has three layers:
//   - the advertisement codec (packet.go): Advert, Append and Parse, with
//     the checksum of each version;
//   - the state machine of one virtual router (machine.go), driven by the
//     caller's clock: it never reads the time nor starts a timer itself,
//     so every RFC transition is tested on a fake clock;
//   - the speaker (speaker.go), which owns the raw sockets on the
//     exception path's kernel interface, runs the machines of every
//     instance in one goroutine and reports their transitions.
package vrrp
