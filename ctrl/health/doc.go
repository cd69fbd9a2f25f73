// Package health holds dsrlb-ctrl's health checkers and the per-real-server
// state machine that turns their results into up/down decisions.
//
// A Checker probes one real server once (TCP connect, HTTP(S) GET, ICMP
// echo, UDP probe, external script). It sends traffic only to the address it
// is given and must return by the deadline of the context it is called with.
//
// A Monitor runs one goroutine per target (a real server of a service),
// probing it every Config.Interval (with jitter) and applying rise/fall
// hysteresis. Every up/down change, and the initial state of every new
// target, is logged and sent as an Event; the consumer (the code that tells
// the data plane which real servers may receive traffic) reads the channel.
package health
