package pipeline

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"dsrlb/pipeline/header"
)

// vrrpConfig puts the VIP of web and web-any in VRRP group 7; dns's VIP
// stays unmanaged.
func vrrpConfig() *Config {
	cfg := testConfig()
	cfg.Services[0].VRRP = 7
	cfg.Services[1].VRRP = 7
	return cfg
}

// TestVRRPBackupDoesNotAnswer: ARP for a VIP of a group the balancer is
// not master of is not answered (counted), other VIPs and the own address
// are; as master it answers; and forwarding is the same in both states.
func TestVRRPBackupDoesNotAnswer(t *testing.T) {
	backup, _, err := Build(vrrpConfig(), testNeighbors, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var m Masters
	m.Set(7, true)
	master := backup.WithMasters(m)
	if master.Gen != backup.Gen+1 || !master.Masters().Has(7) || backup.Masters().Has(7) {
		t.Fatalf("WithMasters: gen %d -> %d, masters %v / %v", backup.Gen, master.Gen, backup.Masters(), master.Masters())
	}
	for _, tc := range []struct {
		s      *Snapshot
		target netip.Addr
		want   Verdict
	}{
		{backup, vip, DropARPBackup},
		{backup, vipUDP, ARPReply},
		{backup, own.Addr(), ARPReply},
		{master, vip, ARPReply},
		{master, vipUDP, ARPReply},
	} {
		w := NewWorker(0)
		p, _ := run(t, w, tc.s, arpFrame(t, header.ARPRequest, clientMAC, client, tc.target, 0))
		if p.Verdict != tc.want {
			t.Errorf("master=%v %v: verdict %v, want %v", tc.s.Masters().Has(7), tc.target, p.Verdict, tc.want)
		}
	}
	if got := backup.Announced(); !slices.Equal(got, []netip.Addr{vipUDP}) {
		t.Errorf("backup announces %v", got)
	}
	if got := master.Announced(); !slices.Equal(got, []netip.Addr{vip, vipUDP}) {
		t.Errorf("master announces %v", got)
	}
	if got := master.GroupVIPs(7); !slices.Equal(got, []netip.Addr{vip}) {
		t.Errorf("group 7 VIPs %v", got)
	}
	// A backup still forwards (the peer's neighbours may still send to it).
	for _, s := range []*Snapshot{backup, master} {
		w := NewWorker(0)
		p, _ := run(t, w, s, tcpFrame(t, client, vip, 40000, 80))
		if p.Verdict != Forward {
			t.Errorf("master=%v: forward verdict %v", s.Masters().Has(7), p.Verdict)
		}
	}
	// A rebuild keeps the state of the previous snapshot.
	again, _, err := Build(vrrpConfig(), testNeighbors, master, nil)
	if err != nil || !again.Masters().Has(7) {
		t.Fatalf("rebuild lost the masters: %v %v", err, again.Masters())
	}
}

func TestVRRPBackupDoesNotAnswerNDP(t *testing.T) {
	s := v6Snapshot(t, func(c *Config) {
		for i := range c.Services {
			if c.Services[i].VIP == vip6 {
				c.Services[i].VRRP = 200
			}
		}
	})
	ns := func() []byte {
		return ndpFrame(t, header.ICMPv6NeighborSolicit, clientMAC, client6, netip.AddrFrom16(header.SolicitedNode6(vip6.As16())), vip6, header.NDPOptSourceLinkLayer, 255)
	}
	if p, _ := run(t, NewWorker(0), s, ns()); p.Verdict != DropNDPBackup {
		t.Fatalf("backup: verdict %v", p.Verdict)
	}
	var m Masters
	m.Set(200, true)
	if p, _ := run(t, NewWorker(0), s.WithMasters(m), ns()); p.Verdict != NDPReply {
		t.Fatalf("master: verdict %v", p.Verdict)
	}
}

func TestVRRPGroupConflict(t *testing.T) {
	cfg := vrrpConfig()
	cfg.Services[1].VRRP = 8
	if _, _, err := Build(cfg, testNeighbors, nil, nil); err == nil || !strings.Contains(err.Error(), "VRRP group") {
		t.Fatalf("want a group conflict error, got %v", err)
	}
}

func TestMasters(t *testing.T) {
	var m Masters
	for _, g := range []uint8{1, 63, 64, 255} {
		m.Set(g, true)
	}
	for g := 0; g < 256; g++ {
		want := g == 1 || g == 63 || g == 64 || g == 255
		if m.Has(uint8(g)) != want {
			t.Fatalf("group %d: %v", g, m.Has(uint8(g)))
		}
	}
	m.Set(64, false)
	if m.Has(64) || !m.Has(63) {
		t.Fatal("Set false")
	}
}
