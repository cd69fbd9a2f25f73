// Command dsrlb-ctrl is dsrlb's control process: it runs the health checks
// of the real servers, decides which of them (or the sorry server) each
// service forwards to, and keeps the data plane (dsrlb-dataplane) in step
// through their shared-memory file. dsrlbctl talks to it over a Unix
// socket (status, reload).
//
//	dsrlb-ctrl -c /etc/dsrlb/dsrlb.toml [-log-level info]
//	dsrlb-ctrl -check -c /etc/dsrlb/dsrlb.toml
//
// SIGHUP reloads the configuration; SIGINT and SIGTERM stop it, leaving the
// data plane forwarding with its last state.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"dsrlb/conf"
	"dsrlb/ctrl"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("dsrlb-ctrl", flag.ContinueOnError)
	path := fs.String("c", "/etc/dsrlb/dsrlb.toml", "configuration file")
	check := fs.Bool("check", false, "validate the configuration and the host, then exit (0: valid, 1: not)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "dsrlb-ctrl: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(os.Stderr, "dsrlb-ctrl: bad -log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))

	if *check {
		cfg, err := conf.Load(*path)
		if err == nil {
			err = conf.CheckScripts(cfg)
		}
		if err != nil {
			printErr(err)
			return 1
		}
		checked := 0
		for _, s := range cfg.Services {
			for _, b := range s.Backends {
				if b.Check != nil {
					checked++
				}
			}
		}
		fmt.Printf("%s: configuration OK (%d services, %d health-checked real servers, socket %s)\n",
			*path, len(cfg.Services), checked, cfg.Ctrl.Socket)
		return 0
	}

	d, err := ctrl.New(ctrl.Options{ConfigPath: *path, Log: log})
	if err != nil {
		printErr(err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, a second one ends the process at once
		// (the default action), even during a BGP drain.
		<-ctx.Done()
		stop()
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			log.Info("reload requested", "signal", "SIGHUP")
			// Reload logs its errors itself.
			_ = d.Reload(ctx)
		}
	}()
	if err := d.Run(ctx); err != nil {
		log.Error("dsrlb-ctrl failed", "err", err)
		return 1
	}
	return 0
}

// printErr writes each joined error on its own line.
func printErr(err error) {
	for _, line := range conf.ErrorLines(err) {
		fmt.Fprintln(os.Stderr, "dsrlb-ctrl:", line)
	}
}
