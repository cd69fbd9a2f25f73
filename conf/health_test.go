package conf

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// chk returns a service on port 80 (line 10) with a [service.check] table
// (line 11) holding lines, from line 12 on.
func chk(lines ...string) string {
	return svc(append([]string{"port = 80", "[service.check]"}, lines...)...)
}

func TestCtrlTable(t *testing.T) {
	c, err := Parse("t.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Ctrl.Socket != "/run/dsrlb/ctrl.sock" || DefaultSocket != "/run/dsrlb/ctrl.sock" {
		t.Errorf("default socket %q", c.Ctrl.Socket)
	}
	c, err = Parse("t.toml", []byte(minimal+"[ctrl]\nsocket = \"/tmp/x/ctl.sock\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Ctrl.Socket != "/tmp/x/ctl.sock" {
		t.Errorf("socket %q", c.Ctrl.Socket)
	}
	expect(t, "relative socket", minimal+"[ctrl]\nsocket = \"ctrl.sock\"\n", `8: ctrl.socket: socket "ctrl.sock" must be an absolute file path`)
	expect(t, "directory socket", minimal+"[ctrl]\nsocket = \"/run/dsrlb/\"\n", `8: ctrl.socket: socket "/run/dsrlb/" must be an absolute file path`)
	expect(t, "long socket", minimal+"[ctrl]\nsocket = \"/"+strings.Repeat("a", 107)+"\"\n", "8: ctrl.socket: socket path is 108 bytes long; a Unix socket path holds at most 107")
	expect(t, "socket type", minimal+"[ctrl]\nsocket = 1\n", "8: ctrl.socket: wrong type: expected string, found integer 1")
	expect(t, "unknown ctrl key", minimal+"[ctrl]\nsockett = \"/x\"\n", `8: ctrl.sockett: unknown key (did you mean "socket"?)`)
}

func TestCtrlSocket(t *testing.T) {
	dir := t.TempDir()
	write := func(src string) string {
		p := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for src, want := range map[string]string{
		minimal:              DefaultSocket,
		minimal + "[ctrl]\n": DefaultSocket,
		minimal + "[ctrl]\nsocket = \"/x/y.sock\"\n":    "/x/y.sock",
		"[ctrl]\nsocket = \"/x/y.sock\"\n[dataplane]\n": "/x/y.sock", // invalid, but the socket is readable
	} {
		if got, err := CtrlSocket(write(src)); err != nil || got != want {
			t.Errorf("CtrlSocket(%q) = %q, %v; want %q", src, got, err, want)
		}
	}
	if _, err := CtrlSocket(write("[ctrl]\nsocket = 5\n")); err == nil || !strings.HasSuffix(err.Error(), "c.toml:2: ctrl.socket: wrong type: expected string, found integer") {
		t.Errorf("bad socket type: %v", err)
	}
	if _, err := CtrlSocket(write("[ctrl\n")); err == nil || !strings.Contains(err.Error(), "invalid TOML") {
		t.Errorf("syntax error: %v", err)
	}
	if _, err := CtrlSocket(filepath.Join(dir, "none.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestHealthPolicyDefaults(t *testing.T) {
	c, err := Parse("t.toml", []byte(svc("[[service.backend]]", `address = "192.0.2.20"`)))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Services[0]
	if s.InhibitOnFailure || s.SorryServer.IsValid() || s.Quorum != 1 || s.Hysteresis != 0 || s.Alpha || s.Check != nil ||
		s.Backends[0].Check != nil || s.Backends[0].OwnCheck {
		t.Errorf("defaults wrong: %+v", s)
	}
	c, err = Parse("t.toml", []byte(svc("inhibit_on_failure = true", `sorry_server = "192.0.2.30"`, "quorum = 3", "hysteresis = 1", "alpha = true",
		"[[service.backend]]", `address = "192.0.2.20"`, "weight = 2",
		"[[service.backend]]", `address = "192.0.2.21"`, "weight = 2")))
	if err != nil {
		t.Fatal(err)
	}
	s = c.Services[0]
	if !s.InhibitOnFailure || s.SorryServer != netip.MustParseAddr("192.0.2.30") || s.Quorum != 3 || s.Hysteresis != 1 || !s.Alpha || s.TotalWeight() != 4 {
		t.Errorf("values wrong: %+v", s)
	}
	// quorum 0 and the full sum are both allowed; so is hysteresis = quorum.
	for _, q := range []string{"quorum = 0", "quorum = 2\nhysteresis = 2"} {
		if _, err := Parse("t.toml", []byte(svc(q, "[[service.backend]]", `address = "192.0.2.20"`, "weight = 2"))); err != nil {
			t.Errorf("%q: %v", q, err)
		}
	}
	// The default quorum (1) does not require backends.
	if _, err := Parse("t.toml", []byte(svc())); err != nil {
		t.Errorf("service without backends: %v", err)
	}
}

func TestHealthPolicyErrors(t *testing.T) {
	b := func(extra ...string) string {
		return svc(append(extra, "[[service.backend]]", `address = "192.0.2.20"`, "weight = 2")...)
	}
	expect(t, "inhibit type", b(`inhibit_on_failure = "yes"`), `10: service[0].inhibit_on_failure: wrong type: expected boolean, found string "yes"`)
	expect(t, "alpha type", b("alpha = 1"), "10: service[0].alpha: wrong type: expected boolean, found integer 1")
	expect(t, "sorry invalid", b(`sorry_server = "192.0.2.300"`), `10: service[0].sorry_server: invalid IPv4 address "192.0.2.300"`)
	expect(t, "sorry IPv6", b(`sorry_server = "2001:db8::1"`), "10: service[0].sorry_server: sorry_server 2001:db8::1 is IPv6 but VIP 192.0.2.100 is IPv4: method l2dsr")
	expect(t, "sorry loopback", b(`sorry_server = "127.0.0.1"`), "10: service[0].sorry_server: sorry_server 127.0.0.1 is a loopback address")
	expect(t, "sorry VIP", b(`sorry_server = "192.0.2.100"`), "10: service[0].sorry_server: sorry_server 192.0.2.100 is the service's own VIP")
	expect(t, "sorry own", b(`sorry_server = "192.0.2.10"`), "10: service[0].sorry_server: sorry_server 192.0.2.10 is the balancer's own address")
	expect(t, "sorry off-link", b(`sorry_server = "198.51.100.5"`), "10: service[0].sorry_server: sorry_server 198.51.100.5 is outside 192.0.2.0/24")
	expect(t, "sorry broadcast", b(`sorry_server = "192.0.2.255"`), "10: service[0].sorry_server: sorry_server 192.0.2.255 is the network or broadcast address")
	expect(t, "sorry is backend", b(`sorry_server = "192.0.2.20"`), "10: service[0].sorry_server: sorry_server 192.0.2.20 is also a backend of this service (line 12)")
	expect(t, "quorum above sum", b("quorum = 3"), "10: service[0].quorum: quorum 3 out of range 0..2 (the sum of the backends' weights)")
	expect(t, "quorum negative", b("quorum = -1"), "10: service[0].quorum: quorum -1 out of range 0..2")
	expect(t, "quorum type", b(`quorum = "1"`), `10: service[0].quorum: wrong type: expected integer, found string "1"`)
	expect(t, "hysteresis negative", b("hysteresis = -1"), "10: service[0].hysteresis: hysteresis -1 must not be negative")
	expect(t, "hysteresis above quorum", b("quorum = 1", "hysteresis = 2"), "11: service[0].hysteresis: hysteresis 2 must not exceed quorum (1)")
	expect(t, "hysteresis above default quorum", b("hysteresis = 2"), "10: service[0].hysteresis: hysteresis 2 must not exceed quorum (1, the default)")
	expect(t, "unknown key", b("sorry = 1"), `10: service[0].sorry: unknown key`)
}

func TestCheckDefaults(t *testing.T) {
	def := Check{Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3, Jitter: 0.1}
	with := func(f func(*Check)) *Check { c := def; f(&c); return &c }
	for _, tt := range []struct {
		name string
		src  string
		want *Check
	}{
		{"tcp", chk(`type = "tcp"`), with(func(c *Check) { c.Type, c.Port = CheckTCP, 80 })},
		{"tcp own port", chk(`type = "tcp"`, "port = 8080"), with(func(c *Check) { c.Type, c.Port = CheckTCP, 8080 })},
		{"http", chk(`type = "http"`), with(func(c *Check) { c.Type, c.Port, c.Path, c.Status = CheckHTTP, 80, "/", []int{200} })},
		{"https", chk(`type = "https"`, "port = 443", `host = "www.example.com"`), with(func(c *Check) {
			c.Type, c.Port, c.Path, c.Status, c.TLSVerify, c.Host = CheckHTTPS, 443, "/", []int{200}, true, "www.example.com"
		})},
		{"https no verify", chk(`type = "https"`, "tls_verify = false", `path = "/h?x=1"`, "status = [200, 301]", `body = "up"`), with(func(c *Check) {
			c.Type, c.Port, c.Path, c.Status, c.Body = CheckHTTPS, 80, "/h?x=1", []int{200, 301}, "up"
		})},
		{"icmp", chk(`type = "icmp"`), with(func(c *Check) { c.Type = CheckICMP })},
		{"udp", chk(`type = "udp"`, `payload = "ping"`, "expect_reply = true"), with(func(c *Check) {
			c.Type, c.Port, c.Payload, c.ExpectReply = CheckUDP, 80, "ping", true
		})},
		{"script", chk(`type = "script"`, `command = ["/bin/true", "--fast"]`), with(func(c *Check) {
			c.Type, c.Command = CheckScript, []string{"/bin/true", "--fast"}
		})},
		{"timing", chk(`type = "tcp"`, `interval = "100ms"`, `timeout = "50ms"`, "rise = 1", "fall = 100", "jitter = 0"), &Check{
			Type: CheckTCP, Port: 80, Interval: 100 * time.Millisecond, Timeout: 50 * time.Millisecond, Rise: 1, Fall: 100, Jitter: 0,
		}},
		{"jitter float", chk(`type = "icmp"`, "jitter = 0.5"), with(func(c *Check) { c.Type, c.Jitter = CheckICMP, 0.5 })},
		{"long interval, default timeout", chk(`type = "icmp"`, `interval = "1m"`), with(func(c *Check) { c.Type, c.Interval = CheckICMP, time.Minute })},
	} {
		c, err := Parse("t.toml", []byte(tt.src))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := c.Services[0].Check; !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}

func TestBackendCheck(t *testing.T) {
	src := svc("port = 80", "[service.check]", `type = "http"`, `interval = "5s"`,
		"[[service.backend]]", `address = "192.0.2.20"`,
		"[[service.backend]]", `address = "192.0.2.21"`,
		"[service.backend.check]", `type = "tcp"`, "port = 22")
	c, err := Parse("t.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Services[0]
	if s.Backends[0].Check != s.Check || s.Backends[0].OwnCheck {
		t.Errorf("backend 0 does not inherit the service's check: %+v", s.Backends[0])
	}
	own := s.Backends[1].Check
	// The override replaces the service check entirely: its interval is
	// the default, not the service check's 5s.
	if !s.Backends[1].OwnCheck || own == nil || own.Type != CheckTCP || own.Port != 22 || own.Interval != 2*time.Second {
		t.Errorf("backend 1 check %+v", own)
	}
	// A backend check alone, without a service check.
	c, err = Parse("t.toml", []byte(svc("[[service.backend]]", `address = "192.0.2.20"`, "[service.backend.check]", `type = "icmp"`,
		"[[service.backend]]", `address = "192.0.2.21"`)))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Services[0]; s.Check != nil || s.Backends[0].Check == nil || s.Backends[1].Check != nil {
		t.Errorf("checks %+v %+v %+v", s.Check, s.Backends[0].Check, s.Backends[1].Check)
	}
	expect(t, "error in backend check", svc("[[service.backend]]", `address = "192.0.2.20"`, "[service.backend.check]", `type = "tcp"`),
		"12: service[0].backend[0].check.port: a tcp check needs a port: the service's port is 0 (all ports)")
	expect(t, "unknown key in backend check", svc("port = 80", "[[service.backend]]", `address = "192.0.2.20"`, "[service.backend.check]", `type = "tcp"`, "intervall = \"1s\""),
		`15: service[0].backend[0].check.intervall: unknown key (did you mean "interval"?)`)
}

func TestCheckErrors(t *testing.T) {
	expect(t, "type missing", chk("port = 80"), "11: service[0].check.type: required key is missing")
	expect(t, "unknown type", chk(`type = "smtp"`),
		`12: service[0].check.type: unknown check type "smtp" (valid: "tcp", "http", "https", "icmp", "udp", "script")`)
	expect(t, "type type", chk("type = 1"), "12: service[0].check.type: wrong type: expected string, found integer 1")
	expect(t, "check not a table", svc("check = \"tcp\""), `10: service[0].check: wrong type: expected table, found string "tcp"`)

	for _, tt := range []struct{ typ, line, msg string }{
		{"icmp", "port = 80", "12: service[0].check.port: port applies to tcp, http, https and udp checks only"},
		{"tcp", `path = "/"`, "12: service[0].check.path: path applies to http and https checks only"},
		{"udp", "status = [200]", "12: service[0].check.status: status applies to http and https checks only"},
		{"tcp", `body = "x"`, "12: service[0].check.body: body applies to http and https checks only"},
		{"icmp", `host = "x"`, "12: service[0].check.host: host applies to http and https checks only"},
		{"http", "tls_verify = false", "12: service[0].check.tls_verify: tls_verify applies to https checks only"},
		{"tcp", `payload = "x"`, "12: service[0].check.payload: payload applies to udp checks only"},
		{"http", "expect_reply = true", "12: service[0].check.expect_reply: expect_reply applies to udp checks only"},
		{"tcp", `command = ["/bin/true"]`, "12: service[0].check.command: command applies to script checks only"},
	} {
		expect(t, tt.line+" with "+tt.typ, chk(tt.line, `type = "`+tt.typ+`"`), tt.msg)
	}

	expect(t, "port with script", chk("port = 80", `type = "script"`, `command = ["/bin/true"]`),
		"12: service[0].check.port: port applies to tcp, http, https and udp checks only")
	expect(t, "port zero", chk(`type = "tcp"`, "port = 0"), "13: service[0].check.port: port 0 out of range 1..65535")
	expect(t, "port big", chk(`type = "udp"`, "port = 70000"), "13: service[0].check.port: port 70000 out of range 1..65535")
	expect(t, "port needed", svc("[service.check]", `type = "http"`),
		"10: service[0].check.port: a http check needs a port: the service's port is 0 (all ports)")
	if _, err := Parse("t.toml", []byte(svc("[service.check]", `type = "icmp"`))); err != nil {
		t.Errorf("icmp check on a port-0 service: %v", err)
	}
	expect(t, "path relative", chk(`type = "http"`, `path = "healthz"`), `13: service[0].check.path: invalid path "healthz"`)
	expect(t, "path URL", chk(`type = "http"`, `path = "http://x/"`), `13: service[0].check.path: invalid path "http://x/"`)
	expect(t, "path space", chk(`type = "http"`, `path = "/a b"`), `13: service[0].check.path: invalid path "/a b"`)
	expect(t, "status empty", chk(`type = "http"`, "status = []"), "13: service[0].check.status: status needs at least one status code")
	expect(t, "status range", chk(`type = "https"`, "status = [", "  200,", "  99,", "]"), "15: service[0].check.status: status 99 out of range 100..599")
	expect(t, "status 600", chk(`type = "http"`, "status = [600]"), "13: service[0].check.status: status 600 out of range 100..599")
	expect(t, "status type", chk(`type = "http"`, `status = ["200"]`), `13: service[0].check.status[0]: wrong type: expected integer, found string "200"`)
	expect(t, "host", chk(`type = "http"`, `host = "a b"`), `13: service[0].check.host: invalid host "a b"`)
	expect(t, "tls_verify type", chk(`type = "https"`, `tls_verify = "no"`), `13: service[0].check.tls_verify: wrong type: expected boolean, found string "no"`)
	expect(t, "payload", chk(`type = "udp"`, `payload = "`+strings.Repeat("x", 65508)+`"`), "13: service[0].check.payload: payload of 65508 bytes does not fit in a UDP datagram")
	expect(t, "command missing", chk(`type = "script"`), "11: service[0].check.command: required key is missing")
	expect(t, "command empty", chk(`type = "script"`, "command = []"), "13: service[0].check.command: command needs at least the absolute path of the program")
	expect(t, "command relative", chk(`type = "script"`, "command = [", `  "check-web",`, "]"), `14: service[0].check.command: program "check-web" must be an absolute path`)
	expect(t, "command NUL", chk(`type = "script"`, `command = ["/bin/check", "a\u0000b"]`), "13: service[0].check.command: argument 1 contains a NUL byte")
	expect(t, "command type", chk(`type = "script"`, `command = "/bin/check"`), `13: service[0].check.command: wrong type: expected array of strings, found string "/bin/check"`)
	expect(t, "interval invalid", chk(`type = "icmp"`, `interval = "2"`), `13: service[0].check.interval: invalid duration "2"`)
	expect(t, "interval short", chk(`type = "icmp"`, `interval = "50ms"`, `timeout = "10ms"`), "13: service[0].check.interval: interval 50ms is too short (minimum 100ms)")
	expect(t, "timeout zero", chk(`type = "icmp"`, `timeout = "0s"`), "13: service[0].check.timeout: timeout must be longer than 0s")
	expect(t, "timeout negative", chk(`type = "icmp"`, `timeout = "-1s"`), `13: service[0].check.timeout: negative duration "-1s"`)
	expect(t, "timeout = interval", chk(`type = "icmp"`, `interval = "2s"`, `timeout = "2s"`), "14: service[0].check.timeout: timeout 2s must be shorter than interval 2s")
	expect(t, "timeout > default interval", chk(`type = "icmp"`, `timeout = "3s"`), "13: service[0].check.timeout: timeout 3s must be shorter than interval 2s")
	expect(t, "interval below default timeout", chk(`type = "icmp"`, `interval = "500ms"`),
		"13: service[0].check.interval: interval 500ms must be longer than timeout (1s, the default): set a shorter timeout")
	expect(t, "rise", chk(`type = "icmp"`, "rise = 0"), "13: service[0].check.rise: rise 0 out of range 1..100")
	expect(t, "fall", chk(`type = "icmp"`, "fall = 101"), "13: service[0].check.fall: fall 101 out of range 1..100")
	expect(t, "jitter", chk(`type = "icmp"`, "jitter = 0.6"), "13: service[0].check.jitter: jitter 0.6 out of range 0..0.5")
	expect(t, "jitter negative", chk(`type = "icmp"`, "jitter = -1"), "13: service[0].check.jitter: jitter -1 out of range 0..0.5")
	expect(t, "jitter nan", chk(`type = "icmp"`, "jitter = nan"), "13: service[0].check.jitter: jitter NaN out of range")
	expect(t, "jitter type", chk(`type = "icmp"`, `jitter = "10%"`), `13: service[0].check.jitter: wrong type: expected number, found string "10%"`)
	expect(t, "unknown check key", chk(`type = "icmp"`, "retries = 3"), "13: service[0].check.retries: unknown key")
	// Several problems in one check, in file order.
	expect(t, "many", chk(`type = "tcp"`, `path = "/"`, "rise = 0", `interval = "1s"`, `timeout = "1s"`),
		"13: path applies to http and https checks only", "14: rise 0 out of range", "16: timeout 1s must be shorter than interval 1s")
}

func TestCheckScripts(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "check-ok")
	noexec := filepath.Join(dir, "check-noexec")
	for p, mode := range map[string]os.FileMode{exe: 0o755, noexec: 0o644} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask
			t.Fatal(err)
		}
	}
	script := func(prog string) string { return `command = ["` + prog + `", "--fast"]` }
	src := func(svcProg, beProg string) string {
		return svc("port = 80", "[service.check]", `type = "script"`, script(svcProg),
			"[[service.backend]]", `address = "192.0.2.20"`,
			"[[service.backend]]", `address = "192.0.2.21"`,
			"[service.backend.check]", `type = "script"`, script(beProg))
	}
	c := mustParse(t, src(exe, exe))
	if err := CheckScripts(c); err != nil {
		t.Errorf("valid scripts: %v", err)
	}
	c = mustParse(t, src(filepath.Join(dir, "missing"), noexec))
	want := []string{
		"h.toml:13: service[0].check.command: program " + dir + "/missing does not exist",
		"h.toml:20: service[0].backend[1].check.command: program " + noexec + " is not executable (mode -rw-r--r--)",
	}
	got := errorLines(CheckScripts(c))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The data plane's host check leaves the control process's scripts
	// alone: a missing check script must not stop forwarding.
	if err := realHost.scriptsOnly(c); err != nil {
		t.Errorf("CheckHost reported script problems: %v", err)
	}
	c = mustParse(t, src(dir, exe))
	if err := CheckScripts(c); err == nil || !strings.Contains(err.Error(), "h.toml:13: service[0].check.command: program "+dir+" is not a regular file") {
		t.Errorf("directory: %v", err)
	}
	if err := CheckScripts(nil); err == nil {
		t.Error("CheckScripts(nil) succeeded")
	}
}

// scriptsOnly runs CheckHost on a host where everything but the scripts
// is fine, and returns only the script errors.
func (hostEnv) scriptsOnly(c *Config) error {
	var out []*Error
	err := realHost.check(c)
	if err == nil {
		return nil
	}
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		if ce, ok := e.(*Error); ok && strings.Contains(ce.Path, ".command") {
			out = append(out, ce)
		}
	}
	return joinErrors(out)
}
