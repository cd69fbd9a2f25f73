package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/pcapgo"
)

// Capture is a tcpdump running on eth0 of a namespace, writing to a file.
type Capture struct {
	Path string
	proc *Proc
}

// StartCapture runs tcpdump with a capture filter on role's eth0. It uses
// immediate mode: without it, packets wait in the kernel's ring block and
// are lost when tcpdump is stopped.
func (b *Bed) StartCapture(role, name, filter string) (*Capture, error) {
	path := filepath.Join(b.Dir, name+".pcap")
	p, err := b.Start(role, "tcpdump-"+name, "tcpdump", "-i", "eth0", "-n", "--immediate-mode", "-U", "-w", path, filter)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(p.Output(), "listening on") {
		if p.Exited() || time.Now().After(deadline) {
			return nil, fmt.Errorf("tcpdump did not start: %s", p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &Capture{Path: path, proc: p}, nil
}

// Stop ends the capture and decodes what it caught, with the capture's
// time stamps in each packet's metadata.
func (c *Capture) Stop() ([]gopacket.Packet, error) {
	c.settle()
	_ = c.proc.Stop(syscall.SIGTERM, 5*time.Second)
	f, err := os.Open(c.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("read capture %s: %w", c.Path, err)
	}
	var pkts []gopacket.Packet
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		p.Metadata().CaptureInfo = ci // the time stamps
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// Dump is tcpdump's own one-line-per-packet rendering of the capture.
func (c *Capture) Dump(extra ...string) string {
	out, _ := exec.Command("tcpdump", append([]string{"-n", "-r", c.Path}, extra...)...).CombinedOutput()
	return string(out)
}

// settle waits until tcpdump has written what it caught: the file stops
// growing for quiet (its packets are written as they come, -U), bounded
// by 10 s. A loaded machine that delays tcpdump only makes this wait
// longer.
func (c *Capture) settle() {
	const quiet = 300 * time.Millisecond
	size, since := int64(-1), time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		fi, err := os.Stat(c.Path)
		if err != nil {
			return
		}
		if fi.Size() != size {
			size, since = fi.Size(), time.Now()
		} else if time.Since(since) >= quiet {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
