//go:build e2e

package packaging

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"dsrlb/hw/testbed"
)

// The package test installs dsrlb on this machine, so it runs as root
// and refuses to start when a dsrlb package or a running dsrlb is found;
// it always purges what it installed and stops what it started (by PID),
// also when it fails.

// systemdPath is the PATH systemd gives services.
const systemdPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// installed lists the package's files that matter, with the mode they
// must have.
var installed = map[string]string{
	dataplaneBin:                          "-rwxr-xr-x",
	ctrlBinPath:                           "-rwxr-xr-x",
	ctlBinPath:                            "-rwxr-xr-x",
	decapObjPath:                          "-rw-r--r--",
	hugepagesPath:                         "-rwxr-xr-x",
	dataplaneUnit:                         "-rw-r--r--",
	ctrlUnit:                              "-rw-r--r--",
	configPath:                            "-rw-r-----",
	defaultsPath:                          "-rw-r--r--",
	"/usr/share/dsrlb/grafana/dsrlb.json": "-rw-r--r--",
	"/usr/share/dsrlb/grafana/provisioning/dashboards/dsrlb.yml":  "-rw-r--r--",
	"/usr/share/dsrlb/grafana/provisioning/datasources/dsrlb.yml": "-rw-r--r--",
	"/usr/share/dsrlb/alerts/dsrlb.rules.yml":                     "-rw-r--r--",
	"/usr/share/doc/dsrlb/copyright":                              "-rw-r--r--",
	"/usr/share/doc/dsrlb/changelog.gz":                           "-rw-r--r--",
	"/usr/share/doc/dsrlb/README.md.gz":                           "-rw-r--r--",
	"/usr/share/doc/dsrlb/examples/example.toml":                  "-rw-r--r--",
}

// ownPrefixes are the package's places: a path is the package's if it is
// one of them or below it, or (for those ending in "-") starts with it.
// The directories above them are shared with other packages and stay
// after a purge.
var ownPrefixes = []string{
	"/etc/dsrlb", defaultsPath, "/lib/systemd/system/dsrlb-", "/usr/sbin/dsrlb-", ctlBinPath,
	"/usr/lib/dsrlb", "/usr/share/dsrlb", "/usr/share/doc/dsrlb",
}

func owned(path string) bool {
	for _, p := range ownPrefixes {
		if path == p || strings.HasPrefix(path, p+"/") || strings.HasSuffix(p, "-") && strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// run runs a command with a deadline and returns its combined output.
func run(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), err
}

func must(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := run(timeout, nil, name, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// dpkg runs dpkg, waiting for the lock while another dpkg or apt holds it.
func dpkg(t *testing.T, args ...string) (string, error) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(time.Second) {
		out, err := run(2*time.Minute, nil, "dpkg", args...)
		if err == nil || !strings.Contains(out, "lock") || time.Since(start) > time.Minute {
			return out, err
		}
	}
}

// status is dpkg's status of the package ("" when dpkg does not know it).
func status(t *testing.T) string {
	out, err := run(10*time.Second, nil, "dpkg-query", "-W", "-f=${Status} ${Version}", "dsrlb")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// listing is dpkg-deb -c's view of a package: path -> "mode owner/group".
func listing(t *testing.T, deb string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(must(t, time.Minute, "dpkg-deb", "-c", deb)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c: cannot read %q", line)
		}
		p := strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")
		if p == "" {
			p = "/"
		}
		files[p] = f[0] + " " + f[1]
	}
	return files
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func TestDebianPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the package test installs a package and creates a network namespace: run it as root")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	preconditions(t)
	hugepagesBefore := readHugepages(t)

	// make deb, as an operator would run it.
	out := t.TempDir()
	env := append(os.Environ(), "PATH="+filepath.Join(runtime.GOROOT(), "bin")+":"+os.Getenv("PATH"))
	start := time.Now()
	if o, err := run(5*time.Minute, env, "make", "-C", repo, "--no-print-directory", "deb", "DEB_OUT="+out); err != nil {
		t.Fatalf("make deb: %v\n%s", err, o)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "dsrlb_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb left %q in %s, want one dsrlb_VERSION_ARCH.deb", debs, out)
	}
	deb := debs[0]
	t.Logf("make deb: %s in %v", filepath.Base(deb), time.Since(start).Round(time.Second))

	version, files := inspect(t, repo, deb)

	// Whatever happens from here on, the package goes again (and with it
	// the enablement links); this cleanup runs last.
	t.Cleanup(func() {
		if status(t) != "" {
			if o, err := dpkg(t, "--purge", "dsrlb"); err != nil {
				t.Errorf("cleanup: %v\n%s", err, o)
			}
		}
		for _, u := range []string{"dsrlb-dataplane.service", "dsrlb-ctrl.service"} {
			os.Remove(filepath.Join(multiUserWants, u))
		}
	})
	if o, err := dpkg(t, "-i", deb); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, o)
	}
	if got, want := status(t), "install ok installed "+version; got != want {
		t.Fatalf("after dpkg -i: status %q, want %q", got, want)
	}
	for p, modeOwner := range files {
		checkOnDisk(t, p, modeOwner)
	}

	checkLibraries(t)
	checkUnitsVerify(t)
	checkUsage(t, repo)
	runAsUnits(t)
	checkUpgradeRemovePurge(t, deb, version, files)

	if got := readHugepages(t); got != hugepagesBefore {
		t.Errorf("hugepages reserved: %d before the test, %d after", hugepagesBefore, got)
	}
}

