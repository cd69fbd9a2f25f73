package dpdk

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// The EAL can start once per process, so TestMain starts it for every test
// in the package with two null devices: net_null0 produces 64-byte packets
// without end, net_null1 swallows everything sent to it; and a ring device,
// net_ring0, whose transmit queue is its receive queue: until it is
// polled, what is sent stays, and once full it refuses more.
func TestMain(m *testing.M) {
	runtime.LockOSThread()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "dpdk tests need root (DPDK opens /dev and hugepage files)")
		os.Exit(1)
	}
	err := EALInit([]string{"--no-huge", "-m", "256", "--no-shconf", "--no-pci", "-l", "0",
		"--log-level=lib.eal:error", "--vdev=net_null0", "--vdev=net_null1,no-rx=1", "--vdev=net_ring0"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "EAL init:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := EALCleanup(); err != nil {
		fmt.Fprintln(os.Stderr, "EAL cleanup:", err)
		code = 1
	}
	os.Exit(code)
}

func TestEALInitTwiceFails(t *testing.T) {
	err := EALInit(nil)
	if !errors.Is(err, unix.EALREADY) {
		t.Fatalf("second EALInit: got %v, want EALREADY", err)
	}
}

func TestPortByNameUnknown(t *testing.T) {
	_, err := PortByName("net_nonexistent9")
	if err == nil {
		t.Fatal("PortByName of a device that does not exist succeeded")
	}
	var de *Error
	if !errors.As(err, &de) || de.Errno == 0 {
		t.Fatalf("want a *dpdk.Error with errno, got %T %v", err, err)
	}
}

func setupPort(t *testing.T, name string, pool *Mempool) PortID {
	t.Helper()
	return setupPortDriver(t, name, "net_null", pool)
}

func setupPortDriver(t *testing.T, name, driver string, pool *Mempool) PortID {
	t.Helper()
	id, err := PortByName(name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := id.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Driver != driver {
		t.Fatalf("driver %q, want %s", info.Driver, driver)
	}
	if err := id.Configure(PortConf{RxQueues: 1, TxQueues: 1, MTU: 1500}); err != nil {
		t.Fatal(err)
	}
	if err := id.SetupRxQueue(0, 512, info.Socket, pool, 0); err != nil {
		t.Fatal(err)
	}
	if err := id.SetupTxQueue(0, 512, info.Socket, 0); err != nil {
		t.Fatal(err)
	}
	if err := id.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := id.Stop(); err != nil {
			t.Error(err)
		}
	})
	return id
}

// nullPair starts net_null0 (endless 64-byte packets) and net_null1 (a
// sink) on a fresh pool. Cleanup stops the ports before freeing the pool.
func nullPair(t *testing.T, pool string) (*Mempool, PortID, PortID) {
	t.Helper()
	p, err := NewPktPool(pool, 2047, 64, DefaultDataRoom, -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Free)
	return p, setupPort(t, "net_null0", p), setupPort(t, "net_null1", p)
}

// TestPollForwardsAndFrees runs the whole burst cycle: receive from
// net_null0, stage on net_null1, free some, and checks that counters and
// the pool add up (no mbuf leaks).
func TestPollForwardsAndFrees(t *testing.T) {
	pool, in, out := nullPair(t, "test_fwd")

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lcore, err := RegisterThread()
	if err != nil {
		t.Fatal(err)
	}
	defer UnregisterThread()
	if LcoreID() != lcore {
		t.Fatalf("LcoreID %d after registering as %d", LcoreID(), lcore)
	}

	p, err := NewPoller([]PortID{in, out}, 0, 0, 32, -1)
	if err != nil {
		t.Fatal(err)
	}
	var received, staged, freed int
	for round := 0; round < 100; round++ {
		port, pkts := p.Poll()
		if port == 1 && len(pkts) != 0 {
			t.Fatalf("no-rx device delivered %d packets", len(pkts))
		}
		for i, m := range pkts {
			received++
			if m.DataLen() != 64 || m.PktLen() != 64 || m.NbSegs() != 1 {
				t.Fatalf("null packet: data_len %d pkt_len %d segs %d", m.DataLen(), m.PktLen(), m.NbSegs())
			}
			if len(m.Data()) != 64 || int(m.DataOff())+64 > len(m.Buffer()) {
				t.Fatalf("data view %d bytes at offset %d of a %d-byte buffer", len(m.Data()), m.DataOff(), len(m.Buffer()))
			}
			if i%4 == 0 {
				p.Free(m)
				freed++
				continue
			}
			if !p.Tx(1, m) {
				t.Fatal("staging full after one burst")
			}
			staged++
		}
	}
	p.Close()
	if received == 0 {
		t.Fatal("received nothing from net_null0")
	}
	st, err := out.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if int(st.OutPackets) != staged {
		t.Fatalf("net_null1 sent %d packets, staged %d", st.OutPackets, staged)
	}
	if pool.InUse() != 0 {
		t.Fatalf("%d mbufs still in use after %d received (%d freed, %d sent): leak", pool.InUse(), received, freed, staged)
	}
}

