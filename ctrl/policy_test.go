package ctrl

import (
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"dsrlb/conf"
	"dsrlb/conf/wire"
)

// policyConfig parses a configuration with the given services.
func policyConfig(t *testing.T, services string) *conf.Config {
	t.Helper()
	c, err := conf.Parse("p.toml", []byte(`[dataplane]
workers = [1]
address = "192.0.2.10/24"
[[dataplane.port]]
name = "p0"
device = "net_ring0"
`+services))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// svcWith returns a service "s" with extra keys and backends .21, .22, ...
// of the given weights, all with a tcp check.
func svcWith(extra string, weights ...int) string {
	s := "[[service]]\nname = \"s\"\nvip = \"192.0.2.100\"\nport = 80\n" + extra + "\n[service.check]\ntype = \"tcp\"\n"
	for i, w := range weights {
		s += fmt.Sprintf("[[service.backend]]\naddress = \"192.0.2.%d\"\nweight = %d\n", 21+i, w)
	}
	return s
}

// up builds a Health for service "s": "21" etc. are up, the rest down.
func up(c *conf.Config, addrs ...string) Health {
	h := Health{}
	for _, s := range c.Services {
		for _, b := range s.Backends {
			if b.Check != nil {
				h[TargetKey(s.Name, b.Address)] = false
			}
		}
	}
	for _, a := range addrs {
		h[TargetKey("s", netip.MustParseAddr("192.0.2."+a))] = true
	}
	return h
}

// sent renders a plan's backends of service i as "ADDR:WEIGHT:STATE".
func sent(p *Plan, i int) string {
	var out []string
	for _, b := range p.Services[i].Backends {
		out = append(out, fmt.Sprintf("%s:%d:%s", strings.TrimPrefix(b.Addr.String(), "192.0.2."), b.Weight, b.State))
	}
	return strings.Join(out, " ")
}

func TestEvaluateRealServers(t *testing.T) {
	for _, tt := range []struct {
		name    string
		extra   string
		weights []int
		up      []string
		want    string // backends sent
		states  string // per real server
		sorry   bool
		quorum  bool
	}{
		{"all up", "", []int{1, 2}, []string{"21", "22"}, "21:1:up 22:2:up", "up up", false, true},
		{"one down: removed", "", []int{1, 2}, []string{"22"}, "22:2:up", "removed up", false, true},
		{"one down: inhibited", "inhibit_on_failure = true", []int{1, 2}, []string{"22"}, "21:0:inhibited 22:2:up", "inhibited up", false, true},
		{"weight 0 healthy: drained", "", []int{0, 2}, []string{"21", "22"}, "21:0:inhibited 22:2:up", "inhibited up", false, true},
		{"weight 0 down, no inhibit: removed", "", []int{0, 2}, []string{"22"}, "22:2:up", "removed up", false, true},
		{"weight 0 down, inhibit", "inhibit_on_failure = true", []int{0, 2}, []string{"22"}, "21:0:inhibited 22:2:up", "inhibited up", false, true},
		{"none healthy, no sorry", "", []int{1, 1}, nil, "", "removed removed", false, false},
		{"none healthy, inhibit, no sorry", "inhibit_on_failure = true", []int{1, 1}, nil, "21:0:inhibited 22:0:inhibited", "inhibited inhibited", false, false},
		{"none healthy: sorry", `sorry_server = "192.0.2.30"`, []int{1, 1}, nil, "30:1:sorry", "removed removed", true, false},
		{"none healthy, inhibit: sorry alone", "inhibit_on_failure = true\nsorry_server = \"192.0.2.30\"", []int{1, 1}, nil, "30:1:sorry", "removed removed", true, false},
		{"one healthy: no sorry", `sorry_server = "192.0.2.30"`, []int{1, 1}, []string{"21"}, "21:1:up", "up removed", false, true},
		{"quorum 0, only weight 0 healthy: sorry", "quorum = 0\nsorry_server = \"192.0.2.30\"", []int{0, 1}, []string{"21"}, "30:1:sorry", "removed removed", true, true},
		{"quorum not met: sorry", "quorum = 3\nsorry_server = \"192.0.2.30\"", []int{2, 2}, []string{"21"}, "30:1:sorry", "removed removed", true, false},
		{"quorum not met, no sorry: healthy anyway", "quorum = 3", []int{2, 2}, []string{"21"}, "21:2:up", "up removed", false, false},
		{"quorum met exactly", "quorum = 4\nsorry_server = \"192.0.2.30\"", []int{2, 2}, []string{"21", "22"}, "21:2:up 22:2:up", "up up", false, true},
	} {
		c := policyConfig(t, svcWith(tt.extra, tt.weights...))
		p := Evaluate(c, up(c, tt.up...), nil)
		sp := p.Services[0]
		var states []string
		for _, r := range sp.Real {
			states = append(states, r.State)
		}
		if got := sent(p, 0); got != tt.want || strings.Join(states, " ") != tt.states || sp.SorryActive != tt.sorry || sp.QuorumUp != tt.quorum {
			t.Errorf("%s: sent %q states %q sorry %v quorum %v; want %q %q %v %v", tt.name, got, states, sp.SorryActive, sp.QuorumUp, tt.want, tt.states, tt.sorry, tt.quorum)
		}
		if len(p.Changes) != 0 {
			t.Errorf("%s: quorum changes without history: %+v", tt.name, p.Changes)
		}
	}
}

func TestEvaluateWireFormat(t *testing.T) {
	c := policyConfig(t, `[[service]]
name = "dns"
vip = "192.0.2.101"
protocol = "udp"
hash = "source-ip"
table_size = 251
[[service.backend]]
address = "192.0.2.31"
weight = 3
[[service.backend]]
address = "192.0.2.32"
[service.backend.check]
type = "icmp"
`)
	// .31 has no check: always healthy; .32 is checked and down.
	p := Evaluate(c, Health{}, nil)
	a := netip.MustParseAddr
	want := ServicePlan{
		Service:  wire.Service{Name: "dns", VIP: a("192.0.2.101"), Proto: 17, Port: 0, Method: "l2dsr", SourceIP: true, TableSize: 251},
		Backends: []wire.Backend{{Service: "dns", Addr: a("192.0.2.31"), Weight: 3, State: "up"}},
		Real: []RealServer{
			{Addr: a("192.0.2.31"), Weight: 3, Checked: false, Healthy: true, EffectiveWeight: 3, State: "up"},
			{Addr: a("192.0.2.32"), Weight: 1, Checked: true, Healthy: false, State: "removed"},
		},
		Healthy: 1, HealthyWeight: 3, Quorum: 1, QuorumUp: true, Capacity: true,
	}
	if !reflect.DeepEqual(p.Services[0], want) {
		t.Errorf("plan\n got %+v\nwant %+v", p.Services[0], want)
	}
	if !reflect.DeepEqual(p.Quorum, QuorumState{"dns": true}) {
		t.Errorf("quorum state %v", p.Quorum)
	}
}

func TestEvaluateQuorumHysteresis(t *testing.T) {
	// Weights 1+1+1+1, quorum 3, hysteresis 1: with quorum up it is lost
	// below 2; once lost it comes back at 4.
	c := policyConfig(t, svcWith("quorum = 3\nhysteresis = 1\nsorry_server = \"192.0.2.30\"", 1, 1, 1, 1))
	steps := []struct {
		up      []string
		quorum  bool
		change  string // "", "lost", "restored"
		backend string
	}{
		{[]string{"21", "22", "23", "24"}, true, "", "21:1:up 22:1:up 23:1:up 24:1:up"},
		{[]string{"21", "22", "23"}, true, "", "21:1:up 22:1:up 23:1:up"},
		{[]string{"21", "22"}, true, "", "21:1:up 22:1:up"}, // 2 is below quorum but inside the band
		{[]string{"21"}, false, "lost", "30:1:sorry"},       // 1 < 3-1
		{[]string{"21", "22"}, false, "", "30:1:sorry"},     // band: stays lost
		{[]string{"21", "22", "23"}, false, "", "30:1:sorry"},
		{[]string{"21", "22", "23", "24"}, true, "restored", "21:1:up 22:1:up 23:1:up 24:1:up"}, // 4 >= 3+1
		{[]string{"21", "22"}, true, "", "21:1:up 22:1:up"},
		{nil, false, "lost", "30:1:sorry"},
	}
	var q QuorumState
	for i, st := range steps {
		h := up(c, st.up...)
		qBefore := maps.Clone(q)
		p := Evaluate(c, h, q)
		sp := p.Services[0]
		change := ""
		if len(p.Changes) == 1 {
			change = map[bool]string{true: "restored", false: "lost"}[p.Changes[0].Up]
			if ch := p.Changes[0]; ch.Service != "s" || ch.HealthyWeight != sp.HealthyWeight || ch.Quorum != 3 || ch.Hysteresis != 1 || !ch.Sorry {
				t.Errorf("step %d: change %+v", i, ch)
			}
		}
		if sp.QuorumUp != st.quorum || change != st.change || sent(p, 0) != st.backend || len(p.Changes) > 1 {
			t.Errorf("step %d (healthy %v): quorum %v change %q sent %q; want %v %q %q", i, st.up, sp.QuorumUp, change, sent(p, 0), st.quorum, st.change, st.backend)
		}
		// Evaluate is pure: the previous state is not modified.
		if !maps.Equal(q, qBefore) {
			t.Errorf("step %d: previous quorum state modified: %v, was %v", i, q, qBefore)
		}
		q = p.Quorum
	}

	// Without history a service starts at the plain threshold.
	c0 := policyConfig(t, svcWith("quorum = 3\nhysteresis = 1", 1, 1, 1, 1))
	if p := Evaluate(c0, up(c0, "21", "22", "23"), nil); !p.Services[0].QuorumUp {
		t.Error("3 of quorum 3 without history: down")
	}
	if p := Evaluate(c0, up(c0, "21", "22"), nil); p.Services[0].QuorumUp {
		t.Error("2 of quorum 3 without history: up")
	}
}

func TestSeed(t *testing.T) {
	c := policyConfig(t, svcWith("", 1, 1, 1, 1)+svcWithName("alpha", "alpha = true", 1))
	a := netip.MustParseAddr
	key := func(svc, last string) string { return TargetKey(svc, a("192.0.2."+last)) }

	// Boot configuration (or no dump at all): alpha decides.
	for _, applied := range []*Applied{nil, {FromConfig: true, Backends: map[string][]wire.Backend{
		"s": {{Service: "s", Addr: a("192.0.2.21"), State: "inhibited"}},
	}}} {
		h := Seed(c, applied)
		want := Health{key("s", "21"): true, key("s", "22"): true, key("s", "23"): true, key("s", "24"): true, key("alpha", "41"): false}
		if !reflect.DeepEqual(h, want) {
			t.Errorf("seed from config (%v):\n got %v\nwant %v", applied, h, want)
		}
	}

	// A committed state: up stays up, inhibited and absent start down,
	// whatever alpha says.
	h := Seed(c, &Applied{Backends: map[string][]wire.Backend{
		"s": {
			{Service: "s", Addr: a("192.0.2.21"), Weight: 1, State: "up"},
			{Service: "s", Addr: a("192.0.2.22"), Weight: 0, State: "inhibited"},
			{Service: "s", Addr: a("192.0.2.99"), Weight: 1, State: "up"}, // not configured any more
		},
		"alpha": {{Service: "alpha", Addr: a("192.0.2.41"), Weight: 1, State: "up"}},
	}})
	want := Health{key("s", "21"): true, key("s", "22"): false, key("s", "23"): false, key("s", "24"): false, key("alpha", "41"): true}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("seed from dump:\n got %v\nwant %v", h, want)
	}
	// The seeded state, evaluated, is what the data plane already had.
	if got := sent(Evaluate(c, h, nil), 0); got != "21:1:up" {
		t.Errorf("seeded plan sends %q", got)
	}

	// The sorry server standing in: every real server starts down and the
	// sorry server stays.
	cs := policyConfig(t, svcWith(`sorry_server = "192.0.2.30"`, 1, 1))
	h = Seed(cs, &Applied{Backends: map[string][]wire.Backend{"s": {{Service: "s", Addr: a("192.0.2.30"), Weight: 1, State: "sorry"}}}})
	if got := sent(Evaluate(cs, h, nil), 0); got != "30:1:sorry" {
		t.Errorf("seeded plan with the sorry server active sends %q", got)
	}
}

