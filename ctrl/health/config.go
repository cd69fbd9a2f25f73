package health

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"time"
)

// DefaultJitter is the jitter the configuration loader should use when the
// operator does not set one. (A zero Config.Jitter means no jitter.)
const DefaultJitter = 0.1

// Config is the health check of one real server.
type Config struct {
	Checker  Checker
	Interval time.Duration // time between the starts of two probes
	Timeout  time.Duration // per probe; shorter than Interval
	Rise     int           // consecutive successes that bring a down server up
	Fall     int           // consecutive failures that take an up server down
	// Jitter spreads probes: each wait is Interval × (1 ± Jitter), drawn
	// uniformly. 0 disables it; DefaultJitter is 0.1.
	Jitter float64
	// StartUp is the state of a new target before its first probe.
	// keepalived's alpha=false is StartUp=true. StartUp=false (alpha=true)
	// starts the server down until its first successful probe, which
	// brings it up at once (Rise applies from then on).
	StartUp bool
}

// Validate checks the settings; the error names the first bad one.
func (c Config) Validate() error {
	if c.Checker == nil {
		return errors.New("no health check configured")
	}
	if c.Interval <= 0 {
		return fmt.Errorf("interval must be positive, got %s", c.Interval)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout must be positive, got %s", c.Timeout)
	}
	if c.Timeout >= c.Interval {
		return fmt.Errorf("timeout %s must be shorter than the interval %s", c.Timeout, c.Interval)
	}
	if c.Rise < 1 {
		return fmt.Errorf("rise must be at least 1, got %d", c.Rise)
	}
	if c.Fall < 1 {
		return fmt.Errorf("fall must be at least 1, got %d", c.Fall)
	}
	if !(c.Jitter >= 0 && c.Jitter <= 0.5) { // also rejects NaN
		return fmt.Errorf("jitter %g must be between 0 and 0.5", c.Jitter)
	}
	if v, ok := c.Checker.(validator); ok {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// same reports whether a and b describe the same check: the checker's type
// and String, and every numeric setting.
func (c Config) same(o Config) bool {
	if (c.Checker == nil) != (o.Checker == nil) {
		return false
	}
	if c.Checker != nil && (reflect.TypeOf(c.Checker) != reflect.TypeOf(o.Checker) || c.Checker.String() != o.Checker.String()) {
		return false
	}
	return c.Interval == o.Interval && c.Timeout == o.Timeout &&
		c.Rise == o.Rise && c.Fall == o.Fall &&
		c.Jitter == o.Jitter && c.StartUp == o.StartUp
}

// nextDelay is the jittered wait between the starts of two probes.
func (c Config) nextDelay() time.Duration {
	f := 1 + c.Jitter*(2*rand.Float64()-1)
	return time.Duration(float64(c.Interval) * f)
}

// firstDelay is a random fraction of the interval, so that targets started
// together do not probe in step.
func (c Config) firstDelay() time.Duration {
	return time.Duration(rand.Float64() * float64(c.Interval))
}
