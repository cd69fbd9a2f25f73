// Command dsrlbctl is dsrlb's operator tool.
//
//	dsrlbctl demo [-dataplane PATH] [-requests N]
//	dsrlbctl bench [-methods l2dsr] [-pairs 3] [-duration 5s] [-json FILE]
//	dsrlbctl gen-pcap -o FILE [-flows N] [-packets N] [-sizes 64|imix] [-vip ADDR] [-noise F]
//	dsrlbctl status [-socket PATH | -c FILE] [-json]
//	dsrlbctl reload [-socket PATH | -c FILE]
//	dsrlbctl stats [-socket PATH | -c FILE] [-rate] [-interval 1s] [-json]
//	dsrlbctl realserver -method M -vip ADDR -iface IF [-self ADDR] [-dscp VIP=N] [-decap auto|kernel|ebpf] [-clamp-mss] [-apply] [-teardown]
//	dsrlbctl import keepalived [-o FILE] [-iface IFACE -address A.B.C.D/LEN] [-workers 1,2] KEEPALIVED.CONF
//	dsrlbctl doctor -method M -vip ADDR -iface IF [-port N] [-proto tcp|udp] [realserver's flags] [-json]   (on a real server)
//	dsrlbctl doctor [-socket PATH | -c FILE] [-json]   (on the balancer)
//
// demo builds a throw-away L2 DSR topology in network namespaces (a client,
// the balancer, two nginx real servers on one bridge), runs the data plane,
// shows curl answers alternating between the servers and a capture that
// proves the replies bypass the balancer, then removes everything.
// realserver prints (or, with -apply, runs) the commands that prepare a real
// server for a forwarding method: the VIPs on lo, ARP and ND suppression,
// the DSCP rule, tunnel decapsulation. import converts a keepalived
// configuration (exit status 0 complete, 1 written with omissions listed on
// stderr, 2 nothing written).
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "demo":
		err = demo(os.Args[2:])
	case "bench":
		err = bench(os.Args[2:])
	case "gen-pcap":
		err = genPcap(os.Args[2:])
	case "status":
		err = status(os.Args[2:])
	case "reload":
		err = reload(os.Args[2:])
	case "stats":
		err = stats(os.Args[2:])
	case "realserver":
		err = realServer(os.Args[2:])
	case "import":
		runImport(os.Args[2:])
	case "doctor":
		runDoctor(os.Args[2:])
	case "help", "-h", "--help":
		usage()
		return
	default:
		fmt.Fprintf(os.Stderr, "dsrlbctl: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dsrlbctl:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: dsrlbctl COMMAND [flags]

commands:
  demo       build a namespace test bed, run the data plane, show L2 DSR at work, tear down
  bench      throughput of dsrlb-dataplane against dpdk-testpmd macswap on the same core
  gen-pcap   write a benchmark capture (TCP flows to a VIP; 64-byte or IMIX; IPv6; noise)
  status     services, real servers' health and effective weights, data plane counters (from dsrlb-ctrl)
  reload     make dsrlb-ctrl re-read its configuration; prints "reloaded" or the errors
  stats      per-service and per-real-server active and inactive connections, new connections, packets, bytes (-rate: per second), like ipvsadm -Ln --stats
  realserver print or apply a real server's set-up for a forwarding method (VIP on lo, ARP, DSCP rule, tunnel decap)
  import     convert a keepalived configuration: dsrlbctl import keepalived [-o FILE] [-iface IF -address A.B.C.D/LEN] FILE
  doctor     on a real server (-method ...): what is wrong with its set-up and the commands that fix it; on the balancer: every real server's DSR path probed
`)
}
