package wire

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"dsrlb/conf"
)

// The control protocol carries IPv6 addresses as text; an IPv6 service
// and its real servers survive the trip to the data plane.
func TestIPv6WireRoundTrip(t *testing.T) {
	c, err := conf.Load("../testdata/mixed.toml")
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Services {
		s := &c.Services[i]
		ws := ServiceOf(c, s)
		b, err := Encode(ws)
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if !strings.Contains(string(b), `"vip":"`+s.VIP.String()+`"`) {
			t.Errorf("%s: VIP not as text in %s", s.Name, b)
		}
		var got Service
		if err := Decode(b, &got); err != nil || got != ws || got.VIP != s.VIP {
			t.Errorf("%s: service round trip: %+v (%v), want %+v", s.Name, got, err, ws)
		}
		for j := range s.Backends {
			wb := BackendOf(s, &s.Backends[j], s.Backends[j].Weight, StateUp)
			b, err := Encode(wb)
			if err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
			var got Backend
			if err := Decode(b, &got); err != nil || got != wb || got.Addr != s.Backends[j].Address {
				t.Errorf("%s: backend round trip: %+v (%v), want %+v", s.Name, got, err, wb)
			}
		}
	}
	// The longest possible IPv6 text still fits a ring slot.
	long := Backend{Service: strings.Repeat("n", 32), Addr: netip.MustParseAddr("2001:db8:1234:5678:9abc:def0:1234:5678"),
		Weight: 65535, State: StateInhibited, Method: "l2dsr"}
	if _, err := Encode(long); err != nil {
		t.Error(err)
	}
}

// The boot model is the configuration file's services with every real
// server up at its weight, weight 0 inhibited.
func TestBootModel(t *testing.T) {
	c, err := conf.Load("../testdata/mixed.toml")
	if err != nil {
		t.Fatal(err)
	}
	m := BootModel(c)
	if len(m.Services) != len(c.Services) {
		t.Fatalf("%d services, want %d", len(m.Services), len(c.Services))
	}
	for i, sm := range m.Services {
		s := &c.Services[i]
		if sm.Service != ServiceOf(c, s) || len(sm.Backends) != len(s.Backends) {
			t.Fatalf("service %d: %+v", i, sm)
		}
		for j, b := range sm.Backends {
			want := StateUp
			if s.Backends[j].Weight == 0 {
				want = StateInhibited
			}
			if b.Addr != s.Backends[j].Address || b.Weight != s.Backends[j].Weight || b.State != want || b.Service != s.Name {
				t.Errorf("%s backend %d: %+v", s.Name, j, b)
			}
		}
	}
}

// A VRRP instance's VIPs carry its group id, and the boot model defines
// every group, none of them master (there is no VRRPState in a model).
func TestBootModelVRRP(t *testing.T) {
	c, err := conf.Parse("t.toml", []byte(`[dataplane]
workers = [1]
address = "192.0.2.10/24"
tap = "dsrlb0"
[[dataplane.port]]
name = "p0"
device = "net_null0"
[[service]]
name = "a"
vip = "192.0.2.100"
[[service]]
name = "b"
vip = "192.0.2.101"
[[service]]
name = "c"
vip = "192.0.2.102"
[[vrrp]]
name = "one"
vrid = 1
vips = ["192.0.2.101"]
[[vrrp]]
name = "two"
vrid = 2
priority = 200
advert_int = "100ms"
garp_repeat = 2
garp_delay = "0s"
garp_refresh = "30s"
vips = ["192.0.2.102"]
`))
	if err != nil {
		t.Fatal(err)
	}
	m := BootModel(c)
	var ids []uint8
	for _, sm := range m.Services {
		ids = append(ids, sm.Service.VRRP)
	}
	if fmt.Sprint(ids) != "[0 1 2]" {
		t.Errorf("service groups %v", ids)
	}
	want := []VRRPGroup{
		{ID: 1, Name: "one", DownMS: 3000 + 610, GARPRepeat: 5, GARPDelayMS: 5000}, // v2 skew: 156/256 s, rounded up
		{ID: 2, Name: "two", DownMS: 300 + 22, GARPRepeat: 2, GARPRefreshMS: 30000},
	}
	if fmt.Sprint(m.Groups) != fmt.Sprint(want) {
		t.Errorf("groups\n got %+v\nwant %+v", m.Groups, want)
	}
}

