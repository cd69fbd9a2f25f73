//go:build e2e

package realserver

// The doctor against real set-ups in the namespace test bed: each method
// set up by Plan and ApplyWith is healthy; then one fault at a time is
// injected, the doctor must report exactly that problem with its fix, the
// printed fix is run in the namespace, the doctor must find nothing wrong
// again, and where the bed can, a packet proves the set-up works again
// (and, before the fix, that the fault was real). Kernel decapsulation is
// not here: this kernel has no ipip, gre or fou modules (see
// TestDoctorKernelDecap for the fake host's).

import (
	"context"
	"dsrlb/conf"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"
)

// nsHost is the doctor's host inside a network namespace: /proc/sys/net
// and the commands answer for the thread's namespace.
type nsHost struct {
	ns   string
	path string // PATH of the commands; empty for the test's
}

func (h nsHost) ReadFile(name string) ([]byte, error) {
	var b []byte
	err := inNetns(h.ns, func() error {
		var err error
		b, err = os.ReadFile(name)
		return err
	})
	return b, err
}

func (h nsHost) Output(ctx context.Context, argv ...string) ([]byte, error) {
	var out []byte
	err := inNetns(h.ns, func() error {
		var err error
		out, err = SystemHost{Path: h.path}.Output(ctx, argv...)
		return err
	})
	return out, err
}

// doctor examines the real server namespace for the bed's spec.
func (b *bed) doctor(svc Service, path string) *Report {
	b.t.Helper()
	var info HostInfo
	inNetns(b.rs, func() error { info = DetectHost(b.spec.Interface); return nil })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Examine(ctx, b.spec, svc, info, nsHost{ns: b.rs, path: path})
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("doctor:\n%s", dump(r))
	return r
}

// healthy expects nothing wrong, and exactly the warnings of the checks
// named.
func (b *bed) healthy(svc Service, warn ...string) {
	b.t.Helper()
	r := b.doctor(svc, "")
	if !r.Healthy() {
		b.t.Fatalf("the doctor finds something wrong:\n%s", dump(r))
	}
	var got []string
	for _, f := range byStatus(r, StatusWarning) {
		got = append(got, f.Check)
	}
	if !slices.Equal(got, warn) {
		b.t.Errorf("warnings %v, want %v:\n%s", got, warn, dump(r))
	}
}

// fault expects exactly one problem, of check, with texts in its message
// and fix as its commands (shell lines; a line "nft delete rule ... handle
// *" matches any handle), then runs the fix in the namespace and expects
// the doctor to find nothing wrong.
func (b *bed) fault(svc Service, check string, fix []string, texts ...string) {
	b.t.Helper()
	r := b.doctor(svc, "")
	f := wantOneProblem(b.t, r, check, nil, texts...)
	var got []string
	for _, s := range f.Fix {
		got = append(got, s.Shell())
	}
	if !fixMatches(got, fix) {
		b.t.Errorf("fix:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(fix, "\n  "))
	}
	b.runFix(r)
}

func fixMatches(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		w := regexp.QuoteMeta(want[i])
		w = strings.ReplaceAll(w, `handle \*`, `handle [0-9]+`)
		if !regexp.MustCompile("^" + w + "$").MatchString(got[i]) {
			return false
		}
	}
	return true
}

// runFix runs every fix of r in the real server namespace.
func (b *bed) runFix(r *Report) {
	b.t.Helper()
	steps := r.FixSteps()
	if len(steps) == 0 {
		b.t.Fatalf("nothing to run:\n%s", dump(r))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ApplyWith(ctx, steps, nsRunner(b.rs), tlog{b.t}); err != nil {
		b.t.Fatalf("the printed fix fails: %v", err)
	}
}

// ruleHandle finds the handle of the one rule of chain whose listing
// contains text.
func (b *bed) ruleHandle(family, table, chain, text string) string {
	b.t.Helper()
	out := b.rsRun("nft", "-a", "list", "chain", family, table, chain)
	var handles []string
	re := regexp.MustCompile(`# handle ([0-9]+)$`)
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if m := re.FindStringSubmatch(line); m != nil && strings.Contains(line, text) && !strings.HasPrefix(line, "chain ") {
			handles = append(handles, m[1])
		}
	}
	if len(handles) != 1 {
		b.t.Fatalf("%d rules with %q in %s %s %s:\n%s", len(handles), text, family, table, chain, out)
	}
	return handles[0]
}

