package ctrl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"time"
)

// The status page: a read-only view of the balancer for a browser, served
// on the metrics listener at /, as HAProxy's stats page is for its users.
// It is rendered on the server from what dsrlbctl status shows, refreshes
// itself every 2 s with a meta refresh, needs no external asset and no
// script, and has no form, link or handler that changes anything (the
// listener serves GET only).

// serveStatusJSON serves what dsrlbctl status -json prints.
func (d *Daemon) serveStatusJSON(w http.ResponseWriter, r *http.Request) {
	s := d.scrape(r.Context())
	if s == nil {
		http.Error(w, "dsrlb-ctrl is shutting down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&s.st)
}

// serveStatusPage serves the status page.
func (d *Daemon) serveStatusPage(w http.ResponseWriter, r *http.Request) {
	s := d.scrape(r.Context())
	if s == nil {
		http.Error(w, "dsrlb-ctrl is shutting down", http.StatusServiceUnavailable)
		return
	}
	var b bytes.Buffer
	if err := renderStatusPage(&b, &s.st, time.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

// pageData is the template's input.
type pageData struct {
	Host string
	Now  time.Time
	St   *Status
}

func renderStatusPage(w *bytes.Buffer, st *Status, now time.Time) error {
	host, _ := os.Hostname()
	return statusPage.Execute(w, pageData{Host: host, Now: now, St: st})
}

var statusPage = template.Must(template.New("status").Funcs(template.FuncMap{
	"age": func(now, t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return age(now, t) + " ago"
	},
	"updown": upDown,
	"health": func(r RealServerStatus) string {
		switch {
		case r.SorryServer:
			return "sorry server"
		case r.Diagnosis != "":
			return r.Diagnosis
		case r.Health == nil && r.DSRPath == nil:
			return "unchecked"
		case (r.Health != nil && !r.Health.Running) || (r.DSRPath != nil && !r.DSRPath.Running):
			return "not started"
		case r.Healthy():
			return "up"
		}
		return "down"
	},
	"rate": func(v float64) string {
		switch {
		case v < 0:
			return "-"
		case v >= 1e6:
			return fmt.Sprintf("%.1fM", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.1fk", v/1e3)
		}
		return fmt.Sprintf("%.0f", v)
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="2">
<title>dsrlb on {{.Host}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#111}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.4em 0 .3em}
table{border-collapse:collapse;margin:.3em 0}th,td{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}
th{background:#f3f3f3;font-weight:600}.num{text-align:right}
.up,.MASTER{color:#0a6b0a;font-weight:600}.down,.FAULT,.removed{color:#b00020;font-weight:600}
.inhibited,.sorry,.BACKUP{color:#8a5a00;font-weight:600}.note{color:#666}
</style></head><body>
<h1>dsrlb on {{.Host}}</h1>
<p class="note">Read-only, refreshes every 2 s. {{.Now.UTC.Format "2006-01-02 15:04:05 MST"}}. Configuration {{.St.Config}}, running for {{age .Now .St.Started}}.</p>
{{with .St.Dataplane}}<p id="dataplane" data-state="{{.State}}">Data plane: <b class="{{if .Connected}}up{{else}}down{{end}}">{{.State}}</b>{{if .PID}}, pid {{.PID}}, boot id {{.BootID}}, {{.Workers}} worker(s){{end}}{{if .Reason}} ({{.Reason}}){{end}}; state gen {{.AppliedGen}} applied{{if .ApplyError}}, last transaction REJECTED: {{.ApplyError}}{{end}}{{if .InSync}}, in sync{{else}}, not in sync{{end}}.</p>{{end}}
{{if .St.ReloadErrors}}<p class="down">Last reload failed, previous configuration kept: {{range .St.ReloadErrors}}<br>{{.}}{{end}}</p>{{end}}
{{if .St.VRRP}}<h2>VRRP</h2>
<table id="vrrp"><tr><th>instance</th><th>VRID</th><th>state</th><th>priority</th><th>master</th><th>advert</th><th>sent/received</th><th>last transition</th></tr>
{{range .St.VRRP}}<tr class="vrrp" data-instance="{{.Name}}" data-state="{{.State}}"><td>{{.Name}} (v{{.Version}} {{.Family}})</td><td class="num">{{.VRID}}</td><td class="{{.State}}">{{.State}}</td><td class="num">{{.Priority}}{{if ne .Priority .Effective}} (effective {{.Effective}}){{end}}</td><td>{{if .Master.IsValid}}{{.Master}}{{else}}-{{end}}</td><td>{{.MasterInt}}</td><td class="num">{{.AdvertsSent}}/{{.AdvertsRecv}}</td><td>{{age $.Now .LastTransition}}{{if .LastCause}}: {{.LastCause}}{{end}}</td></tr>
{{end}}</table>{{end}}
{{with .St.BGP}}<h2>BGP</h2>
<p>AS {{.ASN}}, router id {{.RouterID}}{{if .Draining}}, <b class="down">draining</b> (stopping){{end}}.</p>
<table id="bgp-peers"><tr><th>neighbour</th><th>AS</th><th>state</th><th>since</th><th>up/down</th><th>prefixes sent</th><th>routes received (ignored)</th></tr>
{{range .Peers}}<tr class="peer" data-peer="{{.Address}}" data-state="{{.State}}"><td>{{.Address}}</td><td class="num">{{.ASN}}</td><td class="{{if eq .State "established"}}up{{else}}down{{end}}">{{.State}}</td><td>{{age $.Now .Since}}</td><td class="num">{{.Established}}/{{.Drops}}</td><td class="num">{{.Advertised}}</td><td class="num">{{.RoutesReceived}}</td></tr>
{{end}}</table>
<table id="bgp-prefixes"><tr><th>prefix</th><th>services</th><th>announced</th><th>since</th><th>reason</th></tr>
{{range .Prefixes}}<tr class="prefix" data-prefix="{{.Prefix}}" data-announced="{{.Announce}}"><td>{{.Prefix}}</td><td>{{range $i, $s := .Services}}{{if $i}}, {{end}}{{$s}}{{end}}</td><td class="{{if .Announce}}up{{else}}down{{end}}">{{if .Graceful}}graceful shutdown{{else if .Announce}}announced{{else}}withdrawn{{end}}</td><td>{{age $.Now .Since}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>{{end}}
{{range .St.Services}}<h2 class="service" data-service="{{.Name}}">service {{.Name}}</h2>
<p>{{.VIP}} {{.Protocol}} {{if .Port}}port {{.Port}}{{else}}all ports{{end}}, method {{.Method}}, scheduler {{.Scheduler}};
{{if .Evaluated}}quorum <span class="{{updown .QuorumUp}}">{{updown .QuorumUp}}</span> (healthy weight {{.HealthyWeight}}, quorum {{.Quorum}}{{if .Hysteresis}} ±{{.Hysteresis}}{{end}}), {{.Healthy}} of {{.Total}} real servers healthy{{if .SorryServer}}, sorry server {{.SorryServer}} <span class="{{if .SorryActive}}sorry{{else}}note{{end}}">{{if .SorryActive}}ACTIVE{{else}}standby{{end}}</span>{{end}}{{else}}not evaluated yet{{end}};
table <span class="fingerprint" data-table="{{.TableFingerprint}}">{{if .TableFingerprint}}{{.TableFingerprint}}{{else}}not built yet{{end}}</span>, configuration {{.ConfigFingerprint}}{{if .BGP}} (announced by BGP){{end}};
<span class="conns" data-service="{{.Name}}" data-active-conns="{{.ActiveConns}}" data-inactive-conns="{{.InactiveConns}}">{{.ActiveConns}} active, {{.InactiveConns}} inactive connections</span>.</p>
<table><tr><th>real server</th><th>health</th><th>weight</th><th>effective</th><th>state</th><th>active conns</th><th>inactive conns</th><th>share of new flows</th><th>packets/s</th><th>new flows/s</th><th>checks ok/fail</th><th>last check</th><th>last error</th></tr>
{{$svc := .}}{{range .RealServers}}<tr class="rs" data-service="{{$svc.Name}}" data-backend="{{.Address}}" data-health="{{health .}}" data-state="{{.State}}" data-active-conns="{{.ActiveConns}}" data-inactive-conns="{{.InactiveConns}}"><td>{{.Address}}</td><td class="{{health .}}">{{health .}}</td><td class="num">{{if .SorryServer}}-{{else}}{{.Weight}}{{end}}</td><td class="num">{{.EffectiveWeight}}</td><td class="{{.State}}">{{if .State}}{{.State}}{{else}}pending{{end}}</td><td class="num">{{.ActiveConns}}</td><td class="num">{{.InactiveConns}}</td><td class="num">{{if ge .Share 0.0}}{{printf "%.0f%%" .Share}}{{else}}-{{end}}</td><td class="num">{{rate .PacketRate}}</td><td class="num">{{rate .NewFlowRate}}</td>{{with .Health}}<td class="num">{{.ConsecutiveOK}}/{{.ConsecutiveFail}}</td><td>{{age $.Now .LastCheck}} ({{.Check}})</td><td>{{.LastError}}</td>{{else}}<td>-</td><td>-</td><td></td>{{end}}</tr>{{with .DSRPath}}<tr class="dsr"><td>&#x2514; dsr path</td><td class="{{updown .Up}}">{{if .Running}}{{updown .Up}}{{else}}not started{{end}}</td><td colspan="8"></td><td class="num">{{.ConsecutiveOK}}/{{.ConsecutiveFail}}</td><td>{{age $.Now .LastCheck}} ({{.Check}})</td><td>{{.LastError}}</td></tr>{{end}}
{{end}}</table>
{{end}}
</body></html>
`))
