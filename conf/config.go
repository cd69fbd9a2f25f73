// Package conf loads and validates the dsrlb configuration file (TOML).
//
// Loading goes in three steps: the TOML text is parsed (syntax errors carry
// the library's line), decoded into raw structs that mirror the file (see
// schema.go: every key is documented there; unknown keys and wrong value types
// are errors), and validated into a typed, immutable *Config. Every problem is
// reported as one line "FILE:LINE: field.path: message"; all problems are
// collected and returned together, in file order. Nothing is partially
// applied: Parse returns either a complete, valid Config or an error.
//
// CheckHost verifies the parts of a Config that depend on the machine (CPUs,
// hugepages, network interfaces, PCI ports: their driver, IOMMU and NUMA
// placement) without touching DPDK, and reports what it found.
package conf

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is a validated configuration. Treat it as read-only.
type Config struct {
	// File is the name the configuration was loaded from, used in errors.
	File      string
	Dataplane Dataplane
	Ctrl      Ctrl
	Services  []Service
	VRRP      []VRRP
	BGP       *BGP // nil without [bgp]

	loc *locator // line lookup in the source; nil for hand-made Configs
}

// Dataplane is the validated [dataplane] table.
type Dataplane struct {
	Workers       []int        // CPU ids of the worker lcores, one worker each
	MainCPU       int          // CPU id of the EAL main lcore
	EALArgs       []string     // extra EAL arguments, passed through
	Address       netip.Prefix // own IPv4 address with on-link prefix length (not masked)
	Address6      netip.Prefix // own IPv6 address with on-link prefix length (not masked); zero value when absent
	BurstSize     int
	Mbufs         int
	MbufSize      int  // data room of a packet buffer, headroom included
	ShareMainCPU  bool // main_cpu may be a worker's CPU too
	ARPRefresh    time.Duration
	ARPExpiry     time.Duration
	StatsInterval time.Duration // 0 = no periodic counter log
	IdleSleep     time.Duration // 0 = pure busy polling
	SHM           string        // shared-memory file path
	TAP           string        // exception-path interface name; "" = none
	// Connection tracking per worker: table size and idle timeouts by
	// state: established TCP (ConntrackTimeout), after a SYN only, after
	// a FIN or RST, and UDP.
	ConntrackEntries    int
	ConntrackTimeout    time.Duration
	ConntrackSynTimeout time.Duration
	ConntrackFinTimeout time.Duration
	ConntrackUDPTimeout time.Duration
	// PersistenceEntries is the size of the data plane's persistence
	// table (clients of services with persistence_timeout), shared by the
	// workers: a power of two.
	PersistenceEntries int

	Ports     []Port
	Neighbors []Neighbor // static neighbours
	Gateway   netip.Addr // IPv4 default gateway for L3 methods; invalid = none
	Gateway6  netip.Addr // IPv6 default gateway (inside Address6's prefix); invalid = none
	Routes    []Route    // IPv4 and IPv6; a route's gateway is of its prefix's family

	// Slots of the per-service and per-real-server counters (besides the
	// overflow slot of each kind).
	StatsServices int
	StatsBackends int
}

// Ctrl is the validated [ctrl] table (defaults when absent).
type Ctrl struct {
	Socket string // Unix socket of dsrlb-ctrl's API, absolute path
	// VRRPDataplaneTimeout: a data plane heartbeat older than this puts
	// every VRRP instance into FAULT.
	VRRPDataplaneTimeout time.Duration
	// MetricsListen is the address of the metrics and status page
	// listener; "" for none.
	MetricsListen string
	// DSRProbePorts is the range of the DSR path checks' source ports,
	// first and last.
	DSRProbePorts [2]uint16
}

// DefaultDSRProbePorts is the default [ctrl] dsr_probe_ports.
var DefaultDSRProbePorts = [2]uint16{61000, 61999}

// DefaultMetricsListen is the default [ctrl] metrics_listen.
const DefaultMetricsListen = "127.0.0.1:9842"

