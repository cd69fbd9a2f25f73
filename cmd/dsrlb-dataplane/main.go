// Command dsrlb-dataplane is dsrlb's DPDK data plane: it reads the TOML
// configuration, opens the ports, runs one worker lcore per configured CPU
// and forwards packets to real servers by Direct Server Return until
// SIGINT or SIGTERM. The runtime is package hw/dataplane.
//
//	dsrlb-dataplane -c /etc/dsrlb/dsrlb.toml
//	dsrlb-dataplane -check -c /etc/dsrlb/dsrlb.toml
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"dsrlb/conf"
	"dsrlb/hw/dataplane"
)

func init() {
	// rte_eal_init must run on the thread that stays the EAL main lcore.
	runtime.LockOSThread()
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// sysfsRootEnv, when set, makes the host check read sysfs below it instead
// of /sys: tests of -check point it at a fake tree of PCI devices, CPUs and
// NUMA nodes. Not for operators, hence not a flag.
const sysfsRootEnv = "DSRLB_SYSFS_ROOT"

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dsrlb-dataplane", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "/etc/dsrlb/dsrlb.toml", "configuration file")
	check := fs.Bool("check", false, "validate the configuration and the host, then exit (0: valid, 1: not)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of the whole run to this file (for tuning)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(stderr, "dsrlb-dataplane: bad -log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	cfg, err := conf.Load(*path)
	if err != nil {
		printErr(stderr, err)
		return 1
	}
	var host *conf.HostReport
	if root := os.Getenv(sysfsRootEnv); root != "" {
		host, err = conf.CheckHostSysfs(cfg, root)
	} else {
		host, err = conf.CheckHost(cfg)
	}
	if *check {
		// The ports as the host sees them on stdout; warnings, then
		// errors, on stderr.
		for _, p := range host.Ports {
			fmt.Fprintln(stdout, p)
		}
		if host.CPUs != nil {
			fmt.Fprintln(stdout, host.CPUs)
		}
		for _, w := range host.Warnings {
			fmt.Fprintln(stderr, "dsrlb-dataplane:", w)
		}
		if err != nil {
			printErr(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: configuration OK (%d services, %d ports, %d workers, %d warnings)\n",
			*path, len(cfg.Services), len(cfg.Dataplane.Ports), len(cfg.Dataplane.Workers), len(host.Warnings))
		return 0
	}
	if err != nil {
		printErr(stderr, err)
		return 1
	}
	for _, w := range host.Warnings {
		log.Warn("host check", "warning", w.String())
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "dsrlb-dataplane: -cpuprofile:", err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	dp, err := dataplane.Start(cfg, log)
	if err != nil {
		printErr(stderr, err)
		return 1
	}
	sig := dp.Serve(sigs)
	log.Info("stopping", "signal", sig.String())
	if err := dp.Shutdown(); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	return 0
}

// printErr writes each joined error on its own line.
func printErr(w io.Writer, err error) {
	for _, line := range conf.ErrorLines(err) {
		fmt.Fprintln(w, "dsrlb-dataplane:", line)
	}
}