// preconditions refuses to run where a dsrlb package is installed or a
// dsrlb runs with the default paths, which the test would disturb.
func preconditions(t *testing.T) {
	if s := status(t); s != "" && !strings.Contains(s, "not-installed") {
		t.Fatalf("the package dsrlb is on this machine (%s): the test installs and purges it; remove it first (dpkg --purge dsrlb)", s)
	}
	if _, err := os.Stat("/dev/shm/dsrlb"); err == nil {
		t.Fatal("/dev/shm/dsrlb leads to a live file: a dsrlb data plane with the default configuration runs here")
	}
	if exists("/run/dsrlb/ctrl.sock") {
		t.Fatal("/run/dsrlb/ctrl.sock exists: a dsrlb-ctrl with the default configuration runs here (or ran and was killed)")
	}
	for _, u := range []string{"dsrlb-dataplane.service", "dsrlb-ctrl.service"} {
		if exists(filepath.Join(multiUserWants, u)) {
			t.Fatalf("%s is enabled on this machine", u)
		}
	}
}

func readHugepages(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/vm/nr_hugepages")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// inspect checks the package file: its control fields, its Depends
// against the libraries the data plane links, its files, their modes and
// owners, its conffiles and maintainer scripts. It returns the version
// and the listing.
func inspect(t *testing.T, repo, deb string) (string, map[string]string) {
	fields := map[string]string{}
	for _, f := range []string{"Package", "Version", "Architecture", "Maintainer", "Installed-Size", "Depends", "Description"} {
		fields[f] = strings.TrimSpace(must(t, time.Minute, "dpkg-deb", "-f", deb, f))
		if fields[f] == "" {
			t.Errorf("control field %s is empty", f)
		}
	}
	arch := strings.TrimSpace(must(t, 10*time.Second, "dpkg", "--print-architecture"))
	if fields["Package"] != "dsrlb" || fields["Architecture"] != arch {
		t.Errorf("Package %q, Architecture %q; want dsrlb, %s", fields["Package"], fields["Architecture"], arch)
	}
	if want := "dsrlb_" + fields["Version"] + "_" + arch + ".deb"; filepath.Base(deb) != want {
		t.Errorf("file %s, want %s", filepath.Base(deb), want)
	}
	t.Logf("Version: %s\nDepends: %s", fields["Version"], fields["Depends"])

	// Depends names the package of every library the data plane needs
	// directly (readelf's NEEDED), and the DPDK plugins its
	// configuration loads.
	var depends []string
	for _, d := range strings.Split(fields["Depends"], ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(d), " ")
		depends = append(depends, name)
	}
	needed := regexp.MustCompile(`\(NEEDED\)\s+Shared library: \[([^\]]+)\]`).FindAllStringSubmatch(
		must(t, 10*time.Second, "readelf", "-d", filepath.Join(repo, "bin", "dsrlb-dataplane")), -1)
	if len(needed) == 0 {
		t.Fatal("readelf finds no NEEDED library in bin/dsrlb-dataplane")
	}
	for _, n := range needed {
		o := must(t, 10*time.Second, "dpkg", "-S", "*/"+n[1])
		for _, line := range strings.Split(strings.TrimSpace(o), "\n") {
			pkgs, _, _ := strings.Cut(line, ": ")
			for _, p := range strings.Split(pkgs, ", ") {
				p, _, _ = strings.Cut(p, ":")
				if !slices.Contains(depends, p) {
					t.Errorf("dsrlb-dataplane needs %s from %s, which Depends lacks", n[1], p)
				}
			}
		}
	}
	for _, p := range []string{"librte-mempool-ring23", "librte-net-null23", "librte-net-tap23", "librte-bus-vdev23"} {
		if !slices.Contains(depends, p) {
			t.Errorf("Depends lacks the DPDK plugin %s", p)
		}
	}

	files := listing(t, deb)
	for p, modeOwner := range files {
		if !strings.HasSuffix(modeOwner, " root/root") {
			t.Errorf("%s: %s, want owner root/root", p, modeOwner)
		}
		if !strings.HasPrefix(modeOwner, "d") && !owned(p) {
			t.Errorf("%s: outside the package's own places", p)
		}
	}
	for p, mode := range installed {
		if got, ok := files[p]; !ok {
			t.Errorf("the package lacks %s", p)
		} else if !strings.HasPrefix(got, mode+" ") {
			t.Errorf("%s: %s, want %s", p, got, mode)
		}
	}

	ctl := t.TempDir()
	must(t, time.Minute, "dpkg-deb", "-e", deb, ctl)
	conffiles, err := os.ReadFile(filepath.Join(ctl, "conffiles"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(string(conffiles)), []string{configPath, defaultsPath}; !slices.Equal(got, want) {
		t.Errorf("conffiles %q, want %q", got, want)
	}
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		fi, err := os.Stat(filepath.Join(ctl, s))
		if err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, want mode 0755", s, err)
		}
	}
	md5, err := os.ReadFile(filepath.Join(ctl, "md5sums"))
	if err != nil {
		t.Fatal(err)
	}
	for p, modeOwner := range files {
		if strings.HasPrefix(modeOwner, "-") && !strings.Contains(string(md5), "  "+strings.TrimPrefix(p, "/")+"\n") {
			t.Errorf("md5sums lacks %s", p)
		}
	}
	return fields["Version"], files
}

