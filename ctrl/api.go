package ctrl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// The API: dsrlbctl connects to the Unix socket, writes one JSON Request,
// reads one JSON Response, and the connection is closed.

// Request is an API request: {"cmd":"status"}, {"cmd":"reload"} or
// {"cmd":"probe"}.
type Request struct {
	Cmd string `json:"cmd"`
}

// Response is the answer to a Request.
type Response struct {
	OK     bool     `json:"ok"`
	Error  string   `json:"error,omitempty"`
	Errors []string `json:"errors,omitempty"` // reload: one configuration problem per line
	Status *Status  `json:"status,omitempty"` // status
	// Probes: every real server's own-address check and DSR path probe,
	// run at once (dsrlbctl doctor on the balancer).
	Probes []ProbeReport `json:"probes,omitempty"`

	jobs []probeJob // probe: what the connection's goroutine runs
}

const (
	apiTimeout    = 10 * time.Second // a whole exchange, on both sides
	maxAPIRequest = 4 << 10
)

// listen creates the API socket at path: its directory (0755) if missing,
// a stale socket file removed first, the socket itself mode 0600. It
// refuses to take over a socket another process still answers on.
func listen(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket; not removing it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("another dsrlb-ctrl is running: it answers on %s", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	// Connecting needs write permission on the socket; with the usual
	// umask (022) nobody but root has it even before this chmod.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	ln.SetUnlinkOnClose(true)
	return ln, nil
}

// serve accepts API connections until the listener is closed.
func (d *Daemon) serve() {
	for {
		c, err := d.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// E.g. out of file descriptors: keep serving once it passes.
			d.log.Error("api socket", "err", err)
			select {
			case <-d.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		d.connMu.Lock()
		if d.closing {
			d.connMu.Unlock()
			c.Close()
			continue
		}
		d.active[c] = struct{}{}
		d.conns.Add(1)
		d.connMu.Unlock()
		go func() {
			defer d.conns.Done()
			d.serveConn(c)
			d.connMu.Lock()
			delete(d.active, c)
			d.connMu.Unlock()
		}()
	}
}

// closeConns makes every open API connection give up at once (on exit),
// instead of waiting for a slow client.
func (d *Daemon) closeConns() {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	d.closing = true
	for c := range d.active {
		c.SetDeadline(time.Now())
	}
}

func (d *Daemon) serveConn(c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(apiTimeout))
	var req Request
	var resp Response
	if err := json.NewDecoder(io.LimitReader(c, maxAPIRequest)).Decode(&req); err != nil {
		if errors.Is(err, io.EOF) {
			return // a connection that only checks whether we are there
		}
		resp.Error = "bad request: " + err.Error()
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
		r, err := d.call(ctx, req.Cmd)
		cancel()
		if err != nil {
			resp.Error = err.Error()
		} else {
			resp = r
		}
		if req.Cmd == "probe" && resp.OK {
			// Outside the daemon's loop: probes take up to their
			// timeouts.
			ctx, cancel := context.WithTimeout(context.Background(), apiTimeout-2*time.Second)
			resp.Probes = runProbes(ctx, resp.jobs)
			cancel()
		}
	}
	if req.Cmd != "status" {
		d.log.Info("api request", "cmd", req.Cmd, "ok", resp.OK)
	}
	if err := json.NewEncoder(c).Encode(&resp); err != nil {
		d.log.Debug("api response not delivered", "err", err)
	}
}

// Call sends one request to the dsrlb-ctrl listening on socket and returns
// its response. Errors say plainly when dsrlb-ctrl is not running or the
// caller may not use the socket.
func Call(socket string, req Request) (*Response, error) {
	c, err := net.DialTimeout("unix", socket, 2*time.Second)
	if err != nil {
		return nil, dialError(socket, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(apiTimeout + 2*time.Second))
	if err := json.NewEncoder(c).Encode(&req); err != nil {
		return nil, fmt.Errorf("sending the request to dsrlb-ctrl: %w", err)
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, fmt.Errorf("reading the answer of dsrlb-ctrl: %w", err)
	}
	return &resp, nil
}

// dialError explains why the socket could not be reached.
func dialError(socket string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("dsrlb-ctrl is not running (no %s)", socket)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("dsrlb-ctrl is not running (%s is a stale socket: nobody answers on it)", socket)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("permission denied on %s: the socket is for root only (mode 0600); run as root", socket)
	}
	return fmt.Errorf("cannot reach dsrlb-ctrl on %s: %w", socket, err)
}
