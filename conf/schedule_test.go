package conf

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// backends returns [[service.backend]] tables .21, .22, ... with the
// given weights.
func backends(weights ...int) []string {
	var out []string
	for i, w := range weights {
		out = append(out, "[[service.backend]]", fmt.Sprintf(`address = "192.0.2.%d"`, 21+i), fmt.Sprintf("weight = %d", w))
	}
	return out
}

// svc6 returns a configuration with address6 and one IPv6 service (its
// vip on line 10) plus extra lines from line 11 on.
func svc6(extra ...string) string {
	s := "[dataplane]\nworkers = [1]\naddress = \"192.0.2.10/24\"\naddress6 = \"2001:db8::10/64\"\n[[dataplane.port]]\nname = \"p0\"\ndevice = \"net_ring0\"\n" +
		"[[service]]\nname = \"s\"\nvip = \"2001:db8::100\"\n"
	for _, e := range extra {
		s += e + "\n"
	}
	return s
}

func TestSchedulerNames(t *testing.T) {
	for name, want := range map[string]Scheduler{
		"maglev": SchedMaglev, "mh": SchedMaglev, "rr": SchedRR, "wrr": SchedWRR, "lc": SchedLC,
		"wlc": SchedWLC, "sh": SchedSH, "fo": SchedFO, "twos": SchedTwoS,
	} {
		c := mustParse(t, svc(append([]string{fmt.Sprintf("scheduler = %q", name)}, backends(1, 2)...)...))
		if got := c.Services[0].Scheduler; got != want {
			t.Errorf("scheduler %q: %v, want %v", name, got, want)
		}
	}
	// Every scheduler is accepted under the name it prints.
	for _, s := range Schedulers() {
		if got, ok := ParseScheduler(s.String()); !ok || got != s {
			t.Errorf("ParseScheduler(%q) = %v, %v", s, got, ok)
		}
	}
	if len(Schedulers()) != 8 {
		t.Errorf("%d schedulers: update the README's table and schedulerNameList's tests", len(Schedulers()))
	}
}

func TestSchedulerErrors(t *testing.T) {
	expect(t, "unknown", svc(`scheduler = "random"`),
		`10: service[0].scheduler: unknown scheduler "random" (valid: "maglev", "mh", "rr", "wrr", "lc", "wlc", "sh", "fo", "twos")`)
	expect(t, "case matters", svc(`scheduler = "WRR"`), `10: service[0].scheduler: unknown scheduler "WRR"`)

	// Weights all 0: an error for the schedulers that only pick weight > 0.
	for _, name := range []string{"rr", "wrr", "lc", "wlc", "fo", "twos"} {
		expect(t, "all weights 0, "+name, svc(append([]string{fmt.Sprintf("scheduler = %q", name)}, backends(0, 0)...)...),
			fmt.Sprintf(`10: service[0].scheduler: all backends have weight 0: scheduler %q gives new flows only to real servers with weight above 0`, name))
	}
	// Maglev and sh keep today's behaviour; no backends at all is fine.
	for _, src := range []string{
		svc(backends(0, 0)...),
		svc(append([]string{`scheduler = "sh"`}, backends(0, 0)...)...),
		svc(`scheduler = "wrr"`),
		svc(append([]string{`scheduler = "wrr"`}, backends(0, 3)...)...),
	} {
		mustParse(t, src)
	}

	// hash is maglev's.
	expect(t, "hash with wrr", svc(`scheduler = "wrr"`, `hash = "source-ip"`),
		`11: service[0].hash: hash applies to scheduler "maglev" only, not to scheduler "wrr" (remove hash)`)
	expect(t, "5-tuple with lc", svc(`hash = "5-tuple"`, `scheduler = "lc"`),
		`10: service[0].hash: hash applies to scheduler "maglev" only, not to scheduler "lc"`)
	expect(t, "hash with sh", svc(`scheduler = "sh"`, `hash = "source-ip"`),
		`11: service[0].hash: hash applies to scheduler "maglev" only: scheduler "sh" always hashes the client's address`)
	expect(t, "unknown hash with rr: one error", svc(`scheduler = "rr"`, `hash = "dst-ip"`),
		`11: service[0].hash: unknown hash "dst-ip"`)
	expect(t, "hash with unknown scheduler: one error", svc(`scheduler = "x"`, `hash = "source-ip"`),
		`10: service[0].scheduler: unknown scheduler "x"`)
	for _, src := range []string{
		svc(`scheduler = "maglev"`, `hash = "source-ip"`),
		svc(`scheduler = "mh"`, `hash = "5-tuple"`),
	} {
		mustParse(t, src)
	}
}

