package conf

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// vrrpBase is a valid configuration with an IPv4 and an IPv6 service;
// tests append [[vrrp]] tables to it.
const vrrpBase = `[dataplane]
workers = [1]
address = "192.0.2.10/24"
address6 = "2001:db8::10/64"
tap = "dsrlb0"
[[dataplane.port]]
name = "p0"
device = "net_af_packet0,iface=veth0"
[[dataplane.port]]
name = "p1"
device = "net_af_packet1,iface=veth1"
[[service]]
name = "web"
vip = "192.0.2.100"
port = 80
[[service.backend]]
address = "192.0.2.21"
[[service]]
name = "web2"
vip = "192.0.2.101"
port = 80
[[service.backend]]
address = "192.0.2.21"
[[service]]
name = "web6"
vip = "2001:db8::100"
port = 80
[[service.backend]]
address = "2001:db8::21"
`

func TestVRRPValid(t *testing.T) {
	instances := `
[[vrrp]]
name = "vi4"
vrid = 51
priority = 150
advert_int = "20ms"
vips = ["192.0.2.100", "192.0.2.101"]
unicast_peers = ["192.0.2.11"]
track_services = ["web"]
track_weight = 60
garp_repeat = 3
garp_delay = "2s"
garp_refresh = "60s"
notify = ["/bin/true", "x"]
sync_group = "g"
v3_checksum = "message-only"
[[vrrp]]
name = "vi6"
vrid = 51
vips = ["2001:db8::100"]
state = "MASTER"
preempt = false
preempt_delay = "3s"
sync_group = "g"
`
	// An instance without VIPs spoils the whole file.
	if _, err := Parse("t.toml", []byte(vrrpBase+instances+`
[[vrrp]]
name = "v2"
vrid = 52
version = 2
auth_pass = "secret1"
vips = []
`)); err == nil || !strings.Contains(err.Error(), "vrrp[2].vips: an instance needs at least one VIP") {
		t.Fatalf("want the empty vips error, got %v", err)
	}
	c, err := Parse("t.toml", []byte(vrrpBase+instances))
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	want := []VRRP{{
		Name: "vi4", VRID: 51, Priority: 150, Interval: 20 * time.Millisecond, Version: 3, Preempt: true,
		VIPs: []netip.Addr{a("192.0.2.100"), a("192.0.2.101")}, UnicastPeers: []netip.Addr{a("192.0.2.11")},
		UnicastSrc: a("192.0.2.10"), MessageOnly: true, TrackServices: []string{"web"}, TrackWeight: 60,
		GARPRepeat: 3, GARPDelay: 2 * time.Second, GARPRefresh: time.Minute, Notify: []string{"/bin/true", "x"}, SyncGroup: "g",
	}, {
		Name: "vi6", VRID: 51, Priority: 100, Interval: time.Second, Version: 3, PreemptDelay: 3 * time.Second, StartMaster: true,
		VIPs: []netip.Addr{a("2001:db8::100")}, UnicastSrc: a("2001:db8::10"), GARPRepeat: 5, GARPDelay: 5 * time.Second, SyncGroup: "g",
	}}
	if !reflect.DeepEqual(c.VRRP, want) {
		t.Errorf("VRRP:\n got %+v\nwant %+v", c.VRRP, want)
	}
	if c.Ctrl.VRRPDataplaneTimeout != 200*time.Millisecond {
		t.Errorf("vrrp_dataplane_timeout default %s", c.Ctrl.VRRPDataplaneTimeout)
	}
	if c.VRRPOf(a("192.0.2.101")) != &c.VRRP[0] || c.VRRPOf(a("192.0.2.1")) != nil {
		t.Error("VRRPOf")
	}
}

