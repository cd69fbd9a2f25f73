// Package ctrl is the control process, dsrlb-ctrl: it runs the health
// checks of the real servers (package health), turns their results into
// the effective state of every service (Evaluate: up, inhibited or removed
// real servers, quorum with hysteresis, sorry server), and keeps the data
// plane's forwarding state equal to it over the shared-memory command ring
// (packages perf/shm and conf/wire; it reads the counters there through
// perf/counters). It imports nothing of the data plane. It reloads its configuration on request and
// answers dsrlbctl on a Unix socket (Request, Response, Status, Call).
//
// # Talking to the data plane
//
// At start, Daemon waits for the data plane's shared-memory file (ready,
// heartbeat younger than 3 s), sends Dump and seeds the health state of
// every checked real server from the applied state (Seed): what the data
// plane forwards to now stays, so a restarted dsrlb-ctrl moves no flow.
// Then every change of the effective state is pushed as one transaction
// (SyncBegin, Service and its Backends per service, SyncCommit), which the
// data plane answers with Applied. A transaction is pushed only when the
// whole of it fits in the ring (a larger one is streamed), so a data plane
// that stops consuming never sees half a transaction followed by a
// SyncCommit; after 5 s without room the transaction is dropped and pushed
// again later, complete.
//
// A new file at the path with another boot id is a restarted data plane:
// dsrlb-ctrl maps it and pushes the full state. A data plane whose
// heartbeat stops is logged once; the checks go on. On exit nothing is
// sent: the data plane keeps forwarding with the last state (fail static).
package ctrl
