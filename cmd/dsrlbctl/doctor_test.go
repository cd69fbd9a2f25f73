package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestDoctorUsage(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no VIP", []string{"-method", "l2dsr", "-iface", "eth0"}, "vip: at least one VIP is needed"},
		{"port too large", []string{"-method", "l2dsr", "-vip", "192.0.2.100", "-iface", "eth0", "-port", "65536"}, "-port"},
		{"bad proto", []string{"-method", "l2dsr", "-vip", "192.0.2.100", "-iface", "eth0", "-port", "80", "-proto", "sctp"}, "proto"},
		{"bad spec", []string{"-method", "dscp", "-vip", "192.0.2.100", "-iface", "eth0", "-port", "80"}, "invalid set-up"},
		{"unknown flag", []string{"-method", "l2dsr", "-frobnicate"}, "frobnicate"},
		{"balancer: -socket and -c", []string{"-socket", "/nonexistent.sock", "-c", "/nonexistent.toml"}, "give -socket or -c, not both"},
		{"balancer: a real server's flag", []string{"-socket", "/nonexistent.sock", "-vip", "192.0.2.100"}, "-vip"},
		{"argument", []string{"-method", "l2dsr", "-vip", "192.0.2.100", "-iface", "eth0", "-port", "80", "extra"}, "unexpected argument"},
		{"bad gue port", []string{"-method", "gue", "-vip", "192.0.2.100", "-iface", "eth0", "-self", "192.0.2.21", "-port", "80", "-gue-port", "70000"}, "doctor: -gue-port 70000 out of range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := doctorMain(c.args, &out, &errb); code != doctorUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, doctorUsage, errb.String())
			}
			if !strings.Contains(errb.String(), c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, errb.String())
			}
			if out.Len() != 0 {
				t.Errorf("stdout on bad usage:\n%s", out.String())
			}
		})
	}
	var out, errb bytes.Buffer
	if code := doctorMain([]string{"-h"}, &out, &errb); code != doctorHealthy || !strings.Contains(errb.String(), "Exit status: 0 nothing wrong") {
		t.Errorf("-h: exit %d:\n%s", code, errb.String())
	}
}

// TestDoctorModes: -method picks the real server's doctor, anything else
// the balancer's, which asks dsrlb-ctrl (here: nobody listens).
func TestDoctorModes(t *testing.T) {
	var out, errb bytes.Buffer
	sock := t.TempDir() + "/ctrl.sock"
	if code := doctorMain([]string{"-socket", sock}, &out, &errb); code != doctorUnwell || !strings.Contains(errb.String(), sock) {
		t.Errorf("balancer mode without dsrlb-ctrl: exit %d, stderr %q", code, errb.String())
	}
	for _, c := range []struct {
		args   []string
		method bool
	}{
		{[]string{"-method", "l2dsr"}, true},
		{[]string{"--method=l2dsr"}, true},
		{[]string{"-socket", "x", "--", "-method"}, false},
		{[]string{"-c", "dsrlb.toml"}, false},
		{nil, false},
	} {
		if got := hasFlag(c.args, "method"); got != c.method {
			t.Errorf("hasFlag(%q, method) = %v", c.args, got)
		}
	}
}

// TestDoctorWithoutTools runs the doctor on this machine with a PATH
// that holds no tool: it says what it could not inspect and exits 1.
func TestDoctorWithoutTools(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	args := []string{"-method", "gre", "-vip", "192.0.2.100", "-iface", "dsrlbnone0", "-self", "192.0.2.21",
		"-bpf-object", "/nonexistent/dsrlb-decap.o", "-port", "80"}
	var out, errb bytes.Buffer
	if code := doctorMain(args, &out, &errb); code != doctorUnwell {
		t.Errorf("exit %d, want %d:\n%s%s", code, doctorUnwell, out.String(), errb.String())
	}
	for _, s := range []string{
		"UNKNOWN  interface   could not inspect the interfaces and addresses: ip is not installed (not found in PATH)",
		"could not inspect the tc filters of dsrlbnone0: tc is not installed",
		"could not inspect the nftables rules: nft is not installed",
		"could not inspect the listening sockets: ss is not installed",
		"nothing wrong found, but not everything could be inspected",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}

	out.Reset()
	if code := doctorMain(append(args, "-json"), &out, &errb); code != doctorUnwell {
		t.Errorf("-json: exit %d", code)
	}
	var rep struct {
		Healthy  bool
		Counts   map[string]int
		Findings []struct{ Check, Status, Message string }
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	if rep.Healthy || rep.Counts["unknown"] == 0 || rep.Counts["ok"] != 0 || len(rep.Findings) == 0 {
		t.Errorf("report: %+v", rep)
	}
}

func TestRealServerFlagsStillParse(t *testing.T) {
	if err := realServer([]string{"-method", "gue", "-vip", "192.0.2.100", "-iface", "eth0", "-self", "192.0.2.21", "-gue-port", "70000"}); err == nil ||
		err.Error() != "realserver: -gue-port 70000 out of range" {
		t.Errorf("got %v", err)
	}
	if err := realServer([]string{"-method", "dscp", "-vip", "192.0.2.100", "-iface", "eth0"}); err == nil ||
		!strings.HasPrefix(err.Error(), "realserver: invalid set-up:\n  dscp: VIP 192.0.2.100 has no DSCP code") {
		t.Errorf("got %v", err)
	}
}
