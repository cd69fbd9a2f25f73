package realserver

// What the doctor understands of `nft -j list ruleset`: base chains (hook,
// type, priority), rules in listing order, named sets, and per rule which
// packets it can match and what it does to them. Matches are evaluated
// against a described packet (nftPacket) to yes, no or maybe: maybe when
// the rule looks at something the doctor cannot know (the client's
// address, marks, conntrack state, fib lookups), so a rule is never
// taken to match or not match on a guess. Rules in chains that are only
// reached by jump or goto are not followed, and rules iptables-nft wrote
// (xt expressions) are opaque; iptables-legacy rules are not seen at all.

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

type nftRuleset struct {
	chains map[string]*nftChain // family/table/chain
	rules  []*nftRule           // in listing order, which is each chain's order
	sets   map[string][]json.RawMessage
}

type nftChain struct {
	Family, Table, Name string
	Type, Hook          string // empty for a regular chain
	Prio                int
}

func (c *nftChain) base() bool { return c.Hook != "" }

type nftRule struct {
	Family, Table, Chain string
	Handle               int
	Expr                 []map[string]json.RawMessage
	chain                *nftChain
}

// where names the rule as nft's delete command does.
func (r *nftRule) where() string {
	return fmt.Sprintf("%s %s %s handle %d", r.Family, r.Table, r.Chain, r.Handle)
}

// deleteStep removes the rule.
func (r *nftRule) deleteStep(comment string) Step {
	return Step{Comment: comment, Argv: []string{"nft", "delete", "rule", r.Family, r.Table, r.Chain,
		"handle", strconv.Itoa(r.Handle)}}
}

// namedPrio are the priority names of the ip, ip6 and inet families.
var namedPrio = map[string]int{"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}

// conntrackPrio is where conntrack sits in prerouting and output: only
// rules before it can untrack a packet or rewrite it unseen.
const conntrackPrio = -200

func parseRuleset(b []byte) (*nftRuleset, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("nft -j list ruleset: %w", err)
	}
	if doc.Nftables == nil {
		return nil, fmt.Errorf("nft -j list ruleset: no \"nftables\" array")
	}
	rs := &nftRuleset{chains: map[string]*nftChain{}, sets: map[string][]json.RawMessage{}}
	for _, obj := range doc.Nftables {
		switch {
		case obj["chain"] != nil:
			var c struct {
				Family, Table, Name, Type, Hook string
				Prio                            json.RawMessage
			}
			if err := json.Unmarshal(obj["chain"], &c); err != nil {
				return nil, fmt.Errorf("nft chain: %w", err)
			}
			ch := &nftChain{Family: c.Family, Table: c.Table, Name: c.Name, Type: c.Type, Hook: c.Hook}
			if c.Hook != "" {
				p, err := parsePrio(c.Prio)
				if err != nil {
					return nil, fmt.Errorf("nft chain %s %s %s: %w", c.Family, c.Table, c.Name, err)
				}
				ch.Prio = p
			}
			rs.chains[c.Family+"/"+c.Table+"/"+c.Name] = ch
		case obj["rule"] != nil:
			var r nftRule
			if err := json.Unmarshal(obj["rule"], &r); err != nil {
				return nil, fmt.Errorf("nft rule: %w", err)
			}
			rs.rules = append(rs.rules, &r)
		case obj["set"] != nil:
			var s struct {
				Family, Table, Name string
				Elem                []json.RawMessage
			}
			if err := json.Unmarshal(obj["set"], &s); err != nil {
				return nil, fmt.Errorf("nft set: %w", err)
			}
			rs.sets[s.Family+"/"+s.Table+"/"+s.Name] = s.Elem
		}
	}
	for _, r := range rs.rules {
		r.chain = rs.chains[r.Family+"/"+r.Table+"/"+r.Chain]
		if r.chain == nil {
			r.chain = &nftChain{Family: r.Family, Table: r.Table, Name: r.Chain}
		}
	}
	return rs, nil
}