func svcWithName(name, extra string, weights ...int) string {
	s := strings.Replace(svcWith(extra, weights...), `name = "s"`, fmt.Sprintf("name = %q", name), 1)
	s = strings.Replace(s, `vip = "192.0.2.100"`, `vip = "192.0.2.101"`, 1)
	for i := range weights {
		s = strings.Replace(s, fmt.Sprintf("192.0.2.%d", 21+i), fmt.Sprintf("192.0.2.%d", 41+i), 1)
	}
	return s
}

func TestTargets(t *testing.T) {
	c := policyConfig(t, `[[service]]
name = "web"
vip = "192.0.2.100"
port = 443
[service.check]
type = "https"
tls_verify = false
host = "www.example.com"
interval = "1s"
timeout = "500ms"
[[service.backend]]
address = "192.0.2.21"
[[service.backend]]
address = "192.0.2.22"
[service.backend.check]
type = "script"
command = ["/bin/check", "-v"]
[[service]]
name = "plain"
vip = "192.0.2.101"
[[service.backend]]
address = "192.0.2.23"
`)
	starts := map[string]bool{}
	ts := Targets(c, func(key string, s *conf.Service) bool { starts[key] = true; return key == "web/192.0.2.21" }, func(a netip.Addr) netip.Addr {
		return netip.MustParseAddr("127.0.0.1")
	}, nil)
	if len(ts) != 2 || len(starts) != 2 {
		t.Fatalf("targets %+v", ts)
	}
	if ts[0].Key != "web/192.0.2.21" || ts[0].Addr.String() != "127.0.0.1" || !ts[0].Config.StartUp ||
		ts[0].Config.Checker.String() != "https GET :443/ host=www.example.com insecure" || ts[0].Config.Interval.String() != "1s" || ts[0].Config.Timeout.String() != "500ms" {
		t.Errorf("target 0: %+v (%s)", ts[0], ts[0].Config.Checker)
	}
	if ts[1].Key != "web/192.0.2.22" || ts[1].Config.StartUp || ts[1].Config.Checker.String() != "script /bin/check -v" {
		t.Errorf("target 1: %+v (%s)", ts[1], ts[1].Config.Checker)
	}
	for _, tt := range []struct {
		check *conf.Check
		want  string
	}{
		{&conf.Check{Type: conf.CheckTCP, Port: 22}, "tcp :22"},
		{&conf.Check{Type: conf.CheckHTTP, Port: 8080, Path: "/h", Status: []int{200, 204}, Body: "ok"}, `http GET :8080/h status=200,204 body="ok"`},
		{&conf.Check{Type: conf.CheckHTTPS, Port: 443, Path: "/", TLSVerify: true}, "https GET :443/"},
		{&conf.Check{Type: conf.CheckICMP}, "icmp echo"},
		{&conf.Check{Type: conf.CheckUDP, Port: 53, Payload: "x", ExpectReply: true}, `udp :53 payload="x" expect-reply`},
	} {
		if got := Checker(tt.check).String(); got != tt.want {
			t.Errorf("Checker(%+v) = %q, want %q", tt.check, got, tt.want)
		}
	}
}

