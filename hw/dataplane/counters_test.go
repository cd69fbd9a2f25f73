package dataplane

import (
	"fmt"
	"testing"

	"dsrlb/perf/counters"
)

// TestCounterTables keeps the runtime's indices into the global and port
// blocks in step with the tables the control process reads them with.
func TestCounterTables(t *testing.T) {
	globals := map[int]string{gSnapshotGen: "snapshot_gen", gCommits: "commits", gCommitErrors: "commit_errors",
		gInjected: "injected", gInjectFailed: "inject_failed", gFromKernel: "from_kernel", gFromKernelDropped: "from_kernel_dropped",
		gToKernelSent: "to_kernel_sent", gToKernelDropped: "to_kernel_dropped", gEventsDropped: "events_dropped",
		gVRRPStates: "vrrp_states", gVRRPStateErrors: "vrrp_state_errors", gVRRPMasters: "vrrp_masters",
		gVRRPAnnouncements: "vrrp_announcements", gVRRPCtrlLost: "vrrp_ctrl_lost", gMbufs: "mbufs", gMbufsInUse: "mbufs_in_use", gRingResets: "command_ring_resets", gKernelNeighbor: "kernel_neighbor_replies"}
	if len(globals) != numGlobal || numGlobal != len(counters.Globals) {
		t.Fatalf("%d global indices, %d names, %d in the table", numGlobal, len(globals), len(counters.Globals))
	}
	for i, name := range globals {
		if counters.Globals[i].Name != name {
			t.Errorf("global %d is %q here, %q in the table", i, name, counters.Globals[i].Name)
		}
	}
	ports := map[int]string{pIMissed: "imissed", pRxNoMbuf: "rx_nombuf", pIErrors: "ierrors", pOErrors: "oerrors",
		pTxSent: "tx_sent", pTxRefused: "tx_refused"}
	if len(ports) != numPort || numPort != len(counters.Ports) {
		t.Fatalf("%d port indices, %d names, %d in the table", numPort, len(ports), len(counters.Ports))
	}
	for i, name := range ports {
		if counters.Ports[i].Name != name {
			t.Errorf("port counter %d is %q here, %q in the table", i, name, counters.Ports[i].Name)
		}
	}
}

// TestCounterLogLine: every counter of the tables reaches the counters log
// line (when not zero), ports' prefixed with the port's name, and drops is
// the sum of the drop verdicts.
func TestCounterLogLine(t *testing.T) {
	v := counters.Values{Workers: make([]uint64, len(counters.Workers)), Global: make([]uint64, len(counters.Globals))}
	for i := range v.Workers {
		v.Workers[i] = uint64(i + 1)
	}
	for i := range v.Global {
		v.Global[i] = uint64(100 + i)
	}
	for range 2 {
		pv := make([]uint64, len(counters.Ports))
		for i := range pv {
			pv[i] = uint64(200 + i)
		}
		v.Ports = append(v.Ports, pv)
	}
	attrs := counterAttrs(v, []string{"lan0"})
	got := map[string]uint64{}
	for i := 0; i+1 < len(attrs); i += 2 {
		got[attrs[i].(string)] = attrs[i+1].(uint64)
	}
	if attrs[0] != "rx_packets" {
		t.Errorf("first attribute %v, want rx_packets (the benchmark reads it)", attrs[0])
	}
	var drops uint64
	for i, d := range counters.Workers {
		if got[d.Name] != v.Workers[i] {
			t.Errorf("%s=%d in the log line, want %d", d.Name, got[d.Name], v.Workers[i])
		}
		if dropNames[d.Name] {
			drops += v.Workers[i]
		}
	}
	if drops == 0 || got["drops"] != drops || len(dropNames) == 0 {
		t.Errorf("drops=%d, want %d", got["drops"], drops)
	}
	for i, d := range counters.Globals {
		if got[d.Name] != v.Global[i] {
			t.Errorf("%s=%d in the log line, want %d", d.Name, got[d.Name], v.Global[i])
		}
	}
	for i, d := range counters.Ports {
		for p, name := range []string{"lan0", "port1"} {
			if k := fmt.Sprintf("%s_%s", name, d.Name); got[k] != v.Ports[p][i] {
				t.Errorf("%s=%d in the log line, want %d", k, got[k], v.Ports[p][i])
			}
		}
	}
	// Zero counters are left out, but for rx_packets and drops.
	zero := counterAttrs(counters.Values{Workers: make([]uint64, len(counters.Workers)), Global: make([]uint64, len(counters.Globals))}, nil)
	if len(zero) != 4 {
		t.Errorf("all-zero log line %v", zero)
	}
}
