package conf

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// bgpConfig is a valid configuration with an IPv4 and an IPv6 service
// announced by BGP; svcKeys go into the first service, tail after
// everything (more tables).
func bgpConfig(svcKeys, bgpKeys, tail string) string {
	return `[dataplane]
workers = [1]
address = "192.0.2.10/24"
address6 = "2001:db8::10/64"
tap = "dsrlb0"
[[dataplane.port]]
name = "p0"
device = "net_af_packet0,iface=veth0"
[[service]]
name = "web"
vip = "198.51.100.100"
port = 80
bgp = true
` + svcKeys + `
[[service.backend]]
address = "192.0.2.21"
[[service]]
name = "web6"
vip = "2001:db8:1::100"
port = 80
bgp = true
[[service.backend]]
address = "2001:db8::21"
[[service]]
name = "quiet"
vip = "198.51.100.101"
port = 80
scheduler = "rr"
[[service.backend]]
address = "192.0.2.21"
[bgp]
asn = 65001
` + bgpKeys + `
[[bgp.neighbor]]
address = "192.0.2.1"
asn = 65000
[[bgp.neighbor]]
address = "2001:db8::1"
asn = 65000
` + tail
}

func TestBGPValid(t *testing.T) {
	c, err := Parse("t.toml", []byte(bgpConfig("", `router_id = "10.255.0.1"
communities = ["65001:100", "0:65535"]
local_pref = 200
drain_delay = "2s"
dataplane_timeout = "300ms"
announce_sorry = true`, `
[[bgp.neighbor]]
address = "203.0.113.1"
asn = 65001
password = "s3cret"
hold_time = "9s"
keepalive = "2s"
multihop = 3
port = 1179
`)))
	if err != nil {
		t.Fatal(err)
	}
	b := c.BGP
	if b == nil || b.ASN != 65001 || b.RouterID != netip.MustParseAddr("10.255.0.1") ||
		b.NextHop != netip.MustParseAddr("192.0.2.10") || b.NextHop6 != netip.MustParseAddr("2001:db8::10") ||
		len(b.Communities) != 2 || b.Communities[0] != 65001<<16|100 || b.Communities[1] != 65535 ||
		!b.HasLocalPref || b.LocalPref != 200 || b.DrainDelay != 2*time.Second || b.DataplaneTimeout != 300*time.Millisecond ||
		!b.AnnounceSorry || b.AllowVRRP {
		t.Fatalf("%+v", b)
	}
	if len(b.Neighbors) != 3 {
		t.Fatalf("neighbours %+v", b.Neighbors)
	}
	if n := b.Neighbors[0]; n.HoldTime != 90*time.Second || n.Keepalive != 30*time.Second || n.Port != 179 || n.Multihop != 0 || b.IBGP(&n) {
		t.Errorf("defaults %+v", n)
	}
	if n := b.Neighbors[2]; n.Password != "s3cret" || n.HoldTime != 9*time.Second || n.Keepalive != 2*time.Second ||
		n.Multihop != 3 || n.Port != 1179 || !b.IBGP(&n) {
		t.Errorf("neighbour 3 %+v", n)
	}
	if !c.Services[0].BGP || !c.Services[1].BGP || c.Services[2].BGP {
		t.Errorf("service bgp keys %v %v %v", c.Services[0].BGP, c.Services[1].BGP, c.Services[2].BGP)
	}
	if CommunityString(b.Communities[0]) != "65001:100" {
		t.Error(CommunityString(b.Communities[0]))
	}

	// Defaults: router id and drain delay.
	c, err = Parse("t.toml", []byte(bgpConfig("", "", "")))
	if err != nil {
		t.Fatal(err)
	}
	if c.BGP.RouterID != netip.MustParseAddr("192.0.2.10") || c.BGP.DrainDelay != 5*time.Second ||
		c.BGP.DataplaneTimeout != time.Second || c.BGP.HasLocalPref || c.BGP.AnnounceSorry {
		t.Errorf("defaults %+v", c.BGP)
	}
	// A VIP in VRRP and BGP is allowed when said so.
	vrrp := "\n[[vrrp]]\nname = \"v\"\nvrid = 1\nvips = [\"198.51.100.100\"]\n"
	if _, err := Parse("t.toml", []byte(bgpConfig("", "allow_vrrp = true", vrrp))); err != nil {
		t.Errorf("allow_vrrp: %v", err)
	}
}

