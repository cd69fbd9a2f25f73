//go:build e2e

package main

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"dsrlb/hw/testbed"
)

// TestDataplaneRestartKeepsFlows: a rate-limited 20 MB download through
// the VIP, and meanwhile the data plane is killed (SIGKILL), stopped
// (SIGTERM) or replaced by another binary, and started again. The new
// data plane has no connection table, but the same Maglev tables: the
// download's next packets reach the same real server and it completes
// intact. The outage is the longest pause of the download's data at the
// client, from a capture.
func TestDataplaneRestartKeepsFlows(t *testing.T) {
	for _, how := range []string{"kill -9", "SIGTERM", "upgrade"} {
		t.Run(how, func(t *testing.T) {
			b := newCtrlBed(t, 2, 0, httpCheck)
			capt := capture(t, b.L2, testbed.RoleClient, "client-data", "tcp and src host "+b.VIP.String())
			path := filepath.Join(b.Dir, "download.bin")
			dl, err := b.Start(testbed.RoleClient, "download", "curl", "-sS", "-m", "90", "--limit-rate", "1M",
				"-o", path, "http://"+b.VIP.String()+"/big.bin")
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for fi, err := os.Stat(path); err != nil || fi.Size() < 2<<20; fi, err = os.Stat(path) {
				if dl.Exited() || time.Now().After(deadline) {
					t.Fatalf("the download did not get going: %v\n%s", err, dl.Output())
				}
				time.Sleep(20 * time.Millisecond)
			}

			bin := dataplaneBin
			stopped := time.Now()
			switch how {
			case "kill -9":
				if err := syscall.Kill(b.dp.PID(), syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				_ = b.dp.Wait(10 * time.Second)
			case "SIGTERM", "upgrade":
				if err := b.dp.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
					t.Fatalf("data plane stop: %v", err)
				}
			}
			if how == "upgrade" {
				// Another binary file: an upgrade installs a new one.
				bin = filepath.Join(b.Dir, "dsrlb-dataplane.new")
				data, err := os.ReadFile(dataplaneBin)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(bin, data, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := os.ReadFile(b.ConfigPath())
			if err != nil {
				t.Fatal(err)
			}
			restart := time.Now()
			p, err := b.StartDataplane(bin, string(cfg))
			watchDataplane(t, p, err)
			b.dp = p
			forwarding := time.Now()
			b.waitLog(b.ctrl, "data plane found", stopped, 30*time.Second)

			if err := dl.Wait(90 * time.Second); err != nil {
				t.Fatalf("download across the restart: %v\n%s", err, dl.Output())
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(got)
			from := slices.IndexFunc([]int{0, 1}, func(i int) bool { return sum == sha256.Sum256(bigFile(i)) })
			if len(got) != 20<<20 || from < 0 {
				t.Fatalf("download across the restart: %d bytes, not one real server's file", len(got))
			}
			// The outage: the longest pause between the real server's
			// data packets while the data plane was away.
			var gap time.Duration
			var last time.Time
			for _, pkt := range packets(t, capt) {
				tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
				if !ok || len(tcp.Payload) == 0 {
					continue
				}
				at := pkt.Metadata().Timestamp
				if !last.IsZero() && at.After(stopped.Add(-time.Second)) && last.Before(forwarding.Add(5*time.Second)) {
					gap = max(gap, at.Sub(last))
				}
				last = at
			}
			t.Logf("%s: data plane away %s (stop to restart %s, start-up %s); the download (from rs%d) paused %s at most and completed intact",
				how, forwarding.Sub(stopped).Round(time.Millisecond), restart.Sub(stopped).Round(time.Millisecond),
				forwarding.Sub(restart).Round(time.Millisecond), from+1, gap.Round(time.Millisecond))
			if gap == 0 {
				t.Error("the capture saw no pause: the restart happened outside the download")
			}
		})
	}
}
