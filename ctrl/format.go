package ctrl

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints s for an operator (dsrlbctl status): the control and
// data plane processes, each service with its real servers' health and
// effective weight and state, then the data plane's non-zero counters.
// Ages are relative to now.
func (s *Status) WriteText(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }

	reload := "never reloaded"
	if !s.LastReload.IsZero() {
		result := "ok"
		if len(s.ReloadErrors) > 0 {
			result = "FAILED, previous configuration kept"
		}
		reload = fmt.Sprintf("last reload %s ago: %s", age(now, s.LastReload), result)
	}
	p("config\t%s (running for %s, %s)\n", s.Config, age(now, s.Started), reload)
	for _, e := range s.ReloadErrors {
		p("\t  %s\n", e)
	}
	dp := &s.Dataplane
	switch {
	case dp.PID == 0 && dp.BootID == "":
		p("data plane\t%s (%s)", dp.State, dp.SHM)
		if dp.Reason != "" {
			p(": %s", dp.Reason)
		}
		p("\n")
	default:
		p("data plane\t%s: pid %d, boot id %s, heartbeat %s ago, %s (%s)\n",
			dp.State, dp.PID, dp.BootID, seconds(dp.HeartbeatAge), plural(dp.Workers, "worker"), dp.SHM)
	}
	switch {
	case dp.PushedGen == 0 && dp.AppliedGen == 0:
		p("state\tnothing pushed yet\n")
	case dp.ApplyError != "":
		p("state\tgen %d pushed; gen %d REJECTED by the data plane: %s\n", dp.PushedGen, dp.AppliedGen, dp.ApplyError)
	case dp.AppliedGen == dp.PushedGen:
		p("state\tgen %d applied (snapshot %d, %s ago)%s\n", dp.AppliedGen, dp.Snapshot, age(now, dp.AppliedAt), syncNote(dp.InSync))
	default:
		p("state\tgen %d pushed, waiting for the data plane (last applied: gen %d)%s\n", dp.PushedGen, dp.AppliedGen, syncNote(dp.InSync))
	}

	for _, sv := range s.Services {
		port := "all ports"
		if sv.Port != 0 {
			port = fmt.Sprintf("port %d", sv.Port)
		}
		quorum := fmt.Sprintf("quorum %s (healthy weight %d, quorum %d", upDown(sv.QuorumUp), sv.HealthyWeight, sv.Quorum)
		if sv.Hysteresis != 0 {
			quorum += fmt.Sprintf(" ±%d", sv.Hysteresis)
		}
		quorum += ")"
		// No tab: the line must not widen the real servers' first column.
		if sv.Evaluated {
			p("\nservice %s: %s %s %s, %s, %s, %d of %d real servers healthy\n",
				sv.Name, sv.VIP, sv.Protocol, port, sv.Method, quorum, sv.Healthy, sv.Total)
		} else {
			p("\nservice %s: %s %s %s, %s, not evaluated yet (checks start once the data plane has answered)\n",
				sv.Name, sv.VIP, sv.Protocol, port, sv.Method)
		}
		fp := "  table " + sv.TableFingerprint
		if sv.TableFingerprint == "" {
			fp = "  table not built yet"
		}
		fp += ", configuration " + sv.ConfigFingerprint
		if sv.BGP {
			fp += " (announced by BGP: every balancer of the VIP must show the same table)"
		}
		p("%s\n", fp)
		p("  REAL SERVER\tWEIGHT\tEFFECTIVE\tSTATE\tHEALTH\tOK/FAIL\tCHECKS\tLAST CHECK\tCHECK\tLAST ERROR\n")
		for _, r := range sv.RealServers {
			if r.SorryServer {
				p("  %s\t-\t%d\t%s\tsorry server\t\t\t\t\t\n", r.Address, r.EffectiveWeight, r.State)
				continue
			}
			state := r.State
			if state == "" {
				state = "pending"
			}
			if r.Diagnosis != "" {
				state += " (" + r.Diagnosis + ")"
			}
			h := "-\t-\t-\t-\tnone (always healthy)\t"
			if r.Health != nil {
				h = healthColumns(now, r.Health)
			} else if r.DSRPath != nil {
				h = "-\t-\t-\t-\tnone on its own address\t"
			}
			p("  %s\t%d\t%d\t%s\t%s\n", r.Address, r.Weight, r.EffectiveWeight, state, h)
			if r.DSRPath != nil {
				p("  \u2514 dsr path\t\t\t\t%s\n", healthColumns(now, r.DSRPath))
			}
		}
	}

	if len(s.VRRP) > 0 {
		p("\nVRRP INSTANCE\tVRID\tSTATE\tPRIORITY\tMASTER\tADVERT\tMASTER DOWN\tSENT/RECEIVED\tLAST TRANSITION\n")
		for _, v := range s.VRRP {
			prio := fmt.Sprint(v.Priority)
			if v.Effective != v.Priority {
				prio = fmt.Sprintf("%d (effective %d)", v.Priority, v.Effective)
			}
			master := "-"
			if v.Master.IsValid() {
				master = v.Master.String()
			}
			last := "never"
			if !v.LastTransition.IsZero() {
				last = fmt.Sprintf("%s ago: %s", age(now, v.LastTransition), v.LastCause)
			}
			p("%s (v%d %s)\t%d\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", v.Name, v.Version, v.Family, v.VRID, v.State, prio, master,
				v.MasterInt, v.MasterDown.Round(time.Millisecond), v.AdvertsSent, v.AdvertsRecv, last)
			for _, f := range v.Faults {
				p("\t  fault: %s\n", f)
			}
			if len(v.Errors) > 0 {
				var errs []string
				for c, n := range v.Errors {
					errs = append(errs, fmt.Sprintf("%s=%d", c, n))
				}
				slices.Sort(errs)
				p("\t  adverts ignored: %s\n", strings.Join(errs, " "))
			}
		}
	}

	if b := s.BGP; b != nil {
		draining := ""
		if b.Draining {
			draining = ", DRAINING (stopping)"
		}
		p("\nBGP: AS %d, router id %s%s\n", b.ASN, b.RouterID, draining)
		p("  NEIGHBOR\tAS\tSTATE\tSINCE\tUP/DOWN\tHOLD\tSENT\tROUTES RECEIVED (IGNORED)\n")
		for _, n := range b.Peers {
			since := "-"
			if !n.Since.IsZero() {
				since = age(now, n.Since) + " ago"
			}
			hold := "-"
			if n.HoldTime > 0 {
				hold = fmt.Sprintf("%ds", n.HoldTime)
			}
			p("  %s\t%d\t%s\t%s\t%d/%d\t%s\t%s, %s\t%d\n", n.Address, n.ASN, n.State, since, n.Established, n.Drops, hold,
				plural(int(n.Advertised), "prefix"), plural(int(n.UpdatesSent), "update"), n.RoutesReceived)
		}
		p("  PREFIX\tSERVICES\tANNOUNCED\tSINCE\tREASON\n")
		for _, x := range b.Prefixes {
			ann := "withdrawn"
			switch {
			case x.Announce && x.Graceful:
				ann = "graceful"
			case x.Announce:
				ann = "announced"
			}
			p("  %s\t%s\t%s\t%s ago\t%s\n", x.Prefix, strings.Join(x.Services, ","), ann, age(now, x.Since), x.Reason)
		}
	}

	var nz []Counter
	for _, c := range s.Counters {
		if c.Value != 0 {
			nz = append(nz, c)
		}
	}
	for _, pc := range s.Ports {
		for _, c := range pc.Counters {
			if c.Value != 0 {
				nz = append(nz, Counter{pc.Port + "_" + c.Name, c.Value})
			}
		}
	}
	for _, c := range s.Global {
		if c.Value != 0 {
			nz = append(nz, c)
		}
	}
	if len(s.Counters)+len(s.Ports)+len(s.Global) > 0 {
		p("\n")
		if len(nz) == 0 {
			p("counters\tall zero\n")
		} else {
			p("COUNTER\tVALUE\n")
			for _, c := range nz {
				p("%s\t%d\n", c.Name, c.Value)
			}
		}
	}
	return tw.Flush()
}

func syncNote(inSync bool) string {
	if inSync {
		return ", in sync"
	}
	return ", a newer state is pending"
}

// age formats now-t for humans.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return roundAge(now.Sub(t)).String()
}

func seconds(s float64) string {
	return roundAge(time.Duration(s * float64(time.Second))).String()
}

func roundAge(d time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d < time.Second:
		return d.Round(time.Millisecond)
	case d < time.Minute:
		return d.Round(100 * time.Millisecond)
	default:
		return d.Round(time.Second)
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "x") {
		return fmt.Sprintf("%d %ses", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// oneLine keeps a table cell on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// healthColumns are the HEALTH to LAST ERROR columns of one check.
func healthColumns(now time.Time, h *HealthStatus) string {
	if !h.Running {
		return fmt.Sprintf("-\t-\t-\tnot started\t%s\t", h.Check)
	}
	last := "never"
	if !h.LastCheck.IsZero() {
		last = age(now, h.LastCheck) + " ago"
	}
	return fmt.Sprintf("%s\t%d/%d\t%d\t%s\t%s\t%s", upDown(h.Up), h.ConsecutiveOK, h.ConsecutiveFail,
		h.Checks, last, h.Check, oneLine(h.LastError))
}
