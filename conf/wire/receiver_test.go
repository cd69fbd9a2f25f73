package wire

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

// recorder is a Handler that records what the Receiver asks of it.
type recorder struct {
	applied  []Model
	fail     error // Apply's answer
	snapshot uint64
	events   []uint32
	msgs     []any
	dumps    int
	vrrp     []VRRPState
}

func (r *recorder) Apply(m Model) error {
	if r.fail != nil {
		return r.fail
	}
	r.applied = append(r.applied, m)
	r.snapshot++
	return nil
}
func (r *recorder) SetVRRP(st VRRPState) error {
	if st.ID != 7 {
		return errors.New("unknown group")
	}
	r.vrrp = append(r.vrrp, st)
	return nil
}
func (r *recorder) Snapshot() uint64 { return r.snapshot }
func (r *recorder) DumpNeighbors()   { r.dumps++ }
func (r *recorder) Send(kind uint32, msg any) {
	r.events = append(r.events, kind)
	r.msgs = append(r.msgs, msg)
}

func feed(t *testing.T, rx *Receiver, h Handler, kind uint32, v any) {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	rx.Handle(h, kind, b)
}

var (
	web  = Service{Name: "web", VIP: netip.MustParseAddr("192.0.2.100"), Proto: 6, Port: 80, Method: "l2dsr", TableSize: 251}
	dns  = Service{Name: "dns", VIP: netip.MustParseAddr("192.0.2.101"), Proto: 17, Port: 53, Method: "gue", TableSize: 251, GUEPort: 6080}
	rs21 = Backend{Service: "web", Addr: netip.MustParseAddr("192.0.2.21"), Weight: 1, State: StateUp}
	rs22 = Backend{Service: "web", Addr: netip.MustParseAddr("192.0.2.22"), Weight: 0, State: StateInhibited}
	rs31 = Backend{Service: "dns", Addr: netip.MustParseAddr("192.0.2.31"), Weight: 2, State: StateUp}
)

func TestReceiverCommitAndDump(t *testing.T) {
	boot := Model{Services: []ServiceModel{{Service: web, Backends: []Backend{rs21}}}}
	rx := NewReceiver(boot, nil)
	h := &recorder{}
	if m, fc := rx.Applied(); !fc || len(m.Services) != 1 {
		t.Fatalf("boot state %+v from config %v", m, fc)
	}
	feed(t, rx, h, KindSyncBegin, SyncBegin{Gen: 3})
	feed(t, rx, h, KindService, web)
	feed(t, rx, h, KindBackend, rs21)
	feed(t, rx, h, KindBackend, rs22)
	feed(t, rx, h, KindService, dns)
	feed(t, rx, h, KindBackend, rs31)
	if len(h.applied) != 0 || len(h.events) != 0 {
		t.Fatal("applied before the commit")
	}
	feed(t, rx, h, KindSyncCommit, SyncCommit{Gen: 3})
	if len(h.applied) != 1 || len(h.applied[0].Services) != 2 || len(h.applied[0].Services[0].Backends) != 2 || h.applied[0].Services[1].Backends[0] != rs31 {
		t.Fatalf("applied %+v", h.applied)
	}
	if len(h.msgs) != 1 || h.msgs[0] != (Applied{Gen: 3, Snapshot: 1}) {
		t.Fatalf("events %+v", h.msgs)
	}
	if m, fc := rx.Applied(); fc || len(m.Services) != 2 {
		t.Fatalf("applied state %+v from config %v", m, fc)
	}
	h.events, h.msgs = nil, nil
	feed(t, rx, h, KindDump, Dump{Token: 9})
	want := []uint32{KindDumpService, KindDumpBackend, KindDumpBackend, KindDumpService, KindDumpBackend, KindDumpEnd}
	if !equal(h.events, want) || h.dumps != 1 || h.msgs[5] != (DumpEnd{Token: 9, Snapshot: 1}) || h.msgs[2] != rs22 {
		t.Fatalf("dump %v %+v, want %v", h.events, h.msgs, want)
	}
	if st := rx.Stats(); st != (ReceiverStats{Commits: 1}) {
		t.Errorf("stats %+v", st)
	}
}