func parsePrio(raw json.RawMessage) (int, error) {
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if p, ok := namedPrio[s]; ok {
			return p, nil
		}
	}
	return 0, fmt.Errorf("priority %s not understood", raw)
}

// chain returns the chain family/table/name, or nil.
func (rs *nftRuleset) chain(family, table, name string) *nftChain {
	return rs.chains[family+"/"+table+"/"+name]
}

// hasTable reports whether any chain or rule belongs to family/table.
func (rs *nftRuleset) hasTable(family, table string) bool {
	for _, c := range rs.chains {
		if c.Family == family && c.Table == table {
			return true
		}
	}
	return false
}

// rulesIn returns the rules of base chains that pass keep, in order.
func (rs *nftRuleset) rulesIn(keep func(*nftChain) bool) []*nftRule {
	var out []*nftRule
	for _, r := range rs.rules {
		if r.chain.base() && keep(r.chain) {
			out = append(out, r)
		}
	}
	return out
}

// match is the answer to "does this rule match this packet".
type match int8

const (
	matchNo match = iota
	matchMaybe
	matchYes
)

func (m match) and(o match) match { return min(m, o) }

func (m match) not() match { return matchYes - m }

// nftPacket describes a packet by what the doctor knows of it; zero
// values are unknown.
type nftPacket struct {
	v6           bool
	iif, oif     string
	saddr, daddr netip.Addr
	proto        uint8 // 6 tcp, 17 udp
	sport, dport uint16
	dscp         int // -1 unknown
}

// matches evaluates every match expression of r against p.
func (rs *nftRuleset) matches(r *nftRule, p nftPacket) match {
	switch r.Family {
	case "ip":
		if p.v6 {
			return matchNo
		}
	case "ip6":
		if !p.v6 {
			return matchNo
		}
	case "inet":
	default:
		return matchNo // arp, bridge, netdev: not the IP hooks
	}
	res := matchYes
	for _, e := range r.Expr {
		if raw, ok := e["match"]; ok {
			res = res.and(rs.evalMatch(r, raw, p))
			if res == matchNo {
				return matchNo
			}
		}
	}
	return res
}