func TestPersistence(t *testing.T) {
	for _, tt := range []struct {
		src     string
		timeout time.Duration
		bits    int
	}{
		{svc(), 0, 0},
		{svc(`persistence_timeout = "0s"`), 0, 0},
		{svc(`persistence_timeout = "300s"`), 300 * time.Second, 32},
		{svc(`persistence_timeout = "1s"`), time.Second, 32},
		{svc(`persistence_timeout = "9h"`), 9 * time.Hour, 32},
		{svc(`persistence_timeout = "5m"`, `persistence_granularity = "255.255.255.0"`), 5 * time.Minute, 24},
		{svc(`persistence_timeout = "5m"`, `persistence_granularity = "255.255.255.255"`), 5 * time.Minute, 32},
		{svc(`persistence_timeout = "5m"`, `persistence_granularity = "128.0.0.0"`), 5 * time.Minute, 1},
		{svc(`persistence_timeout = "5m"`, `persistence_granularity = "/16"`), 5 * time.Minute, 16},
		{svc(`persistence_timeout = "5m"`, `persistence_granularity = 20`), 5 * time.Minute, 20},
		{svc(`persistence_timeout = "60s"`, `scheduler = "sh"`), time.Minute, 32},
		{svc(`persistence_timeout = "60s"`, `hash = "source-ip"`), time.Minute, 32},
		{svc(`persistence_timeout = "60s"`, `scheduler = "wlc"`), time.Minute, 32},
		{svc6(`persistence_timeout = "60s"`), time.Minute, 128},
		{svc6(`persistence_timeout = "60s"`, `persistence_granularity = "/64"`), time.Minute, 64},
		{svc6(`persistence_timeout = "60s"`, `persistence_granularity = 48`), time.Minute, 48},
		{svc6(`persistence_timeout = "60s"`, `persistence_granularity = 128`), time.Minute, 128},
	} {
		c := mustParse(t, tt.src)
		s := c.Services[0]
		if s.PersistenceTimeout != tt.timeout || s.PersistenceGranularity != tt.bits {
			t.Errorf("%s\n: timeout %s granularity %d, want %s %d", tt.src[strings.Index(tt.src, "[[service]]"):], s.PersistenceTimeout, s.PersistenceGranularity, tt.timeout, tt.bits)
		}
	}
}

