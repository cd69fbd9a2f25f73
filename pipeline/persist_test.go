package pipeline

import (
	"dsrlb/conf"
	"net/netip"
	"testing"

	"dsrlb/pipeline/header"
)

// persistConfig is schedConfig with persistence of timeout seconds over
// prefix bits of the client address.
func persistConfig(sch conf.Scheduler, timeout uint16, prefix uint8, weights ...uint32) *Config {
	c := schedConfig(sch, weights...)
	c.Services[0].PersistTimeout = timeout
	c.Services[0].PersistPrefix = prefix
	return c
}

func TestPersistenceHoldsAndExpires(t *testing.T) {
	clock := new(Clock)
	clock.Set(1000)
	pt := NewPersistTable(1024)
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 12, Clock: clock, Persist: pt})
	// rr alone alternates a, b: persistence makes a client stick.
	s := buildSched(t, persistConfig(conf.SchedRR, 60, 24, 1, 1), nil)
	x := netip.MustParseAddr("198.51.100.7")
	x2 := netip.MustParseAddr("198.51.100.99") // x's /24
	y := netip.MustParseAddr("198.51.101.7")
	z := netip.MustParseAddr("198.51.102.7")
	if a := sendTo(t, w, s, x, 1, "S"); a != rs1 {
		t.Fatalf("first connection to %v, want rr's first", a)
	}
	for i := range 10 {
		if a := sendTo(t, w, s, x, uint16(2+i), "S"); a != rs1 {
			t.Fatalf("connection %d of the client to %v, want rs1 (persisted)", i+2, a)
		}
		if a := sendTo(t, w, s, x2, uint16(100+i), "S"); a != rs1 {
			t.Fatalf("connection %d of the client's /24 neighbour to %v, want rs1", i, a)
		}
	}
	if a := sendTo(t, w, s, y, 1, "S"); a != rs2 {
		t.Fatalf("another /24's first connection to %v, want rr's next (rs2)", a)
	}
	// A reload that adds a server keeps the clients where they are.
	s2 := buildSched(t, persistConfig(conf.SchedRR, 60, 24, 1, 1, 1), s)
	if a := sendTo(t, w, s2, x, 50, "S"); a != rs1 {
		t.Fatalf("after a reload: %v, want rs1", a)
	}
	sendTo(t, w, s2, x, 50, "A") // established: it outlives the SYN timeout
	// The client's established flow keeps sending at t+50: its packets
	// refresh the entry, so at t+100 it is still persisted.
	clock.Set(1050)
	sendTo(t, w, s2, x, 50, "A")
	key := s2.services[0].persistKey4(addr4(x2))
	if r, ok := pt.lookup(key, 1110, 60); !ok || r != s2.services[0].hops[0].ref {
		t.Fatalf("the client's entry was not refreshed by its packet at t+50: %v %v", r, ok)
	}
	clock.Set(1100)
	if a := sendTo(t, w, s2, x2, 51, "S"); a != rs1 {
		t.Fatalf("50 s after the client's last packet: %v, want rs1", a)
	}
	// 61 s after its last packet the client is forgotten: its next
	// connection is scheduled (rr's next: z takes one pick first).
	clock.Set(1162)
	pick := sendTo(t, w, s2, z, 1, "S")
	next := map[netip.Addr]netip.Addr{rs1: rs2, rs2: rs3, rs3: rs1}[pick]
	if a := sendTo(t, w, s2, x, 60, "S"); a != next {
		t.Fatalf("after the timeout: %v, want rr's next (%v)", a, next)
	}
	w.Publish()
	if h := w.Shared.Load().PersistHits; h != 10+10+1+1 {
		t.Fatalf("persistence hits %d, want 22", h)
	}
}

