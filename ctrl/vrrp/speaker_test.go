package vrrp

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"dsrlb/conf"
)

var (
	own  = addrA
	peer = addrB
	vip2 = netip.MustParseAddr("192.0.2.101")
)

func vrrpConf(name string, vrid uint8, prio uint8, ver int, interval time.Duration, vips ...netip.Addr) conf.VRRP {
	return conf.VRRP{Name: name, VRID: vrid, Priority: prio, Version: ver, Interval: interval, Preempt: true,
		VIPs: vips, UnicastSrc: own, GARPRepeat: 5}
}

// syncBuf is a log sink safe for the speaker's goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// runSpeaker runs a speaker on an interface that does not exist (no
// sockets: what it sends fails and is counted) until the test ends.
func runSpeaker(t *testing.T, insts ...conf.VRRP) (*Speaker, *syncBuf, chan struct{}) {
	t.Helper()
	logs := &syncBuf{}
	changed := make(chan struct{}, 1)
	s, err := NewSpeaker(Options{Interface: "dsrlb-none0", Instances: insts, Changed: changed,
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, logs, changed
}

func stateOf(s *Speaker, name string) Status {
	for _, st := range s.Status() {
		if st.Name == name {
			return st
		}
	}
	return Status{}
}

// TestSpeakerStartsWithDataplane: instances wait (INIT) for the data
// plane, then listen for exactly one master-down interval and become
// master; the state reaches the data plane's view (States) with a
// signal; the data plane going away is FAULT.
func TestSpeakerStartsWithDataplane(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, _, changed := runSpeaker(t, vrrpConf("vi1", 51, 100, 3, 100*time.Millisecond, vip))
		time.Sleep(time.Second)
		if st := stateOf(s, "vi1"); st.State != "INIT" {
			t.Fatalf("before the data plane: %s", st.State)
		}
		s.SetDataplane(true, "up")
		<-changed // BACKUP
		down := 300*time.Millisecond + 156*100*time.Millisecond/256
		time.Sleep(down - time.Millisecond)
		if st := stateOf(s, "vi1"); st.State != "BACKUP" {
			t.Fatalf("1 ms before the master-down interval: %s", st.State)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		st := stateOf(s, "vi1")
		if st.State != "MASTER" || st.Transitions != 2 || !strings.Contains(st.LastCause, "master down interval expired") {
			t.Fatalf("after the master-down interval: %+v", st)
		}
		if got := s.States(); len(got) != 1 || !got[0].Master || got[0].MasterDown != down {
			t.Fatalf("states %+v", got)
		}
		select {
		case <-changed:
		default:
			t.Fatal("no change signalled")
		}
		// No socket: the adverts are counted as not sent.
		if st.SendErrors == 0 || st.AdvertsSent != 0 {
			t.Fatalf("sent %d, errors %d", st.AdvertsSent, st.SendErrors)
		}
		s.SetDataplane(false, "data plane heartbeat 300ms old")
		if st := stateOf(s, "vi1"); st.State != "FAULT" || len(st.Faults) != 1 || s.States()[0].Master {
			t.Fatalf("data plane down: %+v", st)
		}
		s.SetDataplane(true, "up")
		if st := stateOf(s, "vi1"); st.State != "BACKUP" {
			t.Fatalf("data plane back: %s", st.State)
		}
	})
}

// inject hands the speaker a received packet as its socket would.
func inject(s *Speaker, p packet) { s.rx <- p }

func received(t *testing.T, a Advert, src netip.Addr, mode ChecksumMode) packet {
	t.Helper()
	b, err := a.Append(nil, src, Group4, mode)
	if err != nil {
		t.Fatal(err)
	}
	return packet{src: src, dst: Group4, ttl: 255, payload: b}
}

// TestSpeakerIgnoresBadAdverts: every defect of a received advert is
// counted under its cause and logged once, and none reaches the machine:
// only the good advert keeps the backup from taking over.
func TestSpeakerIgnoresBadAdverts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v2 := vrrpConf("v2", 51, 100, 2, time.Second, vip)
		v2.AuthPass = "secret1"
		v3 := vrrpConf("v3", 52, 100, 3, 100*time.Millisecond, vip2)
		s, logs, _ := runSpeaker(t, v2, v3)
		s.SetDataplane(true, "up")
		good2 := Advert{Version: 2, VRID: 51, Priority: 200, Interval: time.Second, Addrs: []netip.Addr{vip}, AuthPass: "secret1"}
		good3 := Advert{Version: 3, VRID: 52, Priority: 200, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{vip2}}
		bad := func(mod func(*Advert)) Advert {
			a := good2
			a.Addrs = []netip.Addr{vip}
			mod(&a)
			return a
		}
		ttl := received(t, good2, peer, ChecksumPseudo)
		ttl.ttl = 64
		corrupt := received(t, good2, peer, ChecksumPseudo)
		corrupt.payload[6] ^= 0xff
		cases := []struct {
			p     packet
			cause Cause
			inst  string // "" for causes found before an instance
		}{
			{ttl, CauseTTL, ""},
			{corrupt, CauseChecksum, ""},
			{received(t, bad(func(a *Advert) { a.VRID = 99 }), peer, ChecksumPseudo), CauseUnknownVRID, ""},
			{received(t, bad(func(a *Advert) { a.AuthPass = "other" }), peer, ChecksumPseudo), CauseAuthPass, "v2"},
			{received(t, bad(func(a *Advert) { a.AuthPass = "" }), peer, ChecksumPseudo), CauseAuthType, "v2"},
			{received(t, bad(func(a *Advert) { a.Interval = 2 * time.Second }), peer, ChecksumPseudo), CauseInterval, "v2"},
			{received(t, bad(func(a *Advert) { a.Addrs = []netip.Addr{vip2} }), peer, ChecksumPseudo), CauseAddrList, "v2"},
			{received(t, bad(func(a *Advert) { a.Version, a.AuthPass, a.Interval = 3, "", time.Second }), peer, ChecksumPseudo), CauseVersion, "v2"},
			{received(t, good2, own, ChecksumPseudo), CauseSource, "v2"},
			{received(t, good3, peer, ChecksumMessageOnly), CauseChecksum, "v3"},
		}
		for _, tc := range cases {
			for range 2 { // twice: counted twice, logged once
				inject(s, tc.p)
			}
		}
		synctest.Wait()
		for _, tc := range cases {
			var errs map[string]uint64
			if tc.inst == "" {
				errs = stateOf(s, "v2").Errors // socket causes show in every instance
			} else {
				errs = stateOf(s, tc.inst).Errors
			}
			if errs[tc.cause.String()] < 2 {
				t.Errorf("%s: errors %v", tc.cause, errs)
			}
		}
		if n := strings.Count(logs.String(), "cause=auth_pass"); n != 1 {
			t.Errorf("auth_pass logged %d times:\n%s", n, logs)
		}
		// Neither instance heard a valid advert: both take over.
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if a, b := stateOf(s, "v2").State, stateOf(s, "v3").State; a != "MASTER" || b != "MASTER" {
			t.Fatalf("after bad adverts only: %s %s", a, b)
		}
		// A good advert of a higher priority is acted on.
		inject(s, received(t, good2, peer, ChecksumPseudo))
		inject(s, received(t, good3, peer, ChecksumPseudo))
		synctest.Wait()
		for _, name := range []string{"v2", "v3"} {
			if st := stateOf(s, name); st.State != "BACKUP" || st.Master != peer || st.AdvertsRecv != 1 {
				t.Errorf("%s after a good advert: %+v", name, st)
			}
		}
	})
}

