package ctrl

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// StatsRow is one line of dsrlbctl stats: a service or one of its real
// servers, with its connections now, totals and, for -rate, rates over an
// interval.
type StatsRow struct {
	Service  string `json:"service"`
	Backend  string `json:"backend,omitempty"` // "" for the service's own row
	VIP      string `json:"vip,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	Port     uint16 `json:"port,omitempty"`
	Method   string `json:"method,omitempty"`
	State    string `json:"state,omitempty"` // real server: up, inhibited, removed, sorry, standby
	Weight   uint32 `json:"weight"`          // real server: effective weight
	// ipvsadm -Ln's ActiveConn and InActConn (gauges; a service's row
	// sums its real servers').
	ActiveConns   uint64  `json:"active_conns"`
	InactiveConns uint64  `json:"inactive_conns"`
	Conns         uint64  `json:"conns"` // new flows scheduled
	Packets       uint64  `json:"packets"`
	Bytes         uint64  `json:"bytes"`
	CPS           float64 `json:"cps,omitempty"` // new flows per second (-rate)
	PPS           float64 `json:"pps,omitempty"`
	BPS           float64 `json:"bps,omitempty"` // bytes per second
}

// StatsRows lists the services of st with their real servers; with prev
// (an earlier status, dt before), the rates between the two.
func StatsRows(st, prev *Status, dt time.Duration) []StatsRow {
	old := map[[2]string][3]uint64{}
	if prev != nil {
		for _, sv := range prev.Services {
			old[[2]string{sv.Name, ""}] = [3]uint64{sv.NewFlows, sv.Packets, sv.Bytes}
			for _, r := range sv.RealServers {
				old[[2]string{sv.Name, r.Address}] = [3]uint64{r.NewFlows, r.Packets, r.Bytes}
			}
		}
	}
	rate := func(row *StatsRow) {
		o, ok := old[[2]string{row.Service, row.Backend}]
		if prev == nil || !ok || dt <= 0 {
			return
		}
		per := func(now, then uint64) float64 {
			if now < then { // the data plane restarted: no rate
				return 0
			}
			return float64(now-then) / dt.Seconds()
		}
		row.CPS, row.PPS, row.BPS = per(row.Conns, o[0]), per(row.Packets, o[1]), per(row.Bytes, o[2])
	}
	var rows []StatsRow
	for _, sv := range st.Services {
		r := StatsRow{Service: sv.Name, VIP: sv.VIP, Protocol: sv.Protocol, Port: sv.Port, Method: sv.Method,
			ActiveConns: sv.ActiveConns, InactiveConns: sv.InactiveConns, Conns: sv.NewFlows, Packets: sv.Packets, Bytes: sv.Bytes}
		rate(&r)
		rows = append(rows, r)
		for _, rs := range sv.RealServers {
			state := rs.State
			if state == "" {
				state = "pending"
			}
			r := StatsRow{Service: sv.Name, Backend: rs.Address, State: state, Weight: rs.EffectiveWeight,
				ActiveConns: rs.ActiveConns, InactiveConns: rs.InactiveConns, Conns: rs.NewFlows, Packets: rs.Packets, Bytes: rs.Bytes}
			rate(&r)
			rows = append(rows, r)
		}
	}
	return rows
}

// WriteStats prints rows as ipvsadm -Ln --stats (or --rate) does: a line
// per service, its real servers below it, with ipvsadm -Ln's ActiveConn
// and InActConn (now, in both modes) before the totals or the rates.
func WriteStats(w io.Writer, rows []StatsRow, rates bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if rates {
		fmt.Fprintln(tw, "SERVICE\tREAL SERVER\tSTATE\tWEIGHT\tACTIVECONN\tINACTCONN\tCPS\tPPS\tBPS\t")
	} else {
		fmt.Fprintln(tw, "SERVICE\tREAL SERVER\tSTATE\tWEIGHT\tACTIVECONN\tINACTCONN\tCONNS\tPACKETS\tBYTES\t")
	}
	for _, r := range rows {
		name, rs, state, weight := r.Service, "", "", ""
		if r.Backend == "" {
			port := "*"
			if r.Port != 0 {
				port = fmt.Sprint(r.Port)
			}
			name = fmt.Sprintf("%s %s %s:%s %s", r.Service, r.Protocol, r.VIP, port, r.Method)
		} else {
			name, rs, state, weight = "", "-> "+r.Backend, r.State, fmt.Sprint(r.Weight)
		}
		if rates {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%.0f\t%.0f\t%.0f\t\n", name, rs, state, weight,
				r.ActiveConns, r.InactiveConns, r.CPS, r.PPS, r.BPS)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t\n", name, rs, state, weight,
				r.ActiveConns, r.InactiveConns, r.Conns, r.Packets, r.Bytes)
		}
	}
	return tw.Flush()
}
