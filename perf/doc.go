// Package perf measures dsrlb: it writes benchmark captures (N TCP flows
// to a VIP, 64-byte or mixed-size frames, IPv6 and noise variants) and
// runs the throughput benchmark that compares dsrlb-dataplane with
// dpdk-testpmd on the same core, virtual devices and capture.
//
// Its subpackages hold what the two processes share about measuring: shm,
// the shared-memory file with its rings and counter blocks, and counters,
// the table of every counter in it.
//
// It also holds what watches a running balancer: the Grafana dashboard
// (grafana/dsrlb.json, with provisioning files in grafana/provisioning)
// and the Prometheus alerting rules (alerts/dsrlb.rules.yml, unit tests
// for promtool in alerts/dsrlb.rules.test.yml). DashboardQueries and
// AlertExprs list their expressions; the tests check them against the
// exporter's metric names and with promtool.
package perf
