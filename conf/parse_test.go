package conf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestExample(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "example.toml"))
	if err != nil {
		t.Fatalf("example.toml: %v", err)
	}
	wantDP := Dataplane{
		Workers:             []int{1},
		MainCPU:             0,
		EALArgs:             []string{"--no-huge", "-m", "512", "--no-shconf"},
		Address:             netip.MustParsePrefix("192.0.2.10/24"),
		Address6:            netip.MustParsePrefix("2001:db8::10/64"),
		BurstSize:           32,
		Mbufs:               8191,
		MbufSize:            2176,
		ARPRefresh:          5 * time.Second,
		ARPExpiry:           30 * time.Second,
		StatsInterval:       10 * time.Second,
		IdleSleep:           0,
		SHM:                 "/dev/shm/dsrlb",
		ConntrackEntries:    1 << 20,
		ConntrackTimeout:    300 * time.Second,
		ConntrackSynTimeout: 30 * time.Second,
		ConntrackFinTimeout: 60 * time.Second,
		ConntrackUDPTimeout: 300 * time.Second,
		PersistenceEntries:  65536,
		StatsServices:       1024,
		StatsBackends:       8192,
		Ports: []Port{{
			Name:          "lan0",
			Device:        "net_af_packet0,iface=veth-lb",
			DeviceName:    "net_af_packet0",
			IsVdev:        true,
			MTU:           1500,
			MAC:           [6]byte{2, 0, 0, 0, 0, 1},
			HasMAC:        true,
			RxDescriptors: 1024,
			TxDescriptors: 1024,
		}},
	}
	if !reflect.DeepEqual(c.Dataplane, wantDP) {
		t.Errorf("Dataplane:\n got %+v\nwant %+v", c.Dataplane, wantDP)
	}
	a := netip.MustParseAddr
	webCheck := &Check{Type: CheckHTTP, Port: 80, Path: "/healthz", Status: []int{200, 204}, Body: "ok", Host: "www.example.com",
		Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3, Jitter: 0.1}
	ownCheck := &Check{Type: CheckTCP, Port: 8080, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3, Jitter: 0.1}
	wantSvc := []Service{{
		Name: "web", VIP: a("192.0.2.100"), Protocol: ProtoTCP, Port: 80, Method: MethodL2DSR,
		Scheduler: SchedMaglev, Hash: HashFiveTuple, TableSize: 65537,
		Backends: []Backend{{Address: a("192.0.2.21"), Weight: 1, Check: webCheck}, {Address: a("192.0.2.22"), Weight: 2, Check: webCheck},
			{Address: a("192.0.2.23"), Weight: 0, Check: ownCheck, OwnCheck: true}},
		SorryServer: a("192.0.2.30"), Quorum: 2, Hysteresis: 1, Check: webCheck, PriorityMin: 1,
	}, {
		Name: "dns", VIP: a("192.0.2.101"), Protocol: ProtoUDP, Port: 0, Method: MethodL2DSR,
		Scheduler: SchedMaglev, Hash: HashSourceIP, TableSize: 251,
		Backends: []Backend{{Address: a("192.0.2.31"), Weight: 1}, {Address: a("192.0.2.32"), Weight: 1}},
		Quorum:   1, PriorityMin: 1,
	}}
	if !reflect.DeepEqual(c.Services, wantSvc) {
		t.Errorf("Services:\n got %+v\nwant %+v", c.Services, wantSvc)
	}
	if c.File != filepath.Join("testdata", "example.toml") {
		t.Errorf("File = %q", c.File)
	}
	if port, _ := c.Dataplane.Ports[0].Arg("iface"); port != "veth-lb" {
		t.Errorf("Arg(iface) = %q", port)
	}
	if got := c.Line("service[1].backend[1].address"); got != 118 {
		t.Errorf("Line(service[1].backend[1].address) = %d, want 118", got)
	}
	if c.Ctrl.Socket != "/run/dsrlb/ctrl.sock" {
		t.Errorf("Ctrl = %+v", c.Ctrl)
	}
	err = c.Errorf("service[0].vip", "compile: %s", "boom")
	if want := "testdata/example.toml:60: service[0].vip: compile: boom"; err.Error() != want {
		t.Errorf("Errorf = %q, want %q", err, want)
	}
}

