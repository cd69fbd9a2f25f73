package pipeline

import "dsrlb/conf"

// Scheduling: the real server of a new flow. Each service's scheduler is
// compiled into its snapshot (service.sched) and the worker switches on
// it, with no interface call: one file per scheduler (sched_*.go). Only a
// flow's first packet is scheduled; connection tracking keeps the rest.
//
// A packet of an established TCP flow that has no entry (the entry
// expired or was evicted, or the flow started on the other balancer of a
// VRRP pair) is not a new connection: a scheduler that keeps state would
// send it to a server that has never seen the connection. Such packets
// are given to Maglev, which picks from the flow alone, as a consistent
// scheduler would on any balancer with the same configuration; the flow is
// then tracked there. For maglev and sh that is their own choice.

// pick chooses the real server of a new flow of svc: an index into
// svc.hops, or noHop when no real server takes new flows. A flow that
// does not open a connection goes to Maglev.
func (w *Worker) pick(svc *service, p *Packet, opens bool) uint16 {
	if !opens {
		return maglevPick(svc, p)
	}
	switch svc.sched {
	case conf.SchedRR:
		return w.roundRobin(svc, false)
	case conf.SchedWRR:
		return w.roundRobin(svc, true)
	case conf.SchedLC:
		return w.leastConns(svc, false)
	case conf.SchedWLC:
		return w.leastConns(svc, true)
	case conf.SchedTwoS:
		return w.twoChoices(svc, p.flow)
	case conf.SchedFO:
		return svc.fo
	}
	return maglevPick(svc, p) // maglev, sh
}

// opens reports whether a packet without a connection-tracking entry
// starts a connection: a TCP SYN without ACK, or any UDP datagram (UDP
// has no handshake).
func opens(p *Packet) bool {
	return p.udp || p.tcpFlags&(tcpSYN|tcpACK|tcpRST) == tcpSYN
}
