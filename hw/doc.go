// Package hw drives the NIC side of the data plane: it builds the EAL
// command line, opens and configures ports (queues, RSS, offloads with
// software fallback, MTU, MAC), reads link state and counters, and runs the
// worker lcores that poll the ports' queues and feed bursts to the pipeline.
package hw
