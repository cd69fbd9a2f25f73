package keepalived

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// checkSpec is a converted checker of one real server. Its port is
// written only where it differs from the service's, which a virtual
// server group makes per address.
type checkSpec struct {
	n       *Node
	typ     string
	port    int64 // 0: the service's
	portSrc string
	rest    []entry // the keys after type and port
	alpha   *Node   // alpha in effect: the real server starts down
}

// entries are the check's keys for a service of port svcPort; nil (and
// reported) when the check has no port to probe.
func (s *checkSpec) entries(c *converter, svcPort int64) []entry {
	out := []entry{{key: "type", value: tomlString(s.typ), comment: src(s.n)}}
	switch s.typ {
	case "tcp", "http", "https", "udp":
		switch {
		case s.port != 0 && s.port != svcPort:
			out = append(out, entry{key: "port", value: tomlInt(s.port), comment: s.portSrc})
		case s.port == 0 && svcPort == 0:
			c.rep.omit(s.n, "no port to check: the virtual server's port is 0 (all ports) and neither connect_port nor the real server's port is given (check not converted)")
			return nil
		}
	}
	return append(out, s.rest...)
}

// Check timing defaults of keepalived 2.2.
const (
	kaDelayLoop      = 60 * time.Second
	kaConnectTimeout = 5 * time.Second
	minInterval      = 100 * time.Millisecond // dsrlb's shortest check interval
	maxFall          = 100                    // dsrlb's largest fall
)

// Checker keywords without an effect on what dsrlb does.
var checkIgnored = map[string]bool{
	"log_all_failures": true, // dsrlb logs each state change, not each failure
	"http_protocol":    true, // dsrlb sends HTTP/1.1 with a Host header, which servers of 1.0 checks answer
	"fast_recovery":    true, // matters with several urls; dsrlb requests one
	"enable_sni":       true, // dsrlb sends the host (virtualhost) as the TLS server name
}