// Capacities of the per-service and per-real-server counters: defaults
// and limits of stats_services and stats_backends.
const (
	DefaultStatsServices = 1024
	DefaultStatsBackends = 8192
	MaxStatsServices     = 1<<16 - 1
	MaxStatsBackends     = 1<<20 - 1
)

// DefaultSocket is the default [ctrl] socket path.
const DefaultSocket = "/run/dsrlb/ctrl.sock"

// Neighbor is one validated [[dataplane.neighbor]]: a permanent MAC.
type Neighbor struct {
	Address netip.Addr
	MAC     [6]byte
	Port    int // index into Dataplane.Ports
}

// Port is one validated [[dataplane.port]].
type Port struct {
	Name   string
	Device string // as written: vdev string with arguments, or PCI address
	// DeviceName is the vdev driver instance name (the part before the first
	// comma, e.g. "net_af_packet0") or the PCI address in lower case.
	DeviceName    string
	IsVdev        bool
	MTU           int
	MAC           [6]byte // valid only if HasMAC
	HasMAC        bool
	RxDescriptors int
	TxDescriptors int
}

// Arg returns the value of the device argument key (the "iface" in
// "net_af_packet0,iface=veth0"); ok is false if the argument is absent.
func (p Port) Arg(key string) (value string, ok bool) {
	return deviceArg(p.Device, key)
}

func deviceArg(device, key string) (string, bool) {
	args := strings.Split(device, ",")
	for _, a := range args[1:] {
		k, v, _ := strings.Cut(a, "=")
		if k == key {
			return v, true
		}
	}
	return "", false
}

// Protocol is an IP protocol number.
type Protocol uint8

// Supported transport protocols.
const (
	ProtoTCP Protocol = 6
	ProtoUDP Protocol = 17
)

func (p Protocol) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// HashMode selects which packet fields pick the real server.
type HashMode uint8

// Hash modes.
const (
	HashFiveTuple HashMode = iota // source/destination address and port, protocol
	HashSourceIP                  // source address only: one client, one real server
)

func (h HashMode) String() string {
	switch h {
	case HashFiveTuple:
		return "5-tuple"
	case HashSourceIP:
		return "source-ip"
	}
	return "hash(" + strconv.Itoa(int(h)) + ")"
}

// Service is one validated [[service]].
type Service struct {
	Name      string
	VIP       netip.Addr // IPv4 or IPv6 (never IPv4-mapped, no zone)
	Protocol  Protocol
	Port      uint16 // 0 = all ports
	Method    Method
	Scheduler Scheduler
	Hash      HashMode // maglev only: what it hashes (SchedSH: always the source)
	TableSize uint32   // Maglev lookup table size, prime
	DSCP      uint8    // code of the VIP for method dscp; 0 = none
	GUEPort   uint16   // UDP port of method gue; 0 when the service uses no gue
	Backends  []Backend

	// Health policy, applied by dsrlb-ctrl (the data plane ignores it).
	InhibitOnFailure bool       // a failed real server stays with weight 0 instead of being removed
	SorryServer      netip.Addr // stands in when no real server is healthy or quorum is lost; invalid = none
	Quorum           uint32     // minimum healthy weight for the service to be up
	Hysteresis       uint32     // quorum band: lost below Quorum-Hysteresis, back at Quorum+Hysteresis
	Alpha            bool       // real servers start down until their first successful check
	Check            *Check     // the service's [service.check]; nil = none
	// DSRCheck is the service's [service.dsr_check]: every real server
	// is also probed through the data plane, to the VIP (type tcp, http
	// or https); nil = none.
	DSRCheck *Check
	// BGP: the VIP is announced by BGP while the service is up.
	BGP bool

	// Persistence: a client's new connections go to the real server of
	// its earlier ones until PersistenceTimeout after its last packet; 0 =
	// none; whole seconds, at most 9h. PersistenceGranularity is the
	// prefix length of the client address that counts as one client (32
	// or 128: the address itself; 1 or more); 0 when PersistenceTimeout
	// is 0.
	PersistenceTimeout     time.Duration
	PersistenceGranularity int

	// PriorityMin: the highest priority group with at least this many
	// healthy real servers of weight > 0 takes the new flows (default 1;
	// see ActivePriority).
	PriorityMin int
}

