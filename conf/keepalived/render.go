package keepalived

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// render writes the dsrlb configuration: a header with what was not
// converted, [dataplane], the services, the VRRP instances.
func (c *converter) render(source string, issues []Issue) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# dsrlb configuration converted by `dsrlbctl import keepalived` from %s.\n", oneLine(source))
	b.WriteString("# The comment after a value names the keepalived line it comes from.\n#\n")
	if len(issues) == 0 {
		b.WriteString("# Complete: nothing was left out.\n")
	} else {
		b.WriteString("# Not converted, or not as keepalived did it (also printed on stderr):\n")
		for _, is := range issues {
			b.WriteString("#   " + oneLine(is.String()) + "\n")
		}
	}
	for _, n := range c.notes {
		b.WriteString("# " + oneLine(n) + "\n")
	}
	b.WriteString("\n")
	c.dataplane(&b)
	for _, s := range c.services {
		b.WriteString("\n")
		s.t.write(&b, "")
		if s.check != nil {
			b.WriteString("\n")
			s.check.write(&b, "  ")
		}
		for i, bt := range s.backends {
			b.WriteString("\n")
			bt.write(&b, "  ")
			if s.checks[i] != nil {
				s.checks[i].write(&b, "    ")
			}
		}
	}
	for _, t := range c.vrrps {
		b.WriteString("\n")
		t.write(&b, "")
	}
	return []byte(b.String())
}

// pciRE matches a PCI address, with or without its domain.
var pciRE = regexp.MustCompile(`^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$`)

// dataplane writes [dataplane] and its port: the balancer's own part,
// which keepalived has not. With Options.Iface and Address it is complete;
// without, a commented template.
func (c *converter) dataplane(b *strings.Builder) {
	workers := c.opt.Workers
	if len(workers) == 0 {
		workers = []int{1}
	}
	mainCPU := 0
	for slices.Contains(workers, mainCPU) {
		mainCPU++
	}
	tap := c.opt.TAP
	if tap == "" {
		tap = "dsrlb0"
	}
	iface := c.opt.Iface
	if iface == "" && c.vrrpIface != nil {
		iface = c.vrrpIface.Arg(0)
	}
	if iface == "" {
		iface = "eth0"
	}
	device := "net_af_packet0,iface=" + iface
	deviceNote := "a NIC bound to DPDK: its PCI address instead, e.g. \"0000:01:00.0\""
	switch {
	case pciRE.MatchString(iface):
		device, deviceNote = strings.ToLower(iface), "a NIC bound to DPDK (vfio-pci)"
	case len(workers) > 1:
		device += fmt.Sprintf(",qpairs=%d", len(workers))
	}
	address := "192.0.2.10/24"
	if c.opt.Address.IsValid() {
		address = c.opt.Address.String()
	}

	dp := &table{header: "[dataplane]", comment: "the balancer's own part: keepalived has none"}
	dp.add("workers", tomlInts(workers), "CPU ids of the worker lcores")
	dp.add("main_cpu", tomlInt(int64(mainCPU)), "")
	dp.add("address", tomlString(address), "the balancer's own address, on the real servers' segment")
	if c.opt.Address6.IsValid() {
		dp.add("address6", tomlString(c.opt.Address6.String()), "its own IPv6 address")
	}
	dp.add("tap", tomlString(tap), "the exception path: VRRP and the health checks use it")
	port := &table{header: "[[dataplane.port]]"}
	port.add("name", tomlString("lan0"), "")
	port.add("device", tomlString(device), deviceNote)

	if c.opt.Iface != "" && c.opt.Address.IsValid() {
		dp.write(b, "")
		b.WriteString("\n")
		port.write(b, "")
		return
	}
	b.WriteString("# The balancer's own part, which keepalived has not: fill in [dataplane]\n")
	b.WriteString("# (README \"Configuration reference\"), or convert again with -iface IFACE\n")
	b.WriteString("# -address A.B.C.D/LEN. The file does not load without it.\n#\n")
	var t strings.Builder
	dp.write(&t, "")
	t.WriteString("\n")
	port.write(&t, "")
	for _, line := range strings.Split(strings.TrimSuffix(t.String(), "\n"), "\n") {
		if line == "" {
			b.WriteString("#\n")
			continue
		}
		b.WriteString("# " + line + "\n")
	}
}
