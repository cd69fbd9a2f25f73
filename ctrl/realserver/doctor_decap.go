package realserver

// The doctor's decapsulation checks: the eBPF program as tc and bpftool
// show it, or the kernel's modules, fallback devices and fou ports.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"dsrlb/conf"
)

// progName is the kernel's name of decap.c's program (its function name).
const progName = "dsrlb_decap"

// tcFilter is one entry of `tc -j filter show dev IF ingress`. tc lists
// each filter twice: once with the pref alone, once with its options.
type tcFilter struct {
	Pref    int    `json:"pref"`
	Kind    string `json:"kind"`
	Options *struct {
		Handle       string `json:"handle"`
		BPFName      string `json:"bpf_name"`
		DirectAction bool   `json:"direct-action"`
		Prog         *struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
		} `json:"prog"`
	} `json:"options"`
}

func (d *doctor) getFilters() ([]tcFilter, string) {
	return d.filters.get(func() ([]tcFilter, string) {
		argv := []string{"tc", "-j", "filter", "show", "dev", d.spec.Interface, "ingress"}
		out, why := d.run(argv...)
		if why != "" {
			return nil, why
		}
		var fs []tcFilter
		if len(bytes.TrimSpace(out)) == 0 {
			return nil, "" // no clsact qdisc: tc prints nothing
		}
		if err := json.Unmarshal(out, &fs); err != nil {
			return nil, fmt.Sprintf("%s: %v", strings.Join(argv, " "), err)
		}
		return fs, ""
	})
}

// filterAt returns the entry with options at pref, or nil.
func filterAt(fs []tcFilter, pref int) *tcFilter {
	var bare *tcFilter
	for i := range fs {
		if fs[i].Pref != pref {
			continue
		}
		if fs[i].Options != nil {
			return &fs[i]
		}
		bare = &fs[i]
	}
	return bare
}

// ourFilter returns dsrlb-decap's filter, or nil.
func ourFilter(fs []tcFilter) *tcFilter {
	f := filterAt(fs, FilterPref)
	if f == nil || f.Kind != "bpf" || f.Options == nil || f.Options.Prog == nil || f.Options.Prog.Name != progName {
		return nil
	}
	return f
}

// bpftoolJSON runs a bpftool -j command and decodes its output into v.
func (d *doctor) bpftoolJSON(v any, args ...string) string {
	argv := append([]string{"bpftool", "-j"}, args...)
	out, why := d.run(argv...)
	if why != "" {
		return why
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Sprintf("%s: %v", strings.Join(argv, " "), err)
	}
	return ""
}

// hexBytes reads bpftool's ["0x0a", ...].
func hexBytes(h []string) ([]byte, error) {
	b := make([]byte, len(h))
	for i, x := range h {
		n, err := strconv.ParseUint(x, 0, 8)
		if err != nil {
			return nil, fmt.Errorf("byte %q: %v", x, err)
		}
		b[i] = byte(n)
	}
	return b, nil
}

func methodOfKey(k byte) string {
	switch k {
	case bpfMethodIPIP:
		return "ipip"
	case bpfMethodGRE:
		return "gre"
	case bpfMethodGUE:
		return "gue"
	}
	return fmt.Sprintf("method %d", k)
}