// minimal is the smallest valid configuration; tests append to it.
const minimal = `[dataplane]
workers = [1]
address = "192.0.2.10/24"
[[dataplane.port]]
name = "p0"
device = "net_ring0"
`

func TestDefaults(t *testing.T) {
	c, err := Parse("m.toml", []byte(minimal+`
[[service]]
name = "s"
vip = "192.0.2.100"
[[service.backend]]
address = "192.0.2.20"
`))
	if err != nil {
		t.Fatal(err)
	}
	dp := c.Dataplane
	if dp.MainCPU != 0 || dp.BurstSize != 32 || dp.Mbufs != 8191 || dp.ARPRefresh != 5*time.Second ||
		dp.ARPExpiry != 30*time.Second || dp.StatsInterval != 10*time.Second || dp.IdleSleep != 0 ||
		dp.EALArgs != nil || dp.Address6.IsValid() {
		t.Errorf("dataplane defaults wrong: %+v", dp)
	}
	p := dp.Ports[0]
	if p.MTU != 1500 || p.RxDescriptors != 1024 || p.TxDescriptors != 1024 || p.HasMAC || !p.IsVdev || p.DeviceName != "net_ring0" {
		t.Errorf("port defaults wrong: %+v", p)
	}
	s := c.Services[0]
	if s.Protocol != ProtoTCP || s.Port != 0 || s.Method != MethodL2DSR || s.Scheduler != SchedMaglev ||
		s.Hash != HashFiveTuple || s.TableSize != 65537 || len(s.Backends) != 1 || s.Backends[0].Weight != 1 ||
		s.PersistenceTimeout != 0 || s.PersistenceGranularity != 0 || s.PriorityMin != 1 || s.Backends[0].Priority != 0 {
		t.Errorf("service defaults wrong: %+v", s)
	}
}

