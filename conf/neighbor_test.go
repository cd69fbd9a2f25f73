package conf

import (
	"strings"
	"testing"
	"time"
)

func TestNeighbors(t *testing.T) {
	head := "[dataplane]\nworkers = [1]\naddress = \"192.0.2.10/24\"\n[[dataplane.port]]\nname = \"in\"\ndevice = \"net_ring0\"\n" +
		"[[dataplane.port]]\nname = \"out\"\ndevice = \"net_ring1\"\n"
	nb := func(lines ...string) string {
		return head + "[[dataplane.neighbor]]\n" + strings.Join(lines, "\n") + "\n"
	}

	c, err := Parse("t.toml", []byte(nb(`address = "192.0.2.21"`, `mac = "02:00:00:00:00:21"`, `port = "out"`)))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Dataplane.Neighbors) != 1 {
		t.Fatalf("neighbours %+v", c.Dataplane.Neighbors)
	}
	n := c.Dataplane.Neighbors[0]
	if n.Address.String() != "192.0.2.21" || n.MAC != [6]byte{2, 0, 0, 0, 0, 0x21} || n.Port != 1 {
		t.Fatalf("neighbour %+v", n)
	}

	expect(t, "off-link", nb(`address = "198.51.100.1"`, `mac = "02:00:00:00:00:21"`, `port = "out"`),
		"11: dataplane.neighbor[0].address: neighbour 198.51.100.1 is outside 192.0.2.0/24")
	expect(t, "own address", nb(`address = "192.0.2.10"`, `mac = "02:00:00:00:00:21"`, `port = "out"`),
		"11: dataplane.neighbor[0].address: neighbour 192.0.2.10 is the balancer's own address")
	expect(t, "unknown port", nb(`address = "192.0.2.21"`, `mac = "02:00:00:00:00:21"`, `port = "wan"`),
		`13: dataplane.neighbor[0].port: no [[dataplane.port]] is named "wan"`)
	expect(t, "bad mac", nb(`address = "192.0.2.21"`, `mac = "01:00:5e:00:00:01"`, `port = "out"`),
		"12: dataplane.neighbor[0].mac: ")
	expect(t, "missing mac", nb(`address = "192.0.2.21"`, `port = "out"`),
		"10: dataplane.neighbor[0].mac: required key is missing")
	expect(t, "duplicate", nb(`address = "192.0.2.21"`, `mac = "02:00:00:00:00:21"`, `port = "out"`,
		"[[dataplane.neighbor]]", `address = "192.0.2.21"`, `mac = "02:00:00:00:00:22"`, `port = "in"`),
		"15: dataplane.neighbor[1].address: neighbour 192.0.2.21 already defined by dataplane.neighbor[0] (line 11)")
	expect(t, "unknown key", nb(`address = "192.0.2.21"`, `mac = "02:00:00:00:00:21"`, `port = "out"`, `weight = 1`),
		"14: dataplane.neighbor[0].weight: unknown key")
}

func TestSHMAndTAP(t *testing.T) {
	head := "[dataplane]\nworkers = [1]\naddress = \"192.0.2.10/24\"\n"
	port := "[[dataplane.port]]\nname = \"p\"\ndevice = \"net_ring0\"\n"
	c, err := Parse("t.toml", []byte(head+"shm = \"/run/dsrlb/shm\"\ntap = \"dsrlb0\"\n"+port))
	if err != nil {
		t.Fatal(err)
	}
	if c.Dataplane.SHM != "/run/dsrlb/shm" || c.Dataplane.TAP != "dsrlb0" {
		t.Fatalf("shm %q tap %q", c.Dataplane.SHM, c.Dataplane.TAP)
	}
	if c.Dataplane.ConntrackEntries != 1<<20 || c.Dataplane.ConntrackTimeout != 300*time.Second {
		t.Fatalf("conntrack defaults %d %v", c.Dataplane.ConntrackEntries, c.Dataplane.ConntrackTimeout)
	}
	if c.Dataplane.StatsServices != 1024 || c.Dataplane.StatsBackends != 8192 {
		t.Fatalf("stats defaults %d %d", c.Dataplane.StatsServices, c.Dataplane.StatsBackends)
	}
	c, err = Parse("t.toml", []byte(head+"stats_services = 0\nstats_backends = 1048575\n"+port))
	if err != nil || c.Dataplane.StatsServices != 0 || c.Dataplane.StatsBackends != 1048575 {
		t.Fatalf("stats settings: %v %+v", err, c)
	}
	expect(t, "stats services", head+"stats_services = 65536\n"+port, "4: dataplane.stats_services: stats_services 65536 out of range 0..65535")
	expect(t, "stats backends", head+"stats_backends = -1\n"+port, "4: dataplane.stats_backends: stats_backends -1 out of range 0..1048575")
	c, err = Parse("t.toml", []byte(head+"conntrack_entries = 4096\nconntrack_timeout = \"1m\"\n"+port))
	if err != nil || c.Dataplane.ConntrackEntries != 4096 || c.Dataplane.ConntrackTimeout != time.Minute {
		t.Fatalf("conntrack settings: %v %+v", err, c)
	}
	expect(t, "conntrack too small", head+"conntrack_entries = 10\n"+port, "4: dataplane.conntrack_entries: conntrack_entries 10 out of range 1024..67108864")
	expect(t, "conntrack timeout", head+"conntrack_timeout = \"10h\"\n"+port, "4: dataplane.conntrack_timeout: conntrack_timeout 10h0m0s out of range 1s..9h")
	expect(t, "relative shm", head+"shm = \"dsrlb\"\n"+port, `4: dataplane.shm: shm "dsrlb" must be an absolute file path`)
	expect(t, "bad tap", head+"tap = \"a/b\"\n"+port, `4: dataplane.tap: invalid interface name "a/b"`)
	expect(t, "long tap", head+"tap = \"abcdefghijklmnop\"\n"+port, `4: dataplane.tap: invalid interface name`)
}