// TotalWeight is the sum of the configured weights of the backends.
func (s *Service) TotalWeight() uint64 {
	var n uint64
	for _, b := range s.Backends {
		n += uint64(b.Weight)
	}
	return n
}

// Backend is one real server of a Service.
type Backend struct {
	Address netip.Addr // IPv4 or IPv6 (never IPv4-mapped, no zone)
	Weight  uint32     // 0 = out of scheduling
	Method  Method     // 0 = the service's
	// Priority is the real server's priority group: the highest group
	// with enough healthy real servers takes the new flows (0..255,
	// default 0; higher is preferred).
	Priority uint8
	// Check is the real server's effective health check: its own
	// [service.backend.check] if it has one, else the service's Check
	// (the same pointer); nil = not checked, always healthy.
	Check *Check
	// OwnCheck reports whether Check comes from [service.backend.check].
	OwnCheck bool
}

// CheckType is the kind of a health check.
type CheckType uint8

// Health check types.
const (
	CheckTCP    CheckType = iota + 1 // TCP connect
	CheckHTTP                        // HTTP GET, expected status (and body)
	CheckHTTPS                       // HTTPS GET
	CheckICMP                        // ICMP echo
	CheckUDP                         // UDP datagram, optional reply
	CheckScript                      // external command, exit 0 = healthy
)

var checkTypeNames = []string{CheckTCP: "tcp", CheckHTTP: "http", CheckHTTPS: "https", CheckICMP: "icmp", CheckUDP: "udp", CheckScript: "script"}

func (t CheckType) String() string {
	if int(t) < len(checkTypeNames) && checkTypeNames[t] != "" {
		return checkTypeNames[t]
	}
	return "check(" + strconv.Itoa(int(t)) + ")"
}

// Check is one validated health check, defaults applied. Fields that do
// not apply to Type are zero.
type Check struct {
	Type        CheckType
	Port        uint16   // tcp, http, https, udp: destination port (the service's port by default)
	Path        string   // http, https: request path, "/" by default
	Status      []int    // http, https: healthy status codes, [200] by default
	Body        string   // http, https: expected body substring; "" = not checked
	Host        string   // http, https: Host header and TLS server name; "" = none
	TLSVerify   bool     // https: verify the certificate (default true)
	Payload     string   // udp: datagram sent
	ExpectReply bool     // udp: a reply is required
	Command     []string // script: absolute program path, then arguments
	Interval    time.Duration
	Timeout     time.Duration
	Rise        int
	Fall        int
	Jitter      float64 // fraction of Interval, 0..0.5
}

// Error is one configuration problem with its position.
type Error struct {
	File string
	Line int    // 1-based; 0 if unknown
	Path string // field path such as "service[0].backend[1].weight"; empty for syntax errors
	Msg  string
}

// Error formats e as "FILE:LINE: PATH: MSG" on a single line; an unknown
// line is shown as "?".
func (e *Error) Error() string {
	file := e.File
	if file == "" {
		file = "config"
	}
	line := "?"
	if e.Line > 0 {
		line = strconv.Itoa(e.Line)
	}
	msg := strings.ReplaceAll(e.Msg, "\n", " ")
	if e.Path == "" {
		return file + ":" + line + ": " + msg
	}
	return file + ":" + line + ": " + e.Path + ": " + msg
}

