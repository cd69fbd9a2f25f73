package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"dsrlb/conf"
)

// The package's files as they are installed, and what refers to them.
const (
	configPath     = "/etc/dsrlb/dsrlb.toml"
	defaultsPath   = "/etc/default/dsrlb"
	dataplaneUnit  = "/lib/systemd/system/dsrlb-dataplane.service"
	ctrlUnit       = "/lib/systemd/system/dsrlb-ctrl.service"
	hugepagesPath  = "/usr/lib/dsrlb/dsrlb-hugepages"
	dataplaneBin   = "/usr/sbin/dsrlb-dataplane"
	ctrlBinPath    = "/usr/sbin/dsrlb-ctrl"
	ctlBinPath     = "/usr/bin/dsrlbctl"
	decapObjPath   = "/usr/lib/dsrlb/dsrlb-decap.o"
	dataplaneName  = "dsrlb-dataplane.service"
	multiUserWants = "/etc/systemd/system/multi-user.target.wants"
)

// src is a file of the package's tree (packaging/root) by its installed path.
func src(installed string) string { return filepath.Join("root", installed) }

// TestUnits checks what the unit files promise: the order of the start
// steps, the commands and their configuration, the restart policy, and
// that dsrlb-ctrl only wants the data plane, so that the data plane's
// restart or stop leaves it running (it resynchronises by itself).
func TestUnits(t *testing.T) {
	env := readEnvironmentFile(t, src(defaultsPath))
	dp := readUnit(t, src(dataplaneUnit))
	ct := readUnit(t, src(ctrlUnit))

	for name, u := range map[string]unitFile{"dataplane": dp, "ctrl": ct} {
		if got := u.one(t, "Service", "EnvironmentFile"); got != "-"+defaultsPath {
			t.Errorf("%s: EnvironmentFile=%q, want -%s", name, got, defaultsPath)
		}
		if got := u.one(t, "Service", "Restart"); got != "on-failure" {
			t.Errorf("%s: Restart=%q, want on-failure", name, got)
		}
		if u.one(t, "Unit", "StartLimitBurst") == "" || u.one(t, "Unit", "StartLimitIntervalSec") == "" {
			t.Errorf("%s: no start limit in [Unit]", name)
		}
		if got := u.one(t, "Install", "WantedBy"); got != "multi-user.target" {
			t.Errorf("%s: WantedBy=%q", name, got)
		}
		if u.one(t, "Service", "Type") != "simple" {
			t.Errorf("%s: Type is not simple (neither program notifies systemd)", name)
		}
		// Every variable an Exec line uses is set in /etc/default/dsrlb.
		for _, key := range []string{"ExecStartPre", "ExecStart", "ExecReload"} {
			for _, v := range u.all("Service", key) {
				for _, m := range regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(v, -1) {
					if _, ok := env[m[1]]; !ok && m[1] != "MAINPID" {
						t.Errorf("%s: %s uses $%s, which %s does not set", name, key, m[1], defaultsPath)
					}
				}
			}
		}
	}

	// The data plane: hugepages (with full privileges), then -check of
	// the file ExecStart runs with.
	pre := dp.all("Service", "ExecStartPre")
	if len(pre) != 2 {
		t.Fatalf("dataplane: ExecStartPre = %q, want the hugepage helper and -check", pre)
	}
	if c := expandExec(t, pre[0], env); c.Prefix != "+" || c.Argv[0] != hugepagesPath {
		t.Errorf("dataplane: first ExecStartPre %q, want +%s", c, hugepagesPath)
	}
	want := []string{dataplaneBin, "-check", "-c", configPath}
	if c := expandExec(t, pre[1], env); !slices.Equal(c.Argv, want) {
		t.Errorf("dataplane: second ExecStartPre %q, want %q", c, want)
	}
	want = []string{dataplaneBin, "-c", configPath}
	if c := expandExec(t, dp.one(t, "Service", "ExecStart"), env); !slices.Equal(c.Argv, want) {
		t.Errorf("dataplane: ExecStart %q, want %q (with the default flags)", c, want)
	}
	if v := dp.all("Service", "ExecReload"); len(v) > 0 {
		t.Errorf("dataplane: ExecReload %q, but the data plane reloads nothing", v)
	}

	// The control process.
	want = []string{ctrlBinPath, "-check", "-c", configPath}
	if c := expandExec(t, ct.one(t, "Service", "ExecStartPre"), env); !slices.Equal(c.Argv, want) {
		t.Errorf("ctrl: ExecStartPre %q, want %q", c, want)
	}
	want = []string{ctrlBinPath, "-c", configPath}
	if c := expandExec(t, ct.one(t, "Service", "ExecStart"), env); !slices.Equal(c.Argv, want) {
		t.Errorf("ctrl: ExecStart %q, want %q", c, want)
	}
	want = []string{ctlBinPath, "reload", "-c", configPath}
	if c := expandExec(t, ct.one(t, "Service", "ExecReload"), env); !slices.Equal(c.Argv, want) {
		t.Errorf("ctrl: ExecReload %q, want %q", c, want)
	}
	for _, key := range []string{"Wants", "After"} {
		if !slices.Contains(ct.words("Unit", key), dataplaneName) {
			t.Errorf("ctrl: %s= lacks %s", key, dataplaneName)
		}
	}
	for _, key := range []string{"Requires", "Requisite", "BindsTo", "PartOf", "Upholds"} {
		if slices.Contains(ct.words("Unit", key), dataplaneName) {
			t.Errorf("ctrl: %s=%s would stop or restart dsrlb-ctrl with the data plane", key, dataplaneName)
		}
	}
	if slices.Contains(dp.words("Unit", "After"), "dsrlb-ctrl.service") {
		t.Error("dataplane: ordered after dsrlb-ctrl")
	}

	// The socket's directory is the RuntimeDirectory systemd creates and
	// removes.
	cfg, err := conf.Load(src(configPath))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ct.one(t, "Service", "RuntimeDirectory"), strings.TrimPrefix(filepath.Dir(cfg.Ctrl.Socket), "/run/"); got != want {
		t.Errorf("ctrl: RuntimeDirectory=%q, the socket %s wants %q", got, cfg.Ctrl.Socket, want)
	}
	// Without CAP_SYS_PTRACE a process with fewer capabilities than the
	// data plane cannot open its shared memory (a descriptor of the data
	// plane, through /proc); the e2e test runs dsrlb-ctrl with exactly
	// this set.
	caps := ct.words("Service", "CapabilityBoundingSet")
	for _, c := range []string{"CAP_NET_RAW", "CAP_SYS_PTRACE"} {
		if !slices.Contains(caps, c) {
			t.Errorf("ctrl: CapabilityBoundingSet %q lacks %s", caps, c)
		}
	}
}

