package conf

// sysfs reads what the Linux kernel publishes under /sys about PCI devices,
// CPUs, NUMA nodes and hugepages: the facts that tell whether a physical
// NIC is ready for DPDK and whether the workers that poll it sit near it
// (nic.go decides what they mean). It reads below a root directory, so
// tests build a fake tree (package conf/sysfstest).
//
// Paths read, relative to the root (normally /sys):
//
//	bus/pci/devices/ADDR/driver            symlink to the bound driver
//	bus/pci/devices/ADDR/numa_node         -1 when the device reports none
//	bus/pci/devices/ADDR/iommu_group       symlink to kernel/iommu_groups/N
//	bus/pci/devices/ADDR/net/IF            kernel interfaces (also virtio*/net/IF)
//	module/vfio/parameters/enable_unsafe_noiommu_mode
//	devices/system/cpu/cpuN/nodeM          the CPU's NUMA node
//	devices/system/cpu/isolated            isolcpus= (scheduler domain isolation)
//	devices/system/cpu/nohz_full           nohz_full= (absent without NO_HZ_FULL)
//	kernel/iommu_groups/N/name             "vfio-noiommu" for vfio's made-up groups
//	devices/system/node/online             NUMA nodes
//	devices/system/node/nodeM/cpulist      the node's CPUs
//	devices/system/node/nodeM/hugepages/hugepages-SIZEkB/free_hugepages

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// sysfs is the directory sysfs is mounted on.
type sysfs string

func (r sysfs) path(elem ...string) string {
	return filepath.Join(append([]string{string(r)}, elem...)...)
}

// pciFunction is what the kernel says about one PCI function.
type pciFunction struct {
	Address string // "0000:3b:00.0", as sysfs names it (lower case)
	// Driver is the name of the bound driver, "" when none is bound.
	Driver string
	// NUMANode is the node the device is attached to; -1 when it reports
	// none (single-node machines, or firmware that does not say).
	NUMANode int
	// IOMMUGroup is the device's IOMMU group number, "" when it has none
	// (IOMMU off or absent).
	IOMMUGroup string
	// NoIOMMUGroup is true when that group is one vfio made up in its
	// no-IOMMU mode (named "vfio-noiommu"): no DMA isolation.
	NoIOMMUGroup bool
	// Interfaces are the kernel network interfaces of the device, present
	// while a kernel (or bifurcated) driver owns it.
	Interfaces []string
}

// pciDevice reads the PCI function at addr (lower-case "DDDD:BB:DD.F").
// When the device does not exist the error wraps fs.ErrNotExist.
func (r sysfs) pciDevice(addr string) (pciFunction, error) {
	dir := r.pciDevicePath(addr)
	if _, err := os.Stat(dir); err != nil {
		return pciFunction{}, err
	}
	d := pciFunction{Address: addr, NUMANode: -1}
	target, err := os.Readlink(filepath.Join(dir, "driver"))
	switch {
	case err == nil:
		d.Driver = filepath.Base(target)
	case !errors.Is(err, fs.ErrNotExist):
		return d, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "numa_node")); err == nil {
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return d, fmt.Errorf("%s/numa_node: bad node %q", dir, strings.TrimSpace(string(b)))
		}
		d.NUMANode = n
	} else if !errors.Is(err, fs.ErrNotExist) {
		return d, err
	}
	target, err = os.Readlink(filepath.Join(dir, "iommu_group"))
	switch {
	case err == nil:
		d.IOMMUGroup = filepath.Base(target)
		name, _ := os.ReadFile(r.path("kernel", "iommu_groups", d.IOMMUGroup, "name"))
		d.NoIOMMUGroup = strings.TrimSpace(string(name)) == "vfio-noiommu"
	case !errors.Is(err, fs.ErrNotExist):
		return d, err
	}
	// Network drivers put their interfaces in net/; virtio-net one level
	// down, under the virtio device.
	for _, pat := range []string{"net/*", "virtio*/net/*"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, p := range m {
			d.Interfaces = append(d.Interfaces, filepath.Base(p))
		}
	}
	slices.Sort(d.Interfaces)
	return d, nil
}

