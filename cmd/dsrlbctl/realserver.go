package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"dsrlb/ctrl/realserver"
)

// addrList is a repeatable flag of addresses; one value may also hold
// several, comma-separated.
type addrList []netip.Addr

func (l *addrList) String() string {
	s := make([]string, len(*l))
	for i, a := range *l {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

func (l *addrList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		*l = append(*l, a)
	}
	return nil
}

// dscpList is the repeatable -dscp VIP=CODE.
type dscpList map[netip.Addr]uint8

func (d dscpList) String() string { return "" }

func (d dscpList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		vip, code, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			return fmt.Errorf("%q: want VIP=CODE", f)
		}
		a, err := netip.ParseAddr(vip)
		if err != nil {
			return err
		}
		c, err := strconv.ParseUint(code, 10, 8)
		if err != nil {
			return fmt.Errorf("%q: code: want 1..63", f)
		}
		if _, dup := d[a]; dup {
			return fmt.Errorf("%s: code given twice", a)
		}
		d[a] = uint8(c)
	}
	return nil
}

// specFlags are the flags that describe a real server's set-up, shared by
// realserver and doctor.
type specFlags struct {
	method, iface, decap, bpfObject, style *string
	vips, self                             addrList
	dscp                                   dscpList
	guePort                                *uint
	clampMSS                               *bool
	pathMTU                                *int
}

func addSpecFlags(fs *flag.FlagSet) *specFlags {
	f := &specFlags{dscp: dscpList{}}
	f.method = fs.String("method", "", "forwarding method: l2dsr, dscp, ipip, gre or gue")
	fs.Var(&f.vips, "vip", "a VIP (repeatable, or comma-separated)")
	fs.Var(f.dscp, "dscp", "VIP=CODE for method dscp, code 1..63 (repeatable; also adds the VIP)")
	f.iface = fs.String("iface", "", "the interface facing the balancer")
	fs.Var(&f.self, "self", "the real server's own address the balancer sends to (repeatable; tunnels, dscp)")
	f.guePort = fs.Uint("gue-port", 0, fmt.Sprintf("UDP port of gue (default %d)", realserver.DefaultGUEPort))
	f.decap = fs.String("decap", realserver.DecapAuto, "tunnel decapsulation: auto, kernel or ebpf")
	f.bpfObject = fs.String("bpf-object", "", "path of dsrlb-decap.o (default: next to dsrlbctl, else "+installedBPFObject+")")
	f.clampMSS = fs.Bool("clamp-mss", false, "tunnels: lower the MSS of the SYN-ACKs from the VIPs so encapsulated requests fit")
	f.pathMTU = fs.Int("path-mtu", 0, "MTU from the balancer to this server for -clamp-mss (default: the interface's)")
	f.style = fs.String("style", realserver.StyleVIP, "l2dsr: vip (VIPs on lo, ARP suppressed) or redirect (an nftables redirect of the VIPs, nothing on lo)")
	return f
}