func (d *doctor) checkEBPF() {
	ifc := d.spec.Interface
	where := fmt.Sprintf("%s ingress, tc pref %d", ifc, FilterPref)
	attach := d.planSteps(func(a []string) bool {
		return (a[0] == "mount" && slices.Contains(a, "bpf")) || a[0] == "tc" || a[0] == "bpftool"
	})
	fs, why := d.getFilters()
	if why != "" {
		d.unknown(CheckDecap, where, "the tc filters of %s: %s", ifc, why)
		return
	}
	del := d.teardownSteps(func(a []string) bool { return hasPrefix(a, "tc", "filter", "del") })
	f := filterAt(fs, FilterPref)
	switch {
	case f == nil:
		d.problem(CheckDecap, where, attach,
			"dsrlb-decap is not attached to %s: %s packets reach the stack still encapsulated and are dropped", where, d.spec.Method)
		return
	case ourFilter(fs) == nil:
		what := "kind " + f.Kind
		if f.Options != nil && f.Options.Prog != nil {
			what += ", program " + f.Options.Prog.Name
		}
		d.problem(CheckDecap, where, append(del, attach...),
			"%s holds another filter (%s), not dsrlb-decap: %s packets are not decapsulated", where, what, d.spec.Method)
		return
	case !f.Options.DirectAction:
		d.problem(CheckDecap, where, append(del, attach...),
			"dsrlb-decap on %s is not in direct-action mode: its verdicts are read as class ids and the packets are not decapsulated", where)
		return
	}
	prog := f.Options.Prog.ID
	d.ok(CheckDecap, where, "dsrlb-decap (program %d, %s) is attached to %s in direct-action mode", prog, f.Options.BPFName, where)

	// The map of that very program: the pinned one is what the plan's
	// bpftool commands write, and the two differ when the pin was
	// removed or replaced.
	var pinfo struct {
		MapIDs []int `json:"map_ids"`
	}
	if why := d.bpftoolJSON(&pinfo, "prog", "show", "id", strconv.Itoa(prog)); why != "" {
		d.unknown(CheckDecap, MapSelf, "the map of program %d: %s", prog, why)
		return
	}
	var maps []struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	if why := d.bpftoolJSON(&maps, "map", "show"); why != "" {
		d.unknown(CheckDecap, MapSelf, "the maps: %s", why)
		return
	}
	mapID := 0
	for _, m := range maps {
		if m.Name == MapSelf && slices.Contains(pinfo.MapIDs, m.ID) {
			mapID = m.ID
		}
	}
	if mapID == 0 {
		d.problem(CheckDecap, MapSelf, append(del, attach...),
			"program %d has no map named %s: it is not the dsrlb-decap this dsrlbctl knows", prog, MapSelf)
		return
	}
	var entries []struct {
		Key   []string `json:"key"`
		Value []string `json:"value"`
	}
	if why := d.bpftoolJSON(&entries, "map", "dump", "id", strconv.Itoa(mapID)); why != "" {
		d.unknown(CheckDecap, MapSelf, "the entries of map %d: %s", mapID, why)
		return
	}
	have := map[string][]byte{}
	for _, e := range entries {
		k, err1 := hexBytes(e.Key)
		v, err2 := hexBytes(e.Value)
		if err1 != nil || err2 != nil {
			d.unknown(CheckDecap, MapSelf, "the entries of map %d: %v %v", mapID, err1, err2)
			return
		}
		have[string(k)] = v
	}
	var pinned struct {
		ID int `json:"id"`
	}
	pinPath := MapPinDir + "/" + MapSelf
	pinWhy := d.bpftoolJSON(&pinned, "map", "show", "pinned", pinPath)
	pinOK := pinWhy == "" && pinned.ID == mapID
	want := ebpfValue(d.spec)
	for _, a := range d.spec.Self {
		key := ebpfKey(a, d.spec.Method)
		what := d.spec.Method.String()
		if d.spec.Method == conf.MethodGUE {
			what += fmt.Sprintf(" to UDP port %d", d.spec.guePort())
		}
		got, ok := have[string(key)]
		if ok && bytes.Equal(got, want) {
			d.ok(CheckDecap, a.String(), "%s: decapsulates %s (map %d)", a, what, mapID)
			continue
		}
		fix := d.planSteps(func(s []string) bool {
			return hasPrefix(s, "bpftool", "map", "update") && strings.Contains(strings.Join(s, " "), "key hex "+strings.Join(hexArgs(key), " ")+" ")
		})
		var pinNote string
		if !pinOK {
			// The plan's bpftool writes the pinned map, which is not the
			// program's: load the program again (tc reuses the pinned map,
			// or pins a new one) and fill the map.
			fix = append(del, attach...)
			if pinWhy != "" {
				pinNote = fmt.Sprintf(" (and %s is not pinned where the plan writes: %s)", MapSelf, pinWhy)
			} else {
				pinNote = fmt.Sprintf(" (and the map pinned at %s is map %d, not the program's)", pinPath, pinned.ID)
			}
		}
		var msg string
		if ok {
			port := int(got[0])<<8 | int(got[1])
			msg = fmt.Sprintf("%s: the entry for %s in map %d has GUE port %d; the balancer sends to %d", a, d.spec.Method, mapID, port, d.spec.guePort())
		} else {
			var others []string
			for k := range have {
				if bytes.Equal([]byte(k[:16]), key[:16]) {
					others = append(others, methodOfKey(k[16]))
				}
			}
			slices.Sort(others)
			msg = fmt.Sprintf("%s: no entry for %s in map %d of dsrlb-decap: %s packets to it are not decapsulated", a, what, mapID, d.spec.Method)
			if len(others) > 0 {
				msg += " (it has entries for " + strings.Join(others, ", ") + ")"
			}
		}
		d.problem(CheckDecap, a.String(), fix, "%s%s", msg, pinNote)
	}
}

// --- the kernel's decapsulation