// svcPrio returns a service "s" like svcWith whose backends .21, .22, ...
// have the given "WEIGHT/PRIORITY".
func svcPrio(extra string, specs ...string) string {
	s := "[[service]]\nname = \"s\"\nvip = \"192.0.2.100\"\nport = 80\n" + extra + "\n[service.check]\ntype = \"tcp\"\n"
	for i, spec := range specs {
		w, p, _ := strings.Cut(spec, "/")
		s += fmt.Sprintf("[[service.backend]]\naddress = \"192.0.2.%d\"\nweight = %s\npriority = %s\n", 21+i, w, p)
	}
	return s
}

// Priority groups: only the active group gets new flows, the healthy
// real servers of the others stand by with weight 0; a lower group takes
// over when the higher one fails and hands back when it recovers.
func TestEvaluatePriorityGroups(t *testing.T) {
	type step struct {
		up     []string
		want   string // backends sent
		active uint8
		sorry  bool
		quorum bool
	}
	for _, tt := range []struct {
		name  string
		extra string
		specs []string
		steps []step
	}{
		{"switch and switch back", "", []string{"1/10", "2/10", "1/5", "1/0"}, []step{
			{[]string{"21", "22", "23", "24"}, "21:1:up 22:2:up 23:0:standby 24:0:standby", 10, false, true},
			{[]string{"22", "23", "24"}, "22:2:up 23:0:standby 24:0:standby", 10, false, true},
			{[]string{"23", "24"}, "23:1:up 24:0:standby", 5, false, true},
			{[]string{"24"}, "24:1:up", 0, false, true},
			{[]string{"21", "24"}, "21:1:up 24:0:standby", 10, false, true},
			{[]string{"21", "22", "23", "24"}, "21:1:up 22:2:up 23:0:standby 24:0:standby", 10, false, true},
		}},
		{"inhibit_on_failure keeps the failed ones", "inhibit_on_failure = true", []string{"1/1", "1/0"}, []step{
			{[]string{"21", "22"}, "21:1:up 22:0:standby", 1, false, true},
			{[]string{"22"}, "21:0:inhibited 22:1:up", 0, false, true},
			{nil, "21:0:inhibited 22:0:inhibited", 0, false, false},
		}},
		{"weight 0 in the top group does not count", "", []string{"0/9", "1/1"}, []step{
			{[]string{"21", "22"}, "21:0:inhibited 22:1:up", 1, false, true},
		}},
		{"priority_min", "priority_min = 2", []string{"1/2", "1/2", "1/1", "1/1", "1/0"}, []step{
			{[]string{"21", "22", "23", "24", "25"}, "21:1:up 22:1:up 23:0:standby 24:0:standby 25:0:standby", 2, false, true},
			{[]string{"21", "23", "24", "25"}, "21:0:standby 23:1:up 24:1:up 25:0:standby", 1, false, true},
			{[]string{"21", "23", "25"}, "21:1:up 23:0:standby 25:0:standby", 2, false, true}, // none has 2: the highest with one
			{[]string{"23", "25"}, "23:1:up 25:0:standby", 1, false, true},
			{[]string{"21", "22", "23", "25"}, "21:1:up 22:1:up 23:0:standby 25:0:standby", 2, false, true},
		}},
		{"sorry server when no group has capacity", `sorry_server = "192.0.2.30"`, []string{"1/1", "1/0"}, []step{
			{[]string{"21", "22"}, "21:1:up 22:0:standby", 1, false, true},
			{[]string{"22"}, "22:1:up", 0, false, true},
			{nil, "30:1:sorry", 0, true, false},
			{[]string{"21"}, "21:1:up", 1, false, true},
		}},
		{"quorum counts every group", "quorum = 3\nsorry_server = \"192.0.2.30\"", []string{"2/1", "1/1", "2/0"}, []step{
			{[]string{"21", "22", "23"}, "21:2:up 22:1:up 23:0:standby", 1, false, true},
			// Group 1 has 2 of weight; with group 0's standby weight the
			// quorum of 3 holds.
			{[]string{"21", "23"}, "21:2:up 23:0:standby", 1, false, true},
			{[]string{"22", "23"}, "22:1:up 23:0:standby", 1, false, true},
			{[]string{"23"}, "30:1:sorry", 0, true, false},
		}},
	} {
		c := policyConfig(t, svcPrio(tt.extra, tt.specs...))
		var q QuorumState
		for i, st := range tt.steps {
			p := Evaluate(c, up(c, st.up...), q)
			q = p.Quorum
			sp := p.Services[0]
			if got := sent(p, 0); got != st.want || sp.SorryActive != st.sorry || sp.QuorumUp != st.quorum || (sp.Capacity && sp.ActivePriority != st.active) {
				t.Errorf("%s, step %d (healthy %v): sent %q active %d sorry %v quorum %v; want %q %d %v %v",
					tt.name, i, st.up, got, sp.ActivePriority, sp.SorryActive, sp.QuorumUp, st.want, st.active, st.sorry, st.quorum)
			}
			if !sp.PriorityGroups {
				t.Errorf("%s: PriorityGroups false", tt.name)
			}
			// Standby real servers are healthy, with their configured
			// priority, and sent with weight 0.
			for j, r := range sp.Real {
				if r.State == wire.StateStandby && (!r.Healthy || r.EffectiveWeight != 0 || r.Priority == sp.ActivePriority) {
					t.Errorf("%s, step %d: real server %d %+v", tt.name, i, j, r)
				}
			}
		}
	}

	// Every scheduler goes through the same policy.
	for _, sch := range conf.Schedulers() {
		c := policyConfig(t, svcPrio(fmt.Sprintf("scheduler = %q", sch), "1/1", "1/0"))
		if got := sent(Evaluate(c, up(c, "22"), nil), 0); got != "22:1:up" {
			t.Errorf("%s: sent %q", sch, got)
		}
		if got := sent(Evaluate(c, up(c, "21", "22"), nil), 0); got != "21:1:up 22:0:standby" {
			t.Errorf("%s: sent %q", sch, got)
		}
	}
}

