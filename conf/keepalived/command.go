package keepalived

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"dsrlb/conf"
)

// Exit statuses of Main (`dsrlbctl import keepalived`).
const (
	ExitComplete  = 0 // converted completely
	ExitOmissions = 1 // written; what was not converted is listed on stderr
	ExitError     = 2 // nothing written: usage, syntax, include or block errors
)

const usageText = `usage: dsrlbctl import keepalived [-o FILE] [-iface IFACE -address A.B.C.D/LEN [-address6 X::Y/LEN]] [-workers 1,2] [-tap NAME] KEEPALIVED.CONF

Writes the dsrlb configuration converted from a keepalived configuration
(and the files it includes) to stdout or -o FILE; each value's comment names
the keepalived line it comes from. What is not converted, or not as
keepalived did it, is listed on stderr as FILE:LINE: keyword: why.

Without -iface and -address, [dataplane] (the balancer's own part, which
keepalived has not) is a commented template to fill in.

exit status: 0 converted completely; 1 written, with what was not converted
(and, with -iface, what dsrlb would refuse) listed on stderr; 2 nothing
written (usage error, unreadable file, syntax error, include loop, unknown
block).

flags:
`

// Main runs `dsrlbctl import keepalived` with args (after "keepalived")
// and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import keepalived", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	out := fs.String("o", "", "write the configuration to this file instead of stdout (replaced only when the conversion succeeds)")
	iface := fs.String("iface", "", "the balancer's port: a kernel interface (net_af_packet) or the PCI address of a NIC bound to DPDK")
	address := fs.String("address", "", "the balancer's own IPv4 address with its prefix length, e.g. 192.0.2.10/24")
	address6 := fs.String("address6", "", "the balancer's own IPv6 address with its prefix length, for IPv6 services (with -iface)")
	workers := fs.String("workers", "1", "CPU ids of the worker lcores, comma-separated")
	tap := fs.String("tap", "dsrlb0", "name of the exception path's interface (VRRP and health checks use it)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitComplete
		}
		return ExitError
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "dsrlbctl import keepalived: "+format+"\n", a...)
		fmt.Fprintln(stderr, "run 'dsrlbctl import keepalived -h' for usage")
		return ExitError
	}
	if fs.NArg() != 1 {
		return usageErr("want one keepalived configuration file, got %d arguments", fs.NArg())
	}
	opt := Options{Iface: *iface, TAP: *tap}
	if (*iface == "") != (*address == "") {
		return usageErr("-iface and -address go together: both make a working [dataplane], neither a template")
	}
	if *address != "" {
		p, err := netip.ParsePrefix(*address)
		if err != nil || !p.Addr().Is4() {
			return usageErr("-address %q: want the balancer's IPv4 address with its prefix length, e.g. 192.0.2.10/24", *address)
		}
		opt.Address = p
	}
	if *address6 != "" {
		p, err := netip.ParsePrefix(*address6)
		if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
			return usageErr("-address6 %q: want the balancer's IPv6 address with its prefix length, e.g. 2001:db8::10/64", *address6)
		}
		if *iface == "" {
			return usageErr("-address6 needs -iface and -address")
		}
		opt.Address6 = p
	}
	for _, w := range strings.Split(*workers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 0 || n > 1023 {
			return usageErr("-workers %q: want CPU ids 0..1023, comma-separated", *workers)
		}
		opt.Workers = append(opt.Workers, n)
	}

	file := fs.Arg(0)
	nodes, err := Load(OSFiles{}, file)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitError
	}
	res, err := Convert(file, nodes, opt)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return ExitError
	}
	status := ExitComplete
	for _, is := range res.Issues {
		fmt.Fprintln(stderr, is)
		status = ExitOmissions
	}
	// A complete [dataplane] makes a file dsrlb loads: say where it would
	// refuse it (on-link real servers, VRRP's address, ...).
	if opt.Iface != "" {
		name := *out
		if name == "" {
			name = "stdout"
		}
		if _, err := conf.Parse(name, res.TOML); err != nil {
			for _, line := range conf.ErrorLines(err) {
				fmt.Fprintln(stderr, line)
			}
			status = ExitOmissions
		}
	}
	if *out == "" {
		if _, err := stdout.Write(res.TOML); err != nil {
			fmt.Fprintln(stderr, "dsrlbctl import keepalived:", err)
			return ExitError
		}
		return status
	}
	if err := writeFile(*out, res.TOML); err != nil {
		fmt.Fprintln(stderr, "dsrlbctl import keepalived:", err)
		return ExitError
	}
	return status
}

// writeFile replaces name with data at once (a temporary file renamed),
// so that a failed write leaves the old file.
func writeFile(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