func TestPersistenceErrors(t *testing.T) {
	pt := `persistence_timeout = "60s"`
	expect(t, "timeout too long", svc(`persistence_timeout = "10h"`),
		`10: service[0].persistence_timeout: persistence_timeout 10h0m0s out of range 1s..9h ("0s": no persistence)`)
	expect(t, "timeout too short", svc(`persistence_timeout = "500ms"`),
		`10: service[0].persistence_timeout: persistence_timeout 500ms out of range 1s..9h`)
	expect(t, "timeout not whole seconds", svc(`persistence_timeout = "1.5s"`),
		`10: service[0].persistence_timeout: persistence_timeout 1.5s is not a whole number of seconds`)
	expect(t, "timeout not a duration", svc(`persistence_timeout = "300"`),
		`10: service[0].persistence_timeout: invalid duration "300"`)
	expect(t, "timeout as integer", svc(`persistence_timeout = 300`),
		`10: service[0].persistence_timeout: wrong type: expected string, found integer 300`)
	expect(t, "granularity without timeout", svc(`persistence_granularity = "/24"`),
		`10: service[0].persistence_granularity: persistence_granularity needs persistence_timeout: without it the service has no persistence`)
	expect(t, "granularity with timeout 0s", svc(`persistence_timeout = "0s"`, `persistence_granularity = 24`),
		`11: service[0].persistence_granularity: persistence_granularity needs persistence_timeout above 0s`)
	expect(t, "granularity with a bad timeout: one error", svc(`persistence_timeout = "forever"`, `persistence_granularity = 24`),
		`10: service[0].persistence_timeout: invalid duration "forever"`)
	expect(t, "non-contiguous netmask", svc(pt, `persistence_granularity = "255.0.255.0"`),
		`11: service[0].persistence_granularity: persistence_granularity "255.0.255.0" is not a contiguous netmask`)
	expect(t, "netmask 0", svc(pt, `persistence_granularity = "0.0.0.0"`),
		`11: service[0].persistence_granularity: persistence_granularity "0.0.0.0": prefix length 0 out of range 1..32 for IPv4 VIP 192.0.2.100`)
	expect(t, "IPv4 prefix too long", svc(pt, `persistence_granularity = "/33"`),
		`11: service[0].persistence_granularity: persistence_granularity "/33": prefix length 33 out of range 1..32 for IPv4 VIP 192.0.2.100`)
	expect(t, "IPv4 integer too long", svc(pt, `persistence_granularity = 64`),
		`11: service[0].persistence_granularity: persistence_granularity 64: prefix length 64 out of range 1..32 for IPv4 VIP 192.0.2.100`)
	expect(t, "prefix 0", svc(pt, `persistence_granularity = 0`), `11: prefix length 0 out of range 1..32`)
	expect(t, "negative", svc(pt, `persistence_granularity = -8`), `11: prefix length -8 out of range 1..32`)
	expect(t, "garbage", svc(pt, `persistence_granularity = "class C"`),
		`11: service[0].persistence_granularity: invalid persistence_granularity "class C": use a netmask such as "255.255.255.0" or a prefix length such as "/24"`)
	expect(t, "prefix without slash in a string", svc(pt, `persistence_granularity = "24"`), `11: invalid persistence_granularity "24"`)
	expect(t, "slash only", svc(pt, `persistence_granularity = "/"`), `11: invalid persistence_granularity "/"`)
	expect(t, "CIDR", svc(pt, `persistence_granularity = "0.0.0.0/24"`), `11: invalid persistence_granularity "0.0.0.0/24"`)
	expect(t, "IPv6 mask for IPv4 VIP", svc(pt, `persistence_granularity = "ffff:ffff::"`),
		`11: persistence_granularity "ffff:ffff::": netmasks are written for IPv4 VIPs only`)
	expect(t, "float", svc(pt, `persistence_granularity = 24.0`),
		`11: service[0].persistence_granularity: wrong type: expected string or integer, found float 24`)

	expect(t, "netmask for IPv6 VIP", svc6(pt, `persistence_granularity = "255.255.255.0"`),
		`12: service[0].persistence_granularity: persistence_granularity "255.255.255.0" is an IPv4 netmask but VIP 2001:db8::100 is IPv6: use a prefix length such as "/64"`)
	expect(t, "IPv6 netmask for IPv6 VIP", svc6(pt, `persistence_granularity = "ffff:ffff:ffff:ffff::"`),
		`12: persistence_granularity "ffff:ffff:ffff:ffff::": netmasks are written for IPv4 VIPs only; use a prefix length such as "/64"`)
	expect(t, "IPv6 prefix too long", svc6(pt, `persistence_granularity = "/129"`),
		`12: service[0].persistence_granularity: persistence_granularity "/129": prefix length 129 out of range 1..128 for IPv6 VIP 2001:db8::100`)
	expect(t, "IPv6 integer 0", svc6(pt, `persistence_granularity = 0`), `12: prefix length 0 out of range 1..128`)
}