// listenOn opens a TCP listener on addr:port in the real server
// namespace; v6only applies to an IPv6 socket. The test closes it, or
// its cleanup does.
func (b *bed) listenOn(addr netip.Addr, port uint16, v6only bool) net.Listener {
	b.t.Helper()
	var ln net.Listener
	err := inNetns(b.rs, func() error {
		lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
			if !addr.Is6() {
				return nil
			}
			var serr error
			err := c.Control(func(fd uintptr) {
				v := 0
				if v6only {
					v = 1
				}
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v)
			})
			if err != nil {
				return err
			}
			return serr
		}}
		network := "tcp4"
		if addr.Is6() {
			network = "tcp6"
		}
		var err error
		ln, err = lc.Listen(context.Background(), network, netip.AddrPortFrom(addr, port).String())
		return err
	})
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { ln.Close() })
	return ln
}

// answersARP asks who has target and reports whether the real server
// answered.
func (b *bed) answersARP(target netip.Addr) bool {
	b.send(b.arpFrame(target))
	_, ok := b.await(waitNo, func(pkt gopacket.Packet) bool {
		arp, ok := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
		if !ok || arp.Operation != layers.ARPReply {
			return false
		}
		a, _ := netip.AddrFromSlice(arp.SourceProtAddress)
		return a == target
	}, nil)
	return ok
}

// arpSources sends p after the real server forgot its neighbours, and
// returns the source addresses of the ARP requests it sends to answer.
func (b *bed) arpSources(p probe) []netip.Addr {
	b.t.Helper()
	b.rsRun("ip", "neigh", "flush", "all")
	var srcs []netip.Addr
	b.send(b.frame(p))
	_, ok := b.await(waitYes, tcpReply(p, p.dst, true), func(pkt gopacket.Packet) {
		if arp, ok := pkt.Layer(layers.LayerTypeARP).(*layers.ARP); ok && arp.Operation == layers.ARPRequest &&
			string(arp.SourceHwAddress) == string(b.rsMAC) {
			a, _ := netip.AddrFromSlice(arp.SourceProtAddress)
			srcs = append(srcs, a)
		}
	})
	if !ok {
		b.t.Fatalf("no SYN-ACK for %s", describe(p))
	}
	if len(srcs) == 0 {
		b.t.Fatal("the real server sent no ARP request")
	}
	return srcs
}

func syn(dst netip.Addr, port uint16) probe {
	client := client4
	if dst.Is6() {
		client = client6
	}
	return probe{src: client, dst: dst, sport: nextPort(), dport: port}
}

var httpSvc = Service{Proto: "tcp", Port: vipPort}

