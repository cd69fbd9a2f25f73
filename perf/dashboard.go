package perf

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Query is one PromQL expression of the Grafana dashboard
// (perf/grafana/dsrlb.json) or of the alerting rules
// (perf/alerts/dsrlb.rules.yml).
type Query struct {
	// Name is the panel's title, or the rule's alert (or record) name.
	Name string
	// PanelID and RefID name a dashboard target: the panel's id and the
	// target's refId. Both are zero for a rule.
	PanelID int
	RefID   string
	// Expr is ready for a live Prometheus: the dashboard's template
	// variables are replaced (see DashboardVars).
	Expr string
}

// DashboardVars are the values that DashboardQueries puts in place of the
// dashboard's template variables and of Grafana's global variables, to
// evaluate its expressions against a Prometheus: every balancer and
// service, a rate window of one minute (four scrapes at 15 s), a time
// range of five minutes.
var DashboardVars = map[string]string{
	"instance":        ".*",
	"service":         ".*",
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__range":         "5m",
}

// dashboard is the part of a Grafana dashboard's JSON model that holds
// queries.
type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []templateVar `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	Targets    []target    `json:"targets"`
	// Panels are a row's panels while the row is collapsed.
	Panels []panel `json:"panels"`
}

type target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Hide       bool        `json:"hide"`
	Datasource *datasource `json:"datasource"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type templateVar struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
	Datasource *datasource     `json:"datasource"`
}

// readDashboard parses a dashboard's JSON model.
func readDashboard(path string) (*dashboard, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &d, nil
}

// allPanels is the dashboard's panels in order, a collapsed row's panels
// after the row.
func (d *dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// DashboardQueries returns the expression of every target of every panel
// of the Grafana dashboard at path, in panel order, with the template
// variables replaced by DashboardVars. Hidden targets are included. A
// variable it does not know is an error.
func DashboardQueries(path string) ([]Query, error) {
	d, err := readDashboard(path)
	if err != nil {
		return nil, err
	}
	var qs []Query
	for _, p := range d.allPanels() {
		for _, t := range p.Targets {
			e, err := SubstituteVars(t.Expr)
			if err != nil {
				return nil, fmt.Errorf("%s: panel %d %q target %s: %w", path, p.ID, p.Title, t.RefID, err)
			}
			qs = append(qs, Query{Name: p.Title, PanelID: p.ID, RefID: t.RefID, Expr: e})
		}
	}
	return qs, nil
}

// varRef is a Grafana variable reference: ${name}, ${name:format} or
// $name. A $ followed by a digit ($1 in label_replace) is none.
var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[A-Za-z0-9_]+)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[[A-Za-z_][A-Za-z0-9_:]*\]\]`)

// SubstituteVars replaces the Grafana variables in expr by their
// DashboardVars values.
func SubstituteVars(expr string) (string, error) {
	var bad []string
	out := varRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[1] + m[2]
		v, ok := DashboardVars[name]
		if !ok {
			bad = append(bad, ref)
			return ref
		}
		return v
	})
	if len(bad) > 0 {
		return "", fmt.Errorf("unknown variable %s", strings.Join(bad, ", "))
	}
	return out, nil
}

// AlertExprs returns the expression of every rule of the Prometheus rules
// file at path, in file order. The file must keep to the YAML subset that
// AlertRules reads.
func AlertExprs(path string) ([]Query, error) {
	rules, err := AlertRules(path)
	if err != nil {
		return nil, err
	}
	qs := make([]Query, 0, len(rules))
	for _, r := range rules {
		name := r.Alert
		if name == "" {
			name = r.Record
		}
		qs = append(qs, Query{Name: name, Expr: r.Expr})
	}
	return qs, nil
}
