//go:build e2e

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
