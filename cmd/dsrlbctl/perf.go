package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"dsrlb/perf"
)

// genPcap writes a benchmark capture.
func genPcap(args []string) error {
	fs := flag.NewFlagSet("gen-pcap", flag.ContinueOnError)
	out := fs.String("o", "", "output file (required)")
	vip := fs.String("vip", "192.0.2.100", "destination VIP (IPv4 or IPv6)")
	port := fs.Uint("port", 80, "destination TCP port")
	flows := fs.Int("flows", 100000, "distinct TCP flows")
	packets := fs.Int("packets", 131072, "packets in the capture")
	sizes := fs.String("sizes", "64", `frame sizes: "64" or "imix"`)
	noise := fs.Float64("noise", 0, "fraction of packets to a non-VIP address (0..1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("gen-pcap: -o FILE is required")
	}
	a, err := netip.ParseAddr(*vip)
	if err != nil {
		return fmt.Errorf("gen-pcap: -vip: %w", err)
	}
	if *port == 0 || *port > 65535 {
		return errors.New("gen-pcap: -port must be 1..65535")
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	n, err := perf.WritePcap(f, perf.GenConfig{Flows: *flows, Packets: *packets, VIP: a, Port: uint16(*port),
		Sizes: perf.Sizes(*sizes), Noise: *noise})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*out)
		return fmt.Errorf("gen-pcap: %w", err)
	}
	fmt.Printf("%s: %d packets, %d flows to %s:%d, %s frames\n", *out, n, *flows, a, *port, *sizes)
	return nil
}

// bench runs the throughput benchmark against dpdk-testpmd.
func bench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	bin := fs.String("dataplane", "bin/dsrlb-dataplane", "data plane binary")
	methods := fs.String("methods", "l2dsr", "comma-separated forwarding methods")
	memory := fs.String("memory", perf.MemoryHuge, `comma-separated memory modes: "huge" (2 MiB hugepages, reserved for the run) and/or "nohuge"`)
	workers := fs.String("workers", "1", "comma-separated worker counts (1, 2)")
	cases := fs.String("cases", "", `explicit cases METHOD/MEMORY/WORKERS/FLOWS, comma-separated, or "default" for make bench's (then -methods, -memory, -workers and -flows are not used)`)
	sizes := fs.String("sizes", "64", `frame sizes: "64" or "imix"`)
	pairs := fs.Int("pairs", 3, "dsrlb/testpmd A/B pairs per method")
	burst := fs.Int("burst", 32, "packets per burst, for dsrlb and testpmd alike")
	warmup := fs.Duration("warmup", 2*time.Second, "warm-up before measuring")
	duration := fs.Duration("duration", 5*time.Second, "measuring window")
	flows := fs.Int("flows", 100000, "distinct TCP flows in the capture")
	packets := fs.Int("packets", 131072, "packets in the capture")
	mainCPU := fs.Int("main-cpu", 0, "CPU of the main lcore")
	workerCPU := fs.Int("cpu", 1, "CPU of the measured worker lcore")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pairs < 1 || *pairs > 50 {
		return errors.New("bench: -pairs must be 1..50")
	}
	var cs []perf.Case
	switch *cases {
	case "":
	case "default":
		cs = perf.DefaultCases()
	default:
		var err error
		if cs, err = perf.ParseCases(*cases); err != nil {
			return fmt.Errorf("bench: -cases: %w", err)
		}
	}
	var ws []int
	for _, w := range strings.Split(*workers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil {
			return fmt.Errorf("bench: -workers: %q is not a number", w)
		}
		ws = append(ws, n)
	}
	dir, err := os.MkdirTemp("", "dsrlb-bench")
	if err != nil {
		return err
	}
	// The programs' logs stay for a failed run: its error names them.
	keep := false
	defer func() {
		if !keep {
			os.RemoveAll(dir)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := perf.Run(ctx, perf.BenchConfig{
		Dataplane: *bin, Cases: cs, Methods: strings.Split(*methods, ","), Memory: strings.Split(*memory, ","), Workers: ws, Sizes: perf.Sizes(*sizes),
		Flows: *flows, Packets: *packets, Pairs: *pairs, Burst: *burst, Warmup: *warmup, Duration: *duration,
		MainCPU: *mainCPU, WorkerCPU: *workerCPU, Dir: dir, Log: os.Stdout,
	})
	if rep != nil && len(rep.Results) > 0 {
		fmt.Println()
		rep.Print(os.Stdout)
		if *jsonOut != "" {
			if werr := rep.WriteJSON(*jsonOut); werr != nil {
				return werr
			}
			fmt.Println("results written to", *jsonOut)
		}
	}
	if err != nil {
		keep = true
		return fmt.Errorf("bench: %w (logs kept in %s)", err, dir)
	}
	return nil
}
