package conf

import "time"

// Limits and defaults of the [dataplane] keys of connection tracking and
// persistence.
const (
	defConntrackEntries = 1 << 20
	minConntrackEntries = 1024
	maxConntrackEntries = 1 << 26
	defConntrackTimeout = 300 * time.Second // established TCP
	defConntrackSyn     = 30 * time.Second
	defConntrackFin     = 60 * time.Second
	minConntrackTimeout = time.Second
	// maxConntrackTimeout bounds every idle timeout of connection
	// tracking and persistence: the data plane stamps entries in 16-bit
	// seconds (at most 32767 s apart).
	maxConntrackTimeout   = 9 * time.Hour
	idleTimeoutRange      = "1s..9h" // minConntrackTimeout..maxConntrackTimeout, as written in the file
	defPersistenceEntries = 1 << 16
	minPersistenceEntries = 64
	maxPersistenceEntries = 1 << 24
)

// conntrack validates the [dataplane] keys of the connection-tracking
// tables (per worker) and of the persistence table (shared): their sizes
// and the idle timeouts by flow state.
func (v *validator) conntrack(base fieldPath, r *rawDataplane, dp *Dataplane) {
	ce, _ := v.intIn(base.key("conntrack_entries"), r.ConntrackEntries, defConntrackEntries, minConntrackEntries, maxConntrackEntries)
	dp.ConntrackEntries = int(ce)

	dp.ConntrackTimeout = v.idleTimeout(base.key("conntrack_timeout"), r.ConntrackTimeout, defConntrackTimeout)
	dp.ConntrackSynTimeout = v.idleTimeout(base.key("conntrack_syn_timeout"), r.ConntrackSynTimeout, defConntrackSyn)
	dp.ConntrackFinTimeout = v.idleTimeout(base.key("conntrack_fin_timeout"), r.ConntrackFinTimeout, defConntrackFin)
	// UDP has no states: by default its flows live as long as
	// established TCP ones.
	dp.ConntrackUDPTimeout = v.idleTimeout(base.key("conntrack_udp_timeout"), r.ConntrackUDPTimeout, dp.ConntrackTimeout)

	pe, _ := v.intIn(base.key("persistence_entries"), r.PersistenceEntries, defPersistenceEntries, minPersistenceEntries, maxPersistenceEntries)
	dp.PersistenceEntries = ceilPow2(int(pe))
}

// idleTimeout parses an idle timeout of connection tracking, 1s..9h, or
// returns def when val is nil or invalid (reported).
func (v *validator) idleTimeout(p fieldPath, val *string, def time.Duration) time.Duration {
	d, ok := v.duration(p, val, def)
	if !ok {
		return def
	}
	if d < minConntrackTimeout || d > maxConntrackTimeout {
		v.addf(p, "%s %s out of range %s", p.last(), d, idleTimeoutRange)
		return def
	}
	return d
}

// ceilPow2 is the smallest power of two >= n (n >= 1).
func ceilPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}