// checkOnDisk compares an installed path's mode and owner with the
// package listing's.
func checkOnDisk(t *testing.T, p, modeOwner string) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 && strings.HasPrefix(modeOwner, "d") {
		fi, err = os.Stat(p) // /lib -> usr/lib on a merged-/usr system
	}
	if err != nil {
		t.Errorf("installed: %v", err)
		return
	}
	st := fi.Sys().(*syscall.Stat_t)
	mode, _, _ := strings.Cut(modeOwner, " ")
	if got := fi.Mode().String(); got != mode && !fi.IsDir() || st.Uid != 0 || st.Gid != 0 {
		t.Errorf("installed %s: %s %d/%d, want %s", p, got, st.Uid, st.Gid, modeOwner)
	}
}

// checkLibraries: the data plane finds every library it links, and the
// plugins the template's devices load are there; the control process and
// dsrlbctl are static (built without cgo).
func checkLibraries(t *testing.T) {
	o := must(t, 10*time.Second, "ldd", dataplaneBin)
	if strings.Contains(o, "not found") || !strings.Contains(o, "librte_eal.so") {
		t.Errorf("ldd %s:\n%s", dataplaneBin, o)
	}
	for _, b := range []string{ctrlBinPath, ctlBinPath} {
		o, _ := run(10*time.Second, nil, "ldd", b)
		if !strings.Contains(o, "not a dynamic executable") {
			t.Errorf("%s is not static:\n%s", b, o)
		}
	}
	multiarch := strings.TrimSpace(must(t, 10*time.Second, "dpkg-architecture", "-qDEB_HOST_MULTIARCH"))
	for _, p := range []string{"librte_mempool_ring.so.23", "librte_net_null.so.23", "librte_net_tap.so.23"} {
		if m, _ := filepath.Glob(filepath.Join("/usr/lib", multiarch, "dpdk", "pmds-*", p)); len(m) == 0 {
			t.Errorf("DPDK plugin %s is not installed", p)
		}
	}
}