// TestVRRPErrors: every bad [[vrrp]] gets a positioned, clear error.
func TestVRRPErrors(t *testing.T) {
	cases := []struct {
		name, toml, want string
	}{
		{"duplicate vrid", `
[[vrrp]]
name = "a"
vrid = 7
vips = ["192.0.2.100"]
[[vrrp]]
name = "b"
vrid = 7
vips = ["192.0.2.101"]`, `t.toml:37: vrrp[1].vrid: vrid 7 already used on port p0 for IPv4 by instance "a" (line 33)`},
		{"priority range", `
[[vrrp]]
name = "a"
vrid = 7
priority = 256
vips = ["192.0.2.100"]`, `t.toml:34: vrrp[0].priority: priority 256 out of range 1..255`},
		{"priority zero", `
[[vrrp]]
name = "a"
vrid = 7
priority = 0
vips = ["192.0.2.100"]`, `vrrp[0].priority: priority 0 out of range 1..255`},
		{"interval too short", `
[[vrrp]]
name = "a"
vrid = 7
advert_int = "5ms"
vips = ["192.0.2.100"]`, `t.toml:34: vrrp[0].advert_int: advert_int 5ms out of range 10ms..40.95s for version 3`},
		{"interval not centiseconds", `
[[vrrp]]
name = "a"
vrid = 7
advert_int = "15ms"
vips = ["192.0.2.100"]`, `use a multiple of 10ms`},
		{"v2 fractional", `
[[vrrp]]
name = "a"
vrid = 7
version = 2
advert_int = "1.5s"
vips = ["192.0.2.100"]`, `t.toml:35: vrrp[0].advert_int: advert_int 1.5s: version 2 advertises whole seconds`},
		{"v2 ipv6", `
[[vrrp]]
name = "a"
vrid = 7
version = 2
vips = ["2001:db8::100"]`, `t.toml:34: vrrp[0].version: version 2 is IPv4 only; IPv6 VIPs need version 3`},
		{"vip in two instances", `
[[vrrp]]
name = "a"
vrid = 7
vips = ["192.0.2.100"]
[[vrrp]]
name = "b"
vrid = 8
vips = ["192.0.2.100"]`, `t.toml:38: vrrp[1].vips[0]: VIP 192.0.2.100 is already carried by instance "a" (line 34)`},
		{"vip of no service", `
[[vrrp]]
name = "a"
vrid = 7
vips = ["192.0.2.200"]`, `t.toml:34: vrrp[0].vips[0]: VIP 192.0.2.200 belongs to no [[service]]`},
		{"auth with v3", `
[[vrrp]]
name = "a"
vrid = 7
auth_pass = "x"
vips = ["192.0.2.100"]`, `t.toml:34: vrrp[0].auth_pass: auth_pass: version 3 has no authentication`},
		{"auth too long", `
[[vrrp]]
name = "a"
vrid = 7
version = 2
auth_pass = "123456789"
vips = ["192.0.2.100"]`, `auth_pass of 9 bytes: 1..8`},
		{"mixed families", `
[[vrrp]]
name = "a"
vrid = 7
vips = ["192.0.2.100", "2001:db8::100"]`, `an instance carries one address family`},
		{"other port", `
[[vrrp]]
name = "a"
port = "p1"
vrid = 7
vips = ["192.0.2.100"]`, `VRRP runs on the first port (p0)`},
		{"unknown port", `
[[vrrp]]
name = "a"
port = "px"
vrid = 7
vips = ["192.0.2.100"]`, `unknown port "px"`},
		{"missing vrid", `
[[vrrp]]
name = "a"
vips = ["192.0.2.100"]`, `vrrp[0].vrid: required key is missing`},
		{"duplicate name", `
[[vrrp]]
name = "a"
vrid = 7
vips = ["192.0.2.100"]
[[vrrp]]
name = "a"
vrid = 8
vips = ["192.0.2.101"]`, `VRRP instance name "a" already used by vrrp[0]`},
		{"unicast src", `
[[vrrp]]
name = "a"
vrid = 7
unicast_src = "192.0.2.11"
vips = ["192.0.2.100"]`, `unicast_src 192.0.2.11 is not the balancer's IPv4 address 192.0.2.10`},
		{"peer family", `
[[vrrp]]
name = "a"
vrid = 7
unicast_peers = ["2001:db8::11"]
vips = ["192.0.2.100"]`, `unicast peer 2001:db8::11 is not of the instance's family (IPv4)`},
		{"track unknown", `
[[vrrp]]
name = "a"
vrid = 7
track_services = ["nope"]
vips = ["192.0.2.100"]`, `vrrp[0].track_services[0]: unknown service "nope"`},
		{"owner tracks", `
[[vrrp]]
name = "a"
vrid = 7
priority = 255
track_services = ["web"]
vips = ["192.0.2.100"]`, `the address owner (priority 255) cannot track services`},
		{"notify relative", `
[[vrrp]]
name = "a"
vrid = 7
notify_master = ["true"]
vips = ["192.0.2.100"]`, `vrrp[0].notify_master: the command's first element must be the program's absolute path`},
		{"state", `
[[vrrp]]
name = "a"
vrid = 7
state = "primary"
vips = ["192.0.2.100"]`, `state "primary": use "backup" or "master"`},
		{"unknown key", `
[[vrrp]]
name = "a"
vrid = 7
advert = "1s"
vips = ["192.0.2.100"]`, `vrrp[0].advert`},
		{"checksum v2", `
[[vrrp]]
name = "a"
vrid = 7
version = 2
v3_checksum = "message-only"
vips = ["192.0.2.100"]`, `applies to version 3 over IPv4 only`},
		{"dataplane timeout", `
[ctrl]
vrrp_dataplane_timeout = "1ms"`, `ctrl.vrrp_dataplane_timeout: vrrp_dataplane_timeout 1ms out of range 30ms..10s`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(vrrpBase+tc.toml))
			if err == nil {
				t.Fatalf("accepted; want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got\n%v\nwant it to contain\n%s", err, tc.want)
			}
		})
	}
}

func TestVRRPNeedsTAP(t *testing.T) {
	_, err := Parse("t.toml", []byte(strings.Replace(vrrpBase, `tap = "dsrlb0"`, "", 1)+`
[[vrrp]]
name = "a"
vrid = 7
vips = ["192.0.2.100"]`))
	if err == nil || !strings.Contains(err.Error(), "VRRP needs the exception path: set dataplane.tap") {
		t.Fatalf("got %v", err)
	}
}

func TestMetricsListen(t *testing.T) {
	c, err := Parse("t.toml", []byte(vrrpBase))
	if err != nil || c.Ctrl.MetricsListen != DefaultMetricsListen {
		t.Fatalf("default: %q %v", c.Ctrl.MetricsListen, err)
	}
	for in, want := range map[string]string{
		`""`:                 "",
		`"0.0.0.0:9100"`:     "",
		`"[2001:db8::1]:80"`: "",
		`":0"`:               "",
		`"localhost:9100"`:   `host "localhost" is not an IP address`,
		`"127.0.0.1"`:        `want host:port`,
		`"127.0.0.1:99999"`:  `port "99999" is not 0..65535`,
	} {
		_, err := Parse("t.toml", []byte(vrrpBase+"[ctrl]\nmetrics_listen = "+in+"\n"))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", in, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: got %v, want %q", in, err, want)
		}
	}
}
