// Package dataplane is the data plane's runtime: cmd/dsrlb-dataplane
// parses flags, sets up logging and signals and hands the configuration
// to Start; Serve runs the main goroutine until a signal; Shutdown stops
// everything in order.
//
//	dataplane.go  Start, Serve, Shutdown; compile a model, Build, publish
//	commands.go   the command ring -> wire.Receiver -> Apply / Dump, events back
//	neighbors.go  real servers' MACs: learn from the workers, expire, ARP / NS
//	announce.go   gratuitous ARP and unsolicited NA, in bursts
//	kernel.go     the exception path between the workers and the TAP
//	counters.go   global and port counters in shared memory, the counters log line
//
// Its main goroutine owns every field; the worker lcores (package hw) share
// only the snapshot pointer, their rings and their counter blocks with it;
// the exception path's goroutine only the rings and its global counters.
package dataplane
