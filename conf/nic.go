package conf

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Host checks of physical (PCI) ports, part of CheckHost. They read sysfs
// only (sysfs.go), never DPDK.
//
// An error is a condition under which DPDK cannot open the port at all,
// so the data plane must not start:
//   - the PCI device does not exist;
//   - no driver is bound to it;
//   - a kernel driver DPDK cannot work beside owns it (ixgbe, i40e, ice,
//     virtio-pci, ...; the bifurcated mlx5_core and mlx4_core are fine);
//   - it is bound to vfio-pci without an IOMMU group while vfio's
//     no-IOMMU mode is off (vfio cannot hand it to DPDK).
//
// A warning is a condition under which it runs, slower or less safely,
// or one that may have changed by the time it starts:
//   - a worker on another NUMA node than a port (every worker polls every
//     port): each packet crosses the interconnect;
//   - main_cpu on another node than a port: DPDK takes the packet buffer
//     pool's memory from the main lcore's node first;
//   - a device that reports no NUMA node on a machine with several, so the
//     placement cannot be checked;
//   - no free hugepages on a port's node (unless --no-huge): the port's
//     queues are allocated there. A running data plane holds its own pages,
//     so -check beside it would see none: not an error;
//   - a worker CPU not isolated from the scheduler (isolcpus=);
//   - vfio in no-IOMMU mode: the device can write anywhere in memory.
//
// The CPU checks (placement, isolation) run only when at least one port is
// a PCI device: a test bed on vdevs is not tuned, and says nothing.

// HostReport is what CheckHost found besides errors.
type HostReport struct {
	// Ports has one entry per [[dataplane.port]], in order.
	Ports []PortReport
	// CPUs describes the workers' isolation; nil when no port is a PCI
	// device.
	CPUs *CPUReport
	// Warnings do not stop the data plane; in file order.
	Warnings []*Warning
}

// PortReport is one port as the host sees it.
type PortReport struct {
	Name   string
	Device string // vdev instance name or PCI address
	Vdev   bool
	// The rest is for PCI devices. Found is false when the device does
	// not exist (or could not be read); the fields below are then empty.
	Found      bool
	Driver     string // bound driver, "" for none
	Kind       DriverKind
	Interfaces []string // kernel network interfaces of the device
	NUMANode   int      // -1: the device reports none
	// IOMMU says how the device's DMA is mapped: "group N",
	// "no-IOMMU mode", "none".
	IOMMU string
	// WorkerNodes maps NUMA node (-1: unknown) to the worker CPUs on it.
	WorkerNodes map[int][]int
	MainCPU     int
	MainNode    int // -1: unknown
}

// String is the port's line in dsrlb-dataplane -check.
func (p PortReport) String() string {
	head := fmt.Sprintf("port %s (%s): ", p.Name, p.Device)
	switch {
	case p.Vdev:
		return head + "vdev, no PCI device to check"
	case !p.Found:
		return head + "no such PCI device"
	}
	var b strings.Builder
	b.WriteString(head)
	switch p.Kind {
	case DriverUnbound:
		b.WriteString("no driver bound")
	case DriverKernel:
		fmt.Fprintf(&b, "driver %s (kernel, not usable by DPDK%s)", p.Driver, ifaceList(p.Interfaces))
	case DriverBifurcated:
		fmt.Fprintf(&b, "driver %s (bifurcated, DPDK beside the kernel%s)", p.Driver, ifaceList(p.Interfaces))
	default:
		fmt.Fprintf(&b, "driver %s", p.Driver)
	}
	if p.NUMANode < 0 {
		b.WriteString(", NUMA node none reported")
	} else {
		fmt.Fprintf(&b, ", NUMA node %d", p.NUMANode)
	}
	fmt.Fprintf(&b, ", IOMMU %s, workers %s, main_cpu %d on node %s",
		p.IOMMU, nodeGroups(p.WorkerNodes), p.MainCPU, nodeName(p.MainNode))
	return b.String()
}

func ifaceList(ifs []string) string {
	if len(ifs) == 0 {
		return ""
	}
	return ", interface " + strings.Join(ifs, ", ")
}

func nodeName(n int) string {
	if n < 0 {
		return "?"
	}
	return strconv.Itoa(n)
}

// nodeGroups formats CPUs by node: "1-2 on node 0, 9 on node 1".
func nodeGroups(m map[int][]int) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, formatCPUList(m[n])+" on node "+nodeName(n))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// cpusAre is "CPU 1 is" or "CPUs 1-2 are".
func cpusAre(cpus []int) string {
	if len(cpus) == 1 {
		return "CPU " + strconv.Itoa(cpus[0]) + " is"
	}
	return "CPUs " + formatCPUList(cpus) + " are"
}

