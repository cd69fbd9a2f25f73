// Package wire is what dsrlb-ctrl and dsrlb-dataplane say to each other
// over the shared-memory rings (package perf/shm): the messages, their
// encoding, the configuration as it travels (ServiceOf, BackendOf,
// BootModel) and the data plane's side of the transaction protocol
// (Receiver), which the data plane and the tests' fake data plane both use.
// Neither process imports the other; both import this package, perf/shm
// and perf/counters, which together are the contract between them.
//
// The control process owns the forwarding state: on every change (start,
// reload, a real server going up or down) it sends the complete state as
// one transaction, SyncBegin, Service, Backend and Probe messages, SyncCommit. The
// data plane stages the messages and, on commit, compiles one new snapshot
// and swaps it in atomically; a transaction cut short (a control process
// killed half-way) is discarded at the next SyncBegin and never applied.
// Compilation reuses the Maglev table of every service whose scheduled set
// did not change and connection tracking keeps established flows, so a full
// transaction changes only what differs.
//
//	dsrlb-ctrl                             dsrlb-dataplane (Receiver)
//	SyncBegin{gen}        ---------->      opens gen (an open one is discarded)
//	Service, Backend..., Probe...  ------> staged; a bad one fails the commit
//	SyncCommit{gen}       ---------->      Handler.Apply(model): all or nothing
//	                      <----------      Applied{gen, snapshot, error}
//	Dump{token}           ---------->      the applied model, then
//	                      <----------      DumpService, DumpBackend..., Neighbor..., DumpEnd{token}
//	                      <----------      Hello (at start), Neighbor (a MAC resolved or expired)
//
// Messages are JSON in one ring slot each. They are small and few (the
// rings carry configuration, not packets), and JSON keeps them readable in
// a debugger and easy to extend: unknown fields are ignored.
package wire
