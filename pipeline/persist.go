package pipeline

import (
	"fmt"
	"net/netip"
	"sync/atomic"
)

// Persistence (IPVS's persistent services, keepalived's
// persistence_timeout): a client's new connections go to the real server
// of its earlier ones as long as it keeps sending, and for the service's
// timeout after its last packet. A client is its address masked to the
// service's granularity (a /24 keeps a whole network on one server).
//
// The table is shared by the workers: RSS spreads one client's connections
// over the workers by their ports, and each must find the server the
// others chose. An entry is one 64-bit word, read with an atomic load and
// written with compare-and-swap, so there is no lock and no torn entry:
//
//	bits 63..40  tag: the key's high 24 bits (0 marks a free word)
//	bits 39..24  backend reference: index
//	bits 23..16  backend reference: generation
//	bits 15..0   stamp: the client's last packet, Clock seconds mod 2^16
//
// The key's low bits pick a bucket of eight words (one cache line); a new
// client takes a free or expired word of its bucket, else the least
// recently seen one. Words are refreshed at most once a second per flow
// (when the flow's connection-tracking stamp moves), so a busy client
// costs a write a second, not one per packet.
//
// A persisted real server that is no longer in its service, has weight 0
// (drained, inhibited after a failed check, or in a standby priority
// group) or no MAC releases its clients at once: their next connection is
// scheduled again and the entry rewritten, as IPVS does with
// expire_quiescent_template. Connections already open stay where they
// are (connection tracking).
//
// Two first connections of a new client that reach two workers within the
// same instant may both be scheduled and go to two servers; the first
// entry of the bucket wins for every later connection.
type PersistTable struct {
	words []uint64 // accessed atomically only
	mask  uint64   // buckets - 1
	// cursor is the main goroutine's sweep position (Sweep).
	cursor uint64
}

const persistWays = 8

// DefaultPersistEntries is the table's size unless configured.
const DefaultPersistEntries = 1 << 16

// MaxPersistTimeout bounds a service's persistence timeout (seconds): the
// stamps are 16-bit and compared modulo 2^16.
const MaxPersistTimeout = 1<<15 - 1

// NewPersistTable makes a table of at least entries words (a power of two,
// at least one bucket).
func NewPersistTable(entries int) *PersistTable {
	buckets := 1
	for buckets*persistWays < entries {
		buckets <<= 1
	}
	t := &PersistTable{mask: uint64(buckets - 1)}
	var ok bool
	if t.words, ok = hugeSlice[uint64](buckets*persistWays, t); !ok {
		t.words = make([]uint64, buckets*persistWays)
	}
	return t
}

// Len is the table's size in entries.
func (t *PersistTable) Len() int { return len(t.words) }

func (t *PersistTable) bucket(key uint64) []uint64 {
	b := key & t.mask * persistWays
	return t.words[b : b+persistWays : b+persistWays]
}

func persistTag(key uint64) uint64 {
	tag := key >> 40
	if tag == 0 {
		tag = 1
	}
	return tag << 40
}

func persistWord(tag uint64, r ref, now uint16) uint64 {
	return tag | uint64(r.idx)<<24 | uint64(r.gen)<<16 | uint64(now)
}

func wordRef(w uint64) ref { return ref{idx: uint16(w >> 24), gen: uint8(w >> 16)} }

const persistTagMask = uint64(0xffffff) << 40

// lookup returns the reference key's client is persisted to, if its entry
// is younger than timeout.
func (t *PersistTable) lookup(key uint64, now, timeout uint16) (ref, bool) {
	tag := persistTag(key)
	bk := t.bucket(key)
	for i := range bk {
		w := atomic.LoadUint64(&bk[i])
		if w&persistTagMask == tag {
			if now-uint16(w) > timeout {
				return ref{}, false
			}
			return wordRef(w), true
		}
	}
	return ref{}, false
}

// store persists key's client to r: it rewrites the client's entry, or
// takes a free, expired (older than timeout) or the least recently seen
// word of the bucket. It returns the reference in force afterwards: r, or
// the one another worker stored for the client first.
func (t *PersistTable) store(key uint64, r ref, now, timeout uint16) ref {
	tag := persistTag(key)
	want := persistWord(tag, r, now)
	bk := t.bucket(key)
	for range 4 { // a few tries against other workers' writes
		victim, oldest := -1, 0
		var old, oldestW uint64
		for i := range bk {
			w := atomic.LoadUint64(&bk[i])
			if w&persistTagMask == tag || w == 0 || now-uint16(w) > timeout {
				victim, old = i, w
				break
			}
			if i == 0 || now-uint16(w) > now-uint16(oldestW) {
				oldest, oldestW = i, w
			}
		}
		if victim < 0 {
			victim, old = oldest, oldestW
		}
		if atomic.CompareAndSwapUint64(&bk[victim], old, want) {
			// Another worker may have stored the same client in an
			// earlier word meanwhile: the first word wins.
			for i := range victim {
				if w := atomic.LoadUint64(&bk[i]); w&persistTagMask == tag && now-uint16(w) <= timeout {
					atomic.CompareAndSwapUint64(&bk[victim], want, 0)
					return wordRef(w)
				}
			}
			return r
		}
	}
	return r
}