// checker converts one checker block of rs; outer is what the real
// server and its virtual server set for checkers.
func (c *converter) checker(k *Node, rs *realServer, outer timing) *checkSpec {
	spec := &checkSpec{n: k}
	switch k.Key {
	case "TCP_CHECK":
		spec.typ = "tcp"
	case "HTTP_GET":
		spec.typ = "http"
	case "SSL_GET":
		spec.typ = "https"
	case "UDP_CHECK":
		spec.typ = "udp"
	case "PING_CHECK":
		spec.typ = "icmp"
	case "MISC_CHECK":
		spec.typ = "script"
	case "SMTP_CHECK":
		c.rep.omit(k, "dsrlb has no SMTP check: a tcp check or a script (check not converted)")
		return nil
	case "DNS_CHECK":
		c.rep.omit(k, "dsrlb has no DNS check: a udp check or a script (check not converted)")
		return nil
	case "BFD_CHECK":
		c.rep.omit(k, "dsrlb has no BFD (check not converted)")
		return nil
	case "FILE_CHECK":
		c.rep.omit(k, "dsrlb has no file check: a script that reads the file (check not converted)")
		return nil
	}
	if rs.port > 0 {
		spec.port, spec.portSrc = rs.port, src(rs.n)
	}
	isHTTP := spec.typ == "http" || spec.typ == "https"
	var (
		own                  timing
		urls                 []*Node
		command              []string
		commandSrc           string
		miscTimeout          *Node
		payload, requireRepl *Node
	)
	for _, kk := range k.Children {
		if kk.Block && !(isHTTP && kk.Key == "url") {
			c.rep.fail(kk, "unexpected block %q in %s", kk.Key, k.Key)
			continue
		}
		if checkIgnored[kk.Key] || own.set(kk) {
			continue
		}
		switch {
		case kk.Key == "connect_port":
			p, err := parseUint(kk.Arg(0), 1, 65535)
			if err != nil {
				c.rep.omit(kk, "%v", err)
				continue
			}
			spec.port, spec.portSrc = p, src(kk)
		case kk.Key == "connect_ip":
			if a, err := parseIP(kk.Arg(0)); err != nil || a != rs.addr {
				c.rep.omit(kk, "dsrlb checks the real server's own address, %s", rs.addr)
			}
		case kk.Key == "bindto" || kk.Key == "bind_port" || kk.Key == "bind_if":
			c.rep.omit(kk, "dsrlb checks from the balancer's own address (its kernel routes or the exception path)")
		case kk.Key == "fwmark":
			c.rep.omit(kk, "dsrlb marks no check packets")
		case isHTTP && kk.Key == "url":
			urls = append(urls, kk)
		case spec.typ == "script" && kk.Key == "misc_path":
			command, commandSrc = c.miscPath(kk)
		case spec.typ == "script" && kk.Key == "misc_timeout":
			miscTimeout = kk
		case spec.typ == "script" && kk.Key == "misc_dynamic":
			c.rep.omit(kk, "dsrlb does not take weights from a check's exit status")
		case spec.typ == "script" && kk.Key == "user":
			c.rep.omit(kk, "dsrlb runs check commands as its own user")
		case spec.typ == "udp" && kk.Key == "payload":
			payload = kk
		case spec.typ == "udp" && kk.Key == "require_reply":
			requireRepl = kk
		case spec.typ == "udp" && (kk.Key == "min_reply_length" || kk.Key == "max_reply_length"):
			c.rep.omit(kk, "dsrlb does not check the length of the reply")
		default:
			c.unknown(kk, k.Key)
		}
	}
	t := own.under(outer)

	var rest []entry
	if isHTTP {
		rest = append(rest, c.httpURL(k, urls, t.host)...)
		if spec.typ == "https" {
			rest = append(rest, entry{key: "tls_verify", value: "false", comment: "keepalived's SSL_GET does not verify certificates"})
		}
	}
	if spec.typ == "udp" {
		rest = append(rest, c.udpKeys(payload, requireRepl)...)
	}
	if spec.typ == "script" {
		if command == nil {
			if commandSrc == "" {
				c.rep.omit(k, "no misc_path (check not converted)")
			}
			return nil
		}
		rest = append(rest, entry{key: "command", value: tomlStrings(command), comment: commandSrc + " (dsrlb appends the real server's address)"})
	}

	// Timing. keepalived waits delay_loop after a check ends; dsrlb's
	// interval runs from start to start, and its timeout must be shorter.
	interval, iSrc := kaDelayLoop, "delay_loop not set: keepalived's default 60 s"
	if t.delayLoop != nil {
		if d, err := parseTimer(t.delayLoop.Arg(0)); err != nil {
			c.rep.omit(t.delayLoop, "%v (keepalived's default 60 s used)", err)
		} else {
			interval, iSrc = d, src(t.delayLoop)
		}
	}
	if interval < minInterval {
		c.rep.omit(t.delayLoop, "%s is shorter than dsrlb's shortest check interval: written as %s", goDuration(interval), goDuration(minInterval))
		interval = minInterval
	}
	timeoutNode, timeoutWhat := t.connectTimeout, "connect_timeout"
	timeout, tSrc := kaConnectTimeout, "connect_timeout not set: keepalived's default 5 s"
	if spec.typ == "script" {
		// misc_timeout defaults to delay_loop.
		timeoutNode, timeoutWhat = miscTimeout, "misc_timeout"
		timeout, tSrc = interval, "misc_timeout not set: keepalived's default is delay_loop"
	}
	if timeoutNode != nil {
		if d, err := parseTimer(timeoutNode.Arg(0)); err != nil || d == 0 {
			c.rep.omit(timeoutNode, "%q is not a positive number of seconds (keepalived's default used)", timeoutNode.Arg(0))
		} else {
			timeout, tSrc = d, src(timeoutNode)
		}
	}
	if timeout >= interval {
		fit := (interval * 9 / 10).Truncate(time.Millisecond)
		at, what := k, "not set: keepalived's default "
		if timeoutNode != nil {
			at, what = timeoutNode, ""
		}
		c.rep.omitAt(at.Pos, timeoutWhat, "%s%s is not shorter than delay_loop %s, and dsrlb's timeout must be shorter than its interval (keepalived waits delay_loop after a check ends, dsrlb from start to start): written as %s", what, goDuration(timeout), goDuration(interval), goDuration(fit))
		timeout, tSrc = fit, tSrc+", shortened to fit the interval"
	}
	retry, rSrc := int64(1), "retry not set, keepalived's default 1"
	if spec.typ == "script" {
		retry, rSrc = 0, "retry not set, keepalived's default 0 for MISC_CHECK"
	}
	if t.retry != nil {
		if v, err := parseUint(t.retry.Arg(0), 0, 1<<32-1); err != nil {
			c.rep.omit(t.retry, "%v (keepalived's default used)", err)
		} else {
			retry, rSrc = v, src(t.retry)
		}
	}
	if retry+1 > maxFall {
		c.rep.omit(t.retry, "%d retries: dsrlb's largest fall is %d", retry, maxFall)
		retry = maxFall - 1
	}
	if t.delayBeforeRetry != nil {
		if d, err := parseTimer(t.delayBeforeRetry.Arg(0)); err != nil || d != interval {
			c.rep.omit(t.delayBeforeRetry, "dsrlb probes again after its interval (delay_loop %s), not after delay_before_retry: a failing real server goes down after fall × interval = %s", goDuration(interval), goDuration(time.Duration(retry+1)*interval))
		}
	}
	if t.warmup != nil {
		if d, err := parseTimer(t.warmup.Arg(0)); err != nil || d != 0 {
			c.rep.omit(t.warmup, "dsrlb starts checking at once, spread by its jitter (0.1 of the interval)")
		}
	}
	if t.alpha != nil {
		if v, err := parseBool(t.alpha, 0); err != nil {
			c.rep.omit(t.alpha, "%v", err)
		} else if v {
			spec.alpha = t.alpha
		}
	}
	rest = append(rest,
		entry{key: "interval", value: tomlString(goDuration(interval)), comment: iSrc},
		entry{key: "timeout", value: tomlString(goDuration(timeout)), comment: tSrc},
		entry{key: "rise", value: "1", comment: "keepalived brings a real server up on its first success"},
		entry{key: "fall", value: tomlInt(retry + 1), comment: rSrc + "; fall = retry + 1"},
	)
	spec.rest = rest
	return spec
}

