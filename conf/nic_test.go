package conf

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"dsrlb/conf/sysfstest"
)

// nicConfig: workers on line 2, main_cpu on line 3, the port's device on
// line 7.
const nicConfig = `[dataplane]
workers = [1, 2]
main_cpu = 0
address = "192.0.2.10/24"
[[dataplane.port]]
name = "lan0"
device = "0000:3b:00.0"
`

const nicAddr = "0000:3b:00.0"

// tunedHost lays out a two-node machine tuned for the data plane: CPUs 0-2
// on node 0 and 3 on node 1, workers' CPUs 1-2 isolated and tick-free, 2
// MiB pages free on both nodes, vfio loaded without no-IOMMU mode.
func tunedHost(f *sysfstest.Tree) {
	f.CPU(0, 0)
	f.CPU(1, 0)
	f.CPU(2, 0)
	f.CPU(3, 1)
	f.Nodes("0-1")
	f.Isolated("1-2")
	f.NohzFull("1-2")
	f.Hugepages(0, 2048, 512)
	f.Hugepages(1, 2048, 512)
	f.NoIOMMU(false)
}

var vfioNode0 = sysfstest.Device{Driver: "vfio-pci", NUMANode: 0, IOMMUGroup: "42"}

// nicHost returns a hostEnv on a fresh fake sysfs tree set up by setup,
// with CPUs 0-3 in the affinity mask (unless affinity says otherwise) and
// no /proc/meminfo (hugepages are counted from sysfs).
func nicHost(t *testing.T, affinity []int, setup func(f *sysfstest.Tree)) hostEnv {
	t.Helper()
	f := sysfstest.New(t)
	setup(f)
	if affinity == nil {
		affinity = []int{0, 1, 2, 3}
	}
	return hostEnv{
		procRoot: t.TempDir(),
		sysRoot:  f.Root,
		affinity: func() (unix.CPUSet, error) {
			var s unix.CPUSet
			for _, c := range affinity {
				s.Set(c)
			}
			return s, nil
		},
	}
}

func warningLines(r *HostReport) []string {
	var out []string
	for _, w := range r.Warnings {
		out = append(out, w.String())
	}
	return out
}