// schedConfig is a configuration with one service of the given keys and
// real servers.
func schedConfig(t *testing.T, service string) *conf.Config {
	t.Helper()
	c, err := conf.Parse("t.toml", []byte(`[dataplane]
workers = [1]
address = "192.0.2.10/24"
address6 = "2001:db8::10/64"
[[dataplane.port]]
name = "p0"
device = "net_null0"
[[service]]
`+service))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The scheduler, persistence and the source-address hash travel in the
// Service message; maglev and no persistence are left out.
func TestServiceOfScheduling(t *testing.T) {
	for _, tt := range []struct {
		keys string
		want string // the scheduling fields of the JSON message
	}{
		{`vip = "192.0.2.100"`, ``},
		{`vip = "192.0.2.100"` + "\n" + `scheduler = "mh"`, ``},
		{`vip = "192.0.2.100"` + "\n" + `hash = "source-ip"`, `"source_ip":true`},
		{`vip = "192.0.2.100"` + "\n" + `scheduler = "sh"`, `"scheduler":"sh","source_ip":true`},
		{`vip = "192.0.2.100"` + "\n" + `scheduler = "wlc"`, `"scheduler":"wlc"`},
		{`vip = "192.0.2.100"` + "\n" + `scheduler = "twos"` + "\n" + `persistence_timeout = "5m"`, `"scheduler":"twos","persist_timeout":300,"persist_prefix":32`},
		{`vip = "192.0.2.100"` + "\n" + `persistence_timeout = "9h"` + "\n" + `persistence_granularity = "255.255.255.0"`, `"persist_timeout":32400,"persist_prefix":24`},
		{`vip = "2001:db8::100"` + "\n" + `persistence_timeout = "1s"`, `"persist_timeout":1,"persist_prefix":128`},
		{`vip = "2001:db8::100"` + "\n" + `scheduler = "fo"` + "\n" + `persistence_timeout = "60s"` + "\n" + `persistence_granularity = "/48"`, `"scheduler":"fo","persist_timeout":60,"persist_prefix":48`},
	} {
		c := schedConfig(t, "name = \"s\"\n"+tt.keys+"\n")
		ws := ServiceOf(c, &c.Services[0])
		b, err := Encode(ws)
		if err != nil {
			t.Fatal(err)
		}
		var fields []string
		for _, f := range []string{`"scheduler":`, `"source_ip":`, `"persist_timeout":`, `"persist_prefix":`} {
			if i := strings.Index(string(b), f); i >= 0 {
				rest := string(b[i:])
				fields = append(fields, rest[:strings.IndexAny(rest, ",}")])
			}
		}
		if got := strings.Join(fields, ","); got != tt.want {
			t.Errorf("%s:\n got %s (%s)\nwant %s", tt.keys, got, b, tt.want)
		}
		var back Service
		if err := Decode(b, &back); err != nil || back != ws {
			t.Errorf("%s: round trip %+v (%v), want %+v", tt.keys, back, err, ws)
		}
	}
}

// A service message with every field at its longest still fits a ring
// slot.
func TestServiceFitsSlot(t *testing.T) {
	long := Service{
		Name: strings.Repeat("n", 32), VIP: netip.MustParseAddr("2001:db8:1234:5678:9abc:def0:1234:5678"),
		Proto: 17, Port: 65535, Method: "l2dsr", Scheduler: "twos", SourceIP: true, TableSize: 16777213,
		PersistTimeout: 32400, PersistPrefix: 128, DSCP: 63, GUEPort: 65535, VRRP: 255,
	}
	for _, s := range conf.Schedulers() {
		if n := len(s.String()); n > len(long.Scheduler) {
			long.Scheduler = s.String()
		}
	}
	b, err := Encode(long)
	if err != nil {
		t.Fatal(err)
	}
	var back Service
	if err := Decode(b, &back); err != nil || back != long {
		t.Errorf("round trip %+v (%v)", back, err)
	}
	sb, err := Encode(Backend{Service: long.Name, Addr: long.VIP, Weight: 65535, State: StateStandby, Method: "gue"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("longest service message %d bytes, backend %d, slot payload %d", len(b), len(sb), SlotSize-8)
}

// The data plane boots with every real server healthy: the highest
// priority group takes the flows, the others stand by with weight 0.
func TestBootModelPriorityGroups(t *testing.T) {
	c := schedConfig(t, `name = "s"
vip = "192.0.2.100"
scheduler = "wrr"
priority_min = 2
[[service.backend]]
address = "192.0.2.21"
weight = 3
priority = 10
[[service.backend]]
address = "192.0.2.22"
weight = 0
priority = 10
[[service.backend]]
address = "192.0.2.23"
weight = 2
priority = 10
[[service.backend]]
address = "192.0.2.24"
weight = 5
[[service.backend]]
address = "192.0.2.25"
weight = 0
`)
	var got []string
	for _, b := range BootModel(c).Services[0].Backends {
		got = append(got, fmt.Sprintf("%s:%d:%s", strings.TrimPrefix(b.Addr.String(), "192.0.2."), b.Weight, b.State))
	}
	if want := "21:3:up 22:0:inhibited 23:2:up 24:0:standby 25:0:inhibited"; strings.Join(got, " ") != want {
		t.Errorf("boot backends\n got %s\nwant %s", strings.Join(got, " "), want)
	}

	// With priority_min above what the top group has, the top group still
	// takes the flows when no group has enough (here: none).
	c = schedConfig(t, `name = "s"
vip = "192.0.2.100"
priority_min = 2
[[service.backend]]
address = "192.0.2.21"
priority = 1
[[service.backend]]
address = "192.0.2.22"
weight = 0
`)
	got = got[:0]
	for _, b := range BootModel(c).Services[0].Backends {
		got = append(got, fmt.Sprintf("%s:%d:%s", strings.TrimPrefix(b.Addr.String(), "192.0.2."), b.Weight, b.State))
	}
	if want := "21:1:up 22:0:inhibited"; strings.Join(got, " ") != want {
		t.Errorf("boot backends\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}
