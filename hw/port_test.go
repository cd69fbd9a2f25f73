package hw

import (
	"slices"
	"testing"

	"dsrlb/conf"
)

func TestEALArgs(t *testing.T) {
	dp := &conf.Dataplane{
		MainCPU: 2,
		EALArgs: []string{"--no-huge", "-m", "256"},
		Ports: []conf.Port{
			{Device: "net_af_packet0,iface=eth0", IsVdev: true},
			{Device: "net_tap0,iface=dsrlb0", IsVdev: true},
		},
	}
	want := []string{"-l", "2", "--vdev=net_af_packet0,iface=eth0", "--vdev=net_tap0,iface=dsrlb0", "--no-pci", "--no-huge", "-m", "256"}
	if got := EALArgs(dp); !slices.Equal(got, want) {
		t.Fatalf("vdev-only args %q, want %q", got, want)
	}
	dp.Ports = append(dp.Ports, conf.Port{Device: "0000:01:00.0"})
	got := EALArgs(dp)
	if slices.Contains(got, "--no-pci") || !slices.Contains(got, "0000:01:00.0") {
		t.Fatalf("with a PCI port: %q", got)
	}
}

func TestClampDesc(t *testing.T) {
	for _, c := range []struct{ n, lo, hi, want int }{
		{1024, 64, 4096, 1024}, {8192, 64, 4096, 4096}, {32, 64, 4096, 64}, {1024, 0, 0, 1024},
	} {
		if got := clampDesc(c.n, uint16(c.lo), uint16(c.hi)); got != c.want {
			t.Errorf("clampDesc(%d, %d, %d) = %d, want %d", c.n, c.lo, c.hi, got, c.want)
		}
	}
}