func TestBGPErrors(t *testing.T) {
	cases := []struct {
		name, svc, bgp, tail, want string
	}{
		{"router id v6", "", `router_id = "2001:db8::1"`, "", `bgp.router_id: router_id "2001:db8::1": the BGP identifier is an IPv4 address`},
		{"community", "", `communities = ["65536:1"]`, "", `bgp.communities[0]: community "65536:1": write "ASN:VALUE", each 0..65535`},
		{"graceful shutdown", "", `communities = ["65535:0"]`, "", `bgp.communities[0]: 65535:0 is GRACEFUL_SHUTDOWN`},
		{"drain", "", `drain_delay = "10m"`, "", `bgp.drain_delay: drain_delay 10m0s longer than 5m0s`},
		{"dataplane timeout", "", `dataplane_timeout = "1ms"`, "", `bgp.dataplane_timeout: dataplane_timeout 1ms out of range 30ms..10s`},
		{"duplicate neighbour", "", "", "[[bgp.neighbor]]\naddress = \"192.0.2.1\"\nasn = 65002\n", `bgp.neighbor[2].address: neighbour 192.0.2.1 already configured (line`},
		{"neighbour not on link", "", "", "[[bgp.neighbor]]\naddress = \"203.0.113.1\"\nasn = 65002\n", `bgp.neighbor[2].address: neighbour 203.0.113.1 is not in the balancer's on-link prefix 192.0.2.0/24: set multihop`},
		{"neighbour own address", "", "", "[[bgp.neighbor]]\naddress = \"192.0.2.10\"\nasn = 65002\n", `neighbour 192.0.2.10 is the balancer's own address`},
		{"neighbour asn", "", "", "[[bgp.neighbor]]\naddress = \"192.0.2.2\"\nasn = 4294967295\n", `bgp.neighbor[2].asn: asn 4294967295 out of range 1..4294967294`},
		{"neighbour no asn", "", "", "[[bgp.neighbor]]\naddress = \"192.0.2.2\"\n", `bgp.neighbor[2].asn: required key is missing`},
		{"hold time", "", "", "[[bgp.neighbor]]\naddress = \"192.0.2.2\"\nasn = 1\nhold_time = \"2s\"\n", `bgp.neighbor[2].hold_time: hold_time 2s: "0s" or 3s..18h12m15s`},
		{"hold time fraction", "", "", "[[bgp.neighbor]]\naddress = \"192.0.2.2\"\nasn = 1\nhold_time = \"3500ms\"\n", `hold_time 3.5s: BGP counts whole seconds`},
		{"keepalive", "", "", "[[bgp.neighbor]]\naddress = \"192.0.2.2\"\nasn = 1\nhold_time = \"9s\"\nkeepalive = \"9s\"\n", `keepalive 9s must be shorter than hold_time 9s`},
		{"password", "", "", "[[bgp.neighbor]]\naddress = \"192.0.2.2\"\nasn = 1\npassword = \"" + strings.Repeat("x", 81) + "\"\n", `password of 81 bytes: a TCP MD5 key has 1..80`},
		{"scheduler", `scheduler = "wrr"`, "", "", `service[0].bgp: service "web": scheduler "wrr" keeps no flow on its real server when the routers move it to another balancer`},
		{"persistence", `persistence_timeout = "60s"`, "", "", `service[0].bgp: service "web": persistence is a table of one balancer`},
		{"vrrp", "", "", "\n[[vrrp]]\nname = \"v\"\nvrid = 1\nvips = [\"198.51.100.100\"]\n", `service[0].bgp: service "web": VIP 198.51.100.100 is carried by VRRP instance "v" and announced by BGP: use one of them, or set [bgp] allow_vrrp = true`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(bgpConfig(tc.svc, tc.bgp, tc.tail)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
			if !strings.Contains(err.Error(), "t.toml:") {
				t.Errorf("no file:line in %v", err)
			}
		})
	}

	// Whole-table errors.
	for _, tc := range []struct{ name, cfg, want string }{
		{"no [bgp]", strings.Replace(bgpConfig("", "", ""), "[bgp]\nasn = 65001\n\n[[bgp.neighbor]]\naddress = \"192.0.2.1\"\nasn = 65000\n[[bgp.neighbor]]\naddress = \"2001:db8::1\"\nasn = 65000\n", "", 1),
			`service[0].bgp: service "web" has bgp = true but there is no [bgp] table`},
		{"asn missing", strings.Replace(bgpConfig("", "", ""), "asn = 65001\n", "", 1), `bgp.asn: required key is missing`},
		{"asn 0", strings.Replace(bgpConfig("", "", ""), "asn = 65001\n", "asn = 0\n", 1), `bgp.asn: asn 0 out of range 1..4294967294`},
		{"no tap", strings.Replace(bgpConfig("", "", ""), "tap = \"dsrlb0\"\n", "", 1), `BGP needs the exception path`},
		{"no neighbours", bgpConfig("", "", "")[:strings.Index(bgpConfig("", "", ""), "[[bgp.neighbor]]")], `[bgp] needs at least one [[bgp.neighbor]]`},
		{"no IPv6 neighbour", strings.Replace(bgpConfig("", "", ""), "[[bgp.neighbor]]\naddress = \"2001:db8::1\"\nasn = 65000\n", "", 1),
			`service[1].bgp: service "web6": no IPv6 neighbour to announce 2001:db8:1::100 to`},
		{"IPv6 neighbour without address6", strings.Replace(strings.Replace(bgpConfig("", "", ""), "address6 = \"2001:db8::10/64\"\n", "", 1), "[[service]]\nname = \"web6\"\nvip = \"2001:db8:1::100\"\nport = 80\nbgp = true\n[[service.backend]]\naddress = \"2001:db8::21\"\n", "", 1),
			`bgp.neighbor[1].address: neighbour 2001:db8::1: an IPv6 session starts from dataplane.address6: set it`},
		{"unknown key", bgpConfig("", "asnumber = 1", ""), `asnumber`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tc.cfg))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
}
