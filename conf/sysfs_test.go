package conf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"dsrlb/conf/sysfstest"
)

func TestPCIDevice(t *testing.T) {
	f := sysfstest.New(t)
	f.PCIDevice("0000:3b:00.0", sysfstest.Device{Driver: "vfio-pci", NUMANode: 1, IOMMUGroup: "42"})
	f.PCIDevice("0000:3b:00.1", sysfstest.Device{Driver: "ixgbe", NUMANode: -1, Interfaces: []string{"enp59s0f1"}})
	f.PCIDevice("0000:3b:00.2", sysfstest.Device{NUMANode: 0})
	f.PCIDevice("0000:3b:00.3", sysfstest.Device{Driver: "vfio-pci", NUMANode: -1, IOMMUGroup: "7", NoIOMMUGroup: true})
	r := sysfs(f.Root)

	for _, tt := range []struct {
		addr string
		want pciFunction
	}{
		{"0000:3b:00.0", pciFunction{Address: "0000:3b:00.0", Driver: "vfio-pci", NUMANode: 1, IOMMUGroup: "42"}},
		{"0000:3b:00.1", pciFunction{Address: "0000:3b:00.1", Driver: "ixgbe", NUMANode: -1, Interfaces: []string{"enp59s0f1"}}},
		{"0000:3b:00.2", pciFunction{Address: "0000:3b:00.2", NUMANode: 0}},
		{"0000:3b:00.3", pciFunction{Address: "0000:3b:00.3", Driver: "vfio-pci", NUMANode: -1, IOMMUGroup: "7", NoIOMMUGroup: true}},
	} {
		got, err := r.pciDevice(tt.addr)
		if err != nil {
			t.Fatalf("%s: %v", tt.addr, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.addr, got, tt.want)
		}
	}
	if _, err := r.pciDevice("0000:3b:00.4"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing device: err %v, want ErrNotExist", err)
	}

	// A numa_node the kernel would never write is an error, not node 0.
	if err := os.WriteFile(filepath.Join(r.pciDevicePath("0000:3b:00.2"), "numa_node"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.pciDevice("0000:3b:00.2"); err == nil {
		t.Error("bad numa_node accepted")
	}
}

// TestRealSysfs reads this machine's sysfs: whatever it holds, every PCI
// device and CPU 0 must parse.
func TestRealSysfs(t *testing.T) {
	devs, _ := filepath.Glob("/sys/bus/pci/devices/*")
	for _, d := range devs {
		if _, err := sysfs("/sys").pciDevice(filepath.Base(d)); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	if _, err := sysfs("/sys").cpuNode(0); err != nil {
		t.Errorf("CPU 0: %v", err)
	}
	if _, err := sysfs("/sys").isolatedCPUs(); err != nil {
		t.Error(err)
	}
	if _, err := sysfs("/sys").nohzFullCPUs(); err != nil {
		t.Error(err)
	}
	if _, err := sysfs("/sys").vfioNoIOMMU(); err != nil {
		t.Error(err)
	}
}

func TestCPUsAndNodes(t *testing.T) {
	f := sysfstest.New(t)
	f.CPU(0, 0)
	f.CPU(1, 1)
	f.CPU(2, -1)
	f.CPU(3, 0)
	f.Nodes("0-1")
	f.Isolated("1-2")
	f.NohzFull("(null)")
	r := sysfs(f.Root)
	for cpu, want := range map[int]int{0: 0, 1: 1, 2: -1} {
		if got, err := r.cpuNode(cpu); err != nil || got != want {
			t.Errorf("CPUNode(%d) = %d, %v; want %d", cpu, got, err, want)
		}
	}
	if got, err := r.nodeCPUs(0); err != nil || !reflect.DeepEqual(got, []int{0, 3}) {
		t.Errorf("NodeCPUs(0) = %v, %v", got, err)
	}
	if _, err := r.cpuNode(4); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CPUNode of a missing CPU: %v", err)
	}
	if got, err := r.nodes(); err != nil || !reflect.DeepEqual(got, []int{0, 1}) {
		t.Errorf("Nodes = %v, %v", got, err)
	}
	if got, err := r.isolatedCPUs(); err != nil || !reflect.DeepEqual(got, []int{1, 2}) {
		t.Errorf("IsolatedCPUs = %v, %v", got, err)
	}
	if got, err := r.nohzFullCPUs(); err != nil || got != nil {
		t.Errorf("NohzFullCPUs with (null) = %v, %v", got, err)
	}
	f.Isolated("1-x")
	if _, err := r.isolatedCPUs(); err == nil {
		t.Error("bad isolated list accepted")
	}

	// A tree without these files: no NUMA, nothing isolated.
	empty := sysfs(t.TempDir())
	if n, err := empty.nodes(); err != nil || n != nil {
		t.Errorf("no node/online: %v, %v", n, err)
	}
	if c, err := empty.nohzFullCPUs(); err != nil || c != nil {
		t.Errorf("no nohz_full: %v, %v", c, err)
	}
}

func TestNodeHugepages(t *testing.T) {
	f := sysfstest.New(t)
	f.Hugepages(0, 2048, 512)
	f.Hugepages(0, 1048576, 0)
	f.Hugepages(1, 2048, 0)
	r := sysfs(f.Root)
	if got, err := r.nodeHugepages(0); err != nil || !reflect.DeepEqual(got, map[int]int64{2048: 512, 1048576: 0}) {
		t.Errorf("node 0: %v, %v", got, err)
	}
	if got, err := r.nodeHugepages(1); err != nil || !reflect.DeepEqual(got, map[int]int64{2048: 0}) {
		t.Errorf("node 1: %v, %v", got, err)
	}
	if _, err := r.nodeHugepages(2); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("node 2: %v", err)
	}
	// The fake tree keeps the machine-wide count as the kernel does.
	b, err := os.ReadFile(filepath.Join(f.Root, "kernel", "mm", "hugepages", "hugepages-2048kB", "free_hugepages"))
	if err != nil || string(b) != "512\n" {
		t.Errorf("machine-wide 2 MiB pages %q, %v", b, err)
	}
}

func TestVFIONoIOMMU(t *testing.T) {
	f := sysfstest.New(t)
	r := sysfs(f.Root)
	if on, err := r.vfioNoIOMMU(); on || err != nil {
		t.Errorf("without vfio: %v, %v", on, err)
	}
	f.NoIOMMU(true)
	if on, err := r.vfioNoIOMMU(); !on || err != nil {
		t.Errorf("Y: %v, %v", on, err)
	}
	f.NoIOMMU(false)
	if on, err := r.vfioNoIOMMU(); on || err != nil {
		t.Errorf("N: %v, %v", on, err)
	}
}

func TestSysfsCPUList(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []int
		text string
	}{
		{"", nil, "none"},
		{"\n", nil, "none"},
		{"(null)\n", nil, "none"},
		{"3\n", []int{3}, "3"},
		{"0-3,8,10-11\n", []int{0, 1, 2, 3, 8, 10, 11}, "0-3,8,10-11"},
		{"5,1-2,2", []int{1, 2, 5}, "1-2,5"},
	} {
		got, err := parseCPUList(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if s := formatCPUList(got); s != tt.text {
			t.Errorf("FormatCPUList(%v) = %q, want %q", got, s, tt.text)
		}
	}
	for _, bad := range []string{"a", "1-", "3-1", "-1", "1,,2"} {
		if got, err := parseCPUList(bad); err == nil {
			t.Errorf("ParseCPUList(%q) = %v, want an error", bad, got)
		}
	}
}

func TestClassifyDriver(t *testing.T) {
	for drv, want := range map[string]DriverKind{
		"": DriverUnbound, "vfio-pci": DriverVFIO, "uio_pci_generic": DriverUIO, "igb_uio": DriverUIO,
		"mlx5_core": DriverBifurcated, "mlx4_core": DriverBifurcated,
		"ixgbe": DriverKernel, "i40e": DriverKernel, "ice": DriverKernel, "virtio-pci": DriverKernel,
	} {
		got := classifyDriver(drv)
		if got != want {
			t.Errorf("ClassifyDriver(%q) = %v, want %v", drv, got, want)
		}
		if capable := want == DriverVFIO || want == DriverUIO || want == DriverBifurcated; got.DPDKCapable() != capable {
			t.Errorf("%q: DPDKCapable = %v", drv, got.DPDKCapable())
		}
	}
}