// CPUReport is the workers' isolation.
type CPUReport struct {
	Workers  []int // sorted
	Isolated []int // workers that are isolated (isolcpus=)
	NohzFull []int // workers without a timer tick (nohz_full=)
}

// String is the workers' line in dsrlb-dataplane -check.
func (c CPUReport) String() string {
	return fmt.Sprintf("workers %s: isolated %s, nohz_full %s",
		formatCPUList(c.Workers), formatCPUList(c.Isolated), formatCPUList(c.NohzFull))
}

// Warning is a host condition that costs speed or safety but does not
// stop the data plane, positioned like an Error.
type Warning Error

// String formats w as "FILE:LINE: PATH: warning: MSG".
func (w *Warning) String() string {
	e := Error(*w)
	e.Msg = "warning: " + e.Msg
	return e.Error()
}

// pciPorts checks the PCI ports of c and the CPUs that poll them: errors
// go to v, warnings to w. isolated is the host's isolated CPU list.
func (h hostEnv) pciPorts(c *Config, v, w *validator, isolated []int) (ports []PortReport, cpus *CPUReport) {
	sys := sysfs(h.sysRoot)
	dp := &c.Dataplane
	dpp := fieldPath{}.key("dataplane")
	pp := dpp.key("port")

	// CPU nodes; a CPU sysfs does not know is reported by the affinity
	// check, and left out here (node -1).
	nodeOf := func(cpu int) int {
		n, err := sys.cpuNode(cpu)
		if err != nil {
			return -1
		}
		return n
	}
	workerNodes := make(map[int][]int)
	for _, cpu := range dp.Workers {
		n := nodeOf(cpu)
		workerNodes[n] = append(workerNodes[n], cpu)
	}
	for _, cpus := range workerNodes {
		slices.Sort(cpus)
	}
	mainNode := nodeOf(dp.MainCPU)
	nodes, _ := sys.nodes()
	noHuge := slices.Contains(dp.EALArgs, "--no-huge")
	hugeChecked := make(map[int]bool)

	anyPCI := false
	for i, p := range dp.Ports {
		r := PortReport{Name: p.Name, Device: p.DeviceName, Vdev: p.IsVdev}
		if p.IsVdev {
			ports = append(ports, r)
			continue
		}
		anyPCI = true
		at := pp.idx(i).key("device")
		addr := p.DeviceName
		dev, err := sys.pciDevice(addr)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			v.addf(at, "PCI device %s does not exist (no %s): list the machine's network devices with dpdk-devbind.py --status-dev net or lspci -D",
				addr, sys.pciDevicePath(addr))
			ports = append(ports, r)
			continue
		case err != nil:
			v.addf(at, "PCI device %s: cannot read its sysfs entry: %v", addr, err)
			ports = append(ports, r)
			continue
		}
		r.Found, r.Driver, r.Kind, r.Interfaces, r.NUMANode = true, dev.Driver, classifyDriver(dev.Driver), dev.Interfaces, dev.NUMANode
		r.WorkerNodes, r.MainCPU, r.MainNode = workerNodes, dp.MainCPU, mainNode
		r.IOMMU = "none"
		if dev.IOMMUGroup != "" {
			r.IOMMU = "group " + dev.IOMMUGroup
		}
		bind := fmt.Sprintf("bind it with driverctl set-override %s vfio-pci (kept across reboots) or dpdk-devbind.py -b vfio-pci %s", addr, addr)

		switch r.Kind {
		case DriverUnbound:
			v.addf(at, "PCI device %s has no driver bound, DPDK cannot use it: %s", addr, bind)
		case DriverKernel:
			down := ""
			if len(dev.Interfaces) > 0 {
				down = fmt.Sprintf(" (its interface %s must be down: ip link set %s down)", strings.Join(dev.Interfaces, ", "), dev.Interfaces[0])
			}
			v.addf(at, "PCI device %s is bound to the kernel driver %s, not usable by DPDK: %s%s", addr, dev.Driver, bind, down)
		case DriverVFIO:
			noiommu, err := sys.vfioNoIOMMU()
			if err != nil {
				w.addf(at, "PCI device %s: cannot tell whether vfio's no-IOMMU mode is on: %v", addr, err)
			}
			switch {
			case dev.NoIOMMUGroup || (dev.IOMMUGroup == "" && noiommu):
				r.IOMMU = "no-IOMMU mode"
				if dev.IOMMUGroup != "" {
					r.IOMMU += " (group " + dev.IOMMUGroup + ")"
				}
				w.addf(at, "PCI device %s: vfio-pci runs in no-IOMMU mode (enable_unsafe_noiommu_mode): the device can write anywhere in memory; where the machine has an IOMMU, turn it on (VT-d/AMD-Vi in the firmware, intel_iommu=on on an Intel kernel command line) and turn the mode off", addr)
			case dev.IOMMUGroup == "":
				v.addf(at, "PCI device %s is bound to vfio-pci but has no IOMMU group and vfio's no-IOMMU mode is off, DPDK cannot open it: turn the IOMMU on (VT-d/AMD-Vi in the firmware, intel_iommu=on iommu=pt on an Intel kernel command line) and reboot, or, on a machine without one, modprobe vfio enable_unsafe_noiommu_mode=1 and bind the device again", addr)
			}
		}
		ports = append(ports, r)

		if !r.Kind.DPDKCapable() {
			continue // the placement of a port that cannot run is moot
		}
		name := fmt.Sprintf("port %s (%s)", p.Name, addr)
		if dev.NUMANode < 0 {
			if len(nodes) > 1 {
				w.addf(at, "%s reports no NUMA node on a machine with nodes %s: the workers' placement cannot be checked (the firmware does not say where the slot is)", name, formatCPUList(nodes))
			}
			continue
		}
		home := ""
		if cpus, err := sys.nodeCPUs(dev.NUMANode); err == nil && len(cpus) > 0 {
			home = fmt.Sprintf(" (CPUs %s)", formatCPUList(cpus))
		}
		var remote []int
		for n, cpus := range workerNodes {
			if n >= 0 && n != dev.NUMANode {
				remote = append(remote, cpus...)
			}
		}
		if len(remote) > 0 {
			slices.Sort(remote)
			wp := dpp.key("workers")
			first := slices.Index(dp.Workers, remote[0])
			w.addAt(wp.idx(first), wp, fmt.Sprintf("worker %s on another NUMA node than %s on node %d: every packet crosses the interconnect; use CPUs of node %d%s",
				cpusAre(remote), name, dev.NUMANode, dev.NUMANode, home))
		}
		if mainNode >= 0 && mainNode != dev.NUMANode {
			w.addf(dpp.key("main_cpu"), "main_cpu %d is on NUMA node %d, %s on node %d: DPDK takes the packet buffer pool's memory from the main lcore's node first; use a CPU of node %d%s",
				dp.MainCPU, mainNode, name, dev.NUMANode, dev.NUMANode, home)
		}
		if !noHuge && !hugeChecked[dev.NUMANode] {
			hugeChecked[dev.NUMANode] = true
			free, err := sys.nodeHugepages(dev.NUMANode)
			var total int64
			for _, n := range free {
				total += n
			}
			if err == nil && total == 0 {
				w.addf(at, "no free hugepages on NUMA node %d, the node of %s: its queues are allocated there and cannot be set up; reserve pages on that node (echo 512 > %s/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages) or at boot (hugepagesz=1G hugepages=N)",
					dev.NUMANode, name, h.sysRoot, dev.NUMANode)
			}
		}
	}
	if !anyPCI {
		return ports, nil
	}

	// Isolation: every worker busy-polls, so anything else the kernel
	// runs on its CPU delays the queues.
	nohz, err := sys.nohzFullCPUs()
	if err != nil {
		w.addf(dpp.key("workers"), "cannot read nohz_full: %v", err)
	}
	workers := slices.Sorted(slices.Values(dp.Workers))
	cpus = &CPUReport{Workers: workers}
	var loose []int
	for _, cpu := range workers {
		if slices.Contains(isolated, cpu) {
			cpus.Isolated = append(cpus.Isolated, cpu)
		} else {
			loose = append(loose, cpu)
		}
		if slices.Contains(nohz, cpu) {
			cpus.NohzFull = append(cpus.NohzFull, cpu)
		}
	}
	if len(loose) > 0 {
		list := formatCPUList(loose)
		wp := dpp.key("workers")
		w.addAt(wp.idx(slices.Index(dp.Workers, loose[0])), wp, fmt.Sprintf("worker %s not isolated: the kernel runs other tasks there, which delays polling (imissed under load); isolate at boot (isolcpus=%s nohz_full=%s rcu_nocbs=%s) and keep interrupts away",
			cpusAre(loose), list, list, list))
	}
	return ports, cpus
}