// TestSpeakerSyncGroupAndTracking: members of a sync group follow each
// other into MASTER and FAULT; a tracked service with a weight lowers the
// priority, one without puts the instance into FAULT.
func TestSpeakerSyncGroupAndTracking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := vrrpConf("a", 1, 100, 3, 100*time.Millisecond, vip)
		b := vrrpConf("b", 2, 100, 3, 1*time.Second, vip2)
		a.SyncGroup, b.SyncGroup = "g", "g"
		b.TrackServices = []string{"web"}
		c := vrrpConf("c", 3, 120, 3, 100*time.Millisecond, netip.MustParseAddr("192.0.2.102"))
		c.TrackServices, c.TrackWeight = []string{"web", "dns"}, 30
		s, _, _ := runSpeaker(t, a, b, c)
		s.SetDataplane(true, "up")
		// a's master-down interval (0.36 s) ends long before b's (3.6 s):
		// b follows a.
		time.Sleep(400 * time.Millisecond)
		synctest.Wait()
		if sa, sb := stateOf(s, "a"), stateOf(s, "b"); sa.State != "MASTER" || sb.State != "MASTER" || !strings.HasPrefix(sb.LastCause, "sync group: g: a is MASTER") {
			t.Fatalf("sync to master: a %s, b %s (%s)", sa.State, sb.State, sb.LastCause)
		}
		s.SetTracked(map[string]bool{"web": true})
		if sa, sb := stateOf(s, "a"), stateOf(s, "b"); sb.State != "FAULT" || sa.State != "FAULT" {
			t.Fatalf("tracked service down: a %s, b %s", sa.State, sb.State)
		}
		if st := stateOf(s, "c"); st.Effective != 90 {
			t.Fatalf("c's priority with one tracked service down: %d", st.Effective)
		}
		s.SetTracked(map[string]bool{"web": true, "dns": true})
		if st := stateOf(s, "c"); st.Effective != 60 {
			t.Fatalf("c's priority with two tracked services down: %d", st.Effective)
		}
		s.SetTracked(map[string]bool{})
		if st := stateOf(s, "c"); st.Effective != 120 || stateOf(s, "b").State == "FAULT" {
			t.Fatalf("all services up again: c %d, b %s", st.Effective, stateOf(s, "b").State)
		}
	})
}

