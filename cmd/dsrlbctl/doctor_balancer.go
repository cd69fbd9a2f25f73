package main

import (
	"encoding/json"
	"fmt"
	"os"

	"dsrlb/ctrl"
)

// doctorBalancer is dsrlbctl doctor on the balancer (-c FILE or -socket
// PATH): dsrlb-ctrl probes every real server at once, on its own address
// and through the DSR path (the data plane steers the probe to it with
// its forwarding method), and the report says per real server what works,
// what does not, and what to run on the real server. Exit status 0 only
// when every real server was probed and passed both.
func doctorBalancer(args []string) (int, error) {
	fs, socket := ctlFlags("doctor")
	asJSON := fs.Bool("json", false, "print the reports as JSON")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	path, err := socket()
	if err != nil {
		return 2, err
	}
	resp, err := ctrl.Call(path, ctrl.Request{Cmd: "probe"})
	if err != nil {
		return 1, err
	}
	if !resp.OK {
		return 1, fmt.Errorf("doctor: %s", resp.Error)
	}
	ok := true
	for i := range resp.Probes {
		ok = ok && resp.Probes[i].OK()
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(resp.Probes)
	} else {
		fmt.Printf("dsrlbctl doctor: every real server probed by dsrlb-ctrl (%s), on its own address and through the DSR path\n", path)
		_, err = ctrl.WriteProbes(os.Stdout, resp.Probes)
	}
	if err != nil {
		return 1, err
	}
	if !ok {
		return 1, nil
	}
	return 0, nil
}
