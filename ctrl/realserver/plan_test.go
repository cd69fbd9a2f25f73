package realserver

import (
	"bytes"
	"context"
	"dsrlb/conf"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

// Hosts the golden plans are made for.
var (
	// noModules is this test bed: no tunnel modules, bpffs not mounted.
	noModules = HostInfo{Kernel: "6.18.0-test", Modules: map[string]ModuleState{}, MTU: 1500}
	// loadable is a stock distribution kernel with nothing loaded.
	loadable = HostInfo{Kernel: "6.1.0-test", BPFFS: true, MTU: 1500, Modules: map[string]ModuleState{
		"ipip": ModuleLoadable, "ip_gre": ModuleLoadable, "ip6_tunnel": ModuleLoadable,
		"ip6_gre": ModuleLoadable, "sit": ModuleLoadable, "fou": ModuleLoadable, "fou6": ModuleLoadable,
	}}
	// builtin has every tunnel built in, ipip already loaded.
	builtin = HostInfo{Kernel: "6.1.0-test", BPFFS: true, MTU: 9000, Modules: map[string]ModuleState{
		"ipip": ModuleLoaded, "ip_gre": ModuleBuiltin, "ip6_tunnel": ModuleBuiltin,
		"ip6_gre": ModuleBuiltin, "sit": ModuleBuiltin, "fou": ModuleBuiltin, "fou6": ModuleBuiltin,
	}}
)

const obj = "/usr/lib/dsrlb/dsrlb-decap.o"

var goldenCases = []struct {
	name     string
	spec     Spec
	host     HostInfo
	teardown bool
}{
	{"l2dsr", Spec{Method: conf.MethodL2DSR, VIPs: addrs("192.0.2.100", "2001:db8::100"), Interface: "eth0"}, noModules, false},
	{"l2dsr_teardown", Spec{Method: conf.MethodL2DSR, VIPs: addrs("192.0.2.100", "2001:db8::100"), Interface: "eth0"}, noModules, true},
	{"l2dsr_vlan", Spec{Method: conf.MethodL2DSR, VIPs: addrs("192.0.2.100"), Interface: "eth0.10"}, noModules, false},
	{"l2dsr_redirect", Spec{Method: conf.MethodL2DSR, VIPs: addrs("192.0.2.100", "2001:db8::100"), Interface: "eth0", Style: StyleRedirect}, noModules, false},
	{"l2dsr_redirect_teardown", Spec{Method: conf.MethodL2DSR, VIPs: addrs("192.0.2.100", "2001:db8::100"), Interface: "eth0", Style: StyleRedirect}, noModules, true},
	{"dscp", Spec{Method: conf.MethodDSCP, VIPs: addrs("192.0.2.100", "192.0.2.101"),
		DSCP:      map[netip.Addr]uint8{netip.MustParseAddr("192.0.2.100"): 10, netip.MustParseAddr("192.0.2.101"): 63},
		Interface: "eth0", Self: addrs("192.0.2.21")}, noModules, false},
	{"dscp_anyself", Spec{Method: conf.MethodDSCP, VIPs: addrs("192.0.2.100"),
		DSCP:      map[netip.Addr]uint8{netip.MustParseAddr("192.0.2.100"): 1},
		Interface: "bond0", Self: addrs("192.0.2.21", "192.0.2.22")}, noModules, false},
	{"dscp_teardown", Spec{Method: conf.MethodDSCP, VIPs: addrs("192.0.2.100"),
		DSCP:      map[netip.Addr]uint8{netip.MustParseAddr("192.0.2.100"): 1},
		Interface: "eth0"}, noModules, true},
	{"ipip_ebpf", Spec{Method: conf.MethodIPIP, VIPs: addrs("192.0.2.100", "2001:db8::100"), Interface: "eth0",
		Self: addrs("192.0.2.21", "2001:db8::21"), BPFObject: obj}, noModules, false},
	{"ipip_ebpf_teardown", Spec{Method: conf.MethodIPIP, VIPs: addrs("192.0.2.100", "2001:db8::100"), Interface: "eth0",
		Self: addrs("192.0.2.21", "2001:db8::21"), BPFObject: obj}, noModules, true},
	{"ipip_kernel", Spec{Method: conf.MethodIPIP, VIPs: addrs("192.0.2.100", "2001:db8::100"), Interface: "eth0",
		Self: addrs("192.0.2.21", "2001:db8::21")}, loadable, false},
	{"ipip_kernel_teardown", Spec{Method: conf.MethodIPIP, VIPs: addrs("192.0.2.100", "2001:db8::100"), Interface: "eth0",
		Self: addrs("192.0.2.21", "2001:db8::21")}, loadable, true},
	{"gre_ebpf_clamp", Spec{Method: conf.MethodGRE, VIPs: addrs("192.0.2.100", "2001:db8::100"), Interface: "eth0",
		Self: addrs("192.0.2.21"), Decap: DecapEBPF, BPFObject: obj, ClampMSS: true}, builtin, false},
	{"gre_kernel", Spec{Method: conf.MethodGRE, VIPs: addrs("192.0.2.100", "2001:db8::100"), Interface: "eth0",
		Self: addrs("192.0.2.21", "2001:db8::21")}, builtin, false},
	{"gue_ebpf", Spec{Method: conf.MethodGUE, VIPs: addrs("192.0.2.100"), Interface: "eth0",
		Self: addrs("2001:db8::21"), GUEPort: 7777, BPFObject: obj, ClampMSS: true, PathMTU: 1500}, noModules, false},
	{"gue_kernel", Spec{Method: conf.MethodGUE, VIPs: addrs("192.0.2.100", "2001:db8::100"), Interface: "eth0",
		Self: addrs("192.0.2.21", "2001:db8::21"), Decap: DecapKernel}, loadable, false},
	{"gue_kernel_teardown", Spec{Method: conf.MethodGUE, VIPs: addrs("192.0.2.100", "2001:db8::100"), Interface: "eth0",
		Self: addrs("192.0.2.21", "2001:db8::21"), Decap: DecapKernel, ClampMSS: true}, loadable, true},
}

// TestGoldenPlans compares every printed plan with testdata/NAME.golden
// (go test -update rewrites them; review the diff).
func TestGoldenPlans(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			build := Plan
			if c.teardown {
				build = Teardown
			}
			steps, err := build(c.spec, c.host)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := Format(&b, steps); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("plan differs from %s:\n%s", path, lineDiff(string(want), got))
			}
			checkPrintedArgv(t, steps, b.String())
		})
	}
}

