package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"dsrlb/ctrl/realserver"
)

// Exit status of dsrlbctl doctor.
const (
	doctorHealthy = 0 // nothing wrong, everything inspected
	doctorUnwell  = 1 // something wrong, or something could not be inspected
	doctorUsage   = 2 // bad flags
)

// runDoctor is `dsrlbctl doctor`.
func runDoctor(args []string) { os.Exit(doctorMain(args, os.Stdout, os.Stderr)) }

// doctorMain picks the doctor's mode and returns the exit status. With
// -method it is the real server's: it inspects this host's set-up for a
// forwarding method (doctorRealServer). Without, it is the balancer's
// (doctorBalancer: dsrlb-ctrl probes every real server through the DSR
// path; -c FILE or -socket PATH), which prints for each broken real server
// the real-server doctor's command line.
func doctorMain(args []string, stdout, stderr io.Writer) int {
	if !hasFlag(args, "method") && !hasFlag(args, "h") && !hasFlag(args, "help") {
		code, err := doctorBalancer(args)
		if err != nil {
			fmt.Fprintln(stderr, "dsrlbctl:", err)
		}
		return code
	}
	return doctorRealServer(args, stdout, stderr)
}

// hasFlag reports whether args set flag name (-name, --name, -name=V),
// up to the "--" that ends flags.
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		n, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if n == name {
			return true
		}
	}
	return false
}

// doctorRealServer inspects the local real server for the set-up that
// `dsrlbctl realserver` with the same flags makes, plus the service's
// listener, and prints each finding with the commands that fix it.
func doctorRealServer(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `usage: dsrlbctl doctor -method METHOD -vip ADDR [-vip ...] -iface IF [-port N] [flags]
       dsrlbctl doctor [-c FILE | -socket PATH] [-json]      (on the balancer)

On a real server (-method): inspects the set-up of a forwarding method (the
same flags as dsrlbctl realserver) and the listener of the service's port,
and prints each finding (ok, warning, PROBLEM, UNKNOWN: could not inspect)
with the commands that fix it: those dsrlbctl realserver prints, or the
removal of what is in the way. It only reads; run it as root, or nftables,
tc and bpftool cannot be read. Without -port (a service of every port) no
listener is checked.
On the balancer: dsrlb-ctrl probes every real server on its own address and
through the DSR path, and the report names the command to run on each
broken one.
Exit status: 0 nothing wrong, 1 something wrong or not inspected, 2 bad usage.

examples:
  dsrlbctl doctor -method l2dsr -vip 192.0.2.100 -iface eth0 -port 80
  dsrlbctl doctor -method dscp -dscp 192.0.2.100=10 -iface eth0 -self 192.0.2.21 -port 53 -proto udp
  dsrlbctl doctor -method gue -vip 192.0.2.100 -iface eth0 -self 192.0.2.21 -port 443 -json

flags:
`)
		fs.PrintDefaults()
	}
	sf := addSpecFlags(fs)
	port := fs.Uint("port", 0, "the service's port (none: a service of every port, no listener checked)")
	proto := fs.String("proto", "tcp", "the service's protocol: tcp or udp")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on the inspection commands after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return doctorHealthy
		}
		return doctorUsage
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "dsrlbctl doctor: "+format+"\n", a...)
		return doctorUsage
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	spec, err := sf.spec("doctor")
	if err != nil {
		fmt.Fprintln(stderr, "dsrlbctl", err)
		return doctorUsage
	}
	if *port > 65535 {
		return bad("-port %d out of range 1..65535", *port)
	}
	svc := realserver.Service{Proto: *proto, Port: uint16(*port)}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	report, err := realserver.Examine(ctx, spec, svc, realserver.DetectHost(spec.Interface), realserver.SystemHost{})
	if err != nil {
		return bad("%v", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(report)
	} else {
		err = report.Format(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "dsrlbctl doctor:", err)
		return doctorUnwell
	}
	if !report.Healthy() {
		return doctorUnwell
	}
	return doctorHealthy
}
