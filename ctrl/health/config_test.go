package health

import (
	"math"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Checker: TCP{Port: 80}, Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3, Jitter: DefaultJitter}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no checker", func(c *Config) { c.Checker = nil }, "no health check configured"},
		{"zero interval", func(c *Config) { c.Interval = 0 }, "interval must be positive, got 0s"},
		{"zero timeout", func(c *Config) { c.Timeout = 0 }, "timeout must be positive, got 0s"},
		{"timeout = interval", func(c *Config) { c.Timeout = 2 * time.Second }, "timeout 2s must be shorter than the interval 2s"},
		{"timeout > interval", func(c *Config) { c.Timeout = 3 * time.Second }, "timeout 3s must be shorter than the interval 2s"},
		{"rise 0", func(c *Config) { c.Rise = 0 }, "rise must be at least 1, got 0"},
		{"fall 0", func(c *Config) { c.Fall = 0 }, "fall must be at least 1, got 0"},
		{"fall negative", func(c *Config) { c.Fall = -1 }, "fall must be at least 1, got -1"},
		{"jitter negative", func(c *Config) { c.Jitter = -0.1 }, "jitter -0.1 must be between 0 and 0.5"},
		{"jitter too big", func(c *Config) { c.Jitter = 0.6 }, "jitter 0.6 must be between 0 and 0.5"},
		{"jitter NaN", func(c *Config) { c.Jitter = math.NaN() }, "jitter NaN must be between 0 and 0.5"},
		{"tcp port 0", func(c *Config) { c.Checker = TCP{} }, "tcp check needs a port"},
		{"udp port 0", func(c *Config) { c.Checker = UDP{} }, "udp check needs a port"},
		{"script path", func(c *Config) { c.Checker = Script{} }, "script check needs a path"},
		{"http path", func(c *Config) { c.Checker = HTTP{Path: "healthz"} }, `http path "healthz" must start with /`},
		{"http status", func(c *Config) { c.Checker = HTTP{ExpectStatus: []int{2000}} }, "http status 2000 is not a valid status code"},
	}
	for _, tc := range tests {
		c := ok
		tc.edit(&c)
		err := c.Validate()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	for _, c := range []Config{
		{Checker: ICMP{}, Interval: time.Second, Timeout: 999 * time.Millisecond, Rise: 1, Fall: 1, Jitter: 0},
		{Checker: HTTP{}, Interval: time.Second, Timeout: time.Millisecond, Rise: 1, Fall: 1, Jitter: 0.5},
	} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v, want valid", c, err)
		}
	}
}

func TestConfigSame(t *testing.T) {
	a := Config{Checker: HTTP{Port: 80, Path: "/a"}, Interval: time.Second, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 2, Jitter: 0.1}
	b := a
	b.Checker = HTTP{Port: 80, Path: "/a"}
	if !a.same(b) {
		t.Error("equal configs differ")
	}
	for _, edit := range []func(*Config){
		func(c *Config) { c.Checker = HTTP{Port: 80, Path: "/b"} },
		func(c *Config) { c.Checker = HTTP{Port: 80, Path: "/a", ExpectBody: "x"} },
		func(c *Config) { c.Checker = TCP{Port: 80} },
		func(c *Config) { c.Interval++ },
		func(c *Config) { c.Timeout++ },
		func(c *Config) { c.Rise++ },
		func(c *Config) { c.Fall++ },
		func(c *Config) { c.Jitter = 0.2 },
		func(c *Config) { c.StartUp = true },
	} {
		c := a
		edit(&c)
		if a.same(c) {
			t.Errorf("%+v reported the same as %+v", c, a)
		}
	}
	u1 := UDP{Port: 53, Payload: make([]byte, 100)}
	u2 := UDP{Port: 53, Payload: make([]byte, 100)}
	u2.Payload[99] = 1
	if u1.String() == u2.String() {
		t.Errorf("different long payloads give the same String %q", u1)
	}
}

func TestConfigDelays(t *testing.T) {
	c := Config{Interval: 100 * time.Millisecond, Jitter: 0.1}
	for range 1000 {
		if d := c.nextDelay(); d < 90*time.Millisecond || d > 110*time.Millisecond {
			t.Fatalf("nextDelay %s outside 100ms ± 10%%", d)
		}
		if d := c.firstDelay(); d < 0 || d >= 100*time.Millisecond {
			t.Fatalf("firstDelay %s outside [0, 100ms)", d)
		}
	}
	c.Jitter = 0
	if d := c.nextDelay(); d != 100*time.Millisecond {
		t.Errorf("no jitter: nextDelay %s", d)
	}
}