func TestPriorityGroupsConfig(t *testing.T) {
	c := mustParse(t, svc("priority_min = 2",
		"[[service.backend]]", `address = "192.0.2.21"`, "priority = 10",
		"[[service.backend]]", `address = "192.0.2.22"`, "priority = 255",
		"[[service.backend]]", `address = "192.0.2.23"`))
	s := c.Services[0]
	if s.PriorityMin != 2 || s.Backends[0].Priority != 10 || s.Backends[1].Priority != 255 || s.Backends[2].Priority != 0 || !s.PriorityGroups() {
		t.Errorf("priorities: min %d, %d %d %d", s.PriorityMin, s.Backends[0].Priority, s.Backends[1].Priority, s.Backends[2].Priority)
	}
	if c := mustParse(t, svc(backends(1, 1)...)); c.Services[0].PriorityGroups() || c.Services[0].PriorityMin != 1 {
		t.Errorf("one group: %+v", c.Services[0])
	}
	// Every scheduler takes priority groups.
	for _, sch := range Schedulers() {
		mustParse(t, svc(fmt.Sprintf("scheduler = %q", sch), "[[service.backend]]", `address = "192.0.2.21"`, "priority = 1",
			"[[service.backend]]", `address = "192.0.2.22"`))
	}

	expect(t, "priority too high", svc("[[service.backend]]", `address = "192.0.2.21"`, "priority = 256"),
		"12: service[0].backend[0].priority: priority 256 out of range 0..255")
	expect(t, "priority negative", svc("[[service.backend]]", `address = "192.0.2.21"`, "[[service.backend]]", `address = "192.0.2.22"`, "priority = -1"),
		"14: service[0].backend[1].priority: priority -1 out of range 0..255")
	expect(t, "priority_min above the backends", svc(append([]string{"priority_min = 3"}, backends(1, 1)...)...),
		"10: service[0].priority_min: priority_min 3 out of range 1..2 (the number of backends)")
	expect(t, "priority_min 0", svc(append([]string{"priority_min = 0"}, backends(1, 1)...)...),
		"10: service[0].priority_min: priority_min 0 out of range 1..2")
	expect(t, "priority_min without backends", svc("priority_min = 2"),
		"10: service[0].priority_min: priority_min 2 out of range 1..1")
	mustParse(t, svc("priority_min = 1"))
}