func TestDoctorNetnsL2DSR(t *testing.T) {
	b := newBed(t)
	b.apply(Spec{Method: conf.MethodL2DSR, VIPs: []netip.Addr{vip4, vip6}, Interface: rsIf})
	b.listen(vip4, vip6)
	b.healthy(httpSvc)
	b.expectSynAck(syn(vip4, vipPort))

	b.run(t, "VIP removed from lo", func(t *testing.T) {
		b.rsRun("ip", "addr", "del", vip4.String()+"/32", "dev", "lo")
		b.expectSilence(syn(vip4, vipPort))
		b.fault(httpSvc, CheckVIP, []string{"ip addr replace 198.51.100.10/32 dev lo"}, "198.51.100.10 is not on lo")
		b.healthy(httpSvc)
		b.expectSynAck(syn(vip4, vipPort))
	})
	b.run(t, "arp_ignore 0", func(t *testing.T) {
		b.rsRun("sysctl", "-q", "-w", "net.ipv4.conf.all.arp_ignore=0", "net.ipv4.conf."+rsIf+".arp_ignore=0")
		if !b.answersARP(vip4) {
			t.Fatal("with arp_ignore 0 the server does not answer ARP for the VIP: the fault is not real")
		}
		b.fault(httpSvc, CheckARP, []string{
			"sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.rs0.arp_ignore=1 net.ipv4.conf.rs0.arp_announce=2"},
			"arp_ignore is 0 (all 0, rs0 0")
		b.healthy(httpSvc)
		if b.answersARP(vip4) {
			t.Error("after the fix the server still answers ARP for the VIP")
		}
		if !b.answersARP(self4) {
			t.Error("after the fix the server no longer answers ARP for its own address")
		}
	})
	b.run(t, "arp_announce 0", func(t *testing.T) {
		b.rsRun("sysctl", "-q", "-w", "net.ipv4.conf.all.arp_announce=0", "net.ipv4.conf."+rsIf+".arp_announce=0")
		if srcs := b.arpSources(syn(vip4, vipPort)); !slices.Contains(srcs, vip4) {
			t.Fatalf("with arp_announce 0 the server's ARP requests come from %v, not the VIP: the fault is not real", srcs)
		}
		b.fault(httpSvc, CheckARP, []string{
			"sysctl -w net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.rs0.arp_ignore=1 net.ipv4.conf.rs0.arp_announce=2"},
			"arp_announce is 0 (all 0, rs0 0")
		b.healthy(httpSvc)
		for _, a := range b.arpSources(syn(vip4, vipPort)) {
			if a != self4 && a != other4 {
				t.Errorf("after the fix an ARP request comes from %s", a)
			}
		}
	})
	b.run(t, "listener on the server's own address only", func(t *testing.T) {
		const port = 8080
		svc := Service{Proto: "tcp", Port: port}
		own := b.listenOn(self4, port, false)
		b.listenOn(vip6, port, true)
		b.expectSilence(syn(vip4, port))
		r := b.doctor(svc, "")
		f := wantOneProblem(t, r, CheckListener, nil, "192.0.2.21:8080 is bound to the server's own address 192.0.2.21 only")
		if f.Subject != vip4.String() || !strings.Contains(f.Advice, "listen on 198.51.100.10 or on the wildcard address") {
			t.Errorf("finding %+v", f)
		}
		// The fix is the service's: it listens on the VIP.
		own.Close()
		b.listenOn(vip4, port, false)
		b.healthy(svc)
		b.expectSynAck(syn(vip4, port))
	})
	b.run(t, "IPv6 wildcard with v6only", func(t *testing.T) {
		const port = 8081
		svc := Service{Proto: "tcp", Port: port}
		ln := b.listenOn(netip.IPv6Unspecified(), port, true)
		b.expectSilence(syn(vip4, port))
		wantOneProblem(t, b.doctor(svc, ""), CheckListener, nil, "IPV6_V6ONLY, which takes no IPv4")
		ln.Close()
		b.listenOn(netip.IPv6Unspecified(), port, false)
		b.healthy(svc)
		b.expectSynAck(syn(vip4, port))
		b.expectSynAck(syn(vip6, port))
	})
	b.run(t, "a DNAT of the VIP elsewhere", func(t *testing.T) {
		b.nftScript(`table ip dsrlbtest_nat {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr ` + vip4.String() + ` tcp dport 80 dnat to 192.0.2.99
	}
}
`)
		b.expectSilence(syn(vip4, vipPort))
		b.fault(httpSvc, CheckNAT, []string{"nft delete rule ip dsrlbtest_nat pre handle *"},
			"ip dsrlbtest_nat pre handle", "(dnat to 192.0.2.99) rewrites the packets to 198.51.100.10", "answers from its own address")
		b.healthy(httpSvc)
		b.expectSynAck(syn(vip4, vipPort))
	})
}

