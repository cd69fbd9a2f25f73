package keepalived

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTimers(t *testing.T) {
	for in, want := range map[string]string{
		"3": "3s", "0": "0s", "0.5": "500ms", "2.5": "2.5s", "0.015": "15ms", "2.71828": "2.71828s",
		"3600": "1h", "5400": "5400s", "0.0015": "1.5ms", "60": "60s",
	} {
		d, err := parseTimer(in)
		if err != nil || goDuration(d) != want {
			t.Errorf("%q: %s %v, want %s", in, goDuration(d), err, want)
		}
		if back, err := time.ParseDuration(goDuration(d)); err != nil || back != d {
			t.Errorf("%q: %q is not the Go duration %v", in, goDuration(d), d)
		}
	}
	for _, in := range []string{"", "-1", "x", "1e3", "NaN", "Inf", "0x10", "1_0"} {
		if _, err := parseTimer(in); err == nil {
			t.Errorf("parseTimer(%q): no error", in)
		}
	}
}

func TestParseRange(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":               "192.0.2.1",
		"192.0.2.1-3":             "192.0.2.1 192.0.2.2 192.0.2.3",
		"192.0.2.254-192.0.3.1":   "192.0.2.254 192.0.2.255 192.0.3.0 192.0.3.1",
		"192.0.2.8/30":            "192.0.2.8 192.0.2.9 192.0.2.10 192.0.2.11",
		"192.0.2.9/30":            "192.0.2.8 192.0.2.9 192.0.2.10 192.0.2.11",
		"2001:db8::1-3":           "2001:db8::1 2001:db8::2 2001:db8::3",
		"2001:db8::a-c":           "2001:db8::a 2001:db8::b 2001:db8::c",
		"::ffff:192.0.2.1":        "192.0.2.1",
		"2001:db8::1-2001:db8::2": "2001:db8::1 2001:db8::2",
		"2001:db8::/127":          "2001:db8:: 2001:db8::1",
		"192.0.2.0-192.0.2.255":   strings.TrimSpace(strings.Repeat("x ", 256)),
		"192.0.2.5-5":             "192.0.2.5",
		"10.0.0.255-10.0.1.0":     "10.0.0.255 10.0.1.0",
		"255.255.255.255":         "255.255.255.255",
		"255.255.255.254-255":     "255.255.255.254 255.255.255.255",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe-ffff": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	} {
		addrs, err := parseRange(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		var got []string
		for _, a := range addrs {
			got = append(got, a.String())
		}
		if in == "192.0.2.0-192.0.2.255" {
			if len(got) != 256 {
				t.Errorf("%q: %d addresses", in, len(got))
			}
			continue
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%q: %q, want %q", in, strings.Join(got, " "), want)
		}
	}
	for _, in := range []string{"x", "192.0.2.3-1", "192.0.2.1-256", "192.0.2.0/23", "192.0.2.0-192.0.3.0", "192.0.2.1-2001:db8::1", "2001:db8::/64", "fe80::1%eth0", "192.0.2.1-x"} {
		if _, err := parseRange(in); err == nil {
			t.Errorf("parseRange(%q): no error", in)
		}
	}
}

func TestDecodeHex(t *testing.T) {
	b, err := decodeHex(strings.Fields("Ab12f 3 456 546443123"))
	want := []byte{0xab, 0x12, 0x0f, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03}
	if err != nil || !slices.Equal(b, want) {
		t.Errorf("got % x %v, want % x (keepalived's example)", b, err, want)
	}
	if _, err := decodeHex([]string{"zz"}); err == nil {
		t.Error("zz: no error")
	}
}

func TestSplitCommand(t *testing.T) {
	for in, want := range map[string][]string{
		"/bin/check":               {"/bin/check"},
		" /bin/check  -a   b ":     {"/bin/check", "-a", "b"},
		"/bin/check 'a b' c'd e'f": {"/bin/check", "a b", "cd ef"},
		"/bin/check ''":            {"/bin/check", ""},
		"":                         nil,
	} {
		if got := splitCommand(in); !slices.Equal(got, want) {
			t.Errorf("splitCommand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStatusCodes(t *testing.T) {
	got, err := statusCodes([]string{"301", "200-202", "201"})
	if err != nil || !slices.Equal(got, []int{200, 201, 202, 301}) {
		t.Errorf("got %v %v", got, err)
	}
	for _, bad := range [][]string{nil, {"99"}, {"600"}, {"300-200"}, {"x"}, {"200-"}} {
		if _, err := statusCodes(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestServiceName: names follow conf's rule, stay unique and short.
func TestServiceName(t *testing.T) {
	c := &converter{}
	var names []string
	add := func(a string, port int64, proto string) string {
		name := c.serviceName(netip.MustParseAddr(a), port, proto)
		names = append(names, name)
		return name
	}
	for _, tc := range []struct {
		addr  string
		port  int64
		proto string
		want  string
	}{
		{"192.0.2.100", 80, "tcp", "vs-192.0.2.100-80"},
		{"192.0.2.100", 80, "udp", "vs-192.0.2.100-80-udp"},
		{"192.0.2.100", 80, "tcp", "vs-192.0.2.100-80-2"},
		{"2001:db8::100", 443, "tcp", "vs-2001.db8..100-443"},
		{"2001:db8:1234:5678:9abc:def0:1234:5678", 65535, "udp", ""},
		{"2001:db8:1234:5678:9abc:def0:1234:5678", 65535, "udp", ""},
	} {
		got := add(tc.addr, tc.port, tc.proto)
		if tc.want != "" && got != tc.want {
			t.Errorf("%s %d %s: %q, want %q", tc.addr, tc.port, tc.proto, got, tc.want)
		}
		if !nameRE.MatchString(got) {
			t.Errorf("%q breaks conf's name rule", got)
		}
	}
	if a, b := names[4], names[5]; a == b {
		t.Errorf("two services named %s", a)
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"VI_1": "VI_1", "VI 1": "VI_1", "a:b/c": "a_b_c", "": "x",
		strings.Repeat("n", 40): strings.Repeat("n", 32),
	} {
		if got := safeName(in, "x"); got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTOMLString(t *testing.T) {
	for in, want := range map[string]string{
		`a"b\c`: `"a\"b\\c"`, "t\tn\n": `"t\tn\n"`, "\x01\x7f": `"\u0001\u007F"`, "é": `"é"`,
	} {
		if got := tomlString(in); got != want {
			t.Errorf("tomlString(%q) = %s, want %s", in, got, want)
		}
	}
}