// TestTemplateConfig: the shipped configuration is valid for both
// programs and starts on any machine: no hugepages, no NIC, no interface,
// no service.
func TestTemplateConfig(t *testing.T) {
	path := src(configPath)
	cfg, err := conf.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := conf.CheckScripts(cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cfg.Dataplane.EALArgs, "--no-huge") {
		t.Error(`eal_args lacks "--no-huge": the template would need hugepages`)
	}
	for _, p := range cfg.Dataplane.Ports {
		if !p.IsVdev || p.DeviceName != "net_null0" {
			t.Errorf("port %s: device %q; the template's port must need no NIC and no interface (net_null0)", p.Name, p.Device)
		}
	}
	if len(cfg.Services) != 0 {
		t.Errorf("the template has %d services; it must balance nothing", len(cfg.Services))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "TEMPLATE TO FILL IN") {
		t.Error("the template does not say that it is one")
	}
}

// TestConffiles: every file under /etc is a conffile, and every conffile
// is a file of the package.
func TestConffiles(t *testing.T) {
	data, err := os.ReadFile("DEBIAN/conffiles")
	if err != nil {
		t.Fatal(err)
	}
	listed := strings.Fields(string(data))
	var etc []string
	err = filepath.WalkDir(src("/etc"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			etc = append(etc, strings.TrimPrefix(p, "root"))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(listed)
	slices.Sort(etc)
	if !slices.Equal(listed, etc) {
		t.Errorf("DEBIAN/conffiles lists %q; the files under /etc are %q", listed, etc)
	}
}

// TestMaintainerScripts: the scripts parse with Debian's /bin/sh, are
// executable in the repository, and refuse an unknown action (the only action safe to run
// on the machine of the test).
func TestMaintainerScripts(t *testing.T) {
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		p := filepath.Join("DEBIAN", s)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		// The checkout's umask decides the rest; build-deb.sh sets 0755.
		if fi.Mode().Perm()&0o111 != 0o111 {
			t.Errorf("%s: mode %v, want executable", s, fi.Mode().Perm())
		}
		if out, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", s, err, out)
		}
		out, err := exec.Command("sh", p, "no-such-action").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "unknown argument") {
			t.Errorf("%s no-such-action: %v, %q; want exit status 1 and a message", s, err, out)
		}
	}
	if out, err := exec.Command("bash", "-n", "build-deb.sh").CombinedOutput(); err != nil {
		t.Errorf("build-deb.sh: bash -n: %v\n%s", err, out)
	}
}