// checkPrintedArgv proves the printed script gives the shell exactly the
// argv Apply runs: each command line, split by shell rules, equals it.
func checkPrintedArgv(t *testing.T, steps []Step, script string) {
	t.Helper()
	var lines []string
	for l := range strings.Lines(script) {
		l = strings.TrimRight(l, "\n")
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	var cmds []Step
	for _, s := range steps {
		if len(s.Argv) > 0 {
			cmds = append(cmds, s)
		}
	}
	if len(lines) != len(cmds) {
		t.Fatalf("%d command lines printed for %d commands", len(lines), len(cmds))
	}
	for i, l := range lines {
		l, mayFail := strings.CutSuffix(l, " || true")
		if mayFail != cmds[i].MayFail {
			t.Errorf("line %q: || true is %v, MayFail %v", l, mayFail, cmds[i].MayFail)
		}
		if got := shellSplit(t, l); !slices.Equal(got, cmds[i].Argv) {
			t.Errorf("line %q splits into %q, want %q", l, got, cmds[i].Argv)
		}
	}
}

// shellSplit splits a line of unquoted words and single-quoted strings
// (all Step.Shell produces) the way sh does.
func shellSplit(t *testing.T, line string) []string {
	var out []string
	var cur strings.Builder
	inWord, inQuote := false, false
	for _, r := range line {
		switch {
		case inQuote && r == '\'':
			inQuote = false
		case inQuote:
			cur.WriteRune(r)
		case r == '\'':
			inQuote, inWord = true, true
		case r == '\\':
			// only as '\'' : the quote closes, \' is a literal quote
			cur.WriteRune('\'')
		case r == ' ':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			if strings.ContainsRune("\"$`;&|<>(){}*?[]~!#", r) {
				t.Errorf("unquoted shell character %q in %q", r, line)
			}
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inQuote {
		t.Errorf("unterminated quote in %q", line)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl + "\n")
		}
	}
	return b.String()
}

// find returns the first step whose argv starts with prefix.
func find(steps []Step, prefix ...string) (Step, bool) {
	for _, s := range steps {
		if len(s.Argv) >= len(prefix) && slices.Equal(s.Argv[:len(prefix)], prefix) {
			return s, true
		}
	}
	return Step{}, false
}

// TestKeyArgvs pins the argv of the commands whose exact form matters:
// the nft rule is one argument (no shell splitting surprises), the map
// key is 20 bytes with the method at offset 16, the GUE port big-endian.
func TestKeyArgvs(t *testing.T) {
	steps, err := Plan(Spec{Method: conf.MethodDSCP, VIPs: addrs("192.0.2.100"),
		DSCP:      map[netip.Addr]uint8{netip.MustParseAddr("192.0.2.100"): 10},
		Interface: "eth0", Self: addrs("192.0.2.21")}, noModules)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"nft", "add", "rule", "inet", "dsrlb_rs_dscp_eth0", "prerouting",
		`iifname "eth0" ip daddr 192.0.2.21 ip dscp 10 ip daddr set 192.0.2.100 ip dscp set 0 notrack`}
	if s, ok := find(steps, "nft", "add", "rule", "inet", "dsrlb_rs_dscp_eth0", "prerouting"); !ok || !slices.Equal(s.Argv, want) {
		t.Errorf("dscp rule = %q, want %q", s.Argv, want)
	}
	if s, ok := find(steps, "nft", "add", "chain", "inet", "dsrlb_rs_dscp_eth0", "prerouting"); !ok ||
		s.Argv[len(s.Argv)-1] != "{ type filter hook prerouting priority -300 ; policy accept ; }" {
		t.Errorf("dscp chain = %q", s.Argv)
	}

	steps, err = Plan(Spec{Method: conf.MethodGUE, VIPs: addrs("192.0.2.100"), Interface: "eth0",
		Self: addrs("192.0.2.21"), GUEPort: 0x1234, BPFObject: obj}, noModules)
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"bpftool", "map", "update", "pinned", "/sys/fs/bpf/tc/globals/dsrlb_rs_self", "key", "hex",
		"00", "00", "00", "00", "00", "00", "00", "00", "00", "00", "ff", "ff", "c0", "00", "02", "15",
		"03", "00", "00", "00", "value", "hex", "12", "34", "00", "00"}
	if s, ok := find(steps, "bpftool", "map", "update"); !ok || !slices.Equal(s.Argv, want) {
		t.Errorf("map update = %q, want %q", s.Argv, want)
	}
	want = []string{"tc", "filter", "replace", "dev", "eth0", "ingress", "pref", "1000", "handle", "1",
		"bpf", "direct-action", "obj", obj, "sec", "tc"}
	if s, ok := find(steps, "tc", "filter"); !ok || !slices.Equal(s.Argv, want) {
		t.Errorf("tc filter = %q, want %q", s.Argv, want)
	}
	if _, ok := find(steps, "mount", "-t", "bpf", "bpf", "/sys/fs/bpf"); !ok {
		t.Error("no bpffs mount although the host has none")
	}
}

