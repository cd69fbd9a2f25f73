package keepalived

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs Main and returns its exit status, stdout and stderr.
func run(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := Main(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestMainUsage: usage errors write nothing to stdout and exit 2 with a
// message naming the problem.
func TestMainUsage(t *testing.T) {
	seed := filepath.Join(testdata, "seed004.conf")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "want one keepalived configuration file, got 0 arguments"},
		{[]string{seed, seed}, "want one keepalived configuration file, got 2 arguments"},
		{[]string{"-iface", "eth0", seed}, "-iface and -address go together"},
		{[]string{"-address", "192.0.2.10/24", seed}, "-iface and -address go together"},
		{[]string{"-iface", "eth0", "-address", "192.0.2.10", seed}, `-address "192.0.2.10": want the balancer's IPv4 address with its prefix length`},
		{[]string{"-iface", "eth0", "-address", "2001:db8::10/64", seed}, "want the balancer's IPv4 address"},
		{[]string{"-iface", "eth0", "-address", "192.0.2.10/24", "-address6", "192.0.2.11/24", seed}, "-address6 \"192.0.2.11/24\": want the balancer's IPv6 address"},
		{[]string{"-workers", "1,x", seed}, `-workers "1,x": want CPU ids 0..1023`},
		{[]string{"-workers", "1024", seed}, `-workers "1024"`},
		{[]string{"-no-such-flag", seed}, "flag provided but not defined: -no-such-flag"},
		{[]string{filepath.Join(testdata, "no-such-file.conf")}, "no such file or directory"},
	} {
		code, stdout, stderr := run(tc.args...)
		if code != ExitError || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	code, stdout, stderr := run("-h")
	if code != ExitComplete || stdout != "" || !strings.Contains(stderr, "exit status: 0 converted completely; 1 written, with what was not converted") {
		t.Errorf("-h: exit %d, stderr %q", code, stderr)
	}
}

// TestMainExitStatus: 0 complete, 1 written with omissions (each on
// stderr as FILE:LINE: keyword: why), 2 nothing written.
func TestMainExitStatus(t *testing.T) {
	code, stdout, stderr := run(filepath.Join(testdata, "include.conf"))
	if code != ExitComplete || stderr != "" || !strings.Contains(stdout, "# Complete: nothing was left out.") {
		t.Errorf("complete: exit %d, stderr %q", code, stderr)
	}
	code, stdout, stderr = run(filepath.Join(testdata, "unsupported.conf"))
	if code != ExitOmissions || stdout == "" || stderr == "" {
		t.Fatalf("omissions: exit %d, stderr %q", code, stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		file, rest, _ := strings.Cut(line, ":")
		if file != filepath.Join(testdata, "unsupported.conf") || !strings.Contains(rest, ": ") {
			t.Errorf("report line %q is not FILE:LINE: keyword: why", line)
		}
		if !strings.Contains(stdout, "#   "+line+"\n") {
			t.Errorf("report line %q is not in the output's header", line)
		}
	}
	code, stdout, stderr = run(filepath.Join(testdata, "error-unknown-block.conf"))
	if code != ExitError || stdout != "" || !strings.HasPrefix(stderr, filepath.Join(testdata, "error-unknown-block.conf")+":2: ") {
		t.Errorf("error: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestMainOutputFile: -o replaces the file when the conversion writes,
// and leaves it alone when it fails.
func TestMainOutputFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "dsrlb.toml")
	code, stdout, _ := run("-o", out, filepath.Join(testdata, "seed004.conf"))
	data, err := os.ReadFile(out)
	if code != ExitOmissions || stdout != "" || err != nil || !strings.Contains(string(data), `vip = "192.0.2.100"`) {
		t.Fatalf("exit %d, stdout %q, file %v:\n%s", code, stdout, err, data)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v %v", fi.Mode(), err)
	}
	if err := os.WriteFile(out, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, _ = run("-o", out, filepath.Join(testdata, "error-loop.conf"))
	data, _ = os.ReadFile(out)
	if code != ExitError || string(data) != "old\n" {
		t.Errorf("failed conversion: exit %d, file %q", code, data)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	code, _, stderr := run("-o", filepath.Join(t.TempDir(), "no", "dir", "x.toml"), filepath.Join(testdata, "seed004.conf"))
	if code != ExitError || !strings.Contains(stderr, "no such file or directory") {
		t.Errorf("unwritable -o: exit %d, stderr %q", code, stderr)
	}
}

// TestMainValidation: with -iface and -address the result is checked
// as dsrlb loads it, and what it would refuse is reported (exit 1).
func TestMainValidation(t *testing.T) {
	// 192.0.2.21 is not on-link from 198.51.100.10/24: l2dsr needs that.
	code, stdout, stderr := run("-iface", "eth0", "-address", "198.51.100.10/24", filepath.Join(testdata, "include.conf"))
	if code != ExitOmissions || stdout == "" || !strings.Contains(stderr, "stdout:") || !strings.Contains(stderr, "service[0].backend[0].address") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// TestDataplanePCI: -iface takes a PCI address for a NIC bound to DPDK.
func TestDataplanePCI(t *testing.T) {
	code, stdout, stderr := run("-iface", "0000:01:00.0", "-address", "192.0.2.10/24", "-workers", "2,3", filepath.Join(testdata, "include.conf"))
	if code != ExitComplete || !strings.Contains(stdout, `device = "0000:01:00.0"`) || !strings.Contains(stdout, "workers = [2, 3]") {
		t.Errorf("exit %d, stderr %q:\n%s", code, stderr, stdout)
	}
	_, stdout, _ = run("-iface", "eth1", "-address", "192.0.2.10/24", "-workers", "0", filepath.Join(testdata, "include.conf"))
	if !strings.Contains(stdout, "main_cpu = 1") {
		t.Errorf("worker 0: main_cpu not moved:\n%s", stdout)
	}
}
