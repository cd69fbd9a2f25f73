// Package ctrl will hold the control process (dsrlb-ctrl): health checks,
// VRRP, configuration reload and the producer side of the shared-memory
// ring to the data plane. It is not written yet; today the data plane runs
// from its TOML configuration alone.
package ctrl