// TestDecapChoice: auto takes the kernel only when every module it needs
// is there; kernel without them is an error naming them.
func TestDecapChoice(t *testing.T) {
	spec := Spec{Method: conf.MethodGUE, VIPs: addrs("192.0.2.100", "2001:db8::100"), Interface: "eth0",
		Self: addrs("192.0.2.21"), BPFObject: obj}
	steps, err := Plan(spec, loadable)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := find(steps, "ip", "fou", "add", "port", "6080", "gue"); !ok {
		t.Errorf("auto with all modules: no fou step")
	}
	partial := HostInfo{Modules: map[string]ModuleState{"fou": ModuleLoadable, "ipip": ModuleLoaded}}
	steps, err = Plan(spec, partial) // sit missing
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := find(steps, "tc", "filter", "replace"); !ok {
		t.Errorf("auto without sit: want eBPF decap")
	}
	if !strings.Contains(steps[0].Comment, "sit (CONFIG_IPV6_SIT)") {
		t.Errorf("header does not say why: %q", steps[0].Comment)
	}
	spec.Decap = DecapKernel
	if _, err := Plan(spec, partial); err == nil || !strings.Contains(err.Error(), "sit") {
		t.Errorf("kernel without sit: err = %v", err)
	}
	spec.Decap, spec.BPFObject = DecapAuto, ""
	if _, err := Plan(spec, partial); err == nil || !strings.Contains(err.Error(), "bpf-object") {
		t.Errorf("eBPF without object: err = %v", err)
	}
	if _, err := Teardown(spec, partial); err != nil {
		t.Errorf("teardown needs no object: %v", err)
	}
}

