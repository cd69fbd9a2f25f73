package testbed

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DataplaneConfig is a dsrlb configuration for the L2 topology: one worker
// on CPU 1, the balancer's eth0 through af_packet, no hugepages, the
// shared memory in the bed's directory, the exception path when t.TAP is
// set, and one TCP service on port 80 of the VIP over every real server.
// extra lines are added to the [[service]] table (e.g. policy keys or a
// [service.check] table), before the real servers. After EnableIPv6 the
// balancer has address6 too; with ServiceIPv6 the service is on the IPv6
// VIP over the real servers' IPv6 addresses.
func (t *L2) DataplaneConfig(extra ...string) string {
	vip, servers := t.VIP, t.Servers
	if t.ServiceIPv6 {
		vip, servers = t.IPv6.VIP, t.IPv6.Servers
	}
	var b strings.Builder
	writeDataplaneTable(&b, t.Bed, t.LB, t.IPv6, t.TAP, t.Workers, t.DataplaneKeys...)
	fmt.Fprintf(&b, `
[ctrl]
socket = %q

[[service]]
name = "web"
vip = %q
protocol = "tcp"
port = 80
`, t.CtrlSocket(), vip.String())
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	if t.Backends > 0 {
		servers = servers[:t.Backends]
	}
	for i, s := range servers {
		keys := "weight = 1"
		if i < len(t.BackendKeys) && t.BackendKeys[i] != "" {
			keys = t.BackendKeys[i]
		}
		fmt.Fprintf(&b, "\n  [[service.backend]]\n  address = %q\n  %s\n", s, keys)
	}
	b.WriteString(t.Tail)
	return b.String()
}

// writeDataplaneTable writes the [dataplane] table and port both
// topologies use: one worker on CPU 1 (or the workers' CPUs given, the
// main lcore sharing CPU 0, and a queue pair each), the balancer's eth0
// through af_packet, no hugepages, quick neighbour refresh, the shared
// memory in the bed's directory, address6 (and gateway6) once IPv6 is
// enabled, and the exception path when tap is set, then the extra keys.
func writeDataplaneTable(w *strings.Builder, b *Bed, lb netip.Prefix, v6 IPv6Addrs, tap string, workers []int, extra ...string) {
	if len(workers) == 0 {
		workers = []int{1}
	}
	var cpus []string
	for _, c := range workers {
		cpus = append(cpus, fmt.Sprint(c))
	}
	// An extra key replaces the default of its name.
	eal := `["--no-huge", "-m", "256", "--no-shconf", "--log-level=lib.eal:warning"]`
	var rest []string
	for _, e := range extra {
		if v, ok := strings.CutPrefix(e, "eal_args = "); ok {
			eal = v
		} else {
			rest = append(rest, e)
		}
	}
	extra = rest
	fmt.Fprintf(w, `[dataplane]
workers = [%s]
share_main_cpu = %t
main_cpu = 0
eal_args = %s
address = %q
%sarp_refresh = "1s"
arp_expiry = "5s"
stats_interval = "2s"
idle_sleep = "50us"
shm = %q
`, strings.Join(cpus, ", "), len(workers) > 1, eal, lb.String(), v6.config6(), filepath.Join(b.Dir, "dsrlb.shm"))
	if tap != "" {
		fmt.Fprintf(w, "tap = %q\n", tap)
	}
	for _, e := range extra {
		w.WriteString(e + "\n")
	}
	qpairs := ""
	if len(workers) > 1 {
		qpairs = fmt.Sprintf(",qpairs=%d", len(workers))
	}
	fmt.Fprintf(w, `
[[dataplane.port]]
name = "lan0"
device = "net_af_packet0,iface=eth0%s"
`, qpairs)
}

// StartDataplane writes config, checks it with -check, runs the data plane
// binary in the lb namespace and waits until it has resolved every real
// server (it logs "scheduled=N").
func (t *L2) StartDataplane(bin, config string) (*Proc, error) {
	path := filepath.Join(t.Dir, "dsrlb.toml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return nil, err
	}
	if out, err := t.Exec(30*time.Second, RoleLB, bin, "-check", "-c", path); err != nil {
		return nil, fmt.Errorf("config check: %w\n%s", err, out)
	}
	n := len(t.Servers)
	if t.Backends > 0 {
		n = t.Backends
	}
	return t.startDataplane(bin, config, n)
}

// startDataplane writes config to Dir/dsrlb.toml, runs the data plane in
// the lb namespace and waits until it has resolved the n real servers of
// its service (it logs "backends=n" with "unresolved=0"; n of them
// scheduled, or some draining at weight 0).
func (b *Bed) startDataplane(bin, config string, n int) (*Proc, error) {
	path := filepath.Join(b.Dir, "dsrlb.toml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return nil, err
	}
	p, err := b.Start(RoleLB, "dataplane", bin, "-c", path)
	if err != nil {
		return nil, err
	}
	return p, waitResolved(p, n, time.Now().Add(60*time.Second))
}

// waitResolved waits until data plane p has resolved the n real servers
// of its service (it logs "backends=n" with "unresolved=0"; n of them
// scheduled, or some draining at weight 0), or deadline.
func waitResolved(p *Proc, n int, deadline time.Time) error {
	resolved := func(out string) bool {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, fmt.Sprintf("scheduled=%d ", n)) ||
				strings.Contains(line, fmt.Sprintf("backends=%d ", n)) && strings.Contains(line, "unresolved=0") {
				return true
			}
		}
		return false
	}
	for !resolved(p.Output()) {
		if p.Exited() || time.Now().After(deadline) {
			return fmt.Errorf("data plane did not schedule the real servers (exited=%v):\n%s", p.Exited(), p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// CtrlSocket is the control process's socket in the bed's directory.
func (t *L2) CtrlSocket() string { return filepath.Join(t.Dir, "ctrl.sock") }

// StartCtrl runs dsrlb-ctrl in the lb namespace on the configuration
// StartDataplane wrote, and waits until the data plane applied its first
// transaction.
func (t *L2) StartCtrl(bin string, dataplane *Proc) (*Proc, error) {
	applied := strings.Count(dataplane.Output(), "transaction applied")
	p, err := t.Start(RoleLB, "ctrl", bin, "-c", t.ConfigPath())
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(dataplane.Output(), "transaction applied") <= applied {
		if p.Exited() || time.Now().After(deadline) {
			return p, fmt.Errorf("dsrlb-ctrl did not get a transaction applied (exited=%v):\n%s", p.Exited(), p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p, nil
}

// ConfigPath is where StartDataplane writes the configuration.
func (t *L2) ConfigPath() string { return filepath.Join(t.Dir, "dsrlb.toml") }

// LBMAC is the MAC address of the balancer's eth0 (which DPDK uses).
func (t *L2) LBMAC() (string, error) { return t.MAC(RoleLB, "eth0") }

// MAC is the MAC address of role's interface dev ("aa:bb:...").
func (b *Bed) MAC(role, dev string) (string, error) {
	out, err := b.Exec(5*time.Second, role, "cat", "/sys/class/net/"+dev+"/address")
	return strings.TrimSpace(out), err
}
