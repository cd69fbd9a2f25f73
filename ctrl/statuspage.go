package ctrl

import (
	"encoding/json"
	"net/http"
	"time"
)

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

// serveStatusPage serves the read-only status page.
func (d *Daemon) serveStatusPage(w http.ResponseWriter, r *http.Request) {
	s := d.scrape(r.Context())
	if s == nil {
		http.Error(w, "dsrlb-ctrl is shutting down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_ = s.st.WriteText(w, time.Now())
}