func TestValidVariants(t *testing.T) {
	for name, src := range map[string]string{
		"no services":              minimal,
		"service without backends": minimal + "[[service]]\nname = \"s\"\nvip = \"198.51.100.1\"\n",
		"port 0 and specific port on one VIP": minimal + `
[[service]]
name = "all"
vip = "198.51.100.1"
[[service]]
name = "http"
vip = "198.51.100.1"
port = 80
[[service]]
name = "udp-http"
vip = "198.51.100.1"
protocol = "udp"
port = 80
`,
		"PCI device with args, weight 0, inline tables": `
dataplane = { workers = [2, 3], main_cpu = 1, address = "203.0.113.1/31", port = [{ name = "pci_0", device = "0000:3B:00.1,txq_inline=1" }] }
service = [{ name = "a.b-c_d", vip = "198.51.100.7", port = 443, backend = [{ address = "203.0.113.0", weight = 0 }] }]
`,
	} {
		if _, err := Parse("v.toml", []byte(src)); err != nil {
			t.Errorf("%s: unexpected error: %v", name, err)
		}
	}
	c, err := Parse("v.toml", []byte(minimal+"[[dataplane.port]]\nname = \"p1\"\ndevice = \"0000:3B:00.1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Dataplane.Ports[1]; p.IsVdev || p.DeviceName != "0000:3b:00.1" || p.Device != "0000:3B:00.1" {
		t.Errorf("PCI port = %+v", p)
	}
}

// errorLines splits a joined error into its lines.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// expect checks that parsing src fails with exactly the errors in want,
// in order; each is "LINE: substring".
func expect(t *testing.T, name, src string, want ...string) {
	t.Helper()
	c, err := Parse("t.toml", []byte(src))
	if err == nil {
		t.Errorf("%s: no error, want %q", name, want)
		return
	}
	if c != nil {
		t.Errorf("%s: non-nil Config together with an error", name)
	}
	got := errorLines(err)
	if len(got) != len(want) {
		t.Errorf("%s: got %d errors, want %d:\n%s", name, len(got), len(want), err)
		return
	}
	for i, w := range want {
		line, sub, _ := strings.Cut(w, ": ")
		prefix := "t.toml:" + line + ": "
		if !strings.HasPrefix(got[i], prefix) || !strings.Contains(got[i], sub) {
			t.Errorf("%s: error %d = %q, want prefix %q containing %q", name, i, got[i], prefix, sub)
		}
	}
}

// svc returns minimal plus one service (lines 7-9) and extra lines from 10 on.
func svc(extra ...string) string {
	s := minimal + "[[service]]\nname = \"s\"\nvip = \"192.0.2.100\"\n"
	for _, e := range extra {
		s += e + "\n"
	}
	return s
}

// dp returns a [dataplane] table whose first key is on line 2, followed by
// a valid port.
func dp(lines ...string) string {
	return "[dataplane]\n" + strings.Join(lines, "\n") + "\n[[dataplane.port]]\nname = \"p0\"\ndevice = \"net_ring0\"\n"
}

func TestSyntaxAndTypeErrors(t *testing.T) {
	expect(t, "bad syntax", minimal+"[[service]\nname = 1\n", "7: invalid TOML")
	expect(t, "duplicate key", minimal+"name = \"again\"\n", "7: invalid TOML")
	expect(t, "string for integer", dp(`workers = [1]`, `address = "192.0.2.10/24"`, `burst_size = "32"`),
		`4: dataplane.burst_size: wrong type: expected integer, found string "32"`)
	expect(t, "float for integer", svc("port = 80.0"), "10: service[0].port: wrong type: expected integer, found float 80")
	expect(t, "integer for string", svc("[[service.backend]]", "address = 3232235777"),
		"11: service[0].backend[0].address: wrong type: expected string")
	expect(t, "string in workers", dp(`workers = [1, "2"]`, `address = "192.0.2.10/24"`),
		`2: dataplane.workers[1]: wrong type: expected integer, found string "2"`)
	expect(t, "table instead of array of tables", minimal+"[service]\nname = \"s\"\n",
		"7: service: wrong type: expected array of tables, found table")
	expect(t, "type error in second backend", svc(
		"[[service.backend]]", `address = "192.0.2.20"`, "weight = 1",
		"[[service.backend]]", `address = "192.0.2.21"`, `weight = "heavy"`,
		"[[service.backend]]", `address = "192.0.2.22"`, "weight = 3"),
		`15: service[0].backend[1].weight: wrong type: expected integer, found string "heavy"`)
	expect(t, "array for string", dp(`workers = [1]`, `address = ["192.0.2.10/24"]`),
		"3: dataplane.address: wrong type: expected string, found array")
}

func TestUnknownKeys(t *testing.T) {
	expect(t, "top level", "title = \"x\"\n"+minimal, "1: title: unknown key")
	expect(t, "top-level table typo", minimal+"\n[dataplan]\nx = 1\n", `8: dataplan: unknown key (did you mean "dataplane"?)`)
	expect(t, "nested", svc("vipp = \"192.0.2.1\""), `10: service[0].vipp: unknown key (did you mean "vip"?)`)
	expect(t, "in second port", minimal+"[[dataplane.port]]\nname = \"p1\"\ndevice = \"net_ring1\"\nspeed = 100\n",
		"10: dataplane.port[1].speed: unknown key")
	expect(t, "in backend", svc("[[service.backend]]", `address = "192.0.2.20"`, "[[service.backend]]", `address = "192.0.2.21"`, "wieght = 2"),
		`14: service[0].backend[1].wieght: unknown key (did you mean "weight"?)`)
	expect(t, "quoted", svc(`"odd key" = 1`), `10: service[0]."odd key": unknown key`)
	expect(t, "unknown subtable", minimal+"[dataplane.extra]\na = 1\n", "7: dataplane.extra: unknown key")
}

func TestDataplaneErrors(t *testing.T) {
	addr := `address = "192.0.2.10/24"`
	expect(t, "no dataplane", "[[service]]\nname = \"s\"\nvip = \"192.0.2.100\"\n", "1: dataplane: missing [dataplane] table")
	expect(t, "workers missing", dp(addr), "1: dataplane.workers: required key is missing")
	expect(t, "workers empty", dp(`workers = []`, addr), "2: dataplane.workers: at least one worker CPU is required")
	expect(t, "workers duplicate", dp("workers = [", " 1,", " 2,", " 1,", "]", addr), "5: dataplane.workers: CPU 1 listed twice (entries 0 and 2)")
	expect(t, "workers negative", dp(`workers = [-1]`, addr), "2: dataplane.workers: CPU -1 out of range 0..1023")
	many := make([]string, 65)
	for i := range many {
		many[i] = fmt.Sprint(i + 1)
	}
	expect(t, "too many workers", dp("workers = ["+strings.Join(many, ", ")+"]", addr), "2: dataplane.workers: too many workers: 65 (at most 64)")
	expect(t, "main_cpu in workers", dp(`workers = [1, 2]`, `main_cpu = 2`, addr), "3: dataplane.main_cpu: main_cpu 2 is also listed in workers")
	expect(t, "default main_cpu in workers", dp(`workers = [0, 1]`, addr), "2: dataplane.workers: CPU 0 is the main lcore (main_cpu defaults to 0)")
	for _, flag := range []string{"-l", "-c", "--lcores", "--main-lcore", "--vdev", "-a", "-b", "--allow", "--block"} {
		expect(t, "forbidden EAL flag "+flag, dp(`workers = [1]`, addr, `eal_args = ["--no-huge",`, fmt.Sprintf(`  %q, "x"]`, flag)),
			"5: dataplane.eal_args: EAL flag "+flag+" is not allowed")
	}
	expect(t, "forbidden EAL flag forms", dp(`workers = [1]`, addr, `eal_args = ["--lcores=1@2", "-l1-3", "--allow=0000:01:00.0"]`),
		"4: flag --lcores is not allowed", "4: flag -l is not allowed", "4: flag --allow is not allowed")
	expect(t, "address missing", dp(`workers = [1]`), "1: dataplane.address: required key is missing")
	expect(t, "address without prefix", dp(`workers = [1]`, `address = "192.0.2.10"`), "3: dataplane.address: address \"192.0.2.10\" needs an on-link prefix length")
	expect(t, "address IPv6", dp(`workers = [1]`, `address = "2001:db8::1/64"`), "3: dataplane.address: address \"2001:db8::1/64\" is not IPv4")
	expect(t, "address network", dp(`workers = [1]`, `address = "192.0.2.0/24"`), "3: is the network address of 192.0.2.0/24")
	expect(t, "address garbage", dp(`workers = [1]`, `address = "lan"`), "3: invalid address \"lan\"")
	expect(t, "address6 v4", dp(`workers = [1]`, addr, `address6 = "192.0.2.1/24"`), "4: dataplane.address6: address6 \"192.0.2.1/24\" is not an IPv6 address")
	expect(t, "burst", dp(`workers = [1]`, addr, `burst_size = 0`), "4: dataplane.burst_size: burst_size 0 out of range 1..256")
	expect(t, "mbufs", dp(`workers = [1]`, addr, `mbufs = 100`), "4: dataplane.mbufs: mbufs 100 out of range 1023..16777215")
	expect(t, "bad duration", dp(`workers = [1]`, addr, `arp_refresh = "5"`), `4: dataplane.arp_refresh: invalid duration "5"`)
	expect(t, "bad duration unit", dp(`workers = [1]`, addr, `stats_interval = "10 s"`), `4: dataplane.stats_interval: invalid duration "10 s"`)
	expect(t, "negative duration", dp(`workers = [1]`, addr, `stats_interval = "-1s"`), `4: dataplane.stats_interval: negative duration "-1s"`)
	expect(t, "arp_refresh too short", dp(`workers = [1]`, addr, `arp_refresh = "10ms"`), "4: arp_refresh 10ms is too short (minimum 100ms)")
	expect(t, "arp_expiry <= arp_refresh", dp(`workers = [1]`, addr, `arp_refresh = "5s"`, `arp_expiry = "5s"`),
		"5: dataplane.arp_expiry: arp_expiry 5s must be greater than arp_refresh (5s)")
	expect(t, "arp_refresh above default expiry", dp(`workers = [1]`, addr, `arp_refresh = "1m"`),
		"4: dataplane.arp_refresh: arp_refresh 1m0s must be less than arp_expiry (30s, the default)")
	expect(t, "idle_sleep", dp(`workers = [1]`, addr, `idle_sleep = "2ms"`), "4: dataplane.idle_sleep: idle_sleep 2ms out of range 0..1ms")
}

func TestPortErrors(t *testing.T) {
	head := "[dataplane]\nworkers = [1]\naddress = \"192.0.2.10/24\"\n"
	port := func(lines ...string) string { return head + "[[dataplane.port]]\n" + strings.Join(lines, "\n") + "\n" }
	expect(t, "no ports", head, "1: dataplane.port: at least one [[dataplane.port]] is required")
	expect(t, "bad port name", port(`name = "LAN0"`, `device = "net_ring0"`), `5: dataplane.port[0].name: invalid port name "LAN0"`)
	expect(t, "long port name", port(`name = "a234567890123456"`, `device = "net_ring0"`), `5: invalid port name`)
	expect(t, "port name missing", port(`device = "net_ring0"`), `4: dataplane.port[0].name: required key is missing`)
	expect(t, "duplicate port name", port(`name = "p"`, `device = "net_ring0"`, "[[dataplane.port]]", `name = "p"`, `device = "net_ring1"`),
		`8: dataplane.port[1].name: port name "p" already used by dataplane.port[0] (line 5)`)
	expect(t, "duplicate device", port(`name = "a"`, `device = "net_ring0"`, "[[dataplane.port]]", `name = "b"`, `device = "net_ring0"`),
		`9: dataplane.port[1].device: device "net_ring0" already used by dataplane.port[0] (line 6)`)
	expect(t, "duplicate instance", port(`name = "a"`, `device = "net_af_packet0,iface=x"`, "[[dataplane.port]]", `name = "b"`, `device = "net_af_packet0,iface=y"`),
		`9: dataplane.port[1].device: device name net_af_packet0 already used by dataplane.port[0] (line 6)`)
	expect(t, "duplicate PCI, different case", port(`name = "a"`, `device = "0000:01:00.0"`, "[[dataplane.port]]", `name = "b"`, `device = "0000:01:00.0,x=1"`),
		`9: device name 0000:01:00.0 already used`)
	expect(t, "bad device", port(`name = "a"`, `device = "eth0"`), `6: dataplane.port[0].device: device "eth0" is neither a DPDK vdev`)
	expect(t, "short PCI", port(`name = "a"`, `device = "01:00.0"`), `6: is neither a DPDK vdev`)
	expect(t, "af_packet without iface", port(`name = "a"`, `device = "net_af_packet0"`), `6: net_af_packet needs the interface`)
	expect(t, "af_packet bad iface", port(`name = "a"`, `device = "net_af_packet0,iface=../x"`), `6: invalid interface name "../x"`)
	expect(t, "mtu", port(`name = "a"`, `device = "net_ring0"`, `mtu = 10000`), "7: dataplane.port[0].mtu: mtu 10000 out of range 68..9702")
	expect(t, "bad mac", port(`name = "a"`, `device = "net_ring0"`, `mac = "02:00:00:00:01"`), `7: dataplane.port[0].mac: invalid MAC address "02:00:00:00:01"`)
	expect(t, "bad mac hex", port(`name = "a"`, `device = "net_ring0"`, `mac = "02:00:00:00:00:zz"`), `7: invalid MAC address`)
	expect(t, "multicast mac", port(`name = "a"`, `device = "net_ring0"`, `mac = "01:00:5e:00:00:01"`), `7: is a multicast address`)
	expect(t, "zero mac", port(`name = "a"`, `device = "net_ring0"`, `mac = "00:00:00:00:00:00"`), `7: is all zero`)
	expect(t, "descriptors not power of two", port(`name = "a"`, `device = "net_ring0"`, `rx_descriptors = 1000`),
		"7: dataplane.port[0].rx_descriptors: rx_descriptors 1000 is not a power of two")
	expect(t, "descriptors range", port(`name = "a"`, `device = "net_ring0"`, `tx_descriptors = 32768`),
		"7: dataplane.port[0].tx_descriptors: tx_descriptors 32768 out of range 64..16384")
	var nine string
	for i := range 9 {
		nine += fmt.Sprintf("[[dataplane.port]]\nname = \"p%d\"\ndevice = \"net_ring%d\"\n", i, i)
	}
	expect(t, "too many ports", head+nine, "28: dataplane.port: too many ports: 9 (at most 8)")
}

func TestServiceErrors(t *testing.T) {
	expect(t, "name missing", minimal+"[[service]]\nvip = \"192.0.2.100\"\n", "7: service[0].name: required key is missing")
	expect(t, "bad name", minimal+"[[service]]\nname = \"web server\"\nvip = \"192.0.2.100\"\n", `8: service[0].name: invalid service name "web server"`)
	expect(t, "vip missing", minimal+"[[service]]\nname = \"s\"\n", "7: service[0].vip: required key is missing")
	expect(t, "vip invalid", minimal+"[[service]]\nname = \"s\"\nvip = \"192.0.2.300\"\n", `9: service[0].vip: invalid IPv4 address "192.0.2.300"`)
	expect(t, "vip IPv6", minimal+"[[service]]\nname = \"s\"\nvip = \"2001:db8::1\"\n", "9: service[0].vip: vip 2001:db8::1: an IPv6 service needs dataplane.address6")
	for vip, why := range map[string]string{
		"0.0.0.0": "is unspecified", "224.0.0.1": "is a multicast address", "255.255.255.255": "is the broadcast address",
		"127.0.0.1": "is a loopback address", "192.0.2.10": "is the balancer's own address",
	} {
		expect(t, "vip "+vip, minimal+"[[service]]\nname = \"s\"\nvip = \""+vip+"\"\n", "9: service[0].vip: vip "+vip+" "+why)
	}
	expect(t, "protocol", svc(`protocol = "sctp"`), `10: service[0].protocol: unknown protocol "sctp"`)
	expect(t, "port", svc(`port = 65536`), "10: service[0].port: port 65536 out of range 0..65535")
	expect(t, "unknown method", svc(`method = "vxlan"`), `10: service[0].method: unknown method "vxlan" (valid: "l2dsr", "dscp", "ipip", "gre", "gue")`)
	expect(t, "unknown method", svc(`method = "nat"`), `10: service[0].method: unknown method "nat" (valid: "l2dsr"`)
	expect(t, "unknown scheduler", svc(`scheduler = "random"`),
		`10: service[0].scheduler: unknown scheduler "random" (valid: "maglev", "mh", "rr", "wrr", "lc", "wlc", "sh", "fo", "twos")`)
	expect(t, "hash", svc(`hash = "dst-ip"`), `10: service[0].hash: unknown hash "dst-ip"`)
	expect(t, "table not prime", svc(`table_size = 65536`), "10: service[0].table_size: table_size 65536 is not a prime number")
	expect(t, "table range", svc(`table_size = 5`), "10: service[0].table_size: table_size 5 out of range 7..16777213")
	expect(t, "table smaller than backends", svc("table_size = 7",
		`backend = [{address = "192.0.2.21"}, {address = "192.0.2.22"}, {address = "192.0.2.23"}, {address = "192.0.2.24"},`,
		`  {address = "192.0.2.25"}, {address = "192.0.2.26"}, {address = "192.0.2.27"}, {address = "192.0.2.28"}]`),
		"10: service[0].table_size: table_size 7 is smaller than the number of backends (8)")
	expect(t, "duplicate name", svc("[[service]]", `name = "s"`, `vip = "192.0.2.101"`),
		`11: service[1].name: service name "s" already used by service[0] (line 8)`)
	expect(t, "duplicate VIP triple", svc("port = 80", "[[service]]", `name = "t"`, `vip = "192.0.2.100"`, `protocol = "tcp"`, "port = 80"),
		`13: service[1].vip: service "t" (line 13) has the same VIP, protocol and port (192.0.2.100 tcp port 80) as service "s" (line 9)`)
	expect(t, "duplicate VIP triple, all ports", svc("[[service]]", `name = "t"`, `vip = "192.0.2.100"`),
		`12: service[1].vip: service "t" (line 12) has the same VIP, protocol and port (192.0.2.100 tcp all ports) as service "s" (line 9)`)
}

func TestBackendErrors(t *testing.T) {
	b := func(lines ...string) string { return svc(append([]string{"[[service.backend]]"}, lines...)...) }
	expect(t, "address missing", b("weight = 1"), "10: service[0].backend[0].address: required key is missing")
	expect(t, "address invalid", b(`address = "192.0.2"`), `11: service[0].backend[0].address: invalid IPv4 address "192.0.2"`)
	expect(t, "address IPv6", b(`address = "2001:db8::5"`), `11: service[0].backend[0].address: backend 2001:db8::5 is IPv6 but VIP 192.0.2.100 is IPv4: method l2dsr`)
	expect(t, "weight too big", b(`address = "192.0.2.20"`, "weight = 70000"), "12: service[0].backend[0].weight: weight 70000 out of range 0..65535")
	expect(t, "weight negative", b(`address = "192.0.2.20"`, "weight = -1"), "12: service[0].backend[0].weight: weight -1 out of range 0..65535")
	expect(t, "off-link", b(`address = "198.51.100.20"`),
		"11: service[0].backend[0].address: backend 198.51.100.20 is outside 192.0.2.0/24, the on-link prefix of dataplane.address: method l2dsr")
	expect(t, "is VIP", b(`address = "192.0.2.100"`), "11: service[0].backend[0].address: backend 192.0.2.100 is the service's own VIP")
	expect(t, "is own address", b(`address = "192.0.2.10"`), "11: backend 192.0.2.10 is the balancer's own address")
	expect(t, "broadcast of subnet", b(`address = "192.0.2.255"`), "11: backend 192.0.2.255 is the network or broadcast address of 192.0.2.0/24")
	expect(t, "duplicate", b(`address = "192.0.2.20"`, "[[service.backend]]", `address = "192.0.2.20"`),
		"13: service[0].backend[1].address: backend 192.0.2.20 is listed twice in this service (see line 11)")
}

func TestMultipleErrorsInFileOrder(t *testing.T) {
	src := `[dataplane]
workers = [1, 1]
address = "192.0.2.10/24"
burst_size = 512
speed = 10
[[dataplane.port]]
name = "P"
device = "net_ring0"
[[service]]
name = "web"
vip = "2001:db8::1"
method = "gre"
[[service.backend]]
address = "198.51.100.1"
weight = 70000
[[service]]
name = "dns"
vip = "192.0.2.53"
table_size = 100
`
	expect(t, "many", src,
		"2: dataplane.workers: CPU 1 listed twice",
		"4: dataplane.burst_size: burst_size 512 out of range 1..256",
		"5: dataplane.speed: unknown key",
		`7: dataplane.port[0].name: invalid port name "P"`,
		"11: service[0].vip: vip 2001:db8::1: an IPv6 service needs dataplane.address6 (neighbour discovery and ICMPv6 errors are sent from it)",
		"14: service[0].backend[0].address: no route to backend 198.51.100.1 (method gre): add a [[dataplane.route]] or dataplane.gateway",
		"15: service[0].backend[0].weight: weight 70000 out of range 0..65535",
		"19: service[1].table_size: table_size 100 is not a prime number",
	)
	// The joined error still exposes every *Error.
	_, err := Parse("t.toml", []byte(src))
	var n int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *Error
		if !errors.As(e, &ce) || ce.File != "t.toml" || ce.Line == 0 || ce.Path == "" {
			t.Errorf("not a positioned *Error: %#v", e)
		}
		n++
	}
	if n != 8 {
		t.Errorf("%d errors, want 8", n)
	}
}

