package conf

import (
	"testing"
	"time"
)

// withTAP is minimal with the exception path (7 lines); a service
// follows on line 8.
const withTAP = "[dataplane]\nworkers = [1]\naddress = \"192.0.2.10/24\"\ntap = \"dsrlb0\"\n[[dataplane.port]]\nname = \"p0\"\ndevice = \"net_ring0\"\n"

// dsrSvc is a service (line 8) with a [service.dsr_check] table (line 12)
// holding lines from line 13 on, then two real servers.
func dsrSvc(base string, lines ...string) string {
	s := base + "[[service]]\nname = \"s\"\nvip = \"192.0.2.100\"\nport = 80\n[service.dsr_check]\n"
	for _, l := range lines {
		s += l + "\n"
	}
	return s + "[[service.backend]]\naddress = \"192.0.2.21\"\n[[service.backend]]\naddress = \"192.0.2.22\"\n"
}

func TestDSRCheck(t *testing.T) {
	c, err := Parse("t.toml", []byte(dsrSvc(withTAP, `type = "http"`, `path = "/health"`, `interval = "500ms"`, `timeout = "200ms"`, `fall = 2`)))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Services[0].DSRCheck
	if d == nil || d.Type != CheckHTTP || d.Port != 80 || d.Path != "/health" || d.Interval != 500*time.Millisecond || d.Fall != 2 {
		t.Fatalf("dsr check %+v", d)
	}
	if c.Services[0].Check != nil || c.Services[0].Backends[0].Check != nil {
		t.Fatal("a DSR path check is not the service's check")
	}
	if c.Ctrl.DSRProbePorts != DefaultDSRProbePorts {
		t.Fatalf("probe ports %v", c.Ctrl.DSRProbePorts)
	}
	c, err = Parse("t.toml", []byte(dsrSvc(withTAP, `type = "tcp"`)+"[ctrl]\ndsr_probe_ports = \"40000-40001\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Ctrl.DSRProbePorts != [2]uint16{40000, 40001} {
		t.Fatalf("probe ports %v", c.Ctrl.DSRProbePorts)
	}

	expect(t, "no exception path", dsrSvc(minimal, `type = "tcp"`), "11: service[0].dsr_check: a DSR path check needs the exception path: set dataplane.tap")
	expect(t, "icmp", dsrSvc(withTAP, `type = "icmp"`), `13: service[0].dsr_check.type: a DSR path check is "tcp", "http" or "https"`)
	expect(t, "script", dsrSvc(withTAP, `type = "script"`, `command = ["/bin/true"]`), `13: service[0].dsr_check.type: a DSR path check is "tcp", "http" or "https"`)
	expect(t, "other port", dsrSvc(withTAP, `type = "tcp"`, `port = 81`), "14: service[0].dsr_check.port: port 81: a DSR path check probes the service itself, port 80")
	expect(t, "udp service", withTAP+"[[service]]\nname = \"s\"\nvip = \"192.0.2.100\"\nport = 53\nprotocol = \"udp\"\n[service.dsr_check]\ntype = \"tcp\"\n",
		"13: service[0].dsr_check: a DSR path check needs a TCP service; this one is udp")
	expect(t, "range too small", dsrSvc(withTAP, `type = "tcp"`)+"[ctrl]\ndsr_probe_ports = \"40000-40000\"\n",
		"19: ctrl.dsr_probe_ports: 2 real servers have a DSR path check, but dsr_probe_ports 40000-40000 has 1 ports")
	for _, bad := range []string{"40000", "40001-40000", "80-90", "1-x", "40000-70000", ""} {
		expect(t, "range "+bad, withTAP+"[ctrl]\ndsr_probe_ports = \""+bad+"\"\n", `9: ctrl.dsr_probe_ports: dsr_probe_ports "`+bad+`": want "FIRST-LAST"`)
	}
}
