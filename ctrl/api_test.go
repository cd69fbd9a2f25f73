package ctrl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"dsrlb/perf/counters"
	"dsrlb/perf/shm"
)

func TestSocketCreation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b1 := newBackend(t)
	h.config(web("", b1.port))
	h.start()

	fi, err := os.Lstat(h.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	if di, err := os.Stat(filepath.Dir(h.sock)); err != nil || di.Mode().Perm() != 0o755 {
		t.Errorf("socket directory: %v %v", di.Mode(), err)
	}
	// A second dsrlb-ctrl on the same socket is refused, and leaves the
	// first one's socket alone.
	if _, err := New(Options{ConfigPath: h.cfgPath}); err == nil || !strings.Contains(err.Error(), "another dsrlb-ctrl is running") {
		t.Errorf("second daemon: %v", err)
	}
	if r, err := Call(h.sock, Request{Cmd: "status"}); err != nil || !r.OK {
		t.Errorf("first daemon after the second was refused: %v %+v", err, r)
	}

	// Bad requests get an answer, not a hang.
	for req, want := range map[string]string{
		`{"cmd":"restart"}`: `unknown command "restart"`,
		`nonsense`:          "bad request",
	} {
		c, err := net.Dial("unix", h.sock)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(req + "\n"))
		var r Response
		if err := json.NewDecoder(c).Decode(&r); err != nil || r.OK || !strings.Contains(r.Error, want) {
			t.Errorf("request %s: %v %+v, want error %q", req, err, r, want)
		}
		c.Close()
	}

	// A client that connects and says nothing does not hold up the exit.
	idle, err := net.Dial("unix", h.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if !eventually(func() bool {
		h.d.connMu.Lock()
		defer h.d.connMu.Unlock()
		return len(h.d.active) == 1
	}) {
		t.Fatal("the idle connection was never accepted")
	}
	// Nor does it hold up other clients.
	if r, err := Call(h.sock, Request{Cmd: "status"}); err != nil || !r.OK {
		t.Errorf("status with an idle client connected: %v %+v", err, r)
	}
	// Without closeConns the handler would wait for the client up to
	// apiTimeout; half of it is far more than a loaded machine needs.
	start := time.Now()
	h.stop()
	if d := time.Since(start); d > apiTimeout/2 {
		t.Errorf("exit took %v with an idle client connected", d)
	}
}

func TestSocketStaleAndForeign(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.config("")
	// A socket file nobody listens on (a dsrlb-ctrl killed with SIGKILL).
	os.MkdirAll(filepath.Dir(h.sock), 0o755)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: h.sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := Call(h.sock, Request{Cmd: "status"}); err == nil || !strings.Contains(err.Error(), "dsrlb-ctrl is not running") || !strings.Contains(err.Error(), "stale socket") {
		t.Errorf("Call on a stale socket: %v", err)
	}
	h.start()
	if r, err := Call(h.sock, Request{Cmd: "status"}); err != nil || !r.OK {
		t.Errorf("status after replacing a stale socket: %v %+v", err, r)
	}
	h.stop()
	if _, err := Call(h.sock, Request{Cmd: "status"}); err == nil || err.Error() != "dsrlb-ctrl is not running (no "+h.sock+")" {
		t.Errorf("Call without a socket: %v", err)
	}

	// Something else at the path is not removed.
	if err := os.WriteFile(h.sock, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{ConfigPath: h.cfgPath}); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("New over a regular file: %v", err)
	}
	if _, err := os.Stat(h.sock); err != nil {
		t.Errorf("the regular file was removed: %v", err)
	}
}

func TestDialErrors(t *testing.T) {
	op := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", errno)}
	}
	for errno, want := range map[syscall.Errno]string{
		syscall.ENOENT:       "dsrlb-ctrl is not running (no /run/x.sock)",
		syscall.ECONNREFUSED: "dsrlb-ctrl is not running (/run/x.sock is a stale socket: nobody answers on it)",
		syscall.EACCES:       "permission denied on /run/x.sock: the socket is for root only (mode 0600); run as root",
		syscall.EPERM:        "permission denied on /run/x.sock",
		syscall.ETIMEDOUT:    "cannot reach dsrlb-ctrl on /run/x.sock",
	} {
		if got := dialError("/run/x.sock", op(errno)).Error(); !strings.HasPrefix(got, want) {
			t.Errorf("%v: %q, want %q", errno, got, want)
		}
	}
}

func TestNewConfigErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.config("[[service]]\nname = \"s\"\nvip = \"192.0.2.300\"\n[service.check]\ntype = \"script\"\ncommand = [\"" + h.dir + "/nope\"]\n")
	_, err := New(Options{ConfigPath: h.cfgPath})
	if err == nil || !strings.Contains(err.Error(), h.cfgPath+":14: service[0].vip: invalid IPv4 address") {
		t.Errorf("New with a bad config: %v", err)
	}
	if _, err := os.Stat(h.sock); !os.IsNotExist(err) {
		t.Errorf("socket created for a bad config: %v", err)
	}
	// Validation passes; the script check's program is missing.
	h.config("[[service]]\nname = \"s\"\nvip = \"192.0.2.100\"\n[service.check]\ntype = \"script\"\ncommand = [\"" + h.dir + "/nope\"]\n")
	_, err = New(Options{ConfigPath: h.cfgPath})
	if err == nil || !strings.Contains(err.Error(), ":17: service[0].check.command: program "+h.dir+"/nope does not exist") {
		t.Errorf("New with a missing script: %v", err)
	}
}

func TestStatusCountersAndText(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b1, b2 := newBackend(t), newBackend(t)
	// Weights 1 and 3, quorum 3 ±1: losing .22 (weight 3) loses the quorum.
	h.config(strings.Replace(web("sorry_server = \"192.0.2.30\"\nquorum = 3\nhysteresis = 1", b1.port, b2.port),
		"address = \"192.0.2.22\"\n", "address = \"192.0.2.22\"\n  weight = 3\n", 1))
	f := startFakeDP(t, h.shmPath, testSlots, fakeState{})
	idx := func(s counters.Scope, n string) int {
		i := counters.Index(s, n)
		if i < 0 {
			t.Fatalf("no counter %s", n)
		}
		return 8 * i
	}
	shm.Counter(f.r.Worker(0), idx(counters.Worker, "rx_packets")).Store(5)
	shm.Counter(f.r.Worker(0), idx(counters.Worker, "no_backend")).Store(2)
	shm.Counter(f.r.Port(0), idx(counters.Port, "tx_refused")).Store(4)
	shm.Counter(f.r.Global(), idx(counters.Global, "commits")).Store(7)
	h.start()
	f.waitCommit(t, "state", func(s fakeState) bool {
		return eq(s.backends("web"), []string{"192.0.2.21:1:up", "192.0.2.22:3:up"})
	})
	h.waitLog("msg=applied")
	b2.stop()
	f.waitCommit(t, "sorry", func(s fakeState) bool { return eq(s.backends("web"), []string{"192.0.2.30:1:sorry"}) })

	s := h.status()
	get := func(cs []Counter, name string) uint64 {
		for _, c := range cs {
			if c.Name == name {
				return c.Value
			}
		}
		t.Errorf("counter %s missing", name)
		return 0
	}
	if get(s.Counters, "rx_packets") != 5 || get(s.Counters, "no_backend") != 2 || get(s.Global, "commits") != 7 || len(s.Counters) != len(counters.Workers) {
		t.Errorf("counters %v global %v", s.Counters, s.Global)
	}
	if len(s.Ports) != 1 || s.Ports[0].Port != "p0" || get(s.Ports[0].Counters, "tx_refused") != 4 || len(s.Ports[0].Counters) != len(counters.Ports) {
		t.Errorf("port counters %+v", s.Ports)
	}
	sv := s.Services[0]
	if sv.Name != "web" || sv.VIP != "192.0.2.100" || sv.Protocol != "tcp" || sv.Port != 80 || sv.Method != "l2dsr" ||
		sv.Quorum != 3 || sv.Hysteresis != 1 || sv.QuorumUp || sv.HealthyWeight != 1 || sv.Healthy != 1 || sv.Total != 2 || !sv.SorryActive {
		t.Errorf("service status %+v", sv)
	}
	if r := sv.RealServers[1]; r.Health == nil || r.Health.Up || r.Health.ConsecutiveFail == 0 || r.Health.LastCheck.IsZero() || r.State != "removed" {
		t.Errorf("real server %+v %+v", r, r.Health)
	}
	// JSON names are the API.
	b, _ := json.Marshal(s)
	for _, k := range []string{`"config":`, `"dataplane":{`, `"boot_id":`, `"heartbeat_age_seconds":`, `"applied_gen":`, `"snapshot":`,
		`"quorum_up":false`, `"healthy_weight":1`, `"sorry_active":true`, `"real_servers":[`, `"effective_weight":`, `"consecutive_fail":`,
		`"last_error":`, `"last_check":`, `"checks":`, `"check":"tcp :`, `"counters":[{"name":"rx_packets","value":5}`, `"global_counters":`, `"port_counters":[{"port":"p0","counters":[`,
		`{"address":"192.0.2.30","sorry_server":true,"weight":0,"effective_weight":1,"state":"sorry","packet_rate":-1`, `"last_reload_ok":false`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Errorf("status JSON lacks %s:\n%s", k, b)
		}
	}

	var out bytes.Buffer
	if err := s.WriteText(&out, time.Now()); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		fmt.Sprintf("data plane  connected: pid %d, boot id %s, heartbeat ", os.Getpid(), bootIDString(f.r.BootID())),
		"1 worker (" + h.shmPath + ")",
		"\nservice web: 192.0.2.100 tcp port 80, l2dsr, quorum down (healthy weight 1, quorum 3 ±1), 1 of 2 real servers healthy",
		"\n  REAL SERVER  WEIGHT  EFFECTIVE  STATE    HEALTH", "\n  192.0.2.21   1       0          removed  up", "\n  192.0.2.30   -       1          sorry    sorry server", "connection refused",
		"rx_packets", "no_backend", "commits", "p0_tx_refused",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "forward ") || strings.Contains(text, "tx_bytes") {
		t.Errorf("status text shows zero counters:\n%s", text)
	}
}