func (rs *nftRuleset) evalMatch(r *nftRule, raw json.RawMessage, p nftPacket) match {
	var m struct {
		Op    string          `json:"op"`
		Left  json.RawMessage `json:"left"`
		Right json.RawMessage `json:"right"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return matchMaybe
	}
	var left struct {
		Payload *struct{ Protocol, Field string } `json:"payload"`
		Meta    *struct{ Key string }             `json:"meta"`
	}
	if json.Unmarshal(m.Left, &left) != nil {
		return matchMaybe
	}
	var value any // what the packet has, nil when unknown
	var kind valueKind
	switch {
	case left.Payload != nil:
		pl := left.Payload
		switch pl.Protocol {
		case "ip", "ip6":
			if p.v6 != (pl.Protocol == "ip6") {
				return matchNo // the implied nfproto dependency
			}
		case "tcp", "udp":
			want := uint8(6)
			if pl.Protocol == "udp" {
				want = 17
			}
			if p.proto != 0 && p.proto != want {
				return matchNo // the implied l4proto dependency
			}
		}
		switch {
		case (pl.Protocol == "ip" || pl.Protocol == "ip6") && pl.Field == "saddr":
			value, kind = optAddr(p.saddr), kindAddr
		case (pl.Protocol == "ip" || pl.Protocol == "ip6") && pl.Field == "daddr":
			value, kind = optAddr(p.daddr), kindAddr
		case (pl.Protocol == "ip" || pl.Protocol == "ip6") && pl.Field == "dscp":
			if p.dscp >= 0 {
				value = p.dscp
			}
			kind = kindDSCP
		case pl.Protocol == "ip" && pl.Field == "protocol", pl.Protocol == "ip6" && pl.Field == "nexthdr":
			value, kind = optNum(int(p.proto)), kindProto
		case (pl.Protocol == "tcp" || pl.Protocol == "udp" || pl.Protocol == "th") && pl.Field == "dport":
			value, kind = optNum(int(p.dport)), kindNum
		case (pl.Protocol == "tcp" || pl.Protocol == "udp" || pl.Protocol == "th") && pl.Field == "sport":
			value, kind = optNum(int(p.sport)), kindNum
		default:
			return matchMaybe
		}
	case left.Meta != nil:
		switch left.Meta.Key {
		case "iifname", "iif":
			value, kind = optString(p.iif), kindIfname
		case "oifname", "oif":
			value, kind = optString(p.oif), kindIfname
		case "l4proto":
			value, kind = optNum(int(p.proto)), kindProto
		case "nfproto":
			value, kind = "ipv4", kindString
			if p.v6 {
				value = "ipv6"
			}
		default:
			return matchMaybe
		}
	default:
		return matchMaybe // ct, fib, socket, bitwise, tcp options, xt ...
	}
	if value == nil {
		return matchMaybe
	}
	in, ok := rs.contains(r, m.Right, kind, value)
	if !ok {
		return matchMaybe
	}
	res := matchNo
	if in {
		res = matchYes
	}
	switch m.Op {
	case "==", "":
		return res
	case "!=":
		return res.not()
	}
	return matchMaybe
}

func optAddr(a netip.Addr) any {
	if a.IsValid() {
		return a
	}
	return nil
}

func optNum(n int) any {
	if n != 0 {
		return n
	}
	return nil
}

func optString(s string) any {
	if s != "" {
		return s
	}
	return nil
}

type valueKind int

const (
	kindAddr valueKind = iota
	kindNum
	kindDSCP
	kindProto
	kindIfname
	kindString
)

// contains reports whether the right-hand side of a match (a value, an
// anonymous set, a named set, a prefix or a range) contains v; ok is false
// when the doctor cannot tell.
func (rs *nftRuleset) contains(r *nftRule, right json.RawMessage, kind valueKind, v any) (in, ok bool) {
	var name string
	if json.Unmarshal(right, &name) == nil && strings.HasPrefix(name, "@") {
		elems, found := rs.sets[r.Family+"/"+r.Table+"/"+name[1:]]
		if !found {
			return false, false
		}
		return elemsContain(elems, kind, v)
	}
	var set struct {
		Set []json.RawMessage `json:"set"`
	}
	if json.Unmarshal(right, &set) == nil && set.Set != nil {
		return elemsContain(set.Set, kind, v)
	}
	return elemContains(right, kind, v)
}

func elemsContain(elems []json.RawMessage, kind valueKind, v any) (in, ok bool) {
	sure := true
	for _, e := range elems {
		in, ok := elemContains(e, kind, v)
		if ok && in {
			return true, true
		}
		sure = sure && ok
	}
	return false, sure
}

// elemContains handles one element: a scalar, {"prefix": ...},
// {"range": [lo, hi]} or {"elem": {"val": ...}} (an element with
// options such as a timeout).
func elemContains(e json.RawMessage, kind valueKind, v any) (in, ok bool) {
	var obj struct {
		Prefix *struct {
			Addr string `json:"addr"`
			Len  int    `json:"len"`
		} `json:"prefix"`
		Range []json.RawMessage `json:"range"`
		Elem  *struct {
			Val json.RawMessage `json:"val"`
		} `json:"elem"`
	}
	if len(e) > 0 && e[0] == '{' {
		if json.Unmarshal(e, &obj) != nil {
			return false, false
		}
		switch {
		case obj.Elem != nil:
			return elemContains(obj.Elem.Val, kind, v)
		case obj.Prefix != nil && kind == kindAddr:
			a, err := netip.ParseAddr(obj.Prefix.Addr)
			if err != nil {
				return false, false
			}
			pfx, err := a.Prefix(obj.Prefix.Len)
			if err != nil {
				return false, false
			}
			return pfx.Contains(v.(netip.Addr)), true
		case len(obj.Range) == 2:
			return inRange(obj.Range[0], obj.Range[1], kind, v)
		}
		return false, false
	}
	switch kind {
	case kindAddr:
		var s string
		if json.Unmarshal(e, &s) != nil {
			return false, false
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return false, false
		}
		return a == v.(netip.Addr), true
	case kindIfname, kindString:
		var s string
		if json.Unmarshal(e, &s) != nil {
			return false, false
		}
		if kind == kindIfname {
			if pre, wild := strings.CutSuffix(s, "*"); wild && !strings.HasSuffix(pre, `\`) {
				return strings.HasPrefix(v.(string), pre), true
			}
		}
		return s == v.(string), true
	default:
		n, ok := scalarNum(e, kind)
		return ok && n == v.(int), ok
	}
}

func inRange(lo, hi json.RawMessage, kind valueKind, v any) (in, ok bool) {
	if kind == kindAddr {
		var l, h string
		if json.Unmarshal(lo, &l) != nil || json.Unmarshal(hi, &h) != nil {
			return false, false
		}
		la, err1 := netip.ParseAddr(l)
		ha, err2 := netip.ParseAddr(h)
		if err1 != nil || err2 != nil {
			return false, false
		}
		a := v.(netip.Addr)
		return la.Compare(a) <= 0 && a.Compare(ha) <= 0, true
	}
	l, ok1 := scalarNum(lo, kind)
	h, ok2 := scalarNum(hi, kind)
	if !ok1 || !ok2 {
		return false, false
	}
	n := v.(int)
	return l <= n && n <= h, true
}

// dscpNames are nft's symbolic DSCP values (nft describe ip dscp).
var dscpNames = map[string]int{
	"cs0": 0, "cs1": 8, "cs2": 16, "cs3": 24, "cs4": 32, "cs5": 40, "cs6": 48, "cs7": 56,
	"df": 0, "be": 0, "lephb": 1,
	"af11": 10, "af12": 12, "af13": 14, "af21": 18, "af22": 20, "af23": 22,
	"af31": 26, "af32": 28, "af33": 30, "af41": 34, "af42": 36, "af43": 38,
	"va": 44, "ef": 46,
}

var protoNames = map[string]int{"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132, "udplite": 136, "gre": 47}

// scalarNum reads a number, or a symbol of the kind (nft prints DSCP
// codes such as af11, protocols by name, hexadecimal as 0x0b).
func scalarNum(e json.RawMessage, kind valueKind) (int, bool) {
	var n int
	if json.Unmarshal(e, &n) == nil {
		return n, true
	}
	var s string
	if json.Unmarshal(e, &s) != nil {
		return 0, false
	}
	switch kind {
	case kindDSCP:
		if v, ok := dscpNames[s]; ok {
			return v, true
		}
	case kindProto:
		if v, ok := protoNames[s]; ok {
			return v, true
		}
	}
	if v, err := strconv.ParseInt(s, 0, 32); err == nil {
		return int(v), true
	}
	return 0, false
}

// Statements the doctor looks for in a rule.

// hasStatement reports whether r contains a statement named key
// (notrack, redirect, dnat, ...).
func (r *nftRule) hasStatement(key string) bool {
	for _, e := range r.Expr {
		if _, ok := e[key]; ok {
			return true
		}
	}
	return false
}

// setsDaddr returns the address r writes into the destination when the
// packet's DSCP is dscp (a plain `ip daddr set A`, or `ip daddr set ip
// dscp map { N : A, ... }`); ok is false if r does not rewrite it so.
func (r *nftRule) setsDaddr(dscp int) (netip.Addr, bool) {
	for _, e := range r.Expr {
		raw, ok := e["mangle"]
		if !ok {
			continue
		}
		var mg struct {
			Key struct {
				Payload *struct{ Protocol, Field string } `json:"payload"`
			} `json:"key"`
			Value json.RawMessage `json:"value"`
		}
		if json.Unmarshal(raw, &mg) != nil || mg.Key.Payload == nil ||
			mg.Key.Payload.Protocol != "ip" || mg.Key.Payload.Field != "daddr" {
			continue
		}
		var s string
		if json.Unmarshal(mg.Value, &s) == nil {
			a, err := netip.ParseAddr(s)
			return a, err == nil
		}
		var m struct {
			Map *struct {
				Key struct {
					Payload *struct{ Protocol, Field string } `json:"payload"`
				} `json:"key"`
				Data struct {
					Set [][]json.RawMessage `json:"set"`
				} `json:"data"`
			} `json:"map"`
		}
		if json.Unmarshal(mg.Value, &m) != nil || m.Map == nil || m.Map.Key.Payload == nil ||
			m.Map.Key.Payload.Field != "dscp" {
			continue
		}
		for _, kv := range m.Map.Data.Set {
			if len(kv) != 2 {
				continue
			}
			if in, ok := elemContains(kv[0], kindDSCP, dscp); ok && in {
				if json.Unmarshal(kv[1], &s) == nil {
					a, err := netip.ParseAddr(s)
					return a, err == nil
				}
			}
		}
	}
	return netip.Addr{}, false
}

// mssSet returns the value of `tcp option maxseg size set N`.
func (r *nftRule) mssSet() (int, bool) {
	for _, e := range r.Expr {
		raw, ok := e["mangle"]
		if !ok {
			continue
		}
		var mg struct {
			Key struct {
				Opt *struct{ Name, Field string } `json:"tcp option"`
			} `json:"key"`
			Value json.RawMessage `json:"value"`
		}
		if json.Unmarshal(raw, &mg) != nil || mg.Key.Opt == nil || mg.Key.Opt.Name != "maxseg" {
			continue
		}
		var n int
		if json.Unmarshal(mg.Value, &n) == nil {
			return n, true
		}
		return 0, false // e.g. "set rt mtu": not a fixed value
	}
	return 0, false
}

// natTarget is what a dnat or redirect statement does to the destination.
type natTarget struct {
	redirect bool       // to the receiving interface's first address
	addr     netip.Addr // dnat's address; invalid if not a plain address
	port     int        // 0: unchanged
}

func (t natTarget) String() string {
	s := "redirect"
	if !t.redirect {
		s = "dnat to " + t.addr.String()
		if !t.addr.IsValid() {
			s = "dnat to a computed address"
		}
	}
	if t.port != 0 {
		s += fmt.Sprintf(" port %d", t.port)
	}
	return s
}

// natTarget returns r's destination rewrite, if it has one.
func (r *nftRule) natTarget() (natTarget, bool) {
	for _, e := range r.Expr {
		if raw, ok := e["redirect"]; ok {
			t := natTarget{redirect: true}
			var o struct {
				Port json.RawMessage `json:"port"`
			}
			if json.Unmarshal(raw, &o) == nil && o.Port != nil {
				t.port, _ = scalarNum(o.Port, kindNum)
			}
			return t, true
		}
		if raw, ok := e["dnat"]; ok {
			var o struct {
				Addr json.RawMessage `json:"addr"`
				Port json.RawMessage `json:"port"`
			}
			var t natTarget
			if json.Unmarshal(raw, &o) == nil {
				var s string
				if json.Unmarshal(o.Addr, &s) == nil {
					t.addr, _ = netip.ParseAddr(s)
				}
				if o.Port != nil {
					t.port, _ = scalarNum(o.Port, kindNum)
				}
			}
			return t, true
		}
	}
	return natTarget{}, false
}