// spec builds and validates the Spec the parsed flags describe; errors
// start with cmd.
func (f *specFlags) spec(cmd string) (realserver.Spec, error) {
	if *f.guePort > 65535 {
		return realserver.Spec{}, fmt.Errorf("%s: -gue-port %d out of range", cmd, *f.guePort)
	}
	vips := slices.Clone(f.vips)
	for _, a := range slices.SortedFunc(maps.Keys(f.dscp), netip.Addr.Compare) {
		if !slices.Contains(vips, a) {
			vips = append(vips, a)
		}
	}
	m, err := realserver.ParseMethod(*f.method)
	if err != nil {
		return realserver.Spec{}, fmt.Errorf("%s: -method: %w", cmd, err)
	}
	spec := realserver.Spec{
		Method:    m,
		VIPs:      vips,
		Interface: *f.iface,
		Self:      f.self,
		GUEPort:   uint16(*f.guePort),
		Decap:     *f.decap,
		BPFObject: *f.bpfObject,
		ClampMSS:  *f.clampMSS,
		PathMTU:   *f.pathMTU,
		Style:     *f.style,
	}
	if len(f.dscp) > 0 {
		spec.DSCP = f.dscp
	}
	if spec.BPFObject == "" && spec.Method.Tunnels() {
		spec.BPFObject = defaultBPFObject()
	}
	if err := spec.Validate(); err != nil {
		return realserver.Spec{}, fmt.Errorf("%s: invalid set-up:\n  %s", cmd, strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	return spec, nil
}

// realServer prints, applies or tears down the set-up a real server needs
// for one forwarding method.
func realServer(args []string) error {
	fs := flag.NewFlagSet("realserver", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: dsrlbctl realserver -method METHOD -vip ADDR [-vip ...] -iface IF [flags]

Prints the commands a Linux real server needs for dsrlb's forwarding method
(l2dsr, dscp, ipip, gre, gue) as a commented shell script; -apply runs them
(as root), -teardown prints or applies their undoing.

examples:
  dsrlbctl realserver -method l2dsr -vip 192.0.2.100 -iface eth0
  dsrlbctl realserver -method dscp -dscp 192.0.2.100=10 -dscp 192.0.2.101=11 -iface eth0 -self 192.0.2.21
  dsrlbctl realserver -method gre -vip 192.0.2.100 -vip 2001:db8::100 -iface eth0 -self 192.0.2.21 -self 2001:db8::21 -apply

flags:
`)
		fs.PrintDefaults()
	}
	sf := addSpecFlags(fs)
	apply := fs.Bool("apply", false, "run the commands instead of printing them (root)")
	teardown := fs.Bool("teardown", false, "undo the set-up (print, or run with -apply)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("realserver: unexpected argument %q", fs.Arg(0))
	}
	spec, err := sf.spec("realserver")
	if err != nil {
		return err
	}

	host := realserver.DetectHost(spec.Interface)
	build := realserver.Plan
	if *teardown {
		build = realserver.Teardown
	}
	steps, err := build(spec, host)
	if err != nil {
		return fmt.Errorf("realserver: %w", err)
	}
	if !*apply {
		return realserver.Format(os.Stdout, steps)
	}
	if os.Geteuid() != 0 {
		return errors.New("realserver: -apply needs root")
	}
	if _, err := net.InterfaceByName(spec.Interface); err != nil && !*teardown {
		return fmt.Errorf("realserver: interface %s: %w", spec.Interface, err)
	}
	if !*teardown && usesBPF(steps) {
		if _, err := os.Stat(spec.BPFObject); err != nil {
			return fmt.Errorf("realserver: the decap program: %w (build it with make bpf, or give -bpf-object)", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realserver.ApplyWith(ctx, steps, realserver.ExecRunner, os.Stderr); err != nil {
		if !*teardown {
			fmt.Fprintln(os.Stderr, "dsrlbctl: the steps before the failed one stay applied; undo them with -teardown -apply")
		}
		return fmt.Errorf("realserver: %w", err)
	}
	if *teardown {
		fmt.Println("real server set-up removed")
	} else {
		fmt.Println("real server set up")
	}
	return nil
}

// installedBPFObject is where the Debian package installs dsrlb-decap.o.
const installedBPFObject = "/usr/lib/dsrlb/dsrlb-decap.o"

// defaultBPFObject is dsrlb-decap.o next to the running dsrlbctl, where
// make bpf puts it, else the Debian package's.
func defaultBPFObject() string {
	dir := "."
	if exe, err := os.Executable(); err == nil {
		dir = filepath.Dir(exe)
	}
	return firstExisting(filepath.Join(dir, "dsrlb-decap.o"), installedBPFObject)
}

// firstExisting returns the first path that exists, or the first path if
// none does (so that the error names it).
func firstExisting(paths ...string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return paths[0]
}

func usesBPF(steps []realserver.Step) bool {
	for _, s := range steps {
		if len(s.Argv) > 1 && s.Argv[0] == "tc" && s.Argv[1] == "filter" {
			return true
		}
	}
	return false
}
