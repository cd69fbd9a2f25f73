package ctrl

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"dsrlb/conf/wire"
	"dsrlb/perf/shm"
)

// vrrpConfig is a VRRP instance for web's VIP on an exception path that
// does not exist here (no adverts go out; the instance, hearing no peer,
// becomes master).
const vrrpConfig = `
[[vrrp]]
name = "vi1"
vrid = 51
advert_int = "20ms"
vips = ["192.0.2.100"]
`

func (f *fakeDP) vrrpStates() []wire.VRRPState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.vrrp)
}

// TestDaemonVRRP: the transaction defines the group and marks the VIP's
// service; the instance leaves FAULT once the data plane has applied it
// and its master state reaches the data plane as a VRRPState; a data
// plane that stops beating puts the instance into FAULT; a reload that
// changes [[vrrp]] is refused; status shows the instance.
func TestDaemonVRRP(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.config(web("", newBackend(t).port) + vrrpConfig)
	src, _ := os.ReadFile(h.cfgPath)
	if err := os.WriteFile(h.cfgPath, []byte(strings.Replace(string(src), "[dataplane]\n", "[dataplane]\ntap = \"dsrlb-none9\"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	f := startFakeDP(t, h.shmPath, testSlots, fakeState{})
	f.r.SetPID(shm.Dataplane, os.Getpid())
	h.start()

	st := f.waitCommit(t, "the VRRP group", func(s fakeState) bool { return len(s.Groups) == 1 })
	if g := st.Groups[0]; g.ID != 1 || g.Name != "vi1" || g.DownMS != 60+13 || g.GARPRepeat != 5 || st.Services[0].VRRP != 1 {
		t.Fatalf("group %+v, service %+v", g, st.Services[0])
	}
	if !eventually(func() bool {
		s := f.vrrpStates()
		return len(s) > 0 && s[len(s)-1].ID == 1 && s[len(s)-1].Master
	}) {
		t.Fatalf("no master state reached the data plane: %+v", f.vrrpStates())
	}
	stat := h.status()
	if vs := stat.VRRP; len(vs) != 1 || vs[0].State != "MASTER" || vs[0].Name != "vi1" {
		t.Fatalf("status: %+v", vs)
	}
	var out bytes.Buffer
	if err := stat.WriteText(&out, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"VRRP INSTANCE", "vi1 (v3 IPv4)  51    MASTER  100", "192.0.2.10", "master down interval expired"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status text lacks %q:\n%s", want, out.String())
		}
	}

	// A reload that changes the instance is refused whole.
	src, _ = os.ReadFile(h.cfgPath)
	if err := os.WriteFile(h.cfgPath, []byte(strings.Replace(string(src), `advert_int = "20ms"`, `advert_int = "30ms"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.d.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), "restart dsrlb-ctrl") {
		t.Fatalf("reload: %v", err)
	}

	// The data plane stops beating: FAULT.
	f.close()
	h.waitLog("every instance goes to FAULT")
	if !eventually(func() bool { vs := h.status().VRRP; return len(vs) == 1 && vs[0].State == "FAULT" }) {
		t.Fatalf("status after the data plane stopped: %+v", h.status().VRRP)
	}
}