func TestOffLinkNotReportedWhenAddressInvalid(t *testing.T) {
	// Backends are checked against dataplane.address only if it is valid.
	expect(t, "bad address", dp(`workers = [1]`, `address = "192.0.2.10"`)+"[[service]]\nname = \"s\"\nvip = \"198.51.100.1\"\n[[service.backend]]\naddress = \"203.0.113.9\"\n",
		"3: dataplane.address: address \"192.0.2.10\" needs an on-link prefix length")
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tt := range []struct {
		e    Error
		want string
	}{
		{Error{File: "a.toml", Line: 3, Path: "x.y", Msg: "bad"}, "a.toml:3: x.y: bad"},
		{Error{File: "a.toml", Line: 0, Path: "x", Msg: "bad"}, "a.toml:?: x: bad"},
		{Error{File: "a.toml", Line: 7, Msg: "invalid TOML: two\nlines"}, "a.toml:7: invalid TOML: two lines"},
		{Error{Line: 1, Msg: "m"}, "config:1: m"},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if MethodL2DSR.String() != "l2dsr" || MethodGUE.String() != "gue" || Method(0).String() != "method(0)" ||
		ProtoUDP.String() != "udp" || HashSourceIP.String() != "source-ip" || HashFiveTuple.String() != "5-tuple" {
		t.Error("String methods wrong")
	}
	if MethodL2DSR != 1 || ProtoTCP != 6 || ProtoUDP != 17 {
		t.Error("constant values wrong")
	}
}

func TestQueuesAndBuffers(t *testing.T) {
	head := "[dataplane]\nworkers = [0, 1]\nshare_main_cpu = true\naddress = \"192.0.2.10/24\"\n"
	port := func(lines ...string) string {
		return head + "[[dataplane.port]]\nname = \"p0\"\n" + strings.Join(lines, "\n") + "\n"
	}
	c, err := Parse("t.toml", []byte(port(`device = "net_af_packet0,iface=eth0,qpairs=2"`)))
	if err != nil || !c.Dataplane.ShareMainCPU || c.Dataplane.MainCPU != 0 || len(c.Dataplane.Workers) != 2 {
		t.Fatalf("main lcore sharing worker 0's CPU: %v %+v", err, c)
	}
	expect(t, "af_packet without qpairs", port(`device = "net_af_packet0,iface=eth0"`),
		"7: dataplane.port[0].device: port p0: 2 workers need a queue pair each: add qpairs=2 to the device string")
	expect(t, "af_packet with too few qpairs", port(`device = "net_af_packet0,iface=eth0,qpairs=1"`),
		"7: dataplane.port[0].device: port p0: 2 workers need a queue pair each, the device has qpairs=1")
	expect(t, "af_packet qpairs not a number", port(`device = "net_af_packet0,iface=eth0,qpairs=x"`),
		`7: dataplane.port[0].device: port p0: qpairs "x" is not a positive number`)
	expect(t, "pcap with one capture", port(`device = "net_pcap0,rx_pcap=/a.pcap"`),
		"7: dataplane.port[0].device: port p0: 2 workers need a receive queue each, the device has 1 (one per rx_pcap)")
	if _, err := Parse("t.toml", []byte(port(`device = "net_pcap0,rx_pcap=/a.pcap,rx_pcap=/b.pcap"`))); err != nil {
		t.Errorf("two captures for two workers: %v", err)
	}

	one := "[dataplane]\nworkers = [1]\naddress = \"192.0.2.10/24\"\n"
	c, err = Parse("t.toml", []byte(one+"mbuf_size = 384\n[[dataplane.port]]\nname = \"p0\"\ndevice = \"net_null0\"\nmtu = 200\n"))
	if err != nil || c.Dataplane.MbufSize != 384 {
		t.Fatalf("mbuf_size 384 for MTU 200: %v", err)
	}
	expect(t, "mbuf_size too small", one+"mbuf_size = 1024\n[[dataplane.port]]\nname = \"p0\"\ndevice = \"net_null0\"\n",
		"4: dataplane.mbuf_size: mbuf_size 1024 is too small for an MTU of 1500: at least 1650 (headroom 128 + MTU + 22)")
	c, err = Parse("t.toml", []byte(one+"[[dataplane.port]]\nname = \"p0\"\ndevice = \"net_null0\"\nmtu = 9000\n"))
	if err != nil || c.Dataplane.MbufSize != 128+9000+22 {
		t.Fatalf("default mbuf_size for a jumbo MTU: %v %d", err, c.Dataplane.MbufSize)
	}
}