// touch refreshes the stamp of key's client entry if it still holds r.
func (t *PersistTable) touch(key uint64, r ref, now uint16) {
	tag := persistTag(key)
	bk := t.bucket(key)
	for i := range bk {
		w := atomic.LoadUint64(&bk[i])
		if w&persistTagMask == tag {
			if wordRef(w) == r && uint16(w) != now {
				atomic.CompareAndSwapUint64(&bk[i], w, persistWord(tag, r, now))
			}
			return
		}
	}
}

// Sweep frees the words of the next buckets older than MaxPersistTimeout
// (no service keeps a client that long), so no stamp lives long enough
// for modulo arithmetic to make it look fresh. The main goroutine calls
// it; buckets is how many it visits.
func (t *PersistTable) Sweep(now uint16, buckets int) {
	b := t.cursor
	for range buckets {
		bk := t.words[b*persistWays : b*persistWays+persistWays : b*persistWays+persistWays]
		for i := range bk {
			if w := atomic.LoadUint64(&bk[i]); w != 0 && now-uint16(w) > MaxPersistTimeout {
				atomic.CompareAndSwapUint64(&bk[i], w, 0)
			}
		}
		b = (b + 1) & t.mask
	}
	t.cursor = b
}

// Count returns how many words are in use and how many of those were seen
// within the last timeout seconds (for status and tests).
func (t *PersistTable) Count(now, timeout uint16) (used, fresh int) {
	for i := range t.words {
		if w := atomic.LoadUint64(&t.words[i]); w != 0 {
			used++
			if now-uint16(w) <= timeout {
				fresh++
			}
		}
	}
	return used, fresh
}

// setPersistence compiles sc's persistence into svc: the timeout, the mask
// of the client address and the service's key seed (from its VIP,
// protocol and port, so it stays across snapshots and is the same on
// every balancer).
func (svc *service) setPersistence(sc ServiceConfig) error {
	if sc.PersistTimeout == 0 {
		return nil
	}
	if sc.PersistTimeout > MaxPersistTimeout {
		return fmt.Errorf("service %s: persistence timeout %ds above %d", sc.Name, sc.PersistTimeout, MaxPersistTimeout)
	}
	bits := int(sc.PersistPrefix)
	full := 128
	if sc.VIP.Is4() {
		full = 32
	}
	if bits == 0 {
		bits = full
	}
	if bits > full {
		return fmt.Errorf("service %s: persistence prefix /%d longer than the address", sc.Name, bits)
	}
	svc.persist = sc.PersistTimeout
	if sc.VIP.Is4() {
		a := netip.AddrFrom4([4]byte{0xff, 0xff, 0xff, 0xff})
		p, _ := a.Prefix(bits)
		svc.persistMask[0] = uint64(addr4(p.Addr()))
	} else {
		var b [16]byte
		for i := range b {
			b[i] = 0xff
		}
		p, _ := netip.AddrFrom16(b).Prefix(bits)
		svc.persistMask[0], svc.persistMask[1] = split6(p.Addr().As16())
	}
	vh, vl := uint64(0), uint64(0)
	if sc.VIP.Is4() {
		vl = uint64(addr4(sc.VIP))
	} else {
		vh, vl = split6(sc.VIP.As16())
	}
	svc.persistSeed = mix64(vh*mulA ^ vl*mulB ^ uint64(sc.Proto)<<16 ^ uint64(sc.Port) ^ uint64(bits)<<24 ^ flowSeed)
	return nil
}

// persistKey is the persistence key of p's client in svc.
func (svc *service) persistKey(p *Packet) uint64 {
	hi, lo := p.source()
	if p.v6 {
		return svc.persistKey6(hi, lo)
	}
	return svc.persistKey4(uint32(lo))
}

// persistKey4 is the persistence key of IPv4 client src in svc.
func (svc *service) persistKey4(src uint32) uint64 {
	return mix64((uint64(src)&svc.persistMask[0])*mulA ^ svc.persistSeed)
}

// persistKey6 is persistKey4 for an IPv6 client (as two halves).
func (svc *service) persistKey6(hi, lo uint64) uint64 {
	return mix64((hi&svc.persistMask[0])*mulA ^ (lo&svc.persistMask[1])*mulB ^ svc.persistSeed)
}