// checkUnitsVerify runs systemd-analyze verify on the installed units. It
// works without systemd as PID 1: it parses the units and their
// dependencies and checks that every command exists.
func checkUnitsVerify(t *testing.T) {
	o, err := run(time.Minute, nil, "systemd-analyze", "verify", dataplaneUnit, ctrlUnit)
	if err != nil || strings.TrimSpace(o) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, o)
	}
}

// checkUsage: the programs' usage texts name the installed paths, and
// so does every path of the README's installation section.
func checkUsage(t *testing.T, repo string) {
	for _, b := range []string{dataplaneBin, ctrlBinPath} {
		o, _ := run(10*time.Second, nil, b, "-h")
		if !strings.Contains(o, `configuration file (default "`+configPath+`")`) {
			t.Errorf("%s -h does not name %s:\n%s", b, configPath, o)
		}
	}
	o, _ := run(10*time.Second, nil, ctlBinPath, "realserver", "-h")
	if !strings.Contains(o, decapObjPath) {
		t.Errorf("dsrlbctl realserver -h does not name %s:\n%s", decapObjPath, o)
	}
	// Installed in /usr/bin, dsrlbctl has no object next to it and takes
	// the package's.
	o, err := run(10*time.Second, nil, ctlBinPath, "realserver", "-method", "ipip", "-vip", "192.0.2.100", "-iface", "dsrlbtest0", "-self", "192.0.2.21", "-decap", "ebpf")
	if err != nil || !strings.Contains(o, decapObjPath) {
		t.Errorf("dsrlbctl realserver -decap ebpf does not load %s: %v\n%s", decapObjPath, err, o)
	}

	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Installing the Debian package\n")
	if !ok {
		t.Fatal("README.md has no section \"## Installing the Debian package\"")
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	paths := regexp.MustCompile(`/(etc|usr|lib)/[A-Za-z0-9_./-]*[A-Za-z0-9_]`).FindAllString(section, -1)
	mentioned := 0
	for _, p := range paths {
		if !owned(p) {
			continue
		}
		mentioned++
		if !exists(p) {
			t.Errorf("the README's installation section names %s, which the package does not install", p)
		}
	}
	for _, p := range []string{configPath, defaultsPath, dataplaneUnit, ctrlUnit, "/usr/share/dsrlb/grafana/dsrlb.json", "/usr/share/dsrlb/alerts/dsrlb.rules.yml"} {
		if !strings.Contains(section, p) {
			t.Errorf("the README's installation section does not say where %s is", p)
		}
	}
	t.Logf("README: %d paths of the package named, all installed", mentioned)
}

// unitRunner starts the installed programs the way their units do: the
// unit's commands expanded with /etc/default/dsrlb, in systemd's
// environment, dsrlb-ctrl with the unit's capability bounding set and
// no_new_privs (setpriv); inside a network namespace of the test.
type unitRunner struct {
	t   *testing.T
	bed *testbed.Bed
	env map[string]string
}

func (r *unitRunner) environ() []string {
	e := []string{systemdPath, "LANG=C.UTF-8"}
	for k, v := range r.env {
		e = append(e, k+"="+v)
	}
	slices.Sort(e)
	return e
}

// sandbox is the setpriv prefix for a unit's CapabilityBoundingSet and
// NoNewPrivileges (none if the unit sets neither).
func sandbox(t *testing.T, u unitFile) []string {
	var args []string
	if caps := u.words("Service", "CapabilityBoundingSet"); len(caps) > 0 {
		set := "-all"
		for _, c := range caps {
			set += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
		}
		args = append(args, "--bounding-set="+set, "--inh-caps=-all")
	}
	if u.one(t, "Service", "NoNewPrivileges") == "yes" {
		args = append(args, "--no-new-privs")
	}
	if len(args) == 0 {
		return nil
	}
	return append(append([]string{"/usr/bin/setpriv"}, args...), "--")
}

func (r *unitRunner) argv(u unitFile, c execCommand) []string {
	return append(append(append([]string{"/usr/bin/env", "-i"}, r.environ()...), sandbox(r.t, u)...), c.Argv...)
}

// pre runs every ExecStartPre of u, failing the test on an error (none
// of dsrlb's has the "-" prefix that would allow one).
func (r *unitRunner) pre(u unitFile) {
	for _, v := range u.all("Service", "ExecStartPre") {
		c := expandExec(r.t, v, r.env)
		argv := append(append([]string{"/usr/bin/env", "-i"}, r.environ()...), c.Argv...)
		if !strings.Contains(c.Prefix, "+") { // "+": without the sandbox
			argv = r.argv(u, c)
		}
		o, err := r.bed.Exec(time.Minute, "lb", argv...)
		if err != nil {
			r.t.Fatalf("ExecStartPre=%s: %v\n%s", v, err, o)
		}
		r.t.Logf("ExecStartPre=%s: %s", v, strings.TrimSpace(o))
	}
}

func (r *unitRunner) start(u unitFile, name string) *testbed.Proc {
	c := expandExec(r.t, u.one(r.t, "Service", "ExecStart"), r.env)
	p, err := r.bed.Start("lb", name, r.argv(u, c)...)
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// waitLog waits until the process's log matches re, failing when it
// exits first or does not within a minute.
func waitLog(t *testing.T, p *testbed.Proc, re string) {
	t.Helper()
	rx := regexp.MustCompile(re)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if rx.MatchString(p.Output()) {
			return
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("%s never logged %q (exited: %v); its log:\n%s", p.Name, re, p.Exited(), p.Output())
		}
	}
}

// stop stops a process as systemd does (SIGTERM), which must end it
// cleanly.
func stop(t *testing.T, p *testbed.Proc) {
	t.Helper()
	if err := p.Stop(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("%s on SIGTERM: %v; its log:\n%s", p.Name, err, p.Output())
	}
}

// dpStatus is what the test reads of dsrlbctl status -json.
type dpStatus struct {
	Dataplane struct {
		Connected bool `json:"connected"`
		PID       int  `json:"pid"`
	} `json:"dataplane"`
}

// runAsUnits starts the installed data plane and control process with
// the installed configuration as their units would, in a network
// namespace: the ExecStartPre steps (hugepages, -check), the start,
// dsrlb-ctrl finding the data plane, dsrlbctl status, ExecReload with a
// valid and an invalid file, a restart of the data plane that dsrlb-ctrl
// survives and follows, and the stop of both by SIGTERM.
func runAsUnits(t *testing.T) {
	dpU, ctU := readUnit(t, dataplaneUnit), readUnit(t, ctrlUnit)

	// The socket's directory, as systemd makes it (RuntimeDirectory=) and
	// removes it with its contents at the stop.
	runDir := filepath.Join("/run", ctU.one(t, "Service", "RuntimeDirectory"))
	if !exists(runDir) {
		mode, err := strconv.ParseUint(ctU.one(t, "Service", "RuntimeDirectoryMode"), 8, 32)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(runDir, fs.FileMode(mode)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(runDir) })
	}

	// The processes go first (cleanups run last-in, first-out).
	bed, err := testbed.New(t.TempDir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pids := bed.PIDs()
		if err := bed.Close(); err != nil {
			t.Errorf("test bed: %v", err)
		}
		for _, pid := range pids {
			if testbed.Alive(pid) {
				t.Errorf("process %d survived", pid)
			}
		}
	})
	if err := bed.AddNS("lb"); err != nil {
		t.Fatal(err)
	}
	r := &unitRunner{t: t, bed: bed, env: readEnvironmentFile(t, defaultsPath)}

	r.pre(dpU)
	dp := r.start(dpU, "dataplane")
	waitLog(t, dp, `msg=forwarding `)
	r.pre(ctU)
	ctrl := r.start(ctU, "ctrl")
	waitLog(t, ctrl, fmt.Sprintf(`msg="data plane found" .* pid=%d `, dp.PID()))
	checkCaps(t, ctrl.PID(), ctU)
	waitConnected(t, dp.PID())

	// systemctl reload: dsrlbctl reload in the unit's environment.
	reload := func() (string, error) {
		env := map[string]string{"MAINPID": strconv.Itoa(ctrl.PID())}
		for k, v := range r.env {
			env[k] = v
		}
		c := expandExec(t, ctU.one(t, "Service", "ExecReload"), env)
		return bed.Exec(time.Minute, "lb", r.argv(ctU, c)...)
	}
	if o, err := reload(); err != nil || strings.TrimSpace(o) != "reloaded" {
		t.Fatalf("ExecReload: %v: %q", err, o)
	}
	good, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	restore := func() {
		if err := os.WriteFile(configPath, good, 0o640); err != nil {
			t.Error(err)
		}
	}
	// A file that parses but does not validate: dsrlb-ctrl rejects it.
	const broken = "\n[[service]]\nname = \"broken\"\nvip = \"192.0.2.100\"\nmethd = \"l2dsr\"\n"
	t.Cleanup(func() {
		if b, err := os.ReadFile(configPath); err == nil && bytes.HasSuffix(b, []byte(broken)) {
			restore()
		}
	})
	if err := os.WriteFile(configPath, append(slices.Clone(good), broken...), 0o640); err != nil {
		t.Fatal(err)
	}
	o, err := reload()
	restore()
	if err == nil || !strings.Contains(o, "methd") || !strings.Contains(o, "keeps running the previous configuration") {
		t.Errorf("ExecReload of an invalid file: %v: %q; want dsrlb-ctrl's refusal", err, o)
	}
	if ctrl.Exited() {
		t.Fatalf("dsrlb-ctrl exited after a failed reload:\n%s", ctrl.Output())
	}

	// systemctl restart dsrlb-dataplane: dsrlb-ctrl stays and pushes its
	// state to the new data plane.
	stop(t, dp)
	if !strings.Contains(dp.Output(), `msg="final counters"`) {
		t.Errorf("the data plane did not log its final counters at SIGTERM:\n%s", dp.Output())
	}
	r.pre(dpU)
	dp2 := r.start(dpU, "dataplane")
	waitLog(t, dp2, `msg=forwarding `)
	waitLog(t, ctrl, fmt.Sprintf(`msg="data plane restarted, pushing full state" pid=%d `, dp2.PID()))
	waitConnected(t, dp2.PID())

	// systemctl stop dsrlb-ctrl dsrlb-dataplane.
	stop(t, ctrl)
	if left, _ := os.ReadDir(runDir); len(left) > 0 {
		t.Errorf("dsrlb-ctrl left %d files in %s (its socket?)", len(left), runDir)
	}
	stop(t, dp2)
	if exists("/dev/shm/dsrlb") {
		t.Error("the data plane left /dev/shm/dsrlb behind")
	}
}

