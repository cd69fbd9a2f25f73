package conf

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"dsrlb/conf/sysfstest"
)

// fakeHost builds a hostEnv in temp dirs: CPUs allowed, HugePages_Free in
// meminfo, free pages per sysfs size (e.g. "1048576kB": 2), existing network
// interfaces and PCI devices (bound to vfio-pci, each in an IOMMU group).
func fakeHost(t *testing.T, cpus []int, memFree string, sysFree map[string]string, ifaces, pci []string) hostEnv {
	t.Helper()
	tree := sysfstest.New(t)
	proc, sys := filepath.Join(t.TempDir(), "proc"), tree.Root
	mkdir := func(p string) {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		mkdir(filepath.Dir(p))
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if memFree != "" {
		write(filepath.Join(proc, "meminfo"), "MemTotal:       16318412 kB\nHugePages_Total:     512\nHugePages_Free:      "+
			memFree+"\nHugePages_Rsvd:        0\nHugepagesize:       2048 kB\n")
	}
	for size, n := range sysFree {
		write(filepath.Join(sys, "kernel", "mm", "hugepages", "hugepages-"+size, "free_hugepages"), n+"\n")
	}
	for _, i := range ifaces {
		mkdir(filepath.Join(sys, "class", "net", i))
	}
	for i, p := range pci {
		tree.PCIDevice(p, sysfstest.Device{Driver: "vfio-pci", NUMANode: -1, IOMMUGroup: strconv.Itoa(10 + i)})
	}
	return hostEnv{
		procRoot: proc,
		sysRoot:  sys,
		affinity: func() (unix.CPUSet, error) {
			var s unix.CPUSet
			for _, c := range cpus {
				s.Set(c)
			}
			return s, nil
		},
	}
}

const hostConfig = `[dataplane]
workers = [1, 7]
main_cpu = 0
address = "192.0.2.10/24"
[[dataplane.port]]
name = "lan0"
device = "net_af_packet0,iface=veth-lb,qpairs=2"
[[dataplane.port]]
name = "pci0"
device = "0000:3B:00.0"
`

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse("h.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckHostOK(t *testing.T) {
	c := mustParse(t, hostConfig)
	h := fakeHost(t, []int{0, 1, 7}, "512", map[string]string{"2048kB": "512", "1048576kB": "0"}, []string{"lo", "veth-lb"}, []string{"0000:3b:00.0"})
	if err := h.check(c); err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func TestCheckHostErrors(t *testing.T) {
	c := mustParse(t, hostConfig)
	h := fakeHost(t, []int{0, 1, 2, 4}, "0", map[string]string{"2048kB": "0", "1048576kB": "0"}, []string{"lo"}, nil)
	err := h.check(c)
	// In file order: the hugepage error falls back to [dataplane] on line 1.
	want := []string{
		"h.toml:1: dataplane.eal_args: no free hugepages: reserve some (echo 512 > /proc/sys/vm/nr_hugepages) or add \"--no-huge\" to dataplane.eal_args",
		"h.toml:2: dataplane.workers: CPU 7 does not exist or is not allowed (allowed: 0-2,4)",
		"h.toml:7: dataplane.port[0].device: network interface \"veth-lb\" (iface= of net_af_packet0) does not exist in this network namespace",
		"h.toml:10: dataplane.port[1].device: PCI device 0000:3b:00.0 does not exist",
	}
	got := errorLines(err)
	if len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("error %d:\n got %q\nwant prefix %q", i, got[i], want[i])
		}
	}
}

func TestCheckHostMainCPU(t *testing.T) {
	h := fakeHost(t, []int{1}, "8", nil, nil, nil)
	c := mustParse(t, minimal) // main_cpu defaults to 0
	err := h.check(c)
	if got := err.Error(); !strings.HasPrefix(got, "h.toml:1: dataplane.main_cpu: CPU 0 (the default main_cpu) does not exist or is not allowed (allowed: 1)") {
		t.Errorf("got %q", got)
	}
	c = mustParse(t, strings.Replace(minimal, "workers = [1]", "workers = [1]\nmain_cpu = 3", 1))
	err = h.check(c)
	if got := err.Error(); !strings.HasPrefix(got, "h.toml:3: dataplane.main_cpu: CPU 3 does not exist or is not allowed (allowed: 1)") {
		t.Errorf("got %q", got)
	}
}

func TestCheckHostHugepages(t *testing.T) {
	noHuge := mustParse(t, strings.Replace(minimal, "workers = [1]", "workers = [1]\neal_args = [\"--no-huge\"]", 1))
	huge := mustParse(t, minimal)
	for _, tt := range []struct {
		name    string
		c       *Config
		mem     string
		sys     map[string]string
		wantErr string
	}{
		{"no-huge skips the check", noHuge, "", nil, ""},
		{"default size free", huge, "16", nil, ""},
		{"only 1G pages free", huge, "0", map[string]string{"2048kB": "0", "1048576kB": "2"}, ""},
		{"no meminfo, sysfs has pages", huge, "", map[string]string{"2048kB": "3"}, ""},
		{"none free", huge, "0", map[string]string{"2048kB": "0"}, "h.toml:1: dataplane.eal_args: no free hugepages"},
		{"default size counted once", huge, "0", map[string]string{"2048kB": "5"}, "no free hugepages"},
		{"nothing readable", huge, "", nil, "dataplane.eal_args: cannot tell whether free hugepages exist"},
	} {
		h := fakeHost(t, []int{0, 1}, tt.mem, tt.sys, nil, nil)
		err := h.check(tt.c)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestCheckHostHandMadeConfig(t *testing.T) {
	if _, err := CheckHost(nil); err == nil {
		t.Error("CheckHost(nil) succeeded")
	}
	h := fakeHost(t, []int{0}, "1", nil, nil, nil)
	c := &Config{Dataplane: Dataplane{Workers: []int{5}}}
	err := h.check(c)
	if got := err.Error(); !strings.HasPrefix(got, "config:?: dataplane.workers: CPU 5 does not exist") {
		t.Errorf("got %q", got)
	}
}

func TestRealAffinity(t *testing.T) {
	set, err := realHost.affinity()
	if err != nil {
		t.Fatal(err)
	}
	if set.Count() == 0 || cpuList(&set) == "none" {
		t.Errorf("empty affinity mask")
	}
}

func TestCPUList(t *testing.T) {
	var s unix.CPUSet
	if got := cpuList(&s); got != "none" {
		t.Errorf("empty: %q", got)
	}
	for _, c := range []int{0, 1, 2, 5, 7, 8, 1023} {
		s.Set(c)
	}
	if got := cpuList(&s); got != "0-2,5,7-8,1023" {
		t.Errorf("cpuList = %q", got)
	}
}
