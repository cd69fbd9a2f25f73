package keepalived

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"dsrlb/conf"
)

var update = flag.Bool("update", false, "rewrite the golden .toml and .report files in conf/testdata/keepalived")

// testdata is where the golden files are, from this package.
const testdata = "../testdata/keepalived"

// goldenArgs reads the flags of a golden input from its "# args:" line.
func goldenArgs(data []byte) []string {
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "# args:"); ok {
			return strings.Fields(rest)
		}
	}
	return nil
}

// TestGolden converts every conf/testdata/keepalived/*.conf with the flags
// of its "# args:" line, as `dsrlbctl import keepalived` does, and
// compares stdout with NAME.toml and stderr with its exit status with
// NAME.report (-update rewrites them). A conversion that fails writes
// nothing and has no .toml. Every written file is TOML; one with a
// [dataplane] from -iface and -address is a configuration dsrlb loads.
func TestGolden(t *testing.T) {
	t.Chdir(testdata)
	names, err := filepath.Glob("*.conf")
	if err != nil || len(names) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, name := range names {
		base := strings.TrimSuffix(name, ".conf")
		t.Run(base, func(t *testing.T) {
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			args := goldenArgs(data)
			var stdout, stderr bytes.Buffer
			code := Main(append(slices.Clone(args), name), &stdout, &stderr)
			golden(t, base+".report", stderr.String()+fmt.Sprintf("exit status %d\n", code))
			if code == ExitError {
				if stdout.Len() != 0 {
					t.Errorf("exit status %d with output:\n%s", code, stdout.String())
				}
				if _, err := os.Stat(base + ".toml"); err == nil && !*update {
					t.Errorf("%s.toml exists for a conversion that fails", base)
				} else if err == nil {
					os.Remove(base + ".toml")
				}
				return
			}
			golden(t, base+".toml", stdout.String())
			var tree map[string]any
			if _, err := toml.Decode(stdout.String(), &tree); err != nil {
				t.Fatalf("output is not TOML: %v", err)
			}
			if slices.Contains(args, "-iface") {
				if _, err := conf.Parse(base+".toml", stdout.Bytes()); err != nil {
					t.Fatalf("output with -iface and -address does not load:\n%v", err)
				}
			}
		})
	}
}

// golden compares got with the file name, or writes it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(name, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run go test -run Golden -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -run Golden -update rewrites it):\n%s", name, lineDiff(string(want), got))
	}
}

// lineDiff shows the first lines where want and got differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// TestGoldenCoverage keeps the goldens exhaustive: every keyword the
// converter maps and every case it reports appears in an input.
func TestGoldenCoverage(t *testing.T) {
	var all strings.Builder
	err := filepath.Walk(testdata, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(path); ext == ".conf" || ext == ".inc" {
			b, err := os.ReadFile(path)
			all.Write(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	text := all.String()
	var keywords []string
	for k := range topUnsupported {
		keywords = append(keywords, k)
	}
	for k := range vrrpUnsupported {
		keywords = append(keywords, k)
	}
	keywords = append(keywords,
		// mapped
		"virtual_server_group", "virtual_server group", "lvs_sched", "lb_algo", "lvs_method", "lb_kind",
		"type gue port", "type gre", "nocsum", "persistence_timeout", "persistence_granularity", "protocol",
		"sorry_server", "quorum", "hysteresis", "alpha", "inhibit_on_failure", "real_server", "weight",
		"delay_loop", "connect_timeout", "retry", "nb_get_retry", "connect_port", "virtualhost",
		"TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "PING_CHECK", "UDP_CHECK", "url", "path",
		"status_code", "regex", "misc_path", "misc_timeout", "payload", "require_reply", "mh-port", "sh-port",
		"vrrp_instance", "state", "interface", "virtual_router_id", "priority", "advert_int",
		"virtual_ipaddress", "authentication", "auth_type", "auth_pass", "nopreempt", "preempt_delay",
		"unicast_peer", "unicast_src_ip", "version", "vrrp_version", "vrrp_sync_group",
		"garp_master_delay", "garp_master_repeat", "garp_master_refresh", "vrrp_garp_master_delay",
		"notify_master", "notify_backup", "notify_fault", "notify ", "v3_checksum_as_v2", "include",
		// reported
		"fwmark", "lblc", "lblcr", "dh", "sed", "nq", "ovf", "NAT", "SCTP", "omega", "quorum_up",
		"quorum_down", "ha_suspend", "persistence_engine", "ops", "flag-3", "digest", "SMTP_CHECK",
		"DNS_CHECK", "BFD_CHECK", "FILE_CHECK", "delay_before_retry", "warmup", "connect_ip", "bindto",
		"misc_dynamic", "user", "notify_up", "notify_down", "uthreshold", "lthreshold", "smtp_alert",
		"sorry_server_inhibit", "sorry_server_lvs_method", "csum", "tun_type", "tun_port", "track_script",
		"min_reply_length", "mcast_src_ip", "auth_type AH",
	)
	for _, k := range keywords {
		if !strings.Contains(text, k) {
			t.Errorf("no golden input has %q", k)
		}
	}
}