func TestDoctorNetnsRedirect(t *testing.T) {
	b := newBed(t)
	b.apply(Spec{Method: conf.MethodL2DSR, VIPs: []netip.Addr{vip4, vip6}, Interface: rsIf, Style: StyleRedirect})
	r := b.doctor(httpSvc, "")
	// Nothing listens yet: where the redirect delivers, the doctor says.
	var targets []netip.Addr
	for _, f := range byStatus(r, StatusProblem) {
		if f.Check == CheckListener {
			targets = append(targets, netip.MustParseAddr(f.Subject))
		}
	}
	// IPv4: the primary address. IPv6: the first usable one in the
	// kernel's list, which ip shows in its order (the newest of a scope
	// first, so other6).
	if len(targets) != 2 || targets[0] != self4 || targets[1] != other6 {
		t.Fatalf("the redirect delivers to %v, want %s and %s:\n%s", targets, self4, other6, dump(r))
	}
	// Listening there exactly, not on the wildcard, proves the doctor
	// names the address the kernel's redirect picks.
	b.listen(targets...)
	b.healthy(httpSvc)
	b.expectSynAck(syn(vip4, vipPort))
	b.expectSynAck(syn(vip6, vipPort))
	table := "dsrlb_rs_l2dsr_" + rsIf

	b.run(t, "redirect rule deleted", func(t *testing.T) {
		b.rsRun("nft", "delete", "rule", "inet", table, "prerouting", "handle", b.ruleHandle("inet", table, "prerouting", vip4.String()))
		b.expectSilence(syn(vip4, vipPort))
		b.fault(httpSvc, CheckRedirect, []string{"nft add rule inet dsrlb_rs_l2dsr_rs0 prerouting iifname rs0 ip daddr 198.51.100.10 redirect"},
			"no nat rule redirects 198.51.100.10 on rs0")
		b.healthy(httpSvc)
		b.expectSynAck(syn(vip4, vipPort))
	})
	b.run(t, "notrack of the VIP's packets", func(t *testing.T) {
		b.nftScript(`table ip dsrlbtest_raw {
	chain pre {
		type filter hook prerouting priority raw; policy accept;
		ip daddr ` + vip4.String() + ` notrack
	}
}
`)
		b.expectSilence(syn(vip4, vipPort))
		b.fault(httpSvc, CheckRedirect, []string{"nft delete rule ip dsrlbtest_raw pre handle *"},
			"untracks the packets to 198.51.100.10", "nat needs conntrack")
		b.healthy(httpSvc)
		b.expectSynAck(syn(vip4, vipPort))
	})
	b.run(t, "the whole table deleted", func(t *testing.T) {
		b.rsRun("nft", "delete", "table", "inet", table)
		r := b.doctor(httpSvc, "")
		if ps := byStatus(r, StatusProblem); len(ps) != 2 || ps[0].Check != CheckRedirect || ps[1].Check != CheckRedirect {
			t.Fatalf("want two redirect problems:\n%s", dump(r))
		}
		b.runFix(r)
		b.healthy(httpSvc)
		b.expectSynAck(syn(vip6, vipPort))
	})
}

// dscpProbe is what the balancer sends for vip: to the server's own
// address, with vip's DSCP code.
func dscpProbe(code uint8) probe {
	return probe{src: client4, dst: self4, sport: nextPort(), dport: vipPort, tos: code << 2}
}

// expectDSCPReply sends the probe and returns whether the SYN-ACK came
// from the VIP (true) or from the server's own address (false).
func (b *bed) dscpReplyFrom(code uint8) netip.Addr {
	b.t.Helper()
	p := dscpProbe(code)
	b.send(b.frame(p))
	var from netip.Addr
	_, ok := b.await(waitYes, func(pkt gopacket.Packet) bool {
		src, dst, ok := addrsOf(pkt)
		tcp, isTCP := pkt.TransportLayer().(*layers.TCP)
		if ok && isTCP && dst == p.src && uint16(tcp.DstPort) == p.sport && (tcp.SYN && tcp.ACK || tcp.RST) {
			from = src
			if tcp.RST {
				from = netip.Addr{}
			}
			return true
		}
		return false
	}, nil)
	if !ok {
		b.t.Fatalf("no answer to DSCP %d", code)
	}
	return from
}

