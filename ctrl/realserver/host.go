package realserver

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ModuleState is what the host knows about a kernel module.
type ModuleState int

const (
	ModuleMissing  ModuleState = iota // neither built in nor installed
	ModuleLoadable                    // installed, modprobe loads it
	ModuleBuiltin                     // part of the kernel image
	ModuleLoaded                      // loaded now
)

func (m ModuleState) String() string {
	switch m {
	case ModuleLoadable:
		return "loadable"
	case ModuleBuiltin:
		return "built in"
	case ModuleLoaded:
		return "loaded"
	}
	return "missing"
}

// Available reports whether the module's code can run.
func (m ModuleState) Available() bool { return m != ModuleMissing }

// tunnelModules are the kernel modules kernel decapsulation can need, with
// the configuration symbol that builds each.
var tunnelModules = map[string]string{
	"ipip":       "CONFIG_NET_IPIP",
	"ip_gre":     "CONFIG_NET_IPGRE",
	"ip6_tunnel": "CONFIG_IPV6_TUNNEL",
	"ip6_gre":    "CONFIG_IPV6_GRE",
	"sit":        "CONFIG_IPV6_SIT",
	"fou":        "CONFIG_NET_FOU",
	"fou6":       "CONFIG_IPV6_FOU",
}

// BPFFSPath is where the eBPF decap program's maps are pinned below.
const BPFFSPath = "/sys/fs/bpf"

// HostInfo is what Plan needs to know about the real server. DetectHost
// fills it from the running machine; tests build it.
type HostInfo struct {
	// Kernel is the release (uname -r), for the printed plan.
	Kernel string
	// Modules holds the state of the tunnel modules; a module not in
	// the map is missing.
	Modules map[string]ModuleState
	// BPFFS reports whether a bpf file system is mounted at BPFFSPath.
	BPFFS bool
	// MTU is the interface's MTU, 0 if unknown.
	MTU int
}

// DetectHost looks at the running machine: the kernel release, the tunnel
// modules (loaded per /proc/modules and /sys/module, built in per
// modules.builtin or the kernel configuration, loadable per modules.dep),
// the bpf file system and the MTU of iface (through netlink, so it answers
// for the network namespace of the calling thread). What cannot be read is
// left unknown.
func DetectHost(iface string) HostInfo {
	h := HostInfo{Modules: map[string]ModuleState{}}
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		h.Kernel = unix.ByteSliceToString(uts.Release[:])
	}
	loaded := readLoadedModules()
	modDir := filepath.Join("/lib/modules", h.Kernel)
	builtin := readModuleList(filepath.Join(modDir, "modules.builtin"))
	installed := readModuleList(filepath.Join(modDir, "modules.dep"))
	config := readKernelConfig(h.Kernel)
	for name, sym := range tunnelModules {
		switch {
		case loaded[name]:
			h.Modules[name] = ModuleLoaded
		case builtin[name] || config[sym] == "y":
			h.Modules[name] = ModuleBuiltin
		case installed[name]:
			h.Modules[name] = ModuleLoadable
		}
	}
	h.BPFFS = bpffsMounted()
	if iface != "" {
		if ifi, err := net.InterfaceByName(iface); err == nil {
			h.MTU = ifi.MTU
		}
	}
	return h
}

func readLoadedModules() map[string]bool {
	m := map[string]bool{}
	if b, err := os.ReadFile("/proc/modules"); err == nil {
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) > 0 {
				m[f[0]] = true
			}
		}
	}
	for name := range tunnelModules {
		// A module with a /sys/module entry but no /proc/modules line
		// is built in; /sys/module/NAME/initstate exists only for
		// loaded modules.
		if _, err := os.Stat(filepath.Join("/sys/module", name, "initstate")); err == nil {
			m[name] = true
		}
	}
	return m
}

// readModuleList reads modules.builtin or modules.dep: one path per line
// ("kernel/net/ipv4/ipip.ko" or "kernel/net/ipv4/ipip.ko.xz: deps"), and
// returns the module names (dashes as underscores, like modprobe).
func readModuleList(path string) map[string]bool {
	m := map[string]bool{}
	f, err := os.Open(path)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p, _, _ := strings.Cut(sc.Text(), ":")
		base := filepath.Base(strings.TrimSpace(p))
		if i := strings.Index(base, ".ko"); i > 0 {
			m[strings.ReplaceAll(base[:i], "-", "_")] = true
		}
	}
	return m
}

// readKernelConfig reads /proc/config.gz or /boot/config-RELEASE into
// symbol -> value ("y", "m").
func readKernelConfig(release string) map[string]string {
	var r io.Reader
	if b, err := os.ReadFile("/proc/config.gz"); err == nil {
		if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
			r = zr
		}
	}
	if r == nil {
		b, err := os.ReadFile("/boot/config-" + release)
		if err != nil {
			return nil
		}
		r = bytes.NewReader(b)
	}
	m := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.HasPrefix(k, "CONFIG_") {
			m[k] = v
		}
	}
	return m
}

// bpffsMounted reads /proc/self/mountinfo: "... MOUNTPOINT ... - bpf ...".
func bpffsMounted() bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) >= 5 && len(g) >= 1 && f[4] == BPFFSPath && g[0] == "bpf" {
			return true
		}
	}
	return false
}