func TestClampedMSS(t *testing.T) {
	for _, c := range []struct {
		method     conf.Method
		self       []netip.Addr
		mtu, pmtu  int
		want4, wa6 int
	}{
		{conf.MethodIPIP, addrs("192.0.2.21"), 1500, 0, 1440, 1420},
		{conf.MethodGRE, addrs("192.0.2.21"), 1500, 0, 1436, 1416},
		{conf.MethodGUE, addrs("192.0.2.21"), 1500, 0, 1432, 1412},
		{conf.MethodIPIP, addrs("2001:db8::21"), 1500, 0, 1420, 1400},
		{conf.MethodGRE, addrs("192.0.2.21", "2001:db8::21"), 1500, 0, 1416, 1396},
		{conf.MethodGUE, addrs("2001:db8::21"), 1500, 0, 1412, 1392},
		{conf.MethodGUE, addrs("2001:db8::21"), 0, 0, 1412, 1392},       // unknown MTU: 1500
		{conf.MethodGUE, addrs("2001:db8::21"), 1500, 9000, 8912, 8892}, // PathMTU wins
	} {
		g4, g6 := ClampedMSS(Spec{Method: c.method, Self: c.self, PathMTU: c.pmtu}, HostInfo{MTU: c.mtu})
		if g4 != c.want4 || g6 != c.wa6 {
			t.Errorf("%s over %v, MTU %d/%d: MSS %d/%d, want %d/%d", c.method, c.self, c.mtu, c.pmtu, g4, g6, c.want4, c.wa6)
		}
	}
}

func TestValidate(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.100")
	ok := Spec{Method: conf.MethodGRE, VIPs: addrs("192.0.2.100"), Interface: "eth0", Self: addrs("192.0.2.21")}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(s *Spec)
		want string
	}{
		{"method", func(s *Spec) { s.Method = 0 }, `method: unknown method "method(0)"`},
		{"no vip", func(s *Spec) { s.VIPs = nil }, "vip: at least one VIP"},
		{"dup vip", func(s *Spec) { s.VIPs = addrs("192.0.2.100", "192.0.2.100") }, "vip: 192.0.2.100 given twice"},
		{"bad vip", func(s *Spec) { s.VIPs = addrs("224.0.0.1") }, "not a usable unicast"},
		{"mapped vip", func(s *Spec) { s.VIPs = addrs("::ffff:192.0.2.100") }, "write IPv4 addresses as IPv4"},
		{"no iface", func(s *Spec) { s.Interface = "" }, "iface: the interface facing"},
		{"lo", func(s *Spec) { s.Interface = "lo" }, "iface: lo:"},
		{"long iface", func(s *Spec) { s.Interface = "abcdefghijklmnop" }, "longer than 15"},
		{"quote iface", func(s *Spec) { s.Interface = `e"th` }, "not an interface name"},
		{"no self", func(s *Spec) { s.Self = nil }, "self: method gre needs"},
		{"self is vip", func(s *Spec) { s.Self = addrs("192.0.2.100") }, "is also a VIP"},
		{"decap", func(s *Spec) { s.Decap = "xdp" }, `decap: unknown decapsulation "xdp"`},
		{"gue port", func(s *Spec) { s.GUEPort = 5555 }, "gue-port: only for method gue"},
		{"path mtu", func(s *Spec) { s.PathMTU = 500 }, "path-mtu: 500 out of range"},
		{"dscp elsewhere", func(s *Spec) { s.DSCP = map[netip.Addr]uint8{v4: 3} }, "dscp: DSCP codes are for method dscp only"},
		{"ipip v6 over v4", func(s *Spec) { s.Method = conf.MethodIPIP; s.VIPs = addrs("2001:db8::100") }, "ipip carries IPv6 VIPs only over IPv6"},
		{"l2dsr self", func(s *Spec) { s.Method = conf.MethodL2DSR }, "self: l2dsr does not use"},
		{"l2dsr decap", func(s *Spec) { s.Method = conf.MethodL2DSR; s.Self = nil; s.Decap = DecapEBPF }, "decap: method l2dsr needs no"},
		{"l2dsr clamp", func(s *Spec) { s.Method = conf.MethodL2DSR; s.Self = nil; s.ClampMSS = true }, "clamp-mss: method l2dsr adds no header"},
		{"redirect tunnel", func(s *Spec) { s.Style = StyleRedirect }, "style: style redirect is for method l2dsr"},
		{"unknown style", func(s *Spec) { s.Method = conf.MethodL2DSR; s.Self = nil; s.Style = "dnat" }, `style: unknown style "dnat"`},
	} {
		s := ok
		c.edit(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
		if _, perr := Plan(s, noModules); perr == nil {
			t.Errorf("%s: Plan accepted an invalid spec", c.name)
		}
	}
}

