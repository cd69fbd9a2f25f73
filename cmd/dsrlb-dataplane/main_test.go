package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dsrlb/conf/sysfstest"
)

// TestExitCodes checks that bad input stops the data plane before DPDK
// starts, with exit status 1, and that -check passes a valid file.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.toml", `[dataplane]
workers = [1]
eal_args = ["--no-huge"]
address = "192.0.2.10/24"
[[dataplane.port]]
name = "lan0"
device = "net_null0"
[[service]]
name = "web"
vip = "192.0.2.100"
port = 80
  [[service.backend]]
  address = "192.0.2.21"
`)
	cases := []struct {
		name string
		args []string
		want int
	}{
		{"valid config, check only", []string{"-check", "-c", good}, 0},
		{"missing file", []string{"-check", "-c", filepath.Join(dir, "none.toml")}, 1},
		{"bad TOML", []string{"-c", write("syntax.toml", "[dataplane\n")}, 1},
		{"weight out of range", []string{"-c", write("weight.toml", `[dataplane]
workers = [1]
eal_args = ["--no-huge"]
address = "192.0.2.10/24"
[[dataplane.port]]
name = "lan0"
device = "net_null0"
[[service]]
name = "web"
vip = "192.0.2.100"
  [[service.backend]]
  address = "192.0.2.21"
  weight = 70000
`)}, 1},
		{"CPU that does not exist", []string{"-c", write("cpu.toml", `[dataplane]
workers = [1023]
eal_args = ["--no-huge"]
address = "192.0.2.10/24"
[[dataplane.port]]
name = "lan0"
device = "net_null0"
`)}, 1},
		{"unknown flag", []string{"-frobnicate"}, 2},
		{"bad log level", []string{"-log-level", "loud", "-check", "-c", good}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := run(c.args, io.Discard, io.Discard); got != c.want {
				t.Fatalf("run(%q) = %d, want %d", c.args, got, c.want)
			}
		})
	}
}

// TestCheckPhysicalPorts runs -check on a configuration with a PCI port
// against fake sysfs trees (DSRLB_SYSFS_ROOT): the port's line and the
// workers' line on stdout, warnings and errors on stderr, exit status 1
// only for errors. Worker CPU 1 and main_cpu 0 must be allowed on this
// machine, as in TestExitCodes.
func TestCheckPhysicalPorts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nic.toml")
	if err := os.WriteFile(path, []byte(`[dataplane]
workers = [1]
main_cpu = 0
eal_args = ["--no-huge"]
address = "192.0.2.10/24"
[[dataplane.port]]
name = "lan0"
device = "0000:3B:00.0"
[[dataplane.port]]
name = "null"
device = "net_null0"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	machine := func(f *sysfstest.Tree) {
		f.CPU(0, 0)
		f.CPU(1, 1)
		f.Nodes("0-1")
		f.Isolated("")
	}
	for _, tt := range []struct {
		name   string
		dev    sysfstest.Device
		status int
		stdout []string
		stderr []string
	}{{
		name:   "vfio-pci, worker on the other node, not isolated",
		dev:    sysfstest.Device{Driver: "vfio-pci", NUMANode: 0, IOMMUGroup: "42"},
		status: 0,
		stdout: []string{
			"port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node 0, IOMMU group 42, workers 1 on node 1, main_cpu 0 on node 0",
			"port null (net_null0): vdev, no PCI device to check",
			"workers 1: isolated none, nohz_full none",
			path + ": configuration OK (0 services, 2 ports, 1 workers, 2 warnings)",
		},
		stderr: []string{
			"dsrlb-dataplane: " + path + ":2: dataplane.workers: warning: worker CPU 1 is on another NUMA node than port lan0 (0000:3b:00.0) on node 0: every packet crosses the interconnect; use CPUs of node 0 (CPUs 0)",
			"dsrlb-dataplane: " + path + ":2: dataplane.workers: warning: worker CPU 1 is not isolated: the kernel runs other tasks there, which delays polling (imissed under load); isolate at boot (isolcpus=1 nohz_full=1 rcu_nocbs=1) and keep interrupts away",
		},
	}, {
		name:   "bound to i40e",
		dev:    sysfstest.Device{Driver: "i40e", NUMANode: 1, Interfaces: []string{"ens785f0"}},
		status: 1,
		stdout: []string{
			"port lan0 (0000:3b:00.0): driver i40e (kernel, not usable by DPDK, interface ens785f0), NUMA node 1, IOMMU none, workers 1 on node 1, main_cpu 0 on node 0",
			"port null (net_null0): vdev, no PCI device to check",
			"workers 1: isolated none, nohz_full none",
		},
		stderr: []string{
			"dsrlb-dataplane: " + path + ":2: dataplane.workers: warning: worker CPU 1 is not isolated: the kernel runs other tasks there, which delays polling (imissed under load); isolate at boot (isolcpus=1 nohz_full=1 rcu_nocbs=1) and keep interrupts away",
			"dsrlb-dataplane: " + path + ":8: dataplane.port[0].device: PCI device 0000:3b:00.0 is bound to the kernel driver i40e, not usable by DPDK: bind it with driverctl set-override 0000:3b:00.0 vfio-pci (kept across reboots) or dpdk-devbind.py -b vfio-pci 0000:3b:00.0 (its interface ens785f0 must be down: ip link set ens785f0 down)",
		},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			f := sysfstest.New(t)
			machine(f)
			f.PCIDevice("0000:3b:00.0", tt.dev)
			t.Setenv(sysfsRootEnv, f.Root)
			var stdout, stderr bytes.Buffer
			if got := run([]string{"-check", "-c", path}, &stdout, &stderr); got != tt.status {
				t.Errorf("exit status %d, want %d", got, tt.status)
			}
			lines := func(b *bytes.Buffer) []string { return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") }
			if got := lines(&stdout); strings.Join(got, "\n") != strings.Join(tt.stdout, "\n") {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), strings.Join(tt.stdout, "\n"))
			}
			if got := lines(&stderr); strings.Join(got, "\n") != strings.Join(tt.stderr, "\n") {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr.String(), strings.Join(tt.stderr, "\n"))
			}
		})
	}
}
