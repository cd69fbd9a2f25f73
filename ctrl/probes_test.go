package ctrl

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"dsrlb/conf"
	"dsrlb/conf/wire"
)

// dsrConfig parses a configuration with the exception path, [ctrl] keys
// and services.
func dsrConfig(t *testing.T, ctrl, services string) *conf.Config {
	t.Helper()
	c, err := conf.Parse("p.toml", []byte(`[dataplane]
workers = [1]
address = "192.0.2.10/24"
address6 = "2001:db8::10/64"
tap = "dsrlb0"
[[dataplane.port]]
name = "p0"
device = "net_ring0"
[ctrl]
`+ctrl+"\n"+services))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dsrService is service name on vip with a DSR path check and real
// servers .21, .22, ... of the given last octets.
func dsrService(name, vip string, rs ...int) string {
	s := fmt.Sprintf("[[service]]\nname = %q\nvip = %q\nport = 80\n[service.dsr_check]\ntype = \"tcp\"\n", name, vip)
	for _, r := range rs {
		if strings.Contains(vip, ":") {
			s += fmt.Sprintf("[[service.backend]]\naddress = \"2001:db8::%d\"\n", r)
		} else {
			s += fmt.Sprintf("[[service.backend]]\naddress = \"192.0.2.%d\"\n", r)
		}
	}
	return s
}

func TestProbePortsStayAcrossReloads(t *testing.T) {
	c := dsrConfig(t, `dsr_probe_ports = "61000-61003"`, dsrService("a", "192.0.2.100", 21, 22)+dsrService("b", "192.0.2.101", 21)+
		"[[service]]\nname = \"plain\"\nvip = \"192.0.2.102\"\n[[service.backend]]\naddress = \"192.0.2.23\"\n")
	var pp probePorts
	pp = pp.assign(c)
	want := probePorts{"a/192.0.2.21": 61000, "a/192.0.2.22": 61001, "b/192.0.2.21": 61002}
	if fmt.Sprint(pp) != fmt.Sprint(want) {
		t.Fatalf("ports %v, want %v", pp, want)
	}
	if got := pp.probes(&c.Services[0]); len(got) != 2 || got[1] != (wire.Probe{Service: "a", Addr: netip.MustParseAddr("192.0.2.22"), Port: 61001}) {
		t.Fatalf("probes of a: %+v", got)
	}
	if got := pp.probes(&c.Services[2]); got != nil {
		t.Fatalf("probes of a service on all ports without a DSR path check: %+v", got)
	}
	// A TCP service on one port without a DSR path check: ports for
	// dsrlbctl doctor, after the checked ones and while the range lasts;
	// a UDP service: none.
	c2 := dsrConfig(t, `dsr_probe_ports = "61000-61002"`, "[[service]]\nname = \"plain\"\nvip = \"192.0.2.102\"\nport = 80\n"+
		"[[service.backend]]\naddress = \"192.0.2.31\"\n[[service.backend]]\naddress = \"192.0.2.32\"\n"+
		dsrService("a", "192.0.2.100", 21, 22)+"[[service]]\nname = \"dns\"\nvip = \"192.0.2.103\"\nport = 53\nprotocol = \"udp\"\n[[service.backend]]\naddress = \"192.0.2.33\"\n")
	got := probePorts(nil).assign(c2)
	if want := (probePorts{"a/192.0.2.21": 61000, "a/192.0.2.22": 61001, "plain/192.0.2.31": 61002}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ports %v, want %v", got, want)
	}

	// A reload drops a/.21 and adds a/.24 and b/.25: the others keep their
	// ports, the new ones take the lowest free ones.
	c = dsrConfig(t, `dsr_probe_ports = "61000-61003"`, dsrService("a", "192.0.2.100", 22, 24)+dsrService("b", "192.0.2.101", 21, 25))
	pp = pp.assign(c)
	want = probePorts{"a/192.0.2.22": 61001, "b/192.0.2.21": 61002, "a/192.0.2.24": 61000, "b/192.0.2.25": 61003}
	if fmt.Sprint(pp) != fmt.Sprint(want) {
		t.Fatalf("after the reload: %v, want %v", pp, want)
	}

	// A smaller range: ports outside it are given again.
	c = dsrConfig(t, `dsr_probe_ports = "61002-61005"`, dsrService("a", "192.0.2.100", 22, 24)+dsrService("b", "192.0.2.101", 21, 25))
	pp = pp.assign(c)
	want = probePorts{"b/192.0.2.21": 61002, "b/192.0.2.25": 61003, "a/192.0.2.22": 61004, "a/192.0.2.24": 61005}
	if fmt.Sprint(pp) != fmt.Sprint(want) {
		t.Fatalf("after shrinking the range: %v, want %v", pp, want)
	}
}

func TestDSRTargets(t *testing.T) {
	c := dsrConfig(t, "", dsrService("a", "192.0.2.100", 21)+dsrService("v6", "2001:db8::100", 21)+
		"[service.backend.check]\ntype = \"icmp\"\n")
	pp := probePorts(nil).assign(c)
	ts := Targets(c, func(string, *conf.Service) bool { return true }, nil, pp)
	var got []string
	for _, tg := range ts {
		got = append(got, tg.Key+" "+tg.Addr.String()+" "+tg.Config.Checker.String())
	}
	want := []string{
		"a/192.0.2.21/dsr 192.0.2.21 dsr path tcp :80 to 192.0.2.100 from 192.0.2.10:61000",
		"v6/2001:db8::21 2001:db8::21 icmp echo",
		"v6/2001:db8::21/dsr 2001:db8::21 dsr path tcp :80 to 2001:db8::100 from [2001:db8::10]:61001",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("targets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, tg := range ts {
		if err := tg.Config.Validate(); err != nil {
			t.Errorf("%s: %v", tg.Key, err)
		}
	}
}

func TestEvaluateDSRPath(t *testing.T) {
	c := dsrConfig(t, "", dsrService("a", "192.0.2.100", 21, 22, 23)+
		"[service.backend.check]\ntype = \"tcp\"\n")
	rs := func(n int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", n)) }
	h := Health{
		DSRTargetKey("a", rs(21)): true,
		DSRTargetKey("a", rs(22)): false,                               // its DSR set-up is broken
		DSRTargetKey("a", rs(23)): true, TargetKey("a", rs(23)): false, // answers through the DSR path only
	}
	p := Evaluate(c, h, nil)
	if got := sent(p, 0); got != "21:1:up" {
		t.Fatalf("sent %q, want only .21", got)
	}
	if p.Services[0].Healthy != 1 || !p.Services[0].Real[1].Checked {
		t.Fatalf("plan %+v", p.Services[0])
	}
	// Seeding from a data plane that runs .21 and .23: both checks of
	// those start up, .22's both down.
	seed := Seed(c, &Applied{Backends: map[string][]wire.Backend{"a": {{Addr: rs(21), State: wire.StateUp}, {Addr: rs(23), State: wire.StateUp}}}})
	want := Health{DSRTargetKey("a", rs(21)): true, DSRTargetKey("a", rs(22)): false, DSRTargetKey("a", rs(23)): true, TargetKey("a", rs(23)): true}
	if fmt.Sprint(seed) != fmt.Sprint(want) {
		t.Fatalf("seed %v, want %v", seed, want)
	}
}

// TestDaemonDSRPathCheck: a real server whose own-address check passes and
// whose DSR path check fails is taken out and shown as "DSR path broken";
// its probe stays in the data plane's state so it can come back. The
// fake data plane forwards nothing, so every address is loopback here: the
// "VIP" is a listener on the service's port, the own-address check
// another.
func TestDaemonDSRPathCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	vipLn, ownLn := newBackend(t), newBackend(t)
	h.dpExtra = "tap = \"dsrlb0\"\n"
	probe := freeTCPPort(t)
	h.config(fmt.Sprintf(`dsr_probe_ports = "%d-%d"
[[service]]
name = "web"
vip = "192.0.2.100"
port = %d
  [service.dsr_check]
  type = "tcp"
  interval = "100ms"
  timeout = "50ms"
  rise = 1
  fall = 1
  jitter = 0
  [[service.backend]]
  address = "192.0.2.21"
%s
`, probe, probe, vipLn.port, tcpCheck(ownLn.port)))
	f := startFakeDP(t, h.shmPath, testSlots, fakeState{})
	h.start()

	wantProbe := []wire.Probe{{Service: "web", Addr: netip.MustParseAddr("192.0.2.21"), Port: probe}}
	f.waitCommit(t, "the real server up, with its probe", func(s fakeState) bool {
		return eq(s.backends("web"), []string{"192.0.2.21:1:up"}) && fmt.Sprint(s.Probes["web"]) == fmt.Sprint(wantProbe)
	})
	rs := h.status().Services[0].RealServers[0]
	if rs.DSRPath == nil || rs.Health == nil || rs.Diagnosis != "" || !strings.HasPrefix(rs.DSRPath.Check, "dsr path tcp :") {
		t.Fatalf("status %+v dsr %+v", rs, rs.DSRPath)
	}

	// The VIP no longer answers; the real server's own address does.
	vipLn.stop()
	f.waitCommit(t, "the real server removed, its probe kept", func(s fakeState) bool {
		return len(s.backends("web")) == 0 && fmt.Sprint(s.Probes["web"]) == fmt.Sprint(wantProbe)
	})
	if !eventually(func() bool { return h.status().Services[0].RealServers[0].Diagnosis == DiagnosisDSRBroken }) {
		t.Fatalf("no diagnosis: %+v", h.status().Services[0].RealServers[0])
	}
	rs = h.status().Services[0].RealServers[0]
	if !rs.Health.Up || rs.DSRPath.Up || rs.State != StateRemoved || !strings.HasPrefix(rs.DSRPath.LastError, "dsr path via 192.0.2.21: connect 127.0.0.1:") {
		t.Fatalf("status %+v health %+v dsr %+v", rs, rs.Health, rs.DSRPath)
	}
	var out strings.Builder
	if err := h.status().WriteText(&out, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "removed (DSR path broken)") || !strings.Contains(out.String(), "\u2514 dsr path") {
		t.Fatalf("dsrlbctl status:\n%s", out.String())
	}

	// dsrlbctl doctor on the balancer: both checks at once.
	r, err := Call(h.sock, Request{Cmd: "probe"})
	if err != nil || !r.OK || len(r.Probes) != 1 {
		t.Fatalf("probe: %v %+v", err, r)
	}
	pr := r.Probes[0]
	if pr.Backend != "192.0.2.21" || pr.Method != "l2dsr" || pr.Own == nil || !pr.Own.OK || pr.DSRPath == nil || pr.DSRPath.OK ||
		!strings.HasPrefix(pr.DSRPath.Error, "dsr path via 192.0.2.21: connect 127.0.0.1:") || !strings.HasPrefix(pr.DSRPath.Check, "dsr path tcp :") {
		t.Fatalf("probe report %+v own %+v dsr %+v", pr, pr.Own, pr.DSRPath)
	}
	var rep strings.Builder
	if ok, err := WriteProbes(&rep, r.Probes); ok || err != nil ||
		!strings.Contains(rep.String(), "192.0.2.21 (service web): answers on its own address but not through the DSR path: its DSR set-up is broken.") ||
		!strings.Contains(rep.String(), fmt.Sprintf("On the real server run: dsrlbctl doctor -method l2dsr -iface IFACE -vip 192.0.2.100 -port %d", vipLn.port)) {
		t.Fatalf("report (ok %v, %v):\n%s", ok, err, rep.String())
	}

	vipLn.start()
	f.waitCommit(t, "the real server back", func(s fakeState) bool { return eq(s.backends("web"), []string{"192.0.2.21:1:up"}) })
	if r, err = Call(h.sock, Request{Cmd: "probe"}); err != nil || len(r.Probes) != 1 || !r.Probes[0].OK() {
		t.Fatalf("probe after the repair: %v %+v", err, r)
	}
	rep.Reset()
	if ok, err := WriteProbes(&rep, r.Probes); !ok || err != nil || !strings.Contains(rep.String(), "every real server answers on its own address and through the DSR path") {
		t.Fatalf("report after the repair (ok %v, %v):\n%s", ok, err, rep.String())
	}
	f.checkClean(t)
}

// freeTCPPort is a loopback port nothing listens on now.
func freeTCPPort(t *testing.T) uint16 {
	t.Helper()
	b := newBackend(t)
	b.stop()
	return uint16(b.port)
}