// Load reads the configuration file at path and parses it (see Parse).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// CtrlSocket returns the [ctrl] socket of the configuration file at path
// (DefaultSocket if it sets none) without validating the rest, so that
// dsrlbctl can reach dsrlb-ctrl even while the file has errors (e.g. to
// be told them by a reload). Only a TOML syntax error, or a socket that
// is not a string, is an error.
func CtrlSocket(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	root, err := parseTOML(path, data)
	if err != nil {
		return "", err
	}
	ctrl, ok := root["ctrl"].(map[string]any)
	if !ok {
		return DefaultSocket, nil
	}
	switch s := ctrl["socket"].(type) {
	case nil:
		return DefaultSocket, nil
	case string:
		return s, nil
	default:
		loc := newLocator(data)
		p := fieldPath{}.keys("ctrl", "socket")
		return "", &Error{File: path, Line: loc.line(p), Path: p.String(), Msg: "wrong type: expected string, found " + tomlTypeName(s)}
	}
}

// Parse decodes and validates a configuration. file is used in error
// messages only. It returns either a complete Config or an error that joins
// one *Error per problem, in file order.
func Parse(file string, data []byte) (*Config, error) {
	root, err := parseTOML(file, data)
	if err != nil {
		return nil, err
	}
	v := &validator{file: file, loc: newLocator(data), bad: make(map[string]bool)}
	var raw rawConfig
	v.decode(root, nil, &raw)
	c := v.validate(&raw)
	if err := v.err(); err != nil {
		return nil, err
	}
	c.File = file
	c.loc = v.loc
	return c, nil
}

// Line returns the line of the configuration file where path (in the form
// used by errors, e.g. "service[1].backend[0].address") is defined, falling
// back to the enclosing table; 0 if unknown.
func (c *Config) Line(path string) int {
	return c.loc.line(parsePath(path))
}

// Errorf returns an *Error positioned at path, for problems found in a
// Config after validation (e.g. while compiling it for the dataplane).
func (c *Config) Errorf(path string, format string, args ...any) error {
	return &Error{File: c.File, Line: c.Line(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

// joinErrors sorts errs by line (stably, so errors on one line keep their
// order) and joins them, one per line.
func joinErrors(errs []*Error) error {
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

// ErrorLines splits an error returned by this package (one problem per
// joined error) into one message per problem, for printing one per line.
func ErrorLines(err error) []string {
	if err == nil {
		return nil
	}
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// Route is one validated [[dataplane.route]], IPv4 or IPv6; Gateway is of
// the prefix's family, invalid = on-link.
type Route struct {
	Prefix  netip.Prefix
	Gateway netip.Addr
}

// EffectiveMethod is b's method in s.
func (s *Service) EffectiveMethod(b *Backend) Method {
	if b.Method != 0 {
		return b.Method
	}
	return s.Method
}

// ownPrefix is the balancer's own address of a's family with its on-link
// prefix: Address for IPv4, Address6 for IPv6 (invalid when absent).
func (d *Dataplane) ownPrefix(a netip.Addr) netip.Prefix {
	if a.Is4() {
		return d.Address
	}
	return d.Address6
}

// OnLink reports whether a is on the balancer's L2 segment: inside the
// on-link prefix of the own address of its family (Address or Address6),
// or else its longest matching route has no gateway.
func (d *Dataplane) OnLink(a netip.Addr) bool {
	if own := d.ownPrefix(a); own.IsValid() && own.Masked().Contains(a) {
		return true
	}
	best, onLink := -1, false
	for _, r := range d.Routes {
		if r.Prefix.Contains(a) && r.Prefix.Bits() > best {
			best, onLink = r.Prefix.Bits(), !r.Gateway.IsValid()
		}
	}
	return onLink
}

// Reachable reports whether a can be reached: on-link, through a route or
// through the default gateway of its family (Gateway for IPv4, Gateway6
// for IPv6).
func (d *Dataplane) Reachable(a netip.Addr) bool {
	if own := d.ownPrefix(a); own.IsValid() && own.Masked().Contains(a) {
		return true
	}
	for _, r := range d.Routes {
		if r.Prefix.Contains(a) { // false across families
			return true
		}
	}
	if a.Is4() {
		return d.Gateway.IsValid()
	}
	return d.Gateway6.IsValid()
}