// checkCaps: the control process runs with the unit's capabilities only.
func checkCaps(t *testing.T, pid int, u unitFile) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^CapEff:\s+([0-9a-f]+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no CapEff in /proc/%d/status", pid)
	}
	eff, err := strconv.ParseUint(string(m[1]), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	// capability numbers of linux/capability.h
	numbers := map[string]uint{"CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_PTRACE": 19}
	var want uint64
	for _, c := range u.words("Service", "CapabilityBoundingSet") {
		n, ok := numbers[c]
		if !ok {
			t.Fatalf("the test does not know the number of %s", c)
		}
		want |= 1 << n
	}
	if eff != want {
		t.Errorf("dsrlb-ctrl's effective capabilities %#x, want %#x (the unit's bounding set)", eff, want)
	}
}

// waitConnected waits until dsrlbctl status shows dsrlb-ctrl connected to
// the data plane pid.
func waitConnected(t *testing.T, pid int) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		o, err := run(10*time.Second, nil, ctlBinPath, "status", "-json", "-c", configPath)
		last = fmt.Sprintf("%v: %s", err, o)
		var s dpStatus
		if err == nil && json.Unmarshal([]byte(o), &s) == nil && s.Dataplane.Connected && s.Dataplane.PID == pid {
			return
		}
	}
	t.Fatalf("dsrlbctl status never showed the data plane %d connected; last: %s", pid, last)
}

