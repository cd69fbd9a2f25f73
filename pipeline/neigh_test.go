package pipeline

import (
	"net/netip"
	"testing"
	"time"

	"dsrlb/pipeline/header"
)

func TestResolverLifecycle(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := NewResolver(5*time.Second, 30*time.Second)
	a, b := netip.MustParseAddr("192.0.2.21"), netip.MustParseAddr("192.0.2.22")
	r.Track([]netip.Addr{b, a})

	due := r.Due(t0, nil)
	if len(due) != 2 || due[0].IP != a || due[1].IP != b || due[0].Unicast {
		t.Fatalf("first requests %+v: want broadcast for both, in order", due)
	}
	if d := r.Due(t0.Add(500*time.Millisecond), nil); len(d) != 0 {
		t.Fatalf("asked again before the retry interval: %+v", d)
	}
	if d := r.Due(t0.Add(time.Second), nil); len(d) != 2 {
		t.Fatalf("unresolved not retried after 1s: %+v", d)
	}
	mac := header.MAC{2, 0, 0, 0, 0, 0x21}
	if !r.Learn(Learned{IP: a, MAC: mac, Port: 1}, t0.Add(time.Second)) {
		t.Fatal("first answer must change forwarding")
	}
	if r.Learn(Learned{IP: a, MAC: mac, Port: 1}, t0.Add(2*time.Second)) {
		t.Fatal("same answer must not change forwarding")
	}
	if !r.Learn(Learned{IP: a, MAC: header.MAC{2, 0, 0, 0, 0, 0x99}, Port: 1}, t0.Add(2*time.Second)) {
		t.Fatal("new MAC must change forwarding")
	}
	if r.Learn(Learned{IP: netip.MustParseAddr("192.0.2.99"), MAC: mac}, t0) {
		t.Fatal("untracked address changed forwarding")
	}
	n, ok := r.Lookup(a)
	if !ok || n.Port != 1 || n.MAC[5] != 0x99 {
		t.Fatalf("lookup %+v %v", n, ok)
	}
	// Refresh: unicast to the known MAC once the answer is older than refresh.
	due = r.Due(t0.Add(7*time.Second), nil)
	var refresh *Request
	for i := range due {
		if due[i].IP == a {
			refresh = &due[i]
		}
	}
	if refresh == nil || !refresh.Unicast || refresh.MAC[5] != 0x99 || refresh.Port != 1 {
		t.Fatalf("refresh request %+v", due)
	}
	// No answer: forgotten after expiry.
	if len(r.Expire(t0.Add(31*time.Second), nil)) != 0 {
		t.Fatal("expired before 30s since the last answer")
	}
	if exp := r.Expire(t0.Add(32*time.Second), nil); len(exp) != 1 || exp[0] != a || func() bool { _, ok := r.Lookup(a); return ok }() {
		t.Fatal("not expired 30s after the last answer")
	}
	// Untracking a resolved address changes forwarding.
	r.Learn(Learned{IP: b, MAC: mac}, t0.Add(40*time.Second))
	if !r.Track([]netip.Addr{a}) {
		t.Fatal("dropping a resolved address must change forwarding")
	}
	if st := r.State(); len(st) != 1 || st[0].IP != a {
		t.Fatalf("state %+v", st)
	}
}

func TestResolverStatic(t *testing.T) {
	t0 := time.Unix(1000, 0)
	r := NewResolver(time.Second, 3*time.Second)
	a := netip.MustParseAddr("192.0.2.21")
	mac := header.MAC{2, 0, 0, 0, 0, 0x21}
	r.SetStatic(a, Neighbor{MAC: mac, Port: 1})
	r.Track([]netip.Addr{a, netip.MustParseAddr("192.0.2.22")})
	if n, ok := r.Lookup(a); !ok || n.MAC != mac || n.Port != 1 {
		t.Fatalf("static lookup %+v %v", n, ok)
	}
	for _, d := range r.Due(t0, nil) {
		if d.IP == a {
			t.Fatal("static neighbour asked for")
		}
	}
	if r.Learn(Learned{IP: a, MAC: header.MAC{2, 0, 0, 0, 0, 0x99}}, t0) {
		t.Fatal("ARP changed a static neighbour")
	}
	if len(r.Expire(t0.Add(time.Hour), nil)) != 0 {
		if _, ok := r.Lookup(a); !ok {
			t.Fatal("static neighbour expired")
		}
	}
	r.Track(nil)
	if _, ok := r.Lookup(a); !ok {
		t.Fatal("static neighbour dropped by Track")
	}
}