func TestReceiverRefuses(t *testing.T) {
	cases := []struct {
		name string
		send func(t *testing.T, rx *Receiver, h *recorder)
		want string // in Applied.Error; "" when no Applied is sent at all
		st   ReceiverStats
	}{
		{"backend of another service", func(t *testing.T, rx *Receiver, h *recorder) {
			feed(t, rx, h, KindSyncBegin, SyncBegin{Gen: 1})
			feed(t, rx, h, KindService, web)
			feed(t, rx, h, KindBackend, rs31)
			feed(t, rx, h, KindSyncCommit, SyncCommit{Gen: 1})
		}, `real server 192.0.2.31 for service "dns" does not follow that service`, ReceiverStats{CommitErrors: 1}},
		{"backend before any service", func(t *testing.T, rx *Receiver, h *recorder) {
			feed(t, rx, h, KindSyncBegin, SyncBegin{Gen: 1})
			feed(t, rx, h, KindBackend, rs21)
			feed(t, rx, h, KindSyncCommit, SyncCommit{Gen: 1})
		}, "does not follow that service", ReceiverStats{CommitErrors: 1}},
		{"garbage service", func(t *testing.T, rx *Receiver, h *recorder) {
			feed(t, rx, h, KindSyncBegin, SyncBegin{Gen: 1})
			rx.Handle(h, KindService, []byte("{not json"))
			feed(t, rx, h, KindSyncCommit, SyncCommit{Gen: 1})
		}, "bad *wire.Service message", ReceiverStats{CommitErrors: 1}},
		{"commit of another gen", func(t *testing.T, rx *Receiver, h *recorder) {
			feed(t, rx, h, KindSyncBegin, SyncBegin{Gen: 3})
			feed(t, rx, h, KindSyncCommit, SyncCommit{Gen: 4})
		}, "commit of transaction 4 while 3 is open", ReceiverStats{CommitErrors: 1}},
		{"garbage commit", func(t *testing.T, rx *Receiver, h *recorder) {
			feed(t, rx, h, KindSyncBegin, SyncBegin{Gen: 3})
			rx.Handle(h, KindSyncCommit, []byte(`{"gen":"x"}`))
		}, "bad *wire.SyncCommit message", ReceiverStats{CommitErrors: 1}},
		{"apply fails", func(t *testing.T, rx *Receiver, h *recorder) {
			h.fail = errors.New("no route to real server 198.51.100.9")
			feed(t, rx, h, KindSyncBegin, SyncBegin{Gen: 1})
			feed(t, rx, h, KindService, web)
			feed(t, rx, h, KindSyncCommit, SyncCommit{Gen: 1})
		}, "no route to real server 198.51.100.9", ReceiverStats{CommitErrors: 1}},
		{"messages outside a transaction", func(t *testing.T, rx *Receiver, h *recorder) {
			feed(t, rx, h, KindService, web)
			feed(t, rx, h, KindBackend, rs21)
			feed(t, rx, h, KindSyncCommit, SyncCommit{Gen: 1})
		}, "", ReceiverStats{Ignored: 3}},
		{"unknown kind and bad begin", func(t *testing.T, rx *Receiver, h *recorder) {
			rx.Handle(h, 77, nil)
			rx.Handle(h, KindSyncBegin, []byte("]"))
			rx.Handle(h, KindDump, []byte("{"))
		}, "", ReceiverStats{Ignored: 3}},
		{"corrupt ring resets the transaction", func(t *testing.T, rx *Receiver, h *recorder) {
			feed(t, rx, h, KindSyncBegin, SyncBegin{Gen: 1})
			feed(t, rx, h, KindService, web)
			rx.Reset()
			feed(t, rx, h, KindSyncCommit, SyncCommit{Gen: 1})
		}, "", ReceiverStats{Ignored: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			rx := NewReceiver(Model{Services: []ServiceModel{{Service: web, Backends: []Backend{rs21}}}}, slog.New(slog.NewTextHandler(&logs, nil)))
			h := &recorder{}
			c.send(t, rx, h)
			if len(h.applied) != 0 {
				t.Fatalf("applied %+v", h.applied)
			}
			if m, fc := rx.Applied(); !fc || len(m.Services) != 1 || m.Services[0].Backends[0] != rs21 {
				t.Fatalf("the applied state changed: %+v", m)
			}
			switch {
			case c.want == "" && len(h.msgs) != 0:
				t.Fatalf("events %+v, want none", h.msgs)
			case c.want != "" && (len(h.msgs) != 1 || !strings.Contains(h.msgs[0].(Applied).Error, c.want)):
				t.Fatalf("events %+v, want an Applied error containing %q", h.msgs, c.want)
			}
			if st := rx.Stats(); st != c.st {
				t.Errorf("stats %+v, want %+v", st, c.st)
			}
			if logs.Len() == 0 {
				t.Error("nothing logged")
			}
		})
	}
}