func TestDoctorNetnsDSCP(t *testing.T) {
	b := newBed(t)
	b.apply(Spec{Method: conf.MethodDSCP, VIPs: []netip.Addr{vip4, vip4b}, Interface: rsIf, Self: []netip.Addr{self4},
		DSCP: map[netip.Addr]uint8{vip4: 10, vip4b: 11}})
	b.listen(vip4, vip4b)
	b.healthy(httpSvc)
	table := "dsrlb_rs_dscp_" + rsIf

	b.run(t, "DSCP rule deleted", func(t *testing.T) {
		b.rsRun("nft", "delete", "rule", "inet", table, "prerouting", "handle", b.ruleHandle("inet", table, "prerouting", "daddr set "+vip4.String()))
		if from := b.dscpReplyFrom(10); from.IsValid() {
			t.Fatalf("without the rule a SYN-ACK came from %s: the fault is not real", from)
		}
		b.fault(httpSvc, CheckDSCP,
			[]string{`nft add rule inet dsrlb_rs_dscp_rs0 prerouting 'iifname "rs0" ip daddr 192.0.2.21 ip dscp 10 ip daddr set 198.51.100.10 ip dscp set 0 notrack'`},
			"no stateless rule turns DSCP 10 on rs0 back into 198.51.100.10")
		b.healthy(httpSvc)
		if from := b.dscpReplyFrom(10); from != vip4 {
			t.Errorf("after the fix the SYN-ACK comes from %s, want %s", from, vip4)
		}
	})
	dnat := `table ip dsrlbtest_nat {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip dscp 10 dnat to ` + vip4.String() + `
	}
}
`
	b.run(t, "a DNAT to the VIP besides the stateless rule", func(t *testing.T) {
		b.nftScript(dnat)
		b.fault(httpSvc, CheckNAT, []string{"nft delete rule ip dsrlbtest_nat pre handle *"},
			"DNATs the packets for 198.51.100.10 (DSCP 10) to it", "takes over as soon as that rule is gone")
		b.healthy(httpSvc)
		if from := b.dscpReplyFrom(10); from != vip4 {
			t.Errorf("the SYN-ACK comes from %s, want %s", from, vip4)
		}
	})
	b.run(t, "a DNAT instead of the stateless rules", func(t *testing.T) {
		b.rsRun("nft", "delete", "table", "inet", table)
		b.nftScript(dnat)
		// What breaks DSR: conntrack gives the reply the server's own
		// address back.
		if from := b.dscpReplyFrom(10); from != self4 {
			t.Fatalf("with the DNAT the SYN-ACK comes from %s, want %s (the break the doctor warns of)", from, self4)
		}
		r := b.doctor(httpSvc, "")
		var checks []string
		for _, f := range byStatus(r, StatusProblem) {
			checks = append(checks, f.Check+" "+f.Subject)
		}
		want := []string{"dscp 198.51.100.10", "dscp 198.51.100.11", "dscp replies", "nat ip dsrlbtest_nat pre handle 2"}
		if len(checks) != 4 || !slices.Equal(checks[:3], want[:3]) || !strings.HasPrefix(checks[3], "nat ip dsrlbtest_nat pre handle ") {
			t.Fatalf("problems %q, want %q:\n%s", checks, want, dump(r))
		}
		b.runFix(r)
		b.healthy(httpSvc)
		if from := b.dscpReplyFrom(10); from != vip4 {
			t.Errorf("after the fix the SYN-ACK comes from %s, want %s", from, vip4)
		}
		if from := b.dscpReplyFrom(11); from != vip4b {
			t.Errorf("after the fix the SYN-ACK comes from %s, want %s", from, vip4b)
		}
	})
}

