//go:build e2e

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"dsrlb/hw/testbed"
)

// dsrCheck is a [service.dsr_check] beside httpCheck (the own-address
// check): the same HTTP GET, through the DSR path.
const dsrCheck = `
  [service.dsr_check]
  type = "http"
  interval = "500ms"
  timeout = "250ms"
  rise = 1
  fall = 2
`

// dsrStatus is the part of dsrlbctl status -json the DSR path test reads.
type dsrStatus struct {
	Services []struct {
		RealServers []struct {
			Address   string `json:"address"`
			State     string `json:"state"`
			Diagnosis string `json:"diagnosis"`
			Health    *struct {
				Up        bool   `json:"up"`
				Running   bool   `json:"running"`
				LastError string `json:"last_error"`
			} `json:"health"`
			DSRPath *struct {
				Up        bool   `json:"up"`
				Running   bool   `json:"running"`
				LastError string `json:"last_error"`
			} `json:"dsr_path"`
		} `json:"real_servers"`
	} `json:"services"`
	Counters []struct {
		Name  string `json:"name"`
		Value uint64 `json:"value"`
	} `json:"counters"`
	Global []struct {
		Name  string `json:"name"`
		Value uint64 `json:"value"`
	} `json:"global_counters"`
}

func (b *ctrlBed) dsrStatus() dsrStatus {
	b.t.Helper()
	out, err := b.Exec(10*time.Second, testbed.RoleLB, ctlBin, "status", "-json", "-socket", b.CtrlSocket())
	if err != nil {
		b.t.Fatalf("dsrlbctl status: %v\n%s", err, out)
	}
	var st dsrStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		b.t.Fatalf("dsrlbctl status -json: %v\n%s", err, out)
	}
	return st
}

