package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"dsrlb/conf"
	"dsrlb/ctrl"
)

// ctlFlags are the flags status and reload share: where dsrlb-ctrl's
// socket is.
func ctlFlags(name string) (*flag.FlagSet, func() (string, error)) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	socket := fs.String("socket", conf.DefaultSocket, "dsrlb-ctrl's Unix socket")
	config := fs.String("c", "", "take the socket path from this configuration file ([ctrl] socket)")
	return fs, func() (string, error) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if fs.NArg() > 0 {
			return "", fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
		}
		if *config == "" {
			return *socket, nil
		}
		if set["socket"] {
			return "", fmt.Errorf("%s: give -socket or -c, not both", name)
		}
		sock, err := conf.CtrlSocket(*config)
		if err != nil {
			return "", fmt.Errorf("%s: -c: %w", name, err)
		}
		return sock, nil
	}
}

// status prints dsrlb-ctrl's view: services, real servers, data plane,
// counters.
func status(args []string) error {
	fs, socket := ctlFlags("status")
	asJSON := fs.Bool("json", false, "print the raw status as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path, err := socket()
	if err != nil {
		return err
	}
	resp, err := ctrl.Call(path, ctrl.Request{Cmd: "status"})
	if err != nil {
		return err
	}
	if !resp.OK || resp.Status == nil {
		return fmt.Errorf("status: %s", resp.Error)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(resp.Status)
	}
	return resp.Status.WriteText(os.Stdout, time.Now())
}

// stats prints the per-service and per-real-server connections now
// (ipvsadm -Ln's ActiveConn, InActConn) and counters, or with -rate the
// counters' rates over -interval, as ipvsadm -Ln --stats / --rate do.
func stats(args []string) error {
	fs, socket := ctlFlags("stats")
	asJSON := fs.Bool("json", false, "print the rows as JSON")
	rates := fs.Bool("rate", false, "print rates (new flows, packets and bytes per second) over -interval")
	interval := fs.Duration("interval", time.Second, "the interval of -rate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path, err := socket()
	if err != nil {
		return err
	}
	get := func() (*ctrl.Status, error) {
		resp, err := ctrl.Call(path, ctrl.Request{Cmd: "status"})
		if err != nil {
			return nil, err
		}
		if !resp.OK || resp.Status == nil {
			return nil, fmt.Errorf("stats: %s", resp.Error)
		}
		return resp.Status, nil
	}
	st, err := get()
	if err != nil {
		return err
	}
	var prev *ctrl.Status
	if *rates {
		if *interval <= 0 {
			return errors.New("stats: -interval must be positive")
		}
		start := time.Now()
		time.Sleep(*interval)
		prev = st
		if st, err = get(); err != nil {
			return err
		}
		*interval = time.Since(start)
	}
	rows := ctrl.StatsRows(st, prev, *interval)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	return ctrl.WriteStats(os.Stdout, rows, *rates)
}

// reload asks dsrlb-ctrl to re-read its configuration file.
func reload(args []string) error {
	fs, socket := ctlFlags("reload")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path, err := socket()
	if err != nil {
		return err
	}
	resp, err := ctrl.Call(path, ctrl.Request{Cmd: "reload"})
	if err != nil {
		return err
	}
	if !resp.OK {
		for _, e := range resp.Errors {
			fmt.Fprintln(os.Stderr, "dsrlbctl:", e)
		}
		if len(resp.Errors) > 0 {
			return errors.New("reload failed: dsrlb-ctrl keeps running the previous configuration")
		}
		return fmt.Errorf("reload failed: %s", resp.Error)
	}
	fmt.Println("reloaded")
	return nil
}