// pciDevicePath is the device's directory.
func (r sysfs) pciDevicePath(addr string) string {
	return r.path("bus", "pci", "devices", addr)
}

// vfioNoIOMMU reports whether vfio's no-IOMMU mode is on
// (enable_unsafe_noiommu_mode=Y). Without the vfio module loaded, or a
// kernel built without the mode, it is off.
func (r sysfs) vfioNoIOMMU() (bool, error) {
	b, err := os.ReadFile(r.path("module", "vfio", "parameters", "enable_unsafe_noiommu_mode"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch v := strings.TrimSpace(string(b)); v {
	case "Y", "1":
		return true, nil
	case "N", "0":
		return false, nil
	default:
		return false, fmt.Errorf("enable_unsafe_noiommu_mode: unexpected value %q", v)
	}
}

// cpuNode returns the NUMA node of cpu, or -1 when sysfs says none (a
// kernel without NUMA). A CPU that does not exist is an error wrapping
// fs.ErrNotExist.
func (r sysfs) cpuNode(cpu int) (int, error) {
	dir := r.path("devices", "system", "cpu", "cpu"+strconv.Itoa(cpu))
	ents, err := os.ReadDir(dir)
	if err != nil {
		return -1, err
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "node")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(rest); err == nil && n >= 0 {
			return n, nil
		}
	}
	return -1, nil
}

// nodes returns the online NUMA nodes; none on a kernel without NUMA.
func (r sysfs) nodes() ([]int, error) {
	b, err := os.ReadFile(r.path("devices", "system", "node", "online"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseCPUList(string(b))
}

// nodeCPUs returns the CPUs of NUMA node node.
func (r sysfs) nodeCPUs(node int) ([]int, error) {
	b, err := os.ReadFile(r.path("devices", "system", "node", "node"+strconv.Itoa(node), "cpulist"))
	if err != nil {
		return nil, err
	}
	return parseCPUList(string(b))
}

// isolatedCPUs returns the CPUs isolated from the scheduler's load
// balancing (isolcpus=, or a cpuset partition of type isolated); none when
// the file is empty or absent.
func (r sysfs) isolatedCPUs() ([]int, error) {
	return r.cpuListFile("isolated")
}

// nohzFullCPUs returns the CPUs whose timer tick stops while they run one
// task (nohz_full=); none when the kernel has no such CPUs.
func (r sysfs) nohzFullCPUs() ([]int, error) {
	return r.cpuListFile("nohz_full")
}

func (r sysfs) cpuListFile(name string) ([]int, error) {
	b, err := os.ReadFile(r.path("devices", "system", "cpu", name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cpus, err := parseCPUList(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return cpus, nil
}

// nodeHugepages returns the free hugepages of NUMA node node, by page
// size in kB (2048, 1048576). A node without a hugepages directory is an
// error wrapping fs.ErrNotExist.
func (r sysfs) nodeHugepages(node int) (map[int]int64, error) {
	dir := r.path("devices", "system", "node", "node"+strconv.Itoa(node), "hugepages")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	free := make(map[int]int64)
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if !ok {
			continue
		}
		size, err := strconv.Atoi(strings.TrimSuffix(s, "kB"))
		if err != nil || !strings.HasSuffix(s, "kB") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "free_hugepages"))
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s/%s/free_hugepages: bad count %q", dir, e.Name(), strings.TrimSpace(string(b)))
		}
		free[size] = n
	}
	return free, nil
}

// parseCPUList parses the kernel's CPU list format ("0-3,8,10-11"); an
// empty list, and "(null)" (nohz_full without CPUs), are none. The result
// is sorted and without duplicates.
func parseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "(null)" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad CPU list %q", s)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// formatCPUList formats cpus (sorted, without duplicates) as the kernel
// does: "0-3,8,10-11"; "none" for no CPUs.
func formatCPUList(cpus []int) string {
	if len(cpus) == 0 {
		return "none"
	}
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}
