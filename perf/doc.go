// Package perf will hold the shared-memory counter layout, the Prometheus
// collector, the Grafana dashboard and the throughput benchmarks. It is not
// written yet; today the data plane logs its counters.
package perf
