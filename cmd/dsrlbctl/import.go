package main

import (
	"fmt"
	"io"
	"os"

	"dsrlb/conf/keepalived"
)

// importConfig runs `dsrlbctl import SOURCE ...` and returns the exit
// status: the converter's (0 complete, 1 written with omissions, 2
// nothing written), or 2 for an unknown source.
func importConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, `usage: dsrlbctl import keepalived [flags] KEEPALIVED.CONF

Converts another balancer's configuration into dsrlb's. Sources:
  keepalived   keepalived 2.2 (virtual_server, virtual_server_group, vrrp_instance, vrrp_sync_group)

Run 'dsrlbctl import keepalived -h' for its flags.
`)
		if len(args) == 0 {
			return keepalived.ExitError
		}
		return 0
	}
	switch args[0] {
	case "keepalived":
		return keepalived.Main(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "dsrlbctl import: unknown source %q (known: keepalived)\n", args[0])
	return keepalived.ExitError
}

func runImport(args []string) { os.Exit(importConfig(args, os.Stdout, os.Stderr)) }
