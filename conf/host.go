package conf

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// hostEnv is what CheckHost looks at; tests replace the roots and the
// affinity source.
type hostEnv struct {
	procRoot string // normally "/proc"
	sysRoot  string // normally "/sys"
	affinity func() (unix.CPUSet, error)
}

var realHost = hostEnv{
	procRoot: "/proc",
	sysRoot:  "/sys",
	affinity: func() (unix.CPUSet, error) {
		var s unix.CPUSet
		err := unix.SchedGetaffinity(0, &s)
		return s, err
	},
}

// CheckHost verifies what depends on this machine, without touching DPDK:
// every worker and the main CPU are in the process's CPU affinity mask (or
// isolated: isolcpus= keeps isolated CPUs out of inherited masks, yet
// they can be pinned to); unless dataplane.eal_args contains "--no-huge",
// free hugepages exist; the interface of each net_af_packet device exists
// in this network namespace; each PCI device exists, is bound to a driver
// DPDK can use and, for vfio-pci, has an IOMMU group or vfio's no-IOMMU
// mode (see nic.go for what is an error and what a warning). These are the
// data plane's needs; the control process checks its scripts with
// CheckScripts. All problems are returned joined, positioned like
// validation errors; the report says what was found besides them: one
// entry per port, the workers' isolation, and the warnings.
func CheckHost(c *Config) (*HostReport, error) {
	return realHost.inspect(c)
}

// CheckHostSysfs is CheckHost reading sysfs below root instead of /sys
// (tests give it a fake tree).
func CheckHostSysfs(c *Config, root string) (*HostReport, error) {
	h := realHost
	h.sysRoot = root
	return h.inspect(c)
}

// CheckScripts verifies that the program of every "script" health check
// (command[0]) and of every VRRP notify command is an executable regular
// file. dsrlb-ctrl runs it at start
// and on every reload.
func CheckScripts(c *Config) error {
	if c == nil {
		return errors.New("conf: CheckScripts: nil config")
	}
	v := &validator{file: c.File, loc: c.loc}
	v.scripts(c)
	return v.err()
}

// scripts reports script checks whose program cannot run. A check shared
// by a service's backends is reported once, at the service.
func (v *validator) scripts(c *Config) {
	sp := fieldPath{}.key("service")
	for i, s := range c.Services {
		v.script(sp.idx(i).key("check"), s.Check)
		for j, b := range s.Backends {
			if b.OwnCheck {
				v.script(sp.idx(i).key("backend").idx(j).key("check"), b.Check)
			}
		}
	}
	vp := fieldPath{}.key("vrrp")
	for i, r := range c.VRRP {
		v.program(vp.idx(i).key("notify_master"), r.NotifyMaster)
		v.program(vp.idx(i).key("notify_backup"), r.NotifyBackup)
		v.program(vp.idx(i).key("notify_fault"), r.NotifyFault)
		v.program(vp.idx(i).key("notify"), r.Notify)
	}
}

func (v *validator) script(p fieldPath, c *Check) {
	if c == nil || c.Type != CheckScript {
		return
	}
	v.program(p.key("command"), c.Command)
}

// program reports a command (program path, then arguments) at cp whose
// program cannot run.
func (v *validator) program(cp fieldPath, argv []string) {
	if len(argv) == 0 {
		return
	}
	prog := argv[0]
	fi, err := os.Stat(prog)
	switch {
	case err != nil:
		msg := fmt.Sprintf("program %s: %v", prog, err)
		if errors.Is(err, os.ErrNotExist) {
			msg = fmt.Sprintf("program %s does not exist", prog)
		}
		v.addAt(cp.idx(0), cp, msg)
	case !fi.Mode().IsRegular():
		v.addAt(cp.idx(0), cp, fmt.Sprintf("program %s is not a regular file", prog))
	case fi.Mode().Perm()&0o111 == 0 || unix.Access(prog, unix.X_OK) != nil:
		v.addAt(cp.idx(0), cp, fmt.Sprintf("program %s is not executable (mode %v)", prog, fi.Mode().Perm()))
	}
}

func (h hostEnv) check(c *Config) error {
	_, err := h.inspect(c)
	return err
}