func TestCheckHostPCIPorts(t *testing.T) {
	const bind = "bind it with driverctl set-override 0000:3b:00.0 vfio-pci (kept across reboots) or dpdk-devbind.py -b vfio-pci 0000:3b:00.0"
	for _, tt := range []struct {
		name     string
		config   string // nicConfig when empty
		affinity []int
		setup    func(f *sysfstest.Tree)
		errs     []string // exact lines
		warnings []string // exact lines
		port     string   // the port's report line
		cpus     string   // the workers' line
	}{{
		name:  "vfio with IOMMU group, workers on the port's node and isolated",
		setup: func(f *sysfstest.Tree) { tunedHost(f); f.PCIDevice(nicAddr, vfioNode0) },
		port:  "port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node 0, IOMMU group 42, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus:  "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name: "bound to ixgbe",
		setup: func(f *sysfstest.Tree) {
			tunedHost(f)
			f.PCIDevice(nicAddr, sysfstest.Device{Driver: "ixgbe", NUMANode: 0, IOMMUGroup: "42", Interfaces: []string{"enp59s0f0"}})
		},
		errs: []string{"h.toml:7: dataplane.port[0].device: PCI device 0000:3b:00.0 is bound to the kernel driver ixgbe, not usable by DPDK: " +
			bind + " (its interface enp59s0f0 must be down: ip link set enp59s0f0 down)"},
		port: "port lan0 (0000:3b:00.0): driver ixgbe (kernel, not usable by DPDK, interface enp59s0f0), NUMA node 0, IOMMU group 42, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus: "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name:  "unbound",
		setup: func(f *sysfstest.Tree) { tunedHost(f); f.PCIDevice(nicAddr, sysfstest.Device{NUMANode: 0}) },
		errs:  []string{"h.toml:7: dataplane.port[0].device: PCI device 0000:3b:00.0 has no driver bound, DPDK cannot use it: " + bind},
		port:  "port lan0 (0000:3b:00.0): no driver bound, NUMA node 0, IOMMU none, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus:  "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name:  "missing device",
		setup: tunedHost,
		errs:  []string{"h.toml:7: dataplane.port[0].device: PCI device 0000:3b:00.0 does not exist (no SYS/bus/pci/devices/0000:3b:00.0): list the machine's network devices with dpdk-devbind.py --status-dev net or lspci -D"},
		port:  "port lan0 (0000:3b:00.0): no such PCI device",
		cpus:  "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name: "vfio without IOMMU group, no-IOMMU mode off",
		setup: func(f *sysfstest.Tree) {
			tunedHost(f)
			f.PCIDevice(nicAddr, sysfstest.Device{Driver: "vfio-pci", NUMANode: 0})
		},
		errs: []string{"h.toml:7: dataplane.port[0].device: PCI device 0000:3b:00.0 is bound to vfio-pci but has no IOMMU group and vfio's no-IOMMU mode is off, DPDK cannot open it: " +
			"turn the IOMMU on (VT-d/AMD-Vi in the firmware, intel_iommu=on iommu=pt on an Intel kernel command line) and reboot, or, on a machine without one, modprobe vfio enable_unsafe_noiommu_mode=1 and bind the device again"},
		port: "port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node 0, IOMMU none, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus: "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name: "vfio in no-IOMMU mode",
		setup: func(f *sysfstest.Tree) {
			tunedHost(f)
			f.NoIOMMU(true)
			f.PCIDevice(nicAddr, sysfstest.Device{Driver: "vfio-pci", NUMANode: 0, IOMMUGroup: "3", NoIOMMUGroup: true})
		},
		warnings: []string{"h.toml:7: dataplane.port[0].device: warning: PCI device 0000:3b:00.0: vfio-pci runs in no-IOMMU mode (enable_unsafe_noiommu_mode): the device can write anywhere in memory; " +
			"where the machine has an IOMMU, turn it on (VT-d/AMD-Vi in the firmware, intel_iommu=on on an Intel kernel command line) and turn the mode off"},
		port: "port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node 0, IOMMU no-IOMMU mode (group 3), workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus: "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name: "no-IOMMU mode on, but the device has a real IOMMU group",
		setup: func(f *sysfstest.Tree) {
			tunedHost(f)
			f.NoIOMMU(true)
			f.PCIDevice(nicAddr, vfioNode0)
		},
		port: "port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node 0, IOMMU group 42, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus: "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name:   "a worker on another node",
		config: strings.Replace(nicConfig, "workers = [1, 2]", "workers = [1, 3]", 1),
		setup: func(f *sysfstest.Tree) {
			tunedHost(f)
			f.Isolated("1-3")
			f.PCIDevice(nicAddr, vfioNode0)
		},
		warnings: []string{"h.toml:2: dataplane.workers: warning: worker CPU 3 is on another NUMA node than port lan0 (0000:3b:00.0) on node 0: every packet crosses the interconnect; use CPUs of node 0 (CPUs 0-2)"},
		port:     "port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node 0, IOMMU group 42, workers 1 on node 0, 3 on node 1, main_cpu 0 on node 0",
		cpus:     "workers 1,3: isolated 1,3, nohz_full 1",
	}, {
		name:   "main_cpu on another node",
		config: strings.Replace(nicConfig, "main_cpu = 0", "main_cpu = 3", 1),
		setup:  func(f *sysfstest.Tree) { tunedHost(f); f.PCIDevice(nicAddr, vfioNode0) },
		warnings: []string{"h.toml:3: dataplane.main_cpu: warning: main_cpu 3 is on NUMA node 1, port lan0 (0000:3b:00.0) on node 0: " +
			"DPDK takes the packet buffer pool's memory from the main lcore's node first; use a CPU of node 0 (CPUs 0-2)"},
		port: "port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node 0, IOMMU group 42, workers 1-2 on node 0, main_cpu 3 on node 1",
		cpus: "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name: "a worker CPU not isolated",
		setup: func(f *sysfstest.Tree) {
			tunedHost(f)
			f.Isolated("1")
			f.NohzFull("(null)")
			f.PCIDevice(nicAddr, vfioNode0)
		},
		warnings: []string{"h.toml:2: dataplane.workers: warning: worker CPU 2 is not isolated: the kernel runs other tasks there, which delays polling (imissed under load); " +
			"isolate at boot (isolcpus=2 nohz_full=2 rcu_nocbs=2) and keep interrupts away"},
		port: "port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node 0, IOMMU group 42, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus: "workers 1-2: isolated 1, nohz_full none",
	}, {
		name: "no free hugepages on the port's node",
		setup: func(f *sysfstest.Tree) {
			tunedHost(f)
			f.Hugepages(0, 2048, 0)
			f.Hugepages(0, 1048576, 0)
			f.PCIDevice(nicAddr, vfioNode0)
		},
		warnings: []string{"h.toml:7: dataplane.port[0].device: warning: no free hugepages on NUMA node 0, the node of port lan0 (0000:3b:00.0): its queues are allocated there and cannot be set up; " +
			"reserve pages on that node (echo 512 > SYS/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages) or at boot (hugepagesz=1G hugepages=N)"},
		port: "port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node 0, IOMMU group 42, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus: "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name:   "no free hugepages on the port's node, --no-huge",
		config: strings.Replace(nicConfig, "main_cpu = 0", "main_cpu = 0\neal_args = [\"--no-huge\"]", 1),
		setup: func(f *sysfstest.Tree) {
			tunedHost(f)
			f.Hugepages(0, 2048, 0)
			f.PCIDevice(nicAddr, vfioNode0)
		},
		port: "port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node 0, IOMMU group 42, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus: "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name: "1 GiB pages free on the port's node",
		setup: func(f *sysfstest.Tree) {
			tunedHost(f)
			f.Hugepages(0, 2048, 0)
			f.Hugepages(0, 1048576, 4)
			f.PCIDevice(nicAddr, vfioNode0)
		},
		port: "port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node 0, IOMMU group 42, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus: "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name: "numa_node -1 on a single-node machine",
		setup: func(f *sysfstest.Tree) {
			tunedHost(f)
			f.Nodes("0")
			f.PCIDevice(nicAddr, sysfstest.Device{Driver: "vfio-pci", NUMANode: -1, IOMMUGroup: "42"})
		},
		port: "port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node none reported, IOMMU group 42, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus: "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name: "numa_node -1 on a two-node machine",
		setup: func(f *sysfstest.Tree) {
			tunedHost(f)
			f.PCIDevice(nicAddr, sysfstest.Device{Driver: "vfio-pci", NUMANode: -1, IOMMUGroup: "42"})
		},
		warnings: []string{"h.toml:7: dataplane.port[0].device: warning: port lan0 (0000:3b:00.0) reports no NUMA node on a machine with nodes 0-1: the workers' placement cannot be checked (the firmware does not say where the slot is)"},
		port:     "port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node none reported, IOMMU group 42, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus:     "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name: "uio_pci_generic",
		setup: func(f *sysfstest.Tree) {
			tunedHost(f)
			f.PCIDevice(nicAddr, sysfstest.Device{Driver: "uio_pci_generic", NUMANode: 0})
		},
		port: "port lan0 (0000:3b:00.0): driver uio_pci_generic, NUMA node 0, IOMMU none, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus: "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name: "mlx5_core stays bound",
		setup: func(f *sysfstest.Tree) {
			tunedHost(f)
			f.PCIDevice(nicAddr, sysfstest.Device{Driver: "mlx5_core", NUMANode: 1, IOMMUGroup: "17", Interfaces: []string{"ens1f0np0"}})
		},
		// The placement is still checked: node 1 here.
		warnings: []string{
			"h.toml:2: dataplane.workers: warning: worker CPUs 1-2 are on another NUMA node than port lan0 (0000:3b:00.0) on node 1: every packet crosses the interconnect; use CPUs of node 1 (CPUs 3)",
			"h.toml:3: dataplane.main_cpu: warning: main_cpu 0 is on NUMA node 0, port lan0 (0000:3b:00.0) on node 1: DPDK takes the packet buffer pool's memory from the main lcore's node first; use a CPU of node 1 (CPUs 3)",
		},
		port: "port lan0 (0000:3b:00.0): driver mlx5_core (bifurcated, DPDK beside the kernel, interface ens1f0np0), NUMA node 1, IOMMU group 17, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus: "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name:     "isolated workers outside the inherited affinity mask",
		affinity: []int{0, 3},
		setup:    func(f *sysfstest.Tree) { tunedHost(f); f.PCIDevice(nicAddr, vfioNode0) },
		port:     "port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node 0, IOMMU group 42, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus:     "workers 1-2: isolated 1-2, nohz_full 1-2",
	}, {
		name:     "a worker neither allowed nor isolated",
		affinity: []int{0, 3},
		setup: func(f *sysfstest.Tree) {
			tunedHost(f)
			f.Isolated("1")
			f.PCIDevice(nicAddr, vfioNode0)
		},
		errs: []string{"h.toml:2: dataplane.workers: CPU 2 does not exist or is not allowed (allowed: 0-1,3)"},
		warnings: []string{"h.toml:2: dataplane.workers: warning: worker CPU 2 is not isolated: the kernel runs other tasks there, which delays polling (imissed under load); " +
			"isolate at boot (isolcpus=2 nohz_full=2 rcu_nocbs=2) and keep interrupts away"},
		port: "port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node 0, IOMMU group 42, workers 1-2 on node 0, main_cpu 0 on node 0",
		cpus: "workers 1-2: isolated 1, nohz_full 1-2",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.config
			if src == "" {
				src = nicConfig
			}
			h := nicHost(t, tt.affinity, tt.setup)
			sys := func(lines []string) []string {
				var out []string
				for _, l := range lines {
					out = append(out, strings.ReplaceAll(l, "SYS/", h.sysRoot+"/"))
				}
				return out
			}
			rep, err := h.inspect(mustParse(t, src))
			if got, want := errorLines(err), sys(tt.errs); !reflect.DeepEqual(got, want) {
				t.Errorf("errors:\n got %q\nwant %q", got, want)
			}
			if got, want := warningLines(rep), sys(tt.warnings); !reflect.DeepEqual(got, want) {
				t.Errorf("warnings:\n got %q\nwant %q", got, want)
			}
			if len(rep.Ports) != 1 {
				t.Fatalf("%d port reports", len(rep.Ports))
			}
			if got := rep.Ports[0].String(); got != tt.port {
				t.Errorf("port line:\n got %q\nwant %q", got, tt.port)
			}
			if rep.CPUs == nil {
				t.Fatal("no CPU report with a PCI port")
			}
			if got := rep.CPUs.String(); got != tt.cpus {
				t.Errorf("CPU line:\n got %q\nwant %q", got, tt.cpus)
			}
		})
	}
}

