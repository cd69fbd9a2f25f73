package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gopacket/gopacket/layers"

	"dsrlb/hw/testbed"
)

func demo(args []string) (err error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	bin := fs.String("dataplane", "bin/dsrlb-dataplane", "data plane binary")
	requests := fs.Int("requests", 20, "HTTP requests to send through the VIP (1..1000)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *requests < 1 || *requests > 1000 {
		return errors.New("-requests must be 1..1000")
	}
	if _, err := os.Stat(*bin); err != nil {
		return fmt.Errorf("data plane binary: %w (run make build)", err)
	}
	dir, err := os.MkdirTemp("", "dsrlb-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, err := testbed.New(dir, nil)
	if err != nil {
		return err
	}
	// Tear down on every way out, Ctrl-C included.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Println("\ninterrupted: tearing down")
		_ = b.Close()
		os.Exit(130)
	}()
	defer func() {
		fmt.Println("\n== tearing down: processes, namespaces, veths")
		if cerr := b.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		} else {
			fmt.Println("   done, nothing left behind")
		}
	}()

	step("building the topology (network namespaces %s-*)", b.Prefix)
	topo, err := testbed.SetupL2(b, 2)
	if err != nil {
		return err
	}
	fmt.Printf(`
     client %-12s --+
     rs1    %-12s --+-- bridge --+-- balancer (DPDK af_packet on eth0, own address %s)
     rs2    %-12s --+
     VIP    %s on the balancer; on the real servers' loopback with arp_ignore=1, arp_announce=2
`, topo.Client, topo.Servers[0], topo.LB, topo.Servers[1], topo.VIP)

	step("starting nginx on rs1 and rs2, bound to the VIP")
	for i := range topo.Servers {
		role := testbed.ServerRole(i)
		if _, err := b.StartNginx(role, map[string][]byte{"index.html": []byte("hello from " + role + "\n")}, topo.VIP); err != nil {
			return err
		}
	}

	step("starting dsrlb-dataplane in the balancer namespace")
	dp, err := topo.StartDataplane(*bin, topo.DataplaneConfig())
	if err != nil {
		return err
	}
	for _, line := range strings.Split(dp.Output(), "\n") {
		if strings.Contains(line, "resolved") || strings.Contains(line, "port started") {
			fmt.Println("   " + line)
		}
	}

	lbCap, err := b.StartCapture(testbed.RoleLB, "lb", "tcp port 80")
	if err != nil {
		return err
	}
	clientCap, err := b.StartCapture(testbed.RoleClient, "client", "tcp port 80")
	if err != nil {
		return err
	}
	step("client: %d requests to http://%s/", *requests, topo.VIP)
	counts := map[string]int{}
	for i := 0; i < *requests; i++ {
		out, err := topo.Exec(10*time.Second, testbed.RoleClient, "curl", "-sS", "-m", "3", "http://"+topo.VIP.String()+"/")
		out = strings.TrimSpace(out)
		if err != nil {
			out = "FAILED: " + out
		}
		counts[out]++
		fmt.Printf("   request %2d -> %s\n", i+1, out)
	}

	lbPkts, err := lbCap.Stop()
	if err != nil {
		return err
	}
	clientPkts, err := clientCap.Stop()
	if err != nil {
		return err
	}
	var toVIP, fromVIP int
	for _, p := range lbPkts {
		if ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ip != nil {
			if ip.DstIP.Equal(topo.VIP.AsSlice()) {
				toVIP++
			}
			if ip.SrcIP.Equal(topo.VIP.AsSlice()) {
				fromVIP++
			}
		}
	}
	lbMAC, err := topo.LBMAC()
	if err != nil {
		return err
	}
	var replies, viaLB int
	for _, p := range clientPkts {
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if ip != nil && eth != nil && ip.SrcIP.Equal(topo.VIP.AsSlice()) {
			replies++
			if eth.SrcMAC.String() == lbMAC {
				viaLB++
			}
		}
	}
	step("capture on the balancer's port: %d packets client->VIP, %d packets VIP->client", toVIP, fromVIP)
	step("capture at the client: %d reply packets from the VIP, sent by the real servers' MACs:", replies)
	shown := 0
	for _, l := range strings.Split(clientCap.Dump("-e", "src", topo.VIP.String()), "\n") {
		if l == "" || strings.HasPrefix(l, "reading from") || shown == 3 {
			continue
		}
		fmt.Println("   " + l)
		shown++
	}
	fmt.Printf("   replies with the balancer's MAC (%s) as source: %d\n", lbMAC, viaLB)
	if fromVIP == 0 && toVIP > 0 && replies > 0 && viaLB == 0 {
		fmt.Println("\n   => Direct Server Return: requests went through the balancer, replies did not.")
	} else {
		err = errors.New("the capture does not show DSR")
	}
	fmt.Printf("   answers per server: %v\n", counts)
	return err
}

func step(format string, args ...any) {
	fmt.Printf("\n== "+format+"\n", args...)
}