// checkUpgradeRemovePurge: an upgrade keeps the administrator's change
// of a conffile (without asking) and the services' enablement; a removal
// keeps the conffiles and the enablement; a purge removes everything the
// package brought or made.
func checkUpgradeRemovePurge(t *testing.T, deb, version string, files map[string]string) {
	// systemctl enable works on the files without a running systemd.
	must(t, time.Minute, "systemctl", "enable", "dsrlb-dataplane.service", "dsrlb-ctrl.service")
	links := []string{filepath.Join(multiUserWants, "dsrlb-dataplane.service"), filepath.Join(multiUserWants, "dsrlb-ctrl.service")}
	for _, l := range links {
		if target, err := os.Readlink(l); err != nil || !strings.HasSuffix(target, "/system/"+filepath.Base(l)) {
			t.Fatalf("systemctl enable: %s -> %q, %v", l, target, err)
		}
	}

	const change = "# changed by the administrator\n"
	f, err := os.OpenFile(configPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(change)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}

	// A newer version of the same package.
	tree := filepath.Join(t.TempDir(), "tree")
	must(t, time.Minute, "dpkg-deb", "-R", deb, tree)
	control := filepath.Join(tree, "DEBIAN", "control")
	c, err := os.ReadFile(control)
	if err != nil {
		t.Fatal(err)
	}
	newer := version + "+upgrade1"
	c = bytes.Replace(c, []byte("Version: "+version+"\n"), []byte("Version: "+newer+"\n"), 1)
	if err := os.WriteFile(control, c, 0o644); err != nil {
		t.Fatal(err)
	}
	newDeb := filepath.Join(filepath.Dir(tree), "dsrlb_newer.deb")
	must(t, time.Minute, "dpkg-deb", "--root-owner-group", "-Zgzip", "--build", tree, newDeb)
	if o, err := dpkg(t, "-i", newDeb); err != nil {
		t.Fatalf("upgrade: %v\n%s", err, o)
	}
	if got, want := status(t), "install ok installed "+newer; got != want {
		t.Fatalf("after the upgrade: %q, want %q", got, want)
	}
	if b, _ := os.ReadFile(configPath); !bytes.HasSuffix(b, []byte(change)) {
		t.Error("the upgrade lost the administrator's change of " + configPath)
	}
	if m, _ := filepath.Glob("/etc/dsrlb/*.dpkg-*"); len(m) > 0 {
		t.Errorf("the upgrade left %q", m)
	}

	if o, err := dpkg(t, "--remove", "dsrlb"); err != nil {
		t.Fatalf("dpkg --remove: %v\n%s", err, o)
	}
	if got := status(t); !strings.HasPrefix(got, "deinstall ok config-files") {
		t.Errorf("after dpkg --remove: %q, want deinstall ok config-files", got)
	}
	for _, p := range []string{dataplaneBin, ctrlBinPath, ctlBinPath, dataplaneUnit, ctrlUnit, decapObjPath} {
		if exists(p) {
			t.Errorf("dpkg --remove left %s", p)
		}
	}
	for _, p := range append([]string{configPath, defaultsPath}, links...) {
		if !exists(p) {
			t.Errorf("dpkg --remove removed %s, which stays until the purge", p)
		}
	}

	if o, err := dpkg(t, "--purge", "dsrlb"); err != nil {
		t.Fatalf("dpkg --purge: %v\n%s", err, o)
	}
	if got := status(t); got != "" && !strings.Contains(got, "not-installed") {
		t.Errorf("after dpkg --purge: %q", got)
	}
	for p, modeOwner := range files {
		switch {
		case owned(p) && exists(p):
			t.Errorf("dpkg --purge left %s", p)
		case !owned(p) && strings.HasPrefix(modeOwner, "d") && !exists(p):
			t.Errorf("dpkg --purge removed the shared directory %s", p)
		}
	}
	for _, p := range append(links, "/dev/shm/dsrlb") {
		if exists(p) {
			t.Errorf("dpkg --purge left %s", p)
		}
	}
}

