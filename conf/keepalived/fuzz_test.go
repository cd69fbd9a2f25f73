package keepalived

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"dsrlb/conf"
)

// FuzzParse feeds arbitrary bytes to the parser and the converter (with
// an include to a file beside it, and one to itself). They must never
// panic; errors are positioned (*Error with a file and a line); a
// conversion writes TOML, and dsrlb's own parser survives it.
func FuzzParse(f *testing.F) {
	err := filepath.Walk(testdata, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if ext := filepath.Ext(path); ext == ".conf" || ext == ".inc" {
			b, err := os.ReadFile(path)
			f.Add(b)
			return err
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("include inc/*.conf\ninclude inc/{a,b}.conf\n"))
	f.Add([]byte("virtual_server group G {\n real_server 192.0.2.21 80 {\n  MISC_CHECK {\n   misc_path \"/bin/x 'a b'\"\n  }\n }\n}\nvirtual_server_group G {\n 192.0.2.1-3 80\n}\n"))
	opts := []Options{{}, {Iface: "eth0", Address: netip.MustParsePrefix("192.0.2.10/24"), Address6: netip.MustParsePrefix("2001:db8::10/64")}}
	f.Fuzz(func(t *testing.T, data []byte) {
		files := mapFiles{
			"fuzz.conf":   string(data),
			"inc/a.conf":  "virtual_server 192.0.2.100 80 {\n lvs_method DR\n real_server 192.0.2.21 80 {\n TCP_CHECK {\n }\n }\n}\n",
			"inc/b.conf":  "include ../fuzz.conf\n",
			"inc/c.conf":  string(data),
			"inc/d/x.inc": "vrrp_instance V {\n virtual_router_id 1\n virtual_ipaddress {\n 192.0.2.100\n }\n}\n",
		}
		nodes, err := Parse(files, "fuzz.conf", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Pos.File == "" || e.Pos.Line < 1 {
				t.Fatalf("parse error without a position: %v", err)
			}
			return
		}
		for _, opt := range opts {
			res, err := Convert("fuzz.conf", nodes, opt)
			if err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					if !strings.Contains(line, ".conf:") && !strings.Contains(line, ".inc:") {
						t.Fatalf("conversion error without a position: %q", line)
					}
				}
				continue
			}
			var tree map[string]any
			if _, err := toml.Decode(string(res.TOML), &tree); err != nil {
				t.Fatalf("output is not TOML: %v\n%s", err, res.TOML)
			}
			_, _ = conf.Parse("fuzz.toml", res.TOML)
		}
	})
}