// TestSpeakerNotify: the notify commands run on transitions with
// keepalived's arguments and dsrlb's environment.
func TestSpeakerNotify(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$* $DSRLB_VRRP_STATE $DSRLB_VRRP_INSTANCE\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	in := vrrpConf("vi1", 51, 100, 3, 10*time.Millisecond, vip)
	in.Notify = []string{script, "all"}
	in.NotifyMaster = []string{script, "master"}
	s, _, _ := runSpeaker(t, in)
	s.SetDataplane(true, "up")
	want := []string{"all INSTANCE vi1 BACKUP 100 BACKUP vi1", "master MASTER vi1", "all INSTANCE vi1 MASTER 100 MASTER vi1"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(string(b), w+"\n")
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("notify output:\n%s\nwant lines %q", b, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFallbackFrame: the priority 0 advert sent without the exception
// path is a valid frame: the group's MAC, TTL 255, a correct IPv4 header
// checksum, the advert intact.
func TestFallbackFrame(t *testing.T) {
	a := Advert{Version: 3, VRID: 51, Priority: 0, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{vip}}
	payload, err := a.Append(nil, own, Group4, ChecksumPseudo)
	if err != nil {
		t.Fatal(err)
	}
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	f := frame(false, mac, own, Group4, payload)
	if !bytes.Equal(f[:6], []byte{1, 0, 0x5e, 0, 0, 0x12}) || !bytes.Equal(f[6:12], mac) || f[12] != 8 || f[13] != 0 {
		t.Fatalf("ethernet % x", f[:14])
	}
	src, dst, ttl, got, err := ParseIPv4(f[14:])
	if err != nil || src != own || dst != Group4 || ttl != 255 {
		t.Fatalf("ip: %v %v %v %d", err, src, dst, ttl)
	}
	back, _, err := Parse(got, src, dst, ParseOptions{})
	if err != nil || back.Priority != 0 || back.VRID != 51 {
		t.Fatalf("advert: %+v %v", back, err)
	}
	f6 := frame(true, mac, netip.MustParseAddr("fe80::1"), Group6, payload)
	if !bytes.Equal(f6[:6], []byte{0x33, 0x33, 0, 0, 0, 0x12}) || f6[12] != 0x86 || f6[20] != ProtoVRRP || f6[21] != 255 {
		t.Fatalf("ipv6 frame % x", f6[:22])
	}
}
