package ctrl

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"dsrlb/conf"
	"dsrlb/ctrl/bgp/bgptest"
)

// rsDef is a real server of bgpConfigFor: 192.0.2.(21+idx), its
// weight, and the loopback port its check probes.
type rsDef struct{ idx, weight, port int }

// bgpConfigFor is a service "web" announced by BGP over tcp-checked real
// servers, and [bgp] (with bgpKeys) towards the test router.
func bgpConfigFor(r *bgptest.Router, bgpKeys string, backends ...rsDef) string {
	s := "[[service]]\nname = \"web\"\nvip = \"192.0.2.100\"\nport = 80\nbgp = true\n"
	for _, b := range backends {
		s += fmt.Sprintf("  [[service.backend]]\n  address = \"192.0.2.%d\"\n  weight = %d\n%s\n", 21+b.idx, b.weight, tcpCheck(b.port))
	}
	return s + fmt.Sprintf(`
[bgp]
asn = 65001
drain_delay = "2s"
dataplane_timeout = "200ms"
%s

[[bgp.neighbor]]
address = "127.0.0.1"
asn = 65000
port = %d
multihop = 1
hold_time = "9s"
`, bgpKeys, r.Port)
}

// TestDaemonBGP runs dsrlb-ctrl with a fake data plane against a GoBGP
// router on loopback: nothing is announced before the data plane applied
// this process's state; the VIP follows its service's health and the
// data plane's heartbeat; a learnt route is counted; a reload that
// reorders real servers keeps the table and says nothing, one that
// changes a weight warns, one that changes [bgp] is refused; a stop
// drains with GRACEFUL_SHUTDOWN for drain_delay, then withdraws.
func TestDaemonBGP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	r := bgptest.New(t, "127.0.0.2", 65001)
	a, b := newBackend(t), newBackend(t)
	h.dpExtra = "tap = \"dsrlb0\"\n"
	h.bgpAddr = netip.MustParseAddr("127.0.0.2")
	write := func(bgpKeys string, backends ...rsDef) { h.config(bgpConfigFor(r, bgpKeys, backends...)) }
	write("", rsDef{0, 1, a.port}, rsDef{1, 1, b.port})
	f := startFakeDP(t, h.shmPath, testSlots, fakeState{})
	f.setPaused(true)
	h.start()

	// In session, but the data plane has applied nothing of this
	// process: nothing announced.
	prefix := func() (BGPStatus, string) {
		st := h.status().BGP
		if st == nil || len(st.Prefixes) != 1 {
			return BGPStatus{}, ""
		}
		return *st, st.Prefixes[0].Reason
	}
	if !eventually(func() bool {
		st, reason := prefix()
		return len(st.Peers) == 1 && st.Peers[0].State == "established" && reason == "data plane: no state of this control process applied yet"
	}) {
		t.Fatalf("status %+v", h.status().BGP)
	}
	if got := r.Routes(); len(got) != 0 {
		t.Fatalf("the router has %v before the data plane applied anything", got)
	}

	f.setPaused(false)
	f.waitCommit(t, "both real servers up", func(s fakeState) bool { return len(s.backends("web")) == 2 })
	if !eventually(func() bool { rt, ok := r.Routes()["192.0.2.100/32"]; return ok && rt.NextHop == "127.0.0.2" }) {
		t.Fatalf("not announced: %v", r.Routes())
	}

	// The router sends a route: counted, ignored.
	r.Announce("203.0.113.0", 24)
	if !eventually(func() bool { st, _ := prefix(); return len(st.Peers) == 1 && st.Peers[0].RoutesReceived == 1 }) {
		t.Fatalf("route not counted: %+v", h.status().BGP)
	}

	// Both real servers down: withdrawn; one back: announced.
	a.stop()
	b.stop()
	if !eventually(func() bool { return len(r.Routes()) == 0 }) {
		t.Fatal("not withdrawn with every real server down")
	}
	if _, reason := prefix(); reason != "service web down" {
		t.Errorf("reason %q", reason)
	}
	a.start()
	if !eventually(func() bool { return len(r.Routes()) == 1 }) {
		t.Fatal("not announced again")
	}
	b.start()
	f.waitCommit(t, "both real servers up again", func(s fakeState) bool { return len(s.backends("web")) == 2 })

	// Reloads: the order of real servers does not change the table; a
	// weight does (a warning); [bgp] cannot change without a restart.
	fp := h.status().Services[0].TableFingerprint
	write("", rsDef{1, 1, b.port}, rsDef{0, 1, a.port})
	if err := h.d.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	const warning = "this configuration changes the service's table"
	if n := logged(h.logs, warning); n != 0 || h.status().Services[0].TableFingerprint != fp {
		t.Errorf("reordering: %d warnings, fingerprint %s -> %s", n, fp, h.status().Services[0].TableFingerprint)
	}
	write("", rsDef{0, 2, a.port}, rsDef{1, 1, b.port})
	if err := h.d.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := logged(h.logs, warning); n != 1 {
		t.Errorf("a weight changed: %d warnings", n)
	}
	if !eventually(func() bool { return h.status().Services[0].TableFingerprint != fp }) {
		t.Error("the fingerprint did not change with the weight")
	}
	write("communities = [\"65001:7\"]", rsDef{0, 2, a.port}, rsDef{1, 1, b.port})
	if err := h.d.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), "the [bgp] table changed: restart dsrlb-ctrl") {
		t.Errorf("reload of [bgp]: %v", err)
	}

	// A data plane that stops beating: withdrawn; beating again: back.
	f.setSilent(true)
	if !eventually(func() bool { return len(r.Routes()) == 0 }) {
		t.Fatal("not withdrawn with the data plane silent")
	}
	if _, reason := prefix(); !strings.HasPrefix(reason, "data plane: heartbeat ") {
		t.Errorf("reason %q", reason)
	}
	f.setSilent(false)
	if !eventually(func() bool { return len(r.Routes()) == 1 }) {
		t.Fatal("not announced again")
	}

	// Status text and metrics.
	var out strings.Builder
	if err := h.status().WriteText(&out, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"BGP: AS 65001, router id 192.0.2.10", "127.0.0.1", "established", "192.0.2.100/32", "announced", "service web up", "(announced by BGP"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status text lacks %q:\n%s", want, out.String())
		}
	}
	page := h.get("/")
	for _, want := range []string{`data-peer="127.0.0.1" data-state="established"`, `data-prefix="192.0.2.100/32" data-announced="true"`, `service web up`, `(announced by BGP)`} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	text := h.get("/metrics")
	for _, want := range []string{`dsrlb_bgp_peer_up{peer="127.0.0.1",peer_asn="65000"} 1`, `dsrlb_bgp_prefix_announced{prefix="192.0.2.100/32"} 1`,
		`dsrlb_bgp_peer_routes_received{peer="127.0.0.1",peer_asn="65000"} 1`, `dsrlb_bgp_draining 0`, `dsrlb_service_table_info{config="`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// A clean stop: GRACEFUL_SHUTDOWN, then withdrawn, then Run returns.
	stopped := time.Now()
	h.cancel()
	h.cancel = nil
	if !eventually(func() bool {
		return slices.Contains(r.Routes()["192.0.2.100/32"].Communities, conf.GracefulShutdown)
	}) {
		t.Fatal("no GRACEFUL_SHUTDOWN while draining")
	}
	if err := <-h.runErr; err != nil {
		t.Fatal(err)
	}
	if d := time.Since(stopped); d < 2*time.Second {
		t.Errorf("Run returned %s after the stop, before drain_delay 2s", d)
	}
	if !eventually(func() bool { return len(r.Routes()) == 0 }) {
		t.Fatal("routes left after the stop")
	}
	if !strings.Contains(h.logs.String(), "stopping: the VIPs are withdrawn") {
		t.Error("no log of the end of the drain")
	}
}