func TestDoctorNetnsTunnels(t *testing.T) {
	for _, m := range []conf.Method{conf.MethodGRE, conf.MethodGUE} {
		b := tunnelBed(t, m, objects.normal, false)
		b.run(t, m.String()+" healthy", func(t *testing.T) {
			// veth's MTU 1500 cannot carry the outer headers: a warning.
			b.healthy(httpSvc, CheckMTU)
			checkTunnel(t, b, m, in4over4, in6over6)
		})
	}

	b := tunnelBed(t, conf.MethodIPIP, objects.normal, true)
	b.healthy(httpSvc)
	checkTunnel(t, b, conf.MethodIPIP, in4over4, in6over6, in4over6)

	b.run(t, "rp_filter strict on the eBPF interface", func(t *testing.T) {
		b.rsRun("sysctl", "-q", "-w", "net.ipv4.conf."+rsIf+".rp_filter=1")
		b.fault(httpSvc, CheckRPFilter, []string{"sysctl -w net.ipv4.conf.rs0.rp_filter=2"}, "rp_filter on rs0 is 1", "strict")
		b.healthy(httpSvc)
		b.expectSynAck(in4over4.probe(conf.MethodIPIP))
	})
	b.run(t, "eBPF filter deleted", func(t *testing.T) {
		b.rsRun("tc", "filter", "del", "dev", rsIf, "ingress", "pref", strconv.Itoa(FilterPref))
		b.expectSilence(in4over4.probe(conf.MethodIPIP))
		b.fault(httpSvc, CheckDecap, []string{
			"tc qdisc replace dev rs0 clsact",
			"tc filter replace dev rs0 ingress pref 1000 handle 1 bpf direct-action obj " + objects.normal + " sec tc",
			"bpftool map update pinned /sys/fs/bpf/tc/globals/dsrlb_rs_self key hex 00 00 00 00 00 00 00 00 00 00 ff ff c0 00 02 15 01 00 00 00 value hex 00 00 00 00",
			"bpftool map update pinned /sys/fs/bpf/tc/globals/dsrlb_rs_self key hex 20 01 0d b8 00 01 00 00 00 00 00 00 00 00 00 21 01 00 00 00 value hex 00 00 00 00",
		}, "dsrlb-decap is not attached to rs0 ingress")
		b.healthy(httpSvc)
		checkTunnel(t, b, conf.MethodIPIP, in4over4, in6over6)
	})
	b.run(t, "map entry deleted", func(t *testing.T) {
		key := hexArgs(ebpfKey(self4, conf.MethodIPIP))
		b.rsRun(append([]string{"bpftool", "map", "delete", "pinned", filepath.Join(MapPinDir, MapSelf), "key", "hex"}, key...)...)
		b.expectSilence(in4over4.probe(conf.MethodIPIP))
		b.fault(httpSvc, CheckDecap, []string{
			"bpftool map update pinned /sys/fs/bpf/tc/globals/dsrlb_rs_self key hex " + strings.Join(key, " ") + " value hex 00 00 00 00",
		}, "192.0.2.21: no entry for ipip in map")
		b.healthy(httpSvc)
		checkTunnel(t, b, conf.MethodIPIP, in4over4)
	})
	b.run(t, "MSS clamp rule deleted", func(t *testing.T) {
		table := "dsrlb_rs_ipip_" + rsIf
		b.rsRun("nft", "delete", "rule", "inet", table, "output", "handle", b.ruleHandle("inet", table, "output", "ip saddr "+vip4.String()))
		if mss := mssOption(b.expectSynAck(in4over4.probe(conf.MethodIPIP))); mss != 1460 {
			t.Fatalf("without the rule the SYN-ACK's MSS is %d, want the unclamped 1460", mss)
		}
		b.fault(httpSvc, CheckMTU, []string{
			"nft add rule inet dsrlb_rs_ipip_rs0 output 'ip saddr 198.51.100.10 tcp flags & (syn | ack) == syn | ack tcp option maxseg size > 1420 tcp option maxseg size set 1420'",
		}, "no rule lowers the MSS of the SYN-ACKs from 198.51.100.10 to 1420 or less")
		b.healthy(httpSvc)
		if mss := mssOption(b.expectSynAck(in4over4.probe(conf.MethodIPIP))); mss != 1420 {
			t.Errorf("after the fix the SYN-ACK's MSS is %d, want 1420", mss)
		}
	})
	b.run(t, "without nft and tc", func(t *testing.T) {
		dir := t.TempDir()
		for _, tool := range []string{"ip", "ss", "bpftool"} {
			p, err := execLookPath(tool)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(p, filepath.Join(dir, tool)); err != nil {
				t.Fatal(err)
			}
		}
		r := b.doctor(httpSvc, dir)
		if r.Healthy() || len(byStatus(r, StatusProblem)) != 0 {
			t.Fatalf("want unknowns only:\n%s", dump(r))
		}
		var got []string
		for _, f := range byStatus(r, StatusUnknown) {
			got = append(got, f.Check+": "+f.Message)
		}
		want := []string{
			"decap: could not inspect the tc filters of rs0: tc is not installed (not found in PATH)",
			"nat: could not inspect the nftables rules: nft is not installed (not found in PATH)",
			"mtu: could not inspect the MSS clamp rules: nft is not installed (not found in PATH)",
		}
		if !slices.Equal(got, want) {
			t.Errorf("unknowns:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	})
}

func execLookPath(tool string) (string, error) {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, tool)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", tool)
}
