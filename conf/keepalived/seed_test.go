package keepalived

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"dsrlb/conf"
)

// TestSeed004 converts the shape of seed 004: a virtual_server_group of
// two VIPs under `virtual_server group`, wrr, DR, an HTTP_GET with url
// path and status_code and connect_timeout, delay_loop, inhibit_on_failure,
// and a vrrp_instance carrying the VIPs. With -iface and -address the
// result loads, with the services and the instance keepalived ran.
func TestSeed004(t *testing.T) {
	name := filepath.Join(testdata, "seed004.conf")
	code, stdout, stderr := run("-iface", "eth0", "-address", "192.0.2.10/24", name)
	// The one change: keepalived's connect_timeout 3 equals delay_loop 3,
	// and dsrlb's timeout must be shorter than its interval.
	if code != ExitOmissions || strings.Count(stderr, "\n") != 2 || strings.Count(stderr, ": connect_timeout: 3s is not shorter than delay_loop 3s") != 2 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	c, err := conf.Parse("seed004.toml", []byte(stdout))
	if err != nil {
		t.Fatalf("does not load:\n%v\n%s", err, stdout)
	}

	if p := c.Dataplane.Ports; len(p) != 1 || p[0].Device != "net_af_packet0,iface=eth0" || c.Dataplane.TAP != "dsrlb0" ||
		c.Dataplane.Address != netip.MustParsePrefix("192.0.2.10/24") || !slices.Equal(c.Dataplane.Workers, []int{1}) {
		t.Errorf("dataplane %+v", c.Dataplane)
	}
	if len(c.Services) != 2 {
		t.Fatalf("%d services, want one per address of the group", len(c.Services))
	}
	for i, vip := range []string{"192.0.2.100", "192.0.2.101"} {
		s := c.Services[i]
		if s.Name != "vs-"+vip+"-80" || s.VIP != netip.MustParseAddr(vip) || s.Port != 80 || s.Protocol != conf.ProtoTCP ||
			s.Method != conf.MethodL2DSR || s.Scheduler != conf.SchedWRR || !s.InhibitOnFailure || s.Alpha {
			t.Errorf("service %d: %+v", i, s)
		}
		ch := s.Check
		if ch == nil || ch.Type != conf.CheckHTTP || ch.Path != "/health_check.html" || !slices.Equal(ch.Status, []int{200}) ||
			ch.Port != 80 || ch.Interval != 3*time.Second || ch.Timeout != 2700*time.Millisecond || ch.Rise != 1 || ch.Fall != 2 {
			t.Errorf("service %d check: %+v", i, ch)
		}
		if len(s.Backends) != 2 {
			t.Fatalf("service %d: %d backends", i, len(s.Backends))
		}
		for j, want := range []struct {
			addr   string
			weight uint32
		}{{"192.0.2.21", 2}, {"192.0.2.22", 1}} {
			b := s.Backends[j]
			if b.Address != netip.MustParseAddr(want.addr) || b.Weight != want.weight || b.Check != ch || b.OwnCheck {
				t.Errorf("service %d backend %d: %+v", i, j, b)
			}
		}
	}
	if len(c.VRRP) != 1 {
		t.Fatalf("%d VRRP instances", len(c.VRRP))
	}
	r := c.VRRP[0]
	if r.Name != "VI_1" || r.VRID != 51 || r.Priority != 150 || r.Interval != time.Second || r.Version != 2 || !r.Preempt ||
		!r.StartMaster || r.AuthPass != "s3cret" || r.Port != 0 ||
		!slices.Equal(r.VIPs, []netip.Addr{netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("192.0.2.101")}) {
		t.Errorf("vrrp %+v", r)
	}
}

// TestTemplate: without -iface and -address the [dataplane] is a
// commented template; uncommented, with the services, it loads.
func TestTemplate(t *testing.T) {
	code, stdout, _ := run(filepath.Join(testdata, "seed004.conf"))
	if code != ExitOmissions {
		t.Fatalf("exit %d", code)
	}
	if _, err := conf.Parse("template.toml", []byte(stdout)); err == nil {
		t.Fatal("a file with a commented [dataplane] loads")
	}
	var out []string
	in := false
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "# [dataplane]") {
			in = true
		}
		if in && line == "" {
			in = false
		}
		if in {
			line = strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ")
		}
		out = append(out, line)
	}
	got := strings.Join(out, "\n")
	if !strings.Contains(got, "\n[dataplane]") || !strings.Contains(got, `device = "net_af_packet0,iface=eth0"`) {
		t.Fatalf("no template:\n%s", stdout)
	}
	if _, err := conf.Parse("template.toml", []byte(got)); err != nil {
		t.Errorf("the template, uncommented, does not load:\n%v\n%s", err, got)
	}
}
