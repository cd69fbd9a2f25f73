package hw

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"

	"dsrlb/conf"
	"dsrlb/dpdk"
)

// The EAL starts once per process: TestMain starts it for the package's
// tests with two null devices, which Open can configure and start like
// any port.
func TestMain(m *testing.M) {
	runtime.LockOSThread()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "hw tests need root (DPDK opens /dev and hugepage files)")
		os.Exit(1)
	}
	err := dpdk.EALInit([]string{"--no-huge", "-m", "128", "--no-shconf", "--no-pci", "-l", "0",
		"--log-level=lib.eal:error", "--vdev=net_null0", "--vdev=net_null1"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "EAL init:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := dpdk.EALCleanup(); err != nil {
		fmt.Fprintln(os.Stderr, "EAL cleanup:", err)
		code = 1
	}
	os.Exit(code)
}

// TestOpenLogsPort starts a net_null port with two queue pairs and reads
// its start log: one line with the driver, the queues and descriptors, the
// RSS hash, and the offloads split into those the device does and those
// done in software (net_null has RSS and neither checksum nor fast free).
func TestOpenLogsPort(t *testing.T) {
	cfg, err := conf.Parse("hw.toml", []byte(`[dataplane]
workers = [0, 1]
address = "192.0.2.10/24"
share_main_cpu = true
[[dataplane.port]]
name = "null0"
device = "net_null0"
rx_descriptors = 512
tx_descriptors = 256
`))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := dpdk.NewPktPool("hw_test", 2047, 32, 2176, -1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	p, err := Open(cfg, 0, 2, pool, log)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one log line, got %d:\n%s", len(lines), buf.String())
	}
	want := fmt.Sprintf(`level=INFO msg="port started" port=null0 driver=net_null device=net_null0 socket=%d mac=%s mtu=1500 `+
		`queues=2 rx_descriptors=512 tx_descriptors=256 rss=ip,tcp,udp offloads=rss software=rx_ipv4_checksum,tx_ipv4_checksum,tx_udp_checksum,tx_mbuf_fast_free link_up=`,
		p.Info.Socket, p.MAC)
	if !strings.HasPrefix(lines[0], want) {
		t.Errorf("start log\n got %s\nwant %s...", lines[0], want)
	}
	if !p.RSS || p.RxIPChecksum {
		t.Errorf("RSS %v, RxIPChecksum %v", p.RSS, p.RxIPChecksum)
	}
}
