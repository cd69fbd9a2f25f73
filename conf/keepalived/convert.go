package keepalived

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
)

// Options are the parts of a dsrlb configuration that keepalived's does
// not have: the balancer's own port and address. Without Iface and
// Address the [dataplane] table is written as a commented template.
type Options struct {
	// Iface is the port facing the real servers: a kernel interface name
	// (written as an af_packet device) or the PCI address of a NIC bound
	// to DPDK.
	Iface string
	// Address is the balancer's own IPv4 address with its on-link prefix.
	Address netip.Prefix
	// Address6 is its own IPv6 address, which IPv6 services need;
	// invalid = none.
	Address6 netip.Prefix
	// Workers are the CPU ids of the worker lcores; default [1].
	Workers []int
	// TAP is the exception path's interface, which VRRP and the health
	// checks use; default "dsrlb0".
	TAP string
}

// Result is a converted configuration.
type Result struct {
	TOML []byte
	// Issues is what the TOML does not do as the keepalived configuration
	// did, in file order. Empty means the conversion is complete.
	Issues []Issue
}

// Convert turns keepalived statements (from Load) into a dsrlb
// configuration. source names the keepalived file in the header comment.
// It returns an error, and no Result, when the input has blocks it does
// not know (a misspelt block would silently lose what it holds) or
// blocks that are malformed.
func Convert(source string, nodes []*Node, opt Options) (*Result, error) {
	c := &converter{opt: opt, groups: map[string]*Node{}, syncGroup: map[string]*Node{}, vips: map[netip.Addr]bool{}}
	c.top(nodes)
	order := map[string]int{}
	walk(nodes, func(n *Node) {
		if _, ok := order[n.Pos.File]; !ok {
			order[n.Pos.File] = len(order)
		}
	})
	if len(c.rep.errs) > 0 {
		slices.SortStableFunc(c.rep.errs, func(a, b *Error) int { return comparePos(order, a.Pos, b.Pos) })
		errs := make([]error, len(c.rep.errs))
		for i, e := range c.rep.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	issues := c.rep.sorted(order)
	return &Result{TOML: c.render(source, issues), Issues: issues}, nil
}

func walk(nodes []*Node, f func(*Node)) {
	for _, n := range nodes {
		f(n)
		walk(n.Children, f)
	}
}

type converter struct {
	opt Options
	rep report

	globals   globals
	groups    map[string]*Node // virtual_server_group by name
	syncGroup map[string]*Node // vrrp_sync_group by member instance
	notes     []string         // for the header: what was left out on purpose

	services []*service
	names    map[string]bool     // the services' names
	vips     map[netip.Addr]bool // the services' VIPs, which VRRP may carry

	vrrps       []*table
	instances   map[string]bool      // vrrp_instance names, for the sync groups
	vrrpIface   *Node                // the first instance's interface
	vipOwner    map[netip.Addr]*Node // the instance carrying a VIP
	syncMembers []member             // every vrrp_sync_group member, in order
}

// Top-level keywords that are understood but have no dsrlb equivalent,
// with the reason.
var topUnsupported = map[string]string{
	"vrrp_script":              "dsrlb tracks its own services' health, not scripts (see track_services)",
	"vrrp_track_process":       "dsrlb tracks its own services' health, not processes (see track_services)",
	"track_file":               "dsrlb tracks its own services' health, not files (see track_services)",
	"vrrp_track_file":          "dsrlb tracks its own services' health, not files (see track_services)",
	"garp_group":               "dsrlb has no gratuitous ARP rate groups (see garp_repeat, garp_delay)",
	"static_ipaddress":         "dsrlb does not configure the host's addresses",
	"static_routes":            "dsrlb does not configure the host's routes (see [[dataplane.route]] for real servers)",
	"static_rules":             "dsrlb does not configure the host's routing rules",
	"static_track_group":       "dsrlb does not configure the host's addresses",
	"linkbeat_interfaces":      "dsrlb watches its own port, not kernel interfaces",
	"interface_up_down_delays": "dsrlb watches its own port, not kernel interfaces",
	"SSL":                      "dsrlb's https checks use no client certificate",
	"bfd_instance":             "dsrlb has no BFD",
	"net_namespace":            "dsrlb does not run in a network namespace of its own",
	"net_namespace_ipvs":       "dsrlb does not use IPVS",
	"namespace_with_ipsets":    "dsrlb does not use ipsets",
	"instance":                 "dsrlb has no instance names",
	"use_pid_dir":              "dsrlb's processes keep no pid files",
	"child_wait_time":          "dsrlb's processes are not keepalived's children",
	"linkbeat_use_polling":     "dsrlb watches its own port, not kernel interfaces",
}

// top converts the top-level statements: the LVS part first, whose VIPs
// the VRRP instances must carry.
func (c *converter) top(nodes []*Node) {
	for _, n := range nodes {
		switch n.Key {
		case "global_defs":
			if c.needBlock(n) {
				c.globalDefs(n)
			}
		case "virtual_server_group":
			if c.needBlock(n) {
				if len(n.Args) != 1 {
					c.rep.fail(n, "virtual_server_group takes one name")
				} else if prev, dup := c.groups[n.Args[0]]; dup {
					c.rep.fail(n, "virtual_server_group %q is already defined at %s", n.Args[0], prev.Pos)
				} else {
					c.groups[n.Args[0]] = n
				}
			}
		case "vrrp_sync_group":
			if c.needBlock(n) {
				c.syncGroupDef(n)
			}
		case "virtual_server", "vrrp_instance":
			c.needBlock(n)
		default:
			if why, ok := topUnsupported[n.Key]; ok {
				c.rep.omit(n, "%s", why)
				continue
			}
			if n.Block {
				c.rep.fail(n, "unknown block %q", n.Key)
			} else {
				c.rep.fail(n, "unknown keyword %q at the top level", n.Key)
			}
		}
	}
	for _, n := range nodes {
		if n.Key == "virtual_server" && n.Block {
			c.virtualServer(n)
		}
	}
	for _, n := range nodes {
		if n.Key == "vrrp_instance" && n.Block {
			c.vrrpInstance(n)
		}
	}
	c.checkSyncGroups()
}

// needBlock reports whether n has a block, failing the conversion if not.
func (c *converter) needBlock(n *Node) bool {
	if !n.Block {
		c.rep.fail(n, "%s needs a { ... } block", n.Key)
		return false
	}
	return true
}

// noBlock checks that a keyword that takes values has no block: an
// unknown block inside is an error, like at the top level.
func (c *converter) noBlock(n *Node) bool {
	if n.Block {
		c.rep.fail(n, "%s takes no { ... } block", n.Key)
		return false
	}
	return true
}

// unknown handles a keyword a block does not know: a block is an error
// (it would hide what it holds), a value is reported.
func (c *converter) unknown(n *Node, where string) {
	if n.Block {
		c.rep.fail(n, "unknown block %q in %s", n.Key, where)
		return
	}
	c.rep.omit(n, "unknown keyword in %s", where)
}

// globals are the global_defs keywords a conversion uses.
type globals struct {
	vrrpVersion *Node
	garpDelay   *Node // vrrp_garp_master_delay
	garpRepeat  *Node
	garpRefresh *Node
}

// globalDefs reads the VRRP defaults of global_defs; the rest are the
// keepalived process's settings (e-mail, router id, script user, ...),
// noted in the header and not reported: dsrlb has its own.
func (c *converter) globalDefs(n *Node) {
	var ignored []string
	for _, k := range n.Children {
		switch k.Key {
		case "vrrp_version":
			c.globals.vrrpVersion = k
		case "vrrp_garp_master_delay":
			c.globals.garpDelay = k
		case "vrrp_garp_master_repeat":
			c.globals.garpRepeat = k
		case "vrrp_garp_master_refresh":
			c.globals.garpRefresh = k
		default:
			if !slices.Contains(ignored, k.Key) {
				ignored = append(ignored, k.Key)
			}
		}
	}
	if len(ignored) > 0 {
		c.notes = append(c.notes, n.Pos.String()+": global_defs: not converted (settings of the keepalived process): "+strings.Join(ignored, ", "))
	}
}