// httpURL converts the url blocks of HTTP_GET and SSL_GET: dsrlb requests
// one path, the first url's.
func (c *converter) httpURL(k *Node, urls []*Node, host *Node) []entry {
	var out []entry
	status, statusSrc := rangeInts(200, 299), "status_code not set: keepalived's default 200-299"
	if len(urls) == 0 {
		c.rep.omit(k, "no url: dsrlb requests /")
	}
	for i, u := range urls {
		if i > 0 {
			c.rep.omit(u, "dsrlb requests one path per check: the url at %s is converted", urls[0].Pos)
			continue
		}
		var regex, path *Node
		for _, kk := range u.Children {
			if kk.Block {
				c.rep.fail(kk, "unexpected block %q in url", kk.Key)
				continue
			}
			switch kk.Key {
			case "path":
				if len(kk.Args) > 1 {
					c.rep.omit(kk, "extra arguments %q ignored (keepalived reads one value per line)", strings.Join(kk.Args[1:], " "))
				}
				path = kk // the last one counts, as in keepalived
			case "status_code":
				codes, err := statusCodes(kk.Args)
				if err != nil {
					c.rep.omit(kk, "%v (keepalived's default 200-299 used)", err)
					continue
				}
				status, statusSrc = codes, src(kk)
			case "digest":
				c.rep.omit(kk, "dsrlb does not compare a digest of the page: it checks the status (body can require a text in the page)")
			case "virtualhost":
				host = kk
			case "regex":
				regex = kk
			case "regex_no_match", "regex_options", "regex_stack", "regex_min_offset", "regex_max_offset":
				c.rep.omit(kk, "dsrlb matches a plain text in the page (body), not a regular expression")
			default:
				c.unknown(kk, "url")
			}
		}
		if path != nil {
			out = append(out, entry{key: "path", value: tomlString(path.Arg(0)), comment: src(path)})
		}
		out = append(out, entry{key: "status", value: tomlInts(status), comment: statusSrc})
		if host != nil {
			out = append(out, entry{key: "host", value: tomlString(host.Arg(0)), comment: src(host)})
		}
		if regex != nil {
			if strings.ContainsAny(regex.Arg(0), `\^$.|?*+()[]{}`) {
				c.rep.omit(regex, "dsrlb matches a plain text in the page (body), not a regular expression")
			} else {
				out = append(out, entry{key: "body", value: tomlString(regex.Arg(0)), comment: src(regex) + " (no special characters: a plain text)"})
			}
		}
	}
	if len(urls) == 0 {
		out = append(out, entry{key: "status", value: tomlInts(status), comment: statusSrc})
		if host != nil {
			out = append(out, entry{key: "host", value: tomlString(host.Arg(0)), comment: src(host)})
		}
	}
	return out
}