// TestDockerBuildStage runs the Dockerfile's build-stage command (Docker
// is not installed here) the way the image build would: without git
// metadata, the version from the Dockerfile's ARG. It must build the
// package, and the binaries must be those make binaries builds.
func TestDockerBuildStage(t *testing.T) {
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var line, version string
	for _, ins := range readDockerfile(t)[0].Instructions {
		if v, ok := strings.CutPrefix(ins, "ARG DSRLB_VERSION="); ok {
			version = v
		}
		if strings.HasPrefix(ins, "RUN make ") {
			line = strings.TrimPrefix(ins, "RUN ")
		}
	}
	if line == "" || version == "" {
		t.Fatal("no ARG DSRLB_VERSION or RUN make in the Dockerfile's build stage")
	}
	out := t.TempDir()
	line = regexp.MustCompile(`(^|[ =])/out\b`).ReplaceAllString(line, "${1}"+out)
	env := append(os.Environ(),
		"PATH="+filepath.Join(runtime.GOROOT(), "bin")+":"+os.Getenv("PATH"),
		"DSRLB_VERSION="+version,
		"GIT_DIR=/nonexistent", "GOFLAGS=-buildvcs=false", // no .git in Docker's build context
		"DEB_COMPRESS=none") // the package's compression is not what is tested here
	cmd := exec.Command("bash", "-c", line)
	cmd.Dir, cmd.Env = repo, env
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, o)
	}
	deb := filepath.Join(out, "dsrlb.deb")
	if v := strings.TrimSpace(must(t, time.Minute, "dpkg-deb", "-f", deb, "Version")); v != version {
		t.Errorf("the image's package has version %q, want %q", v, version)
	}
	files := listing(t, deb)
	for p := range installed {
		if _, ok := files[p]; !ok {
			t.Errorf("the image's package lacks %s", p)
		}
	}

	ref := t.TempDir()
	if o, err := run(5*time.Minute, env, "make", "-C", repo, "--no-print-directory", "binaries", "BIN="+ref); err != nil {
		t.Fatalf("make binaries: %v\n%s", err, o)
	}
	for _, b := range []string{"dsrlb-dataplane", "dsrlb-ctrl", "dsrlbctl", "dsrlb-decap.o"} {
		x, err1 := os.ReadFile(filepath.Join(out, b))
		y, err2 := os.ReadFile(filepath.Join(ref, b))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Errorf("%s: the Docker build stage's differs from make binaries' (%v, %v)", b, err1, err2)
		}
	}
}