func (d *doctor) checkKernelDecap() {
	modprobe := func(m string) []Step {
		return d.planSteps(func(a []string) bool { return hasPrefix(a, "modprobe", m) })
	}
	var unloaded []Step
	for _, m := range d.p.neededModules() {
		switch st := d.info.Modules[m]; st {
		case ModuleLoaded, ModuleBuiltin:
			d.ok(CheckDecap, m, "module %s is %s", m, st)
		case ModuleLoadable:
			unloaded = append(unloaded, modprobe(m)...)
			d.problem(CheckDecap, m, modprobe(m), "module %s is not loaded", m)
		default:
			d.problem(CheckDecap, m, nil, "module %s (%s) is neither loaded nor installed: this kernel cannot decapsulate %s; use -decap ebpf",
				m, tunnelModules[m], d.spec.Method)
		}
	}
	links, why := d.getLinks()
	if why != "" {
		d.unknown(CheckDecap, "", "the tunnel devices: %s", why)
	} else {
		for _, t := range d.p.tunnelDevs() {
			up := d.planSteps(func(a []string) bool { return hasPrefix(a, "ip", "link", "set", t.name, "up") })
			mode := d.planSteps(func(a []string) bool { return hasPrefix(a, "ip", "-6", "tunnel", "change", t.name) })
			l := findLink(links, t.name)
			switch {
			case l == nil:
				fix := append(slices.Clone(unloaded), mode...)
				d.problem(CheckDecap, t.name, append(fix, up...),
					"%s does not exist: no fallback device receives the tunnel packets (is its module loaded, and net.core.fb_tunnels_only_for_init_net 0 in a namespace?)", t.name)
				continue
			case !l.up():
				d.problem(CheckDecap, t.name, up, "%s is down: the tunnel packets it would receive are dropped", t.name)
				continue
			}
			if t.modeAny {
				var proto any
				if l.Linkinfo != nil {
					proto = l.Linkinfo.InfoData["proto"]
				}
				if proto != "any" {
					d.problem(CheckDecap, t.name, mode, "%s is in mode %v, not any: IPv4 packets inside IPv6 are refused", t.name, proto)
					continue
				}
			}
			d.ok(CheckDecap, t.name, "%s is up", t.name)
		}
	}
	if d.spec.Method == conf.MethodGUE {
		d.checkFOU()
	}
}

func (d *doctor) checkFOU() {
	port := int(d.spec.guePort())
	self4, self6 := families(d.spec.Self)
	argv := []string{"ip", "-j", "fou", "show"}
	out, err := d.host.Output(d.ctx, argv...)
	fouLoaded := d.info.Modules["fou"] == ModuleLoaded || d.info.Modules["fou"] == ModuleBuiltin
	// One object per port: {"port": 6080, "gue": null, "family": "inet"};
	// the GUE mark is a key whose value is null.
	var entries []map[string]json.RawMessage
	switch {
	case err == nil:
		if len(bytes.TrimSpace(out)) > 0 {
			if err := json.Unmarshal(out, &entries); err != nil {
				d.unknown(CheckDecap, "fou", "the fou ports: %s: %v", strings.Join(argv, " "), err)
				return
			}
		}
	case errors.Is(err, exec.ErrNotFound) || fouLoaded:
		d.unknown(CheckDecap, "fou", "the fou ports: %s", whyNot("ip", err))
		return
	default:
		// Without the module ip finds no fou generic netlink family: no port.
	}
	for _, fam := range []struct {
		want bool
		name string
		v6   bool
	}{{self4, "inet", false}, {self6, "inet6", true}} {
		if !fam.want {
			continue
		}
		found := false
		for _, e := range entries {
			_, gue := e["gue"]
			var p int
			f := "inet"
			json.Unmarshal(e["port"], &p)
			if raw, ok := e["family"]; ok {
				json.Unmarshal(raw, &f)
			}
			found = found || (gue && p == port && f == fam.name)
		}
		subject := fmt.Sprintf("fou port %d (%s)", port, fam.name)
		if found {
			d.ok(CheckDecap, subject, "GUE is received on UDP port %d over %s", port, ipName(fam.v6))
			continue
		}
		var fix []Step
		if m := map[bool]string{false: "fou", true: "fou6"}[fam.v6]; d.info.Modules[m] == ModuleLoadable {
			fix = append(fix, d.planSteps(func(a []string) bool { return hasPrefix(a, "modprobe", m) })...)
		}
		fix = append(fix, d.planSteps(func(a []string) bool {
			return hasPrefix(a, "ip", "fou") && slices.Contains(a, strconv.Itoa(port)) && slices.Contains(a, "-6") == fam.v6
		})...)
		d.problem(CheckDecap, subject, fix, "no GUE receiver on UDP port %d over %s: the packets reach a closed port", port, ipName(fam.v6))
	}
}

func ipName(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}
