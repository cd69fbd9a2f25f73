// Package sysfstest builds fake sysfs trees for tests, laid out as Linux
// lays out the files package sysfs reads (devices are directories under
// devices/, reached through symbolic links in bus/pci/devices, drivers and
// IOMMU groups are symbolic links, CPUs link to their node).
package sysfstest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Tree is a fake sysfs root in a test's temporary directory.
type Tree struct {
	t    testing.TB
	Root string
}

// New returns an empty tree.
func New(t testing.TB) *Tree {
	t.Helper()
	return &Tree{t: t, Root: t.TempDir()}
}

// Device describes a PCI function.
type Device struct {
	Driver     string // bound driver, "" for none
	NUMANode   int    // written to numa_node; -1 for none
	IOMMUGroup string // "" for none
	// NoIOMMUGroup names the group "vfio-noiommu", as vfio does for the
	// groups it makes up in no-IOMMU mode.
	NoIOMMUGroup bool
	Interfaces   []string // kernel network interfaces under net/
}

// PCIDevice adds the PCI function addr ("0000:3b:00.0").
func (f *Tree) PCIDevice(addr string, d Device) {
	f.t.Helper()
	dir := filepath.Join(f.Root, "devices", "pci"+addr[:7], addr)
	f.mkdir(dir)
	f.symlink(filepath.Join("..", "..", "..", "devices", "pci"+addr[:7], addr), filepath.Join(f.Root, "bus", "pci", "devices", addr))
	if d.Driver != "" {
		f.mkdir(filepath.Join(f.Root, "bus", "pci", "drivers", d.Driver))
		f.symlink(filepath.Join("..", "..", "..", "bus", "pci", "drivers", d.Driver), filepath.Join(dir, "driver"))
	}
	f.write(filepath.Join(dir, "numa_node"), strconv.Itoa(d.NUMANode))
	if d.IOMMUGroup != "" {
		f.mkdir(filepath.Join(f.Root, "kernel", "iommu_groups", d.IOMMUGroup))
		if d.NoIOMMUGroup {
			f.write(filepath.Join(f.Root, "kernel", "iommu_groups", d.IOMMUGroup, "name"), "vfio-noiommu")
		}
		f.symlink(filepath.Join("..", "..", "..", "kernel", "iommu_groups", d.IOMMUGroup), filepath.Join(dir, "iommu_group"))
	}
	for _, i := range d.Interfaces {
		f.mkdir(filepath.Join(dir, "net", i))
	}
}

// CPU adds cpu on NUMA node node (-1: the CPU links to no node, as on a
// kernel without NUMA), and adds it to the node's cpulist.
func (f *Tree) CPU(cpu, node int) {
	f.t.Helper()
	dir := filepath.Join(f.Root, "devices", "system", "cpu", "cpu"+strconv.Itoa(cpu))
	f.mkdir(dir)
	f.write(filepath.Join(dir, "online"), "1")
	if node >= 0 {
		n := "node" + strconv.Itoa(node)
		f.mkdir(filepath.Join(f.Root, "devices", "system", "node", n))
		f.symlink(filepath.Join("..", "..", "node", n), filepath.Join(dir, n))
		list := filepath.Join(f.Root, "devices", "system", "node", n, "cpulist")
		b, _ := os.ReadFile(list)
		cpus := strings.TrimSpace(string(b))
		if cpus != "" {
			cpus += ","
		}
		f.write(list, cpus+strconv.Itoa(cpu))
	}
}

// Nodes writes the online NUMA nodes ("0" or "0-1").
func (f *Tree) Nodes(list string) {
	f.t.Helper()
	f.write(filepath.Join(f.Root, "devices", "system", "node", "online"), list)
}

// Isolated writes the isolated CPU list ("" for none, as the kernel does).
func (f *Tree) Isolated(list string) {
	f.t.Helper()
	f.write(filepath.Join(f.Root, "devices", "system", "cpu", "isolated"), list)
}

// NohzFull writes the nohz_full CPU list ("(null)" is the kernel's none).
func (f *Tree) NohzFull(list string) {
	f.t.Helper()
	f.write(filepath.Join(f.Root, "devices", "system", "cpu", "nohz_full"), list)
}

// Hugepages sets node's free pages of sizeKB (2048, 1048576), both as
// reserved and as free, and the machine-wide count of that size to the
// same number plus what was set on other nodes.
func (f *Tree) Hugepages(node, sizeKB int, free int64) {
	f.t.Helper()
	name := "hugepages-" + strconv.Itoa(sizeKB) + "kB"
	dir := filepath.Join(f.Root, "devices", "system", "node", "node"+strconv.Itoa(node), "hugepages", name)
	f.write(filepath.Join(dir, "nr_hugepages"), strconv.FormatInt(free, 10))
	f.write(filepath.Join(dir, "free_hugepages"), strconv.FormatInt(free, 10))
	var total int64
	nodes, _ := filepath.Glob(filepath.Join(f.Root, "devices", "system", "node", "node*", "hugepages", name, "free_hugepages"))
	for _, p := range nodes {
		b, err := os.ReadFile(p)
		if err != nil {
			f.t.Fatal(err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			f.t.Fatal(err)
		}
		total += n
	}
	f.write(filepath.Join(f.Root, "kernel", "mm", "hugepages", name, "free_hugepages"), strconv.FormatInt(total, 10))
}

// NoIOMMU writes vfio's enable_unsafe_noiommu_mode parameter (as if the
// module were loaded).
func (f *Tree) NoIOMMU(on bool) {
	f.t.Helper()
	v := "N"
	if on {
		v = "Y"
	}
	f.write(filepath.Join(f.Root, "module", "vfio", "parameters", "enable_unsafe_noiommu_mode"), v)
}

// Interface adds the network interface name to class/net.
func (f *Tree) Interface(name string) {
	f.t.Helper()
	f.mkdir(filepath.Join(f.Root, "class", "net", name))
}

func (f *Tree) mkdir(p string) {
	f.t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		f.t.Fatal(err)
	}
}

func (f *Tree) write(p, s string) {
	f.t.Helper()
	f.mkdir(filepath.Dir(p))
	if err := os.WriteFile(p, []byte(s+"\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *Tree) symlink(target, link string) {
	f.t.Helper()
	f.mkdir(filepath.Dir(link))
	if err := os.Symlink(target, link); err != nil {
		f.t.Fatal(err)
	}
}