func TestRingFIFOWrapAndFull(t *testing.T) {
	r := NewRing[int](5) // rounds to 8
	if r.Cap() != 8 {
		t.Fatalf("cap %d", r.Cap())
	}
	next, want := 0, 0
	for round := 0; round < 10; round++ {
		for r.Push(next) {
			next++
		}
		if r.Len() != 8 {
			t.Fatalf("full ring holds %d", r.Len())
		}
		for i := 0; i < 5; i++ {
			v, ok := r.Pop()
			if !ok || v != want {
				t.Fatalf("pop %d %v, want %d", v, ok, want)
			}
			want++
		}
	}
	for {
		v, ok := r.Pop()
		if !ok {
			break
		}
		if v != want {
			t.Fatalf("pop %d, want %d", v, want)
		}
		want++
	}
	if want != next {
		t.Fatalf("popped %d of %d", want, next)
	}
}

func TestRingConcurrent(t *testing.T) {
	r := NewRing[uint64](64)
	const n = 200000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := uint64(0); i < n; {
			if r.Push(i) {
				i++
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for want := uint64(0); want < n; {
		v, ok := r.Pop()
		if !ok {
			if time.Now().After(deadline) {
				t.Fatalf("stalled at %d", want)
			}
			continue
		}
		if v != want {
			t.Fatalf("got %d, want %d", v, want)
		}
		want++
	}
	<-done
}

func TestNextHop(t *testing.T) {
	c := &Config{
		Own4: netip.MustParsePrefix("192.0.2.10/24"),
		Routes: []Route{
			{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Gateway: netip.MustParseAddr("192.0.2.1")},
			{Prefix: netip.MustParsePrefix("198.51.100.128/25"), Gateway: netip.MustParseAddr("192.0.2.2")},
			{Prefix: netip.MustParsePrefix("203.0.113.0/28")}, // on-link, another subnet on the segment
		},
	}
	for _, tc := range []struct{ dst, via string }{
		{"192.0.2.21", "192.0.2.21"},
		{"198.51.100.7", "192.0.2.1"},
		{"198.51.100.200", "192.0.2.2"}, // longest prefix wins
		{"203.0.113.5", "203.0.113.5"},
	} {
		got, ok := c.NextHop(netip.MustParseAddr(tc.dst))
		if !ok || got.String() != tc.via {
			t.Errorf("NextHop(%s) = %v %v, want %s", tc.dst, got, ok, tc.via)
		}
	}
	if _, ok := c.NextHop(netip.MustParseAddr("203.0.113.100")); ok {
		t.Error("unrouted address reachable without a default gateway")
	}
	c.Gateway = netip.MustParseAddr("192.0.2.254")
	if got, ok := c.NextHop(netip.MustParseAddr("203.0.113.100")); !ok || got != c.Gateway {
		t.Errorf("default gateway not used: %v %v", got, ok)
	}
	c.Services = []ServiceConfig{{Backends: []BackendConfig{
		{Addr: netip.MustParseAddr("198.51.100.7")}, {Addr: netip.MustParseAddr("198.51.100.8")}, {Addr: netip.MustParseAddr("192.0.2.21")},
	}}}
	if hops := c.NextHops(); len(hops) != 2 || hops[0].String() != "192.0.2.1" || hops[1].String() != "192.0.2.21" {
		t.Errorf("NextHops = %v", hops)
	}
}