// TestCheckHostVdevsUntuned: a test bed on vdevs gets a "vdev" line per
// port and no CPU checks, however its CPUs are placed.
func TestCheckHostVdevsUntuned(t *testing.T) {
	src := strings.Replace(nicConfig, `device = "0000:3b:00.0"`, `device = "net_null0"`, 1)
	h := nicHost(t, nil, func(f *sysfstest.Tree) {
		f.CPU(0, 0)
		f.CPU(1, 1)
		f.CPU(2, 1)
		f.Nodes("0-1")
		f.Isolated("")
		f.Hugepages(0, 2048, 0)
		f.Hugepages(1, 2048, 8)
	})
	rep, err := h.inspect(mustParse(t, src))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 0 || rep.CPUs != nil {
		t.Errorf("warnings %q, CPU report %v", warningLines(rep), rep.CPUs)
	}
	if len(rep.Ports) != 1 || rep.Ports[0].String() != "port lan0 (net_null0): vdev, no PCI device to check" {
		t.Errorf("ports %v", rep.Ports)
	}
}

// TestCheckHostTwoPorts: ports on two nodes; the workers are remote to one
// of them whatever they do, and each port is reported on its own.
func TestCheckHostTwoPorts(t *testing.T) {
	src := nicConfig + `[[dataplane.port]]
name = "lan1"
device = "0000:af:00.0"
[[dataplane.port]]
name = "tap"
device = "net_null0"
`
	h := nicHost(t, nil, func(f *sysfstest.Tree) {
		tunedHost(f)
		f.Hugepages(1, 2048, 0)
		f.PCIDevice(nicAddr, vfioNode0)
		f.PCIDevice("0000:af:00.0", sysfstest.Device{Driver: "vfio-pci", NUMANode: 1, IOMMUGroup: "90"})
	})
	rep, err := h.inspect(mustParse(t, src))
	if err != nil {
		t.Fatal(err)
	}
	var ports []string
	for _, p := range rep.Ports {
		ports = append(ports, p.String())
	}
	wantPorts := []string{
		"port lan0 (0000:3b:00.0): driver vfio-pci, NUMA node 0, IOMMU group 42, workers 1-2 on node 0, main_cpu 0 on node 0",
		"port lan1 (0000:af:00.0): driver vfio-pci, NUMA node 1, IOMMU group 90, workers 1-2 on node 0, main_cpu 0 on node 0",
		"port tap (net_null0): vdev, no PCI device to check",
	}
	if !reflect.DeepEqual(ports, wantPorts) {
		t.Errorf("ports:\n got %q\nwant %q", ports, wantPorts)
	}
	wantWarnings := []string{
		"h.toml:2: dataplane.workers: warning: worker CPUs 1-2 are on another NUMA node than port lan1 (0000:af:00.0) on node 1: every packet crosses the interconnect; use CPUs of node 1 (CPUs 3)",
		"h.toml:3: dataplane.main_cpu: warning: main_cpu 0 is on NUMA node 0, port lan1 (0000:af:00.0) on node 1: DPDK takes the packet buffer pool's memory from the main lcore's node first; use a CPU of node 1 (CPUs 3)",
		"h.toml:10: dataplane.port[1].device: warning: no free hugepages on NUMA node 1, the node of port lan1 (0000:af:00.0): its queues are allocated there and cannot be set up; reserve pages on that node (echo 512 > " +
			h.sysRoot + "/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages) or at boot (hugepagesz=1G hugepages=N)",
	}
	if got := warningLines(rep); !reflect.DeepEqual(got, wantWarnings) {
		t.Errorf("warnings:\n got %q\nwant %q", got, wantWarnings)
	}
}
