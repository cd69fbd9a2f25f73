// Package perf measures dsrlb: it writes benchmark captures (N TCP flows
// to a VIP, 64-byte or mixed-size frames, IPv6 and noise variants) and
// runs the throughput benchmark that compares dsrlb-dataplane with
// dpdk-testpmd on the same core, virtual devices and capture.
//
// The shared-memory counter layout, the Prometheus collector and the
// Grafana dashboard will live here too; today the data plane logs its
// counters.
package perf