// TestOtherUsersRefused: a process of another user (nobody) can neither
// use the API socket nor open the shared memory: both are root's, mode
// 0600. The test runs itself again as that user (it needs root, as CI
// and the data plane do).
func TestOtherUsersRefused(t *testing.T) {
	if os.Getenv("DSRLB_AS_OTHER_USER") != "" {
		t.Skip("the helper's own run")
	}
	if os.Geteuid() != 0 {
		t.Skip("running a process as another user needs root (CI runs as root)")
	}
	h := newHarness(t)
	h.config("")
	h.start()
	defer h.stop()
	region, _, err := shm.Create(filepath.Join(filepath.Dir(h.sock), "other.shm"), shm.Geometry{SlotSize: 256, Slots: 8, Workers: 1, WorkerBytes: 64, Ports: 1, PortBytes: 64, GlobalBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer region.Close()
	// Directories nobody may enter would hide the files' own modes.
	dir, err := os.MkdirTemp("", "dsrlb-other-user")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, d := range []string{dir, filepath.Dir(h.sock), filepath.Dir(filepath.Dir(h.sock))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "ctrl.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(bin, "-test.run=^TestOtherUserHelper$", "-test.v")
	c.Env = append(os.Environ(), "DSRLB_AS_OTHER_USER=1", "DSRLB_SOCK="+h.sock, "DSRLB_SHM="+region.Path())
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := c.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestOtherUserHelper") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	t.Logf("as nobody:\n%s", out)
}

// TestOtherUserHelper is TestOtherUsersRefused's run as nobody.
func TestOtherUserHelper(t *testing.T) {
	if os.Getenv("DSRLB_AS_OTHER_USER") == "" {
		t.Skip("run by TestOtherUsersRefused as another user")
	}
	if os.Geteuid() == 0 {
		t.Fatal("the helper runs as root")
	}
	_, err := Call(os.Getenv("DSRLB_SOCK"), Request{Cmd: "status"})
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("the API socket answered another user: %v", err)
	} else {
		t.Logf("API socket: %v", err)
	}
	_, err = shm.Open(os.Getenv("DSRLB_SHM"))
	if err == nil || !errors.Is(err, os.ErrPermission) {
		t.Errorf("another user opened the shared memory: %v", err)
	} else {
		t.Logf("shared memory: %v", err)
	}
}
