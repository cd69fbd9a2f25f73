package bgp

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	vip1 = netip.MustParseAddr("198.51.100.100")
	vip6 = netip.MustParseAddr("2001:db8:1::100")
	p1   = HostPrefix(vip1)
	p6   = HostPrefix(vip6)
)

// clock is a fake clock: the announcer takes its time from the inputs.
type clock struct{ now time.Time }

func (c *clock) advance(d time.Duration) time.Time { c.now = c.now.Add(d); return c.now }

func TestHostPrefix(t *testing.T) {
	if p1.String() != "198.51.100.100/32" || p6.String() != "2001:db8:1::100/128" {
		t.Fatal(p1, p6)
	}
}

// TestAnnouncerLifecycle walks one VIP with two services (80 and 443)
// through start, service failures, the sorry server, a data plane that
// stops beating, and a clean stop with its drain.
func TestAnnouncerLifecycle(t *testing.T) {
	c := &clock{now: time.Unix(1000, 0)}
	a := NewAnnouncer(false, 5*time.Second)
	web := Service{Name: "web", VIP: vip1, Up: true}
	tls := Service{Name: "tls", VIP: vip1, Up: true}
	v6 := Service{Name: "web6", VIP: vip6, Up: true}
	step := func(d time.Duration, dp string, stopping bool, svcs ...Service) []Prefix {
		return a.Update(Input{Now: c.advance(d), Dataplane: dp, Services: svcs, Stopping: stopping})
	}
	state := func(p netip.Prefix) Prefix {
		for _, x := range a.Prefixes() {
			if x.Prefix == p {
				return x
			}
		}
		t.Fatalf("no prefix %s", p)
		return Prefix{}
	}

	// A control process not yet in sync with its data plane announces
	// nothing.
	if ch := step(0, "no state of this control process applied yet", false, web, tls, v6); len(ch) != 0 {
		t.Fatalf("announced before the data plane was in sync: %+v", ch)
	}
	if st := state(p1); st.Announce || st.Reason != "data plane: no state of this control process applied yet" ||
		strings.Join(st.Services, ",") != "tls,web" {
		t.Fatalf("%+v", st)
	}
	// In sync: both VIPs announced.
	ch := step(100*time.Millisecond, "", false, web, tls, v6)
	if len(ch) != 2 || ch[0].Prefix != p1 || !ch[0].Announce || ch[0].Graceful || ch[1].Prefix != p6 || !ch[1].Announce {
		t.Fatalf("%+v", ch)
	}
	if st := state(p1); st.Reason != "service tls, web up" || st.Since != c.now || st.Announcements != 1 {
		t.Fatalf("%+v", st)
	}
	// Nothing changes: nothing reported.
	if ch := step(time.Second, "", false, web, tls, v6); len(ch) != 0 {
		t.Fatalf("%+v", ch)
	}
	// One of the VIP's services down: still announced for the other.
	web.Up = false
	if ch := step(time.Second, "", false, web, tls, v6); len(ch) != 0 || state(p1).Reason != "service tls up" {
		t.Fatalf("%+v %+v", ch, state(p1))
	}
	// Both down, the sorry server standing in for one: withdrawn
	// (announce_sorry off).
	tls.Up, tls.Sorry = false, true
	ch = step(time.Second, "", false, web, tls, v6)
	if len(ch) != 1 || ch[0].Prefix != p1 || ch[0].Announce || ch[0].Reason != "service tls down, its sorry server stands in (announce_sorry off)" {
		t.Fatalf("%+v", ch)
	}
	if st := state(p1); st.Withdrawals != 1 || st.Since != c.now {
		t.Fatalf("%+v", st)
	}
	// Back up.
	web.Up = true
	if ch := step(time.Second, "", false, web, tls, v6); len(ch) != 1 || !ch[0].Announce || ch[0].Announcements != 2 {
		t.Fatalf("%+v", ch)
	}
	// The data plane stops beating: everything withdrawn at once; back
	// when it beats again.
	ch = step(time.Second, "heartbeat 1.2s old (dataplane_timeout 1s)", false, web, tls, v6)
	if len(ch) != 2 || ch[0].Announce || ch[1].Announce || ch[0].Reason != "data plane: heartbeat 1.2s old (dataplane_timeout 1s)" {
		t.Fatalf("%+v", ch)
	}
	if ch := step(time.Second, "", false, web, tls, v6); len(ch) != 2 || !ch[0].Announce || !ch[1].Announce {
		t.Fatalf("%+v", ch)
	}
	// A service removed by a reload: its VIP goes.
	if ch := step(time.Second, "", false, web, tls); len(ch) != 1 || ch[0].Prefix != p6 || ch[0].Announce || ch[0].Reason != "no service announces it any more" {
		t.Fatalf("%+v", ch)
	}
	if len(a.Prefixes()) != 1 {
		t.Fatalf("%+v", a.Prefixes())
	}

	// A clean stop: graceful for the drain delay, then withdrawn.
	if a.Draining() || a.Drained(c.now) {
		t.Fatal("draining before the stop")
	}
	ch = step(time.Second, "", true, web, tls)
	if len(ch) != 1 || !ch[0].Announce || !ch[0].Graceful || ch[0].Reason != "draining with GRACEFUL_SHUTDOWN, withdrawn in 5s" {
		t.Fatalf("%+v", ch)
	}
	if got := a.Announced(); len(got) != 1 || !got[p1] {
		t.Fatalf("%v", got)
	}
	if ch := step(4999*time.Millisecond, "", true, web, tls); len(ch) != 0 || a.Drained(c.now) || !a.Draining() {
		t.Fatalf("%+v drained %v", ch, a.Drained(c.now))
	}
	ch = step(time.Millisecond, "", true, web, tls)
	if len(ch) != 1 || ch[0].Announce || ch[0].Reason != "stopped: drained for 5s" || !a.Drained(c.now) {
		t.Fatalf("%+v drained %v", ch, a.Drained(c.now))
	}
	if len(a.Announced()) != 0 {
		t.Fatal(a.Announced())
	}
}

