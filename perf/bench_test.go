package perf

import (
	"testing"

	"dsrlb/conf"
)

// Every benchmarked method's data plane configuration is valid.
func TestBenchConfigsParse(t *testing.T) {
	c := &BenchConfig{WorkerCPU: 1, Burst: 32, Dir: t.TempDir()}
	for m := range methodVIP {
		cfg, err := conf.Parse(m+".toml", []byte(dsrlbConfig(c, m, "/nonexistent.pcap", 8192, 256)))
		if err != nil {
			t.Errorf("%s: %v", m, err)
			continue
		}
		if len(cfg.Services) != 1 || cfg.Services[0].VIP != methodVIP[m] || len(cfg.Services[0].Backends) != 2 {
			t.Errorf("%s: services %+v", m, cfg.Services)
		}
	}
}
