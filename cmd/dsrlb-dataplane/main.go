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
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("dsrlb-dataplane", flag.ContinueOnError)
	path := fs.String("c", "/etc/dsrlb/dsrlb.toml", "configuration file")
	check := fs.Bool("check", false, "validate the configuration and the host, then exit (0: valid, 1: not)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of the whole run to this file (for tuning)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(os.Stderr, "dsrlb-dataplane: bad -log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))

	cfg, err := conf.Load(*path)
	if err == nil {
		err = conf.CheckHost(cfg)
	}
	if err != nil {
		printErr(err)
		return 1
	}
	if *check {
		fmt.Printf("%s: configuration OK (%d services, %d ports, %d workers)\n",
			*path, len(cfg.Services), len(cfg.Dataplane.Ports), len(cfg.Dataplane.Workers))
		return 0
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "dsrlb-dataplane: -cpuprofile:", err)
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
		printErr(err)
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
func printErr(err error) {
	for _, line := range conf.ErrorLines(err) {
		fmt.Fprintln(os.Stderr, "dsrlb-dataplane:", line)
	}
}