func TestPollerTxCountersAndAllocs(t *testing.T) {
	_, in, out := nullPair(t, "test_allocs")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p, err := NewPoller([]PortID{in, out}, 0, 0, 32, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cycle := func() {
		_, pkts := p.Poll()
		for _, m := range pkts {
			if !p.Tx(1, m) {
				p.Free(m)
			}
		}
	}
	if a := testing.AllocsPerRun(1000, cycle); a != 0 {
		t.Fatalf("burst cycle allocates %.1f times", a)
	}
	p.Flush()
	sent, refused := p.TxCounters(1)
	if sent == 0 || refused != 0 {
		t.Fatalf("tx counters sent=%d refused=%d", sent, refused)
	}
}

func TestAllocBulkAndSetData(t *testing.T) {
	pool, err := NewPktPool("test_alloc", 1023, 0, DefaultDataRoom, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Free()
	ms := make([]*Mbuf, 8)
	if err := pool.AllocBulk(ms); err != nil {
		t.Fatal(err)
	}
	if pool.InUse() != 8 {
		t.Fatalf("in use %d, want 8", pool.InUse())
	}
	m := ms[0]
	m.SetData(m.DataOff()-14, 60)
	if m.DataLen() != 60 || m.PktLen() != 60 {
		t.Fatalf("SetData: len %d/%d", m.DataLen(), m.PktLen())
	}
	copy(m.Data(), "hello")
	if string(m.Buffer()[m.DataOff():m.DataOff()+5]) != "hello" {
		t.Fatal("Data and Buffer do not view the same memory")
	}
	FreeMbufs(ms)
	if pool.InUse() != 0 {
		t.Fatalf("in use %d after FreeMbufs", pool.InUse())
	}
	big := make([]*Mbuf, 5000)
	if err := pool.AllocBulk(big); err == nil {
		t.Fatal("allocating more mbufs than the pool holds succeeded")
	}
}

// TestTxRefusedWhenFull: a transmit queue that takes nothing more refuses
// packets; the poller counts them (the data plane's tx_refused) and frees
// them, and once the queue drains the pool is whole again: a full
// transmit ring loses no buffer.
func TestTxRefusedWhenFull(t *testing.T) {
	pool, err := NewPktPool("test_full", 8191, 0, DefaultDataRoom, -1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Free)
	ring := setupPortDriver(t, "net_ring0", "net_ring", pool)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p, err := NewPoller([]PortID{ring}, 0, 0, 32, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const n = 6000 // more than the ring holds, in batches smaller than TxSlots
	ms := make([]*Mbuf, 100)
	for sent := 0; sent < n; sent += len(ms) {
		if err := pool.AllocBulk(ms); err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if !p.Tx(0, m) {
				t.Fatal("staging full within a batch smaller than TxSlots")
			}
		}
		p.Flush()
	}
	sent, refused := p.TxCounters(0)
	t.Logf("sent %d, refused %d of %d; in the ring %d", sent, refused, n, pool.InUse())
	if refused == 0 || sent+refused != n || pool.InUse() != int(sent) {
		t.Fatalf("sent %d + refused %d != %d, or %d in use", sent, refused, n, pool.InUse())
	}
	// Drain the ring (its receive side): every buffer comes back.
	for i := 0; i < 1000 && pool.InUse() > 0; i++ {
		_, pkts := p.Poll()
		for _, m := range pkts {
			p.Free(m)
		}
		p.Flush()
	}
	if pool.InUse() != 0 {
		t.Fatalf("%d buffers still out after draining", pool.InUse())
	}
}