// A control process killed half-way left a transaction open; its
// successor's SyncBegin discards it and only the new one is applied.
func TestReceiverDiscardsHalfTransaction(t *testing.T) {
	rx := NewReceiver(Model{}, nil)
	h := &recorder{}
	feed(t, rx, h, KindSyncBegin, SyncBegin{Gen: 99})
	feed(t, rx, h, KindService, Service{Name: "stale", VIP: netip.MustParseAddr("192.0.2.200"), Proto: 6, Method: "l2dsr", TableSize: 7})
	feed(t, rx, h, KindSyncBegin, SyncBegin{Gen: 1})
	feed(t, rx, h, KindService, web)
	feed(t, rx, h, KindBackend, rs21)
	feed(t, rx, h, KindSyncCommit, SyncCommit{Gen: 1})
	if len(h.applied) != 1 || len(h.applied[0].Services) != 1 || h.applied[0].Services[0].Service.Name != "web" {
		t.Fatalf("applied %+v", h.applied)
	}
	if st := rx.Stats(); st != (ReceiverStats{Commits: 1, Discarded: 1, LastDiscarded: 99}) {
		t.Errorf("stats %+v", st)
	}
}

func equal(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzReceiver feeds the receiver what another process may have written
// in the command ring: any sequence of message kinds and payloads. It must
// never panic, apply only transactions whose real servers follow their
// service, answer every commit of an open transaction with exactly one
// Applied and keep its counts consistent.
//
// The input is a sequence of messages: a kind byte (mod 7: the five
// command kinds, an event kind and an unknown one), a length byte, then the
// payload.
func FuzzReceiver(f *testing.F) {
	enc := func(kind byte, v any) []byte {
		b, err := Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 255 {
			b = b[:255]
		}
		return append([]byte{kind, byte(len(b))}, b...)
	}
	txn := bytes.Join([][]byte{enc(0, SyncBegin{Gen: 1}), enc(1, web), enc(2, rs21), enc(1, dns), enc(2, rs31), enc(3, SyncCommit{Gen: 1}), enc(4, Dump{Token: 2})}, nil)
	f.Add(txn)
	f.Add(bytes.Join([][]byte{enc(0, SyncBegin{Gen: 7}), enc(2, rs21), enc(3, SyncCommit{Gen: 7})}, nil))
	f.Add(bytes.Join([][]byte{enc(0, SyncBegin{Gen: 1}), enc(1, web), enc(0, SyncBegin{Gen: 2}), enc(3, SyncCommit{Gen: 1})}, nil))
	f.Add([]byte{1, 9, '{', '"', 'n', 'a', 'm', 'e', '"', ':', '1'})
	f.Add([]byte{3, 0, 6, 3, 'n', 'u', 'l'})
	kinds := []uint32{KindSyncBegin, KindService, KindBackend, KindSyncCommit, KindDump, KindApplied, 0xdead}
	f.Fuzz(func(t *testing.T, data []byte) {
		rx := NewReceiver(Model{}, nil)
		h := &fuzzHandler{t: t}
		open := false // a transaction is open, as the receiver should see it
		commits := 0
		for len(data) >= 2 {
			kind := kinds[int(data[0])%len(kinds)]
			n := min(int(data[1]), len(data)-2)
			payload := data[2 : 2+n]
			data = data[2+n:]
			before := len(h.applied)
			rx.Handle(h, kind, payload)
			switch kind {
			case KindSyncBegin:
				var m SyncBegin
				open = Decode(payload, &m) == nil
			case KindSyncCommit:
				if open {
					commits++
				}
				open = false
			}
			if h.appliedEvents != commits {
				t.Fatalf("%d Applied events for %d commits of open transactions", h.appliedEvents, commits)
			}
			if len(h.applied) > before+1 {
				t.Fatal("one command applied twice")
			}
		}
		st := rx.Stats()
		if int(st.Commits+st.CommitErrors) != commits || int(st.Commits) != len(h.applied) {
			t.Fatalf("stats %+v for %d commits, %d applied", st, commits, len(h.applied))
		}
		if m, fc := rx.Applied(); fc != (len(h.applied) == 0) || len(h.applied) > 0 && len(m.Services) != len(h.applied[len(h.applied)-1].Services) {
			t.Fatalf("applied state %+v from config %v after %d applies", m, fc, len(h.applied))
		}
	})
}

type fuzzHandler struct {
	t             *testing.T
	applied       []Model
	appliedEvents int
}

func (h *fuzzHandler) Apply(m Model) error {
	for _, sm := range m.Services {
		for _, b := range sm.Backends {
			if b.Service != sm.Service.Name {
				h.t.Fatalf("real server of %q applied under service %q", b.Service, sm.Service.Name)
			}
		}
	}
	h.applied = append(h.applied, m)
	return nil
}
func (h *fuzzHandler) Snapshot() uint64        { return uint64(len(h.applied)) }
func (h *fuzzHandler) DumpNeighbors()          {}
func (h *fuzzHandler) SetVRRP(VRRPState) error { return nil }
func (h *fuzzHandler) Send(kind uint32, msg any) {
	if kind == KindApplied {
		h.appliedEvents++
	}
	if _, err := Encode(msg); err != nil && !strings.Contains(err.Error(), "exceeds a ring slot") {
		h.t.Fatalf("event %T does not encode: %v", msg, err)
	}
}

// VRRP groups travel in transactions; a VRRPState applies at once, also
// while a transaction is open, without disturbing it.
func TestReceiverVRRP(t *testing.T) {
	rx := NewReceiver(Model{}, nil)
	h := &recorder{}
	g := VRRPGroup{ID: 7, Name: "vi", DownMS: 340, GARPRepeat: 5}
	feed(t, rx, h, KindVRRPGroup, g) // outside a transaction: ignored
	if rx.Stats().Ignored != 1 {
		t.Fatalf("group outside a transaction: %+v", rx.Stats())
	}
	feed(t, rx, h, KindSyncBegin, SyncBegin{Gen: 1})
	feed(t, rx, h, KindService, Service{Name: "web", VIP: web.VIP, Proto: 6, Port: 80, Method: "l2dsr", TableSize: 251, VRRP: 7})
	feed(t, rx, h, KindVRRPState, VRRPState{ID: 7, Master: true, DownMS: 330})
	feed(t, rx, h, KindVRRPGroup, g)
	feed(t, rx, h, KindSyncCommit, SyncCommit{Gen: 1})
	if len(h.applied) != 1 || len(h.applied[0].Groups) != 1 || h.applied[0].Groups[0] != g || h.applied[0].Services[0].Service.VRRP != 7 {
		t.Fatalf("applied %+v", h.applied)
	}
	if len(h.vrrp) != 1 || h.vrrp[0] != (VRRPState{ID: 7, Master: true, DownMS: 330}) || rx.Stats().VRRPStates != 1 {
		t.Fatalf("states %+v stats %+v", h.vrrp, rx.Stats())
	}
	feed(t, rx, h, KindVRRPState, VRRPState{ID: 8})
	rx.Handle(h, KindVRRPState, []byte("{"))
	if st := rx.Stats(); st.VRRPErrors != 2 || st.VRRPStates != 1 || st.CommitErrors != 0 {
		t.Fatalf("bad states: %+v", st)
	}
}

// A service with a scheduler and persistence, and a standby real server,
// pass the Receiver unchanged (it stages, the data plane's Apply judges).
func TestReceiverSchedulingFields(t *testing.T) {
	svc := Service{Name: "app", VIP: netip.MustParseAddr("2001:db8::100"), Proto: 6, Port: 443, Method: "l2dsr", TableSize: 251,
		Scheduler: "wlc", PersistTimeout: 1800, PersistPrefix: 64}
	up := Backend{Service: "app", Addr: netip.MustParseAddr("2001:db8::21"), Weight: 3, State: StateUp}
	standby := Backend{Service: "app", Addr: netip.MustParseAddr("2001:db8::41"), Weight: 0, State: StateStandby}
	rx := NewReceiver(Model{}, nil)
	h := &recorder{}
	feed(t, rx, h, KindSyncBegin, SyncBegin{Gen: 1})
	feed(t, rx, h, KindService, svc)
	feed(t, rx, h, KindBackend, up)
	feed(t, rx, h, KindBackend, standby)
	feed(t, rx, h, KindSyncCommit, SyncCommit{Gen: 1})
	if len(h.applied) != 1 {
		t.Fatalf("applied %+v, events %+v", h.applied, h.msgs)
	}
	m := h.applied[0].Services[0]
	if m.Service != svc || len(m.Backends) != 2 || m.Backends[0] != up || m.Backends[1] != standby {
		t.Errorf("applied %+v", m)
	}
}
