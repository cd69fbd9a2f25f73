module dsrlb

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	github.com/gopacket/gopacket v1.7.7 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
