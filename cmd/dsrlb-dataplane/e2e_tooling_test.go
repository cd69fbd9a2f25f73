//go:build e2e

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"dsrlb/hw/testbed"
)

// seed004 is the shape of seed 004's keepalived configuration, on the
// test bed's addresses: a VRRP instance for the VIP, a virtual server
// group, wrr, DR, an HTTP check of /health_check.html and
// inhibit_on_failure.
const seed004Keepalived = `! Configuration File for keepalived
global_defs {
   router_id LVS_DSR
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cret
    }
    virtual_ipaddress {
        192.0.2.100
    }
}

virtual_server_group WEB {
    192.0.2.100 80
}

virtual_server group WEB {
    delay_loop 3
    lvs_sched wrr
    lvs_method DR
    protocol TCP
    inhibit_on_failure

    real_server 192.0.2.21 80 {
        weight 1
        HTTP_GET {
            url {
                path /health_check.html
                status_code 200
            }
            connect_timeout 2
        }
    }
    real_server 192.0.2.22 80 {
        weight 1
        HTTP_GET {
            url {
                path /health_check.html
                status_code 200
            }
            connect_timeout 2
        }
    }
}
`

// TestImportKeepalived: seed 004's keepalived configuration converted by
// dsrlbctl import keepalived runs as it is (the test bed adds only its
// own memory, file and socket paths): the balancer becomes VRRP master
// and splits 200 requests between the two real servers by wrr.
func TestImportKeepalived(t *testing.T) {
	topo := newL2(t, 2)
	topo.TAP = "dsrlb0"
	b := &ctrlBed{L2: topo, t: t, nginx: make([]*testbed.Proc, 2)}
	for i := range topo.Servers {
		b.startServer(i)
	}
	src := filepath.Join(b.Dir, "keepalived.conf")
	if err := os.WriteFile(src, []byte(seed004Keepalived), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := b.Exec(30*time.Second, testbed.RoleLB, ctlBin, "import", "keepalived", "-iface", "eth0", "-address", "192.0.2.10/24", src)
	if err != nil {
		t.Fatalf("import (want a complete conversion): %v\n%s", err, out)
	}
	// The test bed's own settings: no hugepages, its directory, its
	// socket, a quiet balancer namespace.
	cfg := strings.Replace(out, "[dataplane]", `[dataplane]
eal_args = ["--no-huge", "-m", "256", "--no-shconf", "--log-level=lib.eal:warning"]
shm = "`+filepath.Join(b.Dir, "dsrlb.shm")+`"
idle_sleep = "50us"
arp_refresh = "1s"
arp_expiry = "5s"`, 1) + "\n[ctrl]\nsocket = \"" + b.CtrlSocket() + "\"\n"
	t.Logf("converted configuration:\n%s", cfg)
	dp, err := b.StartDataplane(dataplaneBin, cfg)
	b.dp = watchDataplane(t, dp, err)
	if b.ctrl, err = b.StartCtrl(ctrlBin, b.dp); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(b.statusText(), "MASTER") {
		if time.Now().After(deadline) {
			t.Fatalf("no VRRP master:\n%s", b.statusText())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The data plane answers ARP for the VIP once it applied the master
	// state: wait for a first answer.
	for _, err := b.curl("http://" + b.VIP.String() + "/"); err != nil; _, err = b.curl("http://" + b.VIP.String() + "/") {
		if time.Now().After(deadline) {
			t.Fatalf("the VIP does not answer: %v", err)
		}
	}
	got := b.requests(200)
	t.Logf("200 requests through the converted service: %v", got)
	if got["FAIL"] != 0 || !within(got["rs1"], 100, 2) || !within(got["rs2"], 100, 2) {
		t.Fatalf("wrr 1:1 from the converted configuration gave %v", got)
	}
}

// TestRealServerRedirect: real servers set up with `dsrlbctl realserver
// -style redirect`: the VIP is on no interface of theirs (and the ARP
// sysctls are back to Linux's defaults), an nftables redirect hands its
// packets to nginx on the server's own address, and conntrack gives the
// replies the VIP as their source. 100 requests through the balancer are
// all answered, by both servers, and no reply crosses the balancer.
func TestRealServerRedirect(t *testing.T) {
	topo := newL2(t, 2)
	for i, a := range topo.Servers {
		role := testbed.ServerRole(i)
		if err := topo.IP(role, "addr", "del", topo.VIP.String()+"/32", "dev", "lo"); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"all", "eth0"} {
			for _, s := range []string{"arp_ignore", "arp_announce"} {
				if err := topo.Sysctl(role, "net.ipv4.conf."+k+"."+s, "0"); err != nil {
					t.Fatal(err)
				}
			}
		}
		out, err := topo.Exec(30*time.Second, role, ctlBin, "realserver", "-method", "l2dsr", "-style", "redirect",
			"-vip", topo.VIP.String(), "-iface", "eth0", "-apply")
		if err != nil {
			t.Fatalf("%s: realserver -style redirect: %v\n%s", role, err, out)
		}
		// nginx on the server's own address only: the VIP is not local.
		if _, err := topo.StartNginx(role, map[string][]byte{"index.html": []byte(role + "\n")}, a); err != nil {
			t.Fatal(err)
		}
		if out, err := topo.Exec(5*time.Second, role, "ip", "-o", "addr"); err != nil || strings.Contains(out, topo.VIP.String()) {
			t.Fatalf("%s still has the VIP: %v\n%s", role, err, out)
		}
	}
	startDataplane(t, topo)
	c := capture(t, topo, testbed.RoleLB, "lb", "tcp port 80")
	script := fmt.Sprintf(`for i in $(seq 100); do curl -sS -m 3 http://%s/ 2>&1 || echo "FAIL request $i"; done`, topo.VIP)
	out, err := topo.Exec(120*time.Second, testbed.RoleClient, "bash", "-c", script)
	if err != nil {
		t.Fatalf("curl loop: %v\n%s", err, out)
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		count[line]++
	}
	var toVIP, fromVIP int
	for _, p := range packets(t, c) {
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		switch {
		case ip == nil:
		case ip.DstIP.Equal(topo.VIP.AsSlice()):
			toVIP++
		case ip.SrcIP.Equal(topo.VIP.AsSlice()):
			fromVIP++
		}
	}
	t.Logf("answers %v; at the balancer's port: %d packets to the VIP, %d from it", count, toVIP, fromVIP)
	if count["rs1"]+count["rs2"] != 100 || count["rs1"] == 0 || count["rs2"] == 0 {
		t.Fatalf("answers %v, want 100 from both real servers", count)
	}
	if toVIP < 100*5 || fromVIP != 0 {
		t.Errorf("%d packets to the VIP and %d from it at the balancer: replies must bypass it", toVIP, fromVIP)
	}
	// The teardown removes the redirection: the VIP's packets are no
	// longer accepted.
	role := testbed.ServerRole(0)
	if out, err := topo.Exec(30*time.Second, role, ctlBin, "realserver", "-method", "l2dsr", "-style", "redirect",
		"-vip", topo.VIP.String(), "-iface", "eth0", "-teardown", "-apply"); err != nil {
		t.Fatalf("teardown: %v\n%s", err, out)
	}
	if out, err := topo.Exec(5*time.Second, role, "nft", "list", "ruleset"); err != nil || strings.Contains(out, "redirect") {
		t.Fatalf("after the teardown: %v\n%s", err, out)
	}
}