// TestAnnouncerSorry: with announce_sorry the sorry server keeps the VIP.
func TestAnnouncerSorry(t *testing.T) {
	c := &clock{now: time.Unix(0, 0)}
	a := NewAnnouncer(true, 0)
	s := Service{Name: "web", VIP: vip1, Sorry: true}
	ch := a.Update(Input{Now: c.now, Services: []Service{s}})
	if len(ch) != 1 || !ch[0].Announce || ch[0].Reason != "sorry server of web stands in (announce_sorry)" {
		t.Fatalf("%+v", ch)
	}
	s.Sorry = false // down, no sorry server
	ch = a.Update(Input{Now: c.advance(time.Second), Services: []Service{s}})
	if len(ch) != 1 || ch[0].Announce || ch[0].Reason != "service web down" {
		t.Fatalf("%+v", ch)
	}
}

// TestAnnouncerDrainEdges: a stop with nothing announced is drained at
// once (zero delay); a VIP withdrawn during the drain is not announced
// again; the data plane dying during the drain withdraws at once.
func TestAnnouncerDrainEdges(t *testing.T) {
	c := &clock{now: time.Unix(0, 0)}
	a := NewAnnouncer(false, 0)
	s := Service{Name: "web", VIP: vip1}
	a.Update(Input{Now: c.now, Services: []Service{s}, Stopping: true})
	if !a.Drained(c.now) {
		t.Fatal("nothing announced, zero delay: drained at once")
	}

	a = NewAnnouncer(false, 3*time.Second)
	s.Up = true
	a.Update(Input{Now: c.advance(time.Second), Services: []Service{s}})
	if ch := a.Update(Input{Now: c.advance(time.Second), Services: []Service{s}, Stopping: true}); len(ch) != 1 || !ch[0].Graceful {
		t.Fatalf("%+v", ch)
	}
	ch := a.Update(Input{Now: c.advance(time.Second), Dataplane: "process 42 is gone", Services: []Service{s}, Stopping: true})
	if len(ch) != 1 || ch[0].Announce || ch[0].Reason != "data plane: process 42 is gone" {
		t.Fatalf("%+v", ch)
	}
	// The data plane back: stays withdrawn, the stop goes on.
	ch = a.Update(Input{Now: c.advance(time.Second), Services: []Service{s}, Stopping: true})
	if len(ch) != 0 || a.Prefixes()[0].Reason != "stopping" {
		t.Fatalf("%+v %+v", ch, a.Prefixes())
	}
	if !a.Drained(c.advance(time.Second)) {
		t.Fatal("not drained after the delay")
	}
}