// TestDSRPathCheck: four real servers, three of them with a DSR set-up
// broken in a way a check of their own address cannot see (l2dsr: the VIP
// missing on lo; dscp: the nftables rule missing; gue: the decapsulation
// missing). Their own-address checks stay green; the DSR path check takes
// each down within fall x interval, dsrlbctl status says "DSR path
// broken", and no client request fails after that. Repaired, they return.
func TestDSRPathCheck(t *testing.T) {
	var setupErr error
	b := newCtrlBedWith(t, 4, 0, func(topo *testbed.L2) {
		topo.BackendKeys = []string{"", "weight = 1\n  method = \"dscp\"", "weight = 1\n  method = \"gue\""}
		setupErr = setupDSRServers(topo)
	}, "dscp = 10", httpCheck, dsrCheck)
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	vip := b.VIP.String()
	all := []string{"rs1", "rs2", "rs3", "rs4"}
	ld := b.startLoad(1500)
	ld.waitAnswers(t, time.Time{}, 3, all...)
	st := b.dsrStatus()
	for i, rs := range st.Services[0].RealServers {
		if rs.Health == nil || !rs.Health.Up || rs.DSRPath == nil || !rs.DSRPath.Up || rs.Diagnosis != "" {
			t.Fatalf("real server %d before the faults: %+v health %+v dsr %+v", i, rs, rs.Health, rs.DSRPath)
		}
	}

	// The faults, at once.
	faults := []struct {
		role, what string
		argv       []string
	}{
		{"rs1", "l2dsr: the VIP removed from lo", []string{"ip", "addr", "del", vip + "/32", "dev", "lo"}},
		{"rs2", "dscp: the nftables rule removed", []string{"nft", "delete", "table", "inet", "dsrlb_rs_dscp_eth0"}},
		{"rs3", "gue: the decapsulation removed", []string{"tc", "filter", "del", "dev", "eth0", "ingress", "pref", "1000"}},
	}
	broken := time.Now()
	for _, f := range faults {
		if out, err := b.Exec(10*time.Second, f.role, f.argv...); err != nil {
			t.Fatalf("%s: %v\n%s", f.what, err, out)
		}
	}
	var lastApplied time.Time
	for i, f := range faults {
		key := fmt.Sprintf("web/192.0.2.%d/dsr", 21+i)
		down := b.waitLog(b.ctrl, `msg="real server down" key=`+key, broken, 30*time.Second)
		d := down.Sub(broken)
		t.Logf("%s (%s): DSR path check down %v after the fault", f.role, f.what, d.Round(time.Millisecond))
		// fall x interval, plus the probe's timeout and a margin for a
		// busy machine.
		if limit := 2*500*time.Millisecond + 250*time.Millisecond + time.Second; d > limit {
			t.Errorf("%s: down after %v, want <= %v", f.role, d, limit)
		}
		if down.After(lastApplied) {
			lastApplied = down
		}
	}
	applied := b.waitLog(b.dp, "transaction applied", lastApplied, 30*time.Second)

	// Own-address checks green, the DSR path red: "DSR path broken".
	if !eventuallyTrue(10*time.Second, func() bool {
		st = b.dsrStatus()
		for i := range faults {
			rs := st.Services[0].RealServers[i]
			if rs.Diagnosis != "DSR path broken" || rs.Health == nil || !rs.Health.Up || rs.DSRPath.Up || rs.State != "removed" {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("status after the faults: %+v", st.Services[0].RealServers)
	}
	for i, f := range faults {
		rs := st.Services[0].RealServers[i]
		t.Logf("%s: state %s, %s; own-address check up; DSR path: %s", f.role, rs.State, rs.Diagnosis, rs.DSRPath.LastError)
	}
	text, err := b.Exec(10*time.Second, testbed.RoleLB, ctlBin, "status", "-socket", b.CtrlSocket())
	if err != nil || strings.Count(text, "removed (DSR path broken)") != 3 {
		t.Fatalf("dsrlbctl status: %v\n%s", err, text)
	}
	t.Logf("dsrlbctl status:\n%s", text)

	// The metrics say the same: DSR path down on three, up on rs4, whose
	// own-address checks all pass.
	metrics, err := b.Exec(10*time.Second, testbed.RoleLB, "curl", "-sSf", "http://"+metricsAddr+"/metrics")
	if err != nil {
		t.Fatalf("scrape: %v\n%s", err, metrics)
	}
	for i := 0; i < 4; i++ {
		rs := fmt.Sprintf(`backend="192.0.2.%d"`, 21+i)
		up, checks, fails := sampleValue(metrics, "dsrlb_backend_dsr_path_up", rs),
			sampleValue(metrics, "dsrlb_backend_dsr_path_checks_total", rs),
			sampleValue(metrics, "dsrlb_backend_dsr_path_check_failures_total", rs)
		own := sampleValue(metrics, "dsrlb_backend_check_consecutive_failures", rs)
		t.Logf("rs%d: dsr_path_up %v, %v checks, %v failures; own-address consecutive failures %v", i+1, up, checks, fails, own)
		wantUp, wantFails := 0.0, 2.0 // fall = 2
		if i == 3 {
			wantUp, wantFails = 1, 0
		}
		if up != wantUp || checks < 1 || fails < wantFails || (i == 3 && fails != 0) || own != 0 {
			t.Errorf("rs%d: dsrlb_backend_dsr_path_up %v (want %v), checks %v, failures %v, own-address consecutive failures %v",
				i+1, up, wantUp, checks, fails, own)
		}
	}

	// The doctor on the balancer sees the same: three real servers that
	// answer on their own address only, and what to run on each.
	doc, err := b.Exec(30*time.Second, testbed.RoleLB, ctlBin, "doctor", "-socket", b.CtrlSocket())
	t.Logf("dsrlbctl doctor on the balancer:\n%s", doc)
	if err == nil || strings.Count(doc, "answers on its own address but not through the DSR path") != 3 ||
		!strings.Contains(doc, "On the real server run: dsrlbctl doctor -method dscp -iface IFACE -dscp 192.0.2.100=10 -self 192.0.2.22 -port 80") ||
		!strings.Contains(doc, "On the real server run: dsrlbctl doctor -method gue -iface IFACE -vip 192.0.2.100 -self 192.0.2.23 -gue-port 6080 -port 80") {
		t.Fatalf("dsrlbctl doctor (err %v):\n%s", err, doc)
	}

	// From the moment the data plane applied the last removal, every
	// request is answered, by rs4.
	ld.waitAnswers(t, applied, 30, "rs4")
	mark := time.Now()

	// Repaired, they come back.
	if out, err := b.Exec(10*time.Second, "rs1", "ip", "addr", "add", vip+"/32", "dev", "lo"); err != nil {
		t.Fatalf("rs1 repair: %v\n%s", err, out)
	}
	if err := setupDSRServer(b.L2, 1); err != nil {
		t.Fatal(err)
	}
	if err := setupDSRServer(b.L2, 2); err != nil {
		t.Fatal(err)
	}
	for i := range faults {
		b.waitLog(b.ctrl, fmt.Sprintf(`msg="real server up" key=web/192.0.2.%d/dsr`, 21+i), mark, 30*time.Second)
	}
	back := time.Now()
	if doc, err := b.Exec(30*time.Second, testbed.RoleLB, ctlBin, "doctor", "-socket", b.CtrlSocket()); err != nil ||
		!strings.Contains(doc, "every real server answers on its own address and through the DSR path") {
		t.Fatalf("dsrlbctl doctor after the repair (err %v):\n%s", err, doc)
	}
	ld.waitAnswers(t, back.Add(500*time.Millisecond), 3, all...)
	ld.p.Stop(syscall.SIGTERM, 5*time.Second)
	samples := ld.samples(t)
	after := count(samples, applied, mark)
	t.Logf("answers while the three were out: %v; before the faults: %v; after the repair: %v",
		after, count(samples, time.Time{}, broken), count(samples, back.Add(500*time.Millisecond), time.Now()))
	if after["FAIL"] != 0 || after["rs1"]+after["rs2"]+after["rs3"] != 0 || after["rs4"] == 0 {
		t.Errorf("after the removals every request must be answered by rs4: %v", after)
	}
	st = b.dsrStatus()
	counters := map[string]uint64{}
	for _, c := range append(st.Counters, st.Global...) {
		counters[c.Name] = c.Value
	}
	t.Logf("dsr_probes %d, dsr_probe_drops %d, kernel_neighbor_replies %d", counters["dsr_probes"], counters["dsr_probe_drops"], counters["kernel_neighbor_replies"])
	if counters["dsr_probes"] == 0 || counters["kernel_neighbor_replies"] == 0 {
		t.Errorf("counters %v", counters)
	}
}

// dsrPathFamilies are the metric families of the DSR path check, exported
// only for real servers of a service with [service.dsr_check].
var dsrPathFamilies = map[string]bool{
	"dsrlb_backend_dsr_path_up":                   true,
	"dsrlb_backend_dsr_path_checks_total":         true,
	"dsrlb_backend_dsr_path_check_failures_total": true,
}

// conditionalFamily reports whether a metric family exists only with a
// configuration TestMetricsPrometheus's bed does not have: the DSR path
// check's (TestDSRPathCheck scrapes them) and BGP's (TestBGPECMP).
func conditionalFamily(name string) bool {
	return dsrPathFamilies[name] || strings.HasPrefix(name, "dsrlb_bgp_")
}

// setupDSRServers prepares rs2 for dscp and rs3 for gue (rs1 and rs4 keep
// the bed's l2dsr set-up).
func setupDSRServers(topo *testbed.L2) error {
	for _, i := range []int{1, 2} {
		if err := setupDSRServer(topo, i); err != nil {
			return err
		}
	}
	return nil
}

// setupDSRServer runs dsrlbctl realserver -apply on real server i: dscp
// for rs2, gue with the eBPF decapsulation for rs3.
func setupDSRServer(topo *testbed.L2, i int) error {
	role, self := testbed.ServerRole(i), topo.Servers[i].String()
	args := []string{ctlBin, "realserver", "-iface", "eth0", "-self", self, "-apply"}
	switch i {
	case 1:
		args = append(args, "-method", "dscp", "-dscp", topo.VIP.String()+"=10")
	case 2:
		args = append(args, "-method", "gue", "-vip", topo.VIP.String(), "-decap", "ebpf", "-bpf-object", decapObj)
	}
	if out, err := topo.Exec(60*time.Second, role, args...); err != nil {
		return fmt.Errorf("dsrlbctl realserver on %s: %v\n%s", role, err, out)
	}
	return nil
}

// eventuallyTrue polls ok every 50 ms until it holds or d has passed.
func eventuallyTrue(d time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