func TestActivePriority(t *testing.T) {
	// s: backends with priorities and weights; up: which are usable.
	type be struct {
		prio   uint8
		weight uint32
		up     bool
	}
	for _, tt := range []struct {
		name string
		min  int
		bs   []be
		want uint8
		ok   bool
	}{
		{"no backends", 1, nil, 0, false},
		{"one group", 1, []be{{0, 1, true}, {0, 1, false}}, 0, true},
		{"highest wins", 1, []be{{0, 1, true}, {5, 1, true}, {3, 1, true}}, 5, true},
		{"highest down: next", 1, []be{{0, 1, true}, {5, 1, false}, {3, 1, true}}, 3, true},
		{"weight 0 does not count", 1, []be{{0, 1, true}, {5, 0, true}}, 0, true},
		{"only weight 0: none", 1, []be{{0, 0, true}, {5, 0, true}}, 0, false},
		{"none up", 1, []be{{0, 1, false}, {5, 1, false}}, 0, false},
		{"min 2: top has 1 of 2 up, lower has 2", 2, []be{{9, 1, true}, {9, 1, false}, {1, 1, true}, {1, 1, true}}, 1, true},
		{"min 2: top has 2", 2, []be{{9, 1, true}, {9, 1, true}, {1, 1, true}, {1, 1, true}}, 9, true},
		{"min 2: middle reaches it", 2, []be{{9, 1, true}, {5, 1, true}, {5, 1, true}, {1, 1, true}, {1, 1, true}}, 5, true},
		{"min 2: none reaches it: highest with one", 2, []be{{9, 1, false}, {9, 1, true}, {1, 1, true}, {1, 1, false}}, 9, true},
		{"min 2: none reaches it, top empty", 2, []be{{9, 1, false}, {9, 1, false}, {1, 1, true}}, 1, true},
		{"min 0 (hand-made) counts as 1", 0, []be{{4, 1, true}}, 4, true},
	} {
		s := &Service{PriorityMin: tt.min}
		for _, b := range tt.bs {
			s.Backends = append(s.Backends, Backend{Weight: b.weight, Priority: b.prio})
		}
		got, ok := s.ActivePriority(func(i int) bool { return tt.bs[i].up })
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: %d %v, want %d %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestConntrackKeys(t *testing.T) {
	addr := `address = "192.0.2.10/24"`
	c := mustParse(t, dp(`workers = [1]`, addr))
	if d := c.Dataplane; d.ConntrackTimeout != 300*time.Second || d.ConntrackSynTimeout != 30*time.Second ||
		d.ConntrackFinTimeout != 60*time.Second || d.ConntrackUDPTimeout != 300*time.Second || d.PersistenceEntries != 65536 || d.ConntrackEntries != 1<<20 {
		t.Errorf("defaults: %+v", d)
	}
	// conntrack_udp_timeout follows conntrack_timeout by default.
	c = mustParse(t, dp(`workers = [1]`, addr, `conntrack_timeout = "2h"`, `conntrack_syn_timeout = "5s"`, `conntrack_fin_timeout = "1s"`, `persistence_entries = 1000`))
	if d := c.Dataplane; d.ConntrackTimeout != 2*time.Hour || d.ConntrackSynTimeout != 5*time.Second ||
		d.ConntrackFinTimeout != time.Second || d.ConntrackUDPTimeout != 2*time.Hour || d.PersistenceEntries != 1024 {
		t.Errorf("set: %+v", d)
	}
	c = mustParse(t, dp(`workers = [1]`, addr, `conntrack_udp_timeout = "9h"`, `persistence_entries = 64`))
	if d := c.Dataplane; d.ConntrackUDPTimeout != 9*time.Hour || d.ConntrackTimeout != 300*time.Second || d.PersistenceEntries != 64 {
		t.Errorf("udp: %+v", d)
	}
	c = mustParse(t, dp(`workers = [1]`, addr, `persistence_entries = 16777216`))
	if c.Dataplane.PersistenceEntries != 1<<24 {
		t.Errorf("persistence_entries %d", c.Dataplane.PersistenceEntries)
	}

	expect(t, "timeout too long", dp(`workers = [1]`, addr, `conntrack_timeout = "10h"`),
		"4: dataplane.conntrack_timeout: conntrack_timeout 10h0m0s out of range 1s..9h")
	expect(t, "syn too short", dp(`workers = [1]`, addr, `conntrack_syn_timeout = "500ms"`),
		"4: dataplane.conntrack_syn_timeout: conntrack_syn_timeout 500ms out of range 1s..9h")
	expect(t, "fin zero", dp(`workers = [1]`, addr, `conntrack_fin_timeout = "0s"`),
		"4: dataplane.conntrack_fin_timeout: conntrack_fin_timeout 0s out of range 1s..9h")
	expect(t, "udp bad", dp(`workers = [1]`, addr, `conntrack_udp_timeout = "1 min"`),
		`4: dataplane.conntrack_udp_timeout: invalid duration "1 min"`)
	expect(t, "udp too long", dp(`workers = [1]`, addr, `conntrack_udp_timeout = "24h"`),
		"4: dataplane.conntrack_udp_timeout: conntrack_udp_timeout 24h0m0s out of range 1s..9h")
	expect(t, "persistence_entries small", dp(`workers = [1]`, addr, `persistence_entries = 63`),
		"4: dataplane.persistence_entries: persistence_entries 63 out of range 64..16777216")
	expect(t, "persistence_entries big", dp(`workers = [1]`, addr, `persistence_entries = 16777217`),
		"4: dataplane.persistence_entries: persistence_entries 16777217 out of range 64..16777216")
	expect(t, "conntrack_entries", dp(`workers = [1]`, addr, `conntrack_entries = 10`),
		"4: dataplane.conntrack_entries: conntrack_entries 10 out of range 1024..67108864")
}