func TestValidateDSCP(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("192.0.2.101")
	base := func() Spec {
		return Spec{Method: conf.MethodDSCP, VIPs: []netip.Addr{a, b}, Interface: "eth0",
			DSCP: map[netip.Addr]uint8{a: 10, b: 11}}
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("valid: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(s *Spec)
		want string
	}{
		{"zero", func(s *Spec) { s.DSCP[a] = 0 }, "code 0 out of range 1..63"},
		{"64", func(s *Spec) { s.DSCP[a] = 64 }, "code 64 out of range 1..63"},
		{"dup", func(s *Spec) { s.DSCP[b] = 10 }, "code 10 used for both"},
		{"missing", func(s *Spec) { delete(s.DSCP, b) }, "VIP 192.0.2.101 has no DSCP code"},
		{"not a vip", func(s *Spec) { s.DSCP[netip.MustParseAddr("192.0.2.9")] = 9 }, "code given for 192.0.2.9, which is not a VIP"},
		{"v6 vip", func(s *Spec) { s.VIPs = append(s.VIPs, netip.MustParseAddr("2001:db8::1")) }, "method dscp is IPv4 only"},
		{"v6 self", func(s *Spec) { s.Self = addrs("2001:db8::21") }, "self: 2001:db8::21: method dscp is IPv4 only"},
	} {
		s := base()
		c.edit(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	// Every problem is reported, one per line.
	s := base()
	s.DSCP[a], s.Interface = 99, ""
	if err := s.Validate(); err == nil || strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("two problems: err = %v", err)
	}
}

func TestApplyStopsAtFirstFailure(t *testing.T) {
	steps := []Step{
		{Comment: "only a comment"},
		{Argv: []string{"one"}},
		{Argv: []string{"gone"}, MayFail: true},
		{Argv: []string{"two", "x y"}},
		{Argv: []string{"three"}},
	}
	var ran []string
	boom := errors.New("exit status 2")
	run := func(_ context.Context, argv []string) ([]byte, error) {
		ran = append(ran, argv[0])
		switch argv[0] {
		case "gone":
			return []byte("Cannot find device"), boom
		case "two":
			return []byte("RTNETLINK answers: File exists\n"), boom
		}
		return nil, nil
	}
	var log bytes.Buffer
	err := ApplyWith(context.Background(), steps, run, &log)
	if !slices.Equal(ran, []string{"one", "gone", "two"}) {
		t.Errorf("ran %v", ran)
	}
	var se *StepError
	if !errors.As(err, &se) || se.Index != 3 || se.Total != 4 || !errors.Is(err, boom) {
		t.Fatalf("err = %#v", err)
	}
	if want := "step 3 of 4 failed: two 'x y': exit status 2: RTNETLINK answers: File exists"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !strings.Contains(log.String(), "+ gone || true\n  ignored: step 2 of 4 failed") {
		t.Errorf("log:\n%s", log.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran = nil
	if err := ApplyWith(ctx, steps, run, nil); !errors.Is(err, context.Canceled) || len(ran) != 0 {
		t.Errorf("canceled: err %v, ran %v", err, ran)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"eth0":                     "eth0",
		"192.0.2.1/32":             "192.0.2.1/32",
		"net.ipv4.conf.all.x=1":    "net.ipv4.conf.all.x=1",
		"":                         "''",
		"a b":                      "'a b'",
		`iifname "eth0"`:           `'iifname "eth0"'`,
		"it's":                     `'it'\''s'`,
		"{ type filter hook x ; }": "'{ type filter hook x ; }'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestDecapConstants keeps bpf/decap.c and this package in step: the
// method codes, map names and key/value sizes.
func TestDecapConstants(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("bpf", "decap.c"))
	if err != nil {
		t.Fatal(err)
	}
	defines := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^#define (DSRLB_\w+) (\d+)$`).FindAllStringSubmatch(string(src), -1) {
		n, _ := strconv.Atoi(m[2])
		defines[m[1]] = n
	}
	for name, want := range map[string]int{
		"DSRLB_METHOD_IPIP": bpfMethodIPIP,
		"DSRLB_METHOD_GRE":  bpfMethodGRE,
		"DSRLB_METHOD_GUE":  bpfMethodGUE,
	} {
		if got, ok := defines[name]; !ok || got != want {
			t.Errorf("decap.c %s = %d (found %v), Go has %d", name, got, ok, want)
		}
	}
	for _, want := range []string{
		"} " + MapSelf + " SEC(\".maps\");",
		"} " + MapStats + " SEC(\".maps\");",
		"__uint(pinning, LIBBPF_PIN_BY_NAME);",
		"\t__u8 addr[16];\n\t__u8 method;\n\t__u8 pad[3];\n", // 20-byte key
		"\t__be16 gue_port;\n\t__u16 pad;\n",                 // 4-byte value
		`SEC("tc")`,
	} {
		if !strings.Contains(string(src), want) {
			t.Errorf("decap.c lacks %q", want)
		}
	}
	if selfKeyLen != 16+1+3 || selfValLen != 2+2 {
		t.Errorf("key/value lengths %d/%d", selfKeyLen, selfValLen)
	}
}

// TestDetectHost runs the detection on this machine: it must not fail and
// must report lo's MTU.
func TestDetectHost(t *testing.T) {
	h := DetectHost("lo")
	if h.Kernel == "" {
		t.Error("no kernel release")
	}
	if h.MTU <= 0 {
		t.Errorf("lo MTU %d", h.MTU)
	}
	for m, st := range h.Modules {
		if _, known := tunnelModules[m]; !known || !st.Available() {
			t.Errorf("module %s: %v", m, st)
		}
	}
	t.Logf("kernel %s, modules %v, bpffs %v", h.Kernel, h.Modules, h.BPFFS)
}

func TestReadModuleList(t *testing.T) {
	p := filepath.Join(t.TempDir(), "modules.dep")
	data := "kernel/net/ipv4/ipip.ko.xz: kernel/net/ipv4/tunnel4.ko.xz kernel/net/ipv4/ip_tunnel.ko.xz\n" +
		"kernel/net/ipv6/ip6_gre.ko: kernel/net/ipv6/ip6_tunnel.ko\n" +
		"kernel/drivers/net/some-thing.ko.zst:\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	got := readModuleList(p)
	for _, m := range []string{"ipip", "ip6_gre", "some_thing"} {
		if !got[m] {
			t.Errorf("%s not found in %v", m, got)
		}
	}
	if got["tunnel4"] {
		t.Error("a dependency was taken for a module line")
	}
}