func rangeInts(lo, hi int) []int {
	out := make([]int, 0, hi-lo+1)
	for i := lo; i <= hi; i++ {
		out = append(out, i)
	}
	return out
}

// statusCodes reads status_code's codes and ranges ("200 301-302"), in
// order, each once.
func statusCodes(args []string) ([]int, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("no status code")
	}
	var seen [600]bool
	for _, a := range args {
		lo, hi, isRange := strings.Cut(a, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := parseUint(lo, 100, 599)
		h, err2 := parseUint(hi, 100, 599)
		if err1 != nil || err2 != nil || h < l {
			return nil, fmt.Errorf("%q is not a status code or range of 100..599", a)
		}
		for v := l; v <= h; v++ {
			seen[v] = true
		}
	}
	var out []int
	for v, ok := range seen {
		if ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// udpKeys converts UDP_CHECK's payload (hex) and require_reply.
func (c *converter) udpKeys(payload, require *Node) []entry {
	var out []entry
	if payload != nil {
		b, err := decodeHex(payload.Args)
		switch {
		case err != nil:
			c.rep.omit(payload, "%v (dsrlb sends an empty datagram)", err)
		case !utf8.Valid(b):
			c.rep.omit(payload, "dsrlb's payload is text, and these bytes are not UTF-8 (dsrlb sends an empty datagram)")
		default:
			out = append(out, entry{key: "payload", value: tomlString(string(b)), comment: src(payload)})
		}
	}
	if require != nil {
		out = append(out, entry{key: "expect_reply", value: "true", comment: src(require)})
		if len(require.Args) > 0 {
			c.rep.omit(require, "dsrlb requires a reply but does not compare its contents")
		}
	}
	return out
}

// decodeHex reads keepalived's free-form hex: each word in pairs of
// digits, an odd last digit a byte of its own ("Ab12f 3" is AB 12 0F 03).
func decodeHex(words []string) ([]byte, error) {
	var out []byte
	for _, w := range words {
		for i := 0; i < len(w); i += 2 {
			j := min(i+2, len(w))
			v, err := strconv.ParseUint(w[i:j], 16, 8)
			if err != nil {
				return nil, fmt.Errorf("%q is not hexadecimal", w)
			}
			out = append(out, byte(v))
		}
	}
	return out, nil
}

// miscPath converts MISC_CHECK's misc_path: a program with its arguments
// in one (quoted) string. dsrlb needs the program's absolute path.
func (c *converter) miscPath(k *Node) ([]string, string) {
	if len(k.Args) > 1 {
		c.rep.omit(k, "%q after the command: keepalived reads a user and group there; dsrlb runs checks as its own user", strings.Join(k.Args[1:], " "))
	}
	argv := splitCommand(k.Arg(0))
	if len(argv) == 0 || !filepath.IsAbs(argv[0]) {
		c.rep.omit(k, "dsrlb needs the program's absolute path (check not converted)")
		return nil, src(k)
	}
	return argv, src(k)
}
