package realserver

import (
	"context"
	"dsrlb/conf"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The doctor's unit tests replay what testdata/doctor/capture.sh recorded
// on this machine from a real set-up (ip, nft, tc, bpftool and ss output)
// through a fake host, edited per test to inject one fault. The kernel
// here has no ipip, gre or fou modules, so the kernel decapsulation's
// devices and fou ports are written by hand in the shape iproute2 prints
// them (ip/link_ip6tnl.c, ip/ipfou.c): kernel decapsulation is tested with
// this fake host only.

// fakeHost answers from recorded files and command outputs.
type fakeHost struct {
	t       *testing.T
	files   map[string]string
	cmds    map[string]string
	fail    map[string]error // command -> error
	missing []string         // programs not installed
	ran     []string
}

func (h *fakeHost) ReadFile(name string) ([]byte, error) {
	if c, ok := h.files[name]; ok {
		return []byte(c), nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (h *fakeHost) Output(_ context.Context, argv ...string) ([]byte, error) {
	key := strings.Join(argv, " ")
	h.ran = append(h.ran, key)
	if slices.Contains(h.missing, argv[0]) {
		return nil, &exec.Error{Name: argv[0], Err: exec.ErrNotFound}
	}
	if err, ok := h.fail[key]; ok {
		return nil, &CommandError{Argv: argv, Err: errors.New("exit status 1"), Stderr: err.Error()}
	}
	out, ok := h.cmds[key]
	if !ok {
		h.t.Errorf("the doctor ran %q, which the fake host does not know", key)
		return nil, &CommandError{Argv: argv, Err: errors.New("exit status 1"), Stderr: "unknown to the fake host"}
	}
	return []byte(out), nil
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "doctor", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const pinPath = MapPinDir + "/" + MapSelf

// capturedHost is the recorded set-up: every check passes for the specs
// below, listening on *:80.
func capturedHost(t *testing.T) *fakeHost {
	t.Helper()
	var prog, mapID int
	if _, err := fmt.Sscan(readTestdata(t, "ids.txt"), &prog, &mapID); err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{t: t,
		files: map[string]string{},
		cmds: map[string]string{
			"ip -j -d addr show":                            readTestdata(t, "ip_addr.json"),
			"ip -j -4 route show default":                   readTestdata(t, "ip_route_default.json"),
			"nft -j list ruleset":                           readTestdata(t, "nft_dsrlb.json"),
			"tc -j filter show dev rs0 ingress":             readTestdata(t, "tc_filter.json"),
			fmt.Sprintf("bpftool -j prog show id %d", prog): readTestdata(t, "bpftool_prog.json"),
			"bpftool -j map show":                           readTestdata(t, "bpftool_maps.json"),
			fmt.Sprintf("bpftool -j map dump id %d", mapID): readTestdata(t, "bpftool_dump.json"),
			"bpftool -j map show pinned " + pinPath:         readTestdata(t, "bpftool_pinned.json"),
			"ss -Hlnte":                                     readTestdata(t, "ss_tcp.txt"),
			"ss -Hlnue":                                     readTestdata(t, "ss_udp.txt"),
			"ip -j fou show":                                "",
		},
		fail: map[string]error{},
	}
	for dev, v := range map[string][3]int{"all": {1, 2, 0}, "rs0": {1, 2, 2}, "default": {0, 0, 0}} {
		h.setConf(dev, v[0], v[1], v[2])
	}
	return h
}

func (h *fakeHost) setConf(dev string, arpIgnore, arpAnnounce, rpFilter int) {
	h.files[sysctlPath(dev, "arp_ignore")] = fmt.Sprintf("%d\n", arpIgnore)
	h.files[sysctlPath(dev, "arp_announce")] = fmt.Sprintf("%d\n", arpAnnounce)
	h.files[sysctlPath(dev, "rp_filter")] = fmt.Sprintf("%d\n", rpFilter)
}

func (h *fakeHost) setSysctl(dev, key string, v int) {
	h.files[sysctlPath(dev, key)] = fmt.Sprintf("%d\n", v)
}

// editJSON rewrites command key's JSON output through fn.
func (h *fakeHost) editJSON(key string, fn func(v any) any) {
	h.t.Helper()
	var v any
	if err := json.Unmarshal([]byte(h.cmds[key]), &v); err != nil {
		h.t.Fatalf("%s: %v", key, err)
	}
	b, err := json.Marshal(fn(v))
	if err != nil {
		h.t.Fatal(err)
	}
	h.cmds[key] = string(b)
}

// editRules lets fn edit the nftables objects (each {"rule": {...}} etc.).
func (h *fakeHost) editRules(fn func(objs []any) []any) {
	h.editJSON("nft -j list ruleset", func(v any) any {
		m := v.(map[string]any)
		m["nftables"] = fn(m["nftables"].([]any))
		return m
	})
}

// dropObjs removes the nftables objects (rules, chains) that keep accepts.
func (h *fakeHost) dropObjs(keep func(kind string, o map[string]any) bool) int {
	n := 0
	h.editRules(func(objs []any) []any {
		var out []any
		for _, o := range objs {
			for kind, body := range o.(map[string]any) {
				if m, ok := body.(map[string]any); ok && !keep(kind, m) {
					n++
					goto next
				}
			}
			out = append(out, o)
		next:
		}
		return out
	})
	return n
}

// dropRule removes the rule of table/chain whose JSON contains text.
func (h *fakeHost) dropRule(table, chain, text string) {
	h.t.Helper()
	n := h.dropObjs(func(kind string, o map[string]any) bool {
		if kind != "rule" || o["table"] != table || o["chain"] != chain {
			return true
		}
		b, _ := json.Marshal(o["expr"])
		return !strings.Contains(string(b), text)
	})
	if n != 1 {
		h.t.Fatalf("dropRule %s %s %q: %d rules", table, chain, text, n)
	}
}

// addRuleset appends the tables of a recorded file to the ruleset.
func (h *fakeHost) addRuleset(name string) {
	var add struct {
		Nftables []any `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(readTestdata(h.t, name)), &add); err != nil {
		h.t.Fatal(err)
	}
	h.editRules(func(objs []any) []any {
		for _, o := range add.Nftables {
			if _, meta := o.(map[string]any)["metainfo"]; !meta {
				objs = append(objs, o)
			}
		}
		return objs
	})
}

// editLinks lets fn edit `ip -j -d addr show`.
func (h *fakeHost) editLinks(fn func(links []any) []any) {
	h.editJSON("ip -j -d addr show", func(v any) any { return fn(v.([]any)) })
}

func link(links []any, name string) map[string]any {
	for _, l := range links {
		if m := l.(map[string]any); m["ifname"] == name {
			return m
		}
	}
	return nil
}

// dropAddr removes address a from every interface.
func (h *fakeHost) dropAddr(a string) {
	h.editLinks(func(links []any) []any {
		for _, l := range links {
			m := l.(map[string]any)
			var keep []any
			for _, ai := range m["addr_info"].([]any) {
				if ai.(map[string]any)["local"] != a {
					keep = append(keep, ai)
				}
			}
			m["addr_info"] = keep
		}
		return links
	})
}

// addAddr puts address a/len on dev.
func (h *fakeHost) addAddr(dev, a string, plen int, extra map[string]any) {
	fam := "inet"
	if strings.Contains(a, ":") {
		fam = "inet6"
	}
	h.editLinks(func(links []any) []any {
		m := link(links, dev)
		ai := map[string]any{"family": fam, "local": a, "prefixlen": plen, "scope": "global"}
		for k, v := range extra {
			ai[k] = v
		}
		m["addr_info"] = append(m["addr_info"].([]any), ai)
		return links
	})
}

var (
	dvip4  = netip.MustParseAddr("198.51.100.10")
	dvip4b = netip.MustParseAddr("198.51.100.11")
	dvip6  = netip.MustParseAddr("2001:db8:100::10")
	rvip4  = netip.MustParseAddr("198.51.100.20")
	rvip6  = netip.MustParseAddr("2001:db8:100::20")
	dself4 = netip.MustParseAddr("192.0.2.21")
	dself6 = netip.MustParseAddr("2001:db8:1::21")
)

const dobj = "/usr/lib/dsrlb/dsrlb-decap.o"

// The specs of the recorded set-up.
var (
	l2Spec       = Spec{Method: conf.MethodL2DSR, VIPs: []netip.Addr{dvip4, dvip6}, Interface: "rs0"}
	redirectSpec = Spec{Method: conf.MethodL2DSR, VIPs: []netip.Addr{rvip4, rvip6}, Interface: "rs0", Style: StyleRedirect}
	dscpSpec     = Spec{Method: conf.MethodDSCP, VIPs: []netip.Addr{dvip4, dvip4b}, Interface: "rs0",
		DSCP: map[netip.Addr]uint8{dvip4: 10, dvip4b: 11}, Self: []netip.Addr{dself4}}
	greSpec = Spec{Method: conf.MethodGRE, VIPs: []netip.Addr{dvip4, dvip6}, Interface: "rs0",
		Self: []netip.Addr{dself4, dself6}, BPFObject: dobj, ClampMSS: true}
	gueSpec = Spec{Method: conf.MethodGUE, VIPs: []netip.Addr{dvip4}, Interface: "rs0",
		Self: []netip.Addr{dself4}, GUEPort: 7777, BPFObject: dobj}
	http = Service{Proto: "tcp", Port: 80}
	// hostInfo is this machine: no tunnel modules, bpffs mounted.
	hostInfo = HostInfo{Kernel: "6.18.0-test", Modules: map[string]ModuleState{}, BPFFS: true}
)

func examine(t *testing.T, h *fakeHost, spec Spec, svc Service, info HostInfo) *Report {
	t.Helper()
	r, err := Examine(context.Background(), spec, svc, info, h)
	if err != nil {
		t.Fatal(err)
	}
	checkFixesFromPlan(t, r, spec, info)
	return r
}

// checkFixesFromPlan: every fix is a step of the plan or the teardown the
// doctor made, or one of the removals of what is in the way.
func checkFixesFromPlan(t *testing.T, r *Report, spec Spec, info HostInfo) {
	t.Helper()
	spec.Decap = r.Decap
	plan, _ := Plan(spec, info)
	down, _ := Teardown(spec, info)
	for _, f := range r.Findings {
		if f.Status != StatusProblem && len(f.Fix) > 0 {
			t.Errorf("%s finding %q has a fix", f.Status, f.Message)
		}
		for _, s := range f.Fix {
			switch {
			case slices.ContainsFunc(plan, func(p Step) bool { return slices.Equal(p.Argv, s.Argv) }),
				slices.ContainsFunc(down, func(p Step) bool { return slices.Equal(p.Argv, s.Argv) }),
				hasPrefix(s.Argv, "nft", "delete", "rule"),
				hasPrefix(s.Argv, "ip", "addr", "del"), hasPrefix(s.Argv, "ip", "-6", "addr", "del"),
				hasPrefix(s.Argv, "ip", "link", "set", spec.Interface, "up"),
				hasPrefix(s.Argv, "sysctl", "-w", sysctl("ipv4", spec.Interface, "rp_filter")+"=2") && len(s.Argv) == 3:
			default:
				t.Errorf("fix %q of %q is not from the plan", s.Shell(), f.Message)
			}
		}
	}
}

// problems returns the findings of status s, as "check subject".
func byStatus(r *Report, s Status) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Status == s {
			out = append(out, f)
		}
	}
	return out
}

func dump(r *Report) string {
	var b strings.Builder
	r.Format(&b)
	return b.String()
}

// wantHealthy fails unless the report has no problem and no unknown.
func wantHealthy(t *testing.T, r *Report) {
	t.Helper()
	if !r.Healthy() {
		t.Errorf("not healthy:\n%s", dump(r))
	}
}

// wantOneProblem expects exactly one problem, of check, whose message
// contains every text, and whose fix is exactly fix (shell lines).
func wantOneProblem(t *testing.T, r *Report, check string, fix []string, texts ...string) Finding {
	t.Helper()
	ps := byStatus(r, StatusProblem)
	if len(ps) != 1 || ps[0].Check != check {
		t.Fatalf("want one %s problem, got:\n%s", check, dump(r))
	}
	f := ps[0]
	for _, s := range texts {
		if !strings.Contains(f.Message, s) {
			t.Errorf("message %q lacks %q", f.Message, s)
		}
	}
	var got []string
	for _, s := range f.Fix {
		got = append(got, s.Shell())
	}
	if fix != nil && !slices.Equal(got, fix) {
		t.Errorf("fix:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(fix, "\n  "))
	}
	if u := byStatus(r, StatusUnknown); len(u) > 0 {
		t.Errorf("unexpected unknowns:\n%s", dump(r))
	}
	return f
}

func TestDoctorRecordedSetUpsAreHealthy(t *testing.T) {
	for _, c := range []struct {
		name string
		spec Spec
		svc  Service
		warn []string // checks that warn
	}{
		{"l2dsr", l2Spec, http, nil},
		{"l2dsr redirect", redirectSpec, http, nil},
		{"dscp", dscpSpec, http, nil},
		{"gre ebpf clamp", greSpec, http, nil},
		{"gue ebpf port 7777", gueSpec, http, []string{CheckMTU}},
		{"udp on the VIP", l2Spec, Service{"udp", 54}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := c.spec
			if c.name == "udp on the VIP" {
				spec.VIPs = []netip.Addr{dvip4}
			}
			r := examine(t, capturedHost(t), spec, c.svc, hostInfo)
			wantHealthy(t, r)
			var warned []string
			for _, f := range byStatus(r, StatusWarning) {
				warned = append(warned, f.Check)
			}
			if !slices.Equal(warned, c.warn) {
				t.Errorf("warnings %v, want %v:\n%s", warned, c.warn, dump(r))
			}
			if spec.Method.Tunnels() && r.Decap != DecapEBPF {
				t.Errorf("decap %q, want ebpf (auto, and dsrlb-decap is attached)", r.Decap)
			}
		})
	}
}

func TestDoctorVIP(t *testing.T) {
	t.Run("missing from lo", func(t *testing.T) {
		h := capturedHost(t)
		h.dropAddr("198.51.100.10")
		r := examine(t, h, l2Spec, http, hostInfo)
		wantOneProblem(t, r, CheckVIP, []string{"ip addr replace 198.51.100.10/32 dev lo"}, "198.51.100.10 is not on lo")
	})
	t.Run("IPv6 missing from lo", func(t *testing.T) {
		h := capturedHost(t)
		h.dropAddr("2001:db8:100::10")
		r := examine(t, h, l2Spec, http, hostInfo)
		wantOneProblem(t, r, CheckVIP, []string{"ip -6 addr replace 2001:db8:100::10/128 dev lo nodad"}, "not on lo")
	})
	t.Run("also on the interface", func(t *testing.T) {
		h := capturedHost(t)
		h.addAddr("rs0", "198.51.100.10", 32, nil)
		r := examine(t, h, l2Spec, http, hostInfo)
		wantOneProblem(t, r, CheckVIP, []string{"ip addr del 198.51.100.10/32 dev rs0"}, "also on rs0", "ARP requests")
	})
	t.Run("on the interface instead", func(t *testing.T) {
		h := capturedHost(t)
		h.dropAddr("198.51.100.10")
		h.addAddr("rs0", "198.51.100.10", 24, nil)
		r := examine(t, h, l2Spec, http, hostInfo)
		wantOneProblem(t, r, CheckVIP, []string{"ip addr del 198.51.100.10/24 dev rs0", "ip addr replace 198.51.100.10/32 dev lo"}, "on rs0, not on lo")
	})
	t.Run("lo down", func(t *testing.T) {
		h := capturedHost(t)
		h.editLinks(func(links []any) []any {
			link(links, "lo")["flags"] = []any{"LOOPBACK"}
			return links
		})
		r := examine(t, h, l2Spec, http, hostInfo)
		wantOneProblem(t, r, CheckVIP, []string{"ip link set lo up"}, "lo is down")
	})
	t.Run("IPv6 VIP failed duplicate address detection", func(t *testing.T) {
		h := capturedHost(t)
		h.dropAddr("2001:db8:100::10")
		h.addAddr("lo", "2001:db8:100::10", 128, map[string]any{"dadfailed": true, "tentative": true})
		r := examine(t, h, l2Spec, http, hostInfo)
		wantOneProblem(t, r, CheckVIP, []string{"ip -6 addr del 2001:db8:100::10/128 dev lo", "ip -6 addr replace 2001:db8:100::10/128 dev lo nodad"}, "not usable")
	})
	t.Run("a whole prefix on lo", func(t *testing.T) {
		h := capturedHost(t)
		h.dropAddr("198.51.100.10")
		h.addAddr("lo", "198.51.100.10", 24, nil)
		r := examine(t, h, l2Spec, http, hostInfo)
		wantHealthy(t, r)
		if w := byStatus(r, StatusWarning); len(w) != 1 || !strings.Contains(w[0].Message, "198.51.100.0/24") {
			t.Errorf("want a warning about the /24:\n%s", dump(r))
		}
	})
	t.Run("redirect style: a VIP on the interface", func(t *testing.T) {
		h := capturedHost(t)
		h.addAddr("rs0", "198.51.100.20", 32, nil)
		r := examine(t, h, redirectSpec, http, hostInfo)
		wantOneProblem(t, r, CheckVIP, []string{"ip addr del 198.51.100.20/32 dev rs0"}, "address of rs0")
	})
	t.Run("redirect style: a VIP on lo, ARP not suppressed", func(t *testing.T) {
		h := capturedHost(t)
		h.addAddr("lo", "198.51.100.20", 32, nil)
		h.setSysctl("all", "arp_ignore", 0)
		h.setSysctl("rs0", "arp_ignore", 0)
		r := examine(t, h, redirectSpec, http, hostInfo)
		wantOneProblem(t, r, CheckVIP, []string{"ip addr del 198.51.100.20/32 dev lo"}, "arp_ignore 0")
	})
	t.Run("redirect style: a VIP on lo, ARP suppressed", func(t *testing.T) {
		h := capturedHost(t)
		h.addAddr("lo", "198.51.100.20", 32, nil)
		r := examine(t, h, redirectSpec, http, hostInfo)
		wantHealthy(t, r)
		if w := byStatus(r, StatusWarning); len(w) != 1 || w[0].Check != CheckVIP {
			t.Errorf("want a vip warning:\n%s", dump(r))
		}
	})
}

func TestDoctorInterface(t *testing.T) {
	t.Run("down", func(t *testing.T) {
		h := capturedHost(t)
		h.editLinks(func(links []any) []any {
			link(links, "rs0")["flags"] = []any{"BROADCAST", "MULTICAST"}
			return links
		})
		r := examine(t, h, l2Spec, http, hostInfo)
		wantOneProblem(t, r, CheckInterface, []string{"ip link set rs0 up"}, "rs0 is down")
	})
	t.Run("missing", func(t *testing.T) {
		h := capturedHost(t)
		spec := l2Spec
		spec.Interface = "eth7"
		r := examine(t, h, spec, http, hostInfo)
		ps := byStatus(r, StatusProblem)
		if len(ps) == 0 || ps[0].Check != CheckInterface || !strings.Contains(ps[0].Message, "eth7 does not exist") {
			t.Errorf("want the interface's absence first:\n%s", dump(r))
		}
		// Its sysctls cannot be read: said so, not guessed.
		if u := byStatus(r, StatusUnknown); len(u) == 0 || !strings.Contains(u[0].Message, "does eth7 exist?") {
			t.Errorf("want unknowns naming the missing interface:\n%s", dump(r))
		}
	})
}

func TestDoctorARP(t *testing.T) {
	const fix = "sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.rs0.arp_ignore=1 net.ipv4.conf.rs0.arp_announce=2"
	for _, c := range []struct {
		name      string
		key       string
		all, own  int
		wantOK    bool
		wantTexts []string
	}{
		{"arp_ignore 0", "arp_ignore", 0, 0, false, []string{"arp_ignore is 0 (all 0, rs0 0", "answers ARP for the VIPs"}},
		{"arp_ignore: all counts", "arp_ignore", 1, 0, true, nil},
		{"arp_ignore: the interface counts", "arp_ignore", 0, 2, true, nil},
		{"arp_ignore 3", "arp_ignore", 0, 3, false, []string{"global scope"}},
		{"arp_ignore 8", "arp_ignore", 8, 1, false, []string{"no ARP at all"}},
		{"arp_ignore reserved", "arp_ignore", 5, 1, false, []string{"reserved"}},
		{"arp_announce 0", "arp_announce", 0, 0, false, []string{"arp_announce is 0", "VIP as the source"}},
		{"arp_announce 1", "arp_announce", 1, 0, false, []string{"arp_announce is 1"}},
		{"arp_announce: all counts", "arp_announce", 2, 0, true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := capturedHost(t)
			h.setSysctl("all", c.key, c.all)
			h.setSysctl("rs0", c.key, c.own)
			r := examine(t, h, l2Spec, http, hostInfo)
			if c.wantOK {
				wantHealthy(t, r)
				return
			}
			wantOneProblem(t, r, CheckARP, []string{fix}, c.wantTexts...)
		})
	}
	t.Run("no IPv4 VIP: not checked", func(t *testing.T) {
		h := capturedHost(t)
		h.setSysctl("all", "arp_ignore", 0)
		h.setSysctl("rs0", "arp_ignore", 0)
		spec := l2Spec
		spec.VIPs = []netip.Addr{dvip6}
		wantHealthy(t, examine(t, h, spec, http, hostInfo))
	})
	t.Run("unreadable", func(t *testing.T) {
		h := capturedHost(t)
		delete(h.files, sysctlPath("all", "arp_announce"))
		r := examine(t, h, l2Spec, http, hostInfo)
		u := byStatus(r, StatusUnknown)
		if len(u) != 1 || u[0].Check != CheckARP || !strings.Contains(u[0].Message, "/proc/sys/net/ipv4/conf/all/arp_announce") {
			t.Errorf("want one arp unknown naming the file:\n%s", dump(r))
		}
		if r.Healthy() {
			t.Error("a report with an unknown is healthy")
		}
	})
}

func TestDoctorRPFilter(t *testing.T) {
	t.Run("strict on the eBPF interface", func(t *testing.T) {
		h := capturedHost(t)
		h.setSysctl("rs0", "rp_filter", 1)
		r := examine(t, h, greSpec, http, hostInfo)
		wantOneProblem(t, r, CheckRPFilter, []string{"sysctl -w net.ipv4.conf.rs0.rp_filter=2"}, "rp_filter on rs0 is 1", "strict")
	})
	t.Run("strict by all on the eBPF interface", func(t *testing.T) {
		h := capturedHost(t)
		h.setSysctl("all", "rp_filter", 1)
		h.setSysctl("rs0", "rp_filter", 0)
		r := examine(t, h, greSpec, http, hostInfo)
		wantOneProblem(t, r, CheckRPFilter, []string{"sysctl -w net.ipv4.conf.rs0.rp_filter=2"}, "(all 1, rs0 0")
	})
	t.Run("loose by the interface over strict all", func(t *testing.T) {
		h := capturedHost(t)
		h.setSysctl("all", "rp_filter", 1)
		wantHealthy(t, examine(t, h, greSpec, http, hostInfo))
	})
	t.Run("l2dsr strict, default route through the interface", func(t *testing.T) {
		h := capturedHost(t)
		h.setSysctl("rs0", "rp_filter", 1)
		r := examine(t, h, l2Spec, http, hostInfo)
		wantHealthy(t, r)
		if !strings.Contains(dump(r), "as the default route does") {
			t.Errorf("want the reason strict mode is fine:\n%s", dump(r))
		}
	})
	t.Run("dscp strict, default route elsewhere", func(t *testing.T) {
		h := capturedHost(t)
		h.setSysctl("rs0", "rp_filter", 1)
		h.cmds["ip -j -4 route show default"] = `[{"dst":"default","gateway":"203.0.113.1","dev":"eth1","flags":[]}]`
		r := examine(t, h, dscpSpec, http, hostInfo)
		wantOneProblem(t, r, CheckRPFilter, []string{"sysctl -w net.ipv4.conf.rs0.rp_filter=2"}, "leaves through eth1")
	})
	t.Run("l2dsr strict, ECMP default route partly elsewhere", func(t *testing.T) {
		h := capturedHost(t)
		h.setSysctl("rs0", "rp_filter", 1)
		h.cmds["ip -j -4 route show default"] = `[{"dst":"default","flags":[],"nexthops":[{"gateway":"192.0.2.1","dev":"rs0","weight":1,"flags":[]},{"gateway":"203.0.113.1","dev":"eth1","weight":1,"flags":[]}]}]`
		r := examine(t, h, l2Spec, http, hostInfo)
		wantOneProblem(t, r, CheckRPFilter, nil, "leaves through eth1")
	})
	t.Run("l2dsr strict, no default route", func(t *testing.T) {
		h := capturedHost(t)
		h.setSysctl("rs0", "rp_filter", 1)
		h.cmds["ip -j -4 route show default"] = `[]`
		r := examine(t, h, l2Spec, http, hostInfo)
		wantHealthy(t, r)
		if w := byStatus(r, StatusWarning); len(w) != 1 || w[0].Check != CheckRPFilter {
			t.Errorf("want an rp_filter warning:\n%s", dump(r))
		}
	})
	t.Run("IPv6 VIPs only: nothing to check", func(t *testing.T) {
		h := capturedHost(t)
		h.setSysctl("rs0", "rp_filter", 1)
		spec := greSpec
		spec.VIPs = []netip.Addr{dvip6}
		spec.Self = []netip.Addr{dself6}
		r := examine(t, h, spec, http, hostInfo)
		for _, f := range r.Findings {
			if f.Check == CheckRPFilter {
				t.Errorf("rp_filter inspected for IPv6 VIPs: %s", f.Message)
			}
		}
	})
}

func TestDoctorListener(t *testing.T) {
	l2v4 := l2Spec
	l2v4.VIPs = []netip.Addr{dvip4}
	l2v6 := l2Spec
	l2v6.VIPs = []netip.Addr{dvip6}
	redirectV4 := redirectSpec
	redirectV4.VIPs = []netip.Addr{rvip4}
	for _, c := range []struct {
		name  string
		spec  Spec
		svc   Service
		want  Status // of the one listener finding
		texts []string
	}{
		{"IPv6 wildcard without v6only takes IPv4", l2v4, http, StatusOK, []string{"*:80"}},
		{"IPv6 wildcard with v6only", l2v4, Service{"tcp", 81}, StatusProblem, []string{"198.51.100.10", "[::]:81 is an IPv6 wildcard with IPV6_V6ONLY"}},
		{"IPv6 wildcard with v6only, IPv6 VIP", l2v6, Service{"tcp", 81}, StatusOK, []string{"[::]:81"}},
		{"own address only", l2v4, Service{"tcp", 82}, StatusProblem, []string{"192.0.2.21:82 is bound to the server's own address 192.0.2.21 only"}},
		{"own address, v4-mapped", l2v4, Service{"tcp", 85}, StatusProblem, []string{"[::ffff:192.0.2.21]:85 is bound to the server's own address 192.0.2.21 only"}},
		{"bound to the receiving interface", l2v4, Service{"tcp", 83}, StatusOK, []string{"0.0.0.0%rs0:83"}},
		{"bound to lo", l2v4, Service{"tcp", 86}, StatusProblem, []string{"bound to device lo, and the packets arrive on rs0"}},
		{"on the VIP", l2v4, Service{"tcp", 84}, StatusOK, []string{"198.51.100.10:84"}},
		{"on the IPv6 VIP", l2v6, Service{"tcp", 84}, StatusOK, []string{"[2001:db8:100::10]:84"}},
		{"nothing at all", l2v4, Service{"tcp", 9}, StatusProblem, []string{"nothing listens on tcp port 9 for 198.51.100.10 (the VIP)"}},
		{"redirect: on the first address", redirectV4, Service{"tcp", 82}, StatusOK, []string{"192.0.2.21:82"}},
		{"redirect: on the second address", redirectV4, Service{"tcp", 87}, StatusProblem,
			[]string{"for 192.0.2.21 (where the redirect", "192.0.2.22:87 is bound to the server's own address 192.0.2.22 only"}},
		{"redirect: on the wildcard", redirectSpec, http, StatusOK, nil},
		{"udp on the wildcard", l2v4, Service{"udp", 53}, StatusWarning, []string{"0.0.0.0:53", "IP_PKTINFO"}},
		{"udp on the VIP", l2v4, Service{"udp", 54}, StatusOK, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := examine(t, capturedHost(t), c.spec, c.svc, hostInfo)
			var fs []Finding
			for _, f := range r.Findings {
				if f.Check == CheckListener {
					fs = append(fs, f)
				}
			}
			want := len(c.spec.VIPs)
			if len(fs) != want {
				t.Fatalf("want %d listener findings:\n%s", want, dump(r))
			}
			for _, f := range fs {
				if f.Status != c.want {
					t.Errorf("want %s:\n%s", c.want, dump(r))
				}
				for _, s := range c.texts {
					if !strings.Contains(f.Message+f.Advice, s) {
						t.Errorf("%q lacks %q", f.Message, s)
					}
				}
				if f.Status == StatusProblem && (len(f.Fix) != 0 || f.Advice == "") {
					t.Errorf("a listener problem is fixed in the service's configuration: advice, no command: %+v", f)
				}
			}
			if c.want == StatusProblem && len(byStatus(r, StatusProblem)) != len(fs) {
				t.Errorf("problems besides the listener:\n%s", dump(r))
			}
		})
	}
	t.Run("redirect: on the VIP", func(t *testing.T) {
		h := capturedHost(t)
		h.cmds["ss -Hlnte"] += "LISTEN 0      128          198.51.100.20:84 0.0.0.0:* ino:1 sk:1 <->\n"
		r := examine(t, h, redirectV4, Service{"tcp", 84}, hostInfo)
		wantOneProblem(t, r, CheckListener, nil, "for 192.0.2.21 (where the redirect", "198.51.100.20:84 is bound to the VIP 198.51.100.20")
	})
	t.Run("ss missing", func(t *testing.T) {
		h := capturedHost(t)
		h.missing = []string{"ss"}
		r := examine(t, h, l2Spec, http, hostInfo)
		u := byStatus(r, StatusUnknown)
		if len(u) != 1 || u[0].Check != CheckListener || !strings.Contains(u[0].Message, "ss is not installed") {
			t.Errorf("want the listener unknown:\n%s", dump(r))
		}
	})
}

func TestParseSS(t *testing.T) {
	ls, err := parseSS([]byte(readTestdata(t, "ss_tcp.txt")))
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint16][]string{}
	for _, l := range ls {
		got[l.port] = append(got[l.port], fmt.Sprintf("%s v6=%v v6only=%v dev=%q", l.addr, l.v6, l.v6only, l.dev))
	}
	want := map[uint16][]string{
		80: {`:: v6=true v6only=false dev=""`},
		81: {`:: v6=true v6only=true dev=""`},
		82: {`192.0.2.21 v6=false v6only=false dev=""`},
		83: {`0.0.0.0 v6=false v6only=false dev="rs0"`},
		84: {`198.51.100.10 v6=false v6only=false dev=""`, `2001:db8:100::10 v6=true v6only=true dev=""`},
		85: {`192.0.2.21 v6=true v6only=false dev=""`},
		86: {`0.0.0.0 v6=false v6only=false dev="lo"`},
		87: {`192.0.2.22 v6=false v6only=false dev=""`},
	}
	for p, w := range want {
		if !slices.Equal(got[p], w) {
			t.Errorf("port %d: %q, want %q", p, got[p], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("ports %v", got)
	}
	if _, err := parseSS([]byte("LISTEN 0 128\n")); err == nil {
		t.Error("a short line parsed")
	}
}

func TestDoctorDSCP(t *testing.T) {
	const table = "dsrlb_rs_dscp_rs0"
	rule10 := `nft add rule inet dsrlb_rs_dscp_rs0 prerouting 'iifname "rs0" ip daddr 192.0.2.21 ip dscp 10 ip daddr set 198.51.100.10 ip dscp set 0 notrack'`
	t.Run("rule deleted", func(t *testing.T) {
		h := capturedHost(t)
		h.dropRule(table, "prerouting", `"198.51.100.10"`)
		r := examine(t, h, dscpSpec, http, hostInfo)
		wantOneProblem(t, r, CheckDSCP, []string{rule10}, "no stateless rule turns DSCP 10 on rs0 back into 198.51.100.10")
	})
	t.Run("chain deleted: the whole table again", func(t *testing.T) {
		h := capturedHost(t)
		h.dropObjs(func(kind string, o map[string]any) bool {
			return o["table"] != table || o["chain"] != "prerouting" && o["name"] != "prerouting"
		})
		r := examine(t, h, dscpSpec, http, hostInfo)
		if ps := byStatus(r, StatusProblem); len(ps) != 2 {
			t.Fatalf("want two dscp problems:\n%s", dump(r))
		}
		steps, _ := Plan(dscpSpec, hostInfo)
		var want []string
		for _, s := range steps {
			if len(s.Argv) > 0 && s.Argv[0] == "nft" {
				want = append(want, s.Shell())
			}
		}
		var got []string
		for _, s := range r.FixSteps() {
			got = append(got, s.Shell())
		}
		if !slices.Equal(got, want) {
			t.Errorf("fix:\n%s\nwant the plan's nft steps:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("chain after conntrack: the table deleted first", func(t *testing.T) {
		h := capturedHost(t)
		h.editRules(func(objs []any) []any {
			for _, o := range objs {
				if c, ok := o.(map[string]any)["chain"].(map[string]any); ok && c["table"] == table && c["name"] == "prerouting" {
					c["prio"] = 0
				}
			}
			return objs
		})
		r := examine(t, h, dscpSpec, http, hostInfo)
		ps := byStatus(r, StatusProblem)
		if len(ps) != 2 || !strings.Contains(ps[0].Message, "at priority 0, after conntrack") {
			t.Fatalf("want two problems naming the late rules:\n%s", dump(r))
		}
		if first := ps[0].Fix[0].Shell(); first != "nft delete table inet dsrlb_rs_dscp_rs0 || true" {
			t.Errorf("first fix %q: nft cannot change a chain's priority", first)
		}
	})
	t.Run("output notrack deleted", func(t *testing.T) {
		h := capturedHost(t)
		h.dropRule(table, "output", "notrack")
		r := examine(t, h, dscpSpec, http, hostInfo)
		wantOneProblem(t, r, CheckDSCP, []string{"nft add rule inet dsrlb_rs_dscp_rs0 output 'ip saddr { 198.51.100.10, 198.51.100.11 } notrack'"},
			"replies from 198.51.100.10, 198.51.100.11 are tracked")
	})
	t.Run("a map rule of another table", func(t *testing.T) {
		h := capturedHost(t)
		h.dropObjs(func(kind string, o map[string]any) bool { return o["table"] != table && o["name"] != table })
		h.addRuleset("nft_dscp_map.json")
		r := examine(t, h, dscpSpec, http, hostInfo)
		wantHealthy(t, r)
		if !strings.Contains(dump(r), "inet dscpmap pre handle") {
			t.Errorf("want the map rule named:\n%s", dump(r))
		}
	})
	t.Run("a rule after conntrack", func(t *testing.T) {
		h := capturedHost(t)
		h.addRuleset("nft_dscp_map.json")
		spec := dscpSpec
		v := netip.MustParseAddr("198.51.100.12")
		spec.VIPs = []netip.Addr{v}
		spec.DSCP = map[netip.Addr]uint8{v: 12}
		h.addAddr("lo", v.String(), 32, nil)
		r := examine(t, h, spec, http, hostInfo)
		f := wantOneProblem(t, r, CheckDSCP, nil, "DSCP 12", "inet dscpmap late handle 7 sets it at priority 0, after conntrack")
		if len(f.Fix) == 0 {
			t.Error("no fix")
		}
	})
	t.Run("a rule for another interface", func(t *testing.T) {
		h := capturedHost(t)
		spec := dscpSpec
		spec.Interface = "eth1"
		h.editLinks(func(links []any) []any {
			link(links, "rs0")["ifname"] = "eth1"
			return links
		})
		h.setConf("eth1", 1, 2, 0)
		r := examine(t, h, spec, http, hostInfo)
		// The rules match on iifname rs0: neither applies; the output
		// rule does not look at the interface.
		if n := len(byStatus(r, StatusProblem)); n != 2 {
			t.Errorf("want 2 problems, got %d:\n%s", n, dump(r))
		}
	})
	t.Run("nft missing", func(t *testing.T) {
		h := capturedHost(t)
		h.missing = []string{"nft"}
		r := examine(t, h, dscpSpec, http, hostInfo)
		var checks []string
		for _, f := range byStatus(r, StatusUnknown) {
			checks = append(checks, f.Check)
			if !strings.Contains(f.Message, "nft is not installed") {
				t.Errorf("%q does not say nft is missing", f.Message)
			}
		}
		if !slices.Equal(checks, []string{CheckDSCP, CheckNAT}) {
			t.Errorf("unknowns %v, want dscp and nat:\n%s", checks, dump(r))
		}
		if len(byStatus(r, StatusProblem)) != 0 {
			t.Errorf("problems without nft:\n%s", dump(r))
		}
	})
	t.Run("nft refused", func(t *testing.T) {
		h := capturedHost(t)
		h.fail["nft -j list ruleset"] = errors.New("Operation not permitted")
		r := examine(t, h, dscpSpec, http, hostInfo)
		if u := byStatus(r, StatusUnknown); len(u) != 2 || !strings.Contains(u[0].Message, "(run as root)") {
			t.Errorf("want unknowns asking for root:\n%s", dump(r))
		}
	})
}

func TestDoctorNAT(t *testing.T) {
	t.Run("dscp: DNAT to the VIP", func(t *testing.T) {
		h := capturedHost(t)
		h.addRuleset("nft_conflicts.json")
		r := examine(t, h, dscpSpec, http, hostInfo)
		f := wantOneProblem(t, r, CheckNAT, []string{"nft delete rule ip foreign pre handle 5"},
			"DNATs the packets for 198.51.100.10 (DSCP 10)", "conntrack turns the reply's source back", "takes over as soon as that rule is gone")
		if f.Subject != "ip foreign pre handle 5" {
			t.Errorf("subject %q", f.Subject)
		}
	})
	t.Run("dscp: DNAT instead of the stateless rule", func(t *testing.T) {
		h := capturedHost(t)
		h.addRuleset("nft_conflicts.json")
		h.dropRule("dsrlb_rs_dscp_rs0", "prerouting", `"198.51.100.10"`)
		r := examine(t, h, dscpSpec, http, hostInfo)
		if ps := byStatus(r, StatusProblem); len(ps) != 2 || ps[0].Check != CheckDSCP || ps[1].Check != CheckNAT ||
			strings.Contains(ps[1].Message, "takes over") {
			t.Errorf("want the missing rule and the DNAT:\n%s", dump(r))
		}
	})
	t.Run("style vip: DNAT of the VIP elsewhere", func(t *testing.T) {
		h := capturedHost(t)
		h.addRuleset("nft_conflicts.json")
		r := examine(t, h, greSpec, Service{"tcp", 8080}, hostInfo)
		var nat []Finding
		for _, f := range byStatus(r, StatusProblem) {
			if f.Check == CheckNAT {
				nat = append(nat, f)
			}
		}
		if len(nat) != 1 || !strings.Contains(nat[0].Message, "dnat to 192.0.2.99 port 80") ||
			!strings.Contains(nat[0].Message, "answers from its own address") ||
			nat[0].Fix[0].Shell() != "nft delete rule ip foreign pre handle 7" {
			t.Errorf("want the DNAT of 198.51.100.10:8080:\n%s", dump(r))
		}
	})
	t.Run("style vip: another port is not the VIP's service", func(t *testing.T) {
		h := capturedHost(t)
		h.addRuleset("nft_conflicts.json")
		wantHealthy(t, examine(t, h, greSpec, http, hostInfo))
	})
	t.Run("redirect style: DNAT off the host", func(t *testing.T) {
		h := capturedHost(t)
		h.addRuleset("nft_conflicts.json")
		h.dropRule("foreign", "raw", `"rs*"`) // the notrack, the redirect test's
		spec := redirectSpec
		spec.VIPs = []netip.Addr{netip.MustParseAddr("198.51.100.30")}
		r := examine(t, h, spec, Service{"tcp", 8080}, hostInfo)
		var nat []Finding
		for _, f := range byStatus(r, StatusProblem) {
			if f.Check == CheckNAT {
				nat = append(nat, f)
			}
		}
		if len(nat) != 1 || !strings.Contains(nat[0].Message, "off this host") {
			t.Errorf("want the DNAT off the host:\n%s", dump(r))
		}
	})
}

func TestDoctorRedirect(t *testing.T) {
	const table = "dsrlb_rs_l2dsr_rs0"
	t.Run("rule deleted", func(t *testing.T) {
		h := capturedHost(t)
		h.dropRule(table, "prerouting", `"198.51.100.20"`)
		r := examine(t, h, redirectSpec, http, hostInfo)
		wantOneProblem(t, r, CheckRedirect, []string{"nft add rule inet dsrlb_rs_l2dsr_rs0 prerouting iifname rs0 ip daddr 198.51.100.20 redirect"},
			"no nat rule redirects 198.51.100.20 on rs0")
	})
	t.Run("table deleted", func(t *testing.T) {
		h := capturedHost(t)
		h.dropObjs(func(kind string, o map[string]any) bool { return o["table"] != table && o["name"] != table })
		r := examine(t, h, redirectSpec, http, hostInfo)
		if ps := byStatus(r, StatusProblem); len(ps) != 2 || len(r.FixSteps()) != 5 {
			t.Errorf("want two problems fixed by the plan's five nft steps:\n%s", dump(r))
		}
	})
	t.Run("notrack before conntrack", func(t *testing.T) {
		h := capturedHost(t)
		h.addRuleset("nft_conflicts.json")
		r := examine(t, h, redirectSpec, http, hostInfo)
		wantOneProblem(t, r, CheckRedirect, []string{"nft delete rule ip foreign raw handle 9"},
			"ip foreign raw handle 9 untracks the packets to 198.51.100.20", "nat needs conntrack")
	})
	t.Run("notrack of the replies", func(t *testing.T) {
		h := capturedHost(t)
		h.addRuleset("nft_conflicts.json")
		h.dropRule("foreign", "raw", `"rs*"`)
		h.cmds["ss -Hlnte"] += "LISTEN 0      128                   *:8443       *:* ino:1 sk:1 v6only:0 <->\n"
		r := examine(t, h, redirectSpec, Service{"tcp", 8443}, hostInfo)
		// An ip table: the IPv6 replies are not its business.
		wantOneProblem(t, r, CheckRedirect, []string{"nft delete rule ip foreign out handle 10"},
			"ip foreign out handle 10 untracks the replies from 192.0.2.21 port 8443", "VIP 198.51.100.20 back")
	})
	t.Run("a DNAT that may apply first", func(t *testing.T) {
		h := capturedHost(t)
		h.editRules(func(objs []any) []any {
			return append(objs,
				map[string]any{"chain": map[string]any{"family": "ip", "table": "marks", "name": "pre", "handle": 1,
					"type": "nat", "hook": "prerouting", "prio": -150, "policy": "accept"}},
				map[string]any{"rule": map[string]any{"family": "ip", "table": "marks", "chain": "pre", "handle": 2,
					"expr": []any{
						map[string]any{"match": map[string]any{"op": "==", "left": map[string]any{"meta": map[string]any{"key": "mark"}}, "right": 1}},
						map[string]any{"dnat": map[string]any{"addr": "203.0.113.9"}},
					}}})
		})
		r := examine(t, h, redirectSpec, http, hostInfo)
		wantOneProblem(t, r, CheckNAT, []string{"nft delete rule ip marks pre handle 2"},
			"(dnat to 203.0.113.9) sends the packets to 198.51.100.20 (it also tests what the doctor cannot know, so it may) off this host")
		if !strings.Contains(dump(r), "ok       redirect    198.51.100.20 on rs0: inet dsrlb_rs_l2dsr_rs0 prerouting handle 2 to 192.0.2.21") {
			t.Errorf("the redirect behind it is not found:\n%s", dump(r))
		}
	})
	t.Run("no address to redirect to", func(t *testing.T) {
		h := capturedHost(t)
		h.dropAddr("2001:db8:1::21")
		r := examine(t, h, redirectSpec, http, hostInfo)
		if ps := byStatus(r, StatusProblem); len(ps) != 1 || !strings.Contains(ps[0].Message, "no address of its family") {
			t.Errorf("want the missing IPv6 address:\n%s", dump(r))
		}
	})
	t.Run("DNAT to an own address is a redirect too", func(t *testing.T) {
		h := capturedHost(t)
		h.editRules(func(objs []any) []any {
			for _, o := range objs {
				r, ok := o.(map[string]any)["rule"].(map[string]any)
				if !ok || r["table"] != table {
					continue
				}
				exprs := r["expr"].([]any)
				if b, _ := json.Marshal(exprs); strings.Contains(string(b), `"198.51.100.20"`) {
					exprs[len(exprs)-1] = map[string]any{"dnat": map[string]any{"family": "ip", "addr": "192.0.2.22"}}
				}
			}
			return objs
		})
		h.cmds["ss -Hlnte"] = "LISTEN 0 128 192.0.2.22:80 0.0.0.0:* ino:1 sk:1 <->\nLISTEN 0 128 [2001:db8:1::21]:80 [::]:* ino:2 sk:2 v6only:1 <->\n"
		r := examine(t, h, redirectSpec, http, hostInfo)
		wantHealthy(t, r)
		if !strings.Contains(dump(r), "198.51.100.20 on rs0: inet dsrlb_rs_l2dsr_rs0 prerouting handle 2 to 192.0.2.22") {
			t.Errorf("want the DNAT's target:\n%s", dump(r))
		}
	})
}

func TestDoctorEBPF(t *testing.T) {
	var prog, mapID int
	fmt.Sscan(readTestdata(t, "ids.txt"), &prog, &mapID)
	attach := []string{
		"tc qdisc replace dev rs0 clsact",
		"tc filter replace dev rs0 ingress pref 1000 handle 1 bpf direct-action obj /usr/lib/dsrlb/dsrlb-decap.o sec tc",
		"bpftool map update pinned /sys/fs/bpf/tc/globals/dsrlb_rs_self key hex 00 00 00 00 00 00 00 00 00 00 ff ff c0 00 02 15 02 00 00 00 value hex 00 00 00 00",
		"bpftool map update pinned /sys/fs/bpf/tc/globals/dsrlb_rs_self key hex 20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 21 02 00 00 00 value hex 00 00 00 00",
	}
	greE := greSpec
	greE.Decap = DecapEBPF
	t.Run("filter deleted", func(t *testing.T) {
		h := capturedHost(t)
		h.cmds["tc -j filter show dev rs0 ingress"] = "[]"
		r := examine(t, h, greE, http, hostInfo)
		wantOneProblem(t, r, CheckDecap, attach, "dsrlb-decap is not attached to rs0 ingress, tc pref 1000")
	})
	t.Run("no clsact qdisc", func(t *testing.T) {
		h := capturedHost(t)
		h.cmds["tc -j filter show dev rs0 ingress"] = ""
		r := examine(t, h, greE, http, hostInfo)
		wantOneProblem(t, r, CheckDecap, attach, "not attached")
	})
	t.Run("bpffs not mounted: the plan mounts it", func(t *testing.T) {
		h := capturedHost(t)
		h.cmds["tc -j filter show dev rs0 ingress"] = "[]"
		info := hostInfo
		info.BPFFS = false
		r := examine(t, h, greE, http, info)
		wantOneProblem(t, r, CheckDecap, append([]string{"mount -t bpf bpf /sys/fs/bpf"}, attach...), "not attached")
	})
	t.Run("decap auto without the filter is the plan's choice", func(t *testing.T) {
		h := capturedHost(t)
		h.cmds["tc -j filter show dev rs0 ingress"] = "[]"
		r := examine(t, h, greSpec, http, hostInfo)
		if r.Decap != DecapEBPF || !strings.Contains(r.DecapWhy, "lacks") {
			t.Errorf("decap %q (%s), want ebpf because the kernel lacks the modules", r.Decap, r.DecapWhy)
		}
		wantOneProblem(t, r, CheckDecap, attach, "not attached")
	})
	t.Run("another filter at the pref", func(t *testing.T) {
		h := capturedHost(t)
		h.cmds["tc -j filter show dev rs0 ingress"] = strings.ReplaceAll(h.cmds["tc -j filter show dev rs0 ingress"], `"name":"dsrlb_decap"`, `"name":"cilium_ingress"`)
		r := examine(t, h, greE, http, hostInfo)
		wantOneProblem(t, r, CheckDecap, append([]string{"tc filter del dev rs0 ingress pref 1000 || true"}, attach...), "holds another filter (kind bpf, program cilium_ingress)")
	})
	t.Run("not direct-action", func(t *testing.T) {
		h := capturedHost(t)
		h.cmds["tc -j filter show dev rs0 ingress"] = strings.ReplaceAll(h.cmds["tc -j filter show dev rs0 ingress"], `"direct-action":true,`, "")
		r := examine(t, h, greE, http, hostInfo)
		wantOneProblem(t, r, CheckDecap, append([]string{"tc filter del dev rs0 ingress pref 1000 || true"}, attach...), "not in direct-action mode")
	})
	dumpKey := fmt.Sprintf("bpftool -j map dump id %d", mapID)
	dropEntry := func(h *fakeHost, method byte, addr0 string) {
		h.editJSON(dumpKey, func(v any) any {
			var out []any
			for _, e := range v.([]any) {
				k := e.(map[string]any)["key"].([]any)
				if k[16] == fmt.Sprintf("0x%02x", method) && k[0] == addr0 {
					continue
				}
				out = append(out, e)
			}
			return out
		})
	}
	t.Run("map entry deleted", func(t *testing.T) {
		h := capturedHost(t)
		dropEntry(h, 2, "0x20") // 2001:db8:1::21, gre
		r := examine(t, h, greE, http, hostInfo)
		wantOneProblem(t, r, CheckDecap, attach[3:], "2001:db8:1::21: no entry for gre in map")
	})
	t.Run("map entry deleted, the pin gone", func(t *testing.T) {
		h := capturedHost(t)
		dropEntry(h, 2, "0x20")
		h.fail["bpftool -j map show pinned "+pinPath] = errors.New("Error: bpf obj get (/sys/fs/bpf/tc/globals): No such file or directory")
		r := examine(t, h, greE, http, hostInfo)
		wantOneProblem(t, r, CheckDecap, append([]string{"tc filter del dev rs0 ingress pref 1000 || true"}, attach...), "is not pinned where the plan writes")
	})
	t.Run("map entry deleted, another map pinned", func(t *testing.T) {
		h := capturedHost(t)
		dropEntry(h, 2, "0x20")
		h.cmds["bpftool -j map show pinned "+pinPath] = strings.Replace(h.cmds["bpftool -j map show pinned "+pinPath], fmt.Sprintf(`"id":%d`, mapID), `"id":9999`, 1)
		r := examine(t, h, greE, http, hostInfo)
		wantOneProblem(t, r, CheckDecap, nil, "is map 9999, not the program's")
	})
	t.Run("another method only", func(t *testing.T) {
		h := capturedHost(t)
		spec := gueSpec
		spec.Method = conf.MethodIPIP
		spec.GUEPort = 0
		r := examine(t, h, spec, http, hostInfo)
		wantOneProblem(t, r, CheckDecap, []string{"bpftool map update pinned /sys/fs/bpf/tc/globals/dsrlb_rs_self key hex 00 00 00 00 00 00 00 00 00 00 ff ff c0 00 02 15 01 00 00 00 value hex 00 00 00 00"},
			"no entry for ipip", "(it has entries for gre, gue)")
	})
	t.Run("GUE port differs", func(t *testing.T) {
		h := capturedHost(t)
		spec := gueSpec
		spec.GUEPort = 0
		r := examine(t, h, spec, http, hostInfo)
		wantOneProblem(t, r, CheckDecap, []string{"bpftool map update pinned /sys/fs/bpf/tc/globals/dsrlb_rs_self key hex 00 00 00 00 00 00 00 00 00 00 ff ff c0 00 02 15 03 00 00 00 value hex 17 c0 00 00"},
			"has GUE port 7777; the balancer sends to 6080")
	})
	t.Run("tc missing", func(t *testing.T) {
		h := capturedHost(t)
		h.missing = []string{"tc"}
		r := examine(t, h, greSpec, http, hostInfo)
		if u := byStatus(r, StatusUnknown); len(u) != 1 || u[0].Check != CheckDecap || !strings.Contains(u[0].Message, "tc is not installed") {
			t.Errorf("want the decap unknown:\n%s", dump(r))
		}
	})
	t.Run("bpftool missing", func(t *testing.T) {
		h := capturedHost(t)
		h.missing = []string{"bpftool"}
		r := examine(t, h, greSpec, http, hostInfo)
		if u := byStatus(r, StatusUnknown); len(u) != 1 || !strings.Contains(u[0].Message, "bpftool is not installed") {
			t.Errorf("want the map unknown:\n%s", dump(r))
		}
	})
}

// kernelHost adds the kernel's tunnel devices, as iproute2 prints them,
// to the recorded host, and the fou ports.
func kernelHost(t *testing.T, ip6tnlProto string, fou string) *fakeHost {
	h := capturedHost(t)
	h.cmds["tc -j filter show dev rs0 ingress"] = "[]"
	h.editLinks(func(links []any) []any {
		dev := func(name, kind string, data map[string]any) map[string]any {
			return map[string]any{"ifindex": 10 + len(links), "ifname": name, "flags": []any{"NOARP", "UP", "LOWER_UP"},
				"mtu": 1480, "operstate": "UNKNOWN", "link_type": kind,
				"linkinfo": map[string]any{"info_kind": kind, "info_data": data}, "addr_info": []any{}}
		}
		links = append(links, dev("tunl0", "ipip", map[string]any{"proto": "ipip", "remote": "any", "local": "any", "ttl": 0, "pmtudisc": false}))
		links = append(links, dev("ip6tnl0", "ip6tnl", map[string]any{"proto": ip6tnlProto, "remote": "::", "local": "::", "ttl": 0, "encap_limit": 0}))
		return links
	})
	h.cmds["ip -j fou show"] = fou
	h.setConf("tunl0", 0, 0, 2)
	h.setConf("ip6tnl0", 0, 0, 0)
	return h
}

func TestDoctorKernelDecap(t *testing.T) {
	loaded := HostInfo{Kernel: "6.1.0-test", BPFFS: true, Modules: map[string]ModuleState{
		"ipip": ModuleLoaded, "ip6_tunnel": ModuleLoaded, "fou": ModuleLoaded, "fou6": ModuleLoaded, "sit": ModuleLoadable,
	}}
	ipip := Spec{Method: conf.MethodIPIP, VIPs: []netip.Addr{dvip4, dvip6}, Interface: "rs0", Self: []netip.Addr{dself4, dself6}}
	gue := Spec{Method: conf.MethodGUE, VIPs: []netip.Addr{dvip4}, Interface: "rs0", Self: []netip.Addr{dself4, dself6}, GUEPort: 7777}
	const fouBoth = `[{"port":7777,"gue":null,"family":"inet"},{"port":7777,"gue":null,"family":"inet6"}]`

	t.Run("healthy", func(t *testing.T) {
		for _, spec := range []Spec{ipip, gue} {
			r := examine(t, kernelHost(t, "any", fouBoth), spec, http, loaded)
			wantHealthy(t, r)
			if r.Decap != DecapKernel {
				t.Errorf("decap %q, want kernel (auto, the modules are there)", r.Decap)
			}
		}
	})
	t.Run("module not loaded", func(t *testing.T) {
		info := loaded
		info.Modules = map[string]ModuleState{"ipip": ModuleLoadable, "ip6_tunnel": ModuleBuiltin}
		r := examine(t, kernelHost(t, "any", ""), ipip, http, info)
		wantOneProblem(t, r, CheckDecap, []string{"modprobe ipip"}, "module ipip is not loaded")
	})
	t.Run("module missing with decap kernel", func(t *testing.T) {
		info := loaded
		info.Modules = map[string]ModuleState{"ip6_tunnel": ModuleBuiltin}
		spec := ipip
		spec.Decap = DecapKernel
		r := examine(t, kernelHost(t, "any", ""), spec, http, info)
		ps := byStatus(r, StatusProblem)
		if len(ps) != 2 || !strings.Contains(ps[0].Message, "cannot be planned") ||
			ps[1].Message != "module ipip (CONFIG_NET_IPIP) is neither loaded nor installed: this kernel cannot decapsulate ipip; use -decap ebpf" {
			t.Errorf("want the missing module:\n%s", dump(r))
		}
		if r.Decap != DecapKernel {
			t.Errorf("decap %q, want kernel as asked", r.Decap)
		}
	})
	t.Run("device down", func(t *testing.T) {
		h := kernelHost(t, "any", "")
		h.editLinks(func(links []any) []any {
			link(links, "tunl0")["flags"] = []any{"NOARP"}
			return links
		})
		r := examine(t, h, ipip, http, loaded)
		wantOneProblem(t, r, CheckDecap, []string{"ip link set tunl0 up"}, "tunl0 is down")
	})
	t.Run("device missing", func(t *testing.T) {
		h := kernelHost(t, "any", "")
		h.editLinks(func(links []any) []any { return links[:len(links)-1] }) // ip6tnl0
		delete(h.files, sysctlPath("ip6tnl0", "rp_filter"))
		r := examine(t, h, ipip, http, loaded)
		wantOneProblem(t, r, CheckDecap, []string{"ip -6 tunnel change ip6tnl0 mode any", "ip link set ip6tnl0 up"}, "ip6tnl0 does not exist")
	})
	t.Run("ip6tnl0 not in mode any", func(t *testing.T) {
		r := examine(t, kernelHost(t, "ip6ip6", ""), ipip, http, loaded)
		wantOneProblem(t, r, CheckDecap, []string{"ip -6 tunnel change ip6tnl0 mode any"}, "mode ip6ip6, not any")
	})
	t.Run("strict on a tunnel device", func(t *testing.T) {
		h := kernelHost(t, "any", "")
		h.setSysctl("tunl0", "rp_filter", 1)
		r := examine(t, h, ipip, http, loaded)
		wantOneProblem(t, r, CheckRPFilter, []string{"sysctl -w net.ipv4.conf.tunl0.rp_filter=2 net.ipv4.conf.ip6tnl0.rp_filter=2"},
			"rp_filter on tunl0 is 1", "does not lead back through tunl0")
	})
	t.Run("fou port missing", func(t *testing.T) {
		r := examine(t, kernelHost(t, "any", `[{"port":7777,"gue":null,"family":"inet"},{"port":6080,"gue":null,"family":"inet6"}]`), gue, http, loaded)
		wantOneProblem(t, r, CheckDecap, []string{"ip fou del port 7777 -6 || true", "ip fou add port 7777 gue -6"}, "no GUE receiver on UDP port 7777 over IPv6")
	})
	t.Run("fou not loaded", func(t *testing.T) {
		info := loaded
		info.Modules = map[string]ModuleState{"ipip": ModuleLoaded, "ip6_tunnel": ModuleLoaded, "fou": ModuleLoadable, "fou6": ModuleLoadable}
		h := kernelHost(t, "any", "")
		h.fail["ip -j fou show"] = errors.New("RTNETLINK answers: No such file or directory\nError talking to the kernel")
		r := examine(t, h, gue, http, info)
		var got []string
		for _, f := range byStatus(r, StatusProblem) {
			var fix []string
			for _, s := range f.Fix {
				fix = append(fix, s.Shell())
			}
			got = append(got, f.Message+": "+strings.Join(fix, "; "))
		}
		want := []string{
			"module fou is not loaded: modprobe fou",
			"module fou6 is not loaded: modprobe fou6",
			"no GUE receiver on UDP port 7777 over IPv4: the packets reach a closed port: modprobe fou; ip fou del port 7777 || true; ip fou add port 7777 gue",
			"no GUE receiver on UDP port 7777 over IPv6: the packets reach a closed port: modprobe fou6; ip fou del port 7777 -6 || true; ip fou add port 7777 gue -6",
		}
		if !slices.Equal(got, want) {
			t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	})
	t.Run("fou listed by a kernel with fou loaded, but ip fails", func(t *testing.T) {
		h := kernelHost(t, "any", "")
		h.fail["ip -j fou show"] = errors.New("Operation not permitted")
		r := examine(t, h, gue, http, loaded)
		if u := byStatus(r, StatusUnknown); len(u) != 1 || !strings.Contains(u[0].Message, "the fou ports") {
			t.Errorf("want the fou unknown:\n%s", dump(r))
		}
	})
}

func TestDoctorMTU(t *testing.T) {
	const table = "dsrlb_rs_gre_rs0"
	t.Run("clamp rule deleted", func(t *testing.T) {
		h := capturedHost(t)
		h.dropRule(table, "output", `"198.51.100.10"`)
		r := examine(t, h, greSpec, http, hostInfo)
		wantOneProblem(t, r, CheckMTU,
			[]string{"nft add rule inet dsrlb_rs_gre_rs0 output 'ip saddr 198.51.100.10 tcp flags & (syn | ack) == syn | ack tcp option maxseg size > 1416 tcp option maxseg size set 1416'"},
			"no rule lowers the MSS of the SYN-ACKs from 198.51.100.10 to 1416 or less")
	})
	t.Run("clamped too little", func(t *testing.T) {
		h := capturedHost(t)
		h.editRules(func(objs []any) []any {
			b, _ := json.Marshal(objs)
			var out []any
			json.Unmarshal([]byte(strings.ReplaceAll(string(b), `"value":1396`, `"value":1440`)), &out)
			return out
		})
		r := examine(t, h, greSpec, http, hostInfo)
		wantOneProblem(t, r, CheckMTU, nil, "2001:db8:100::10 to 1396 or less", "sets 1440 for 2001:db8:100::10")
	})
	t.Run("a path MTU below the interface's", func(t *testing.T) {
		spec := greSpec
		spec.PathMTU = 1400
		r := examine(t, capturedHost(t), spec, http, hostInfo)
		if ps := byStatus(r, StatusProblem); len(ps) != 2 || !strings.Contains(ps[0].Message, "MTU 1400 from -path-mtu") {
			t.Errorf("want both families clamped too little for MTU 1400:\n%s", dump(r))
		}
	})
	t.Run("no clamp, MTU 1500: a warning with the plan's remedies", func(t *testing.T) {
		spec := greSpec
		spec.ClampMSS = false
		r := examine(t, capturedHost(t), spec, http, hostInfo)
		wantHealthy(t, r)
		w := byStatus(r, StatusWarning)
		if len(w) != 1 || w[0].Check != CheckMTU || !strings.Contains(w[0].Message, "below 1500 + 44 (gre over IPv6)") ||
			!strings.HasPrefix(w[0].Advice, "MTU: the balancer adds 24 bytes over IPv4 and 44 bytes over IPv6") {
			t.Errorf("want the MTU warning:\n%s", dump(r))
		}
	})
	t.Run("no clamp, jumbo frames", func(t *testing.T) {
		h := capturedHost(t)
		h.editLinks(func(links []any) []any {
			link(links, "rs0")["mtu"] = 9000
			return links
		})
		spec := greSpec
		spec.ClampMSS = false
		r := examine(t, h, spec, http, hostInfo)
		wantHealthy(t, r)
		if len(byStatus(r, StatusWarning)) != 0 {
			t.Errorf("warning with MTU 9000:\n%s", dump(r))
		}
	})
}

func TestDoctorNothingToRun(t *testing.T) {
	// A host without ip, nft, tc, bpftool and ss, and without sysctl
	// files: every check says what it could not inspect.
	h := &fakeHost{t: t, missing: []string{"ip", "nft", "tc", "bpftool", "ss"}}
	for _, spec := range []Spec{l2Spec, redirectSpec, dscpSpec, greSpec} {
		r := examine(t, h, spec, http, hostInfo)
		if r.Healthy() || len(byStatus(r, StatusProblem)) != 0 || len(byStatus(r, StatusOK)) != 0 {
			t.Errorf("%s: want only unknowns:\n%s", spec.Method, dump(r))
		}
		for _, f := range r.Findings {
			if !strings.HasPrefix(f.Message, "could not inspect ") {
				t.Errorf("%q does not say what it could not inspect", f.Message)
			}
		}
		checks := map[string]bool{}
		for _, f := range r.Findings {
			checks[f.Check] = true
		}
		for _, c := range []string{CheckInterface, CheckVIP, CheckRPFilter, CheckNAT, CheckListener} {
			if !checks[c] {
				t.Errorf("%s: no finding for %s:\n%s", spec.Method, c, dump(r))
			}
		}
	}
}

func TestDoctorEveryPort(t *testing.T) {
	h := capturedHost(t)
	h.addRuleset("nft_conflicts.json")
	r := examine(t, h, greSpec, Service{Proto: "tcp"}, hostInfo)
	for _, f := range r.Findings {
		if f.Check == CheckListener {
			t.Errorf("a listener checked without a port: %s", f.Message)
		}
	}
	// tcp dport 8080 dnat to 192.0.2.99:80 is the service's too.
	wantOneProblem(t, r, CheckNAT, []string{"nft delete rule ip foreign pre handle 7"}, "(dnat to 192.0.2.99 port 80) rewrites the packets to 198.51.100.10")
	if out := dump(r); !strings.Contains(out, ", service tcp, every port (no listener checked)\n") {
		t.Errorf("header:\n%s", out)
	}
}

func TestDoctorReportJSON(t *testing.T) {
	h := capturedHost(t)
	h.setSysctl("all", "arp_ignore", 0)
	h.setSysctl("rs0", "arp_ignore", 0)
	h.missing = []string{"ss"}
	r := examine(t, h, l2Spec, http, hostInfo)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Method, Style, Interface, Proto string
		VIPs                            []string
		Port                            int
		Healthy                         bool
		Counts                          map[string]int
		Findings                        []struct {
			Check, Status, Subject, Message string
			Fix                             []struct {
				Argv  []string
				Shell string
			}
		}
		Fix []struct{ Shell string }
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Method != "l2dsr" || got.Style != "vip" || got.Interface != "rs0" || got.Proto != "tcp" || got.Port != 80 ||
		!slices.Equal(got.VIPs, []string{"198.51.100.10", "2001:db8:100::10"}) || got.Healthy ||
		got.Counts["problem"] != 1 || got.Counts["unknown"] != 1 || got.Counts["ok"] == 0 {
		t.Errorf("report: %s", b)
	}
	var arp int
	for _, f := range got.Findings {
		if f.Check == "arp" && f.Status == "problem" {
			arp++
			if len(f.Fix) != 1 || f.Fix[0].Argv[0] != "sysctl" || !strings.HasPrefix(f.Fix[0].Shell, "sysctl -w ") {
				t.Errorf("arp fix: %+v", f.Fix)
			}
		}
	}
	if arp != 1 || len(got.Fix) != 1 {
		t.Errorf("report: %s", b)
	}
}

func TestDoctorFormat(t *testing.T) {
	h := capturedHost(t)
	h.dropAddr("198.51.100.10")
	h.setSysctl("all", "arp_announce", 0)
	h.setSysctl("rs0", "arp_announce", 0)
	r := examine(t, h, l2Spec, http, hostInfo)
	out := dump(r)
	for _, s := range []string{
		"dsrlb doctor, real server: method l2dsr, VIPs 198.51.100.10 2001:db8:100::10, interface rs0, service tcp port 80\n",
		"PROBLEM  vip         198.51.100.10 is not on lo",
		"         fix:        ip addr replace 198.51.100.10/32 dev lo\n",
		"2 problems, 0 not inspected, 0 warnings,",
		"DSR is broken for some traffic\n",
		"# the fixes, in order (as root):\nip addr replace 198.51.100.10/32 dev lo\nsysctl -w net.ipv4.conf.all.arp_ignore=1",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

func TestDoctorBadInput(t *testing.T) {
	h := capturedHost(t)
	if _, err := Examine(context.Background(), Spec{Method: conf.MethodL2DSR}, http, hostInfo, h); err == nil {
		t.Error("invalid spec accepted")
	}
	for _, svc := range []Service{{"sctp", 80}, {"", 80}} {
		if _, err := Examine(context.Background(), l2Spec, svc, hostInfo, h); err == nil {
			t.Errorf("service %+v accepted", svc)
		}
	}
	if len(h.ran) != 0 {
		t.Errorf("ran %q on bad input", h.ran)
	}
}

func TestNftMatch(t *testing.T) {
	rs, err := parseRuleset([]byte(readTestdata(t, "nft_conflicts.json")))
	if err != nil {
		t.Fatal(err)
	}
	rule := func(handle int) *nftRule {
		for _, r := range rs.rules {
			if r.Handle == handle {
				return r
			}
		}
		t.Fatalf("no rule %d", handle)
		return nil
	}
	a := netip.MustParseAddr
	for _, c := range []struct {
		handle int
		p      nftPacket
		want   match
	}{
		// ip dscp af11 dnat to 198.51.100.10
		{5, nftPacket{dscp: 10}, matchYes},
		{5, nftPacket{dscp: 11}, matchNo},
		{5, nftPacket{dscp: -1}, matchMaybe},
		{5, nftPacket{v6: true, dscp: 10}, matchNo}, // an ip table
		// tcp dport 8080 ip daddr { 198.51.100.10, 198.51.100.30 } dnat ...
		{7, nftPacket{proto: 6, dport: 8080, daddr: a("198.51.100.30"), dscp: -1}, matchYes},
		{7, nftPacket{proto: 17, dport: 8080, daddr: a("198.51.100.30"), dscp: -1}, matchNo},
		{7, nftPacket{proto: 6, dport: 8080, daddr: a("198.51.100.31"), dscp: -1}, matchNo},
		{7, nftPacket{proto: 6, daddr: a("198.51.100.10"), dscp: -1}, matchMaybe},
		// ip daddr @vips: 198.51.100.0/28, 198.51.100.40-198.51.100.50
		{8, nftPacket{daddr: a("198.51.100.15"), dscp: -1}, matchYes},
		{8, nftPacket{daddr: a("198.51.100.16"), dscp: -1}, matchNo},
		{8, nftPacket{daddr: a("198.51.100.45"), dscp: -1}, matchYes},
		{8, nftPacket{daddr: a("198.51.100.51"), dscp: -1}, matchNo},
		// iifname "rs*" ip daddr != 192.0.2.0/24
		{9, nftPacket{iif: "rs0", daddr: a("198.51.100.1"), dscp: -1}, matchYes},
		{9, nftPacket{iif: "rs0", daddr: a("192.0.2.1"), dscp: -1}, matchNo},
		{9, nftPacket{iif: "eth0", daddr: a("198.51.100.1"), dscp: -1}, matchNo},
		{9, nftPacket{daddr: a("198.51.100.1"), dscp: -1}, matchMaybe},
	} {
		if got := rs.matches(rule(c.handle), c.p); got != c.want {
			t.Errorf("rule %d, packet %+v: %d, want %d", c.handle, c.p, got, c.want)
		}
	}
	if _, err := parseRuleset([]byte(`{"nope": []}`)); err == nil {
		t.Error("a document without nftables parsed")
	}
	if _, err := parseRuleset([]byte(`{"nftables": [{"chain": {"family": "inet", "table": "t", "name": "c", "hook": "input", "prio": "nonsense"}}]}`)); err == nil {
		t.Error("an unknown priority parsed")
	}
}
