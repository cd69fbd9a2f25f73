package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHugepagesHelper runs the data plane's ExecStartPre helper against
// a fake sysfs tree: it only ever raises the reservation, to exactly the
// number wanted, on the size and node asked for.
func TestHugepagesHelper(t *testing.T) {
	const global = "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
	const node1 = "devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"
	const giant = "kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"
	cases := []struct {
		name   string
		env    []string
		have   map[string]string // file -> count before
		status int
		after  map[string]string // file -> count after
		out    string            // substring of the output
	}{
		{"default does nothing", nil,
			map[string]string{global: "0"}, 0, map[string]string{global: "0"}, ""},
		{"zero does nothing", []string{"DSRLB_HUGEPAGES=0"},
			map[string]string{global: "16"}, 0, map[string]string{global: "16"}, ""},
		{"raises", []string{"DSRLB_HUGEPAGES=512"},
			map[string]string{global: "100"}, 0, map[string]string{global: "512"}, "reserved 512 hugepages of 2048 kB (there were 100)"},
		{"leading zeros are decimal", []string{"DSRLB_HUGEPAGES=0010"},
			map[string]string{global: "0"}, 0, map[string]string{global: "10"}, "reserved 10"},
		{"never lowers a boot-time reservation", []string{"DSRLB_HUGEPAGES=256"},
			map[string]string{global: "1024"}, 0, map[string]string{global: "1024"}, "1024 hugepages of 2048 kB reserved, 256 wanted: nothing to do"},
		{"equal is enough", []string{"DSRLB_HUGEPAGES=64"},
			map[string]string{global: "64"}, 0, map[string]string{global: "64"}, "nothing to do"},
		{"on a NUMA node", []string{"DSRLB_HUGEPAGES=128", "DSRLB_HUGEPAGE_NODE=1"},
			map[string]string{global: "0", node1: "2"}, 0, map[string]string{global: "0", node1: "128"}, "on NUMA node 1"},
		{"1 GiB pages", []string{"DSRLB_HUGEPAGES=4", "DSRLB_HUGEPAGE_SIZE=1048576"},
			map[string]string{global: "0", giant: "0"}, 0, map[string]string{global: "0", giant: "4"}, "reserved 4 hugepages of 1048576 kB"},
		{"size the machine lacks", []string{"DSRLB_HUGEPAGES=4", "DSRLB_HUGEPAGE_SIZE=1048576"},
			map[string]string{global: "0"}, 1, map[string]string{global: "0"}, "no 1048576 kB hugepages on this machine (sizes: 2048kB)"},
		{"node the machine lacks", []string{"DSRLB_HUGEPAGES=4", "DSRLB_HUGEPAGE_NODE=3"},
			map[string]string{global: "0"}, 1, map[string]string{global: "0"}, "on NUMA node 3"},
		{"bad count", []string{"DSRLB_HUGEPAGES=512MB"},
			map[string]string{global: "0"}, 2, map[string]string{global: "0"}, `DSRLB_HUGEPAGES="512MB": want a decimal number`},
		{"bad size", []string{"DSRLB_HUGEPAGES=1", "DSRLB_HUGEPAGE_SIZE=2M"},
			map[string]string{global: "0"}, 2, map[string]string{global: "0"}, "DSRLB_HUGEPAGE_SIZE"},
		{"bad node", []string{"DSRLB_HUGEPAGES=1", "DSRLB_HUGEPAGE_NODE=-1"},
			map[string]string{global: "0"}, 2, map[string]string{global: "0"}, "DSRLB_HUGEPAGE_NODE"},
	}
	helper, err := filepath.Abs(src(hugepagesPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sys := t.TempDir()
			for f, n := range c.have {
				p := filepath.Join(sys, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(n+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(helper)
			// As systemd runs it: the unit's environment only.
			cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "DSRLB_SYSFS=" + sys}, c.env...)
			out, err := cmd.CombinedOutput()
			status := 0
			if ee, ok := err.(*exec.ExitError); ok {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != c.status {
				t.Errorf("exit status %d, want %d; output:\n%s", status, c.status, out)
			}
			if !strings.Contains(string(out), c.out) {
				t.Errorf("output %q lacks %q", out, c.out)
			}
			if c.out == "" && len(out) > 0 {
				t.Errorf("output %q, want none", out)
			}
			for f, want := range c.after {
				got, err := os.ReadFile(filepath.Join(sys, f))
				if err != nil {
					t.Fatal(err)
				}
				if strings.TrimSpace(string(got)) != want {
					t.Errorf("%s: %s, want %s", f, strings.TrimSpace(string(got)), want)
				}
			}
		})
	}
}