// A restarted dsrlb-ctrl seeds standby real servers as healthy, so that
// its first plan is what the data plane has.
func TestSeedStandby(t *testing.T) {
	c := policyConfig(t, svcPrio("", "1/1", "1/0"))
	a := netip.MustParseAddr
	h := Seed(c, &Applied{Backends: map[string][]wire.Backend{"s": {
		{Service: "s", Addr: a("192.0.2.21"), Weight: 1, State: wire.StateUp},
		{Service: "s", Addr: a("192.0.2.22"), Weight: 0, State: wire.StateStandby},
	}}})
	if got := sent(Evaluate(c, h, nil), 0); got != "21:1:up 22:0:standby" {
		t.Errorf("seeded plan sends %q", got)
	}
}

// The boot model and the plan of a control process that finds every real
// server healthy are the same: starting dsrlb-ctrl moves no flow.
func TestBootModelIsAllHealthyPlan(t *testing.T) {
	c := policyConfig(t, svcPrio("priority_min = 2", "1/3", "0/3", "2/3", "1/2", "1/2", "4/0"))
	p := Evaluate(c, up(c, "21", "22", "23", "24", "25", "26"), nil)
	boot := wire.BootModel(c)
	if !reflect.DeepEqual(p.Services[0].Backends, boot.Services[0].Backends) || p.Services[0].Service != boot.Services[0].Service {
		t.Errorf("plan %+v\nboot %+v", p.Services[0].Backends, boot.Services[0].Backends)
	}
}