func (h hostEnv) inspect(c *Config) (*HostReport, error) {
	if c == nil {
		return nil, errors.New("conf: CheckHost: nil config")
	}
	v := &validator{file: c.File, loc: c.loc}
	w := &validator{file: c.File, loc: c.loc} // warnings
	dpp := fieldPath{}.key("dataplane")
	dp := &c.Dataplane

	isolated, err := sysfs(h.sysRoot).isolatedCPUs()
	if err != nil {
		w.addf(dpp.key("workers"), "cannot read the isolated CPUs: %v", err)
	}

	// CPUs
	if set, err := h.affinity(); err != nil {
		v.add(dpp.key("workers"), fmt.Sprintf("cannot read the CPU affinity mask: %v", err))
	} else {
		for _, cpu := range isolated {
			if cpu < len(set)*64 {
				set.Set(cpu)
			}
		}
		allowed := cpuList(&set)
		wp := dpp.key("workers")
		for i, cpu := range dp.Workers {
			if !set.IsSet(cpu) {
				v.addAt(wp.idx(i), wp, fmt.Sprintf("CPU %d does not exist or is not allowed (allowed: %s)", cpu, allowed))
			}
		}
		if !set.IsSet(dp.MainCPU) {
			mp := dpp.key("main_cpu")
			if _, ok := c.loc.exact(mp); ok || c.loc == nil {
				v.addf(mp, "CPU %d does not exist or is not allowed (allowed: %s)", dp.MainCPU, allowed)
			} else {
				v.addf(mp, "CPU %d (the default main_cpu) does not exist or is not allowed (allowed: %s): set main_cpu", dp.MainCPU, allowed)
			}
		}
	}

	// hugepages
	if !slices.Contains(dp.EALArgs, "--no-huge") {
		free, err := h.freeHugepages()
		switch {
		case err != nil:
			v.addf(dpp.key("eal_args"), "cannot tell whether free hugepages exist (%v): reserve some (echo 512 > /proc/sys/vm/nr_hugepages) or add \"--no-huge\" to dataplane.eal_args", err)
		case free == 0:
			v.add(dpp.key("eal_args"), "no free hugepages: reserve some (echo 512 > /proc/sys/vm/nr_hugepages) or add \"--no-huge\" to dataplane.eal_args")
		}
	}

	// vdevs; PCI devices and the CPUs that poll them in pciPorts
	pp := dpp.key("port")
	for i, p := range dp.Ports {
		if p.IsVdev && strings.HasPrefix(p.DeviceName, "net_af_packet") {
			iface, _ := p.Arg("iface")
			dir := filepath.Join(h.sysRoot, "class", "net", iface)
			if _, err := os.Stat(dir); err != nil {
				v.addf(pp.idx(i).key("device"), "network interface %q (iface= of %s) does not exist in this network namespace (no %s)", iface, p.DeviceName, dir)
			}
		}
	}
	rep := &HostReport{}
	rep.Ports, rep.CPUs = h.pciPorts(c, v, w, isolated)
	slices.SortStableFunc(w.errs, func(a, b *Error) int { return a.Line - b.Line })
	for _, e := range w.errs {
		rep.Warnings = append(rep.Warnings, (*Warning)(e))
	}
	return rep, v.err()
}

// cpuList formats the CPUs in set as "0-3,6".
func cpuList(set *unix.CPUSet) string {
	var parts []string
	n := len(set) * 64
	for cpu := 0; cpu < n; cpu++ {
		if !set.IsSet(cpu) {
			continue
		}
		end := cpu
		for end+1 < n && set.IsSet(end+1) {
			end++
		}
		if end == cpu {
			parts = append(parts, strconv.Itoa(cpu))
		} else {
			parts = append(parts, strconv.Itoa(cpu)+"-"+strconv.Itoa(end))
		}
		cpu = end
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// freeHugepages returns the number of free hugepages of any size: the
// default size from PROC/meminfo (HugePages_Free) plus the other sizes from
// SYS/kernel/mm/hugepages/hugepages-*/free_hugepages. An error is returned
// only if neither source can be read.
func (h hostEnv) freeHugepages() (int64, error) {
	var total int64
	var defSize string // e.g. "2048" (kB)
	merr := func() error {
		f, err := os.Open(filepath.Join(h.procRoot, "meminfo"))
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, val, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			fields := strings.Fields(val)
			if len(fields) == 0 {
				continue
			}
			switch k {
			case "HugePages_Free":
				n, err := strconv.ParseInt(fields[0], 10, 64)
				if err != nil {
					return fmt.Errorf("meminfo: bad HugePages_Free %q", fields[0])
				}
				total += n
			case "Hugepagesize":
				defSize = fields[0]
			}
		}
		return sc.Err()
	}()

	dirs, _ := filepath.Glob(filepath.Join(h.sysRoot, "kernel", "mm", "hugepages", "hugepages-*kB"))
	var serr error
	read := 0
	for _, d := range dirs {
		size := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(d), "hugepages-"), "kB")
		b, err := os.ReadFile(filepath.Join(d, "free_hugepages"))
		if err != nil {
			serr = err
			continue
		}
		read++
		if merr == nil && size == defSize {
			continue // already counted from meminfo
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			serr = fmt.Errorf("%s: bad count %q", d, strings.TrimSpace(string(b)))
			continue
		}
		total += n
	}
	if merr != nil && read == 0 {
		if serr == nil {
			serr = errors.New("no hugepage sizes in sysfs")
		}
		return 0, fmt.Errorf("%v; %v", merr, serr)
	}
	return total, nil
}