// TestPersistenceReleasesFailedServer: a persisted server that is drained
// or inhibited (weight 0) or removed releases its clients at once; their
// open connections stay.
func TestPersistenceReleasesFailedServer(t *testing.T) {
	for _, how := range []string{"weight 0", "removed"} {
		t.Run(how, func(t *testing.T) {
			w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 12})
			s := buildSched(t, persistConfig(conf.SchedMaglev, 300, 32, 1, 1), nil)
			x := client
			first := sendTo(t, w, s, x, 1, "S")
			sendTo(t, w, s, x, 1, "A")
			c := persistConfig(conf.SchedMaglev, 300, 32, 1, 1)
			i := map[netip.Addr]int{rs1: 0, rs2: 1}[first]
			if how == "weight 0" {
				c.Services[0].Backends[i].Weight = 0
			} else {
				c.Services[0].Backends = append(c.Services[0].Backends[:i], c.Services[0].Backends[i+1:]...)
			}
			s2 := buildSched(t, c, s)
			other := map[netip.Addr]netip.Addr{rs1: rs2, rs2: rs1}[first]
			for p := range 5 {
				if a := sendTo(t, w, s2, x, uint16(10+p), "S"); a != other {
					t.Fatalf("new connection %d to %v, want %v", p, a, other)
				}
			}
			if how == "weight 0" {
				if a := sendTo(t, w, s2, x, 1, "A"); a != first {
					t.Fatalf("the open connection moved to %v", a)
				}
			}
			// The client is persisted to its new server now, even when
			// the old one comes back.
			s3 := buildSched(t, persistConfig(conf.SchedMaglev, 300, 32, 1, 1), s2)
			if a := sendTo(t, w, s3, x, 20, "S"); a != other {
				t.Fatalf("after the server came back: %v, want %v", a, other)
			}
		})
	}
}

// TestPersistenceSharedByWorkers: RSS spreads a client's connections over
// the workers; each finds the server the other chose.
func TestPersistenceSharedByWorkers(t *testing.T) {
	pt := NewPersistTable(1024)
	w0 := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 10, Persist: pt})
	w1 := NewWorkerWith(1, WorkerOptions{Conntrack: 1 << 10, Persist: pt})
	s := buildSched(t, persistConfig(conf.SchedRR, 60, 32, 1, 1), nil)
	// w1's round robin moves on with another client first.
	if a := sendTo(t, w1, s, netip.MustParseAddr("198.51.101.1"), 1, "S"); a != rs1 {
		t.Fatalf("w1 first pick %v", a)
	}
	if a := sendTo(t, w0, s, client, 1, "S"); a != rs1 {
		t.Fatalf("w0 first pick %v", a)
	}
	for i := range 10 {
		w := []*Worker{w0, w1}[i%2]
		if a := sendTo(t, w, s, client, uint16(2+i), "S"); a != rs1 {
			t.Fatalf("connection %d on worker %d to %v, want rs1", i, i%2, a)
		}
	}
}

func TestPersistenceIPv6Prefix(t *testing.T) {
	w := NewWorkerWith(0, WorkerOptions{Conntrack: 1 << 10})
	s := v6Snapshot(t, func(c *Config) {
		c.Services[0].Scheduler = conf.SchedRR
		c.Services[0].PersistTimeout = 60
		c.Services[0].PersistPrefix = 64
	})
	to := func(src string, port uint16) header.MAC {
		p, f := run(t, w, s, tcp6Frame(t, netip.MustParseAddr(src), vip6, port, 80, 0))
		if p.Verdict != Forward {
			t.Fatalf("%s: %v", src, p.Verdict)
		}
		return header.Ethernet(f).Dst()
	}
	first := to("2001:db8:c::7", 1)
	for i := range 6 {
		if m := to("2001:db8:c::"+string(rune('a'+i)), uint16(2+i)); m != first {
			t.Fatalf("client %d of the /64 went to %v, want %v", i, m, first)
		}
	}
	if m := to("2001:db8:d::7", 1); m == first {
		t.Fatalf("another /64 went to the first client's server %v: rr should pick the next", m)
	}
}

func TestPersistTableBounded(t *testing.T) {
	pt := NewPersistTable(64) // 8 buckets of 8
	r := ref{3, 1}
	for k := uint64(0); k < 10000; k++ {
		pt.store(mix64(k), r, uint16(k/100), 60)
	}
	used, _ := pt.Count(100, 60)
	if used != 64 || pt.Len() != 64 {
		t.Fatalf("used %d of %d", used, pt.Len())
	}
	// The sweep frees what no timeout can keep.
	pt.Sweep(100+MaxPersistTimeout+1, 8)
	if used, _ := pt.Count(0, 0); used != 0 {
		t.Fatalf("%d entries left after the sweep", used)
	}
}

func TestBuildPersistenceErrors(t *testing.T) {
	c := persistConfig(conf.SchedRR, MaxPersistTimeout+1, 24, 1)
	if _, _, err := Build(c, resolved4, nil, nil); err == nil {
		t.Error("persistence timeout above the maximum accepted")
	}
	c = persistConfig(conf.SchedRR, 60, 33, 1)
	if _, _, err := Build(c, resolved4, nil, nil); err == nil {
		t.Error("a /33 persistence prefix for an IPv4 VIP accepted")
	}
	c = schedConfig(conf.Scheduler(200), 1)
	if _, _, err := Build(c, resolved4, nil, nil); err == nil {
		t.Error("an unknown scheduler accepted")
	}
}
